// The escalation rule language: one readable line of policy per rule.
//
//   ban at first TAG [for DURATION]
//   ban after N rejections in DURATION [if TAG [and TAG ...]] [for DURATION]
//
// e.g. "ban at first spamtrap", "ban after 5 rejections in 1h",
//      "ban after 3 rejections in 1h if cbl", "ban after 2 rejections in 10m if dialup and
//      bad-helo".
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
    bool operator==(const EscalationRule&) const = default;
};

// The rule, or what is wrong with the line (the caller adds file:line).
std::variant<EscalationRule, std::string> parse_rule(std::string_view text);

// "ban at first spamtrap", "ban after 5 rejections in 1h".
std::vector<EscalationRule> default_escalation_rules();

}  // namespace smtpwall::conf
