// A tag names one reason for a verdict or a ban ("bad-helo", "spamtrap", "cbl").
// Tags travel into logs, the helper protocol and kernel rule comments, so their
// alphabet is deliberately tiny: [a-z0-9] then [a-z0-9-], at most 24 characters.
#pragma once

#include <string_view>

namespace smtpwall {

inline constexpr std::size_t kMaxTagLength = 24;

constexpr bool valid_tag(std::string_view tag) {
    if (tag.empty() || tag.size() > kMaxTagLength) return false;
    for (std::size_t i = 0; i < tag.size(); ++i) {
        const char c = tag[i];
        const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(i > 0 && c == '-')) return false;
    }
    return true;
}

}  // namespace smtpwall
