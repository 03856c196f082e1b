// Where rejections become bans, for every session thread at once: the pure
// enforcement policy (core/enforcement_state.hpp) behind one lock, and its events
// carried out: logged, counted, and sent to the firewall link, which never blocks
// the caller. Changes are collected for the state writer, which takes them from
// another thread (a callback never waits on disk).
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "conf/milter_config.hpp"
#include "core/enforcement_state.hpp"

namespace smtpwall {

// The milter's side of the firewall helper. Calls must return at once (queue).
class FirewallLink {
  public:
    enum class Result { applied, refused, unknown };  // unknown: the helper went away
    using Done = std::function<void(Result)>;
    virtual ~FirewallLink() = default;
    virtual void ban(const Ban& ban, Done done) = 0;
    virtual void unban(const Cidr& key) = 0;
    // What a full-state sync came to, once the helper answered all of it.
    struct SyncOutcome {
        std::vector<Cidr> refused;  // never acceptable to the helper (protected, reserved...)
        std::size_t deferred = 0;   // over the helper's rate cap for now: the link retries
    };
    using SyncDone = std::function<void(SyncOutcome)>;
    // The complete set of active bans: the helper converges the kernel to it.
    virtual void sync(const std::vector<Ban>& bans, SyncDone done) = 0;
};

// Hears what the enforcement did: the counter history (milter/history.hpp).
class EnforcementObserver {
  public:
    virtual ~EnforcementObserver() = default;
    // Every event, in order, with the enforcement's lock held: must not call back.
    virtual void event(const EnforcementEvent& event) = 0;
    // A host ban leaves the kernel: the block that covers it is in place.
    virtual void replaced(const Cidr& member) = 0;
};

class Enforcement {
  public:
    Enforcement(const conf::MilterConfig& config, FirewallLink& firewall);

    using Outcome = EnforcementState::Outcome;
    using ActionResult = EnforcementState::ActionResult;

    void restore(const std::vector<TallyRow>& tallies, const std::vector<Ban>& bans,
                 const std::vector<Cidr>& allows, UnixTime now);

    // ---- cluster: EnforcementState's cluster calls under the lock, carried out ----
    void join_cluster(std::string host, std::vector<OutboxEntry> outbox,
                      std::map<std::string, std::string> meta);
    std::vector<OutboxEntry> outbox(std::size_t limit) const;
    std::size_t outbox_size() const;
    void published(std::uint64_t seq);
    void republish_all();
    std::vector<EnforcementState::TallyPush> take_tally_pushes(UnixTime now, bool all = false);
    void merge_elsewhere(const Cidr& key, TallyElsewhere elsewhere, UnixTime now);
    std::optional<TallyElsewhere> elsewhere(const Cidr& key) const;
    std::string apply(const cluster::Op& op, UnixTime now);
    void adopt(const Ban& cluster_ban);
    void set_cluster_meta(const std::string& name, std::string value);
    std::string cluster_meta(const std::string& name) const;
    // Called (lock held, must not block) whenever there may be something to publish.
    void on_cluster_work(std::function<void()> wake) { cluster_wake_ = std::move(wake); }
    void reconfigure(const conf::MilterConfig& config);
    // Set before the first session; lives as long as this.
    void observe(EnforcementObserver* observer) { observer_ = observer; }

    void record_session(const IpAddress& client, UnixTime now);
    void record_accepted(const IpAddress& client, UnixTime now);
    Outcome record_rejection(const IpAddress& client, std::span<const std::string> tags,
                             UnixTime now, const RelayFacts& relay = {});
    void record_relay(const IpAddress& client, const RelayFacts& relay);
    bool is_banned(const IpAddress& client) const;
    bool observing() const { return observe_; }

    ActionResult manual_ban(const Cidr& net, std::chrono::seconds duration, std::string reason,
                            UnixTime now);
    ActionResult manual_unban(const Cidr& net);
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
    std::optional<SharedRelay> shared_relay(const Cidr& key) const;
    std::vector<Ban> bans() const;
    struct BanCounts {
        std::size_t active = 0, manual = 0;
    };
    BanCounts ban_counts() const;  // without copying the list
    std::optional<Ban> ban_covering(const IpAddress& addr) const;
    Cidr key_of(const IpAddress& addr) const;
    std::chrono::seconds window() const;
    std::size_t tracked() const;

  private:
    // Logs, counts and sends what the state decided. Mutex held.
    void carry_out();

    const bool observe_;
    FirewallLink& firewall_;
    std::function<void()> cluster_wake_;
    EnforcementObserver* observer_ = nullptr;
    mutable std::mutex mutex_;
    EnforcementState state_;
};

}  // namespace smtpwall
