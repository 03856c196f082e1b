// The helper's settings, declared once (conf/schema.hpp). The helper reads its file
// only at start (SIGHUP is ignored), so every setting needs a restart.
#include "conf/helper_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "common/tag.hpp"
#include "conf/config_reader.hpp"
#include "conf/schema.hpp"

namespace smtpwall::conf {

namespace {

using Config = HelperConfig;
constexpr auto restart = Reload::restart;

// An nft identifier that never needs quoting.
bool valid_nft_table(std::string_view name) {
    return !name.empty() && name.size() <= 32 && name.front() >= 'a' && name.front() <= 'z' &&
           std::all_of(name.begin(), name.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
           });
}

std::optional<std::string> chain_problem(const std::string& chain) {
    if (chain.empty() || chain.size() > 28) return "must be 1 to 28 characters";
    for (char c : chain)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
            return "may contain only letters, digits, '_' and '-'";
    // A built-in chain or a verdict name would make the helper hook or fill the wrong
    // thing (INPUT jumping to INPUT, rules appended to OUTPUT...).
    static constexpr std::array<std::string_view, 10> kReserved = {
        "INPUT",  "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING",
        "ACCEPT", "DROP",   "REJECT",  "RETURN",     "QUEUE"};
    if (std::find(kReserved.begin(), kReserved.end(), chain) != kReserved.end())
        return fmt::format("\"{}\" is a built-in chain or target", chain);
    return std::nullopt;
}

std::optional<std::string> absolute_path(const std::string& path) {
    if (!path.empty() && path.front() == '/') return std::nullopt;
    return "must be an absolute path";
}

const Schema<Config>& schema() {
    static const Schema<Config> schema(
        {
            // [helper]
            setting<Config>(
                "helper", "socket", [](auto& c) -> auto& { return c.socket_path; },
                Text([](const std::string& path) -> std::optional<std::string> {
                    if (path.size() >= 108) return "path too long for a unix socket";
                    return absolute_path(path);
                }),
                restart, "the socket the milter connects to"),
            setting<Config>(
                "helper", "peer_user", [](auto& c) -> auto& { return c.peer_user; },
                Text([](const std::string& user) -> std::optional<std::string> {
                    if (user.empty()) return "must name a user";
                    return std::nullopt;
                }),
                restart, "the only user besides root allowed to connect"),
            setting<Config>(
                "helper", "user", [](auto& c) -> auto& { return c.user; },
                Text([](const std::string& user) -> std::optional<std::string> {
                    if (user.empty()) return "must name a user";
                    if (user == "root") return "must not be root: the helper gives uid 0 up";
                    return std::nullopt;
                }),
                restart, "the user the helper serves as, with only CAP_NET_ADMIN and CAP_NET_RAW"),
            setting<Config>(
                "helper", "state_file", [](auto& c) -> auto& { return c.state_file; },
                Text([](const std::string& path) -> std::optional<std::string> {
                    if (path.empty()) return std::nullopt;
                    return absolute_path(path);
                }),
                restart, "the journal of accepted entries, restored at start"),
            // [firewall]
            setting<Config>(
                "firewall", "backend", [](auto& c) -> auto& { return c.backend; },
                Text([](const std::string& backend) -> std::optional<std::string> {
                    if (backend == "iptables" || backend == "ipset" || backend == "nftables")
                        return std::nullopt;
                    return fmt::format("\"{}\" is not a backend (iptables, ipset, nftables)",
                                       backend);
                }),
                restart, "iptables, ipset or nftables"),
            setting<Config>(
                "firewall", "chain", [](auto& c) -> auto& { return c.chain; }, Text(chain_problem),
                restart, "the iptables chain smtpwall owns (and the ipsets' name)"),
            [] {
                auto s = setting<Config>(
                    "firewall", "table", [](auto& c) -> auto& { return c.table; },
                    Text([](const std::string& table) -> std::optional<std::string> {
                        if (valid_nft_table(table)) return std::nullopt;
                        return "must be 1 to 32 of [a-z0-9_], starting with a letter";
                    }),
                    restart, "the nftables table; default: the chain in lower case");
                s.show = [](const Config& c) { return toml_string(c.nft_table()); };
                return s;
            }(),
            setting<Config>(
                "firewall", "ports", [](auto& c) -> auto& { return c.ports; }, Integers(1, 65535),
                restart, "TCP ports whose new connections are checked"),
            setting<Config>(
                "firewall", "ipv6", [](auto& c) -> auto& { return c.ipv6; }, Flag(), restart,
                "manage ip6tables / IPv6 sets too"),
            setting<Config>(
                "firewall", "xtables_lock", [](auto& c) -> auto& { return c.lock_path; },
                Text(absolute_path), restart, "the xtables lock file"),
            setting<Config>(
                "firewall", "repair_interval", [](auto& c) -> auto& { return c.repair_interval; },
                Duration(std::chrono::seconds(1)), restart,
                "how often the kernel state is checked and repaired"),
            // [limits]
            setting<Config>(
                "limits", "protected", [](auto& c) -> auto& { return c.protected_nets; },
                Networks(), restart, "networks never dropped"),
            setting<Config>(
                "limits", "min_prefix_v4", [](auto& c) -> auto& { return c.min_prefix_v4; },
                Integer(8, 32), restart, "no IPv4 entry wider than this"),
            setting<Config>(
                "limits", "min_prefix_v6", [](auto& c) -> auto& { return c.min_prefix_v6; },
                Integer(16, 128), restart, "no IPv6 entry wider than this"),
            setting<Config>(
                "limits", "max_entries", [](auto& c) -> auto& { return c.max_entries; },
                Integer(1, 10'000'000), restart, "entries at most"),
            setting<Config>(
                "limits", "max_adds_per_minute",
                [](auto& c) -> auto& { return c.max_adds_per_minute; }, Integer(1, 1'000'000),
                restart, "new entries per minute at most"),
            setting<Config>(
                "limits", "max_changes_per_minute",
                [](auto& c) -> auto& { return c.max_changes_per_minute; }, Integer(1, 10'000'000),
                restart, "ADD and DEL requests that change the firewall, per minute at most"),
            setting<Config>(
                "limits", "nat64_prefixes", [](auto& c) -> auto& { return c.nat64_prefixes; },
                Nat64Prefixes(), restart, "the site's own NAT64 prefixes (RFC 6052)"),
            // [core]
            setting<Config>(
                "core", "networks", [](auto& c) -> auto& { return c.core_networks; }, Networks(),
                restart, "netblocks dropped from start-up on"),
            setting<Config>(
                "core", "tags", [](auto& c) -> auto& { return c.core_tags; },
                Texts([](const std::string& tag) -> std::optional<std::string> {
                    if (valid_tag(tag)) return std::nullopt;
                    return "is not a valid tag";
                }),
                restart, "the tags the core entries carry"),
        },
        {
            {"firewall.chain",
             [](const Config& c) -> std::optional<std::string> {
                 if (c.backend != "nftables" || valid_nft_table(c.nft_table())) return std::nullopt;
                 return fmt::format(
                     "\"{}\" does not make an nftables table name; set "
                     "firewall.table",
                     c.chain);
             }},
            {"firewall.ports",
             [](const Config& c) -> std::optional<std::string> {
                 if (!c.ports.empty()) return std::nullopt;
                 return "needs at least one port";
             }},
        });
    return schema;
}

}  // namespace

std::string HelperConfig::nft_table() const {
    if (!table.empty()) return table;
    std::string derived;
    for (char c : chain)
        derived.push_back(
            c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    return derived;
}

std::vector<CoreEntry> HelperConfig::core() const {
    std::vector<CoreEntry> out;
    for (const auto& net : core_networks.entries()) out.push_back({net, core_tags});
    return out;
}

std::vector<SettingInfo> helper_settings() {
    return schema().describe();
}

HelperConfig load_helper_config(const std::string& path) {
    return schema().read(parse_toml_file(path), path);
}

HelperConfig parse_helper_config(std::string_view text, const std::string& name) {
    return schema().read(parse_toml_text(text, name), name);
}

}  // namespace smtpwall::conf
