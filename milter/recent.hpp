// What the last session of each address looked like (DNS facts, tags, verdict),
// for `smtpwallctl show`. Bounded: the oldest addresses are forgotten first.
#pragma once

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/net.hpp"
#include "core/tally.hpp"
#include "dnsbl/facts.hpp"

namespace smtpwall {

struct SessionSummary {
    UnixTime when = 0;
    std::string client;
    std::string helo;
    std::string verdict;
    int score = 0;
    std::vector<std::string> tags;
    std::optional<dns::DnsFacts> dns;
};

class RecentSessions {
  public:
    explicit RecentSessions(std::size_t capacity = 10000) : capacity_(capacity) {}
    void remember(const Cidr& key, SessionSummary summary);
    std::optional<SessionSummary> last(const Cidr& key) const;

  private:
    struct Entry {
        SessionSummary summary;
        std::uint64_t seq = 0;
    };
    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::uint64_t seq_ = 0;
    std::unordered_map<Cidr, Entry> by_key_;
    std::deque<std::pair<Cidr, std::uint64_t>> order_;  // oldest first
};

}  // namespace smtpwall
