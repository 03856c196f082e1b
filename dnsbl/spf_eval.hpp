// The synchronous half of SPF checking, used by SpfChecker's worker threads: one
// Evaluator per thread wraps a libspf2 server whose DNS layer is an injected lookup
// function, plus the pure rules around it (which identity is checked, how a DNS
// outcome is told to libspf2). No libspf2 types here, so tests need no libspf2 headers.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/net.hpp"
#include "dnsbl/result.hpp"
#include "dnsbl/spf.hpp"

namespace smtpwall::spf_detail {

// The identity RFC 7208 §2.4 checks: MAIL FROM, or postmaster@HELO for the null
// sender. A sender without '@' or with an empty local part gets "postmaster" (§4.3).
struct Identity {
    std::string mail_from;  // what libspf2 gets as the envelope sender
    std::string domain;     // the domain whose policy is evaluated
    bool helo = false;      // domain is the HELO name (null sender)
};
// nullopt: null sender and no HELO, or one with an '@' (no domain), nothing to check
// (result none). Angle brackets around the sender are tolerated.
std::optional<Identity> spf_identity(std::string_view sender, std::string_view helo);

// The h_errno value libspf2 expects for a lookup outcome (netdb.h): NETDB_SUCCESS,
// HOST_NOT_FOUND (nxdomain), NO_DATA (nodata, or ok without records) and TRY_AGAIN
// for every temporary failure (servfail, refused, timeout, error), which libspf2
// turns into temperror. NO_RECOVERY (permerror in libspf2) is never used: no DNS
// failure may become a permanent result.
int herrno_for(const dns::Result& result);

// How libspf2's verdict becomes ours: `result` is what SPF_response_result gave (an
// SPF_result_t) and `error` what SPF_request_query_mailfrom returned (an
// SPF_errcode_t); ints, so that this header needs no libspf2 types. The seven RFC 7208
// results map one to one. libspf2 1.2.10 leaves the result INVALID when fetching or
// compiling the domain's own record fails: temperror for a DNS failure (or no memory),
// never permerror; permerror (RFC 7208 §4.6) otherwise, and for any value libspf2 does
// not define.
SpfResult spf_result_of(int result, int error);

// The resolver type for a libspf2 query type (ns_type value); nullopt for anything
// else, notably type SPF (99), which RFC 7208 §3.1 retired and libspf2 1.2 never asks.
std::optional<dns::RType> rtype_for(int ns_type);

// One DNS question, answered synchronously. nullopt: the evaluation must stop
// (deadline or shutdown); the Evaluator then answers this and every later question
// with TRY_AGAIN and reports temperror.
using BlockingLookup =
    std::function<std::optional<dns::Result>(const std::string& name, dns::RType type)>;

class Evaluator {
  public:
    // local_hostname: %{r}; empty keeps libspf2's gethostname(). Throws std::bad_alloc
    // if libspf2 cannot create its server.
    explicit Evaluator(const std::string& local_hostname);
    ~Evaluator();
    Evaluator(const Evaluator&) = delete;
    Evaluator& operator=(const Evaluator&) = delete;

    // Not thread-safe (one libspf2 server): one evaluation at a time per Evaluator.
    // Fills result, domain, helo_identity, explanation, exp, received_spf and
    // dns_lookups; `elapsed` is the caller's. If `lookup` gave up (nullopt) the result
    // is temperror and the explanation starts with "evaluation stopped".
    SpfOutcome evaluate(const IpAddress& client, std::string_view helo, std::string_view sender,
                        const BlockingLookup& lookup);

  private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace smtpwall::spf_detail
