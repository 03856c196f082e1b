// The log sink (syslog or stderr, one lock) and the key=value escaping.
#include "common/log.hpp"

#include <fmt/format.h>
#include <syslog.h>

#include <cstdio>
#include <mutex>

namespace smtpwall {

namespace {

constexpr std::size_t kMaxValue = 256;

struct Sink {
    std::mutex mutex;
    bool use_syslog = false;
    std::string program = "smtpwall";
};

Sink& sink() {
    static Sink s;
    return s;
}

}  // namespace

std::string kv_value(std::string_view value) {
    bool plain = !value.empty();
    for (unsigned char c : value)
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '=') plain = false;
    if (plain && value.size() <= kMaxValue) return std::string(value);

    std::string out = "\"";
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (i == kMaxValue) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(value[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c >= 0x7f || c == '=') {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
    return out;
}

std::string kv(std::string_view key, std::string_view value) {
    return fmt::format("{}={}", key, kv_value(value));
}

void log_to_stderr(std::string program) {
    auto& s = sink();
    std::lock_guard lock(s.mutex);
    s.program = std::move(program);
    s.use_syslog = false;
}

void log_to_syslog(std::string program) {
    auto& s = sink();
    std::lock_guard lock(s.mutex);
    s.program = std::move(program);
    s.use_syslog = true;
    openlog(s.program.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_line(LogLevel level, std::string_view line) {
    auto& s = sink();
    std::lock_guard lock(s.mutex);
    if (s.use_syslog) {
        const int priority = level == LogLevel::error     ? LOG_ERR
                             : level == LogLevel::warning ? LOG_WARNING
                                                          : LOG_INFO;
        syslog(priority, "%.*s", static_cast<int>(line.size()), line.data());
        return;
    }
    const char* prefix = level == LogLevel::error     ? "error: "
                         : level == LogLevel::warning ? "warning: "
                                                      : "";
    std::fprintf(stderr, "%s: %s%.*s\n", s.program.c_str(), prefix, static_cast<int>(line.size()),
                 line.data());
    std::fflush(stderr);
}

}  // namespace smtpwall
