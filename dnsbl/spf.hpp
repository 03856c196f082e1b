// SPF (RFC 7208) for the classifier (tag spf-fail): libspf2 evaluates
// the policy, smtpwall's own resolver answers every DNS question libspf2 asks (never
// the machine's resolver or /etc/resolv.conf), and a small pool of worker threads runs
// the evaluations, because libspf2 asks its questions one at a time and blocks while
// waiting: that must never happen on the Asio thread or a milter thread. The pool
// serves clients in turn (dnsbl/fair_queue.hpp), so one client cannot hold it.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/net.hpp"
#include "dnsbl/result.hpp"

#include "dnsbl/spf_result.hpp"

namespace smtpwall {

namespace dns {
class Resolver;
}

struct SpfOutcome {
    SpfResult result = SpfResult::temperror;
    // The domain whose policy was evaluated: the MAIL FROM domain, or the HELO name
    // for the null sender (then helo_identity is set). Empty when there was nothing
    // to check (null sender and no HELO).
    std::string domain;
    bool helo_identity = false;
    // For logs: why (libspf2's comment, "domain of X designates 192.0.2.1 as permitted
    // sender"), plus libspf2's error messages for permerror/temperror, or the reason
    // smtpwall gave up (deadline, queue, shutdown). Contains client-supplied names: log
    // it escaped, never put it in an SMTP reply.
    std::string explanation;
    // For fail/softfail/neutral: the domain's own explanation (exp=) or smtpwall's
    // default one. Text from the sender's DNS: untrusted, for logs only.
    std::string exp;
    // The Received-SPF header value (RFC 7208 §9.1) libspf2 builds, for logs.
    std::string received_spf;
    int dns_lookups = 0;                   // DNS questions libspf2 asked (cache hits included)
    std::chrono::microseconds elapsed{0};  // from check() to the outcome
};

struct SpfConfig {
    int workers = 2;  // evaluation threads (each with its own libspf2 server object)
    // Bound on one check, counted from check(): a lookup still unanswered then makes
    // the result temperror, and so does a check still queued then.
    std::chrono::milliseconds deadline{5000};
    // The receiving host (%{r} in explanations, Received-SPF). Empty: gethostname().
    std::string local_hostname;
    std::size_t max_queue = 1000;  // checks waiting for a worker; more are refused
    // Checks wait in one queue per client (an address, an IPv6 /64) and clients are
    // served in turn; one client holds at most client_workers workers at once and has
    // at most client_queue checks waiting. A client whose sender's DNS is slow, or
    // that sends many checks, slows only itself.
    int client_workers = 2;
    std::size_t client_queue = 100;
    // Finished outcomes kept for the shortest TTL of the DNS answers they used
    // (dnsbl/spf_cache.hpp); 0 keeps none.
    std::size_t cache_entries = 10000;
};

struct SpfStats {
    std::uint64_t accepted = 0;           // check() calls that returned true
    std::uint64_t refused = 0;            // check() calls that returned false
    std::uint64_t completed = 0;          // outcomes delivered, at once included
    std::uint64_t deadline_exceeded = 0;  // outcomes forced to temperror by the deadline
    std::uint64_t dns_lookups = 0;
    std::uint64_t cache_hits = 0;         // cached() calls that found an earlier outcome
    std::uint64_t evaluated_at_once = 0;  // cached() calls that evaluated from cached DNS
    std::size_t queued = 0;               // waiting for a worker now
    std::array<std::uint64_t, spf_result_count> by_result{};  // indexed by SpfResult
};

class SpfChecker {
  public:
    using Done = std::function<void(SpfOutcome)>;
    // How the checker asks DNS (the Resolver in production, a fake in unit tests):
    // `done` must be called exactly once, from any thread (even inside the call).
    using AsyncLookup = std::function<void(std::string name, dns::RType type,
                                           std::function<void(const dns::Result&)> done)>;
    // The answer DNS already holds, without asking (may be empty: then every check
    // goes to a worker). Thread-safe, never blocks.
    using CachedLookup =
        std::function<std::optional<dns::Result>(const std::string& name, dns::RType type)>;

    // The resolver must outlive the checker. Throws std::invalid_argument on a bad
    // config (workers < 1, deadline <= 0, max_queue 0) and std::bad_alloc if libspf2
    // cannot create its server objects.
    SpfChecker(dns::Resolver& resolver, SpfConfig config = {});
    SpfChecker(AsyncLookup lookup, SpfConfig config = {}, CachedLookup cached_lookup = {});
    // Stops: lookups in progress are abandoned, and every accepted check that has not
    // finished yet gets a temperror outcome before the destructor returns.
    ~SpfChecker();
    SpfChecker(const SpfChecker&) = delete;
    SpfChecker& operator=(const SpfChecker&) = delete;

    // Thread-safe, never blocks on DNS. `sender` is the MAIL FROM address without the
    // angle brackets, empty for the null sender: then postmaster@HELO is checked
    // (RFC 7208 §2.4). IPv4-mapped IPv6 clients count as IPv4. Note that libspf2
    // passes loopback clients without looking at DNS.
    //
    // true: `done` runs exactly once, on one of the checker's worker threads (never
    // inside check()), within about the configured deadline. It must not block for
    // long (it holds up the next check) and should not throw (exceptions are dropped).
    // false: the client's queue or the whole queue is full, or the checker is stopping;
    // `done` is never called and the caller should treat the check as temperror.
    [[nodiscard]] bool check(IpAddress client, std::string helo, std::string sender, Done done);

    // Thread-safe, never blocks on DNS: the outcome known at once. Either an earlier
    // check's of the same client, HELO and sender while the DNS answers it used are
    // still valid, or one evaluated now in the calling thread because every answer it
    // needs is cached already (a new client of a known sender domain: no worker, no
    // waiting; at most 10 answers, more go to the workers). nullopt when neither: then
    // check().
    std::optional<SpfOutcome> cached(const IpAddress& client, std::string_view helo,
                                     std::string_view sender);

    SpfStats stats() const;  // thread-safe

  private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace smtpwall
