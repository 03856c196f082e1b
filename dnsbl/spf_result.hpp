// The result of an SPF check (RFC 7208 section 2.6), shared by the SPF checker and
// the session facts. temperror and permerror never lead to a permanent reject.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace smtpwall {

enum class SpfResult : std::uint8_t { pass, fail, softfail, neutral, none, temperror, permerror };
inline constexpr std::size_t spf_result_count = 7;

std::string_view to_string(SpfResult result);

}  // namespace smtpwall
