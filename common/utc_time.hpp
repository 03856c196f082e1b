// Times as operators read and type them, in UTC: "2026-11-27T01:04:50Z". Pure: the
// time is a parameter (common/clock.hpp reads the clock).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/unix_time.hpp"

namespace smtpwall {

// "2026-11-27T01:04:50Z"; 0 prints as "-".
std::string format_time(UnixTime t);
// Reads a UTC time back: "2026-11-27", "2026-11-27T01:04", "2026-11-27T01:04:50",
// each optionally ending in "Z"; after 1970-01-01T00:00:00Z.
std::optional<UnixTime> parse_time(std::string_view text);

}  // namespace smtpwall
