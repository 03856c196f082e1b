#include "test/fuzz/helper_protocol_check.hpp"

#include <string>
#include <string_view>
#include <variant>

#include "common/log.hpp"
#include "firewall/protocol.hpp"
#include "test/fuzz/check_failure.hpp"

namespace smtpwall::fuzz {

namespace {

using namespace smtpwall::helperproto;

void require(bool ok, std::string_view what, std::string_view input, std::string_view detail = {}) {
    if (!ok) check_failed("helper protocol", what, kv_value(input), detail);
}

// A line we send must be one line the other side accepts.
void require_line(const std::string& text, std::string_view what, std::string_view input) {
    require(text.size() < kMaxLine, what, input, text);
    for (unsigned char c : text) require(c >= 0x20 && c <= 0x7e, what, input, text);
}

bool same_entry(const Entry& a, const Entry& b) {
    return a.net == b.net && a.packets == b.packets && a.bytes == b.bytes && a.origin == b.origin &&
           a.expires == b.expires && a.tags == b.tags;
}

void check_request(std::string_view line) {
    const auto parsed = parse_request(line);
    if (const auto* error = std::get_if<ParseError>(&parsed)) {
        require(!error->code.empty() && !error->message.empty(), "ParseError without text", line);
        // The server answers with this error: it must be a reply line the client parses.
        const std::string reply = format_err(error->id, error->code, error->message);
        require_line(reply, "error reply is not one short printable line", line);
        const auto back = parse_reply_line(reply);
        require(back && std::holds_alternative<ErrReply>(*back), "error reply does not parse", line,
                reply);
        const auto& err = std::get<ErrReply>(*back);
        require(err.id == error->id && err.code == error->code, "error reply changed", line, reply);
        return;
    }
    const auto& request = std::get<Request>(parsed);
    const std::string text = format_request(request);
    require_line(text, "formatted request is not one short printable line", line);
    const auto again = parse_request(text);
    require(std::holds_alternative<Request>(again), "formatted request does not parse", line, text);
    require(std::get<Request>(again).same_as(request), "request changed in a round trip", line,
            text);
    require(format_request(std::get<Request>(again)) == text, "formatting is not canonical", line,
            text);
}

void check_reply(std::string_view line) {
    const auto parsed = parse_reply_line(line);
    if (!parsed) return;
    std::string text;
    if (const auto* ok = std::get_if<OkReply>(&*parsed)) {
        text = format_ok(ok->id, ok->text);
        // OK and ERR lines carry their text verbatim: the same line comes back.
        require(text == line, "OK reply changed in a round trip", line, text);
    } else if (const auto* err = std::get_if<ErrReply>(&*parsed)) {
        text = format_err(err->id, err->code, err->message);
        require(text == line, "ERR reply changed in a round trip", line, text);
    } else {
        const auto& entry = std::get<EntryLine>(*parsed);
        text = format_entry(entry.id, entry.entry);
        require_line(text, "formatted ENTRY is not one short printable line", line);
        const auto again = parse_reply_line(text);
        require(again && std::holds_alternative<EntryLine>(*again),
                "formatted ENTRY does not parse", line, text);
        const auto& back = std::get<EntryLine>(*again);
        require(back.id == entry.id && same_entry(back.entry, entry.entry),
                "ENTRY changed in a round trip", line, text);
    }
}

void check_comment(std::string_view line) {
    const auto parsed = parse_rule_comment(line);
    if (!parsed) return;
    const std::string text = format_rule_comment(parsed->origin, parsed->expires, parsed->tags);
    // xt_comment and ipset hold 255 bytes plus NUL; longer would be cut by the kernel.
    require(text.size() < 256, "rule comment too long for the kernel", line, text);
    const auto again = parse_rule_comment(text);
    require(again.has_value(), "formatted rule comment does not parse", line, text);
    require(again->origin == parsed->origin && again->expires == parsed->expires &&
                again->tags == parsed->tags,
            "rule comment changed in a round trip", line, text);
}

}  // namespace

void check_helper_protocol(const std::uint8_t* data, std::size_t size) {
    const std::string_view line(reinterpret_cast<const char*>(data), size);
    check_request(line);
    check_reply(line);
    check_comment(line);
}

}  // namespace smtpwall::fuzz
