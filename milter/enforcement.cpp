// Enforcement: EnforcementState behind one lock, its events logged, counted and sent.
#include "milter/enforcement.hpp"

#include <fmt/format.h>

#include "common/enum_names.hpp"
#include "common/log.hpp"
#include "milter/metrics.hpp"

namespace smtpwall {

namespace {

std::string joined(const std::vector<std::string>& tags) {
    return tags.empty() ? "-" : fmt::format("{}", fmt::join(tags, ","));
}

constexpr EnumNames<EnforcementEvent::LiftReason, 3> kLiftReasons{{
    {EnforcementEvent::LiftReason::expired, "expired"},
    {EnforcementEvent::LiftReason::manual, "manual"},
    {EnforcementEvent::LiftReason::allowlisted, "allowlisted"},
}};

}  // namespace

Enforcement::Enforcement(const conf::MilterConfig& config, FirewallLink& firewall)
    : observe_(config.milter.observe), firewall_(firewall), state_(config) {}

void Enforcement::carry_out() {
    using Event = EnforcementEvent;
    if (cluster_wake_) cluster_wake_();
    for (auto& event : state_.take_events()) {
        const Ban& ban = event.ban;
        if (observer_) observer_->event(event);
        switch (event.kind) {
            case Event::Kind::banned:
                log_info(fmt::format("{} {} {} {} {} {}{}", ban.observed ? "would-ban" : "ban",
                                     kv("client", ban.key.to_string()),
                                     kv("origin", origin_name(ban.origin)), kv("rule", ban.rule),
                                     kv("tags", joined(ban.tags)),
                                     kv("expires", std::to_string(ban.expires)),
                                     ban.host.empty() ? "" : " " + kv("host", ban.host)));
                if (ban.observed) break;
                metrics().ban_added(origin_name(ban.origin));
                firewall_.ban(ban, [this, key = ban.key, replaces = std::move(event.replaces)](
                                       FirewallLink::Result result) {
                    if (result == FirewallLink::Result::applied) {
                        // The block is in place: the host entries it covers can leave.
                        for (const auto& m : replaces) {
                            if (observer_) observer_->replaced(m.key);
                            firewall_.unban(m.key);
                        }
                        return;
                    }
                    if (result != FirewallLink::Result::refused)
                        return;  // helper gone: the next sync settles it
                    // The helper's own rules said no (protected network, limits): forget
                    // the ban rather than show it as pending for ever.
                    std::lock_guard relock(mutex_);
                    state_.refused(key, replaces);
                    carry_out();
                });
                break;
            case Event::Kind::lifted: {
                // A manual unban always reaches the helper: whatever is there goes.
                const bool manual = event.reason == Event::LiftReason::manual;
                const bool expired = event.reason == Event::LiftReason::expired;
                if (!ban.observed || manual) firewall_.unban(ban.key);
                if (manual) metrics().ban_lifted();
                if (expired && !ban.observed) metrics().ban_expired();
                log_info(fmt::format(
                    "{} {} reason={}", ban.observed && expired ? "would-unban" : "unban",
                    kv("client", ban.key.to_string()), name_of(kLiftReasons, event.reason)));
                break;
            }
            case Event::Kind::withheld: {
                const auto why = event.relay.to_string();
                metrics().ban_withheld(why.substr(0, why.find(':')));
                log_info(fmt::format("{} {} {} {} {}",
                                     ban.observed ? "would-withhold-ban" : "ban-withheld",
                                     kv("client", ban.key.to_string()), kv("rule", ban.rule),
                                     kv("tags", joined(ban.tags)), kv("shared_relay", why)));
                break;
            }
            case Event::Kind::refused:
                metrics().ban_refused();
                log_warning(
                    fmt::format("ban refused by the helper {}", kv("client", ban.key.to_string())));
                break;
        }
    }
}

void Enforcement::restore(const std::vector<TallyRow>& tallies, const std::vector<Ban>& bans,
                          const std::vector<Cidr>& allows, UnixTime now) {
    std::lock_guard lock(mutex_);
    state_.restore(tallies, bans, allows, now);
}

void Enforcement::join_cluster(std::string host, std::vector<OutboxEntry> outbox,
                               std::map<std::string, std::string> meta) {
    std::lock_guard lock(mutex_);
    state_.join_cluster(std::move(host));
    state_.restore_cluster(std::move(outbox), std::move(meta));
}

std::vector<OutboxEntry> Enforcement::outbox(std::size_t limit) const {
    std::lock_guard lock(mutex_);
    return state_.outbox(limit);
}

std::size_t Enforcement::outbox_size() const {
    std::lock_guard lock(mutex_);
    return state_.outbox_size();
}

void Enforcement::published(std::uint64_t seq) {
    std::lock_guard lock(mutex_);
    state_.published(seq);
}

void Enforcement::republish_all() {
    std::lock_guard lock(mutex_);
    state_.republish_all();
}

std::vector<EnforcementState::TallyPush> Enforcement::take_tally_pushes(UnixTime now, bool all) {
    std::lock_guard lock(mutex_);
    return state_.take_tally_pushes(now, all);
}

void Enforcement::merge_elsewhere(const Cidr& key, TallyElsewhere elsewhere, UnixTime now) {
    std::lock_guard lock(mutex_);
    state_.merge_elsewhere(key, std::move(elsewhere), now);
    carry_out();
}

std::optional<TallyElsewhere> Enforcement::elsewhere(const Cidr& key) const {
    std::lock_guard lock(mutex_);
    return state_.elsewhere(key);
}

std::string Enforcement::apply(const cluster::Op& op, UnixTime now) {
    std::lock_guard lock(mutex_);
    auto why_not = state_.apply(op, now);
    carry_out();
    return why_not;
}

void Enforcement::adopt(const Ban& cluster_ban) {
    std::lock_guard lock(mutex_);
    state_.adopt(cluster_ban);
    carry_out();
}

void Enforcement::set_cluster_meta(const std::string& name, std::string value) {
    std::lock_guard lock(mutex_);
    state_.set_cluster_meta(name, std::move(value));
}

std::string Enforcement::cluster_meta(const std::string& name) const {
    std::lock_guard lock(mutex_);
    return state_.cluster_meta(name);
}

void Enforcement::reconfigure(const conf::MilterConfig& config) {
    std::lock_guard lock(mutex_);
    state_.reconfigure(config);
    carry_out();
}

void Enforcement::record_session(const IpAddress& client, UnixTime now) {
    std::lock_guard lock(mutex_);
    state_.record_session(client, now);
}

void Enforcement::record_accepted(const IpAddress& client, UnixTime now) {
    std::lock_guard lock(mutex_);
    state_.record_accepted(client, now);
    if (cluster_wake_) cluster_wake_();
}

Enforcement::Outcome Enforcement::record_rejection(const IpAddress& client,
                                                   std::span<const std::string> tags, UnixTime now,
                                                   const RelayFacts& relay) {
    std::lock_guard lock(mutex_);
    auto outcome = state_.record_rejection(client, tags, now, relay);
    carry_out();
    return outcome;
}

void Enforcement::record_relay(const IpAddress& client, const RelayFacts& relay) {
    if (!relay.conclusive) return;  // what an earlier session showed stands: nothing to do
    std::lock_guard lock(mutex_);
    state_.record_relay(client, relay);
}

bool Enforcement::is_banned(const IpAddress& client) const {
    std::lock_guard lock(mutex_);
    return state_.is_banned(client);
}

Enforcement::ActionResult Enforcement::manual_ban(const Cidr& net, std::chrono::seconds duration,
                                                  std::string reason, UnixTime now) {
    std::lock_guard lock(mutex_);
    auto result = state_.manual_ban(net, duration, std::move(reason), now);
    carry_out();
    return result;
}

Enforcement::ActionResult Enforcement::manual_unban(const Cidr& net) {
    std::lock_guard lock(mutex_);
    auto result = state_.manual_unban(net);
    carry_out();
    return result;
}

Enforcement::ActionResult Enforcement::allow(const Cidr& net) {
    std::lock_guard lock(mutex_);
    auto result = state_.allow(net);
    carry_out();
    log_info(fmt::format("allow {}", kv("network", net.to_string())));
    return result;
}

std::vector<Cidr> Enforcement::runtime_allows() const {
    std::lock_guard lock(mutex_);
    return state_.runtime_allows();
}

std::chrono::seconds Enforcement::default_ban_duration() const {
    std::lock_guard lock(mutex_);
    return state_.default_ban_duration();
}

void Enforcement::expire(UnixTime now) {
    std::lock_guard lock(mutex_);
    state_.expire(now);
    carry_out();
}

void Enforcement::sync_firewall() {
    std::lock_guard lock(mutex_);
    firewall_.sync(state_.enforced_bans(), [this](FirewallLink::SyncOutcome outcome) {
        if (outcome.refused.empty()) return;
        // As for a single ban: what the helper's rules refuse is forgotten, loudly.
        std::lock_guard relock(mutex_);
        for (const auto& key : outcome.refused) state_.refused(key, {});
        carry_out();
    });
}

StateChanges Enforcement::take_changes(UnixTime now) {
    std::lock_guard lock(mutex_);
    return state_.take_changes(now);
}

std::vector<TallyRow> Enforcement::top(std::size_t limit, std::string_view tag,
                                       UnixTime now) const {
    std::lock_guard lock(mutex_);
    return state_.top(limit, tag, now);
}

std::optional<TallyRow> Enforcement::tally_of(const Cidr& key, UnixTime now) const {
    std::lock_guard lock(mutex_);
    return state_.tally_of(key, now);
}

std::optional<SharedRelay> Enforcement::shared_relay(const Cidr& key) const {
    std::lock_guard lock(mutex_);
    return state_.shared_relay(key);
}

std::vector<Ban> Enforcement::bans() const {
    std::lock_guard lock(mutex_);
    return state_.bans();
}

Enforcement::BanCounts Enforcement::ban_counts() const {
    std::lock_guard lock(mutex_);
    return {state_.ban_count(), state_.ban_count(BanOrigin::manual)};
}

std::optional<Ban> Enforcement::ban_covering(const IpAddress& addr) const {
    std::lock_guard lock(mutex_);
    return state_.ban_covering(addr);
}

Cidr Enforcement::key_of(const IpAddress& addr) const {
    return state_.key_of(addr);  // the prefixes are fixed at start
}

std::chrono::seconds Enforcement::window() const {
    return state_.window();  // fixed at start
}

std::size_t Enforcement::tracked() const {
    std::lock_guard lock(mutex_);
    return state_.tracked();
}

}  // namespace smtpwall
