// Text helpers the fuzz checks share: case and spacing variants of an input, where
// conf/ says an error is ("<file>:<line>: what"), and parsing a config under that rule.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "common/logfmt.hpp"
#include "common/text.hpp"
#include "conf/config_reader.hpp"
#include "test/fuzz/check_failure.hpp"

namespace smtpwall::fuzz {

// `text` with its ASCII letters all upper (or all lower) case.
inline std::string with_case(std::string_view text, bool upper) {
    std::string out(text);
    for (auto& c : out) {
        if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

// Words separated by single spaces: what a client would send for the same words.
inline std::string respaced(std::string_view line) {
    std::string out;
    for (const auto word : split_words(line)) {
        if (!out.empty()) out += ' ';
        out += word;
    }
    return out;
}

inline bool absolute(const std::string& path) {
    return !path.empty() && path.front() == '/';
}

// toml++ counts lines at '\n'; an error at the very end is on the last line.
inline std::size_t lines_of(std::string_view text) {
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
}

// "<name>:<line>" with 1 <= line <= the lines of the text; `rest` is what follows it.
inline bool located(std::string_view name, std::string_view text, std::string_view where,
                    std::string_view& rest) {
    if (where.substr(0, name.size()) != name) return false;
    where.remove_prefix(name.size());
    if (where.empty() || where.front() != ':') return false;
    where.remove_prefix(1);
    std::size_t digits = 0, line = 0;
    while (digits < where.size() && where[digits] >= '0' && where[digits] <= '9' && digits < 9)
        line = line * 10 + static_cast<std::size_t>(where[digits++] - '0');
    if (digits == 0 || where[0] == '0' || line < 1 || line > lines_of(text)) return false;
    rest = where.substr(digits);
    return true;
}

// What is wrong with a ConfigError's message for a file `name` holding `text` (conf/:
// every complaint is "file:line: what"), or nullptr.
inline const char* config_error_problem(std::string_view name, std::string_view text,
                                        std::string_view message) {
    std::string_view rest;
    if (!located(name, text, message, rest))
        return "ConfigError does not start with \"<file>:<line>:\"";
    if (rest.size() <= 2 || rest.substr(0, 2) != ": ")
        return "ConfigError has no text after the line";
    return nullptr;
}

// A parsed config names its file, and every setting it says the file set is a known
// one, located at "<name>:<line>".
template <typename Config, typename Settings>
void check_locations(std::string_view check, std::string_view name, std::string_view text,
                     const Config& c, const Settings& settings) {
    if (c.source != name)
        check_failed(check, "source is not the file name", kv_value(text), c.source);
    for (const auto& entry : c.where) {  // no structured binding: clang 14 cannot capture one
        const std::string_view key = entry.first, where = entry.second;
        if (std::none_of(settings.begin(), settings.end(),
                         [&](const auto& s) { return s.name == key; }))
            check_failed(check, "a location for an unknown setting", kv_value(text), key);
        std::string_view rest;
        if (!located(name, text, where, rest) || !rest.empty())
            check_failed(check, "a setting's location is not file:line", kv_value(text), where);
    }
}

// `parse(text, name)`'s config, or nullopt once its ConfigError proved well located; any
// other exception fails the check `check`.
template <typename Parse>
auto parse_config(std::string_view check, std::string_view name, std::string_view text, Parse parse)
    -> std::optional<decltype(parse(text, std::string(name)))> {
    try {
        return parse(text, std::string(name));
    } catch (const conf::ConfigError& e) {
        if (const char* problem = config_error_problem(name, text, e.what()))
            check_failed(check, problem, kv_value(text), e.what());
        return std::nullopt;
    } catch (const std::exception& e) {
        check_failed(check, "an exception other than ConfigError", kv_value(text), e.what());
    } catch (...) {
        check_failed(check, "a non-standard exception", kv_value(text));
    }
}

}  // namespace smtpwall::fuzz
