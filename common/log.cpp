// The log sink: syslog or stderr, one lock (the escaping is common/logfmt.cpp).
#include "common/log.hpp"

#include <fmt/format.h>
#include <syslog.h>

#include <cstdio>
#include <mutex>

namespace smtpwall {

namespace {

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
