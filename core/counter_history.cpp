// Counter samples into hourly growth, with reset detection (core/counter_history.hpp).
#include "core/counter_history.hpp"

#include <algorithm>
#include <limits>

#include "common/enum_names.hpp"

namespace smtpwall {

namespace {

constexpr EnumNames<EntryEnd, 6> kEntryEndNames{{
    {EntryEnd::none, "active"},
    {EntryEnd::expired, "expired"},
    {EntryEnd::unbanned, "unbanned"},
    {EntryEnd::allowlisted, "allowlisted"},
    {EntryEnd::aggregated, "aggregated"},
    {EntryEnd::gone, "gone"},
}};

}  // namespace

std::string_view entry_end_name(EntryEnd end) {
    return name_of(kEntryEndNames, end);
}
std::optional<EntryEnd> entry_end_from_name(std::string_view name) {
    return value_of(kEntryEndNames, name);
}

std::uint64_t estimated_attempts(std::uint64_t packets) {
    return (packets + kSynsPerAttempt - 1) / kSynsPerAttempt;
}

void HistoryChanges::merge(HistoryChanges later) {
    // Entries are written before removals: a net removed and written again must not
    // keep an older removal, nor a removed one an older write.
    std::unordered_set<Cidr> written,
        removed(later.entries_removed.begin(), later.entries_removed.end());
    for (const auto& e : later.entries) written.insert(e.net);
    std::erase_if(entries_removed, [&](const Cidr& net) { return written.contains(net); });
    std::erase_if(entries, [&](const HistoryEntry& e) { return removed.contains(e.net); });
    auto append = [](auto& to, auto& from) {
        to.insert(to.end(), std::make_move_iterator(from.begin()),
                  std::make_move_iterator(from.end()));
    };
    append(entries, later.entries);
    append(entries_removed, later.entries_removed);
    append(traffic, later.traffic);
    append(counts, later.counts);
    append(bans, later.bans);
    pruned_before = std::max(pruned_before, later.pruned_before);
}

CounterHistory::CounterHistory(std::chrono::seconds retention) : retention_(retention) {}

void CounterHistory::restore(Contents contents) {
    for (auto& e : contents.entries) {
        const Cidr net = e.net;
        if (e.base_packets && e.base_bytes) in_kernel_.insert(net);
        entries_[net] = std::move(e);
    }
    for (const auto& row : contents.traffic) open_hours_[row.hour][row.net] = row.counts;
    seal_hours_before(std::numeric_limits<UnixTime>::max());
    for (const auto& row : contents.counts) counts_[row.hour][row.name] = row.value;
    bans_ = std::move(contents.bans);
    std::stable_sort(bans_.begin(), bans_.end(),
                     [](const BanRecord& a, const BanRecord& b) { return a.time < b.time; });
}

HistoryEntry& CounterHistory::entry_for(const helperproto::Entry& e, UnixTime now) {
    auto [it, fresh] = entries_.try_emplace(e.net);
    HistoryEntry& entry = it->second;
    if (fresh) {
        entry.net = e.net;
        entry.first_seen = now;
        // Pruned before and back now: its record is written again, not removed.
        std::erase(removed_entries_, e.net);
    }
    entry.origin = e.origin;
    if (!e.tags.empty()) entry.tags = e.tags;
    return entry;
}

void CounterHistory::add_traffic(UnixTime now, const Cidr& net, const TrafficCounts& delta) {
    if (delta.packets == 0 && delta.bytes == 0) return;
    const UnixTime hour = hour_of(now);
    if (const auto sealed = sealed_hours_.find(hour); sealed != sealed_hours_.end()) {
        // A past hour counted again (restored, or a clock set back): open it.
        auto& open = open_hours_[hour];
        for (const auto& row : sealed->second) open[row.net] = row.counts;
        sealed_hours_.erase(sealed);
    }
    open_hours_[hour][net] += delta;
    dirty_traffic_.emplace(hour, net);
}

void CounterHistory::seal_hours_before(UnixTime hour) {
    while (!open_hours_.empty() && open_hours_.begin()->first < hour) {
        auto node = open_hours_.extract(open_hours_.begin());
        auto& rows = sealed_hours_[node.key()];
        rows.reserve(rows.size() + node.mapped().size());
        for (const auto& [net, counts] : node.mapped()) rows.push_back({net, counts});
        std::sort(rows.begin(), rows.end(),
                  [](const SealedRow& a, const SealedRow& b) { return a.net < b.net; });
        rows.shrink_to_fit();
    }
}

TrafficCounts CounterHistory::traffic_at(UnixTime hour, const Cidr& net) const {
    if (const auto open = open_hours_.find(hour); open != open_hours_.end()) {
        const auto it = open->second.find(net);
        return it == open->second.end() ? TrafficCounts{} : it->second;
    }
    if (const auto sealed = sealed_hours_.find(hour); sealed != sealed_hours_.end()) {
        const auto& rows = sealed->second;
        const auto it =
            std::lower_bound(rows.begin(), rows.end(), net,
                             [](const SealedRow& r, const Cidr& n) { return r.net < n; });
        if (it != rows.end() && it->net == net) return it->counts;
    }
    return {};
}

template <class Visit>
void CounterHistory::for_each_row(UnixTime from, UnixTime until, Visit visit) const {
    for (auto it = open_hours_.lower_bound(hour_of(from));
         it != open_hours_.end() && it->first < until; ++it)
        for (const auto& [net, counts] : it->second) visit(net, counts);
    for (auto it = sealed_hours_.lower_bound(hour_of(from));
         it != sealed_hours_.end() && it->first < until; ++it)
        for (const auto& row : it->second) visit(row.net, row.counts);
}

void CounterHistory::sample(const std::vector<helperproto::Entry>& kernel, UnixTime now) {
    seal_hours_before(hour_of(now));
    std::unordered_set<Cidr> seen;
    seen.reserve(kernel.size());
    for (const auto& k : kernel) {
        seen.insert(k.net);
        HistoryEntry& entry = entry_for(k, now);
        TrafficCounts delta;
        const bool same_segment = entry.base_packets && entry.base_bytes &&
                                  k.packets >= *entry.base_packets && k.bytes >= *entry.base_bytes;
        if (same_segment) {
            delta.packets = k.packets - *entry.base_packets;
            delta.bytes = k.bytes - *entry.base_bytes;
        } else {
            // New in the kernel, back after it left, or counters lower than before:
            // this life of the entry counted from zero.
            ++entry.segments;
            delta.packets = k.packets;
            delta.bytes = k.bytes;
        }
        delta.attempts = estimated_attempts(delta.packets);
        add_traffic(now, k.net, delta);
        // Back after it left (restored, made again): active again. One lifted but still
        // there is on its way out (the removal is queued behind this sample).
        const bool back = !entry.base_packets && entry.end != EntryEnd::none;
        // (last_seen alone is not worth a write per entry and sample)
        const bool changed = !same_segment || delta.packets != 0 || delta.bytes != 0 || back;
        entry.base_packets = k.packets;
        entry.base_bytes = k.bytes;
        entry.last_seen = now;
        in_kernel_.insert(k.net);
        if (back) {
            entry.end = EntryEnd::none;
            entry.ended = 0;
        }
        if (changed) dirty_entries_.insert(k.net);
    }
    std::vector<Cidr> missing;
    for (const auto& net : in_kernel_)
        if (!seen.contains(net)) missing.push_back(net);
    for (const auto& net : missing) left_kernel(entries_.at(net), now);
}

void CounterHistory::left_kernel(HistoryEntry& entry, UnixTime now) {
    // Whatever comes back for this net starts again from zero.
    entry.base_packets.reset();
    entry.base_bytes.reset();
    in_kernel_.erase(entry.net);
    if (entry.end == EntryEnd::none) {  // not lifted by the milter: flushed, lost
        entry.end = EntryEnd::gone;
        entry.ended = now;
    }
    dirty_entries_.insert(entry.net);
}

void CounterHistory::removed(const Cidr& net, UnixTime now) {
    const auto it = entries_.find(net);
    if (it != entries_.end() && it->second.base_packets) left_kernel(it->second, now);
}

void CounterHistory::ended(const Cidr& net, EntryEnd why, UnixTime now) {
    const auto it = entries_.find(net);
    if (it == entries_.end()) return;  // never sampled: nothing to keep
    it->second.end = why;
    it->second.ended = now;
    dirty_entries_.insert(net);
}

void CounterHistory::sample_counts(const std::map<std::string, std::uint64_t>& totals,
                                   UnixTime now) {
    const UnixTime hour = hour_of(now);
    for (const auto& [name, total] : totals) {
        auto& base = count_base_[name];
        // Totals of one process never shrink; a smaller one is a new count from zero.
        const std::uint64_t delta = total >= base ? total - base : total;
        base = total;
        if (delta == 0) continue;
        counts_[hour][name] += delta;
        dirty_counts_.emplace(hour, name);
    }
}

void CounterHistory::record_ban(BanRecord ban) {
    // Banned again: whatever ended it before is over.
    if (const auto it = entries_.find(ban.net);
        it != entries_.end() && it->second.end != EntryEnd::none) {
        it->second.end = EntryEnd::none;
        it->second.ended = 0;
        dirty_entries_.insert(ban.net);
    }
    const auto at = std::upper_bound(bans_.begin(), bans_.end(), ban.time,
                                     [](UnixTime t, const BanRecord& b) { return t < b.time; });
    new_bans_.push_back(ban);
    bans_.insert(at, std::move(ban));
}

void CounterHistory::prune(UnixTime now) {
    const UnixTime cutoff = hour_of(now - retention_.count());
    if (cutoff <= pruned_before_) return;
    open_hours_.erase(open_hours_.begin(), open_hours_.lower_bound(cutoff));
    sealed_hours_.erase(sealed_hours_.begin(), sealed_hours_.lower_bound(cutoff));
    counts_.erase(counts_.begin(), counts_.lower_bound(cutoff));
    bans_.erase(bans_.begin(),
                std::lower_bound(bans_.begin(), bans_.end(), cutoff,
                                 [](const BanRecord& b, UnixTime t) { return b.time < t; }));
    std::erase_if(dirty_traffic_, [&](const auto& k) { return k.first < cutoff; });
    std::erase_if(dirty_counts_, [&](const auto& k) { return k.first < cutoff; });
    for (auto it = entries_.begin(); it != entries_.end();) {
        const HistoryEntry& e = it->second;
        if (!e.base_packets && std::max(e.last_seen, e.ended) < cutoff) {
            removed_entries_.push_back(it->first);
            dirty_entries_.erase(it->first);
            it = entries_.erase(it);
        } else {
            ++it;
        }
    }
    pruned_before_ = cutoff;
    unwritten_prune_ = cutoff;
}

HistoryChanges CounterHistory::take_changes() {
    HistoryChanges out;
    for (const auto& net : dirty_entries_)
        if (const auto it = entries_.find(net); it != entries_.end())
            out.entries.push_back(it->second);
    out.entries_removed = std::move(removed_entries_);
    for (const auto& [hour, net] : dirty_traffic_)
        out.traffic.push_back({hour, net, traffic_at(hour, net)});
    for (const auto& [hour, name] : dirty_counts_)
        out.counts.push_back({hour, name, counts_[hour][name]});
    out.bans = std::move(new_bans_);
    out.pruned_before = unwritten_prune_;
    dirty_entries_.clear();
    removed_entries_.clear();
    dirty_traffic_.clear();
    dirty_counts_.clear();
    new_bans_.clear();
    unwritten_prune_ = 0;
    return out;
}

std::vector<HistoryTopRow> CounterHistory::top(UnixTime from, UnixTime until) const {
    std::unordered_map<Cidr, TrafficCounts> sums;
    for_each_row(from, until,
                 [&](const Cidr& net, const TrafficCounts& counts) { sums[net] += counts; });
    std::vector<HistoryTopRow> rows;
    rows.reserve(sums.size());
    for (const auto& [net, counts] : sums) {
        HistoryEntry entry;
        if (const auto it = entries_.find(net); it != entries_.end()) {
            entry = it->second;
        } else {
            entry.net = net;  // its entry record was pruned before its last hour
        }
        rows.push_back({std::move(entry), counts});
    }
    std::sort(rows.begin(), rows.end(), [](const HistoryTopRow& a, const HistoryTopRow& b) {
        if (a.counts.packets != b.counts.packets) return a.counts.packets > b.counts.packets;
        if (a.counts.bytes != b.counts.bytes) return a.counts.bytes > b.counts.bytes;
        return a.entry.net < b.entry.net;
    });
    return rows;
}

std::map<std::string, std::uint64_t> CounterHistory::counts(UnixTime from, UnixTime until) const {
    std::map<std::string, std::uint64_t> out;
    for (auto it = counts_.lower_bound(hour_of(from)); it != counts_.end() && it->first < until;
         ++it)
        for (const auto& [name, value] : it->second) out[name] += value;
    return out;
}

std::vector<BanRecord> CounterHistory::bans(UnixTime from, UnixTime until) const {
    std::vector<BanRecord> out;
    for (const auto& b : bans_)
        if (b.time >= hour_of(from) && b.time < until) out.push_back(b);
    return out;
}

std::unordered_map<Cidr, std::size_t> CounterHistory::ban_counts_before(UnixTime before) const {
    std::unordered_map<Cidr, std::size_t> out;
    for (const auto& b : bans_) {
        if (b.time >= before) break;  // bans_ is in time order
        ++out[b.net];
    }
    return out;
}

std::optional<HistoryEntry> CounterHistory::entry(const Cidr& net) const {
    const auto it = entries_.find(net);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
}

}  // namespace smtpwall

namespace smtpwall::history_count {

std::string name(std::string_view kind, std::string_view label) {
    std::string out(kind);
    out += ':';
    out += label;
    return out;
}

}  // namespace smtpwall::history_count
