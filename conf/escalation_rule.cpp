// Parser of the escalation rule lines ("ban after 5 rejections in 1h if cbl").
#include "conf/escalation_rule.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "common/tag.hpp"
#include "common/text.hpp"
#include "conf/config_reader.hpp"

namespace smtpwall::conf {

std::variant<EscalationRule, std::string> parse_rule(std::string_view text) {
    const auto w = split_words(text);
    EscalationRule rule;
    rule.text = std::string(text);
    std::size_t i = 0;
    auto next = [&]() -> std::string_view { return i < w.size() ? w[i++] : std::string_view{}; };
    auto tag = [](std::string_view t) -> std::optional<std::string> {
        if (!valid_tag(t)) return std::nullopt;
        return std::string(t);
    };

    if (next() != "ban") return std::string("a rule starts with \"ban\"");
    const auto how = next();
    if (how == "at") {
        if (next() != "first") return std::string("expected \"ban at first TAG\"");
        const auto t = tag(next());
        if (!t) return std::string("\"ban at first\" needs a tag such as spamtrap");
        rule.kind = EscalationRule::Kind::first_hit;
        rule.tag = *t;
    } else if (how == "after") {
        const auto n = next();
        std::uint32_t count = 0;
        const auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), count);
        if (n.empty() || ec != std::errc{} || end != n.data() + n.size() || count == 0)
            return std::string("\"ban after\" needs a number of rejections > 0");
        const auto noun = next();
        if (noun != "rejections" && noun != "rejection")
            return std::string("expected \"N rejections\"");
        if (next() != "in") return std::string("expected \"N rejections in DURATION\"");
        const auto within = parse_duration(next());
        if (!within || within->count() < 1)
            return std::string("expected a duration after \"in\", e.g. 1h");
        rule.kind = EscalationRule::Kind::threshold;
        rule.rejections = count;
        rule.within = *within;
        if (i < w.size() && w[i] == "if") {
            ++i;
            while (true) {
                const auto t = tag(next());
                if (!t)
                    return std::string(
                        "\"if\" needs tags joined by \"and\", e.g. if cbl and dialup");
                rule.required_tags.push_back(*t);
                if (i >= w.size() || w[i] != "and") break;
                ++i;
            }
        }
    } else {
        return std::string(
            "expected \"ban at first TAG\" or \"ban after N rejections in DURATION\"");
    }
    if (i < w.size() && (w[i] == "unless" || w[i] == "including")) {
        const bool including = w[i++] == "including";
        const auto who = next();
        if (who != "shared-relay" && who != "shared-relays")
            return fmt::format("expected \"{} shared-relay\"", including ? "including" : "unless");
        const bool on_spamtrap =
            rule.kind == EscalationRule::Kind::first_hit
                ? rule.tag == kSpamtrapEvidence
                : std::find(rule.required_tags.begin(), rule.required_tags.end(),
                            kSpamtrapEvidence) != rule.required_tags.end();
        if (including && !on_spamtrap)
            return std::string(
                "only a rule on spamtrap evidence may ban shared relays (\"ban at first "
                "spamtrap\" or \"... if spamtrap\")");
        rule.bans_shared_relays = including;
    }
    if (i < w.size() && w[i] == "for") {
        ++i;
        const auto d = parse_duration(next());
        if (!d || d->count() < 1) return std::string("expected a duration after \"for\", e.g. 7d");
        rule.duration = *d;
    }
    if (i != w.size()) return fmt::format("unexpected \"{}\"", w[i]);
    return rule;
}

std::vector<EscalationRule> default_escalation_rules() {
    std::vector<EscalationRule> rules;
    for (const char* line : {"ban at first spamtrap", "ban after 5 rejections in 1h"})
        rules.push_back(std::get<EscalationRule>(parse_rule(line)));
    return rules;
}

}  // namespace smtpwall::conf
