// The one way to spell an enum as text and read it back: a constexpr table of
// (value, name) pairs next to the enum, and these two lookups over it.
#pragma once

#include <array>
#include <optional>
#include <string_view>
#include <utility>

namespace smtpwall {

template <class Enum, std::size_t N>
using EnumNames = std::array<std::pair<Enum, std::string_view>, N>;

template <class Enum, std::size_t N>
constexpr std::string_view name_of(const EnumNames<Enum, N>& names, Enum value) {
    for (const auto& [v, name] : names)
        if (v == value) return name;
    return "?";
}

template <class Enum, std::size_t N>
constexpr std::optional<Enum> value_of(const EnumNames<Enum, N>& names, std::string_view name) {
    for (const auto& [v, n] : names)
        if (n == name) return v;
    return std::nullopt;
}

}  // namespace smtpwall
