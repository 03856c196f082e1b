// IPv4 carried inside IPv6. A client that reaches us through a translator arrives
// with an IPv6 address that is really an IPv4 one: IPv4-mapped (::ffff:0:0/96), NAT64
// (RFC 6052: the well-known 64:ff9b::/96, the local-use 64:ff9b:1::/48, or an
// operator's prefix of /32, /40, /48, /56, /64 or /96) and 6to4 (2002::/16). Such an
// address is judged, tallied and banned as the IPv4 it carries, and an IPv6 network
// that covers a translation prefix covers IPv4 space: 64:ff9b::/96 is the whole IPv4
// Internet. Teredo (2001::/32) is different: its /64s are relays shared by many
// clients, so only single Teredo addresses may ever be tallied or banned.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/net.hpp"

namespace smtpwall {

// An RFC 6052 NAT64 prefix length (/32 /40 /48 /56 /64 /96) with bits 64..71 zero.
bool valid_nat64_prefix(const Cidr& prefix);

// 2001::/32.
bool is_teredo(const IpAddress& addr);
bool overlaps_teredo(const Cidr& net);

class Ipv4Embedding {
  public:
    // The well-known translations, plus the operator's NAT64 prefixes (each must pass
    // valid_nat64_prefix; the config checks). With `well_known_nat64` false, only the
    // operator's prefixes count as NAT64 (mapped and 6to4 always count).
    explicit Ipv4Embedding(const std::vector<Cidr>& nat64_prefixes = {},
                           bool well_known_nat64 = true);

    // The IPv4 address `addr` carries, if any.
    std::optional<IpAddress> carried(const IpAddress& addr) const;

    struct Carried {
        Cidr v4;              // the IPv4 network the members of the IPv6 network carry
        std::string through;  // the translation prefix, for messages
    };
    // For every translation prefix `net` overlaps: the IPv4 network its members carry
    // (0.0.0.0/0 when `net` covers the whole prefix).
    std::vector<Carried> carried(const Cidr& net) const;

    // The IPv6 network through which the IPv4 network `v4` arrives in the translation
    // that `addr` belongs to: the NAT64 /128 of an IPv4 /32, the 6to4 /48 of an IPv4
    // /32, the IPv4 network itself for a mapped address. nullopt if `addr` carries no
    // IPv4.
    std::optional<Cidr> carrier(const IpAddress& addr, const Cidr& v4) const;

  private:
    struct Translation {
        Cidr prefix;
        bool skips_u_octet = false;  // RFC 6052 prefixes shorter than /96: bits 64..71 stay 0
        bool mapped = false;
    };
    const Translation* translation_of(const IpAddress& addr) const;
    static int position(const Translation& t, int v4_bit);

    std::vector<Translation> translations_;
};

}  // namespace smtpwall
