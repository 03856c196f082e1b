// The property both the SPF result fuzzer and its corpus replay check: how what libspf2
// says becomes smtpwall's SpfResult (dnsbl/spf_eval.hpp) and how that becomes tags and a
// decision (core/classify.cpp). Input byte [0] % 4 picks the part, the rest is its case:
//   0 libspf2 codes: [1..4] the result, [5..8] the error, as native ints. The seven
//     results libspf2 defines keep their name (SPF_strresult is the oracle); INVALID and
//     anything undefined become temperror or permerror, never a verdict, and a DNS
//     failure never becomes permerror.
//   1 classification: [1] progress % 3, [2] result % 7, [3] spf-fail weight, [4]
//     spf-softfail weight (both as int8), [5] threshold (1 + b % 200), [6] bit 0
//     tempfail_on_dns_failure; the rest is the domain. Only a done fail (any weight) or
//     a done softfail (non-zero weight) makes a tag, named so, with that weight and the
//     domain as detail; pending and temperror are temporary failures (a tempfail exactly
//     when one could have rejected and the policy says so); nothing but that tag reaching
//     the threshold rejects, so temperror and permerror never do.
//   2 identity: SENDER NUL HELO (RFC 7208 §2.4): nothing to check only for a null sender
//     without a HELO domain (none, or one with '@'); the checked domain is what follows
//     the last '@' (or the HELO for the null sender); libspf2's sender is LOCAL@DOMAIN
//     with "postmaster" for a missing local part, and has the same identity again.
//   3 DNS outcomes: [1] status % 7, [2] bits for an address, a name, a text; [3..6] a
//     query type. h_errno is NETDB_SUCCESS exactly for records, TRY_AGAIN for every
//     temporary failure, never NO_RECOVERY; the query type maps to the resolver type of
//     the same number, and only for A, AAAA, MX, TXT and PTR.
// Aborts (with the decoded case on stderr) otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace smtpwall::fuzz {

void check_spf_result(const std::uint8_t* data, std::size_t size);

}  // namespace smtpwall::fuzz
