// The helper config property (see helper_config_check.hpp): the error message form and
// the bounds every setting of conf/helper_config.cpp's schema promises.
#include "test/fuzz/helper_config_check.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <string>
#include <string_view>

#include "common/embedded_v4.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/tag.hpp"
#include "conf/config_reader.hpp"
#include "conf/helper_config.hpp"
#include "test/fuzz/check_failure.hpp"
#include "test/fuzz/check_text.hpp"

namespace smtpwall::fuzz {

namespace {

// The file name the config is read under; every complaint must start with it.
constexpr std::string_view kName = "fuzz/helper.conf";

void require(bool ok, std::string_view what, std::string_view input, std::string_view detail = {}) {
    if (!ok) check_failed("helper config", what, kv_value(input), detail);
}

// The chain rules of helper_config.cpp: 1 to 28 of [A-Za-z0-9_-], no built-in name.
bool valid_chain(const std::string& chain) {
    if (chain.empty() || chain.size() > 28) return false;
    for (unsigned char c : chain)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    static constexpr std::array<std::string_view, 10> kBuiltIn = {
        "INPUT",  "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING",
        "ACCEPT", "DROP",   "REJECT",  "RETURN",     "QUEUE"};
    return std::find(kBuiltIn.begin(), kBuiltIn.end(), chain) == kBuiltIn.end();
}

// 1 to 32 of [a-z0-9_], starting with a letter.
bool valid_nft_name(const std::string& name) {
    if (name.empty() || name.size() > 32 || name.front() < 'a' || name.front() > 'z') return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

// [a-z0-9] then [a-z0-9-], at most kMaxTagLength (common/tag.hpp).
bool valid_tag_text(const std::string& tag) {
    if (tag.empty() || tag.size() > kMaxTagLength) return false;
    for (std::size_t i = 0; i < tag.size(); ++i) {
        const char c = tag[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && c == '-')))
            return false;
    }
    return true;
}

// A network as Cidr::parse makes it: prefix within the family, host bits (and an IPv4
// address's unused bytes) zero, and its text parses back to itself.
void check_network(const Cidr& net, std::string_view what, std::string_view text) {
    const int width = net.family() == Family::v4 ? 32 : 128;
    require(net.prefix >= 0 && net.prefix <= width, what, text, "prefix out of range");
    for (int bit = net.prefix; bit < 128; ++bit) {
        const auto byte = net.base.bytes[static_cast<std::size_t>(bit / 8)];
        require(((byte >> (7 - bit % 8)) & 1) == 0, what, text, "host bits set");
    }
    const auto again = Cidr::parse(net.to_string());
    require(again && *again == net, what, text, net.to_string());
}

void check_config(std::string_view text, const conf::HelperConfig& c) {
    check_locations("helper config", kName, text, c, conf::helper_settings());
    require(absolute(c.socket_path) && c.socket_path.size() < 108, "helper.socket", text,
            c.socket_path);
    require(!c.peer_user.empty(), "helper.peer_user is empty", text);
    require(!c.user.empty() && c.user != "root", "helper.user", text, c.user);
    require(c.state_file.empty() || absolute(c.state_file), "helper.state_file", text,
            c.state_file);
    require(c.backend == "iptables" || c.backend == "ipset" || c.backend == "nftables",
            "firewall.backend", text, c.backend);
    require(valid_chain(c.chain), "firewall.chain", text, c.chain);
    require(c.table.empty() || valid_nft_name(c.table), "firewall.table", text, c.table);
    require(c.backend != "nftables" || valid_nft_name(c.nft_table()),
            "nftables without a valid table name", text, c.nft_table());
    require(!c.ports.empty(), "firewall.ports is empty", text);
    for (int port : c.ports)
        require(port >= 1 && port <= 65535, "firewall.ports", text, std::to_string(port));
    require(absolute(c.lock_path), "firewall.xtables_lock", text, c.lock_path);
    require(c.repair_interval.count() >= 1, "firewall.repair_interval below 1s", text);
    require(c.min_prefix_v4 >= 8 && c.min_prefix_v4 <= 32, "limits.min_prefix_v4", text);
    require(c.min_prefix_v6 >= 16 && c.min_prefix_v6 <= 128, "limits.min_prefix_v6", text);
    require(c.max_entries >= 1 && c.max_entries <= 10'000'000, "limits.max_entries", text);
    require(c.max_adds_per_minute >= 1 && c.max_adds_per_minute <= 1'000'000,
            "limits.max_adds_per_minute", text);
    for (const auto& net : c.protected_nets.entries())
        check_network(net, "limits.protected holds a malformed network", text);
    for (const auto& net : c.nat64_prefixes) {
        check_network(net, "limits.nat64_prefixes holds a malformed network", text);
        require(valid_nat64_prefix(net), "limits.nat64_prefixes holds a non-RFC 6052 prefix", text,
                net.to_string());
    }
    for (const auto& net : c.core_networks.entries())
        check_network(net, "core.networks holds a malformed network", text);
    for (const auto& tag : c.core_tags)
        require(valid_tag_text(tag), "core.tags holds an invalid tag", text, tag);
    const auto core = c.core();
    require(core.size() == c.core_networks.entries().size(), "core() lost networks", text);
    for (std::size_t i = 0; i < core.size(); ++i)
        require(core[i].net == c.core_networks.entries()[i] && core[i].tags == c.core_tags,
                "core() changed an entry", text, core[i].net.to_string());
}

}  // namespace

void check_helper_config(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto config = parse_config("helper config", kName, text, conf::parse_helper_config);
    if (config) check_config(text, *config);
}

}  // namespace smtpwall::fuzz
