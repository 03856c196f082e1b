// What the MX hosts of a cluster keep in Redis, and how it is spelled: key names,
// the Lua scripts that change them atomically, the operations of the shared log and
// the tallies' per-host buckets. Pure: values in, strings out; milter/cluster.cpp
// does the talking.
//
// Keys (prefix "sw:" by default):
//   meta            hash   epoch (random, set once: a new one means Redis lost its
//                          data), policy (the first host's tally policy)
//   hosts           hash   host -> "<unix time> <policy>": heartbeats
//   t:<net>         hash   a tally as per-host counters, max-merged (idempotent):
//                          r|<bucket>|<host> rejections, a|<bucket>|<host> accepted,
//                          g|<tag>|<host> last hit (unix s), bans (ban count)
//   ban:<net>       hash   since expires rule origin tags host (expires 0: manual)
//   bans            zset   net -> expiry (+inf for manual bans): the active bans
//   allows          set    runtime allows (smtpwallctl allow)
//   log             stream op=ban|unban|allow net ... host: every change, trimmed to 7 d
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/unix_time.hpp"
#include "core/escalation.hpp"
#include "core/tally.hpp"

namespace smtpwall::cluster {

struct Keys {
    std::string prefix;
    std::string meta() const { return prefix + "meta"; }
    std::string hosts() const { return prefix + "hosts"; }
    std::string tally(const Cidr& net) const { return prefix + "t:" + net.to_string(); }
    std::string ban(const Cidr& net) const { return prefix + "ban:" + net.to_string(); }
    std::string bans() const { return prefix + "bans"; }
    std::string allows() const { return prefix + "allows"; }
    std::string log() const { return prefix + "log"; }
};

// A change every host must make. `host` is who made it.
struct Op {
    enum class Kind { ban, unban, allow };
    Kind kind = Kind::ban;
    Ban ban;  // ban: the whole ban; unban, allow: ban.key is the network
    std::string host;
    bool operator==(const Op&) const = default;
};
std::string_view kind_name(Op::Kind kind);

// Field/value pairs of a log entry (XADD), and back. nullopt for anything malformed:
// a compromised or foreign writer gets no further than this.
std::vector<std::string> op_fields(const Op& op);
std::optional<Op> parse_op(const std::vector<std::string>& fields);
// A ban as the ban:<net> hash holds it (HGETALL), for snapshots.
std::optional<Ban> parse_ban(const Cidr& net, const std::vector<std::string>& fields);

// The tally policy hosts must share to merge their counts.
std::string policy_fingerprint(std::chrono::seconds window, int ipv4_prefix, int ipv6_prefix,
                               const std::vector<EscalationRule>& rules);

// The arguments of kTallyMerge for one tally: this host's absolute bucket counts and
// tag hits. The script keeps the larger value per field, drops buckets older than the
// window and answers with the other hosts' fields (parse_elsewhere).
std::vector<std::string> tally_merge_args(const std::string& host, const Tally& tally,
                                          const std::vector<std::pair<std::string, UnixTime>>& tags,
                                          std::chrono::seconds window, UnixTime now);
std::optional<TallyElsewhere> parse_elsewhere(const std::vector<std::string>& fields);

// KEYS: t:<net>. ARGV: host, now, span, buckets, ttl, field, value, field, value...
extern const std::string_view kTallyMerge;

// A tally hash (HGETALL t:<net>) as counts per host within the window, for `show`.
struct HostCounts {
    std::uint32_t rejections = 0, accepted = 0;
    bool operator==(const HostCounts&) const = default;
};
std::map<std::string, HostCounts> counts_per_host(const std::vector<std::string>& fields,
                                                  std::chrono::seconds window, UnixTime now);
// KEYS: ban:<net>, bans, log, t:<net>. ARGV: net, since, expires, rule, origin, tags,
// host, minid, tally ttl, then op_fields. Keeps a ban already there unless the new one is manual
// or lasts longer; answers {1} when it wrote, {0, field, value...} with the ban in force.
extern const std::string_view kBanPut;
// KEYS: ban:<net>, bans, log, t:<net>. ARGV: net, minid, then op_fields. Also forgets
// the tally's rejections, as a local manual unban does.
extern const std::string_view kBanDel;
// KEYS: allows, log. ARGV: net, minid, then op_fields.
extern const std::string_view kAllow;

// Log entries older than this go (XADD MINID): a host away longer takes a snapshot.
inline constexpr std::chrono::seconds kLogRetention{7 * 86400};
// A tally's hash outlives its last change by this much.
inline constexpr std::chrono::seconds kTallyTtl{30 * 86400};

}  // namespace smtpwall::cluster
