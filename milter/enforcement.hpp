// Where rejections become bans: the shared, thread-safe home of the tallies and
// the active bans. libmilter's session threads record events here; bans go to
// the firewall link, which never blocks the caller; changes are collected for
// the state writer, which takes them from another thread (a callback never
// waits on disk).
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "conf/milter_config.hpp"
#include "core/escalation.hpp"
#include "core/tally.hpp"

namespace smtpwall {

// The milter's side of the firewall helper. Calls must return at once (queue).
class FirewallLink {
  public:
    enum class Result { applied, refused, unknown };  // unknown: the helper went away
    using Done = std::function<void(Result)>;
    virtual ~FirewallLink() = default;
    virtual void ban(const Ban& ban, Done done) = 0;
    virtual void unban(const Cidr& key) = 0;
    // The complete set of active bans: the helper converges the kernel to it.
    virtual void sync(const std::vector<Ban>& bans) = 0;
};

// What changed since the state writer last asked.
struct StateChanges {
    struct BanChange {
        bool added = true;  // false: removed (only ban.key matters)
        Ban ban;
    };
    std::vector<TallyRow> tallies;      // current values of changed tallies
    std::vector<Cidr> tallies_removed;  // evicted
    std::vector<BanChange> bans;        // in the order they happened
    std::vector<Cidr> allows_added;     // runtime allowlist entries (`smtpwallctl allow`)
    bool empty() const {
        return tallies.empty() && tallies_removed.empty() && bans.empty() && allows_added.empty();
    }
    // Appends `later`, keeping only the newest value of each tally.
    void merge(StateChanges later);
};

class Enforcement {
  public:
    Enforcement(const conf::MilterConfig& config, FirewallLink& firewall);

    // Brings back what the state file kept; bans past their expiry are dropped.
    void restore(const std::vector<TallyRow>& tallies, const std::vector<Ban>& bans,
                 const std::vector<Cidr>& allows, UnixTime now);
    // A reloaded configuration: rules, allowlist, aggregation. Bans that now touch
    // allowlisted space are lifted.
    void reconfigure(const conf::MilterConfig& config);

    struct Outcome {
        std::uint32_t recent = 0;    // rejections within the window, this one included
        std::optional<Ban> new_ban;  // set when this rejection earned a ban
    };
    void record_session(const IpAddress& client, UnixTime now);
    void record_accepted(const IpAddress& client, UnixTime now);
    Outcome record_rejection(const IpAddress& client, std::span<const std::string> tags,
                             UnixTime now);
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
    std::vector<Cidr> runtime_allows() const;
    std::chrono::seconds default_ban_duration() const;

    // Lifts bans whose time is up and tells the helper.
    void expire(UnixTime now);
    // Sends the helper the complete set of enforced bans (after it (re)connected).
    void sync_firewall();
    StateChanges take_changes(UnixTime now);

    std::vector<TallyRow> top(std::size_t limit, std::string_view tag, UnixTime now) const;
    std::optional<TallyRow> tally_of(const Cidr& key, UnixTime now) const;
    std::vector<Ban> bans() const;
    struct BanCounts {
        std::size_t active = 0, manual = 0;
    };
    BanCounts ban_counts() const;  // without copying the list
    std::optional<Ban> ban_covering(const IpAddress& addr) const;
    Cidr key_of(const IpAddress& addr) const { return tally_key(addr, v4_prefix_, v6_prefix_); }
    std::chrono::seconds window() const;
    std::size_t tracked() const;

  private:
    // Never ban what we must never cut off, whatever the tallies say.
    bool bannable(const Cidr& key) const;  // mutex held
    void lift_allowed();                   // mutex held
    // Records and enforces a ban; `replaces` (host bans inside a new block) leave
    // the kernel once the helper has applied the block. Mutex held.
    void add_ban(Ban ban, std::vector<Ban> replaces = {});
    void drop_ban(const Cidr& key);                 // mutex held
    void aggregate(const Cidr& key, UnixTime now);  // mutex held
    void mark_dirty(const Cidr& key);               // mutex held
    void evict_if_needed();                         // mutex held

    const int v4_prefix_, v6_prefix_;
    const bool observe_;

    FirewallLink& firewall_;

    mutable std::mutex mutex_;
    CidrList allowlist_;                    // from the config
    std::vector<IpAddress> own_addresses_;  // [identity] addresses: never inside a ban
    std::vector<Cidr> runtime_allows_;      // from `allow`, kept in the state file
    EscalationPolicy policy_;
    AggregationPolicy aggregation_;
    TallyStore tallies_;
    BanList bans_;
    std::unordered_set<Cidr> dirty_;
    std::unordered_set<Cidr> refused_;  // bans the helper refused: not proposed again
    StateChanges pending_;              // bans added/removed and evictions, not yet taken
};

}  // namespace smtpwall
