// Codec of the helper protocol, version 1: the only language smtpwall-helper
// understands. Pure functions over strings; the wire rules are documented in
// firewall/helper_main.cpp, next to the server that enforces them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/net.hpp"
#include "common/tag.hpp"

namespace smtpwall::helperproto {

inline constexpr int kVersion = 1;
// Longest line either side may send, newline included. A longer line is an error.
inline constexpr std::size_t kMaxLine = 512;
inline constexpr std::size_t kMaxTags = 8;
inline constexpr std::string_view kGreeting = "SMTPWALL-HELPER 1";

enum class Verb { hello, ping, add, del, list, sync };
enum class SyncOp { begin, end, abort };

struct Request {
    std::uint32_t id = 0;
    Verb verb = Verb::ping;
    int version = 0;                // HELLO
    Cidr net{};                     // ADD, DEL
    std::int64_t expires = 0;       // ADD: unix seconds, 0 = no expiry
    std::vector<std::string> tags;  // ADD
    SyncOp sync = SyncOp::begin;    // SYNC

    // Equal as the protocol sees them: fields a verb does not use are ignored.
    bool same_as(const Request& other) const;
};

struct ParseError {
    std::uint32_t id = 0;  // 0 when the line had no usable id
    std::string code;      // "syntax", "version", ...
    std::string message;
};

std::variant<Request, ParseError> parse_request(std::string_view line);
// Without the trailing newline.
std::string format_request(const Request& request);

enum class Origin { dynamic, core };

// One firewall entry as LIST reports it.
struct Entry {
    Cidr net{};
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    Origin origin = Origin::dynamic;
    std::int64_t expires = 0;
    std::vector<std::string> tags;
};

struct OkReply {
    std::uint32_t id = 0;
    std::string text;
};
struct ErrReply {
    std::uint32_t id = 0;
    std::string code;
    std::string message;
};
struct EntryLine {
    std::uint32_t id = 0;
    Entry entry;
};
using ReplyLine = std::variant<OkReply, ErrReply, EntryLine>;

std::optional<ReplyLine> parse_reply_line(std::string_view line);
std::string format_ok(std::uint32_t id, std::string_view text);
// The message is cleaned of anything but printable ASCII and cut to fit a line.
std::string format_err(std::uint32_t id, std::string_view code, std::string_view message);
std::string format_entry(std::uint32_t id, const Entry& entry);

// The kernel keeps each rule's comment; the helper stores its bookkeeping there so
// that `iptables -L` shows why an entry exists and a restarted helper can read it
// back. Format: "smtpwall dyn exp=1767225600 [spamtrap] [bad-helo]" or "smtpwall core".
std::string format_rule_comment(Origin origin, std::int64_t expires,
                                const std::vector<std::string>& tags);
struct RuleComment {
    Origin origin = Origin::dynamic;
    std::int64_t expires = 0;
    std::vector<std::string> tags;
};
std::optional<RuleComment> parse_rule_comment(std::string_view comment);

}  // namespace smtpwall::helperproto
