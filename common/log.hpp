// The one log sink, for the milter and the helper alike: one line per event,
// key=value, to syslog's mail facility or to stderr (foreground, or under systemd's
// journal). Values from the network (HELO, addresses, request lines) go through kv()
// (common/logfmt.hpp) so a hostile client can never forge a log line (fail2ban's
// log-injection CVEs).
#pragma once

#include <string>
#include <string_view>

#include "common/logfmt.hpp"

namespace smtpwall {

enum class LogLevel { info, warning, error };

// Where lines go, named after the program ("smtpwall-milter: ..." on stderr).
void log_to_stderr(std::string program);
void log_to_syslog(std::string program);
void log_line(LogLevel level, std::string_view line);
inline void log_info(std::string_view line) {
    log_line(LogLevel::info, line);
}
inline void log_warning(std::string_view line) {
    log_line(LogLevel::warning, line);
}
inline void log_error(std::string_view line) {
    log_line(LogLevel::error, line);
}

}  // namespace smtpwall
