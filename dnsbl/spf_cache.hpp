// Finished SPF outcomes, kept for as long as the DNS answers they were computed from
// (the shortest TTL among them), so a client that sends again from the same HELO and
// sender is judged without running libspf2 or leaving the milter's thread. Bounded
// in entries, least recently used first out. Time is a parameter and nothing here
// locks: SpfChecker owns one behind its mutex.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/net.hpp"
#include "dnsbl/spf.hpp"

namespace smtpwall {

class SpfResultCache {
  public:
    using TimePoint = std::chrono::steady_clock::time_point;

    explicit SpfResultCache(std::size_t max_entries) : max_entries_(max_entries) {}

    // What an outcome depends on: the client (IPv4-mapped as IPv4), the HELO name
    // (the null sender's identity, %{h}) and the whole sender (%{l} and %{s}).
    static std::string key(const IpAddress& client, std::string_view helo, std::string_view sender);

    // Whether an outcome may be kept: a final result (never temperror) from an
    // evaluation that ran to its end and used at least one DNS answer.
    static bool keepable(const SpfOutcome& outcome, bool ran_to_end, bool used_dns);

    std::optional<SpfOutcome> find(const std::string& key, TimePoint now);
    // Keeps `outcome` for `ttl` (nothing when ttl is 0 or the cache holds nothing).
    void store(std::string key, SpfOutcome outcome, std::chrono::seconds ttl, TimePoint now);

    std::size_t size() const { return index_.size(); }

  private:
    struct Entry {
        std::string key;
        SpfOutcome outcome;
        TimePoint expires;
    };
    std::size_t max_entries_;
    std::list<Entry> lru_;  // most recently used first
    std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
};

}  // namespace smtpwall
