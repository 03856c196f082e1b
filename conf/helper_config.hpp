// The helper's own configuration (root-owned, e.g. /etc/smtpwall/helper.conf).
// Nothing in it can be changed by the milter.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/net.hpp"

namespace smtpwall::conf {

struct CoreEntry {
    Cidr net;
    std::vector<std::string> tags;
};

struct HelperConfig {
    std::string socket_path = "/run/smtpwall/helper.sock";
    std::string peer_user = "smtpwall";  // the only uid (besides none) allowed to connect
    std::string backend = "iptables";    // "iptables", "ipset" or "nftables"
    std::string chain = "SMTPWALL";      // also names the ipsets: <chain>4, <chain>6
    std::string table = "smtpwall";  // nftables: table inet <table>; default: chain in lower case
    std::vector<int> ports = {25};
    bool ipv6 = true;
    CidrList protected_nets;
    int min_prefix_v4 = 16;
    int min_prefix_v6 = 32;
    std::size_t max_entries = 100000;
    int max_adds_per_minute = 600;
    std::vector<CoreEntry> core;  // installed at start, never removed by requests
    std::string lock_path = "/run/xtables.lock";
    // How often the helper checks that its chain, hooks and entries are still in the
    // kernel (someone may flush the chain) and puts back what is missing.
    std::chrono::seconds repair_interval{30};
};

// Throws ConfigError ("file:line: ...") on any problem.
HelperConfig load_helper_config(const std::string& path);
HelperConfig parse_helper_config(std::string_view text, const std::string& name);

}  // namespace smtpwall::conf
