// Parsing and matching postscreen-style return-code filters.
#include "common/code_filter.hpp"

#include <algorithm>
#include <charconv>

namespace smtpwall {

namespace {

std::optional<std::uint8_t> octet(std::string_view s) {
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || v > 255)
        return std::nullopt;
    return static_cast<std::uint8_t>(v);
}

}  // namespace

std::optional<CodeFilter> CodeFilter::parse(std::string_view text) {
    CodeFilter f;
    f.text_ = std::string(text);
    if (text.empty()) return f;
    std::size_t pos = 0;
    for (int i = 0; i < 4; ++i) {
        if (pos > text.size()) return std::nullopt;
        std::vector<Range> ranges;
        if (pos < text.size() && text[pos] == '[') {
            const auto close = text.find(']', pos);
            if (close == std::string_view::npos) return std::nullopt;
            std::string_view list = text.substr(pos + 1, close - pos - 1);
            while (true) {
                const auto semi = list.find(';');
                const auto item = list.substr(0, semi);
                const auto dots = item.find("..");
                Range r;
                if (dots == std::string_view::npos) {
                    const auto v = octet(item);
                    if (!v) return std::nullopt;
                    r = {*v, *v};
                } else {
                    const auto lo = octet(item.substr(0, dots));
                    const auto hi = octet(item.substr(dots + 2));
                    if (!lo || !hi || *lo > *hi) return std::nullopt;
                    r = {*lo, *hi};
                }
                ranges.push_back(r);
                if (semi == std::string_view::npos) break;
                list = list.substr(semi + 1);
            }
            pos = close + 1;
        } else {
            const auto dot = text.find('.', pos);
            const auto v = octet(text.substr(pos, dot == std::string_view::npos ? dot : dot - pos));
            if (!v) return std::nullopt;
            ranges.push_back({*v, *v});
            pos = dot == std::string_view::npos ? text.size() : dot;
        }
        f.octets_.push_back(std::move(ranges));
        if (i < 3) {
            if (pos >= text.size() || text[pos] != '.') return std::nullopt;
            ++pos;
        }
    }
    if (pos != text.size()) return std::nullopt;
    return f;
}

bool CodeFilter::matches(const IpAddress& code) const {
    if (code.family != Family::v4 || code.bytes[0] != 127) return false;
    if (octets_.empty()) return true;
    for (std::size_t i = 0; i < 4; ++i) {
        const auto b = code.bytes[i];
        if (std::none_of(octets_[i].begin(), octets_[i].end(),
                         [b](const Range& r) { return b >= r.low && b <= r.high; }))
            return false;
    }
    return true;
}

}  // namespace smtpwall
