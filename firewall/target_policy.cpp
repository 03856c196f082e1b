// What the helper refuses to drop, checked on every request.
#include "firewall/target_policy.hpp"

#include <fmt/format.h>

namespace smtpwall {

namespace {

// Ranges that are never a remote mail client, per family.
const std::vector<Cidr>& never_targets(Family family) {
    static const std::vector<Cidr> v4 = {
        *Cidr::parse("0.0.0.0/8"),    // "this network"
        *Cidr::parse("127.0.0.0/8"),  // loopback
        *Cidr::parse("169.254.0.0/16"),
        *Cidr::parse("224.0.0.0/3"),  // multicast, reserved, broadcast
    };
    static const std::vector<Cidr> v6 = {
        *Cidr::parse("::/128"),        *Cidr::parse("::1/128"),
        *Cidr::parse("::ffff:0:0/96"),  // IPv4-mapped: ban the IPv4 address instead
        *Cidr::parse("fe80::/10"),     *Cidr::parse("ff00::/8"),
    };
    return family == Family::v4 ? v4 : v6;
}

// The rules of the network's own family.
std::optional<std::string> plain_refusal(const Cidr& net, const TargetLimits& limits) {
    const int min_prefix = net.family() == Family::v4 ? limits.min_prefix_v4 : limits.min_prefix_v6;
    if (net.prefix < min_prefix)
        return fmt::format("prefix /{} is shorter than the minimum /{}", net.prefix, min_prefix);
    for (const auto& reserved : never_targets(net.family()))
        if (reserved.overlaps(net))
            return fmt::format("overlaps reserved range {}", reserved.to_string());
    // An own address or protected network written in a form that carries IPv4 (an
    // operator's NAT64 notation) shields that IPv4 too.
    for (const auto& own : limits.own_addresses) {
        const auto v4 = limits.embedding.carried(own);
        if (net.contains(own) || (v4 && net.contains(*v4)))
            return fmt::format("contains this host's address {}", own.to_string());
    }
    for (const auto& shielded : limits.protected_nets.entries()) {
        bool hit = shielded.overlaps(net);
        if (!hit && shielded.family() == Family::v6 && net.family() == Family::v4)
            for (const auto& carried : limits.embedding.carried(shielded)) {
                // Only a network written inside a translation prefix: one that merely
                // covers it (2001:db8::/32 around a NAT64 /96) is not about IPv4.
                const auto through = Cidr::parse(carried.through);
                hit = hit ||
                      (through && through->prefix <= shielded.prefix && carried.v4.overlaps(net));
            }
        if (hit) return fmt::format("overlaps protected network {}", shielded.to_string());
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> refusal_reason(const Cidr& net, const TargetLimits& limits) {
    if (auto why = plain_refusal(net, limits)) return why;
    if (net.family() != Family::v6) return std::nullopt;
    if (overlaps_teredo(net) && net.prefix < 128)
        return fmt::format(
            "Teredo network /{} is a relay shared by many clients: only single addresses",
            net.prefix);
    for (const auto& carried : limits.embedding.carried(net))
        if (auto why = plain_refusal(carried.v4, limits))
            return fmt::format("carries IPv4 {} through {}: {}", carried.v4.to_string(),
                               carried.through, *why);
    return std::nullopt;
}

}  // namespace smtpwall
