#include "conf/milter_config.hpp"

#include <fmt/format.h>

#include "common/tag.hpp"
#include "conf/config_reader.hpp"

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
        m->reject_unknown_keys();
    }
    if (auto c = top.table("control")) {
        cfg.control.socket = socket_path(*c, "socket", cfg.control.socket);
        cfg.control.socket_mode = file_mode(*c, "socket_mode", cfg.control.socket_mode);
        cfg.control.socket_group = c->string("socket_group", "");
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
        t->reject_unknown_keys();
    }
    if (auto e = top.table("escalation")) {
        cfg.escalation.ban_on_first = e->strings("ban_on_first", cfg.escalation.ban_on_first);
        for (const auto& tag : cfg.escalation.ban_on_first)
            if (!valid_tag(tag))
                e->fail("ban_on_first", fmt::format("\"{}\" is not a valid tag", tag));
        cfg.escalation.max_rejections = static_cast<std::uint32_t>(
            e->integer("max_rejections", cfg.escalation.max_rejections, 0, 1'000'000));
        cfg.escalation.window = e->duration("window", cfg.escalation.window);
        if (cfg.escalation.window.count() < 1) e->fail("window", "must be at least 1s");
        cfg.escalation.ban_duration = e->duration("ban_duration", cfg.escalation.ban_duration);
        if (cfg.escalation.ban_duration.count() < 1) e->fail("ban_duration", "must be at least 1s");
        e->reject_unknown_keys();
    }
    top.reject_unknown_keys();
    return cfg;
}

}  // namespace

MilterConfig load_milter_config(const std::string& path) {
    return from_table(parse_toml_file(path), path);
}

MilterConfig parse_milter_config(std::string_view text, const std::string& name) {
    return from_table(parse_toml_text(text, name), name);
}

}  // namespace smtpwall::conf
