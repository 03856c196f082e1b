// Codec of the control protocol between smtpwallctl (or `socat`) and the
// milter's control socket. The wire rules are documented in
// milter/control_server.cpp, where they are served.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace smtpwall::control {

inline constexpr std::size_t kMaxRequestLine = 1024;

struct Request {
    std::string verb;  // see help_text()
    bool json = false;
    std::size_t top = 20;                          // tallies --top N, top N
    std::string tag;                               // tallies --tag
    bool exact = false;                            // top --exact
    std::string target;                            // show, ban, unban, allow: an address or network
    std::optional<std::chrono::seconds> duration;  // ban --for
    std::string reason;                            // ban --reason: a tag
    std::string ip, helo, from;                    // check
    // top, report: a period of the counter history instead of the kernel's counters
    // now. --since D, or --from T [--until T] (UTC); report --week is --since 7d.
    std::optional<std::chrono::seconds> since;
    std::optional<std::int64_t> period_from, period_until;
    bool over_period() const { return since || period_from; }
};

// Commands that change state: only root and the configured admins may send them.
bool mutating(std::string_view verb);

struct RequestError {
    std::string message;
};

std::variant<Request, RequestError> parse_request(std::string_view line);
std::string format_request(const Request& request);

// "OK\n<body>.\n" or "ERR <message>\n.\n"; body lines starting with '.' are
// dot-stuffed as in SMTP, so "." alone always ends a reply. Bytes outside printable
// ASCII (but "\n" and "\t" in the body) are sent as \xNN: text that came from the
// network never reaches a terminal raw.
std::string frame_reply(bool ok, std::string_view message, std::string_view body);

// Incremental reply reader for clients: feed lines (without "\n") until done().
class ReplyReader {
  public:
    void feed(std::string_view line);
    bool done() const { return done_; }
    bool ok() const { return ok_; }
    const std::string& status_message() const { return message_; }
    const std::string& body() const { return body_; }
    bool malformed() const { return malformed_; }

  private:
    bool got_status_ = false, done_ = false, ok_ = false, malformed_ = false;
    std::string message_, body_;
};

std::string help_text();

}  // namespace smtpwall::control
