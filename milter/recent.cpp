// The last session of each address, bounded, for `smtpwallctl show`.
#include "milter/recent.hpp"

namespace smtpwall {

void RecentSessions::remember(const Cidr& key, SessionSummary summary) {
    std::lock_guard lock(mutex_);
    const std::uint64_t seq = ++seq_;
    by_key_.insert_or_assign(key, Entry{std::move(summary), seq});
    order_.push_back({key, seq});
    // A key seen again leaves a stale (key, older seq) pair behind; those are skipped
    // here and never outnumber the live ones by more than the capacity.
    while (by_key_.size() > capacity_ || order_.size() > 2 * capacity_) {
        const auto [old_key, old_seq] = order_.front();
        order_.pop_front();
        const auto it = by_key_.find(old_key);
        if (it != by_key_.end() && it->second.seq == old_seq) by_key_.erase(it);
    }
}

std::optional<SessionSummary> RecentSessions::last(const Cidr& key) const {
    std::lock_guard lock(mutex_);
    const auto it = by_key_.find(key);
    if (it == by_key_.end()) return std::nullopt;
    return it->second.summary;
}

}  // namespace smtpwall
