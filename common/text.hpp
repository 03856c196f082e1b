// Small text helpers shared by the line-based parsers (control commands, rule lines).
#pragma once

#include <string_view>
#include <vector>

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

}  // namespace smtpwall
