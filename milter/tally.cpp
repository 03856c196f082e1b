#include "milter/tally.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace smtpwall {

std::int64_t WindowCounter::bucket_of(UnixTime t, std::chrono::seconds window) {
    const std::int64_t span = std::max<std::int64_t>(1, window.count() / kBuckets);
    return t / span;
}

void WindowCounter::add(UnixTime now, std::chrono::seconds window) {
    const auto bucket = bucket_of(now, window);
    if (bucket > newest_) {
        // Clear the buckets that the window slid past since the newest event.
        const auto stale = std::min<std::int64_t>(bucket - newest_, kBuckets);
        for (std::int64_t i = 1; i <= stale; ++i) counts_[(newest_ + i) % kBuckets] = 0;
        newest_ = bucket;
    }
    if (bucket <= newest_ - kBuckets) return;  // older than the window: nothing to count
    auto& slot = counts_[bucket % kBuckets];
    if (slot < std::numeric_limits<std::uint16_t>::max()) ++slot;
}

std::uint32_t WindowCounter::count(UnixTime now, std::chrono::seconds window) const {
    const auto current = bucket_of(now, window);
    std::uint32_t total = 0;
    for (std::int64_t b = std::max<std::int64_t>(0, newest_ - kBuckets + 1); b <= newest_; ++b)
        if (b > current - kBuckets && b <= current) total += counts_[b % kBuckets];
    return total;
}

std::uint8_t TagNames::id(std::string_view name) {
    for (std::size_t i = 0; i < names_.size(); ++i)
        if (names_[i] == name) return static_cast<std::uint8_t>(i);
    if (names_.size() > std::numeric_limits<std::uint8_t>::max())
        return std::numeric_limits<std::uint8_t>::max();  // never reached with sane configs
    names_.emplace_back(name);
    return static_cast<std::uint8_t>(names_.size() - 1);
}

Tally& TallyStore::touch(const Cidr& key, UnixTime now) {
    auto [it, inserted] = tallies_.try_emplace(key);
    if (inserted) it->second.first_seen = now;
    it->second.last_seen = std::max(it->second.last_seen, now);
    return it->second;
}

void TallyStore::record_session(const Cidr& key, UnixTime now) {
    ++touch(key, now).sessions;
}

const Tally& TallyStore::record_rejection(const Cidr& key, std::span<const std::string> tags,
                                          UnixTime now) {
    Tally& t = touch(key, now);
    ++t.rejections;
    t.recent.add(now, window_);
    for (const auto& name : tags) {
        const auto id = names_.id(name);
        auto it = std::find_if(t.tags.begin(), t.tags.end(),
                               [&](const TagCount& c) { return c.tag == id; });
        if (it == t.tags.end()) {
            t.tags.push_back({id, 1});
        } else {
            ++it->count;
        }
    }
    return t;
}

const Tally* TallyStore::find(const Cidr& key) const {
    const auto it = tallies_.find(key);
    return it == tallies_.end() ? nullptr : &it->second;
}

std::vector<std::string> TallyStore::tag_names(const Tally& tally) const {
    auto counts = tally.tags;
    std::stable_sort(counts.begin(), counts.end(),
                     [](const TagCount& a, const TagCount& b) { return a.count > b.count; });
    std::vector<std::string> out;
    for (const auto& c : counts) out.push_back(names_.name(c.tag));
    return out;
}

TallyRow TallyStore::make_row(const Cidr& key, const Tally& tally, UnixTime now) const {
    TallyRow row{key, tally, tally.recent.count(now, window_), {}};
    auto counts = tally.tags;
    std::stable_sort(counts.begin(), counts.end(),
                     [](const TagCount& a, const TagCount& b) { return a.count > b.count; });
    for (const auto& c : counts) row.tags.emplace_back(names_.name(c.tag), c.count);
    return row;
}

std::optional<TallyRow> TallyStore::row(const Cidr& key, UnixTime now) const {
    const auto* t = find(key);
    if (t == nullptr) return std::nullopt;
    return make_row(key, *t, now);
}

std::vector<TallyRow> TallyStore::top(std::size_t limit, std::string_view tag, UnixTime now) const {
    std::vector<TallyRow> rows;
    for (const auto& [key, tally] : tallies_) {
        if (tally.rejections == 0) continue;
        TallyRow row = make_row(key, tally, now);
        if (!tag.empty() && std::none_of(row.tags.begin(), row.tags.end(),
                                         [&](const auto& t) { return t.first == tag; }))
            continue;
        rows.push_back(std::move(row));
    }
    std::sort(rows.begin(), rows.end(), [](const TallyRow& a, const TallyRow& b) {
        if (a.recent != b.recent) return a.recent > b.recent;
        if (a.tally.rejections != b.tally.rejections)
            return a.tally.rejections > b.tally.rejections;
        return a.key < b.key;
    });
    if (rows.size() > limit) rows.resize(limit);
    return rows;
}

std::optional<BanDecision> decide_ban(const Cidr& key, const Tally& tally,
                                      std::span<const std::string> new_tags,
                                      std::vector<std::string> all_tags,
                                      const EscalationRules& rules, std::chrono::seconds window,
                                      UnixTime now) {
    std::string rule;
    for (const auto& tag : new_tags) {
        if (std::find(rules.ban_on_first.begin(), rules.ban_on_first.end(), tag) !=
            rules.ban_on_first.end()) {
            rule = "first-hit:" + tag;
            break;
        }
    }
    if (rule.empty() && rules.max_rejections > 0 &&
        tally.recent.count(now, window) >= rules.max_rejections)
        rule = fmt::format("threshold:{}/{}s", rules.max_rejections, window.count());
    if (rule.empty()) return std::nullopt;
    return BanDecision{key, std::move(all_tags), now + rules.ban_duration.count(), rule};
}

bool BanList::add(Ban ban) {
    const auto key = ban.key;
    return bans_.try_emplace(key, std::move(ban)).second;
}

bool BanList::remove(const Cidr& key) {
    return bans_.erase(key) > 0;
}

const Ban* BanList::find(const Cidr& key) const {
    const auto it = bans_.find(key);
    return it == bans_.end() ? nullptr : &it->second;
}

bool BanList::covers(const IpAddress& addr) const {
    return std::any_of(bans_.begin(), bans_.end(),
                       [&](const auto& kv) { return kv.first.contains(addr.unmapped()); });
}

std::vector<Ban> BanList::expire(UnixTime now) {
    std::vector<Ban> gone;
    for (auto it = bans_.begin(); it != bans_.end();) {
        if (it->second.expires != 0 && it->second.expires <= now) {
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

}  // namespace smtpwall
