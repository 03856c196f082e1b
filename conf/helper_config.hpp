// The helper's own configuration (root-owned, e.g. /etc/smtpwall/helper.conf).
// Nothing in it can be changed by the milter. The initial values below are the
// defaults; helper_config.cpp declares each key once (its schema).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "conf/config_reader.hpp"

namespace smtpwall::conf {

struct CoreEntry {
    Cidr net;
    std::vector<std::string> tags;
};

struct HelperConfig {
    std::string socket_path = "/run/smtpwall-helper/helper.sock";
    std::string peer_user = "smtpwall";    // the only uid (besides root) allowed to connect
    std::string user = "smtpwall-helper";  // served as, after start-up, with two capabilities
    // The journal of accepted bans, restored at start; "": bans live only in the kernel.
    std::string state_file = "/var/lib/smtpwall-helper/entries";
    std::string backend = "iptables";  // "iptables", "ipset" or "nftables"
    std::string chain = "SMTPWALL";    // also names the ipsets: <chain>4, <chain>6
    std::string table;                 // nftables: table inet <table>; see nft_table()
    std::vector<int> ports = {25};
    bool ipv6 = true;
    CidrList protected_nets;
    int min_prefix_v4 = 16;
    int min_prefix_v6 = 32;
    std::size_t max_entries = 100000;
    int max_adds_per_minute = 600;
    int max_changes_per_minute = 6000;   // ADD (new or updated) and DEL that change something
    std::vector<Cidr> nat64_prefixes;    // besides 64:ff9b::/96 and 64:ff9b:1::/48
    CidrList core_networks;              // installed at start, never removed by requests...
    std::vector<std::string> core_tags;  // ...with these tags
    std::string lock_path = "/run/xtables.lock";
    // How often the helper checks that its chain, hooks and entries are still in the
    // kernel (someone may flush the chain) and puts back what is missing.
    std::chrono::seconds repair_interval{30};
    std::string source;  // the file it came from, for messages
    Locations where;     // "file:line" of each key the file set

    // The nftables table: `table`, or else the chain in lower case with '-' as '_'.
    std::string nft_table() const;
    std::vector<CoreEntry> core() const;
};

// Every key of helper.conf with its type, default and doc line.
std::vector<SettingInfo> helper_settings();

// Throws ConfigError ("file:line: ...") on any problem.
HelperConfig load_helper_config(const std::string& path);
HelperConfig parse_helper_config(std::string_view text, const std::string& name);

}  // namespace smtpwall::conf
