// Control protocol codec: request lines in, framed replies out (served in
// milter/control_server.cpp).
#include "core/control_protocol.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>

#include "common/net.hpp"
#include "common/tag.hpp"
#include "common/text.hpp"
#include "common/utc_time.hpp"
#include "conf/config_reader.hpp"

namespace smtpwall::control {

namespace {

struct VerbSpec {
    std::string_view name;
    bool needs_target;  // a positional ADDR/CIDR
    std::string_view usage;
};

constexpr std::array kVerbs = {
    VerbSpec{"ping", false, "ping                                   is the milter alive"},
    VerbSpec{
        "status", false,
        "status                                 uptime, sessions, bans, helper and DNS health"},
    VerbSpec{"tallies", false,
             "tallies [--top N] [--tag TAG]          worst offenders by recent rejections"},
    VerbSpec{"bans", false,
             "bans                                   active bans with the kernel's counters"},
    VerbSpec{
        "top", false,
        "top [N] [--exact]                      the kernel's top N sources of dropped packets"},
    VerbSpec{"top", false,
             "top [N] --since D | --from T [--until T]  the same over a period (history)"},
    VerbSpec{"report", false,
             "report [--week | --since D | --from T [--until T]]  the weekly summary"},
    VerbSpec{"show", true,
             "show ADDR                              everything known about an address"},
    VerbSpec{"check", false,
             "check --ip A [--helo H] [--from S]     classify a client with live DNS"},
    VerbSpec{"metrics", false, "metrics                                Prometheus text exposition"},
    VerbSpec{"ban", true, "ban ADDR|CIDR [--for D] [--reason TAG] ban by hand (admin)"},
    VerbSpec{"unban", true, "unban ADDR|CIDR                        lift a ban (admin)"},
    VerbSpec{"allow", true,
             "allow ADDR|CIDR                        never reject or ban it again (admin)"},
    VerbSpec{"reload", false,
             "reload                                 re-read the configuration (admin)"},
    VerbSpec{"help", false, "help                                   this text"},
};

const VerbSpec* find_verb(std::string_view name) {
    const auto it = std::find_if(kVerbs.begin(), kVerbs.end(),
                                 [&](const VerbSpec& v) { return v.name == name; });
    return it == kVerbs.end() ? nullptr : &*it;
}

std::optional<std::size_t> count(std::string_view v) {
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc{} || end != v.data() + v.size() || n == 0 || n > 100000)
        return std::nullopt;
    return n;
}

}  // namespace

bool mutating(std::string_view verb) {
    return verb == "ban" || verb == "unban" || verb == "allow" || verb == "reload";
}

std::variant<Request, RequestError> parse_request(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // socat/telnet users
    if (line.size() > kMaxRequestLine) return RequestError{"request line too long"};
    for (unsigned char c : line)
        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return RequestError{"request contains non-printable bytes"};
    const auto words = split_words(line);
    if (words.empty()) return RequestError{"empty request (try \"help\")"};
    const VerbSpec* spec = find_verb(words[0]);
    if (spec == nullptr)
        return RequestError{fmt::format("unknown command \"{}\" (try \"help\")", words[0])};
    Request req;
    req.verb = std::string(spec->name);
    for (std::size_t i = 1; i < words.size(); ++i) {
        const auto w = words[i];
        auto value = [&]() -> std::string_view {
            return i + 1 < words.size() ? words[++i] : std::string_view{};
        };
        const bool positional = !w.starts_with("--");
        if (w == "--json") {
            req.json = true;
        } else if (positional && spec->needs_target && req.target.empty()) {
            req.target = std::string(w);
        } else if (positional && req.verb == "top" && req.top == 20) {
            const auto n = count(w);
            if (!n) return RequestError{"top takes a number from 1 to 100000"};
            req.top = *n;
        } else if (w == "--top" && req.verb == "tallies") {
            const auto n = count(value());
            if (!n) return RequestError{"--top takes a number from 1 to 100000"};
            req.top = *n;
        } else if (w == "--tag" && req.verb == "tallies") {
            const auto v = value();
            if (!valid_tag(v)) return RequestError{"--tag takes a tag name such as spamtrap"};
            req.tag = std::string(v);
        } else if (w == "--exact" && req.verb == "top") {
            req.exact = true;
        } else if ((w == "--since" || w == "--week") &&
                   (req.verb == "top" || req.verb == "report")) {
            if (req.since || req.period_from)
                return RequestError{"give one period: --week, --since D or --from T"};
            if (w == "--week") {
                req.since = std::chrono::seconds(7 * 86400);
                if (req.verb != "report") return RequestError{"--week is for report"};
                continue;
            }
            const auto d = conf::parse_duration(value());
            if (!d || d->count() == 0)
                return RequestError{"--since takes a duration such as 1h, 7d or 4w"};
            req.since = *d;
        } else if ((w == "--from" || w == "--until") &&
                   (req.verb == "top" || req.verb == "report")) {
            const auto t = parse_time(value());
            if (!t)
                return RequestError{fmt::format(
                    "{} takes a UTC time: 2026-12-01, 2026-12-01T06:00 or 2026-12-01T06:00:00Z",
                    w)};
            (w == "--from" ? req.period_from : req.period_until) = *t;
        } else if (w == "--for" && req.verb == "ban") {
            const auto v = value();
            const auto d = conf::parse_duration(v);
            if (!d || d->count() == 0)
                return RequestError{"--for takes a duration such as 90m, 12h or 7d"};
            req.duration = *d;
        } else if (w == "--reason" && req.verb == "ban") {
            const auto v = value();
            if (!valid_tag(v))
                return RequestError{"--reason takes a tag such as manual or abuse-report"};
            req.reason = std::string(v);
        } else if ((w == "--ip" || w == "--helo" || w == "--from") && req.verb == "check") {
            const auto v = value();
            if (v.empty()) return RequestError{fmt::format("{} needs a value", w)};
            (w == "--ip" ? req.ip : w == "--helo" ? req.helo : req.from) = std::string(v);
        } else {
            return RequestError{fmt::format("unexpected argument \"{}\" for {}", w, req.verb)};
        }
    }
    if (spec->needs_target && !Cidr::parse(req.target, true))
        return RequestError{fmt::format(
            "{} needs an address or network (a.b.c.d, a.b.c.d/len, x::y/len)", req.verb)};
    if (req.verb == "check" && !IpAddress::parse(req.ip))
        return RequestError{"check needs --ip ADDRESS"};
    if (req.since && req.period_from)
        return RequestError{"give one period: --week, --since D or --from T"};
    if (req.period_until && !req.period_from) return RequestError{"--until needs --from"};
    if (req.period_from && req.period_until && *req.period_until <= *req.period_from)
        return RequestError{"--until must be later than --from"};
    if (req.verb == "report" && !req.over_period()) req.since = std::chrono::seconds(7 * 86400);
    return req;
}

std::string format_request(const Request& r) {
    std::string out = r.verb;
    if (!r.target.empty()) out += " " + r.target;
    if (r.verb == "tallies") {
        out += fmt::format(" --top {}", r.top);
        if (!r.tag.empty()) out += " --tag " + r.tag;
    }
    if (r.verb == "top") {
        out += fmt::format(" {}", r.top);
        if (r.exact) out += " --exact";
    }
    if (r.since) out += fmt::format(" --since {}s", r.since->count());
    if (r.period_from) out += " --from " + format_time(*r.period_from);
    if (r.period_until) out += " --until " + format_time(*r.period_until);
    if (r.verb == "ban") {
        if (r.duration) out += fmt::format(" --for {}s", r.duration->count());
        if (!r.reason.empty()) out += " --reason " + r.reason;
    }
    if (r.verb == "check") {
        out += " --ip " + r.ip;
        if (!r.helo.empty()) out += " --helo " + r.helo;
        if (!r.from.empty()) out += " --from " + r.from;
    }
    if (r.json) out += " --json";
    return out;
}

std::string frame_reply(bool ok, std::string_view message, std::string_view body) {
    std::string out = ok ? "OK" : "ERR";
    if (!message.empty()) {
        out += ' ';
        for (char c : printable_text(message)) out += (c == '\n' || c == '\t') ? ' ' : c;
    }
    out += '\n';
    std::size_t pos = 0;
    while (pos < body.size()) {
        const auto nl = body.find('\n', pos);
        const auto line = body.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
        if (!line.empty() && line.front() == '.') out += '.';
        out += printable_text(line);
        out += '\n';
        if (nl == std::string_view::npos) break;
        pos = nl + 1;
    }
    out += ".\n";
    return out;
}

void ReplyReader::feed(std::string_view line) {
    if (done_) return;
    if (!got_status_) {
        got_status_ = true;
        if (line == "OK" || line.starts_with("OK ")) {
            ok_ = true;
            message_ = line.size() > 3 ? std::string(line.substr(3)) : std::string{};
        } else if (line.starts_with("ERR")) {
            message_ = line.size() > 4 ? std::string(line.substr(4)) : std::string{};
        } else {
            malformed_ = true;
            done_ = true;
        }
        return;
    }
    if (line == ".") {
        done_ = true;
        return;
    }
    if (!line.empty() && line.front() == '.') line.remove_prefix(1);
    body_ += line;
    body_ += '\n';
}

std::string help_text() {
    std::string out;
    for (const auto& v : kVerbs) out += fmt::format("{}\n", v.usage);
    out += "Every command takes --json. (admin): only root and the configured admins.\n";
    return out;
}

}  // namespace smtpwall::control
