// DNS packet codec: builds queries and turns replies into Results. A query (one name,
// nothing to compress) is built here; ldns parses replies, and this wrapper adds what
// a stub resolver must check itself (reply matches the question, CNAME chains,
// RFC 2308 negative TTLs). Pure, no I/O, so it is unit-tested and fuzzed directly.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dnsbl/result.hpp"

namespace smtpwall::dns {

inline constexpr std::uint16_t edns_buffer_size = 1232;  // DNS flag day 2020: no fragmentation
inline constexpr int max_cname_chain = 8;
// What one reply may put in a Result (and so in the cache): records of the asked type
// beyond these are dropped, so a hostile zone's 64 KiB answer costs no more than this
// (but for up to two SPF records among many TXT records, which are always kept).
inline constexpr std::size_t max_answer_records = 64;
inline constexpr std::size_t max_answer_text = 16384;  // TXT bytes, all records together

// A query for `name` (already normalised) with RD set and, if edns_size > 0, an EDNS0
// OPT record advertising that buffer size. Empty for an empty or over-long name or
// label, or a backslash (escapes are not spoken here).
std::vector<std::uint8_t> encode_query(std::string_view name, RType type, std::uint16_t id,
                                       std::uint16_t edns_size = edns_buffer_size);

void set_packet_id(std::span<std::uint8_t> packet, std::uint16_t id);
std::uint16_t packet_id(std::span<const std::uint8_t> packet);  // 0 if shorter than a header

// True if `reply` answers `query`: same id, QR set, standard opcode, exactly one
// question equal to ours (name compared case-insensitively, type and class exact).
// Anything else is ignored by the resolver, which keeps waiting for the real reply:
// a forged or stray datagram must never end a lookup.
bool matches_query(std::span<const std::uint8_t> reply, std::span<const std::uint8_t> query);

struct Reply {
    Result result;             // status, data and TTL (min over the RRs used)
    bool truncated = false;    // TC set: nothing else is valid, retry over TCP
    bool cacheable = true;     // false for a negative answer without SOA (RFC 2308 §5)
    std::string cname_target;  // non-empty: the answer ends in a CNAME to this name
                               // without its data; result.ttl is the chain's TTL
};

// Decodes a reply already known to match the query for (qname, qtype). Follows CNAME
// chains inside the answer (RFC 2317 classless reverse delegation relies on that).
// Malformed packets and CNAME loops give Status::error.
Reply decode_reply(std::span<const std::uint8_t> reply, std::string_view qname, RType qtype);

}  // namespace smtpwall::dns
