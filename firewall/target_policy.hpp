// What the helper may ever drop. Checked on every request, whatever the milter
// has already checked: the helper trusts no one with its firewall.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/net.hpp"

namespace smtpwall {

struct TargetLimits {
    CidrList protected_nets;               // from the helper's own config
    std::vector<IpAddress> own_addresses;  // the host's interface addresses
    int min_prefix_v4 = 16;
    int min_prefix_v6 = 32;
};

// nullopt when the network may be dropped, else why not (one short phrase).
std::optional<std::string> refusal_reason(const Cidr& net, const TargetLimits& limits);

}  // namespace smtpwall
