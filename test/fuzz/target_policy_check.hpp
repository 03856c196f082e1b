// The property both the target policy fuzzer and its corpus replay check: a network
// refusal_reason accepts covers no loopback, own or protected address, neither itself
// nor through any IPv4 it carries (mapped, NAT64, 6to4), keeps the minimum prefixes
// (its family's, and min_prefix_v4 for the IPv4 it carries), and is a single address
// if it touches Teredo (2001::/32). The check computes all of that with its own
// arithmetic. Aborts (with the decoded case on stderr) otherwise.
//
// Input bytes (a missing byte reads as 0):
//   [0] min_prefix_v4 = b % 33     [1] min_prefix_v6 = b % 129
//   [2] counts: NAT64 prefixes b % 3, own addresses b / 3 % 3, protected b / 9 % 4
//   then each operator NAT64 prefix: ADDR, length byte (< 0x80: /32 /40 /48 /56 /64 /96
//        by b % 6, else b - 0x80), kept only if valid_nat64_prefix
//   then each own address: ADDR;  each protected network: ADDR, prefix byte
//   then the candidate: ADDR, prefix byte (b % 33 for IPv4, b % 129 for IPv6)
// ADDR is a selector byte s, then per s % 10: 0 IPv4 V4 | 1 raw IPv6 (16 bytes) |
//   2 ::ffff:V4 | 3 64:ff9b::V4 | 4 64:ff9b:1::/48 with V4 | 5 2002:V4:b:: (1 more byte)
//   | 6 Teredo 2001:0:<V4 as server>:8000:0:<~V4> | 7 operator NAT64 prefix s / 10 with V4
//   (64:ff9b::V4 if none) | 8 ::1 | 9 the top 16 bits from 2 bytes, the rest zero.
// V4 is a byte b: b < 0xe0 (or nothing to reuse yet): b.x.y.z with 3 more bytes; else
//   the (b - 0xe0)-th IPv4 own address or protected network base decoded so far.
#pragma once

#include <cstddef>
#include <cstdint>

namespace smtpwall::fuzz {

void check_target_policy(const std::uint8_t* data, std::size_t size);

}  // namespace smtpwall::fuzz
