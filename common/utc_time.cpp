// UTC times as text (common/utc_time.hpp).
#include "common/utc_time.hpp"

#include <chrono>
#include <ctime>

namespace smtpwall {

std::string format_time(UnixTime t) {
    if (t == 0) return "-";
    const std::time_t tt = t;
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::optional<UnixTime> parse_time(std::string_view text) {
    if (text.ends_with('Z')) text.remove_suffix(1);
    // Fixed-width fields: date, then optionally "THH:MM" and ":SS".
    auto number = [&](std::size_t pos, std::size_t len) -> std::optional<int> {
        if (pos + len > text.size()) return std::nullopt;
        int n = 0;
        for (std::size_t i = pos; i < pos + len; ++i) {
            if (text[i] < '0' || text[i] > '9') return std::nullopt;
            n = n * 10 + (text[i] - '0');
        }
        return n;
    };
    if (text.size() != 10 && text.size() != 16 && text.size() != 19) return std::nullopt;
    if (text[4] != '-' || text[7] != '-') return std::nullopt;
    const auto y = number(0, 4), mo = number(5, 2), d = number(8, 2);
    int h = 0, mi = 0, sec = 0;
    if (text.size() >= 16) {
        if (text[10] != 'T' || text[13] != ':') return std::nullopt;
        const auto hh = number(11, 2), mm = number(14, 2);
        if (!hh || !mm || *hh > 23 || *mm > 59) return std::nullopt;
        h = *hh;
        mi = *mm;
    }
    if (text.size() == 19) {
        const auto ss = number(17, 2);
        if (text[16] != ':' || !ss || *ss > 59) return std::nullopt;
        sec = *ss;
    }
    if (!y || !mo || !d || *y < 1970) return std::nullopt;
    const std::chrono::year_month_day date{std::chrono::year{*y},
                                           std::chrono::month{static_cast<unsigned>(*mo)},
                                           std::chrono::day{static_cast<unsigned>(*d)}};
    if (!date.ok()) return std::nullopt;
    const auto days = std::chrono::sys_days{date}.time_since_epoch().count();
    const UnixTime t = static_cast<UnixTime>(days) * 86400 + h * 3600 + mi * 60 + sec;
    if (t <= 0) return std::nullopt;  // 0 is "no time" to format_time
    return t;
}

}  // namespace smtpwall
