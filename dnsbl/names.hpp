// DNS names as text: validation/normalisation of query names and the reverse
// names used for PTR and DNSBL queries. Pure functions, no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/net.hpp"

namespace smtpwall::dns {

// The canonical form of a query name: lower case, no trailing dot. nullopt when the
// name is empty, longer than 253 characters, has an empty or over-long (> 63) label,
// or contains anything but letters, digits, '-', '_' and '/' (RFC 2317 zones use it):
// such names cannot come from an honest caller and are never sent.
std::optional<std::string> normalize_name(std::string_view name);

// "7.2.0.192.in-addr.arpa" / nibble ".ip6.arpa"; with a zone, the DNSBL form
// "7.2.0.192.zen.example" (nibbles for IPv6). An IPv4-mapped IPv6 address is
// treated as IPv4, as the MTA reports the client that way on dual-stack sockets.
std::string reverse_name(const IpAddress& addr, std::string_view zone = {});

}  // namespace smtpwall::dns
