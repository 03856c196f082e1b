// The resolver's answer cache: TTLs clamped to configured bounds, RFC 2308 negative
// caching, brief caching of temporary failures, bounded in entries and in bytes with
// LRU eviction (answers are attacker-shaped: a count alone does not bound memory).
// Time is a parameter and nothing here locks: the resolver owns one per strand.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "dnsbl/result.hpp"

namespace smtpwall::dns {

struct CachePolicy {
    std::uint32_t min_ttl = 60;
    std::uint32_t max_ttl = 86400;
    std::uint32_t max_negative_ttl = 3600;  // nxdomain/nodata, after min_ttl
    std::uint32_t temp_failure_ttl = 5;     // servfail, refused, timeout, error; 0: never
    std::size_t max_entries = 100000;
    std::size_t max_bytes = 64 << 20;  // what entries hold, as entry_bytes() counts it
};

// The memory one cached answer takes, about: its key, its data and the bookkeeping.
std::size_t entry_bytes(std::string_view key, const Result& result);

class Cache {
  public:
    using Clock = std::chrono::steady_clock;

    explicit Cache(CachePolicy policy) : policy_(policy) {}

    // A live entry with from_cache set and ttl = seconds left (rounded up).
    std::optional<Result> get(std::string_view name, RType type, Clock::time_point now);

    // Stores `result` for the TTL the policy gives it and returns that TTL; 0 means
    // not stored (temporary failures with temp_failure_ttl 0, negative answers
    // without SOA: `cacheable` false).
    std::uint32_t put(std::string_view name, RType type, const Result& result, bool cacheable,
                      Clock::time_point now);

    // The TTL put() would store `result` with.
    std::uint32_t effective_ttl(const Result& result, bool cacheable) const;

    std::size_t size() const { return index_.size(); }
    std::size_t bytes() const { return bytes_; }
    void clear();

  private:
    struct Entry {
        std::string key;
        Result result;
        Clock::time_point expires;
        std::size_t bytes = 0;
    };
    static std::string make_key(std::string_view name, RType type);
    void erase(std::list<Entry>::iterator entry);

    CachePolicy policy_;
    std::list<Entry> lru_;  // most recently used first
    std::unordered_map<std::string, std::list<Entry>::iterator> index_;
    std::size_t bytes_ = 0;
};

}  // namespace smtpwall::dns
