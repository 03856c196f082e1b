// Small text helpers shared by the line-based parsers (control commands, rule lines)
// and the operator's text output.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/logfmt.hpp"

namespace smtpwall {

// Words separated by runs of spaces or tabs; no empty words.
inline std::vector<std::string_view> split_words(std::string_view text) {
    std::vector<std::string_view> words;
    std::size_t pos = 0;
    while (pos < text.size()) {
        pos = text.find_first_not_of(" \t", pos);
        if (pos == std::string_view::npos) break;
        const auto end = text.find_first_of(" \t", pos);
        words.push_back(text.substr(pos, end - pos));
        pos = end;
    }
    return words;
}

// Fields separated by `sep`, empty ones kept ("a,,b" is three); "" is none.
inline std::vector<std::string_view> split(std::string_view text, char sep) {
    std::vector<std::string_view> fields;
    while (!text.empty()) {
        const auto at = text.find(sep);
        fields.push_back(text.substr(0, at));
        if (at == std::string_view::npos) break;
        text.remove_prefix(at + 1);
        if (text.empty()) fields.emplace_back();
    }
    return fields;
}

// `text` safe to print on a terminal: every byte outside printable ASCII except "\n" and
// "\t" becomes \xNN, as in log values (common/logfmt.hpp), so what came from the network
// (HELO, DNS TXT, sender domains) cannot carry escape sequences to an operator's screen.
inline std::string printable_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const unsigned char c : text) {
        if ((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t')
            out += static_cast<char>(c);
        else
            append_hex_escape(out, c);
    }
    return out;
}

}  // namespace smtpwall
