// The resolver's answer cache: TTL clamps, negative caching, LRU bound.
#include "dnsbl/cache.hpp"

#include <algorithm>

namespace smtpwall::dns {

std::string Cache::make_key(std::string_view name, RType type) {
    std::string key;
    key.reserve(name.size() + 3);
    const auto t = static_cast<std::uint16_t>(type);
    key += static_cast<char>(t >> 8);
    key += static_cast<char>(t & 0xff);
    key += name;
    return key;
}

std::optional<Result> Cache::get(std::string_view name, RType type, Clock::time_point now) {
    const auto it = index_.find(make_key(name, type));
    if (it == index_.end()) return std::nullopt;
    const auto entry = it->second;
    if (entry->expires <= now) {
        index_.erase(it);
        lru_.erase(entry);
        return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, entry);
    Result out = entry->result;
    out.from_cache = true;
    out.latency = {};
    const auto left = std::chrono::ceil<std::chrono::seconds>(entry->expires - now).count();
    out.ttl = static_cast<std::uint32_t>(left);
    return out;
}

std::uint32_t Cache::effective_ttl(const Result& result, bool cacheable) const {
    if (result.temporary()) return policy_.temp_failure_ttl;
    if (!cacheable) return 0;
    const std::uint32_t ttl = std::max(result.ttl, policy_.min_ttl);
    if (result.negative()) return std::min(ttl, policy_.max_negative_ttl);
    return std::min(ttl, policy_.max_ttl);
}

std::uint32_t Cache::put(std::string_view name, RType type, const Result& result, bool cacheable,
                         Clock::time_point now) {
    const std::uint32_t ttl = effective_ttl(result, cacheable);
    if (ttl == 0 || policy_.max_entries == 0) return 0;
    std::string key = make_key(name, type);
    const auto expires = now + std::chrono::seconds(ttl);
    if (const auto it = index_.find(key); it != index_.end()) {
        it->second->result = result;
        it->second->result.ttl = ttl;
        it->second->expires = expires;
        lru_.splice(lru_.begin(), lru_, it->second);
        return ttl;
    }
    while (index_.size() >= policy_.max_entries) {
        index_.erase(lru_.back().key);
        lru_.pop_back();
    }
    lru_.push_front(Entry{key, result, expires});
    lru_.front().result.ttl = ttl;
    lru_.front().result.from_cache = false;
    index_.emplace(std::move(key), lru_.begin());
    return ttl;
}

void Cache::clear() {
    index_.clear();
    lru_.clear();
}

}  // namespace smtpwall::dns
