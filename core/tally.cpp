// Per-client tallies with sliding windows, bounded memory and eviction.
#include "core/tally.hpp"

#include <algorithm>
#include <limits>

namespace smtpwall {

std::int64_t WindowCounter::span_of(std::chrono::seconds window) {
    return std::max<std::int64_t>(1, window.count() / kBuckets);
}

WindowCounter WindowCounter::restore(const Buckets& counts, std::uint32_t newest) {
    WindowCounter w;
    w.counts_ = counts;
    w.newest_ = newest;
    return w;
}

void WindowCounter::add(UnixTime now, std::chrono::seconds window, std::uint16_t n) {
    const auto bucket = static_cast<std::uint32_t>(now / span_of(window));
    if (bucket > newest_) {
        // Clear the buckets the window slid past since the newest event.
        const auto stale = std::min<std::uint32_t>(bucket - newest_, kBuckets);
        for (std::uint32_t i = 1; i <= stale; ++i) counts_[(newest_ + i) % kBuckets] = 0;
        newest_ = bucket;
    }
    if (bucket + kBuckets <= newest_) return;  // older than the window: nothing to count
    auto& slot = counts_[bucket % kBuckets];
    slot = static_cast<std::uint16_t>(
        std::min<std::uint32_t>(slot + n, std::numeric_limits<std::uint16_t>::max()));
}

std::uint32_t WindowCounter::bucket_of(UnixTime t, std::chrono::seconds window) {
    return static_cast<std::uint32_t>(t / span_of(window));
}

std::vector<std::pair<std::uint32_t, std::uint32_t>> WindowCounter::recent_buckets(
    UnixTime now, std::chrono::seconds window) const {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
    const std::int64_t current = now / span_of(window);
    const std::int64_t newest = newest_;
    for (std::int64_t b = std::max<std::int64_t>(0, newest - kBuckets + 1); b <= newest; ++b)
        if (b > current - kBuckets && b <= current && counts_[b % kBuckets] > 0)
            out.emplace_back(static_cast<std::uint32_t>(b), counts_[b % kBuckets]);
    return out;
}

void WindowCounter::add_bucket(std::uint32_t bucket, std::chrono::seconds window, std::uint16_t n) {
    add(static_cast<UnixTime>(bucket) * span_of(window), window, n);
}

std::uint32_t WindowCounter::count(UnixTime now, std::chrono::seconds window,
                                   std::chrono::seconds span) const {
    const std::int64_t bucket_span = span_of(window);
    const std::int64_t current = now / bucket_span;
    const std::int64_t buckets = std::clamp<std::int64_t>(
        (std::min(span, window).count() + bucket_span - 1) / bucket_span, 1, kBuckets);
    std::uint32_t total = 0;
    const std::int64_t newest = newest_;
    for (std::int64_t b = std::max<std::int64_t>(0, newest - kBuckets + 1); b <= newest; ++b)
        if (b > current - buckets && b <= current) total += counts_[b % kBuckets];
    return total;
}

std::uint8_t TagNames::id(std::string_view name) {
    if (const auto known = find(name)) return *known;
    if (names_.size() > std::numeric_limits<std::uint8_t>::max())
        return std::numeric_limits<std::uint8_t>::max();  // 256 distinct tags: never with sane
                                                          // configs
    names_.emplace_back(name);
    return static_cast<std::uint8_t>(names_.size() - 1);
}

std::optional<std::uint8_t> TagNames::find(std::string_view name) const {
    for (std::size_t i = 0; i < names_.size(); ++i)
        if (names_[i] == name) return static_cast<std::uint8_t>(i);
    return std::nullopt;
}

Tally& TallyStore::touch(const Cidr& key, UnixTime now) {
    auto [it, inserted] = tallies_.try_emplace(key);
    if (inserted) it->second.first_seen = now;
    it->second.last_seen = std::max(it->second.last_seen, now);
    return it->second;
}

Tally& TallyStore::record_session(const Cidr& key, UnixTime now) {
    Tally& t = touch(key, now);
    ++t.sessions;
    return t;
}

Tally& TallyStore::record_accepted(const Cidr& key, UnixTime now) {
    Tally& t = touch(key, now);
    ++t.accepted;
    t.recent_accepted.add(now, window_);
    return t;
}

Tally& TallyStore::record_rejection(const Cidr& key, std::span<const std::string> tags,
                                    UnixTime now) {
    Tally& t = touch(key, now);
    ++t.rejections;
    t.recent_rejections.add(now, window_);
    for (const auto& name : tags) {
        const auto id = names_.id(name);
        auto it = std::find_if(t.tags.begin(), t.tags.end(),
                               [&](const TagCount& c) { return c.tag == id; });
        if (it == t.tags.end()) it = t.tags.insert(t.tags.end(), TagCount{0, 0, id});
        ++it->count;
        it->last = static_cast<std::uint32_t>(now);
    }
    return t;
}

void TallyStore::forgive(const Cidr& key) {
    if (auto* t = find(key)) t->recent_rejections.clear();
}

const Tally* TallyStore::find(const Cidr& key) const {
    const auto it = tallies_.find(key);
    return it == tallies_.end() ? nullptr : &it->second;
}

Tally* TallyStore::find(const Cidr& key) {
    const auto it = tallies_.find(key);
    return it == tallies_.end() ? nullptr : &it->second;
}

bool TallyStore::tag_seen(const Tally& tally, std::string_view tag, UnixTime now,
                          std::chrono::seconds span) const {
    const auto id = names_.find(tag);
    if (!id) return false;
    return std::any_of(tally.tags.begin(), tally.tags.end(), [&](const TagCount& c) {
        return c.tag == *id && static_cast<UnixTime>(c.last) > now - span.count();
    });
}

std::vector<std::string> TallyStore::tag_names(const Tally& tally) const {
    auto counts = tally.tags;
    std::stable_sort(counts.begin(), counts.end(),
                     [](const TagCount& a, const TagCount& b) { return a.count > b.count; });
    std::vector<std::string> out;
    for (const auto& c : counts) out.push_back(names_.name(c.tag));
    return out;
}

std::vector<std::pair<std::string, UnixTime>> TallyStore::tag_hits(const Tally& tally) const {
    std::vector<std::pair<std::string, UnixTime>> out;
    for (const auto& c : tally.tags) out.emplace_back(names_.name(c.tag), c.last);
    return out;
}

Tally TallyStore::merged(const Tally& tally, const TallyElsewhere& elsewhere) {
    Tally out = tally;
    const auto clamp16 = [](std::uint32_t n) {
        return static_cast<std::uint16_t>(std::min<std::uint32_t>(n, 65535));
    };
    for (const auto& [bucket, n] : elsewhere.rejected)
        out.recent_rejections.add_bucket(bucket, window_, clamp16(n));
    for (const auto& [bucket, n] : elsewhere.accepted)
        out.recent_accepted.add_bucket(bucket, window_, clamp16(n));
    for (const auto& [name, last] : elsewhere.tags) {
        const auto id = names_.id(name);
        auto it = std::find_if(out.tags.begin(), out.tags.end(),
                               [&](const TagCount& c) { return c.tag == id; });
        if (it == out.tags.end()) it = out.tags.insert(out.tags.end(), TagCount{0, 0, id});
        it->last = std::max(it->last, static_cast<std::uint32_t>(last));
    }
    out.bans = static_cast<std::uint16_t>(
        std::max<std::uint32_t>(out.bans, std::min<std::uint32_t>(elsewhere.bans, 65535)));
    return out;
}

TallyRow TallyStore::make_row(const Cidr& key, const Tally& tally, UnixTime now) const {
    TallyRow row{key, tally, tally.recent_rejections.count(now, window_), {}, {}, 0};
    auto counts = tally.tags;
    std::stable_sort(counts.begin(), counts.end(),
                     [](const TagCount& a, const TagCount& b) { return a.count > b.count; });
    for (const auto& c : counts) row.tags.push_back({names_.name(c.tag), c.count, c.last});
    return row;
}

std::optional<TallyRow> TallyStore::row(const Cidr& key, UnixTime now) const {
    const auto* t = find(key);
    if (t == nullptr) return std::nullopt;
    return make_row(key, *t, now);
}

std::vector<TallyRow> TallyStore::top(std::size_t limit, std::string_view tag, UnixTime now) const {
    // Rank on the raw numbers first; build rows (strings) only for the winners.
    std::vector<std::pair<std::uint32_t, const std::pair<const Cidr, Tally>*>> ranked;
    int tag_id = -1;  // no filter
    if (!tag.empty()) {
        const auto id = names_.find(tag);
        if (!id) return {};
        tag_id = *id;
    }
    for (const auto& entry : tallies_) {
        const Tally& t = entry.second;
        if (t.rejections == 0) continue;
        if (tag_id >= 0 && std::none_of(t.tags.begin(), t.tags.end(),
                                        [&](const TagCount& c) { return c.tag == tag_id; }))
            continue;
        ranked.emplace_back(t.recent_rejections.count(now, window_), &entry);
    }
    auto better = [](const auto& a, const auto& b) {
        if (a.first != b.first) return a.first > b.first;
        if (a.second->second.rejections != b.second->second.rejections)
            return a.second->second.rejections > b.second->second.rejections;
        return a.second->first < b.second->first;
    };
    const auto n = std::min(limit, ranked.size());
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), ranked.end(),
                      better);
    std::vector<TallyRow> rows;
    rows.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        rows.push_back(make_row(ranked[i].second->first, ranked[i].second->second, now));
    return rows;
}

std::vector<Cidr> TallyStore::evict(const std::function<bool(const Cidr&)>& keep) {
    if (!over_capacity()) return {};
    // Dropping a tenth at once keeps eviction amortised O(1) per insert.
    const std::size_t target = max_entries_ - max_entries_ / 10;
    std::vector<std::pair<UnixTime, Cidr>> candidates;
    candidates.reserve(tallies_.size());
    for (const auto& [key, t] : tallies_)
        if (!keep(key)) candidates.emplace_back(t.last_seen, key);
    const std::size_t excess = tallies_.size() > target ? tallies_.size() - target : 0;
    const std::size_t n = std::min(excess, candidates.size());
    std::nth_element(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(n),
                     candidates.end());
    std::vector<Cidr> gone;
    gone.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        tallies_.erase(candidates[i].second);
        gone.push_back(candidates[i].second);
    }
    return gone;
}

void TallyStore::restore(const TallyRow& row) {
    Tally t = row.tally;
    t.tags.clear();
    for (const auto& tag : row.tags)
        t.tags.push_back({static_cast<std::uint32_t>(tag.last), tag.count, names_.id(tag.name)});
    tallies_[row.key] = std::move(t);
}

}  // namespace smtpwall
