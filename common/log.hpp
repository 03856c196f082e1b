// The one log sink and the one escaping of logged values, for the milter and the
// helper alike: one line per event, key=value, to syslog's mail facility or to
// stderr (foreground, or under systemd's journal). Values from the network (HELO,
// addresses, request lines) go through kv() so a hostile client can never forge a
// log line (fail2ban's log-injection CVEs).
#pragma once

#include <string>
#include <string_view>

namespace smtpwall {

// Logged values, logfmt-style. The grammar of a value after "key=":
//
//   value  = bare / quoted
//   bare   = 1*256( %x21 / %x23-3C / %x3E-5B / %x5D-7E )
//   quoted = DQUOTE *( plain / "\\" / "\"" / "\x" 2HEXDIG ) [ "..." ] DQUOTE
//   plain  = %x20-21 / %x23-3C / %x3E-5B / %x5D-7E
//
// (bare: printable ASCII without quote, '=' or backslash; plain: the same and space)
//
// so a value never holds a line break, a control byte, a raw '=' (written \x3d) or an
// unescaped quote: whatever a client sends, no value contains the text "key=" and a
// line has exactly the keys its writer gave it, for a strict logfmt parser as for
// `key=(\S+)` regexes (fail2ban-style). Bytes outside printable ASCII are \xNN (lower
// case hex). Values longer than 256 bytes are cut there and end in "..." inside the
// quotes.
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
