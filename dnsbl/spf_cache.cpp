// SpfResultCache: see spf_cache.hpp.
#include "dnsbl/spf_cache.hpp"

#include <cctype>

namespace smtpwall {

std::string SpfResultCache::key(const IpAddress& client, std::string_view helo,
                                std::string_view sender) {
    // The HELO's length ends the ambiguity of where it stops (an address has no '/').
    std::string k = client.unmapped().to_string();
    k += '/';
    k += std::to_string(helo.size());
    k += '/';
    for (const char c : helo) k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    k.append(sender);
    return k;
}

bool SpfResultCache::keepable(const SpfOutcome& outcome, bool ran_to_end, bool used_dns) {
    return ran_to_end && used_dns && outcome.result != SpfResult::temperror;
}

std::optional<SpfOutcome> SpfResultCache::find(const std::string& key, TimePoint now) {
    const auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    if (it->second->expires <= now) {
        lru_.erase(it->second);
        index_.erase(it);
        return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->outcome;
}

void SpfResultCache::store(std::string key, SpfOutcome outcome, std::chrono::seconds ttl,
                           TimePoint now) {
    if (ttl <= std::chrono::seconds::zero() || max_entries_ == 0) return;
    if (const auto it = index_.find(key); it != index_.end()) {
        lru_.erase(it->second);
        index_.erase(it);
    }
    while (index_.size() >= max_entries_) {
        index_.erase(lru_.back().key);
        lru_.pop_back();
    }
    lru_.push_front(Entry{std::move(key), std::move(outcome), now + ttl});
    index_.emplace(lru_.front().key, lru_.begin());
}

}  // namespace smtpwall
