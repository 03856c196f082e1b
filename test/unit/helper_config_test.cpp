// The helper's root-owned config: strict, and every complaint says file:line.
#include <boost/test/unit_test.hpp>

#include <string>

#include "conf/config_reader.hpp"
#include "conf/helper_config.hpp"

using namespace smtpwall;
using namespace smtpwall::conf;

namespace {

// The message of the ConfigError the text provokes ("" if it parses).
std::string error_of(std::string_view text) {
    try {
        parse_helper_config(text, "helper.conf");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

void require_error(std::string_view text, std::string_view location, std::string_view words) {
    const auto message = error_of(text);
    BOOST_TEST_INFO("config:\n" << text << "\nerror: " << message);
    BOOST_TEST(message.find(location) != std::string::npos);
    BOOST_TEST(message.find(words) != std::string::npos);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(helper_config)

BOOST_AUTO_TEST_CASE(defaults_from_an_empty_file) {
    const auto cfg = parse_helper_config("", "helper.conf");
    BOOST_TEST(cfg.socket_path == "/run/smtpwall-helper/helper.sock");
    BOOST_TEST(cfg.peer_user == "smtpwall");
    BOOST_TEST(cfg.backend == "iptables");
    BOOST_TEST(cfg.chain == "SMTPWALL");
    BOOST_TEST((cfg.ports == std::vector<int>{25}));
    BOOST_TEST(cfg.ipv6);
    BOOST_TEST(cfg.protected_nets.empty());
    BOOST_TEST(cfg.min_prefix_v4 == 16);
    BOOST_TEST(cfg.min_prefix_v6 == 32);
    BOOST_TEST(cfg.max_entries == 100000u);
    BOOST_TEST(cfg.max_adds_per_minute == 600);
    BOOST_TEST(cfg.core().empty());
    BOOST_TEST(cfg.lock_path == "/run/xtables.lock");
    BOOST_TEST(cfg.repair_interval.count() == 30);
}

BOOST_AUTO_TEST_CASE(a_complete_config) {
    const auto cfg = parse_helper_config(R"(
[helper]
socket = "/run/smtpwall/h.sock"
peer_user = "milter"

[firewall]
backend = "iptables"
chain = "SW_TEST-1"
ports = [25, 587, 2525]
ipv6 = false
xtables_lock = "/tmp/x.lock"
repair_interval = "2m"

[limits]
protected = ["198.51.100.0/24", "2001:db8:ffff::/48", "192.0.2.7"]
min_prefix_v4 = 20
min_prefix_v6 = 48
max_entries = 5000
max_adds_per_minute = 30

[core]
networks = ["203.0.113.0/24", "2001:db8:bad::/48"]
tags = ["core", "spam-net"]
)",
                                         "helper.conf");
    BOOST_TEST(cfg.socket_path == "/run/smtpwall/h.sock");
    BOOST_TEST(cfg.peer_user == "milter");
    BOOST_TEST(cfg.chain == "SW_TEST-1");
    BOOST_TEST((cfg.ports == std::vector<int>{25, 587, 2525}));
    BOOST_TEST(!cfg.ipv6);
    BOOST_TEST(cfg.lock_path == "/tmp/x.lock");
    BOOST_TEST(cfg.repair_interval.count() == 120);
    BOOST_TEST(cfg.protected_nets.entries().size() == 3u);
    BOOST_TEST(cfg.protected_nets.contains(*IpAddress::parse("198.51.100.200")));
    BOOST_TEST(cfg.protected_nets.contains(*IpAddress::parse("192.0.2.7")));
    BOOST_TEST(!cfg.protected_nets.contains(*IpAddress::parse("192.0.2.8")));
    BOOST_TEST(cfg.min_prefix_v4 == 20);
    BOOST_TEST(cfg.min_prefix_v6 == 48);
    BOOST_TEST(cfg.max_entries == 5000u);
    BOOST_TEST(cfg.max_adds_per_minute == 30);
    const auto core = cfg.core();
    BOOST_REQUIRE(core.size() == 2u);
    BOOST_TEST(core[0].net.to_string() == "203.0.113.0/24");
    BOOST_TEST(core[1].net.to_string() == "2001:db8:bad::/48");
    BOOST_TEST((core[1].tags == std::vector<std::string>{"core", "spam-net"}));
}

BOOST_AUTO_TEST_CASE(repair_interval_as_seconds) {
    BOOST_TEST(
        parse_helper_config("[firewall]\nrepair_interval = 1\n", "h").repair_interval.count() == 1);
    require_error("[firewall]\nrepair_interval = 0\n", "helper.conf:2", "repair_interval");
    require_error("[firewall]\nrepair_interval = \"soon\"\n", "helper.conf:2", "repair_interval");
}

BOOST_AUTO_TEST_CASE(unknown_keys_name_their_line) {
    require_error("[helper]\nsocket = \"/run/x.sock\"\nsokcet = \"/run/y.sock\"\n", "helper.conf:3",
                  "helper.sokcet");
    require_error("\n\n[firewall]\nchain = \"X\"\nport = [25]\n", "helper.conf:5", "firewall.port");
    require_error("[limits]\nmax_entries = 10\nmax_entires = 10\n", "helper.conf:3",
                  "limits.max_entires");
    require_error("[core]\nnetwork = [\"203.0.113.0/24\"]\n", "helper.conf:2", "core.network");
    require_error("[helpr]\nsocket = \"/x\"\n", "helper.conf:1", "helpr");
    require_error("verbose = true\n", "helper.conf:1", "verbose");
}

BOOST_AUTO_TEST_CASE(bad_networks_name_their_line) {
    require_error("[limits]\nprotected = [\n  \"198.51.100.0/24\",\n  \"198.51.100.1/24\",\n]\n",
                  "helper.conf:4", "198.51.100.1/24");
    require_error("[core]\ntags = [\"core\"]\nnetworks = [\"203.0.113.0/33\"]\n", "helper.conf:3",
                  "203.0.113.0/33");
    require_error("[core]\nnetworks = [\"example.org\"]\n", "helper.conf:2", "example.org");
    require_error("[limits]\nprotected = \"198.51.100.0/24\"\n", "helper.conf:2", "protected");
    require_error("[limits]\nprotected = [24]\n", "helper.conf:2", "protected");
}

BOOST_AUTO_TEST_CASE(bad_ports) {
    require_error("[firewall]\nports = [0]\n", "helper.conf:2", "ports");
    require_error("[firewall]\nports = [25, 65536]\n", "helper.conf:2", "ports");
    require_error("[firewall]\nports = [-25]\n", "helper.conf:2", "ports");
    require_error("[firewall]\nports = [\"smtp\"]\n", "helper.conf:2", "ports");
    require_error("[firewall]\nports = 25\n", "helper.conf:2", "ports");
    require_error("[firewall]\nports = []\n", "helper.conf:2", "ports");
}

BOOST_AUTO_TEST_CASE(bad_chain_names) {
    require_error("[firewall]\nchain = \"\"\n", "helper.conf:2", "firewall.chain");
    require_error("[firewall]\nchain = \"SMTP WALL\"\n", "helper.conf:2", "firewall.chain");
    require_error("[firewall]\nchain = \"SMTP;WALL\"\n", "helper.conf:2", "firewall.chain");
    require_error("[firewall]\nchain = \"A23456789012345678901234567890\"\n", "helper.conf:2",
                  "firewall.chain");
    require_error("[firewall]\nchain = \"INPUT\"\n", "helper.conf:2", "built-in");
    require_error("[firewall]\nchain = \"DROP\"\n", "helper.conf:2", "built-in");
    require_error("[firewall]\nchain = 5\n", "helper.conf:2", "firewall.chain");
    BOOST_TEST(parse_helper_config("[firewall]\nchain = \"input\"\n", "h").chain == "input");
}

BOOST_AUTO_TEST_CASE(backends_and_the_nftables_table) {
    BOOST_TEST(parse_helper_config("", "h").nft_table() == "smtpwall");
    auto cfg = parse_helper_config("[firewall]\nbackend = \"ipset\"\n", "h");
    BOOST_TEST(cfg.backend == "ipset");
    cfg = parse_helper_config("[firewall]\nbackend = \"nftables\"\nchain = \"SW-Test_1\"\n", "h");
    BOOST_TEST(cfg.backend == "nftables");
    BOOST_TEST(cfg.nft_table() == "sw_test_1");  // the chain, lower case, '-' as '_'
    cfg = parse_helper_config("[firewall]\nbackend = \"nftables\"\ntable = \"mail_bans\"\n", "h");
    BOOST_TEST(cfg.nft_table() == "mail_bans");
    // A chain that makes no table name matters only to the nftables backend.
    BOOST_TEST(parse_helper_config("[firewall]\nchain = \"1WALL\"\n", "h").chain == "1WALL");
    require_error("[firewall]\nbackend = \"nftables\"\nchain = \"1WALL\"\n", "helper.conf:3",
                  "set firewall.table");
    require_error("[firewall]\ntable = \"Bans\"\n", "helper.conf:2", "firewall.table");
    require_error("[firewall]\ntable = \"a\\\"; flush ruleset\"\n", "helper.conf:2",
                  "firewall.table");
    require_error("[firewall]\ntable = \"\"\n", "helper.conf:2", "firewall.table");
    require_error("[firewall]\ntable = \"" + std::string(33, 'a') + "\"\n", "helper.conf:2",
                  "firewall.table");
    require_error("[firewall]\nbackend = \"nft\"\n", "helper.conf:2", "iptables, ipset, nftables");
}

BOOST_AUTO_TEST_CASE(other_bad_values) {
    require_error("[helper]\nsocket = \"relative.sock\"\n", "helper.conf:2", "helper.socket");
    require_error("[helper]\nsocket = \"/" + std::string(120, 'x') + "\"\n", "helper.conf:2",
                  "helper.socket");
    require_error("[helper]\npeer_user = \"\"\n", "helper.conf:2", "helper.peer_user");
    require_error("[firewall]\nbackend = \"pf\"\n", "helper.conf:2", "firewall.backend");
    require_error("[firewall]\nipv6 = \"yes\"\n", "helper.conf:2", "firewall.ipv6");
    require_error("[firewall]\nxtables_lock = \"xtables.lock\"\n", "helper.conf:2",
                  "firewall.xtables_lock");
    require_error("[limits]\nmin_prefix_v4 = 4\n", "helper.conf:2", "limits.min_prefix_v4");
    require_error("[limits]\nmin_prefix_v6 = 129\n", "helper.conf:2", "limits.min_prefix_v6");
    require_error("[limits]\nmax_entries = 0\n", "helper.conf:2", "limits.max_entries");
    require_error("[limits]\nmax_adds_per_minute = 0\n", "helper.conf:2",
                  "limits.max_adds_per_minute");
    require_error("[core]\ntags = [\"Core\"]\nnetworks = []\n", "helper.conf:2", "Core");
    require_error("[firewall]\nchain = \"A\"\nchain = \"B\"\n", "helper.conf:3", "");  // TOML
    require_error("[firewall\n", "helper.conf:1", "");
}

BOOST_AUTO_TEST_CASE(load_from_a_file_names_the_file) {
    BOOST_CHECK_THROW(load_helper_config("/nonexistent/helper.conf"), ConfigError);
    try {
        load_helper_config("/nonexistent/helper.conf");
    } catch (const ConfigError& e) {
        BOOST_TEST(std::string(e.what()).find("/nonexistent/helper.conf") != std::string::npos);
    }
}

BOOST_AUTO_TEST_SUITE_END()
