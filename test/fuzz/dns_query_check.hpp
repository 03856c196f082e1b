// The property both the DNS query fuzzer and its corpus replay check: encode_query
// (dnsbl/codec.cpp, built by hand) gives, for every name the resolver may send (what
// normalize_name accepts), exactly the bytes ldns builds for it; and any query it
// builds from any name at all is well formed: one question whose labels spell the
// name (less a trailing dot), RD only, the OPT record when asked, at most 255 bytes of
// name. Names it refuses are the ones with an empty or over-long label, a backslash,
// or over 253 characters. Aborts (with the input on stderr) otherwise.
//
// Input bytes: [0] the query type (index into A, AAAA, MX, TXT, PTR, CNAME); [1] the
// EDNS size (b % 3: none, the default, 512); the rest is the name.
#pragma once

#include <cstddef>
#include <cstdint>

namespace smtpwall::fuzz {

void check_dns_query(const std::uint8_t* data, std::size_t size);

}  // namespace smtpwall::fuzz
