// smtpwall-helper: the only privileged part of smtpwall. It owns one set of firewall
// entries, IPv4 and IPv6, in one of three backends ([firewall] backend): an iptables
// chain with a rule per entry (libiptc, iptc_backend.cpp), two ipsets referenced by one
// iptables rule per family (libipset, ipset_backend.cpp) or an nftables table with one
// set per prefix length (libnftables, nft_backend.cpp). It keeps the static "core" list
// from its own root-owned config in it from boot, and adds and removes DROP entries on
// behalf of one peer: smtpwall-milter, connecting over a unix socket.
//
// Security stance: the peer is trusted with nothing but asking. Only the configured
// peer uid (and root) may connect (SO_PEERCRED); every address is re-checked here
// (never loopback, link-local, multicast, this host's own addresses, the configured
// protected networks, or networks shorter than the minimum prefix); entry count and
// add rate are capped, so a confused or compromised milter can neither lock the host
// out nor flood the kernel. It starts as root, opens the xtables lock and its firewall
// handles, becomes its own user ([helper] user, never root), makes its socket in a
// directory only that user may write, and serves with no supplementary groups,
// only CAP_NET_ADMIN and CAP_NET_RAW in any set, no_new_privs and the securebits that
// keep uid 0 from meaning anything again (privileges.cpp); a failed drop is fatal.
// Replies are budgeted per connection (helper_server.cpp). It never runs a program or builds a
// shell command (the nftables backend hands command text to libnftables' own parser in
// this process; nft_backend.cpp says why that text is safe). Bans live in the kernel:
// stopping the helper leaves them in place and a restarted helper reads them back (each
// rule's, set member's or set element's comment carries tags and expiry).
//
// Helper protocol, version 1
// --------------------------
// Transport: unix stream socket (config [helper] socket), mode 0600, owned by the peer
// user. Text lines of printable ASCII ended by "\n" (no CR); at most 512 bytes per line
// including the newline, in both directions; single spaces between words, none leading
// or trailing. Error codes are one lower-case word; OK and ERR texts are never empty.
//
// On connect the helper sends the greeting:      SMTPWALL-HELPER 1
// A refused peer instead gets one line and the connection is closed:
//                                                0 ERR refused peer uid N not allowed
//                                                0 ERR limit too many connections
// Requests:  <id> <VERB> [args]   id: decimal 1..4294967295, no leading zeros, chosen by
// the client (echoed in the reply; the helper does not care about uniqueness).
//
//   <id> HELLO <version>           must be the first request of a connection
//        -> <id> OK 1              (a different version: <id> ERR version ... and close)
//   <id> PING                      -> <id> OK pong
//   <id> ADD <cidr> <expires> <tags>
//        cidr: a.b.c.d, a.b.c.d/len, x::y, x::y/len, host bits zero
//        expires: unix seconds, 0 = never (the helper removes expired entries itself)
//        tags: "-" or up to 8 comma-separated [a-z0-9][a-z0-9-]{0,23}
//        -> <id> OK added | <id> OK updated    (an update replaces expiry and tags and
//           keeps the counters)
//   <id> DEL <cidr>                -> <id> OK deleted | <id> OK absent
//   <id> LIST                      -> zero or more
//        <id> ENTRY <cidr> <packets> <bytes> <core|dyn> <expires> <tags>
//        then <id> OK <count>
//   <id> SYNC BEGIN                -> <id> OK syncing
//        Full-state sync: the client sends its complete set of active bans as ADDs,
//        then SYNC END. While the sync is open on this connection:
//          ADD  is checked exactly like any ADD (refusals are answered and logged, and
//               the entry is then not part of the set) and staged, not applied:
//               -> <id> OK staged. The rate cap applies only to entries the firewall
//               does not hold yet; max_entries counts core + staged entries.
//          DEL  -> <id> ERR syntax DEL inside SYNC
//          PING and LIST work as usual (LIST shows the kernel, not the staged set).
//   <id> SYNC END                  -> <id> OK added=N updated=M removed=K
//        The firewall becomes exactly core + staged, in one commit per family:
//        staged entries are added or updated (tags, expiry; counters kept), every
//        dynamic entry that was not staged is removed. On ERR backend nothing of the
//        sync is in effect and it is over; the client starts again.
//   <id> SYNC ABORT                -> <id> OK aborted      (the staged set is dropped)
//        A second SYNC BEGIN, or END/ABORT without BEGIN: <id> ERR syntax ...
//        A connection that closes during a sync discards it.
// Errors:    <id> ERR <code> <text>, code one of
//   syntax   malformed request (id 0 if the line had no usable id)
//   version  unsupported protocol version
//   refused  the network may never be dropped (reserved range, own address, protected,
//            prefix too short, IPv6 disabled), or it is a core entry (no ADD, no DEL)
//   limit    max_entries reached or too many new entries per minute
//   backend  the firewall rejected the change; nothing of it is in effect (ipset has no
//            transactions: what was sent before the failure may be, until the next
//            repair takes it out again)
// A malformed or over-long line gets its ERR reply and then the helper closes that
// connection (it keeps serving everyone else). Every request gets exactly one reply
// (LIST: its ENTRY lines and one final OK), in request order. Requests that arrive
// together are applied in one firewall commit. Requests are idempotent. ERR replies
// from HelperState (refused, limit, backend, a misplaced SYNC or DEL) leave the
// connection open.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/sd_notify.hpp"
#include "conf/config_reader.hpp"
#include "conf/helper_config.hpp"
#include "firewall/backend.hpp"
#include "firewall/helper_server.hpp"
#include "firewall/helper_state.hpp"
#include "firewall/journal.hpp"
#include "firewall/privileges.hpp"

namespace {

using namespace smtpwall;

constexpr int kExitConfig = 78;  // EX_CONFIG
constexpr int kExitUsage = 64;   // EX_USAGE
constexpr int kExitFailure = 1;

struct PeerUser {
    uid_t uid;
    gid_t gid;
};

std::optional<PeerUser> lookup_user(const std::string& name) {
    const passwd* pw = ::getpwnam(name.c_str());
    if (pw == nullptr) return std::nullopt;
    return PeerUser{pw->pw_uid, pw->pw_gid};
}

// Why `dir` is not a directory that `owner` alone may write, if it is not.
std::optional<std::string> foreign_writable(const std::filesystem::path& dir, uid_t owner) {
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0)
        return fmt::format("{}: {}", dir.string(), std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) return fmt::format("{} is not a directory", dir.string());
    if (st.st_uid != owner)
        return fmt::format("{} belongs to uid {}, not to uid {}", dir.string(), st.st_uid, owner);
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return fmt::format("{} is writable by group or others (mode {:04o})", dir.string(),
                           st.st_mode & 07777);
    return std::nullopt;
}

firewall::HelperPolicy policy_from(const conf::HelperConfig& cfg) {
    firewall::HelperPolicy policy;
    policy.targets.protected_nets = cfg.protected_nets;
    policy.targets.own_addresses = firewall::own_addresses();
    policy.targets.min_prefix_v4 = cfg.min_prefix_v4;
    policy.targets.min_prefix_v6 = cfg.min_prefix_v6;
    policy.ipv6 = cfg.ipv6;
    policy.max_entries = cfg.max_entries;
    policy.max_adds_per_minute = cfg.max_adds_per_minute;
    policy.max_changes_per_minute = cfg.max_changes_per_minute;
    policy.targets.embedding = Ipv4Embedding(cfg.nat64_prefixes);
    for (const auto& core : cfg.core()) {
        helperproto::Entry e;
        e.net = core.net;
        e.origin = helperproto::Origin::core;
        e.tags = core.tags;
        policy.core.push_back(std::move(e));
    }
    return policy;
}

// Checks what the config parser cannot know: the core list and the peer user
// against this host. --check-config and the start-up both run it.
void check_host(const conf::HelperConfig& cfg, const firewall::HelperPolicy& policy) {
    const auto at = conf::location_of(cfg.where, "core.networks", cfg.source);
    if (policy.core.size() > cfg.max_entries)
        throw conf::ConfigError(
            fmt::format("{}: core.networks: {} networks exceed "
                        "limits.max_entries {}",
                        at, policy.core.size(), cfg.max_entries));
    for (const auto& core : policy.core) {
        if (core.net.family() == Family::v6 && !cfg.ipv6)
            throw conf::ConfigError(
                fmt::format("{}: core.networks: {} is IPv6 but firewall.ipv6 is false", at,
                            core.net.to_string()));
        if (auto why = firewall::core_refusal_reason(core.net, policy.targets))
            throw conf::ConfigError(fmt::format("{}: core.networks: {} must not be dropped: {}", at,
                                                core.net.to_string(), *why));
    }
    const auto user = lookup_user(cfg.user);
    if (!user)
        throw conf::ConfigError(fmt::format(
            "{}: helper.user: \"{}\" is not a user on this host (the package creates it)",
            conf::location_of(cfg.where, "helper.user", cfg.source), cfg.user));
    if (user->uid == 0)
        throw conf::ConfigError(
            fmt::format("{}: helper.user: \"{}\" has uid 0; the helper must give uid 0 up",
                        conf::location_of(cfg.where, "helper.user", cfg.source), cfg.user));
    // Whoever else may write there could put a socket of their own at the helper's name.
    if (auto why =
            foreign_writable(std::filesystem::path(cfg.socket_path).parent_path(), user->uid))
        throw conf::ConfigError(fmt::format(
            "{}: helper.socket: its directory must belong to {} and be writable by no one else: {}",
            conf::location_of(cfg.where, "helper.socket", cfg.source), cfg.user, *why));
    if (!cfg.state_file.empty()) {
        if (auto why =
                foreign_writable(std::filesystem::path(cfg.state_file).parent_path(), user->uid))
            throw conf::ConfigError(fmt::format(
                "{}: helper.state_file: its directory must belong to {} and be writable by no "
                "one else: {}",
                conf::location_of(cfg.where, "helper.state_file", cfg.source), cfg.user, *why));
    }
    if (!lookup_user(cfg.peer_user))
        throw conf::ConfigError(fmt::format(
            "{}: helper.peer_user: \"{}\" is not a user on this host",
            conf::location_of(cfg.where, "helper.peer_user", cfg.source), cfg.peer_user));
}

int serve(const std::string& config_path, bool check_only) {
    conf::HelperConfig cfg;
    firewall::HelperPolicy policy;
    try {
        cfg = conf::load_helper_config(config_path);
        policy = policy_from(cfg);
        check_host(cfg, policy);
    } catch (const conf::ConfigError& e) {
        log_info(e.what());
        return kExitConfig;
    }
    if (check_only) {
        log_info(fmt::format("{}: configuration ok", config_path));
        return 0;
    }
    const auto peer = lookup_user(cfg.peer_user);
    const auto user = lookup_user(cfg.user);
    if (!peer || !user) return kExitConfig;  // checked above; gone since

    try {
        const int signal_fd = firewall::make_signal_fd();
        auto backend = firewall::make_backend(cfg);
        const auto log = [](const std::string& line) { log_info(line); };
        std::unique_ptr<firewall::FileJournal> journal;
        if (!cfg.state_file.empty())
            journal = std::make_unique<firewall::FileJournal>(cfg.state_file, log);
        firewall::HelperState state(std::move(policy), *backend, log, journal.get());
        firewall::HelperServer server({cfg.socket_path, peer->uid, peer->gid, cfg.repair_interval},
                                      state);
        // The backends hold their root-only handles (the xtables lock) by now. The socket
        // is made as the helper's user, in its directory, so that it can remove it at
        // exit; CAP_CHOWN, kept until then, hands it to the peer.
        const bool as_root = ::geteuid() == 0;
        if (as_root) firewall::become_user(user->uid, user->gid);
        // The socket also tells us whether another helper is running, before we touch
        // its firewall. Clients wait in the backlog until run() accepts them.
        server.open_socket();
        if (as_root) {
            firewall::drop_start_up_capabilities(user->uid, user->gid);
        } else {
            log_info("not started as root: uid and capabilities left as they are");
        }
        // The core list is in force before any request is served.
        state.start(unix_now());
        log_info(
            fmt::format("ready socket={} backend={} {}={} ports={} ipv6={} peer_uid={} entries={}",
                        cfg.socket_path, cfg.backend, cfg.backend == "nftables" ? "table" : "chain",
                        cfg.backend == "nftables" ? cfg.nft_table() : cfg.chain,
                        fmt::join(cfg.ports, ","), cfg.ipv6, peer->uid, state.size()));
        // Only now, with the core list in the kernel, may systemd let the network come up.
        if (!notify_ready()) log_info("could not tell systemd we are ready ($NOTIFY_SOCKET)");
        server.run(signal_fd);
        return 0;
    } catch (const firewall::BackendError& e) {
        log_info(fmt::format("fatal: firewall: {}", e.what()));
    } catch (const std::exception& e) {
        log_info(fmt::format("fatal: {}", e.what()));
    }
    return kExitFailure;
}

}  // namespace

std::unique_ptr<smtpwall::firewall::Backend> smtpwall::firewall::make_backend(
    const conf::HelperConfig& config) {
    if (config.backend == "ipset") return make_ipset_backend(config);
    if (config.backend == "nftables") return make_nft_backend(config);
    return make_iptc_backend(config);
}

int main(int argc, char** argv) {
    CLI::App app{"smtpwall-helper: privileged firewall helper of smtpwall-milter"};
    std::string config_path = "/etc/smtpwall/helper.conf";
    bool check_only = false;
    bool list_settings = false;
    app.add_option("-c,--config", config_path, "helper configuration file (TOML)");
    app.add_flag("--check-config", check_only, "check the configuration and exit");
    app.add_flag("--list-settings", list_settings,
                 "list every setting of the configuration file with its default and exit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : kExitUsage;
    }
    if (list_settings) {
        std::fputs(conf::render_settings(conf::helper_settings()).c_str(), stdout);
        return 0;
    }
    std::signal(SIGPIPE, SIG_IGN);
    log_to_stderr("smtpwall-helper");  // systemd's journal takes stderr
    return serve(config_path, check_only);
}
