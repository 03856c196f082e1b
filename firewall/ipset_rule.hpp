// The iptables half of the ipset backend: the chain, its SYN-only INPUT hooks and one
// "-m set --match-set <set> src -j DROP" rule per family, written with libiptc. Kept
// apart from ipset_backend.cpp because libipset's headers and the kernel's netfilter
// headers that libiptc pulls in cannot share a translation unit.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace smtpwall::firewall {

class XtablesLockFile;

struct IpsetRuleSpec {
    std::string chain;                      // our chain in the filter table
    std::set<int> ports;                    // hooked from INPUT
    const XtablesLockFile* lock = nullptr;  // the xtables lock, opened at start-up
    std::string set4;                       // the IPv4 set (hash:net family inet)
    std::optional<std::string> set6;        // the IPv6 set, if IPv6 is on
};

// Makes the chain, hooks and set rules what they should be; removes per-entry rules the
// iptables backend may have left in the chain. The sets must exist. Returns one line per
// repair. Throws BackendError.
std::vector<std::string> ensure_ipset_rules(const IpsetRuleSpec& spec);

}  // namespace smtpwall::firewall
