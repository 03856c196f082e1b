// The control protocol property (see control_protocol_check.hpp). The verbs and which
// of them need an admin are read from help_text(), so the check holds the parser, the
// formatter and the documentation to one another.
#include "test/fuzz/control_protocol_check.hpp"

#include <algorithm>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/log.hpp"
#include "common/net.hpp"
#include "common/tag.hpp"
#include "common/text.hpp"
#include "core/control_protocol.hpp"
#include "test/fuzz/check_failure.hpp"
#include "test/fuzz/check_text.hpp"

namespace smtpwall::fuzz {

namespace {

using namespace smtpwall::control;

void require(bool ok, std::string_view what, std::string_view input, std::string_view detail = {}) {
    if (!ok) check_failed("control protocol", what, kv_value(input), detail);
}

struct VerbDoc {
    std::string verb;
    bool admin = false;
};

// "VERB args...   what it does[ (admin)]" per line, then one closing line.
const std::vector<VerbDoc>& documented_verbs() {
    static const std::vector<VerbDoc> verbs = [] {
        std::vector<VerbDoc> out;
        const std::string help = help_text();
        for (const auto line : split(help, '\n')) {
            if (line.starts_with("Every command")) break;
            const auto words = split_words(line);
            if (!words.empty()) out.push_back({std::string(words[0]), line.ends_with("(admin)")});
        }
        return out;
    }();
    return verbs;
}

const VerbDoc* documented(std::string_view verb) {
    for (const auto& v : documented_verbs())
        if (v.verb == verb) return &v;
    return nullptr;
}

bool printable(std::string_view text) {
    for (unsigned char c : text)
        if (c < 0x20 || c >= 0x7f) return false;
    return true;
}

bool same(const Request& a, const Request& b) {
    return a.verb == b.verb && a.json == b.json && a.top == b.top && a.tag == b.tag &&
           a.exact == b.exact && a.target == b.target && a.duration == b.duration &&
           a.reason == b.reason && a.ip == b.ip && a.helo == b.helo && a.from == b.from &&
           a.since == b.since && a.period_from == b.period_from && a.period_until == b.period_until;
}

// Two parse outcomes agree: both the same request, or both refused for the same reason.
bool same(const std::variant<Request, RequestError>& a,
          const std::variant<Request, RequestError>& b) {
    if (a.index() != b.index()) return false;
    if (const auto* r = std::get_if<Request>(&a)) return same(*r, std::get<Request>(b));
    return std::get<RequestError>(a).message == std::get<RequestError>(b).message;
}

// What parse_request promises of a request it accepts.
void check_bounds(const Request& r, std::string_view line) {
    const VerbDoc* doc = documented(r.verb);
    require(doc != nullptr, "parsed an undocumented verb", line, r.verb);
    require(mutating(r.verb) == doc->admin, "mutating() disagrees with help_text's (admin)", line,
            r.verb);
    require(r.top >= 1 && r.top <= 100000, "top out of 1..100000", line, std::to_string(r.top));
    require(r.tag.empty() || valid_tag(r.tag), "--tag is not a tag", line, r.tag);
    require(r.reason.empty() || valid_tag(r.reason), "--reason is not a tag", line, r.reason);
    require(!r.duration || r.duration->count() > 0, "--for is not positive", line);
    const bool periodic = r.verb == "top" || r.verb == "report";
    require(periodic || (!r.since && !r.period_from && !r.period_until),
            "a period on a verb without one", line);
    require(r.verb != "report" || r.over_period(), "a report without a period", line);
    require(!(r.since && r.period_from), "two periods", line);
    require(!r.since || r.since->count() > 0, "--since is not positive", line);
    require(!r.period_until || (r.period_from && *r.period_until > *r.period_from),
            "--until without --from, or not after it", line);
    require(r.target.empty() || Cidr::parse(r.target, true).has_value(),
            "target is not an address or network", line, r.target);
    require(r.verb != "check" || IpAddress::parse(r.ip).has_value(), "check without an address",
            line, r.ip);
    for (const auto* word : {&r.target, &r.tag, &r.reason, &r.ip, &r.helo, &r.from})
        require(word->find_first_of(" \t") == std::string::npos && printable(*word),
                "a value that is not one printable word", line, *word);
}

void check_round_trip(const Request& r, std::string_view line) {
    const std::string text = format_request(r);
    require(text.size() <= kMaxRequestLine && printable(text),
            "formatted request is not one sendable line", line, text);
    const auto again = parse_request(text);
    require(std::holds_alternative<Request>(again), "formatted request does not parse", line, text);
    require(same(std::get<Request>(again), r), "request changed in a round trip", line, text);
    require(format_request(std::get<Request>(again)) == text, "formatting is not canonical", line,
            text);
}

void check_request(std::string_view line) {
    const auto parsed = parse_request(line);
    if (const auto* error = std::get_if<RequestError>(&parsed)) {
        // It becomes the message of an ERR reply: one printable line.
        require(!error->message.empty() && printable(error->message),
                "refusal is not one printable line", line, error->message);
    } else {
        check_bounds(std::get<Request>(parsed), line);
        check_round_trip(std::get<Request>(parsed), line);
    }

    // socat and telnet users end lines with CRLF: one CR changes nothing.
    std::string_view bare = line;
    if (!bare.empty() && bare.back() == '\r') bare.remove_suffix(1);
    if (bare.empty() || bare.back() != '\r') {
        require(same(parse_request(std::string(bare) + "\r"), parsed),
                "a trailing CR changes the outcome", line);
        require(same(parse_request(bare), parsed), "a trailing CR changes the outcome", line);
    }
    // Within the length limit, only the words count, not the spaces and tabs between them.
    if (bare.size() <= kMaxRequestLine && bare.find('\r') == std::string_view::npos)
        require(same(parse_request(respaced(bare)), parsed), "spacing changes the outcome", line,
                respaced(bare));
}

// frame_reply's output, read back line by line as smtpwallctl does, ends exactly at its
// last line and gives back status, message and body.
void check_reply(bool ok, std::string_view message, std::string_view body, std::string_view input) {
    const std::string framed = frame_reply(ok, message, body);
    require(framed.ends_with("\n.\n"), "reply does not end with \".\"", input, framed);
    std::vector<std::string_view> lines = split(framed, '\n');
    require(!lines.empty() && lines.back().empty(), "reply does not end with a newline", input,
            framed);
    lines.pop_back();
    ReplyReader reader;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        require(!reader.done(), "reply reader finished early", input, framed);
        reader.feed(lines[i]);
    }
    require(reader.done() && !reader.malformed(), "reply reader did not finish cleanly", input,
            framed);
    require(reader.ok() == ok, "status changed", input, framed);
    // Bytes outside printable ASCII arrive as \xNN (never raw on a terminal); in the
    // status line a line break or tab is a space.
    const bool printable = std::all_of(framed.begin(), framed.end(), [](unsigned char c) {
        return (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t';
    });
    require(printable, "raw control byte in a reply", input, printable ? "" : kv_value(framed));
    std::string expected_message = printable_text(message);
    for (auto& c : expected_message)
        if (c == '\n' || c == '\t') c = ' ';
    require(reader.status_message() == expected_message, "status message changed", input,
            kv_value(reader.status_message()));
    std::string expected_body = printable_text(body);
    if (!expected_body.empty() && expected_body.back() != '\n') expected_body += '\n';
    require(reader.body() == expected_body, "body changed", input, kv_value(reader.body()));
}

}  // namespace

void check_control_protocol(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    check_request(input);
    const auto nul = input.find('\0');
    const auto message = input.substr(0, nul);
    const auto body = nul == std::string_view::npos ? input : input.substr(nul + 1);
    check_reply(true, message, body, input);
    check_reply(false, message, body, input);
}

}  // namespace smtpwall::fuzz
