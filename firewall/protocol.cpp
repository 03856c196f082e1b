// Helper protocol codec: one spelling per number, arity checked (protocol in
// helper_main.cpp).
#include "firewall/protocol.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "common/enum_names.hpp"

namespace smtpwall::helperproto {

namespace {

std::vector<std::string_view> split_words(std::string_view line) {
    std::vector<std::string_view> words;
    std::size_t pos = 0;
    while (pos < line.size()) {
        const auto end = line.find(' ', pos);
        if (end == pos) return {};  // empty word: two spaces in a row
        words.push_back(line.substr(pos, end - pos));
        if (end == std::string_view::npos) break;
        pos = end + 1;
        if (pos == line.size()) return {};  // trailing space
    }
    return words;
}

template <typename Int>
std::optional<Int> parse_number(std::string_view text, std::size_t max_digits) {
    if (text.empty() || text.size() > max_digits) return std::nullopt;
    // Digits only: from_chars would take a '-' for signed types ("-5", "-0").
    for (char c : text)
        if (c < '0' || c > '9') return std::nullopt;
    if (text.size() > 1 && text[0] == '0') return std::nullopt;  // one spelling per number
    Int value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

bool printable_ascii(std::string_view text) {
    for (unsigned char c : text)
        if (c < 0x20 || c > 0x7e) return false;
    return true;
}

std::optional<std::vector<std::string>> parse_tags(std::string_view text) {
    std::vector<std::string> tags;
    if (text == "-") return tags;
    std::size_t pos = 0;
    while (true) {
        const auto comma = text.find(',', pos);
        const auto tag = text.substr(pos, comma - pos);
        if (!valid_tag(tag) || tags.size() == kMaxTags) return std::nullopt;
        tags.emplace_back(tag);
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
    }
    return tags;
}

std::string join_tags(const std::vector<std::string>& tags) {
    if (tags.empty()) return "-";
    return fmt::format("{}", fmt::join(tags, ","));
}

constexpr EnumNames<Verb, 6> kVerbNames{{
    {Verb::hello, "HELLO"},
    {Verb::ping, "PING"},
    {Verb::add, "ADD"},
    {Verb::del, "DEL"},
    {Verb::list, "LIST"},
    {Verb::sync, "SYNC"},
}};

std::string_view verb_name(Verb verb) {
    return name_of(kVerbNames, verb);
}

std::optional<Verb> parse_verb(std::string_view word) {
    return value_of(kVerbNames, word);
}

constexpr EnumNames<SyncOp, 3> kSyncOpNames{{
    {SyncOp::begin, "BEGIN"},
    {SyncOp::end, "END"},
    {SyncOp::abort, "ABORT"},
}};

std::string_view sync_op_name(SyncOp op) {
    return name_of(kSyncOpNames, op);
}

std::optional<SyncOp> parse_sync_op(std::string_view word) {
    return value_of(kSyncOpNames, word);
}

constexpr std::size_t kIdDigits = 10;

constexpr std::size_t kMaxCode = 16;

// An error code is one lower-case word: "syntax", "refused", ...
bool valid_code(std::string_view code) {
    if (code.empty() || code.size() > kMaxCode) return false;
    for (char c : code)
        if (c < 'a' || c > 'z') return false;
    return true;
}

// Free text in replies is ours, but it may quote what a peer sent: keep it one
// printable line that fits after `head`, so a reply can never forge another reply.
std::string with_text(std::string head, std::string_view text) {
    const std::size_t room = kMaxLine - 1 - std::min(head.size(), kMaxLine - 2);
    std::size_t n = 0;
    for (unsigned char c : text) {
        if (n++ == room) break;
        head.push_back(c >= 0x20 && c <= 0x7e ? static_cast<char>(c) : '?');
    }
    if (text.empty()) head.push_back('-');
    return head;
}

}  // namespace

std::variant<Request, ParseError> parse_request(std::string_view line) {
    if (line.size() >= kMaxLine) return ParseError{0, "syntax", "line too long"};
    if (!printable_ascii(line)) return ParseError{0, "syntax", "line contains non-printable bytes"};
    const auto words = split_words(line);
    if (words.empty()) return ParseError{0, "syntax", "empty line or stray spaces"};
    const auto id = parse_number<std::uint32_t>(words[0], kIdDigits);
    if (!id || *id == 0) return ParseError{0, "syntax", "a request starts with a numeric id > 0"};
    if (words.size() < 2) return ParseError{*id, "syntax", "missing verb"};
    const auto verb = parse_verb(words[1]);
    if (!verb) return ParseError{*id, "syntax", "unknown verb"};

    Request req;
    req.id = *id;
    req.verb = *verb;
    const std::size_t args = words.size() - 2;
    auto arity = [&](std::size_t n) -> std::optional<ParseError> {
        if (args == n) return std::nullopt;
        return ParseError{*id, "syntax",
                          fmt::format("{} takes {} argument(s)", verb_name(*verb), n)};
    };
    switch (*verb) {
        case Verb::hello: {
            if (auto e = arity(1)) return *e;
            const auto v = parse_number<int>(words[2], 3);
            if (!v) return ParseError{*id, "syntax", "HELLO takes a version number"};
            req.version = *v;
            break;
        }
        case Verb::ping:
        case Verb::list:
            if (auto e = arity(0)) return *e;
            break;
        case Verb::add:
        case Verb::del: {
            if (auto e = arity(*verb == Verb::add ? 3 : 1)) return *e;
            const auto net = Cidr::parse(words[2]);
            if (!net) return ParseError{*id, "syntax", "not an address or network"};
            req.net = *net;
            if (*verb == Verb::del) break;
            const auto expires = parse_number<std::int64_t>(words[3], 12);
            if (!expires) return ParseError{*id, "syntax", "expiry must be unix seconds or 0"};
            req.expires = *expires;
            auto tags = parse_tags(words[4]);
            if (!tags) return ParseError{*id, "syntax", "tags must be '-' or up to 8 of [a-z0-9-]"};
            req.tags = std::move(*tags);
            break;
        }
        case Verb::sync: {
            if (auto e = arity(1)) return *e;
            const auto op = parse_sync_op(words[2]);
            if (!op) return ParseError{*id, "syntax", "SYNC takes BEGIN, END or ABORT"};
            req.sync = *op;
            break;
        }
    }
    return req;
}

bool Request::same_as(const Request& o) const {
    if (id != o.id || verb != o.verb) return false;
    switch (verb) {
        case Verb::hello:
            return version == o.version;
        case Verb::ping:
        case Verb::list:
            return true;
        case Verb::del:
            return net == o.net;
        case Verb::add:
            return net == o.net && expires == o.expires && tags == o.tags;
        case Verb::sync:
            return sync == o.sync;
    }
    return false;
}

std::string format_request(const Request& r) {
    switch (r.verb) {
        case Verb::hello:
            return fmt::format("{} HELLO {}", r.id, r.version);
        case Verb::ping:
            return fmt::format("{} PING", r.id);
        case Verb::list:
            return fmt::format("{} LIST", r.id);
        case Verb::del:
            return fmt::format("{} DEL {}", r.id, r.net.to_string());
        case Verb::add:
            return fmt::format("{} ADD {} {} {}", r.id, r.net.to_string(), r.expires,
                               join_tags(r.tags));
        case Verb::sync:
            return fmt::format("{} SYNC {}", r.id, sync_op_name(r.sync));
    }
    return {};
}

std::string format_ok(std::uint32_t id, std::string_view text) {
    return with_text(fmt::format("{} OK ", id), text);
}

std::string format_err(std::uint32_t id, std::string_view code, std::string_view message) {
    // Codes are the codec's own constants; anything else would be a bug, not a reason
    // to send a line the other side cannot parse.
    return with_text(fmt::format("{} ERR {} ", id, valid_code(code) ? code : "internal"), message);
}

std::string format_entry(std::uint32_t id, const Entry& e) {
    return fmt::format("{} ENTRY {} {} {} {} {} {}", id, e.net.to_string(), e.packets, e.bytes,
                       e.origin == Origin::core ? "core" : "dyn", e.expires, join_tags(e.tags));
}

std::optional<ReplyLine> parse_reply_line(std::string_view line) {
    if (line.size() >= kMaxLine || !printable_ascii(line)) return std::nullopt;
    const auto first = line.find(' ');
    if (first == std::string_view::npos) return std::nullopt;
    const auto id = parse_number<std::uint32_t>(line.substr(0, first), kIdDigits);
    if (!id) return std::nullopt;
    const auto rest = line.substr(first + 1);
    if (rest.starts_with("OK ")) {
        if (rest.size() == 3) return std::nullopt;  // no text, or a trailing space
        return OkReply{*id, std::string(rest.substr(3))};
    }
    if (rest.starts_with("ERR ")) {
        const auto body = rest.substr(4);
        const auto sp = body.find(' ');
        if (sp == std::string_view::npos || !valid_code(body.substr(0, sp))) return std::nullopt;
        if (sp + 1 == body.size()) return std::nullopt;  // no message
        return ErrReply{*id, std::string(body.substr(0, sp)), std::string(body.substr(sp + 1))};
    }
    if (rest.starts_with("ENTRY ")) {
        const auto words = split_words(rest.substr(6));
        if (words.size() != 6) return std::nullopt;
        Entry e;
        const auto net = Cidr::parse(words[0]);
        const auto packets = parse_number<std::uint64_t>(words[1], 20);
        const auto bytes = parse_number<std::uint64_t>(words[2], 20);
        const auto expires = parse_number<std::int64_t>(words[4], 12);
        auto tags = parse_tags(words[5]);
        if (!net || !packets || !bytes || !expires || !tags) return std::nullopt;
        if (words[3] != "core" && words[3] != "dyn") return std::nullopt;
        e.net = *net;
        e.packets = *packets;
        e.bytes = *bytes;
        e.origin = words[3] == "core" ? Origin::core : Origin::dynamic;
        e.expires = *expires;
        e.tags = std::move(*tags);
        return EntryLine{*id, std::move(e)};
    }
    return std::nullopt;
}

std::string format_rule_comment(Origin origin, std::int64_t expires,
                                const std::vector<std::string>& tags) {
    std::string out = origin == Origin::core ? "smtpwall core" : "smtpwall dyn";
    if (expires != 0) out += fmt::format(" exp={}", expires);
    for (const auto& tag : tags) out += fmt::format(" [{}]", tag);
    return out;
}

std::optional<RuleComment> parse_rule_comment(std::string_view comment) {
    const auto words = split_words(comment);
    if (words.size() < 2 || words[0] != "smtpwall") return std::nullopt;
    RuleComment out;
    if (words[1] == "core") {
        out.origin = Origin::core;
    } else if (words[1] != "dyn") {
        return std::nullopt;
    }
    for (std::size_t i = 2; i < words.size(); ++i) {
        const auto w = words[i];
        if (w.starts_with("exp=")) {
            const auto v = parse_number<std::int64_t>(w.substr(4), 12);
            if (!v) return std::nullopt;
            out.expires = *v;
        } else if (w.size() > 2 && w.front() == '[' && w.back() == ']' &&
                   valid_tag(w.substr(1, w.size() - 2)) && out.tags.size() < kMaxTags) {
            out.tags.emplace_back(w.substr(1, w.size() - 2));
        } else {
            return std::nullopt;
        }
    }
    return out;
}

}  // namespace smtpwall::helperproto
