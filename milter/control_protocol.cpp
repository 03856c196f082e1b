#include "milter/control_protocol.hpp"

#include <fmt/format.h>

#include <charconv>

#include "common/net.hpp"
#include "common/tag.hpp"

namespace smtpwall::control {

namespace {

std::vector<std::string_view> words_of(std::string_view line) {
    std::vector<std::string_view> words;
    std::size_t pos = 0;
    while (pos < line.size()) {
        while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
        const auto end = line.find_first_of(" \t", pos);
        if (pos < line.size()) words.push_back(line.substr(pos, end - pos));
        pos = end;
    }
    return words;
}

bool known_verb(std::string_view verb) {
    return verb == "ping" || verb == "tallies" || verb == "bans" || verb == "check" ||
           verb == "help";
}

}  // namespace

std::variant<Request, RequestError> parse_request(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // socat/telnet users
    if (line.size() > kMaxRequestLine) return RequestError{"request line too long"};
    for (unsigned char c : line)
        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return RequestError{"request contains non-printable bytes"};
    const auto words = words_of(line);
    if (words.empty()) return RequestError{"empty request (try \"help\")"};
    Request req;
    req.verb = std::string(words[0]);
    if (!known_verb(req.verb))
        return RequestError{fmt::format("unknown command \"{}\" (try \"help\")", req.verb)};
    for (std::size_t i = 1; i < words.size(); ++i) {
        const auto w = words[i];
        auto value = [&]() -> std::string_view {
            return i + 1 < words.size() ? words[++i] : std::string_view{};
        };
        if (w == "--json") {
            req.json = true;
        } else if (w == "--top" && req.verb == "tallies") {
            const auto v = value();
            std::size_t n = 0;
            const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (v.empty() || ec != std::errc{} || end != v.data() + v.size() || n == 0 ||
                n > 100000)
                return RequestError{"--top takes a number from 1 to 100000"};
            req.top = n;
        } else if (w == "--tag" && req.verb == "tallies") {
            const auto v = value();
            if (!valid_tag(v)) return RequestError{"--tag takes a tag name such as spamtrap"};
            req.tag = std::string(v);
        } else if ((w == "--ip" || w == "--helo" || w == "--from") && req.verb == "check") {
            const auto v = value();
            if (v.empty()) return RequestError{fmt::format("{} needs a value", w)};
            (w == "--ip" ? req.ip : w == "--helo" ? req.helo : req.from) = std::string(v);
        } else {
            return RequestError{fmt::format("unexpected argument \"{}\" for {}", w, req.verb)};
        }
    }
    if (req.verb == "check" && !IpAddress::parse(req.ip))
        return RequestError{"check needs --ip ADDRESS"};
    return req;
}

std::string format_request(const Request& r) {
    std::string out = r.verb;
    if (r.verb == "tallies") {
        out += fmt::format(" --top {}", r.top);
        if (!r.tag.empty()) out += " --tag " + r.tag;
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
        for (char c : message) out += (c == '\n' || c == '\r') ? ' ' : c;
    }
    out += '\n';
    std::size_t pos = 0;
    while (pos < body.size()) {
        const auto nl = body.find('\n', pos);
        const auto line = body.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
        if (!line.empty() && line.front() == '.') out += '.';
        out += line;
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
    return "ping                                  is the milter alive\n"
           "tallies [--top N] [--tag TAG] [--json] worst offenders by recent rejections\n"
           "bans [--json]                         active bans with the kernel's counters\n"
           "check --ip A [--helo H] [--from S] [--json]  classify a client with live DNS\n"
           "help                                  this text\n";
}

}  // namespace smtpwall::control
