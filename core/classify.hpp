// The judgement: HELO syntax and DNS facts become weighted tags, a score and a
// decision (postscreen-style: reject when the score reaches the threshold). Pure.
//
// Rules kept here:
// - A temporary DNS failure is never a reason to reject: it is not `baddns`, not a
//   listing, not an SPF fail. When a failed lookup could have decided the verdict
//   (its weight would reach the threshold, or an allowlist lookup failed), the
//   decision is tempfail or accept as configured, never reject.
// - A DNSWL listing (negative weight) makes the client exempt, like the allowlist.
// - Dialup patterns are judged on the forward-confirmed PTR only.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "core/helo_check.hpp"
#include "core/shared_relay.hpp"
#include "dnsbl/dialup.hpp"
#include "dnsbl/facts.hpp"

namespace smtpwall {

inline constexpr std::string_view kTagBadDns = "baddns";
inline constexpr std::string_view kTagDialup = "dialup";
// A hosting/cloud/server PTR generated from the address: informational by default.
inline constexpr std::string_view kTagGenericRdns = "generic-rdns";
inline constexpr std::string_view kTagSpfFail = "spf-fail";
inline constexpr std::string_view kTagSpfSoftfail = "spf-softfail";
inline constexpr std::string_view kTagHeloMismatch = "helo-mismatch";
inline constexpr std::string_view kTagHeloPtrMismatch = "helo-ptr-mismatch";

struct ScoringPolicy {
    int threshold = 10;
    // Weights of the built-in tags; zone tags carry their zone's weight.
    std::map<std::string, int, std::less<>> weights = {
        {"bad-helo", 10}, {"baddns", 5},       {"dialup", 5},        {"generic-rdns", 0},
        {"spf-fail", 5},  {"spf-softfail", 0}, {"helo-mismatch", 0}, {"helo-ptr-mismatch", 0}};
    bool tempfail_on_dns_failure = true;  // false: failed lookups are ignored
    int weight(std::string_view tag) const;
};

struct Classification {
    struct Tag {
        std::string name;
        int weight = 0;
        std::string detail;  // e.g. the HELO problem, the zone's code, the dialup signals
    };
    enum class Decision { accept, reject, tempfail };

    std::vector<Tag> tags;  // every finding, weight 0 ones included
    int score = 0;
    int possible_score = 0;                  // if every failed lookup had gone against the client
    bool dns_allowlisted = false;            // listed in a DNSWL zone
    std::vector<std::string> temp_failures;  // which lookups failed temporarily
    Decision decision = Decision::accept;
    std::string deciding_tag;  // the heaviest tag of a reject
    std::vector<std::string>
        reject_tags;   // tags with positive weight: what a rejection is tallied as
    RelayFacts relay;  // whether DNS shows a shared relay (core/shared_relay.hpp)
    // How the confirmed PTR name was judged (also when it is not dynamic): which rules
    // matched with which weights, for operators.
    std::optional<dns::DialupVerdict> dialup;
};

struct ClassifyInput {
    std::optional<IpAddress> client;
    HeloProblem helo_problem = HeloProblem::none;
    std::string helo;
    const dns::DnsFacts* dns = nullptr;           // null: no DNS checks
    const RelayDomains* relay_domains = nullptr;  // null: no provider is a shared relay
};

Classification classify(const ClassifyInput& input, const ScoringPolicy& policy,
                        const dns::DialupDetector& dialup);

// The reply text for a rejection decided by `tag`. Never names a DNSBL zone.
std::string reject_text(std::string_view tag, const std::optional<IpAddress>& client);

}  // namespace smtpwall
