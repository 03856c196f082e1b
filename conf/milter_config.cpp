// The milter's settings, declared once (conf/schema.hpp): the schema below is what
// parsing, validation, reload and `--check-config` follow.
#include "conf/milter_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/tag.hpp"
#include "conf/config_reader.hpp"
#include "conf/schema.hpp"
#include "conf/shared_relay_domains.hpp"

namespace smtpwall::conf {

namespace {

using Config = MilterConfig;
using std::chrono::milliseconds;
using std::chrono::seconds;
constexpr auto live = Reload::live;
constexpr auto restart = Reload::restart;

// ---- kinds of values only this file has ----

// "/run/smtpwall/milter.sock" (a leading "unix:", Postfix's spelling, is dropped).
struct SocketPath {
    std::string type = "absolute path of a unix socket";
    std::string read(TableReader& t, std::string_view key, const std::string& fallback) const {
        auto path = t.string(key, fallback);
        if (path.starts_with("unix:")) path.erase(0, 5);
        if (path.empty() || path.front() != '/')
            t.fail(key, "must be an absolute path to a unix socket");
        if (path.size() >= 108) t.fail(key, "path too long for a unix socket");
        return path;
    }
    std::string show(const std::string& v) const { return toml_string(v); }
};

// "0660": octal permission bits of a socket.
struct SocketMode {
    std::string type = "octal mode without execute bits, e.g. \"0660\"";
    unsigned read(TableReader& t, std::string_view key, unsigned fallback) const {
        const auto text = t.string(key, fmt::format("{:04o}", fallback));
        unsigned mode = 0;
        if (text.empty() || text.size() > 4) t.fail(key, "expected an octal mode such as \"0660\"");
        for (char c : text) {
            if (c < '0' || c > '7') t.fail(key, "expected an octal mode such as \"0660\"");
            mode = mode * 8 + static_cast<unsigned>(c - '0');
        }
        if (mode & 0111) t.fail(key, "a socket mode has no execute bits");
        return mode;
    }
    std::string show(unsigned v) const { return toml_string(fmt::format("{:04o}", v)); }
};

// Host names, compared in lower case.
struct HostNames {
    std::string type = "array of host names";
    std::vector<std::string> read(TableReader& t, std::string_view key,
                                  const std::vector<std::string>& fallback) const {
        auto names = Texts().read(t, key, fallback);
        for (auto& name : names)
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return names;
    }
    std::string show(const std::vector<std::string>& v) const { return toml_strings(v); }
};

struct Addresses {
    std::string type = "array of IP addresses";
    std::vector<IpAddress> read(TableReader& t, std::string_view key,
                                const std::vector<IpAddress>& fallback) const {
        const Texts texts([](const std::string& text) -> std::optional<std::string> {
            if (IpAddress::parse(text)) return std::nullopt;
            return "is not an IP address";
        });
        if (!t.has(key)) return fallback;
        std::vector<IpAddress> out;
        for (const auto& text : texts.read(t, key, {})) out.push_back(*IpAddress::parse(text));
        return out;
    }
    std::string show(const std::vector<IpAddress>& v) const {
        std::vector<std::string> texts;
        for (const auto& a : v) texts.push_back(a.to_string());
        return toml_strings(texts);
    }
};

// Domain names under which PTR names are matched: lower case, no trailing dot, at
// least two labels of letters, digits and hyphens.
std::optional<std::string> domain_problem(const std::string& name) {
    if (name.empty() || name.size() > 253) return "is not a domain name";
    std::size_t labels = 0;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = std::min(name.find('.', start), name.size());
        const std::string_view label(name.data() + start, dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-' ||
            !std::all_of(label.begin(), label.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
            }))
            return "is not a domain name (lower-case labels of letters, digits and hyphens)";
        ++labels;
        if (dot == name.size()) break;
        start = dot + 1;
    }
    if (labels < 2) return "is a top-level domain: name a provider's domain";
    return std::nullopt;
}

struct RelayDomainNames {
    bool shipped_only = false;  // remove_domains: must name a shipped entry
    std::string type = "array of domain names";
    std::vector<std::string> read(TableReader& t, std::string_view key,
                                  const std::vector<std::string>& fallback) const {
        const bool only_shipped = shipped_only;
        const Texts texts([only_shipped](const std::string& raw) -> std::optional<std::string> {
            const std::string name = lower_domain(raw);
            if (auto problem = domain_problem(name)) return problem;
            if (only_shipped && std::ranges::none_of(shipped_relay_domains(), [&](const auto& d) {
                    return d.domain == name;
                }))
                return "is not in the shipped list (see smtpwall.conf(5))";
            return std::nullopt;
        });
        auto names = texts.read(t, key, fallback);
        for (auto& name : names) name = lower_domain(name);
        return names;
    }
    std::string show(const std::vector<std::string>& v) const { return toml_strings(v); }

    static std::string lower_domain(std::string name) {
        if (!name.empty() && name.back() == '.') name.pop_back();
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return name;
    }
};

// Escalation rule lines (conf/escalation_rule.hpp), each blamed at its own line.
struct Rules {
    std::string type = "array of rule lines";
    std::vector<EscalationRule> read(TableReader& t, std::string_view key,
                                     const std::vector<EscalationRule>& fallback) const {
        if (!t.has(key)) return fallback;
        std::vector<EscalationRule> rules;
        for (const auto& line : t.located_strings(key, {})) {
            auto parsed = parse_rule(line.value);
            if (auto* err = std::get_if<std::string>(&parsed))
                throw ConfigError(fmt::format("{}: {}: \"{}\": {}", line.where, t.name_of(key),
                                              line.value, *err));
            rules.push_back(std::get<EscalationRule>(std::move(parsed)));
        }
        return rules;
    }
    std::string show(const std::vector<EscalationRule>& rules) const {
        std::vector<std::string> texts;
        for (const auto& r : rules) texts.push_back(r.text);
        return toml_strings(texts);
    }
};

// Operator PCRE2 patterns, compiled here so that a bad one is a config error.
struct Patterns {
    std::string type = "array of PCRE2 patterns";
    std::vector<Pattern> read(TableReader& t, std::string_view key,
                              const std::vector<Pattern>& fallback) const {
        if (!t.has(key)) return fallback;
        std::vector<Pattern> out;
        for (const auto& item : t.located_strings(key, {})) {
            auto compiled = Pattern::compile(item.value);
            if (auto* err = std::get_if<std::string>(&compiled))
                throw ConfigError(fmt::format("{}: {}: \"{}\" is not a valid pattern: {}",
                                              item.where, t.name_of(key), item.value, *err));
            out.push_back(std::get<Pattern>(std::move(compiled)));
        }
        return out;
    }
    std::string show(const std::vector<Pattern>& v) const {
        std::vector<std::string> texts;
        for (const auto& p : v) texts.push_back(p.text());
        return toml_strings(texts);
    }
};

struct Codes {
    std::string type = "return-code filter, e.g. \"127.0.0.[2..11]\"";
    CodeFilter read(TableReader& t, std::string_view key, const CodeFilter& fallback) const {
        const auto text = t.string(key, fallback.text());
        const auto filter = CodeFilter::parse(text);
        if (!filter)
            t.fail(key,
                   fmt::format("\"{}\" is not a code filter such as \"127.0.0.[2..11]\"", text));
        return *filter;
    }
    std::string show(const CodeFilter& v) const { return toml_string(v.text()); }
};

std::optional<std::string> recipient_pattern(const std::string& p) {
    const auto at = p.find('@');
    const bool ok = at != std::string::npos && p.find('@', at + 1) == std::string::npos &&
                    p.size() > 1 && p.find_first_of(" \t<>") == std::string::npos;
    if (ok) return std::nullopt;
    return "is not \"local@domain\", \"local@\" or \"@domain\"";
}

// ---- [[zone]] ----

const Schema<Config::Zone>& zone_schema() {
    using Z = Config::Zone;
    static const Schema<Z> schema(
        {
            [] {
                auto s = setting<Z>(
                    "", "tag", [](auto& z) -> auto& { return z.tag; },
                    Text([](const std::string& tag) -> std::optional<std::string> {
                        if (valid_tag(tag)) return std::nullopt;
                        return "every [[zone]] needs a tag such as \"cbl\"";
                    }),
                    live, "the tag a listing gives; unique");
                s.required = true;
                return s;
            }(),
            [] {
                auto s = setting<Z>(
                    "", "zone", [](auto& z) -> auto& { return z.zone; },
                    Text([](const std::string& zone) -> std::optional<std::string> {
                        if (!zone.empty() && zone.find_first_of(" /\\") == std::string::npos)
                            return std::nullopt;
                        return "every [[zone]] needs a zone such as \"cbl.abuseat.org\"";
                    }),
                    live, "the DNS zone to ask");
                s.required = true;
                return s;
            }(),
            setting<Z>(
                "", "codes", [](auto& z) -> auto& { return z.codes; }, Codes(), live,
                "which A answers count (postscreen syntax); empty: any 127/8"),
            setting<Z>(
                "", "weight", [](auto& z) -> auto& { return z.weight; }, Integer(-1000, 1000), live,
                "negative: an allowlist (DNSWL)"),
            setting<Z>(
                "", "ipv4", [](auto& z) -> auto& { return z.ipv4; }, Flag(), live,
                "ask about IPv4 clients"),
            setting<Z>(
                "", "ipv6", [](auto& z) -> auto& { return z.ipv6; }, Flag(), live,
                "ask about IPv6 clients (nibble format)"),
            setting<Z>(
                "", "txt", [](auto& z) -> auto& { return z.txt; }, Flag(), live,
                "fetch the TXT of a listing for the log"),
        },
        {});
    return schema;
}

Setting<Config> zones_setting() {
    Setting<Config> s;
    s.key = "zone";
    s.type = "array of tables [[zone]]";
    s.doc = "DNS block lists (weight > 0) and allow lists (weight < 0)";
    s.reload = live;
    s.read = [](TableReader& top, Config& c) {
        c.zones.clear();
        for (auto& table : top.tables("zone")) {
            auto zone = zone_schema().read_table(table);
            for (const auto& other : c.zones)
                if (other.tag == zone.tag)
                    table.fail("tag", fmt::format("\"{}\" is used by another zone", zone.tag));
            c.zones.push_back(std::move(zone));
        }
    };
    s.show = [](const Config& c) { return c.zones.empty() ? std::string() : "[[zone]]"; };
    s.same = [](const Config& a, const Config& b) { return a.zones == b.zones; };
    s.take = [](Config& to, const Config& from) { to.zones = from.zones; };
    s.members = zone_schema().describe();
    return s;
}

// ---- [scoring.weights] ----

Setting<Config> weights_setting() {
    Setting<Config> s;
    s.table = "scoring";
    s.key = "weights";
    s.type = "table of tag = integer -1000..1000";
    s.doc = "overrides of the built-in tags' weights";
    s.reload = live;
    s.table_valued = true;
    s.read = [](TableReader& scoring, Config& c) {
        auto w = scoring.table("weights");
        if (!w) return;
        for (const auto& tag : w->keys()) {
            if (!valid_tag(tag)) w->fail(tag, "is not a valid tag name");
            c.scoring.weights[tag] = static_cast<int>(w->integer(tag, 0, -1000, 1000));
        }
        w->reject_unknown_keys();
    };
    s.show = [](const Config&) { return std::string(); };
    s.same = [](const Config& a, const Config& b) {
        return a.scoring.weights == b.scoring.weights;
    };
    s.take = [](Config& to, const Config& from) { to.scoring.weights = from.scoring.weights; };
    return s;
}

// ---- the schema of smtpwall.conf ----

const Schema<Config>& schema() {
    static const Schema<Config> schema(
        {
            // [milter]
            setting<Config>(
                "milter", "socket", [](auto& c) -> auto& { return c.milter.socket; }, SocketPath(),
                restart, "where the MTA connects"),
            setting<Config>(
                "milter", "socket_mode", [](auto& c) -> auto& { return c.milter.socket_mode; },
                SocketMode(), restart, "permissions of the milter socket"),
            setting<Config>(
                "milter", "socket_group", [](auto& c) -> auto& { return c.milter.socket_group; },
                Text(), restart, "group of the milter socket; empty: the user's own"),
            setting<Config>(
                "milter", "user", [](auto& c) -> auto& { return c.milter.user; },
                Text([](const std::string& user) -> std::optional<std::string> {
                    if (user.empty()) return "must name a user";
                    return std::nullopt;
                }),
                restart, "the unprivileged user the milter becomes"),
            setting<Config>(
                "milter", "timeout", [](auto& c) -> auto& { return c.milter.timeout; }, Duration(),
                restart, "libmilter's wait for the MTA on one read/write"),
            setting<Config>(
                "milter", "observe", [](auto& c) -> auto& { return c.milter.observe; }, Flag(),
                restart, "judge, tally and log; reject and ban nothing"),
            // [control]
            setting<Config>(
                "control", "socket", [](auto& c) -> auto& { return c.control.socket; },
                SocketPath(), restart, "where smtpwallctl connects"),
            setting<Config>(
                "control", "socket_mode", [](auto& c) -> auto& { return c.control.socket_mode; },
                SocketMode(), restart, "permissions of the control socket"),
            setting<Config>(
                "control", "socket_group", [](auto& c) -> auto& { return c.control.socket_group; },
                Text(), restart, "group of the control socket"),
            setting<Config>(
                "control", "admin_users", [](auto& c) -> auto& { return c.control.admin_users; },
                Texts(), restart, "users who may ban, unban, allow and reload"),
            setting<Config>(
                "control", "admin_group", [](auto& c) -> auto& { return c.control.admin_group; },
                Text(), restart, "group whose members may ban, unban, allow and reload"),
            setting<Config>(
                "control", "metrics_listen",
                [](auto& c) -> auto& { return c.control.metrics_listen; },
                Text([](const std::string& text) -> std::optional<std::string> {
                    // Port 0 stands for "none given": "[::1]" and "::1" name no port.
                    const auto where = parse_host_port(text, 0);
                    if (text.empty() || (where && where->first.is_loopback() && where->second != 0))
                        return std::nullopt;
                    return "must be a loopback address with a port, e.g. \"127.0.0.1:9253\"";
                }),
                restart, "loopback address:port for HTTP /metrics; empty: off"),
            setting<Config>(
                "control", "max_connections",
                [](auto& c) -> auto& { return c.control.max_connections; }, Integer(1, 10000),
                restart, "open control connections of users who are not admins (and /metrics)"),
            setting<Config>(
                "control", "max_connections_per_user",
                [](auto& c) -> auto& { return c.control.max_connections_per_user; },
                Integer(1, 10000), restart, "open control connections of one user"),
            setting<Config>(
                "control", "idle_timeout", [](auto& c) -> auto& { return c.control.idle_timeout; },
                Duration(std::chrono::seconds(1)), restart,
                "a connection waiting this long for a request is closed"),
            setting<Config>(
                "control", "write_timeout",
                [](auto& c) -> auto& { return c.control.write_timeout; },
                Duration(std::chrono::seconds(1)), restart,
                "a reply its client does not read within this is dropped, the connection closed"),
            setting<Config>(
                "control", "checks_per_minute",
                [](auto& c) -> auto& { return c.control.checks_per_minute; }, Integer(1, 100000),
                restart, "live checks (real DNS) per minute for each user who is not an admin"),
            // [helper]
            setting<Config>(
                "helper", "socket", [](auto& c) -> auto& { return c.helper.socket; }, SocketPath(),
                restart, "where smtpwall-helper listens"),
            setting<Config>(
                "helper", "user", [](auto& c) -> auto& { return c.helper.user; },
                Text([](const std::string& user) -> std::optional<std::string> {
                    if (user.empty()) return "must name a user";
                    return std::nullopt;
                }),
                restart, "the user smtpwall-helper serves as; any other server is refused"),
            // [identity]
            setting<Config>(
                "identity", "hostnames", [](auto& c) -> auto& { return c.identity.hostnames; },
                HostNames(), live, "our own host names"),
            setting<Config>(
                "identity", "addresses", [](auto& c) -> auto& { return c.identity.addresses; },
                Addresses(), live, "our own addresses"),
            // [checks]
            setting<Config>(
                "checks", "spamtraps", [](auto& c) -> auto& { return c.checks.spamtraps; },
                Texts(recipient_pattern), live, "spamtrap recipients"),
            setting<Config>(
                "checks", "exempt_recipients",
                [](auto& c) -> auto& { return c.checks.exempt_recipients; },
                Texts(recipient_pattern), live, "recipients always accepted"),
            setting<Config>(
                "checks", "allowlist", [](auto& c) -> auto& { return c.checks.allowlist; },
                Networks(), live, "clients never rejected, tallied or banned"),
            // [dns]
            setting<Config>(
                "dns", "enabled", [](auto& c) -> auto& { return c.dns.enabled; }, Flag(), restart,
                "DNS checks on or off"),
            setting<Config>(
                "dns", "servers", [](auto& c) -> auto& { return c.dns.servers; },
                Texts([](const std::string& server) -> std::optional<std::string> {
                    if (parse_host_port(server, 53)) return std::nullopt;
                    return "is not an address, address:port or [v6]:port";
                }),
                restart, "resolvers to ask; empty: /etc/resolv.conf"),
            setting<Config>(
                "dns", "timeout", [](auto& c) -> auto& { return c.dns.timeout; },
                DurationMs(milliseconds(10)), restart, "per attempt"),
            setting<Config>(
                "dns", "attempts", [](auto& c) -> auto& { return c.dns.attempts; }, Integer(1, 5),
                restart, "tries per query"),
            setting<Config>(
                "dns", "deadline", [](auto& c) -> auto& { return c.dns.deadline; },
                DurationMs(milliseconds(100)), restart, "how long a verdict may wait for DNS"),
            setting<Config>(
                "dns", "on_failure", [](auto& c) -> auto& { return c.dns.tempfail_on_failure; },
                Choice<bool, 2>({{{true, "tempfail"}, {false, "ignore"}}}), live,
                "a failed lookup that could decide: tempfail or ignore"),
            setting<Config>(
                "dns", "min_ttl", [](auto& c) -> auto& { return c.dns.min_ttl; }, Integer(0, 86400),
                restart, "cache: shortest TTL kept"),
            setting<Config>(
                "dns", "max_ttl", [](auto& c) -> auto& { return c.dns.max_ttl; },
                Integer(1, 7 * 86400), restart, "cache: longest TTL kept"),
            setting<Config>(
                "dns", "max_negative_ttl", [](auto& c) -> auto& { return c.dns.max_negative_ttl; },
                Integer(0, 86400), restart, "cache: longest negative TTL"),
            setting<Config>(
                "dns", "cache_entries", [](auto& c) -> auto& { return c.dns.cache_entries; },
                Integer(100, 10'000'000), restart, "cache size in answers"),
            setting<Config>(
                "dns", "cache_megabytes", [](auto& c) -> auto& { return c.dns.cache_megabytes; },
                Integer(1, 65536), restart, "cache size in memory (MiB)"),
            setting<Config>(
                "dns", "helo_lookups", [](auto& c) -> auto& { return c.dns.helo_lookups; },
                Integer(0, 50), restart,
                "HELO names a session looks up as they come; then only the latest, if judged"),
            setting<Config>(
                "dns", "zone_suspension", [](auto& c) -> auto& { return c.dns.zone_suspension; },
                Duration(), restart, "how long a zone that refused queries is not asked"),
            setting<Config>(
                "dns", "probe_interval", [](auto& c) -> auto& { return c.dns.probe_interval; },
                Duration(), restart, "how often every zone is tested; 0: never"),
            // [scoring]
            setting<Config>(
                "scoring", "threshold", [](auto& c) -> auto& { return c.scoring.threshold; },
                Integer(1, 1000), live, "the weight at which a session is rejected"),
            weights_setting(),
            // [[zone]]
            zones_setting(),
            // [dialup]
            setting<Config>(
                "dialup", "patterns", [](auto& c) -> auto& { return c.dialup.patterns; },
                Patterns(), live, "extra PCRE2 patterns for dynamic host parts"),
            // [spf]
            setting<Config>(
                "spf", "enabled", [](auto& c) -> auto& { return c.spf.enabled; }, Flag(), restart,
                "SPF checks on or off"),
            setting<Config>(
                "spf", "workers", [](auto& c) -> auto& { return c.spf.workers; }, Integer(1, 512),
                restart, "threads doing SPF checks"),
            setting<Config>(
                "spf", "session_checks", [](auto& c) -> auto& { return c.spf.session_checks; },
                Integer(1, 50), restart,
                "senders a session checks as they come; then only the latest, if judged"),
            setting<Config>(
                "spf", "client_workers", [](auto& c) -> auto& { return c.spf.client_workers; },
                Integer(1, 512), restart, "SPF workers one client may hold at once"),
            // [tally]
            setting<Config>(
                "tally", "ipv4_prefix", [](auto& c) -> auto& { return c.tally.ipv4_prefix; },
                Integer(16, 32), restart, "IPv4 network a tally and ban covers"),
            setting<Config>(
                "tally", "ipv6_prefix", [](auto& c) -> auto& { return c.tally.ipv6_prefix; },
                Integer(32, 128), restart, "IPv6 network a tally and ban covers"),
            setting<Config>(
                "tally", "window", [](auto& c) -> auto& { return c.tally.window; },
                Duration(seconds(16)), restart, "how far back rejections are remembered"),
            setting<Config>(
                "tally", "max_entries", [](auto& c) -> auto& { return c.tally.max_entries; },
                Integer(100, 100'000'000), restart, "addresses tracked at most"),
            setting<Config>(
                "tally", "nat64_prefixes", [](auto& c) -> auto& { return c.tally.nat64_prefixes; },
                Nat64Prefixes(), restart,
                "NAT64 prefixes whose clients are tallied as the IPv4 they carry"),
            // [escalation]
            setting<Config>(
                "escalation", "rules", [](auto& c) -> auto& { return c.escalation.rules; }, Rules(),
                live, "when a tally becomes a ban, first match wins"),
            setting<Config>(
                "escalation", "ban_duration",
                [](auto& c) -> auto& { return c.escalation.ban_duration; }, Duration(seconds(1)),
                live, "how long a first ban lasts"),
            setting<Config>(
                "escalation", "repeat_growth",
                [](auto& c) -> auto& { return c.escalation.repeat_growth; }, Real(1.0, 100.0), live,
                "factor for each further ban"),
            setting<Config>(
                "escalation", "max_ban_duration",
                [](auto& c) -> auto& { return c.escalation.max_ban_duration; }, Duration(), live,
                "the longest ban"),
            setting<Config>(
                "escalation", "good_mail_ratio",
                [](auto& c) -> auto& { return c.escalation.good_mail_ratio; }, Real(0.0, 1e6), live,
                "accepted messages per rejection that spare an address"),
            // [shared_relays]
            setting<Config>(
                "shared_relays", "add_domains",
                [](auto& c) -> auto& { return c.shared_relays.add_domains; }, RelayDomainNames(),
                live, "more domains whose confirmed PTR names are shared relays"),
            setting<Config>(
                "shared_relays", "remove_domains",
                [](auto& c) -> auto& { return c.shared_relays.remove_domains; },
                RelayDomainNames{true}, live, "shipped domains that are not shared relays here"),
            setting<Config>(
                "shared_relays", "good_mail",
                [](auto& c) -> auto& { return c.shared_relays.good_mail; }, Integer(0, 1'000'000),
                live, "accepted messages that make a client a shared relay; 0: never"),
            setting<Config>(
                "shared_relays", "max_ban",
                [](auto& c) -> auto& { return c.shared_relays.max_ban; }, Duration(seconds(60)),
                live, "the longest ban of a shared relay"),
            // [cluster]
            setting<Config>(
                "cluster", "redis", [](auto& c) -> auto& { return c.cluster.redis; },
                Text([](const std::string& text) -> std::optional<std::string> {
                    if (text.empty() || (text.starts_with("unix:/") && text.size() < 5 + 108))
                        return std::nullopt;
                    if (const auto where = parse_host_port(text, 6379); where && where->second)
                        return std::nullopt;
                    return "expected \"unix:/path\" or a numeric address:port such as "
                           "\"192.0.2.5:6379\"";
                }),
                restart, "Redis shared by the MX hosts; empty (and no sentinels): cluster off"),
            setting<Config>(
                "cluster", "sentinels", [](auto& c) -> auto& { return c.cluster.sentinels; },
                Texts([](const std::string& text) -> std::optional<std::string> {
                    if (const auto where = parse_host_port(text, 26379); where && where->second)
                        return std::nullopt;
                    return "expected a numeric address:port such as \"192.0.2.5:26379\"";
                }),
                restart, "Redis Sentinels that name the master instead of redis"),
            setting<Config>(
                "cluster", "master_name", [](auto& c) -> auto& { return c.cluster.master_name; },
                Text(), restart, "the master's name at the sentinels"),
            setting<Config>(
                "cluster", "host_name", [](auto& c) -> auto& { return c.cluster.host_name; },
                Text([](const std::string& name) -> std::optional<std::string> {
                    if (name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char ch) {
                            return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' ||
                                   ch == '-' || ch == '_';
                        }))
                        return std::nullopt;
                    return "at most 64 letters, digits, '.', '-' and '_'";
                }),
                restart, "this MX's name in the cluster; empty: the system's host name"),
            setting<Config>(
                "cluster", "key_prefix", [](auto& c) -> auto& { return c.cluster.key_prefix; },
                Text([](const std::string& prefix) -> std::optional<std::string> {
                    if (!prefix.empty() && prefix.size() <= 32 &&
                        std::all_of(prefix.begin(), prefix.end(), [](char ch) {
                            return ch > ' ' && ch < 127 && ch != '{' && ch != '}';
                        }))
                        return std::nullopt;
                    return "1 to 32 printable characters without spaces or braces";
                }),
                restart, "prefix of every Redis key smtpwall uses"),
            setting<Config>(
                "cluster", "user", [](auto& c) -> auto& { return c.cluster.user; }, Text(), restart,
                "Redis ACL user; empty: the default user"),
            setting<Config>(
                "cluster", "password_file",
                [](auto& c) -> auto& { return c.cluster.password_file; },
                Text([](const std::string& file) -> std::optional<std::string> {
                    if (file.empty() || file.front() == '/') return std::nullopt;
                    return "must be an absolute path";
                }),
                restart, "file holding the Redis password (root- or milter-user-readable only)"),
            setting<Config>(
                "cluster", "connect_timeout",
                [](auto& c) -> auto& { return c.cluster.connect_timeout; },
                DurationMs(milliseconds(50)), restart, "how long a connection to Redis may take"),
            setting<Config>(
                "cluster", "command_timeout",
                [](auto& c) -> auto& { return c.cluster.command_timeout; },
                DurationMs(milliseconds(50)), restart,
                "how long Redis may take to answer before the link is dropped and retried"),
            // [aggregation]
            setting<Config>(
                "aggregation", "enabled", [](auto& c) -> auto& { return c.aggregation.enabled; },
                Flag(), live, "ban a block once enough addresses in it are banned"),
            setting<Config>(
                "aggregation", "ipv4_prefix",
                [](auto& c) -> auto& { return c.aggregation.ipv4_prefix; }, Integer(16, 31), live,
                "IPv4 block size"),
            setting<Config>(
                "aggregation", "ipv6_prefix",
                [](auto& c) -> auto& { return c.aggregation.ipv6_prefix; }, Integer(32, 127), live,
                "IPv6 block size"),
            setting<Config>(
                "aggregation", "min_banned",
                [](auto& c) -> auto& { return c.aggregation.min_banned; }, Integer(2, 65536), live,
                "banned addresses that make a block"),
            // [state]
            setting<Config>(
                "state", "file", [](auto& c) -> auto& { return c.state.file; },
                Text([](const std::string& file) -> std::optional<std::string> {
                    if (file.empty() || file.front() == '/') return std::nullopt;
                    return "must be an absolute path (or \"\" to keep no state)";
                }),
                restart, "the SQLite state file; empty: keep nothing"),
            setting<Config>(
                "state", "flush_interval", [](auto& c) -> auto& { return c.state.flush_interval; },
                Duration(seconds(1), seconds(60)), restart, "how often changes reach the disk"),
            // [history]
            setting<Config>(
                "history", "sample_interval",
                [](auto& c) -> auto& { return c.history.sample_interval; },
                Duration(seconds(1), seconds(3600)), restart,
                "how often the firewall's counters and the milter's counts are sampled"),
            setting<Config>(
                "history", "retention", [](auto& c) -> auto& { return c.history.retention; },
                Duration(seconds(86400), seconds(366 * 86400)), restart,
                "how long the hourly history is kept"),
        },
        {
            {"escalation.max_ban_duration",
             [](const Config& c) -> std::
                                     optional<std::string> {
                                         if (c.escalation.max_ban_duration >=
                                             c.escalation.ban_duration)
                                             return std::nullopt;
                                         return "must not be shorter than ban_duration";
                                     },
             {"escalation.ban_duration"}},
            {"escalation.rules",
             [](const Config& c)
                 -> std::
                     optional<std::string> {
                         for (const auto& rule : c.escalation.rules)
                             if (rule.within > c.tally.window)
                                 return fmt::format(
                                     "\"{}\" looks back further than tally.window ({}s)", rule.text,
                                     c.tally.window.count());
                         return std::nullopt;
                     },
             {"tally.window"}},
            {"cluster.sentinels",
             [](const Config& c)
                 -> std::
                     optional<std::string> {
                         if (!c.cluster.sentinels.empty() && !c.cluster.redis.empty())
                             return "set either cluster.redis or cluster.sentinels, not both";
                         if (!c.cluster.sentinels.empty() && c.cluster.master_name.empty())
                             return "needs cluster.master_name";
                         return std::nullopt;
                     }},
            {"aggregation.ipv4_prefix",
             [](const Config& c) -> std::
                                     optional<std::string> {
                                         if (c.aggregation.ipv4_prefix < c.tally.ipv4_prefix)
                                             return std::nullopt;
                                         return "must be shorter than tally.ipv4_prefix";
                                     },
             {"tally.ipv4_prefix"}},
            {"aggregation.ipv6_prefix",
             [](const Config& c) -> std::
                                     optional<std::string> {
                                         if (c.aggregation.ipv6_prefix < c.tally.ipv6_prefix)
                                             return std::nullopt;
                                         return "must be shorter than tally.ipv6_prefix";
                                     },
             {"tally.ipv6_prefix"}},
        });
    return schema;
}

}  // namespace

std::optional<std::pair<IpAddress, std::uint16_t>> parse_host_port(std::string_view text,
                                                                   std::uint16_t default_port) {
    std::uint16_t port = default_port;
    std::string_view host = text;
    auto parse_port = [&port](std::string_view digits) {
        unsigned p = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p);
        if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || p == 0 ||
            p > 65535)
            return false;
        port = static_cast<std::uint16_t>(p);
        return true;
    };
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = text.substr(1, close - 1);
        const auto rest = text.substr(close + 1);
        if (!rest.empty() && (rest.front() != ':' || !parse_port(rest.substr(1))))
            return std::nullopt;
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        const auto colon = text.find(':');
        host = text.substr(0, colon);
        if (!parse_port(text.substr(colon + 1))) return std::nullopt;
    }
    const auto addr = IpAddress::parse(host);
    if (!addr) return std::nullopt;
    return std::make_pair(*addr, port);
}

std::vector<std::string> restart_only_changes(const MilterConfig& running,
                                              const MilterConfig& file) {
    return schema().restart_only_changes(running, file);
}

MilterConfig reloaded(const MilterConfig& running, const MilterConfig& file) {
    return schema().reloaded(running, file);
}

std::vector<SettingInfo> milter_settings() {
    return schema().describe();
}

std::vector<std::string> MilterConfig::SharedRelays::domains() const {
    std::vector<std::string> out;
    for (const auto& d : shipped_relay_domains())
        if (std::find(remove_domains.begin(), remove_domains.end(), d.domain) ==
            remove_domains.end())
            out.emplace_back(d.domain);
    for (const auto& d : add_domains)
        if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
    return out;
}

MilterConfig load_milter_config(const std::string& path) {
    return schema().read(parse_toml_file(path), path);
}

MilterConfig parse_milter_config(std::string_view text, const std::string& name) {
    return schema().read(parse_toml_text(text, name), name);
}

}  // namespace smtpwall::conf
