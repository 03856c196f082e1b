// Rejection tallies per client key (IPv4 /32, IPv6 /64 by default) and the
// escalation rule that turns a tally into a ban. Pure: time is a parameter
// (unix seconds), there is no locking and no I/O.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/net.hpp"

namespace smtpwall {

using UnixTime = std::int64_t;

// Events within a sliding window, kept in kBuckets fixed buckets: constant memory
// per address, at the price of a window edge as coarse as window/kBuckets.
class WindowCounter {
  public:
    static constexpr int kBuckets = 16;
    void add(UnixTime now, std::chrono::seconds window);
    std::uint32_t count(UnixTime now, std::chrono::seconds window) const;

  private:
    static std::int64_t bucket_of(UnixTime t, std::chrono::seconds window);
    std::array<std::uint16_t, kBuckets> counts_{};
    std::int64_t newest_ = 0;  // bucket number of the newest event
};

// Tag names are interned: an entry stores small ids, not strings.
class TagNames {
  public:
    std::uint8_t id(std::string_view name);  // adds unknown names
    const std::string& name(std::uint8_t id) const { return names_.at(id); }

  private:
    std::vector<std::string> names_;
};

struct TagCount {
    std::uint8_t tag = 0;
    std::uint32_t count = 0;
};

struct Tally {
    UnixTime first_seen = 0;
    UnixTime last_seen = 0;
    std::uint32_t sessions = 0;
    std::uint32_t rejections = 0;  // all time
    WindowCounter recent;          // rejections within the escalation window
    std::vector<TagCount> tags;    // rejections per tag, all time
};

struct TallyRow {
    Cidr key;
    Tally tally;
    std::uint32_t recent = 0;
    std::vector<std::pair<std::string, std::uint32_t>> tags;  // most frequent first
};

class TallyStore {
  public:
    explicit TallyStore(std::chrono::seconds window) : window_(window) {}

    void record_session(const Cidr& key, UnixTime now);
    // Counts one rejection with the tags that caused it; returns the updated tally.
    const Tally& record_rejection(const Cidr& key, std::span<const std::string> tags, UnixTime now);

    const Tally* find(const Cidr& key) const;
    std::optional<TallyRow> row(const Cidr& key, UnixTime now) const;
    // Worst offenders by recent, then total rejections; `tag` filters when non-empty.
    std::vector<TallyRow> top(std::size_t limit, std::string_view tag, UnixTime now) const;
    // Tag names of a tally, most frequent first.
    std::vector<std::string> tag_names(const Tally& tally) const;
    std::size_t size() const { return tallies_.size(); }
    std::chrono::seconds window() const { return window_; }

  private:
    TallyRow make_row(const Cidr& key, const Tally& tally, UnixTime now) const;
    Tally& touch(const Cidr& key, UnixTime now);

    std::chrono::seconds window_;
    TagNames names_;
    std::unordered_map<Cidr, Tally> tallies_;
};

struct EscalationRules {
    std::vector<std::string> ban_on_first;  // tags that ban at their first hit
    std::uint32_t max_rejections = 5;       // within the window; 0 = rule off
    std::chrono::seconds ban_duration{7 * 86400};
};

struct BanDecision {
    Cidr key;
    std::vector<std::string> tags;  // why: the reasons seen for this address
    UnixTime expires = 0;
    std::string rule;  // "first-hit:spamtrap" or "threshold:5/3600s"
};

// Called after a rejection was recorded. `new_tags` are that rejection's tags.
std::optional<BanDecision> decide_ban(const Cidr& key, const Tally& tally,
                                      std::span<const std::string> new_tags,
                                      std::vector<std::string> all_tags,
                                      const EscalationRules& rules, std::chrono::seconds window,
                                      UnixTime now);

struct Ban {
    Cidr key;
    std::vector<std::string> tags;
    UnixTime since = 0;
    UnixTime expires = 0;
    std::string rule;
};

// Active bans as the milter knows them; the kernel is told through the helper.
class BanList {
  public:
    // Returns false if the key was already banned (the ban is then left as it is).
    bool add(Ban ban);
    bool remove(const Cidr& key);
    const Ban* find(const Cidr& key) const;
    bool covers(const IpAddress& addr) const;
    // Removes and returns bans whose expiry has passed.
    std::vector<Ban> expire(UnixTime now);
    std::vector<Ban> all() const;
    std::size_t size() const { return bans_.size(); }

  private:
    std::unordered_map<Cidr, Ban> bans_;
};

}  // namespace smtpwall
