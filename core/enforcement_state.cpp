// The enforcement policy over tallies and bans; effects come back as events.
#include "core/enforcement_state.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace smtpwall {

namespace {

using Event = EnforcementEvent;

EscalationPolicy policy_from(const conf::MilterConfig& c) {
    return {c.escalation.rules, c.escalation.ban_duration, c.escalation.repeat_growth,
            c.escalation.max_ban_duration, c.escalation.good_mail_ratio};
}

AggregationPolicy aggregation_from(const conf::MilterConfig& c) {
    return {c.aggregation.enabled, c.aggregation.ipv4_prefix, c.aggregation.ipv6_prefix,
            c.aggregation.min_banned};
}

// The union of tags, most common first, within the helper's limit of 8.
std::vector<std::string> merged_tags(const std::vector<Ban>& bans) {
    std::vector<std::pair<std::string, int>> counts;
    for (const auto& b : bans)
        for (const auto& t : b.tags) {
            auto it = std::find_if(counts.begin(), counts.end(),
                                   [&](const auto& c) { return c.first == t; });
            if (it == counts.end()) {
                counts.emplace_back(t, 1);
            } else {
                ++it->second;
            }
        }
    std::stable_sort(counts.begin(), counts.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    std::vector<std::string> out;
    for (const auto& [t, n] : counts)
        if (out.size() < 8) out.push_back(t);
    return out;
}

}  // namespace

void StateChanges::merge(StateChanges later) {
    std::unordered_set<Cidr> newer;
    for (const auto& row : later.tallies) newer.insert(row.key);
    for (const auto& key : later.tallies_removed) newer.insert(key);
    std::erase_if(tallies, [&](const TallyRow& row) { return newer.contains(row.key); });
    std::erase_if(tallies_removed, [&](const Cidr& key) { return newer.contains(key); });
    for (auto& row : later.tallies) tallies.push_back(std::move(row));
    for (auto& key : later.tallies_removed) tallies_removed.push_back(key);
    for (auto& change : later.bans) bans.push_back(std::move(change));
    for (auto& net : later.allows_added) allows_added.push_back(net);
    for (auto& e : later.outbox_added) outbox_added.push_back(std::move(e));
    for (auto seq : later.outbox_published) outbox_published.push_back(seq);
    for (auto& [name, value] : later.cluster_meta) cluster_meta[name] = std::move(value);
}

EnforcementState::EnforcementState(const conf::MilterConfig& config)
    : v4_prefix_(config.tally.ipv4_prefix),
      v6_prefix_(config.tally.ipv6_prefix),
      observe_(config.milter.observe),
      embedding_(config.tally.nat64_prefixes, false),
      allowlist_(config.checks.allowlist),
      own_addresses_(config.identity.addresses),
      policy_(policy_from(config)),
      aggregation_(aggregation_from(config)),
      relay_good_mail_(config.shared_relays.good_mail),
      relay_max_ban_(config.shared_relays.max_ban),
      tallies_(config.tally.window, config.tally.max_entries) {}

Cidr EnforcementState::key_of(const IpAddress& addr) const {
    if (const auto v4 = embedding_.carried(addr)) return tally_key(*v4, v4_prefix_, v6_prefix_);
    if (is_teredo(addr)) return Cidr::host(addr);  // a Teredo /64 is a relay for many
    return tally_key(addr, v4_prefix_, v6_prefix_);
}

Cidr EnforcementState::ban_key_of(const IpAddress& addr) const {
    const Cidr key = key_of(addr);
    return embedding_.carrier(addr, key).value_or(key);
}

bool EnforcementState::bannable(const Cidr& key) const {
    // A translated network is judged by the IPv4 it carries as well.
    std::vector<Cidr> judged = {key};
    for (const auto& c : embedding_.carried(key)) judged.push_back(c.v4);
    for (const auto& net : judged) {
        if (net.base.is_loopback() || net.base.is_unspecified() || allowlist_.overlaps(net))
            return false;
        if (std::any_of(own_addresses_.begin(), own_addresses_.end(),
                        [&](const IpAddress& a) { return net.contains(a); }))
            return false;
        if (std::any_of(runtime_allows_.begin(), runtime_allows_.end(),
                        [&](const Cidr& a) { return a.overlaps(net); }))
            return false;
    }
    return true;
}

void EnforcementState::lift_allowed() {
    for (const auto& ban : bans_.all()) {
        if (bannable(ban.key)) continue;
        drop_ban(ban.key);
        events_.push_back({Event::Kind::lifted, ban, {}, Event::LiftReason::allowlisted});
    }
}

void EnforcementState::reconfigure(const conf::MilterConfig& config) {
    allowlist_ = config.checks.allowlist;
    own_addresses_ = config.identity.addresses;
    refused_.clear();  // the helper's limits may have changed too
    policy_ = policy_from(config);
    aggregation_ = aggregation_from(config);
    relay_max_ban_ = config.shared_relays.max_ban;
    if (relay_good_mail_ != config.shared_relays.good_mail) {
        relay_good_mail_ = config.shared_relays.good_mail;
        tallies_.for_each([this](const Cidr& key, const Tally& t) { note_good_mail(key, t); });
    }
    lift_allowed();
}

EnforcementState::ActionResult EnforcementState::allow(const Cidr& net) {
    if (std::find(runtime_allows_.begin(), runtime_allows_.end(), net) == runtime_allows_.end()) {
        runtime_allows_.push_back(net);
        pending_.allows_added.push_back(net);
    }
    to_outbox(cluster::Op::Kind::allow, Ban{net, {}, 0, 0, {}, BanOrigin::manual, false});
    lift_allowed();
    return {true, fmt::format("allowed {}", net.to_string())};
}

void EnforcementState::evict_if_needed() {
    if (!tallies_.over_capacity()) return;
    // Never forget an address we hold a ban for, nor a shared relay.
    const auto gone = tallies_.evict([&](const Cidr& key) {
        return bans_.covering(key.base) != nullptr || relays_.contains(key);
    });
    for (const auto& key : gone) {
        dirty_.erase(key);
        elsewhere_.erase(key);
        unpushed_.erase(key);
        pending_.tallies_removed.push_back(key);
    }
}

void EnforcementState::restore(const std::vector<TallyRow>& tallies, const std::vector<Ban>& bans,
                               const std::vector<Cidr>& allows, UnixTime now) {
    runtime_allows_ = allows;
    for (const auto& row : tallies) {
        tallies_.restore(row);
        RelayEntry entry{SharedRelay::parse(row.relay), row.withheld};
        if (entry.seen || entry.withheld > 0) relays_[row.key] = std::move(entry);
        note_good_mail(row.key, row.tally);
    }
    for (const auto& ban : bans) {
        if (ban.expires != 0 && ban.expires <= now) {
            pending_.bans.push_back({false, ban});
            continue;
        }
        // A ban from observe mode is not carried into enforcement, nor the reverse.
        if (ban.observed != observe_) {
            pending_.bans.push_back({false, ban});
            continue;
        }
        bans_.add(ban);
    }
}

void EnforcementState::record_session(const IpAddress& client, UnixTime now) {
    const Cidr key = key_of(client);
    tallies_.record_session(key, now);
    dirty_.insert(key);
    evict_if_needed();
}

void EnforcementState::record_accepted(const IpAddress& client, UnixTime now) {
    const Cidr key = key_of(client);
    note_good_mail(key, tallies_.record_accepted(key, now));
    dirty_.insert(key);
    if (!host_.empty()) unpushed_.insert(key);
}

void EnforcementState::note_good_mail(const Cidr& key, const Tally& tally) {
    if (relay_good_mail_ > 0 && tally.accepted >= relay_good_mail_) relays_.try_emplace(key);
}

void EnforcementState::note_relay(const Cidr& key, const RelayFacts& relay) {
    if (!relay.conclusive) return;  // what an earlier session showed stands
    const auto it = relays_.find(key);
    if (it == relays_.end()) {
        if (!relay.relay) return;
        relays_.emplace(key, RelayEntry{relay.relay, 0});
    } else {
        if (it->second.seen == relay.relay) return;
        it->second.seen = relay.relay;
    }
    dirty_.insert(key);
}

void EnforcementState::record_relay(const IpAddress& client, const RelayFacts& relay) {
    const Cidr key = key_of(client);
    if (tallies_.find(key) != nullptr) note_relay(key, relay);
}

std::optional<SharedRelay> EnforcementState::relay_status(const Cidr& key,
                                                          const Tally& tally) const {
    if (const auto it = relays_.find(key); it != relays_.end() && it->second.seen)
        return it->second.seen;
    if (relay_good_mail_ > 0 && tally.accepted >= relay_good_mail_)
        return SharedRelay{SharedRelay::Why::good_mail, std::to_string(tally.accepted)};
    return std::nullopt;
}

std::optional<SharedRelay> EnforcementState::shared_relay(const Cidr& key) const {
    const Tally* tally = tallies_.find(key);
    return tally == nullptr ? std::nullopt : relay_status(key, *tally);
}

bool EnforcementState::covers_shared_relay(const Cidr& block) const {
    for (auto it = relays_.lower_bound(Cidr{block.base, 0});
         it != relays_.end() && block.contains(it->first.base); ++it)
        if (shared_relay(it->first)) return true;
    return false;
}

TallyRow EnforcementState::with_relay(TallyRow row) const {
    if (const auto it = relays_.find(row.key); it != relays_.end()) {
        row.relay = it->second.seen ? it->second.seen->to_string() : std::string();
        row.withheld = it->second.withheld;
    }
    return row;
}

std::optional<TallyRow> EnforcementState::tally_of(const Cidr& key, UnixTime now) const {
    auto row = tallies_.row(key, now);
    if (!row) return std::nullopt;
    return with_relay(std::move(*row));
}

void EnforcementState::add_ban(Ban ban, std::vector<Ban> replaces) {
    bans_.add(ban);
    pending_.bans.push_back({true, ban});
    for (const auto& m : replaces) drop_ban(m.key);
    events_.push_back({Event::Kind::banned, std::move(ban), std::move(replaces)});
}

void EnforcementState::refused(const Cidr& key, const std::vector<Ban>& replaces) {
    if (bans_.find(key) == nullptr) return;
    refused_.insert(key);
    drop_ban(key);
    for (const auto& m : replaces)
        if (bans_.find(m.key) == nullptr) {
            bans_.add(m);
            pending_.bans.push_back({true, m});
        }
    events_.push_back({Event::Kind::refused, Ban{key, {}, 0, 0, {}, BanOrigin::policy, false}, {}});
}

void EnforcementState::drop_ban(const Cidr& key) {
    if (!bans_.remove(key)) return;
    pending_.bans.push_back({false, Ban{key, {}, 0, 0, {}, BanOrigin::policy, false}});
}

void EnforcementState::aggregate(const Cidr& key, UnixTime now) {
    const auto block = block_to_ban(key, bans_, aggregation_, allowlist_);
    // A block the helper refused once (it holds our own or a protected address) is not
    // proposed again with every further ban inside it.
    if (!block || !bannable(*block) || refused_.contains(*block)) return;
    // A block would cut off every shared relay inside it, whatever they did.
    if (covers_shared_relay(*block)) return;
    auto members = bans_.inside(*block);
    Ban ban{*block,
            merged_tags(members),
            now,
            now + ban_duration_for(policy_.ban_duration, policy_, 1).count(),
            fmt::format("netblock:{}/{}", members.size(), block->prefix),
            BanOrigin::netblock,
            observe_};
    to_outbox(cluster::Op::Kind::ban, ban);
    add_ban(std::move(ban), std::move(members));
}

EnforcementState::Outcome EnforcementState::record_rejection(const IpAddress& client,
                                                             std::span<const std::string> tags,
                                                             UnixTime now,
                                                             const RelayFacts& relay_facts) {
    const Cidr key = key_of(client);
    const Cidr target = ban_key_of(client);
    Tally& tally = tallies_.record_rejection(key, tags, now);
    dirty_.insert(key);
    if (!host_.empty()) unpushed_.insert(key);
    note_relay(key, relay_facts);
    Outcome outcome{tally.recent_rejections.count(now, tallies_.window()), std::nullopt, {}};
    if (bans_.covering(client) != nullptr || !bannable(target)) return outcome;
    escalate(key, target, tags, now, outcome);
    return outcome;
}

void EnforcementState::escalate(const Cidr& key, const Cidr& target,
                                std::span<const std::string> tags, UnixTime now, Outcome& outcome) {
    Tally* tally = tallies_.find(key);
    if (tally == nullptr) return;
    // In a cluster the rules judge every host's counts.
    const auto there = elsewhere_.find(key);
    const Tally judged =
        there == elsewhere_.end() ? *tally : tallies_.merged(*tally, there->second);
    const EscalationRule* rule = firing_rule(policy_, tallies_, judged, tags, now);
    if (rule == nullptr) return;
    const auto relay = relay_status(key, judged);
    if (relay) {
        // A rejection cost the sender one message; a ban would cut off all its users.
        const EscalationRule* earned = rule;
        rule = firing_rule(policy_, tallies_, judged, tags, now, true);
        if (rule == nullptr) {
            ++relays_[key].withheld;
            outcome.withheld = relay;
            Ban would{target,       tallies_.tag_names(judged), now,     0,
                      earned->text, BanOrigin::policy,          observe_};
            EnforcementEvent event{Event::Kind::withheld, std::move(would), {}};
            event.relay = *relay;
            events_.push_back(std::move(event));
            return;
        }
    }
    // A repeat offender anywhere in the cluster gets the longer ban.
    tally->bans = static_cast<std::uint16_t>(std::max(tally->bans, judged.bans) + 1);
    const auto base = rule->duration.value_or(policy_.ban_duration);
    auto duration = ban_duration_for(base, policy_, tally->bans);
    if (relay) duration = std::min(duration, relay_max_ban_);
    Ban ban{target,     tallies_.tag_names(judged), now,     now + duration.count(),
            rule->text, BanOrigin::policy,          observe_};
    add_ban(ban);
    to_outbox(cluster::Op::Kind::ban, ban);
    outcome.new_ban = ban;
    // A translated client's ban is one address of the translator: never part of a block.
    if (target == key) aggregate(key, now);
}

bool EnforcementState::is_banned(const IpAddress& client) const {
    const Ban* ban = bans_.covering(client);
    return ban != nullptr && !ban->observed;
}

EnforcementState::ActionResult EnforcementState::manual_ban(const Cidr& net,
                                                            std::chrono::seconds duration,
                                                            std::string reason, UnixTime now) {
    if (!bannable(net))
        return {false, fmt::format("{} is loopback or allowlisted: not banned", net.to_string())};
    drop_ban(net);  // a manual ban replaces whatever was there
    std::vector<std::string> tags;
    if (!reason.empty()) tags.push_back(std::move(reason));
    const Ban ban{net,      tags,
                  now,      duration.count() == 0 ? 0 : now + duration.count(),
                  "manual", BanOrigin::manual,
                  observe_};
    add_ban(ban);
    to_outbox(cluster::Op::Kind::ban, ban);
    // The operator's word stands, but he should know whom it cuts off.
    std::string relays;
    for (auto it = relays_.lower_bound(Cidr{net.base, 0});
         it != relays_.end() && net.contains(it->first.base); ++it)
        if (const auto r = shared_relay(it->first))
            relays += fmt::format("{}{} ({})", relays.empty() ? "" : ", ", it->first.to_string(),
                                  r->to_string());
    if (!relays.empty())
        return {true, fmt::format("banned {}; note: it holds shared relays: {}", net.to_string(),
                                  relays)};
    return {true, fmt::format("banned {}", net.to_string())};
}

EnforcementState::ActionResult EnforcementState::manual_unban(const Cidr& net) {
    const Ban* ban = bans_.find(net);
    if (ban == nullptr) return {false, fmt::format("{} is not banned", net.to_string())};
    const Ban lifted = *ban;
    drop_ban(net);
    to_outbox(cluster::Op::Kind::unban, lifted);
    const Cidr key = net.is_host() ? key_of(net.base) : net;
    tallies_.forgive(key);  // or the next rejection would ban it straight back
    dirty_.insert(key);
    events_.push_back({Event::Kind::lifted, lifted, {}, Event::LiftReason::manual});
    return {true, fmt::format("unbanned {}", net.to_string())};
}

void EnforcementState::expire(UnixTime now) {
    for (auto& ban : bans_.expire(now)) {
        pending_.bans.push_back({false, ban});
        events_.push_back({Event::Kind::lifted, std::move(ban), {}, Event::LiftReason::expired});
    }
}

std::vector<Ban> EnforcementState::enforced_bans() const {
    std::vector<Ban> enforced;
    for (auto& ban : bans_.all())
        if (!ban.observed) enforced.push_back(std::move(ban));
    return enforced;
}

// ---- cluster ----

void EnforcementState::join_cluster(std::string host) {
    host_ = std::move(host);
}

void EnforcementState::restore_cluster(std::vector<OutboxEntry> outbox,
                                       std::map<std::string, std::string> meta) {
    for (auto& e : outbox) {
        next_seq_ = std::max(next_seq_, e.seq + 1);
        outbox_.push_back(std::move(e));
    }
    cluster_meta_ = std::move(meta);
}

void EnforcementState::to_outbox(cluster::Op::Kind kind, const Ban& ban) {
    if (host_.empty() || ban.observed) return;
    // A ban names who decided it (republished ones keep their host); the rest, us.
    const std::string& by = kind == cluster::Op::Kind::ban && !ban.host.empty() ? ban.host : host_;
    OutboxEntry entry{next_seq_++, cluster::Op{kind, ban, by}};
    entry.op.ban.host = by;
    pending_.outbox_added.push_back(entry);
    outbox_.push_back(std::move(entry));
}

std::vector<OutboxEntry> EnforcementState::outbox(std::size_t limit) const {
    std::vector<OutboxEntry> out;
    for (const auto& e : outbox_) {
        if (out.size() >= limit) break;
        out.push_back(e);
    }
    return out;
}

void EnforcementState::published(std::uint64_t seq) {
    const auto it = std::find_if(outbox_.begin(), outbox_.end(),
                                 [&](const OutboxEntry& e) { return e.seq == seq; });
    if (it == outbox_.end()) return;
    outbox_.erase(it);
    pending_.outbox_published.push_back(seq);
}

void EnforcementState::republish_all() {
    for (const auto& net : runtime_allows_)
        to_outbox(cluster::Op::Kind::allow, Ban{net, {}, 0, 0, {}, BanOrigin::manual, false});
    for (auto ban : bans_.all()) {
        // Whoever decided it, the terms stay: the host field says who.
        to_outbox(cluster::Op::Kind::ban, ban);
    }
    tallies_.for_each([this](const Cidr& key, const Tally&) { unpushed_.insert(key); });
}

std::vector<EnforcementState::TallyPush> EnforcementState::take_tally_pushes(UnixTime now,
                                                                             bool all) {
    std::vector<TallyPush> out;
    if (host_.empty()) return out;
    if (all) tallies_.for_each([this](const Cidr& key, const Tally&) { unpushed_.insert(key); });
    out.reserve(unpushed_.size());
    for (const auto& key : unpushed_) {
        const Tally* t = tallies_.find(key);
        if (t == nullptr) continue;
        // Only what still counts: a tally quiet for a whole window has nothing to say.
        if (t->last_seen <= now - tallies_.window().count()) continue;
        out.push_back({key, cluster::tally_merge_args(host_, *t, tallies_.tag_hits(*t),
                                                      tallies_.window(), now)});
    }
    unpushed_.clear();
    return out;
}

void EnforcementState::merge_elsewhere(const Cidr& key, TallyElsewhere elsewhere, UnixTime now) {
    if (tallies_.find(key) == nullptr) return;  // evicted meanwhile
    elsewhere_[key] = std::move(elsewhere);
    if (bans_.covering(key.base) != nullptr || !bannable(key)) return;
    Outcome ignored;
    escalate(key, key, {}, now, ignored);
}

std::optional<TallyElsewhere> EnforcementState::elsewhere(const Cidr& key) const {
    const auto it = elsewhere_.find(key);
    if (it == elsewhere_.end()) return std::nullopt;
    return it->second;
}

std::string EnforcementState::apply(const cluster::Op& op, UnixTime now) {
    const Cidr& net = op.ban.key;
    switch (op.kind) {
        case cluster::Op::Kind::ban: {
            // Redis can ask, not force: the same checks as for a ban decided here.
            if (!bannable(net)) return "allowlisted, protected or our own address";
            // A policy ban is one tally's network, a netblock one aggregation block:
            // nothing broader comes in under those names.
            const bool v4 = net.family() == Family::v4;
            if (op.ban.origin == BanOrigin::policy &&
                net.prefix != (v4 ? v4_prefix_ : v6_prefix_) && net.prefix != 128)
                return "not the size of a tally";
            if (op.ban.origin == BanOrigin::netblock &&
                net.prefix != (v4 ? aggregation_.ipv4_prefix : aggregation_.ipv6_prefix))
                return "not the size of a netblock";
            if (op.ban.expires != 0 && op.ban.expires <= now) return "expired";
            if (op.ban.origin == BanOrigin::policy) {
                const Tally* t = tallies_.find(net.is_host() ? key_of(net.base) : net);
                const auto relay =
                    t ? relay_status(net.is_host() ? key_of(net.base) : net, *t) : std::nullopt;
                const auto rule = conf::parse_rule(op.ban.rule);
                const bool opted_in = std::holds_alternative<EscalationRule>(rule) &&
                                      std::get<EscalationRule>(rule).bans_shared_relays;
                if (relay && !opted_in) return "a shared relay here (" + relay->to_string() + ")";
            }
            if (op.ban.origin == BanOrigin::netblock && covers_shared_relay(net))
                return "the block covers a shared relay here";
            Ban ban = op.ban;
            ban.observed = observe_;
            if (const Ban* current = bans_.find(net)) {
                const bool longer =
                    current->expires != 0 && (ban.expires == 0 || ban.expires > current->expires);
                if (!longer && ban.origin != BanOrigin::manual) return {};
                drop_ban(net);
            }
            add_ban(std::move(ban));
            return {};
        }
        case cluster::Op::Kind::unban: {
            const Cidr key = net.is_host() ? key_of(net.base) : net;
            tallies_.forgive(key);
            dirty_.insert(key);
            elsewhere_.erase(key);
            const Ban* ban = bans_.find(net);
            if (ban == nullptr) return {};
            Ban lifted = *ban;
            drop_ban(net);
            events_.push_back(
                {Event::Kind::lifted, std::move(lifted), {}, Event::LiftReason::manual});
            return {};
        }
        case cluster::Op::Kind::allow:
            if (std::find(runtime_allows_.begin(), runtime_allows_.end(), net) ==
                runtime_allows_.end()) {
                runtime_allows_.push_back(net);
                pending_.allows_added.push_back(net);
            }
            lift_allowed();
            return {};
    }
    return {};
}

void EnforcementState::adopt(const Ban& cluster_ban) {
    const Ban* mine = bans_.find(cluster_ban.key);
    if (mine == nullptr || mine->observed) return;
    if (mine->since == cluster_ban.since && mine->expires == cluster_ban.expires &&
        mine->host == cluster_ban.host)
        return;
    Ban ban = cluster_ban;
    ban.observed = false;
    drop_ban(ban.key);
    add_ban(std::move(ban));
}

void EnforcementState::set_cluster_meta(const std::string& name, std::string value) {
    cluster_meta_[name] = value;
    pending_.cluster_meta[name] = std::move(value);
}

std::string EnforcementState::cluster_meta(const std::string& name) const {
    const auto it = cluster_meta_.find(name);
    return it == cluster_meta_.end() ? std::string() : it->second;
}

std::vector<EnforcementEvent> EnforcementState::take_events() {
    return std::exchange(events_, {});
}

StateChanges EnforcementState::take_changes(UnixTime now) {
    StateChanges out = std::exchange(pending_, {});
    out.tallies.reserve(dirty_.size());
    for (const auto& key : dirty_)
        if (auto row = tally_of(key, now)) out.tallies.push_back(std::move(*row));
    dirty_.clear();
    return out;
}

std::optional<Ban> EnforcementState::ban_covering(const IpAddress& addr) const {
    if (const Ban* b = bans_.covering(addr)) return *b;
    return std::nullopt;
}

}  // namespace smtpwall
