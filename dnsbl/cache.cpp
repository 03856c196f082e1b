// The resolver's answer cache: TTL clamps, negative caching, LRU bounds.
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

std::size_t entry_bytes(std::string_view key, const Result& result) {
    // Two copies of the key (list and index), the list node, the hash node.
    std::size_t bytes = 2 * key.size() + sizeof(Result) + 128;
    bytes += result.addresses.size() * sizeof(IpAddress);
    for (const auto& n : result.names) bytes += sizeof(std::string) + n.size();
    for (const auto& t : result.texts) bytes += sizeof(std::string) + t.size();
    return bytes;
}

void Cache::erase(std::list<Entry>::iterator entry) {
    bytes_ -= entry->bytes;
    index_.erase(entry->key);
    lru_.erase(entry);
}

std::optional<Result> Cache::get(std::string_view name, RType type, Clock::time_point now) {
    const auto it = index_.find(make_key(name, type));
    if (it == index_.end()) return std::nullopt;
    const auto entry = it->second;
    if (entry->expires <= now) {
        erase(entry);
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
    std::string key = make_key(name, type);
    const std::size_t bytes = entry_bytes(key, result);
    if (ttl == 0 || policy_.max_entries == 0 || bytes > policy_.max_bytes) return 0;
    if (const auto it = index_.find(key); it != index_.end()) erase(it->second);
    while (!lru_.empty() &&
           (index_.size() >= policy_.max_entries || bytes_ + bytes > policy_.max_bytes))
        erase(std::prev(lru_.end()));
    lru_.push_front(Entry{key, result, now + std::chrono::seconds(ttl), bytes});
    lru_.front().result.ttl = ttl;
    lru_.front().result.from_cache = false;
    index_.emplace(std::move(key), lru_.begin());
    bytes_ += bytes;
    return ttl;
}

void Cache::clear() {
    index_.clear();
    lru_.clear();
    bytes_ = 0;
}

}  // namespace smtpwall::dns
