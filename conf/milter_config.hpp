// The milter's configuration (/etc/smtpwall/smtpwall.conf): where it listens,
// what it checks and when it escalates to a ban. Immutable once loaded; a reload
// builds a new one and sessions keep the one they started with. The initial values
// below are the defaults; milter_config.cpp declares each key once (its schema).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/code_filter.hpp"
#include "common/net.hpp"
#include "common/pattern.hpp"
#include "conf/config_reader.hpp"
#include "conf/escalation_rule.hpp"

namespace smtpwall::conf {

struct MilterConfig {
    struct Milter {
        std::string socket = "/run/smtpwall/milter.sock";
        unsigned socket_mode = 0660;
        std::string socket_group;  // empty: keep the user's primary group
        std::string user = "smtpwall";
        std::chrono::seconds timeout{30};  // libmilter's per-read timeout towards the MTA
        // Observe mode: classify, tally and log what would be rejected and banned;
        // reject nothing, ban nothing.
        bool observe = false;
    } milter;

    struct Control {
        std::string socket = "/run/smtpwall/control.sock";
        unsigned socket_mode = 0660;
        std::string socket_group;
        // Who may ban, unban, allow and reload (root always may). Everyone who can
        // open the socket may read.
        std::vector<std::string> admin_users;
        std::string admin_group;
        std::string metrics_listen;  // "127.0.0.1:9253": HTTP /metrics on loopback; empty: off
        // A local user must not pin the milter's descriptors or its DNSBL quota: caps on
        // connections (admins always find room: only the per-user cap counts for them),
        // timeouts, and live `check` per minute for users who are not admins.
        std::size_t max_connections = 64;
        std::size_t max_connections_per_user = 8;
        std::chrono::seconds idle_timeout{60};
        std::chrono::seconds write_timeout{10};
        int checks_per_minute = 30;
    } control;

    struct Helper {
        std::string socket = "/run/smtpwall-helper/helper.sock";
        std::string user = "smtpwall-helper";  // who must serve that socket (or root)
    } helper;

    struct Identity {
        std::vector<std::string> hostnames;  // our own names; the MTA's {j} is added per session
        std::vector<IpAddress> addresses;    // our own addresses
    } identity;

    struct Checks {
        // Patterns: "local@domain", "local@" (any domain), "@domain" (whole domain).
        std::vector<std::string> spamtraps;
        std::vector<std::string> exempt_recipients = {"postmaster@", "abuse@"};
        CidrList allowlist;
    } checks;

    struct Tally {
        int ipv4_prefix = 32;
        int ipv6_prefix = 64;
        std::chrono::seconds window{3600};  // the longest span a rule may look back
        std::size_t max_entries = 1'000'000;
        // A client arriving from inside one of these (RFC 6052) is the IPv4 it carries:
        // judged and tallied as that IPv4, banned as exactly its own IPv6 address.
        std::vector<Cidr> nat64_prefixes = {*Cidr::parse("64:ff9b::/96")};
    } tally;

    struct Escalation {
        std::vector<EscalationRule> rules = default_escalation_rules();
        std::chrono::seconds ban_duration{7 * 86400};
        double repeat_growth = 2.0;
        std::chrono::seconds max_ban_duration{90 * 86400};
        double good_mail_ratio = 1.0;
    } escalation;

    // Large providers' outbound hosts, DNSWL-listed clients and clients with a good-mail
    // history are shared relays: rejected like anyone, banned only by rules on spamtrap
    // evidence that say "including shared-relay", never in a netblock.
    struct SharedRelays {
        std::vector<std::string> add_domains;     // on top of the shipped list
        std::vector<std::string> remove_domains;  // taken from the shipped list
        std::uint32_t good_mail = 10;             // accepted messages that make one (0: never)
        std::chrono::seconds max_ban{86400};      // the longest ban of a shared relay
        // The shipped list with the operator's changes: what a PTR is matched against.
        std::vector<std::string> domains() const;
    } shared_relays;

    // Several MX hosts acting as one through Redis (milter/cluster.hpp). Off unless
    // `redis` or `sentinels` is set: a single host keeps SQLite only.
    struct Cluster {
        std::string redis;                   // "unix:/path" or "192.0.2.5:6379" (numeric)
        std::vector<std::string> sentinels;  // "192.0.2.5:26379"...: Redis Sentinel instead
        std::string master_name = "smtpwall";
        std::string host_name;  // this MX in the cluster; empty: the system's host name
        std::string key_prefix = "sw:";
        std::string user;           // Redis ACL user; empty: the default user
        std::string password_file;  // its password, root- or milter-user-readable only
        std::chrono::milliseconds connect_timeout{1000};
        std::chrono::milliseconds command_timeout{1000};
        bool enabled() const { return !redis.empty() || !sentinels.empty(); }
    } cluster;

    struct Aggregation {
        bool enabled = true;
        int ipv4_prefix = 24;
        int ipv6_prefix = 48;
        std::uint32_t min_banned = 4;
    } aggregation;

    struct Dns {
        bool enabled = true;
        std::vector<std::string>
            servers;  // "addr" or "addr:port" / "[v6]:port"; empty: /etc/resolv.conf
        std::chrono::milliseconds timeout{1500};  // per attempt
        int attempts = 2;
        std::chrono::milliseconds deadline{8000};  // how long a session's verdict may wait for DNS
        bool tempfail_on_failure = true;           // false: failed lookups are ignored
        std::uint32_t min_ttl = 60, max_ttl = 86400, max_negative_ttl = 3600;
        std::size_t cache_entries = 100000;
        std::size_t cache_megabytes = 64;  // and the memory those answers may take
        // Distinct HELO names one session looks up as they come (A, AAAA, MX each);
        // past that only the latest, when a verdict needs it.
        int helo_lookups = 3;
        std::chrono::seconds zone_suspension{600};  // after a "query refused" answer
        std::chrono::seconds probe_interval{300};   // health probe of every zone (0: never)
    } dns;

    struct Scoring {
        int threshold = 10;
        std::map<std::string, int> weights;  // overrides of the built-in tags' weights
    } scoring;

    struct Zone {
        std::string tag, zone;
        CodeFilter codes;
        int weight = 10;
        bool ipv4 = true, ipv6 = false, txt = true;
        bool operator==(const Zone&) const = default;
    };
    std::vector<Zone> zones;  // [[zone]]: DNSBLs (weight > 0) and DNSWLs (weight < 0)

    struct Dialup {
        std::vector<Pattern> patterns;  // extra PCRE2 patterns for dynamic host parts
    } dialup;

    struct Spf {
        bool enabled = true;
        // libspf2 blocks its thread on every DNS answer: size for the sessions in
        // flight at once (about sessions per second x DNS round trip).
        int workers = 32;
        // Distinct senders one session checks as they come; a repeated one costs nothing;
        // past that only the latest, when a verdict needs it.
        int session_checks = 3;
        // Workers one client (address, IPv6 /64) may hold at once: a client whose
        // sender domain's DNS is slow only slows itself.
        int client_workers = 2;
    } spf;

    struct State {
        std::string file = "/var/lib/smtpwall/state.db";  // empty: keep nothing across restarts
        std::chrono::seconds flush_interval{1};
    } state;

    struct History {
        // The firewall's counters and the milter's own counts are sampled this often
        // (and before an entry leaves the kernel); a crash loses at most this much.
        std::chrono::seconds sample_interval{300};
        std::chrono::seconds retention{35 * 86400};
    } history;

    std::string source;  // the file it came from, for messages
    Locations where;     // "file:line" of each key the file set
};

// "192.0.2.53", "192.0.2.53:5353", "::1", "[::1]:5353" -> address and port (the
// default port when none is given). Numeric only: nothing here asks DNS.
std::optional<std::pair<IpAddress, std::uint16_t>> parse_host_port(std::string_view text,
                                                                   std::uint16_t default_port);

// The settings that differ between two configs but are read only at start
// ("milter.socket", "dns", ...): a reload names them instead of applying them.
std::vector<std::string> restart_only_changes(const MilterConfig& running,
                                              const MilterConfig& file);

// What a reload puts in force: `running` with every reloadable setting from `file`.
MilterConfig reloaded(const MilterConfig& running, const MilterConfig& file);

// Every key of smtpwall.conf with its type, default, doc line and reload rule.
std::vector<SettingInfo> milter_settings();

// Throws ConfigError ("file:line: ...") on any problem.
MilterConfig load_milter_config(const std::string& path);
MilterConfig parse_milter_config(std::string_view text, const std::string& name);

}  // namespace smtpwall::conf
