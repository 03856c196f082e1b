// The one escaping of logged values (logfmt), for the milter and the helper alike, and
// for values of the operator's text output: pure, no sink (common/log.hpp writes lines).
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
// The same, appended to `out`.
void append_kv_value(std::string& out, std::string_view value);

// Appends `c` as "\xNN" (lower-case hex): how both log values and the operator's text
// output (common/text.hpp) show a byte that must not reach a reader raw.
inline void append_hex_escape(std::string& out, unsigned char c) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
}
// "key=value".
std::string kv(std::string_view key, std::string_view value);
// Appends " key=value" to `line` (no space on an empty line): a long line built in
// place, without a string per field.
void append_kv(std::string& line, std::string_view key, std::string_view value);

}  // namespace smtpwall
