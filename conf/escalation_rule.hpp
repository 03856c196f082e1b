// The escalation rule language: one readable line of policy per rule.
//
//   ban at first TAG [RELAYS] [for DURATION]
//   ban after N rejections in DURATION [if TAG [and TAG ...]] [RELAYS] [for DURATION]
//
//   RELAYS:  "unless shared-relay"     the default, written out: shared relays (large
//                                      providers' outbound hosts, DNSWL-listed clients,
//                                      clients with a good-mail history) are rejected
//                                      but never banned by this rule
//            "including shared-relay"  the rule bans shared relays too; only a rule on
//                                      spamtrap evidence may say so ("ban at first
//                                      spamtrap", "... if spamtrap"), and such a ban
//                                      never lasts longer than [shared_relays] max_ban
//   ("shared-relays" is accepted for "shared-relay")
//
// e.g. "ban at first spamtrap", "ban after 5 rejections in 1h",
//      "ban after 3 rejections in 1h if cbl", "ban after 2 rejections in 10m if dialup and
//      bad-helo", "ban at first spamtrap including shared-relay for 1d".
// Rules are tried in order; the first that fires bans.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace smtpwall::conf {

struct EscalationRule {
    enum class Kind { first_hit, threshold };
    Kind kind = Kind::threshold;
    std::string text;  // as the operator wrote it, for logs
    std::string tag;   // first_hit
    std::uint32_t rejections = 0;
    std::chrono::seconds within{0};
    std::vector<std::string> required_tags;
    std::optional<std::chrono::seconds> duration;  // overrides the default ban duration
    bool bans_shared_relays = false;               // "including shared-relay"
    bool operator==(const EscalationRule&) const = default;
};

// The rule, or what is wrong with the line (the caller adds file:line).
std::variant<EscalationRule, std::string> parse_rule(std::string_view text);

// The tag whose evidence is strong enough to ban a shared relay.
inline constexpr std::string_view kSpamtrapEvidence = "spamtrap";

// "ban at first spamtrap", "ban after 5 rejections in 1h".
std::vector<EscalationRule> default_escalation_rules();

}  // namespace smtpwall::conf
