// What the helper may ever drop. Checked on every request, whatever the milter
// has already checked: the helper trusts no one with its firewall.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/embedded_v4.hpp"
#include "common/net.hpp"

namespace smtpwall {

struct TargetLimits {
    CidrList protected_nets;               // from the helper's own config
    std::vector<IpAddress> own_addresses;  // the host's interface addresses
    int min_prefix_v4 = 16;
    int min_prefix_v6 = 32;
    Ipv4Embedding embedding;  // the well-known translations and the config's NAT64 prefixes
};

// nullopt when the network may be dropped, else why not (one short phrase). An IPv6
// network that carries IPv4 (NAT64, 6to4) must pass every IPv4 rule with the IPv4
// network it carries, and a Teredo network must be a single address.
std::optional<std::string> refusal_reason(const Cidr& net, const TargetLimits& limits);

}  // namespace smtpwall
