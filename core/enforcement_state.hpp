// The enforcement policy: the tallies, the active bans, the allowlists and every
// decision over them (what earns a ban and for how long, when host bans become a
// block, what is never banned, what a refusal by the helper undoes, what the state
// file must hear). Pure: time is a parameter, nothing locks, nothing is sent. What the
// outside world must learn comes back as Events, which milter/enforcement.cpp logs,
// counts and hands to the firewall, under its lock.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/embedded_v4.hpp"
#include "conf/milter_config.hpp"
#include "core/cluster_codec.hpp"
#include "core/escalation.hpp"
#include "core/shared_relay.hpp"
#include "core/tally.hpp"

namespace smtpwall {

// A local change the other hosts of a cluster must make, kept until Redis took it.
struct OutboxEntry {
    std::uint64_t seq = 0;
    cluster::Op op;
};

// What changed since the state writer last asked.
struct StateChanges {
    struct BanChange {
        bool added = true;  // false: removed (only ban.key matters)
        Ban ban;
    };
    std::vector<TallyRow> tallies;                // current values of changed tallies
    std::vector<Cidr> tallies_removed;            // evicted
    std::vector<BanChange> bans;                  // in the order they happened
    std::vector<Cidr> allows_added;               // runtime allowlist entries (`smtpwallctl allow`)
    std::vector<OutboxEntry> outbox_added;        // cluster: to publish
    std::vector<std::uint64_t> outbox_published;  // cluster: published, forget
    std::map<std::string, std::string> cluster_meta;  // cluster: cursor, epoch (newest)
    bool empty() const {
        return tallies.empty() && tallies_removed.empty() && bans.empty() && allows_added.empty() &&
               outbox_added.empty() && outbox_published.empty() && cluster_meta.empty();
    }
    // Appends `later`, keeping only the newest value of each tally.
    void merge(StateChanges later);
};

// What the outside world must learn of a decision.
struct EnforcementEvent {
    enum class Kind {
        // A ban was decided. Unless it is observed, the firewall must get it; once
        // the firewall holds it, the host bans it `replaces` (the members of a new
        // block) may leave the kernel.
        banned,
        // A ban ended (`reason`). Observed bans were never in the kernel.
        lifted,
        // The helper refused the ban of `ban.key`: it is forgotten, and what it was to
        // replace is back.
        refused,
        // `ban` was earned under `ban.rule` but not made: the client is `relay`.
        withheld,
    };
    enum class LiftReason { expired, manual, allowlisted };

    Kind kind = Kind::banned;
    Ban ban;
    std::vector<Ban> replaces;                // banned
    LiftReason reason = LiftReason::expired;  // lifted
    SharedRelay relay{};                      // withheld
};

class EnforcementState {
  public:
    explicit EnforcementState(const conf::MilterConfig& config);

    // Brings back what the state file kept; bans past their expiry are dropped.
    void restore(const std::vector<TallyRow>& tallies, const std::vector<Ban>& bans,
                 const std::vector<Cidr>& allows, UnixTime now);
    void restore_cluster(std::vector<OutboxEntry> outbox, std::map<std::string, std::string> meta);
    // A reloaded configuration: rules, allowlist, aggregation. Bans that now touch
    // allowlisted space are lifted.
    void reconfigure(const conf::MilterConfig& config);

    struct Outcome {
        std::uint32_t recent = 0;             // rejections within the window, this one included
        std::optional<Ban> new_ban;           // set when this rejection earned a ban
        std::optional<SharedRelay> withheld;  // a ban was earned but not made: why
    };
    void record_session(const IpAddress& client, UnixTime now);
    void record_accepted(const IpAddress& client, UnixTime now);
    // `relay`: what the session's DNS showed about the client (core/shared_relay.hpp).
    Outcome record_rejection(const IpAddress& client, std::span<const std::string> tags,
                             UnixTime now, const RelayFacts& relay = {});
    // What a session showed about its client, when no rejection carried it.
    void record_relay(const IpAddress& client, const RelayFacts& relay);
    // Whether the client's tally makes it a shared relay now, and why.
    std::optional<SharedRelay> shared_relay(const Cidr& key) const;
    bool is_banned(const IpAddress& client) const;
    bool observing() const { return observe_; }

    // Operator actions; they override policy. Both return a message for the operator.
    struct ActionResult {
        bool ok = false;
        std::string message;
    };
    ActionResult manual_ban(const Cidr& net, std::chrono::seconds duration, std::string reason,
                            UnixTime now);
    ActionResult manual_unban(const Cidr& net);
    // Never reject, tally towards a ban or ban this network again; lifts bans on it.
    ActionResult allow(const Cidr& net);
    const std::vector<Cidr>& runtime_allows() const { return runtime_allows_; }
    std::chrono::seconds default_ban_duration() const { return policy_.ban_duration; }

    // Lifts bans whose time is up.
    void expire(UnixTime now);
    // The helper refused the ban of `key` that was to replace `replaces`.
    void refused(const Cidr& key, const std::vector<Ban>& replaces);
    // The bans the kernel must hold (the complete set, for a helper that (re)connects).
    std::vector<Ban> enforced_bans() const;

    // ---- cluster (milter/cluster.hpp): several MX hosts under one policy ----
    // From now on local decisions go to the outbox and local counts are published.
    void join_cluster(std::string host);
    const std::string& cluster_host() const { return host_; }
    // The oldest unpublished changes (at most `limit`), and the acknowledgement of one.
    std::vector<OutboxEntry> outbox(std::size_t limit) const;
    std::size_t outbox_size() const { return outbox_.size(); }
    void published(std::uint64_t seq);
    // Every active ban and runtime allow as changes to publish again: Redis lost them.
    void republish_all();
    // The tallies counted here since the last call, as merge-script arguments.
    struct TallyPush {
        Cidr key;
        std::vector<std::string> args;
    };
    std::vector<TallyPush> take_tally_pushes(UnixTime now, bool all = false);
    // What the other hosts counted for `key`: the rules look again (a ban may follow).
    void merge_elsewhere(const Cidr& key, TallyElsewhere elsewhere, UnixTime now);
    std::optional<TallyElsewhere> elsewhere(const Cidr& key) const;
    // A change another host made. Empty, or why it was not made here.
    std::string apply(const cluster::Op& op, UnixTime now);
    // The cluster held a ban for this key already (another host decided it first).
    void adopt(const Ban& cluster_ban);
    // Kept in the state file: the log cursor, the epoch of the Redis data.
    void set_cluster_meta(const std::string& name, std::string value);
    std::string cluster_meta(const std::string& name) const;

    // What happened since the last call, in order.
    std::vector<EnforcementEvent> take_events();
    StateChanges take_changes(UnixTime now);

    std::vector<TallyRow> top(std::size_t limit, std::string_view tag, UnixTime now) const {
        return tallies_.top(limit, tag, now);
    }
    std::optional<TallyRow> tally_of(const Cidr& key, UnixTime now) const;
    std::vector<Ban> bans() const { return bans_.all(); }
    std::size_t ban_count() const { return bans_.size(); }
    std::size_t ban_count(BanOrigin origin) const { return bans_.count(origin); }
    std::optional<Ban> ban_covering(const IpAddress& addr) const;
    // The tally of a client address: its IPv4 /32 (ipv4_prefix) also when it arrives as
    // NAT64 or 6to4, its IPv6 /64 (ipv6_prefix), a single Teredo address.
    Cidr key_of(const IpAddress& addr) const;
    // What a ban of that client drops: the tally key, or for a translated address
    // exactly the IPv6 network its IPv4 arrives through (the NAT64 /128).
    Cidr ban_key_of(const IpAddress& addr) const;
    std::chrono::seconds window() const { return tallies_.window(); }
    std::size_t tracked() const { return tallies_.size(); }

  private:
    // Never ban what we must never cut off, whatever the tallies say.
    bool bannable(const Cidr& key) const;
    void lift_allowed();
    // Records a ban; `replaces` (host bans inside a new block) leave the kernel once
    // the helper has applied the block.
    void add_ban(Ban ban, std::vector<Ban> replaces = {});
    void drop_ban(const Cidr& key);
    void aggregate(const Cidr& key, UnixTime now);
    void evict_if_needed();
    // The rules over `key`'s tally with what other hosts counted, after a rejection
    // with `tags` (none: counts from elsewhere arrived); bans when one fires.
    void escalate(const Cidr& key, const Cidr& target, std::span<const std::string> tags,
                  UnixTime now, Outcome& outcome);
    void to_outbox(cluster::Op::Kind kind, const Ban& ban);
    // Shared relays: what sessions showed, and the good-mail history.
    std::optional<SharedRelay> relay_status(const Cidr& key, const Tally& tally) const;
    void note_relay(const Cidr& key, const RelayFacts& relay);
    void note_good_mail(const Cidr& key, const Tally& tally);
    bool covers_shared_relay(const Cidr& block) const;
    TallyRow with_relay(TallyRow row) const;

    const int v4_prefix_, v6_prefix_;
    const bool observe_;
    const Ipv4Embedding embedding_;

    CidrList allowlist_;                    // from the config
    std::vector<IpAddress> own_addresses_;  // [identity] addresses: never inside a ban
    std::vector<Cidr> runtime_allows_;      // from `allow`, kept in the state file
    EscalationPolicy policy_;
    AggregationPolicy aggregation_;
    std::uint32_t relay_good_mail_;       // [shared_relays] good_mail (0: never)
    std::chrono::seconds relay_max_ban_;  // [shared_relays] max_ban
    struct RelayEntry {
        std::optional<SharedRelay> seen;  // provider or DNSWL, as the last session showed
        std::uint32_t withheld = 0;
    };
    // Tally keys that are, or were found to be, shared relays (ordered: a block's
    // members are one range). Their tallies are never evicted.
    std::map<Cidr, RelayEntry> relays_;
    // Cluster: this host's name (empty: not in one), what the others counted per key,
    // the tallies counted here since they were last published, the outbox.
    std::string host_;
    std::unordered_map<Cidr, TallyElsewhere> elsewhere_;
    std::unordered_set<Cidr> unpushed_;
    std::deque<OutboxEntry> outbox_;
    std::uint64_t next_seq_ = 1;
    std::map<std::string, std::string> cluster_meta_;
    TallyStore tallies_;
    BanList bans_;
    std::unordered_set<Cidr> dirty_;
    std::unordered_set<Cidr> refused_;  // bans the helper refused: not proposed again
    StateChanges pending_;              // bans added/removed and evictions, not yet taken
    std::vector<EnforcementEvent> events_;
};

}  // namespace smtpwall
