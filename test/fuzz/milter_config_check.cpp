// The milter config property (see milter_config_check.hpp): the error message form, the
// bounds every setting of conf/milter_config.cpp's schema promises, the reload
// arithmetic, and the escalation rule language.
#include "test/fuzz/milter_config_check.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>
#include <string_view>
#include <variant>

#include "common/embedded_v4.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/tag.hpp"
#include "common/text.hpp"
#include "conf/config_reader.hpp"
#include "conf/escalation_rule.hpp"
#include "conf/milter_config.hpp"
#include "conf/schema.hpp"
#include "test/fuzz/check_failure.hpp"
#include "test/fuzz/check_text.hpp"

namespace smtpwall::fuzz {

namespace {

using conf::EscalationRule;
using std::chrono::seconds;

// The file name the config is read under; every complaint must start with it.
constexpr std::string_view kName = "fuzz/smtpwall.conf";
// parse_duration's ceiling: ten years of 366 days.
constexpr seconds kTenYears{10LL * 366 * 86400};

void require(bool ok, std::string_view what, std::string_view input, std::string_view detail = {}) {
    if (!ok) check_failed("milter config", what, kv_value(input), detail);
}

// ---- escalation rules ----

bool same_rule(const EscalationRule& a, const EscalationRule& b) {
    return a.kind == b.kind && a.tag == b.tag && a.rejections == b.rejections &&
           a.within == b.within && a.required_tags == b.required_tags && a.duration == b.duration &&
           a.bans_shared_relays == b.bans_shared_relays;
}

// What escalation_rule.hpp promises of a rule it accepts.
void check_rule_bounds(const EscalationRule& r, std::string_view input) {
    if (r.kind == EscalationRule::Kind::first_hit) {
        require(valid_tag(r.tag), "\"ban at first\" without a valid tag", input, r.tag);
        require(r.rejections == 0 && r.within == seconds(0) && r.required_tags.empty(),
                "\"ban at first\" with threshold fields", input);
    } else {
        require(r.tag.empty(), "a threshold rule with a first-hit tag", input, r.tag);
        require(r.rejections > 0, "a threshold rule without rejections", input);
        require(r.within >= seconds(1) && r.within <= kTenYears, "\"in\" out of 1s..10 years",
                input, std::to_string(r.within.count()));
        for (const auto& tag : r.required_tags)
            require(valid_tag(tag), "\"if\" with an invalid tag", input, tag);
    }
    require(!r.duration || (*r.duration >= seconds(1) && *r.duration <= kTenYears),
            "\"for\" out of 1s..10 years", input);
    const bool on_spamtrap = r.kind == EscalationRule::Kind::first_hit
                                 ? r.tag == conf::kSpamtrapEvidence
                                 : std::find(r.required_tags.begin(), r.required_tags.end(),
                                             conf::kSpamtrapEvidence) != r.required_tags.end();
    require(!r.bans_shared_relays || on_spamtrap,
            "a rule not on spamtrap evidence bans shared relays", input);
}

// The rule in the grammar of escalation_rule.hpp, every optional part written out.
std::string canonical_line(const EscalationRule& r) {
    std::string out;
    if (r.kind == EscalationRule::Kind::first_hit) {
        out = "ban at first " + r.tag;
    } else {
        out = "ban after " + std::to_string(r.rejections) + " rejections in " +
              std::to_string(r.within.count()) + "s";
        for (std::size_t i = 0; i < r.required_tags.size(); ++i)
            out += (i == 0 ? " if " : " and ") + r.required_tags[i];
    }
    out += r.bans_shared_relays ? " including shared-relay" : " unless shared-relay";
    if (r.duration) out += " for " + std::to_string(r.duration->count()) + "s";
    return out;
}

void check_rule(std::string_view line) {
    const auto parsed = conf::parse_rule(line);
    const auto again = conf::parse_rule(respaced(line));
    require(parsed.index() == again.index(), "spacing changes whether a rule parses", line);
    if (const auto* error = std::get_if<std::string>(&parsed)) {
        require(!error->empty(), "a rule refused without a reason", line);
        require(*error == std::get<std::string>(again), "spacing changes the reason", line, *error);
        return;
    }
    const auto& rule = std::get<EscalationRule>(parsed);
    require(rule.text == line, "the rule's text is not the line", line, rule.text);
    check_rule_bounds(rule, line);
    require(same_rule(std::get<EscalationRule>(again), rule), "spacing changes the rule", line);

    const std::string canonical = canonical_line(rule);
    const auto back = conf::parse_rule(canonical);
    require(std::holds_alternative<EscalationRule>(back), "the canonical line does not parse", line,
            canonical);
    require(same_rule(std::get<EscalationRule>(back), rule), "the canonical line is another rule",
            line, canonical);

    // The same line in smtpwall.conf (with a window long enough for any rule).
    const std::string text =
        "[tally]\nwindow = \"3660d\"\n[escalation]\nrules = [" + conf::toml_string(line) + "]\n";
    try {
        const auto config = conf::parse_milter_config(text, std::string(kName));
        require(config.escalation.rules.size() == 1 &&
                    same_rule(config.escalation.rules[0], rule) &&
                    config.escalation.rules[0].text == rule.text,
                "the rule reads differently from smtpwall.conf", line, text);
    } catch (const std::exception& e) {
        check_failed("milter config", "a valid rule is refused in smtpwall.conf", kv_value(line),
                     e.what());
    }
}

// ---- smtpwall.conf ----

bool socket_path(const std::string& path) {
    return absolute(path) && path.size() < 108;
}

void check_network(const Cidr& net, std::string_view what, std::string_view text) {
    const auto again = Cidr::parse(net.to_string());
    require(again && *again == net, what, text, net.to_string());
}

void check_host_port(const std::string& value, std::uint16_t default_port, std::string_view what,
                     std::string_view text) {
    const auto where = conf::parse_host_port(value, default_port);
    require(where && where->second != 0, what, text, value);
}

void check_bounds(std::string_view text, const conf::MilterConfig& c) {
    check_locations("milter config", kName, text, c, conf::milter_settings());

    require(socket_path(c.milter.socket), "milter.socket", text, c.milter.socket);
    require(socket_path(c.control.socket), "control.socket", text, c.control.socket);
    require(socket_path(c.helper.socket), "helper.socket", text, c.helper.socket);
    for (unsigned mode : {c.milter.socket_mode, c.control.socket_mode})
        require(mode <= 07777 && (mode & 0111) == 0, "a socket mode", text, std::to_string(mode));
    require(!c.milter.user.empty() && !c.helper.user.empty(), "an empty user", text);
    if (!c.control.metrics_listen.empty()) {
        const auto where = conf::parse_host_port(c.control.metrics_listen, 0);
        require(where && where->first.is_loopback() && where->second != 0, "control.metrics_listen",
                text, c.control.metrics_listen);
    }
    for (const auto& name : c.identity.hostnames)
        require(
            std::none_of(name.begin(), name.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; }),
            "identity.hostnames not lower case", text, name);
    for (const auto* list : {&c.checks.spamtraps, &c.checks.exempt_recipients})
        for (const auto& p : *list)
            require(std::count(p.begin(), p.end(), '@') == 1 && p.size() > 1,
                    "a recipient pattern without exactly one '@'", text, p);
    for (const auto& net : c.checks.allowlist.entries())
        check_network(net, "checks.allowlist holds a malformed network", text);

    for (const auto& server : c.dns.servers) check_host_port(server, 53, "dns.servers", text);
    require(c.dns.timeout.count() >= 10, "dns.timeout below 10ms", text);
    require(c.dns.attempts >= 1 && c.dns.attempts <= 5, "dns.attempts", text);
    require(c.dns.deadline.count() >= 100, "dns.deadline below 100ms", text);
    require(c.dns.min_ttl <= 86400 && c.dns.max_ttl >= 1 && c.dns.max_ttl <= 7 * 86400 &&
                c.dns.max_negative_ttl <= 86400,
            "dns TTL bounds", text);
    require(c.dns.cache_entries >= 100 && c.dns.cache_entries <= 10'000'000, "dns.cache_entries",
            text);

    require(c.scoring.threshold >= 1 && c.scoring.threshold <= 1000, "scoring.threshold", text);
    for (const auto& [tag, weight] : c.scoring.weights)
        require(valid_tag(tag) && weight >= -1000 && weight <= 1000, "scoring.weights", text, tag);
    for (std::size_t i = 0; i < c.zones.size(); ++i) {
        const auto& z = c.zones[i];
        require(valid_tag(z.tag), "zone.tag", text, z.tag);
        require(!z.zone.empty() && z.zone.find_first_of(" /\\") == std::string::npos, "zone.zone",
                text, z.zone);
        require(z.weight >= -1000 && z.weight <= 1000, "zone.weight", text);
        require(CodeFilter::parse(z.codes.text()).has_value(), "zone.codes", text, z.codes.text());
        for (std::size_t j = 0; j < i; ++j)
            require(c.zones[j].tag != z.tag, "two zones with one tag", text, z.tag);
    }
    require(c.spf.workers >= 1 && c.spf.workers <= 512, "spf.workers", text);

    require(c.tally.ipv4_prefix >= 16 && c.tally.ipv4_prefix <= 32, "tally.ipv4_prefix", text);
    require(c.tally.ipv6_prefix >= 32 && c.tally.ipv6_prefix <= 128, "tally.ipv6_prefix", text);
    require(c.tally.window >= seconds(16), "tally.window below 16s", text);
    require(c.tally.max_entries >= 100 && c.tally.max_entries <= 100'000'000, "tally.max_entries",
            text);
    for (const auto& net : c.tally.nat64_prefixes) {
        check_network(net, "tally.nat64_prefixes holds a malformed network", text);
        require(valid_nat64_prefix(net), "tally.nat64_prefixes holds a non-RFC 6052 prefix", text,
                net.to_string());
    }

    for (const auto& rule : c.escalation.rules) {
        check_rule_bounds(rule, text);
        const auto again = conf::parse_rule(rule.text);
        require(std::holds_alternative<EscalationRule>(again) &&
                    same_rule(std::get<EscalationRule>(again), rule),
                "a rule is not what its text says", text, rule.text);
        require(rule.within <= c.tally.window, "a rule looks back further than tally.window", text,
                rule.text);
    }
    require(c.escalation.ban_duration >= seconds(1), "escalation.ban_duration below 1s", text);
    require(c.escalation.max_ban_duration >= c.escalation.ban_duration,
            "escalation.max_ban_duration below ban_duration", text);
    require(c.escalation.repeat_growth >= 1.0 && c.escalation.repeat_growth <= 100.0,
            "escalation.repeat_growth", text);
    require(c.escalation.good_mail_ratio >= 0.0 && c.escalation.good_mail_ratio <= 1e6,
            "escalation.good_mail_ratio", text);

    require(c.shared_relays.good_mail <= 1'000'000, "shared_relays.good_mail", text);
    require(c.shared_relays.max_ban >= seconds(60), "shared_relays.max_ban below 60s", text);
    const auto domains = c.shared_relays.domains();
    for (const auto& d : c.shared_relays.add_domains)
        require(std::find(domains.begin(), domains.end(), d) != domains.end(),
                "an added relay domain is not a relay domain", text, d);
    for (const auto& d : c.shared_relays.remove_domains)
        require(std::find(c.shared_relays.add_domains.begin(), c.shared_relays.add_domains.end(),
                          d) != c.shared_relays.add_domains.end() ||
                    std::find(domains.begin(), domains.end(), d) == domains.end(),
                "a removed relay domain is still a relay domain", text, d);

    require(c.cluster.redis.empty() || c.cluster.sentinels.empty(),
            "both cluster.redis and cluster.sentinels", text);
    require(c.cluster.sentinels.empty() || !c.cluster.master_name.empty(),
            "cluster.sentinels without master_name", text);
    for (const auto& s : c.cluster.sentinels) check_host_port(s, 26379, "cluster.sentinels", text);
    require(c.cluster.redis.empty() || c.cluster.redis.starts_with("unix:/") ||
                conf::parse_host_port(c.cluster.redis, 6379).has_value(),
            "cluster.redis", text, c.cluster.redis);
    require(c.cluster.host_name.size() <= 64, "cluster.host_name", text, c.cluster.host_name);
    require(!c.cluster.key_prefix.empty() && c.cluster.key_prefix.size() <= 32 &&
                c.cluster.key_prefix.find_first_of(" {}") == std::string::npos,
            "cluster.key_prefix", text, c.cluster.key_prefix);
    require(c.cluster.password_file.empty() || absolute(c.cluster.password_file),
            "cluster.password_file", text, c.cluster.password_file);
    require(c.cluster.connect_timeout.count() >= 50 && c.cluster.command_timeout.count() >= 50,
            "cluster timeouts below 50ms", text);

    require(c.aggregation.ipv4_prefix >= 16 && c.aggregation.ipv4_prefix < c.tally.ipv4_prefix,
            "aggregation.ipv4_prefix", text);
    require(c.aggregation.ipv6_prefix >= 32 && c.aggregation.ipv6_prefix < c.tally.ipv6_prefix,
            "aggregation.ipv6_prefix", text);
    require(c.aggregation.min_banned >= 2 && c.aggregation.min_banned <= 65536,
            "aggregation.min_banned", text);
    require(c.state.file.empty() || absolute(c.state.file), "state.file", text, c.state.file);
    require(c.state.flush_interval >= seconds(1) && c.state.flush_interval <= seconds(60),
            "state.flush_interval", text);
}

// A reload over the same file changes nothing; over the defaults it takes every live
// setting, so only the restart-only differences remain.
void check_reload(std::string_view text, const conf::MilterConfig& c) {
    require(conf::restart_only_changes(c, c).empty(), "a config differs from itself", text);
    const conf::MilterConfig defaults;
    const auto over_defaults = conf::reloaded(defaults, c);
    require(conf::restart_only_changes(over_defaults, c) == conf::restart_only_changes(defaults, c),
            "a reload takes or drops restart-only settings", text);
    require(conf::restart_only_changes(over_defaults, defaults).empty(),
            "a reload changes restart-only settings", text);
    require(conf::restart_only_changes(conf::reloaded(c, c), c).empty(),
            "a reload over itself changes the config", text);
}

void check_config_text(std::string_view text) {
    const auto config = parse_config("milter config", kName, text, conf::parse_milter_config);
    if (!config) return;
    check_bounds(text, *config);
    check_reload(text, *config);
}

}  // namespace

void check_milter_config(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    if (!input.empty() && input.front() == '\0')
        check_rule(input.substr(1));
    else
        check_config_text(input);
}

}  // namespace smtpwall::fuzz
