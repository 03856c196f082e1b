// Dynamic/residential PTR heuristics: does a client's forward-confirmed PTR name look
// like an access-network address (tag `dialup`)?
//
// Pure code: no I/O, no clock, no threads. classify() is const and safe to call from
// several threads at once. The weights, the threshold and the reasoning behind them
// are documented at the top of dialup.cpp.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "common/pattern.hpp"

namespace smtpwall::dns {

// One piece of evidence: what it is and what it added to the score.
struct DialupSignal {
    // e.g. "ip-in-name:dashed", "token:dsl", "numbered", "exempt:static",
    // "business:biz", "hosting:your-server.de", "provider:google.com", "pattern:<regex>".
    // An unusable name yields just "invalid-name"; a name that is only a registered
    // domain yields just "no-host-part".
    std::string rule;
    int weight = 0;  // what it added to the score (0 for informational ones)
    bool operator==(const DialupSignal&) const = default;
};

struct DialupVerdict {
    bool dynamic = false;  // score >= DialupDetector::kThreshold
    // A hosting/cloud/server name generated from the address (tag generic-rdns): such a
    // name is never dynamic.
    bool generic = false;
    int score = 0;
    std::vector<DialupSignal> signals;  // every signal that contributed, in the order found
    // "ip-in-name:dashed(+50),token:dsl(+35)" (a signal that added nothing shows no
    // weight): for log lines and text output.
    std::string summary() const;
};

class DialupDetector {
  public:
    static constexpr int kThreshold = 50;

    // extra_patterns: the operator's PCRE2 patterns (compiled by the config), matched
    // against the host part (the name minus its registered domain, lower-cased, no
    // trailing dot). A match outweighs every built-in exemption.
    explicit DialupDetector(std::vector<Pattern> extra_patterns = {});

    // ptr_name: the forward-confirmed PTR of `client`, any case, optional trailing dot.
    // Names that cannot be DNS host names (empty labels, >253 characters, bytes outside
    // [A-Za-z0-9._-]) are never dynamic.
    DialupVerdict classify(const IpAddress& client, std::string_view ptr_name) const;

  private:
    std::vector<Pattern> patterns_;  // copies share the compiled code
};

}  // namespace smtpwall::dns
