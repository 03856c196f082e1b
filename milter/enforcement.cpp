#include "milter/enforcement.hpp"

#include <fmt/format.h>

#include "milter/logging.hpp"

namespace smtpwall {

Enforcement::Enforcement(const conf::MilterConfig& config, FirewallLink& firewall)
    : allowlist_(config.checks.allowlist),
      v4_prefix_(config.tally.ipv4_prefix),
      v6_prefix_(config.tally.ipv6_prefix),
      rules_{config.escalation.ban_on_first, config.escalation.max_rejections,
             config.escalation.ban_duration},
      firewall_(firewall),
      tallies_(config.escalation.window) {}

bool Enforcement::bannable(const Cidr& key) const {
    return !key.base.is_loopback() && !key.base.is_unspecified() && !allowlist_.overlaps(key);
}

void Enforcement::record_session(const IpAddress& client, UnixTime now) {
    std::lock_guard lock(mutex_);
    tallies_.record_session(tally_key(client, v4_prefix_, v6_prefix_), now);
}

Enforcement::Outcome Enforcement::record_rejection(const IpAddress& client,
                                                   std::span<const std::string> tags,
                                                   UnixTime now) {
    const Cidr key = tally_key(client, v4_prefix_, v6_prefix_);
    std::lock_guard lock(mutex_);
    const Tally& tally = tallies_.record_rejection(key, tags, now);
    Outcome outcome{tally.recent.count(now, tallies_.window()), std::nullopt};
    if (bans_.find(key) != nullptr || !bannable(key)) return outcome;

    auto decision =
        decide_ban(key, tally, tags, tallies_.tag_names(tally), rules_, tallies_.window(), now);
    if (!decision) return outcome;
    Ban ban{key, std::move(decision->tags), now, decision->expires, std::move(decision->rule)};
    bans_.add(ban);
    firewall_.ban(ban);
    log_info(fmt::format("ban {} {} {} {} recent={}", kv("client", key.to_string()),
                         kv("rule", ban.rule),
                         kv("tags", fmt::format("{}", fmt::join(ban.tags, ","))),
                         kv("expires", std::to_string(ban.expires)), outcome.recent));
    outcome.new_ban = std::move(ban);
    return outcome;
}

bool Enforcement::is_banned(const IpAddress& client) const {
    std::lock_guard lock(mutex_);
    return bans_.covers(client);
}

void Enforcement::expire(UnixTime now) {
    std::lock_guard lock(mutex_);
    for (const auto& ban : bans_.expire(now)) {
        firewall_.unban(ban.key);
        log_info(fmt::format("unban {} reason=expired", kv("client", ban.key.to_string())));
    }
}

void Enforcement::resend_bans() {
    std::lock_guard lock(mutex_);
    for (const auto& ban : bans_.all()) firewall_.ban(ban);
}

std::vector<TallyRow> Enforcement::top(std::size_t limit, std::string_view tag,
                                       UnixTime now) const {
    std::lock_guard lock(mutex_);
    return tallies_.top(limit, tag, now);
}

std::vector<Ban> Enforcement::bans() const {
    std::lock_guard lock(mutex_);
    return bans_.all();
}

std::chrono::seconds Enforcement::window() const {
    return tallies_.window();
}

}  // namespace smtpwall
