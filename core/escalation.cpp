// Which rule a tally fires, how long the ban lasts, and when bans make a netblock ban.
#include "core/escalation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/enum_names.hpp"

namespace smtpwall {

constexpr EnumNames<BanOrigin, 3> kOriginNames{{
    {BanOrigin::policy, "policy"},
    {BanOrigin::manual, "manual"},
    {BanOrigin::netblock, "netblock"},
}};

std::string_view origin_name(BanOrigin origin) {
    return name_of(kOriginNames, origin);
}

std::optional<BanOrigin> origin_from_name(std::string_view name) {
    return value_of(kOriginNames, name);
}

std::chrono::seconds ban_duration_for(std::chrono::seconds base, const EscalationPolicy& policy,
                                      unsigned nth) {
    const double factor = std::pow(std::max(1.0, policy.repeat_growth), nth > 0 ? nth - 1 : 0);
    const double seconds = static_cast<double>(base.count()) * factor;
    const double cap = static_cast<double>(std::max(policy.max_ban_duration, base).count());
    return std::chrono::seconds(static_cast<std::int64_t>(std::min(seconds, cap)));
}

const EscalationRule* firing_rule(const EscalationPolicy& policy, const TallyStore& store,
                                  const Tally& tally, std::span<const std::string> new_tags,
                                  UnixTime now, bool shared_relay) {
    for (const auto& rule : policy.rules) {
        if (shared_relay && !rule.bans_shared_relays) continue;
        if (rule.kind == EscalationRule::Kind::first_hit) {
            if (std::find(new_tags.begin(), new_tags.end(), rule.tag) != new_tags.end())
                return &rule;
            continue;
        }
        const auto recent = tally.recent_rejections.count(now, store.window(), rule.within);
        if (recent < rule.rejections) continue;
        const bool tags_met = std::all_of(
            rule.required_tags.begin(), rule.required_tags.end(),
            [&](const std::string& t) { return store.tag_seen(tally, t, now, rule.within); });
        if (!tags_met) continue;
        if (policy.good_mail_ratio > 0) {
            const auto accepted = tally.recent_accepted.count(now, store.window(), rule.within);
            if (static_cast<double>(accepted) >= policy.good_mail_ratio * recent) continue;
        }
        return &rule;
    }
    return nullptr;
}

void BanList::index(const Cidr& key, int delta) {
    const auto slot = std::make_pair(key.family(), key.prefix);
    if (delta > 0) {
        ++prefixes_[slot];
    } else if (--prefixes_[slot] == 0) {
        prefixes_.erase(slot);
    }
}

bool BanList::add(Ban ban) {
    const auto key = ban.key;
    const bool added = bans_.try_emplace(key, std::move(ban)).second;
    if (added) index(key, +1);
    return added;
}

bool BanList::remove(const Cidr& key) {
    if (bans_.erase(key) == 0) return false;
    index(key, -1);
    return true;
}

std::size_t BanList::count(BanOrigin origin) const {
    return static_cast<std::size_t>(std::count_if(
        bans_.begin(), bans_.end(), [&](const auto& kv) { return kv.second.origin == origin; }));
}

const Ban* BanList::find(const Cidr& key) const {
    const auto it = bans_.find(key);
    return it == bans_.end() ? nullptr : &it->second;
}

const Ban* BanList::covering(const IpAddress& addr) const {
    const IpAddress a = addr.unmapped();
    for (auto it = prefixes_.rbegin(); it != prefixes_.rend(); ++it) {
        const auto [family, prefix] = it->first;
        if (family != a.family) continue;
        if (const Ban* ban = find(Cidr{a.masked(prefix), prefix})) return ban;
    }
    return nullptr;
}

std::vector<Ban> BanList::expire(UnixTime now) {
    std::vector<Ban> gone;
    for (auto it = bans_.begin(); it != bans_.end();) {
        if (it->second.expires != 0 && it->second.expires <= now) {
            index(it->first, -1);
            gone.push_back(std::move(it->second));
            it = bans_.erase(it);
        } else {
            ++it;
        }
    }
    return gone;
}

std::vector<Ban> BanList::all() const {
    std::vector<Ban> out;
    out.reserve(bans_.size());
    for (const auto& [key, ban] : bans_) out.push_back(ban);
    std::sort(out.begin(), out.end(), [](const Ban& a, const Ban& b) { return a.key < b.key; });
    return out;
}

std::vector<Ban> BanList::inside(const Cidr& block) const {
    std::vector<Ban> out;
    for (const auto& [key, ban] : bans_)
        if (key != block && block.contains(key)) out.push_back(ban);
    return out;
}

std::optional<Cidr> block_to_ban(const Cidr& key, const BanList& bans,
                                 const AggregationPolicy& policy, const CidrList& allowlist) {
    if (!policy.enabled) return std::nullopt;
    const int prefix = key.family() == Family::v4 ? policy.ipv4_prefix : policy.ipv6_prefix;
    if (key.prefix <= prefix) return std::nullopt;
    const Cidr block{key.base.masked(prefix), prefix};
    if (bans.find(block) != nullptr || allowlist.overlaps(block)) return std::nullopt;
    const auto members = bans.inside(block);
    if (members.size() < policy.min_banned) return std::nullopt;
    return block;
}

}  // namespace smtpwall
