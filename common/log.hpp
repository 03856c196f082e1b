// The one log sink and the one escaping of logged values, for the milter and the
// helper alike: one line per event, key=value, to syslog's mail facility or to
// stderr (foreground, or under systemd's journal). Values from the network (HELO,
// addresses, request lines) go through kv() so a hostile client can never forge a
// log line (fail2ban's log-injection CVEs).
#pragma once

#include <string>
#include <string_view>

namespace smtpwall {

// `value` as it may appear after "key=": bare when it is plain printable text
// without spaces, quotes, backslashes or '=', else in double quotes with \" \\ and
// \xNN escapes. Over-long values are cut and marked with "...".
std::string kv_value(std::string_view value);
std::string kv(std::string_view key, std::string_view value);

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
