// The property both the dialup fuzzer and its corpus replay check: any client address
// and any PTR bytes classify (dnsbl/dialup.hpp) without crashing, and
//   the verdict agrees with its score (dynamic <=> score >= kThreshold), a generic name
//   is never dynamic, the signals explain the score (their weights add up to it), each
//   rule appears once, at most one address signal and at most one exemption count, and
//   summary() is the signals as documented ("rule(+w),rule");
//   a name that cannot be a DNS host name (empty label, label over 63, name over 253
//   octets without one trailing dot, a byte outside [A-Za-z0-9._-]) is just
//   "invalid-name", scored 0;
//   letter case, one trailing dot and an IPv4 client seen as ::ffff:a.b.c.d change
//   nothing; the same detector with operator patterns adds only pattern signals after
//   the built-in ones, and exactly +200 when one matches.
// Aborts (with the case on stderr) otherwise.
//
// Input bytes: [0] even: IPv4, odd: IPv6; then 4 or 16 address bytes; the rest is the
// PTR name.
#pragma once

#include <cstddef>
#include <cstdint>

namespace smtpwall::fuzz {

void check_dialup(const std::uint8_t* data, std::size_t size);

}  // namespace smtpwall::fuzz
