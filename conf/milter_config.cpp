#include "conf/milter_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "common/tag.hpp"
#include "conf/config_reader.hpp"
#include "dnsbl/zones.hpp"

namespace smtpwall::conf {

namespace {

std::string socket_path(TableReader& t, std::string_view key, std::string fallback) {
    auto path = t.string(key, std::move(fallback));
    if (path.starts_with("unix:")) path.erase(0, 5);
    if (path.empty() || path.front() != '/')
        t.fail(key, "must be an absolute path to a unix socket");
    if (path.size() >= 108) t.fail(key, "path too long for a unix socket");
    return path;
}

unsigned file_mode(TableReader& t, std::string_view key, unsigned fallback) {
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

void check_patterns(TableReader& t, std::string_view key, const std::vector<std::string>& list) {
    for (const auto& p : list) {
        const auto at = p.find('@');
        const bool ok = at != std::string::npos && p.find('@', at + 1) == std::string::npos &&
                        p.size() > 1 && p.find_first_of(" \t<>") == std::string::npos;
        if (!ok)
            t.fail(key,
                   fmt::format("\"{}\" is not \"local@domain\", \"local@\" or \"@domain\"", p));
    }
}

MilterConfig from_table(const toml::table& root, const std::string& name) {
    MilterConfig cfg;
    cfg.source = name;
    TableReader top(root, name, "");

    if (auto m = top.table("milter")) {
        cfg.milter.socket = socket_path(*m, "socket", cfg.milter.socket);
        cfg.milter.socket_mode = file_mode(*m, "socket_mode", cfg.milter.socket_mode);
        cfg.milter.socket_group = m->string("socket_group", "");
        cfg.milter.user = m->string("user", cfg.milter.user);
        if (cfg.milter.user.empty()) m->fail("user", "must name a user");
        cfg.milter.timeout = m->duration("timeout", cfg.milter.timeout);
        cfg.milter.observe = m->boolean("observe", cfg.milter.observe);
        m->reject_unknown_keys();
    }
    if (auto c = top.table("control")) {
        cfg.control.socket = socket_path(*c, "socket", cfg.control.socket);
        cfg.control.socket_mode = file_mode(*c, "socket_mode", cfg.control.socket_mode);
        cfg.control.socket_group = c->string("socket_group", "");
        cfg.control.admin_users = c->strings("admin_users", {});
        cfg.control.admin_group = c->string("admin_group", "");
        cfg.control.metrics_listen = c->string("metrics_listen", "");
        if (!cfg.control.metrics_listen.empty()) {
            const auto where = parse_dns_server(cfg.control.metrics_listen);
            if (!where || !where->first.is_loopback() ||
                cfg.control.metrics_listen.find(':') == std::string::npos)
                c->fail("metrics_listen",
                        "must be a loopback address with a port, e.g. \"127.0.0.1:9253\"");
        }
        c->reject_unknown_keys();
    }
    if (auto h = top.table("helper")) {
        cfg.helper.socket = socket_path(*h, "socket", cfg.helper.socket);
        h->reject_unknown_keys();
    }
    if (auto id = top.table("identity")) {
        cfg.identity.hostnames = id->strings("hostnames", {});
        for (auto& h : cfg.identity.hostnames)
            for (auto& ch : h) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        for (const auto& text : id->strings("addresses", {})) {
            const auto addr = IpAddress::parse(text);
            if (!addr) id->fail("addresses", fmt::format("\"{}\" is not an IP address", text));
            cfg.identity.addresses.push_back(*addr);
        }
        id->reject_unknown_keys();
    }
    if (auto c = top.table("checks")) {
        cfg.checks.spamtraps = c->strings("spamtraps", {});
        check_patterns(*c, "spamtraps", cfg.checks.spamtraps);
        cfg.checks.exempt_recipients =
            c->strings("exempt_recipients", cfg.checks.exempt_recipients);
        check_patterns(*c, "exempt_recipients", cfg.checks.exempt_recipients);
        cfg.checks.allowlist = c->networks("allowlist");
        c->reject_unknown_keys();
    }
    if (auto t = top.table("tally")) {
        cfg.tally.ipv4_prefix = static_cast<int>(t->integer("ipv4_prefix", 32, 16, 32));
        cfg.tally.ipv6_prefix = static_cast<int>(t->integer("ipv6_prefix", 64, 32, 128));
        cfg.tally.window = t->duration("window", cfg.tally.window);
        if (cfg.tally.window.count() < 16) t->fail("window", "must be at least 16s");
        cfg.tally.max_entries = static_cast<std::size_t>(t->integer(
            "max_entries", static_cast<std::int64_t>(cfg.tally.max_entries), 100, 100'000'000));
        t->reject_unknown_keys();
    }
    std::vector<TableReader::Located> rule_lines = {{"ban at first spamtrap", name},
                                                    {"ban after 5 rejections in 1h", name}};
    if (auto e = top.table("escalation")) {
        rule_lines =
            e->located_strings("rules", {"ban at first spamtrap", "ban after 5 rejections in 1h"});
        cfg.escalation.ban_duration = e->duration("ban_duration", cfg.escalation.ban_duration);
        if (cfg.escalation.ban_duration.count() < 1) e->fail("ban_duration", "must be at least 1s");
        cfg.escalation.repeat_growth =
            e->real("repeat_growth", cfg.escalation.repeat_growth, 1.0, 100.0);
        cfg.escalation.max_ban_duration =
            e->duration("max_ban_duration", cfg.escalation.max_ban_duration);
        if (cfg.escalation.max_ban_duration < cfg.escalation.ban_duration)
            e->fail("max_ban_duration", "must not be shorter than ban_duration");
        cfg.escalation.good_mail_ratio =
            e->real("good_mail_ratio", cfg.escalation.good_mail_ratio, 0.0, 1e6);
        e->reject_unknown_keys();
    }
    for (const auto& line : rule_lines) {
        auto parsed = parse_rule(line.value);
        if (auto* err = std::get_if<std::string>(&parsed))
            throw ConfigError(
                fmt::format("{}: escalation.rules: \"{}\": {}", line.where, line.value, *err));
        auto& rule = std::get<EscalationRule>(parsed);
        if (rule.within > cfg.tally.window)
            throw ConfigError(fmt::format(
                "{}: escalation.rules: \"{}\" looks back further than tally.window ({}s)",
                line.where, line.value, cfg.tally.window.count()));
        cfg.escalation.rules.push_back(std::move(rule));
    }
    if (auto a = top.table("aggregation")) {
        cfg.aggregation.enabled = a->boolean("enabled", cfg.aggregation.enabled);
        cfg.aggregation.ipv4_prefix =
            static_cast<int>(a->integer("ipv4_prefix", cfg.aggregation.ipv4_prefix, 16, 31));
        cfg.aggregation.ipv6_prefix =
            static_cast<int>(a->integer("ipv6_prefix", cfg.aggregation.ipv6_prefix, 32, 127));
        if (cfg.aggregation.ipv4_prefix >= cfg.tally.ipv4_prefix)
            a->fail("ipv4_prefix", "must be shorter than tally.ipv4_prefix");
        if (cfg.aggregation.ipv6_prefix >= cfg.tally.ipv6_prefix)
            a->fail("ipv6_prefix", "must be shorter than tally.ipv6_prefix");
        cfg.aggregation.min_banned = static_cast<std::uint32_t>(
            a->integer("min_banned", cfg.aggregation.min_banned, 2, 65536));
        a->reject_unknown_keys();
    }
    if (auto d = top.table("dns")) {
        cfg.dns.enabled = d->boolean("enabled", cfg.dns.enabled);
        cfg.dns.servers = d->strings("servers", {});
        for (const auto& server : cfg.dns.servers)
            if (!parse_dns_server(server))
                d->fail("servers",
                        fmt::format("\"{}\" is not an address, address:port or [v6]:port", server));
        cfg.dns.timeout = d->duration_ms("timeout", cfg.dns.timeout);
        if (cfg.dns.timeout.count() < 10) d->fail("timeout", "must be at least 10ms");
        cfg.dns.attempts = static_cast<int>(d->integer("attempts", cfg.dns.attempts, 1, 5));
        cfg.dns.deadline = d->duration_ms("deadline", cfg.dns.deadline);
        if (cfg.dns.deadline.count() < 100) d->fail("deadline", "must be at least 100ms");
        const auto on_failure = d->string("on_failure", "tempfail");
        if (on_failure != "tempfail" && on_failure != "ignore")
            d->fail("on_failure", "is \"tempfail\" or \"ignore\"");
        cfg.dns.tempfail_on_failure = on_failure == "tempfail";
        cfg.dns.min_ttl =
            static_cast<std::uint32_t>(d->integer("min_ttl", cfg.dns.min_ttl, 0, 86400));
        cfg.dns.max_ttl =
            static_cast<std::uint32_t>(d->integer("max_ttl", cfg.dns.max_ttl, 1, 7 * 86400));
        cfg.dns.max_negative_ttl = static_cast<std::uint32_t>(
            d->integer("max_negative_ttl", cfg.dns.max_negative_ttl, 0, 86400));
        cfg.dns.cache_entries = static_cast<std::size_t>(d->integer(
            "cache_entries", static_cast<std::int64_t>(cfg.dns.cache_entries), 100, 10'000'000));
        cfg.dns.zone_suspension = d->duration("zone_suspension", cfg.dns.zone_suspension);
        cfg.dns.probe_interval = d->duration("probe_interval", cfg.dns.probe_interval);
        d->reject_unknown_keys();
    }
    if (auto sc = top.table("scoring")) {
        cfg.scoring.threshold =
            static_cast<int>(sc->integer("threshold", cfg.scoring.threshold, 1, 1000));
        if (auto w = sc->table("weights")) {
            for (const auto& [key, node] : *root["scoring"]["weights"].as_table()) {
                const std::string tag(key.str());
                if (!valid_tag(tag)) w->fail(tag, "is not a valid tag name");
                cfg.scoring.weights[tag] = static_cast<int>(w->integer(tag, 0, -1000, 1000));
            }
            w->reject_unknown_keys();
        }
        sc->reject_unknown_keys();
    }
    for (auto& z : top.tables("zone")) {
        MilterConfig::Zone zone;
        zone.tag = z.string("tag", "");
        if (!valid_tag(zone.tag)) z.fail("tag", "every [[zone]] needs a tag such as \"cbl\"");
        zone.zone = z.string("zone", "");
        if (zone.zone.empty() || zone.zone.find_first_of(" /\\") != std::string::npos)
            z.fail("zone", "every [[zone]] needs a zone such as \"cbl.abuseat.org\"");
        zone.codes = z.string("codes", "");
        if (!dns::CodeFilter::parse(zone.codes))
            z.fail("codes", fmt::format("\"{}\" is not a code filter such as \"127.0.0.[2..11]\"",
                                        zone.codes));
        zone.weight = static_cast<int>(z.integer("weight", zone.weight, -1000, 1000));
        zone.ipv4 = z.boolean("ipv4", zone.ipv4);
        zone.ipv6 = z.boolean("ipv6", zone.ipv6);
        zone.txt = z.boolean("txt", zone.txt);
        z.reject_unknown_keys();
        for (const auto& other : cfg.zones)
            if (other.tag == zone.tag)
                z.fail("tag", fmt::format("\"{}\" is used by another zone", zone.tag));
        cfg.zones.push_back(std::move(zone));
    }
    if (auto dl = top.table("dialup")) {
        cfg.dialup.patterns = dl->strings("patterns", {});
        dl->reject_unknown_keys();
    }
    if (auto sp = top.table("spf")) {
        cfg.spf.enabled = sp->boolean("enabled", cfg.spf.enabled);
        cfg.spf.workers = static_cast<int>(sp->integer("workers", cfg.spf.workers, 1, 512));
        sp->reject_unknown_keys();
    }
    if (auto st = top.table("state")) {
        cfg.state.file = st->string("file", cfg.state.file);
        if (!cfg.state.file.empty() && cfg.state.file.front() != '/')
            st->fail("file", "must be an absolute path (or \"\" to keep no state)");
        cfg.state.flush_interval = st->duration("flush_interval", cfg.state.flush_interval);
        if (cfg.state.flush_interval.count() < 1 || cfg.state.flush_interval.count() > 60)
            st->fail("flush_interval", "must be between 1s and 60s");
        st->reject_unknown_keys();
    }
    top.reject_unknown_keys();
    return cfg;
}

}  // namespace

std::optional<std::pair<IpAddress, std::uint16_t>> parse_dns_server(std::string_view text) {
    std::uint16_t port = 53;
    std::string_view host = text;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = text.substr(1, close - 1);
        const auto rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return std::nullopt;
            unsigned p = 0;
            const auto digits = rest.substr(1);
            const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p);
            if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() ||
                p == 0 || p > 65535)
                return std::nullopt;
            port = static_cast<std::uint16_t>(p);
        }
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        const auto colon = text.find(':');
        host = text.substr(0, colon);
        unsigned p = 0;
        const auto digits = text.substr(colon + 1);
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p);
        if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || p == 0 ||
            p > 65535)
            return std::nullopt;
        port = static_cast<std::uint16_t>(p);
    }
    const auto addr = IpAddress::parse(host);
    if (!addr) return std::nullopt;
    return std::make_pair(*addr, port);
}

std::vector<std::string> restart_only_changes(const MilterConfig& a, const MilterConfig& b) {
    std::vector<std::string> out;
    auto check = [&](bool same, const char* name) {
        if (!same) out.emplace_back(name);
    };
    check(a.milter.socket == b.milter.socket && a.milter.socket_mode == b.milter.socket_mode &&
              a.milter.socket_group == b.milter.socket_group,
          "milter.socket");
    check(a.milter.user == b.milter.user, "milter.user");
    check(a.milter.timeout == b.milter.timeout, "milter.timeout");
    check(a.milter.observe == b.milter.observe, "milter.observe");
    check(a.control.socket == b.control.socket && a.control.socket_mode == b.control.socket_mode &&
              a.control.socket_group == b.control.socket_group &&
              a.control.metrics_listen == b.control.metrics_listen,
          "control");
    check(a.control.admin_users == b.control.admin_users &&
              a.control.admin_group == b.control.admin_group,
          "control.admins");
    check(a.helper.socket == b.helper.socket, "helper.socket");
    check(a.tally.ipv4_prefix == b.tally.ipv4_prefix &&
              a.tally.ipv6_prefix == b.tally.ipv6_prefix && a.tally.window == b.tally.window &&
              a.tally.max_entries == b.tally.max_entries,
          "tally");
    check(a.state.file == b.state.file && a.state.flush_interval == b.state.flush_interval,
          "state");
    check(a.dns.enabled == b.dns.enabled && a.dns.servers == b.dns.servers &&
              a.dns.timeout == b.dns.timeout && a.dns.attempts == b.dns.attempts &&
              a.dns.deadline == b.dns.deadline && a.dns.min_ttl == b.dns.min_ttl &&
              a.dns.max_ttl == b.dns.max_ttl && a.dns.max_negative_ttl == b.dns.max_negative_ttl &&
              a.dns.cache_entries == b.dns.cache_entries &&
              a.dns.zone_suspension == b.dns.zone_suspension &&
              a.dns.probe_interval == b.dns.probe_interval,
          "dns");
    check(a.spf.enabled == b.spf.enabled && a.spf.workers == b.spf.workers, "spf");
    return out;
}

MilterConfig load_milter_config(const std::string& path) {
    return from_table(parse_toml_file(path), path);
}

MilterConfig parse_milter_config(std::string_view text, const std::string& name) {
    return from_table(parse_toml_text(text, name), name);
}

}  // namespace smtpwall::conf
