// The property both the HELO check fuzzer and its corpus replay check: any HELO bytes,
// from any client (IPv4, IPv6, IPv4-mapped or unknown), get one of the named problems,
// the same each time, and the one RFC 5321 and core/helo_check.hpp say:
//   empty / too-long by size alone; bare-ip exactly for what IpAddress::parse takes;
//   a [literal] is only ever invalid-syntax, own-address, literal-not-client or ok, and
//   literal-not-client never when the client is unknown or is the literal itself;
//   case never matters, nor does one trailing dot on a name;
//   "none" means a name of at least two labels of [A-Za-z0-9_-], no label over 63
//   octets, none starting or ending with '-', and a top label that is not all digits;
//   own-name / own-address only for our names and addresses, and a name that is fine
//   becomes own-name once it is ours.
// Aborts (with the decoded case on stderr) otherwise.
//
// Input bytes: [0] the client: b % 4 = 0 none, 1 IPv4, 2 IPv6, 3 IPv4-mapped IPv6;
//   then 4 or 16 address bytes (none for "none"; 4 for mapped); the rest is the HELO.
#pragma once

#include <cstddef>
#include <cstdint>

namespace smtpwall::fuzz {

void check_helo_check(const std::uint8_t* data, std::size_t size);

}  // namespace smtpwall::fuzz
