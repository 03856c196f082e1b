// When a tally becomes a ban, for how long, and when single bans become a
// netblock ban. Pure: the rules come from the config (conf/escalation_rule.hpp),
// time is a parameter.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "conf/escalation_rule.hpp"
#include "core/tally.hpp"

namespace smtpwall {

using conf::EscalationRule;

struct EscalationPolicy {
    std::vector<EscalationRule> rules;
    std::chrono::seconds ban_duration{7 * 86400};
    double repeat_growth = 2.0;  // each further ban of an address lasts this much longer
    std::chrono::seconds max_ban_duration{90 * 86400};
    // A threshold rule spares an address with at least this many accepted messages
    // per rejection in the window (0: never spare).
    double good_mail_ratio = 1.0;
};

enum class BanOrigin { policy, manual, netblock };
std::string_view origin_name(BanOrigin origin);
std::optional<BanOrigin> origin_from_name(std::string_view name);

struct Ban {
    Cidr key;
    std::vector<std::string> tags;  // why: becomes the [tag]s of the report
    UnixTime since = 0;
    UnixTime expires = 0;  // 0: until lifted by hand
    std::string rule;      // the rule line, "manual" or "netblock"
    BanOrigin origin = BanOrigin::policy;
    bool observed = false;  // observe mode: recorded and logged, never enforced
    std::string host{};     // in a cluster, the MX that decided it; empty: this one
    bool operator==(const Ban&) const = default;
};

// The duration of the `nth` ban of an address (1 = first): base * growth^(nth-1), capped.
std::chrono::seconds ban_duration_for(std::chrono::seconds base, const EscalationPolicy& policy,
                                      unsigned nth);

// Called after a rejection was recorded in `tally`. `new_tags` are that rejection's tags.
// Returns the rule that fires, if any; for a shared relay only the rules that say
// "including shared-relay" are tried.
const EscalationRule* firing_rule(const EscalationPolicy& policy, const TallyStore& store,
                                  const Tally& tally, std::span<const std::string> new_tags,
                                  UnixTime now, bool shared_relay = false);

// Active bans as the milter knows them; the kernel is told through the helper.
class BanList {
  public:
    // Returns false if the key was already banned (the ban is then left as it is).
    bool add(Ban ban);
    bool remove(const Cidr& key);
    const Ban* find(const Cidr& key) const;
    // Any ban (host or block) containing the address, the most specific first. Runs
    // at every connect: one hash lookup per prefix length in use, not per ban.
    const Ban* covering(const IpAddress& addr) const;
    // Removes and returns bans whose expiry has passed.
    std::vector<Ban> expire(UnixTime now);
    std::vector<Ban> all() const;
    // Host bans inside `block`.
    std::vector<Ban> inside(const Cidr& block) const;
    std::size_t size() const { return bans_.size(); }
    std::size_t count(BanOrigin origin) const;

  private:
    void index(const Cidr& key, int delta);

    std::unordered_map<Cidr, Ban> bans_;
    // How many bans have each (family, prefix length): what covering() must try.
    std::map<std::pair<Family, int>, std::size_t> prefixes_;
};

struct AggregationPolicy {
    bool enabled = true;
    int ipv4_prefix = 24;
    int ipv6_prefix = 48;
    std::uint32_t min_banned = 4;
};

// The block to ban once `key` is banned: when at least min_banned host bans
// lie inside its /24 (/48) and the block touches no allowlisted
// network. The caller retires the covered host bans.
std::optional<Cidr> block_to_ban(const Cidr& key, const BanList& bans,
                                 const AggregationPolicy& policy, const CidrList& allowlist);

}  // namespace smtpwall
