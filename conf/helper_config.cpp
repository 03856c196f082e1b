#include "conf/helper_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "common/tag.hpp"
#include "conf/config_reader.hpp"

namespace smtpwall::conf {

namespace {

HelperConfig from_table(const toml::table& root, const std::string& name) {
    HelperConfig cfg;
    TableReader top(root, name, "");

    if (auto helper = top.table("helper")) {
        cfg.socket_path = helper->string("socket", cfg.socket_path);
        cfg.peer_user = helper->string("peer_user", cfg.peer_user);
        if (cfg.socket_path.empty() || cfg.socket_path.front() != '/')
            helper->fail("socket", "must be an absolute path");
        if (cfg.socket_path.size() >= 108)
            helper->fail("socket", "path too long for a unix socket");
        if (cfg.peer_user.empty()) helper->fail("peer_user", "must name a user");
        helper->reject_unknown_keys();
    }
    if (auto fw = top.table("firewall")) {
        cfg.backend = fw->string("backend", cfg.backend);
        if (cfg.backend != "iptables" && cfg.backend != "ipset" && cfg.backend != "nftables")
            fw->fail("backend", fmt::format("\"{}\" is not a backend (iptables, ipset, nftables)",
                                            cfg.backend));
        cfg.chain = fw->string("chain", cfg.chain);
        if (cfg.chain.empty() || cfg.chain.size() > 28)
            fw->fail("chain", "must be 1 to 28 characters");
        for (char c : cfg.chain)
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
                fw->fail("chain", "may contain only letters, digits, '_' and '-'");
        // A built-in chain or a verdict name would make the helper hook or fill the
        // wrong thing (INPUT jumping to INPUT, rules appended to OUTPUT...).
        static constexpr std::array<std::string_view, 10> kReserved = {
            "INPUT",  "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING",
            "ACCEPT", "DROP",   "REJECT",  "RETURN",     "QUEUE"};
        for (auto reserved : kReserved)
            if (cfg.chain == reserved)
                fw->fail("chain", fmt::format("\"{}\" is a built-in chain or target", cfg.chain));
        // The nftables table: an nft identifier, spelled so that it never needs quoting.
        std::string table;
        for (char c : cfg.chain)
            table.push_back(
                c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        const bool explicit_table = fw->has("table");
        cfg.table = fw->string("table", table);
        const bool table_ok =
            !cfg.table.empty() && cfg.table.size() <= 32 && cfg.table.front() >= 'a' &&
            cfg.table.front() <= 'z' && std::all_of(cfg.table.begin(), cfg.table.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
            });
        if (!table_ok && (explicit_table || cfg.backend == "nftables"))
            fw->fail(explicit_table ? "table" : "chain",
                     explicit_table
                         ? std::string("must be 1 to 32 of [a-z0-9_], starting with a letter")
                         : fmt::format("\"{}\" does not make an nftables table name; set "
                                       "firewall.table",
                                       cfg.chain));
        cfg.ports.clear();
        for (auto port : fw->integers("ports", {25}, 1, 65535))
            cfg.ports.push_back(static_cast<int>(port));
        if (cfg.ports.empty()) fw->fail("ports", "needs at least one port");
        cfg.ipv6 = fw->boolean("ipv6", cfg.ipv6);
        cfg.lock_path = fw->string("xtables_lock", cfg.lock_path);
        if (cfg.lock_path.empty() || cfg.lock_path.front() != '/')
            fw->fail("xtables_lock", "must be an absolute path");
        cfg.repair_interval = fw->duration("repair_interval", cfg.repair_interval);
        if (cfg.repair_interval < std::chrono::seconds(1))
            fw->fail("repair_interval", "must be at least 1s");
        fw->reject_unknown_keys();
    }
    if (auto limits = top.table("limits")) {
        cfg.protected_nets = limits->networks("protected");
        cfg.min_prefix_v4 =
            static_cast<int>(limits->integer("min_prefix_v4", cfg.min_prefix_v4, 8, 32));
        cfg.min_prefix_v6 =
            static_cast<int>(limits->integer("min_prefix_v6", cfg.min_prefix_v6, 16, 128));
        cfg.max_entries = static_cast<std::size_t>(limits->integer(
            "max_entries", static_cast<std::int64_t>(cfg.max_entries), 1, 10'000'000));
        cfg.max_adds_per_minute = static_cast<int>(
            limits->integer("max_adds_per_minute", cfg.max_adds_per_minute, 1, 1'000'000));
        limits->reject_unknown_keys();
    }
    if (auto core = top.table("core")) {
        const auto tags = core->strings("tags", {});
        for (const auto& tag : tags)
            if (!valid_tag(tag)) core->fail("tags", fmt::format("\"{}\" is not a valid tag", tag));
        // Named: ranging over entries() of the temporary list would read freed memory.
        const CidrList networks = core->networks("networks");
        for (const auto& net : networks.entries()) cfg.core.push_back({net, tags});
        core->reject_unknown_keys();
    }
    top.reject_unknown_keys();
    return cfg;
}

}  // namespace

HelperConfig load_helper_config(const std::string& path) {
    return from_table(parse_toml_file(path), path);
}

HelperConfig parse_helper_config(std::string_view text, const std::string& name) {
    return from_table(parse_toml_text(text, name), name);
}

}  // namespace smtpwall::conf
