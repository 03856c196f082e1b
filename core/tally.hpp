// Per-client tallies (IPv4 /32, IPv6 /64 by default): sessions, accepted
// messages, rejections per tag, with sliding windows. Pure: time is a parameter
// (unix seconds), there is no locking and no I/O. Memory per address is fixed
// apart from one small entry per distinct tag.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/net.hpp"
#include "common/unix_time.hpp"

namespace smtpwall {

// Events within a sliding window, kept in kBuckets fixed buckets: constant memory
// per address, at the price of a window edge as coarse as window/kBuckets.
class WindowCounter {
  public:
    static constexpr int kBuckets = 16;
    using Buckets = std::array<std::uint16_t, kBuckets>;

    void add(UnixTime now, std::chrono::seconds window, std::uint16_t n = 1);
    // Events in the last `span` (at most the window), to bucket precision.
    std::uint32_t count(UnixTime now, std::chrono::seconds window, std::chrono::seconds span) const;
    std::uint32_t count(UnixTime now, std::chrono::seconds window) const {
        return count(now, window, window);
    }
    void clear() { *this = WindowCounter{}; }

    // Bucket numbers are absolute (unix time / (window / kBuckets)), the same on every
    // host with the same window: what a cluster's hosts exchange.
    static std::uint32_t bucket_of(UnixTime t, std::chrono::seconds window);
    // The non-empty buckets still inside the window at `now`, oldest first.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> recent_buckets(
        UnixTime now, std::chrono::seconds window) const;
    void add_bucket(std::uint32_t bucket, std::chrono::seconds window, std::uint16_t n);

    // For the state file.
    const Buckets& buckets() const { return counts_; }
    std::uint32_t newest_bucket() const { return newest_; }
    static WindowCounter restore(const Buckets& counts, std::uint32_t newest);

  private:
    static std::int64_t span_of(std::chrono::seconds window);
    Buckets counts_{};
    std::uint32_t newest_ = 0;  // bucket number (time / bucket span) of the newest event
};

// Tag names are interned: a tally stores small ids, not strings.
class TagNames {
  public:
    std::uint8_t id(std::string_view name);  // adds unknown names
    std::optional<std::uint8_t> find(std::string_view name) const;
    const std::string& name(std::uint8_t id) const { return names_.at(id); }

  private:
    std::vector<std::string> names_;
};

struct TagCount {
    std::uint32_t last = 0;  // unix seconds of the latest hit (32 bits last until 2106)
    std::uint32_t count = 0;
    std::uint8_t tag = 0;
};

struct Tally {
    UnixTime first_seen = 0;
    UnixTime last_seen = 0;
    std::uint32_t sessions = 0;
    std::uint32_t rejections = 0;  // all time
    std::uint32_t accepted = 0;    // messages, all time
    std::uint16_t bans = 0;        // how often this address has been banned
    WindowCounter recent_rejections;
    WindowCounter recent_accepted;
    std::vector<TagCount> tags;
};

// What the other hosts of a cluster counted for the same address
// (core/cluster_codec.hpp): bucket numbers with counts, summed over the hosts, the
// latest hit of each tag, and how often the cluster has banned it.
struct TallyElsewhere {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> rejected, accepted;
    std::vector<std::pair<std::string, UnixTime>> tags;
    std::uint32_t bans = 0;
    bool operator==(const TallyElsewhere&) const = default;
};

// A tally with tag names resolved, for reports and the state file.
struct TallyRow {
    Cidr key;
    Tally tally;
    std::uint32_t recent = 0;  // rejections within the window
    struct Tag {
        std::string name;
        std::uint32_t count = 0;
        UnixTime last = 0;
    };
    std::vector<Tag> tags;  // most frequent first
    // Kept beside the tally by the enforcement policy (core/shared_relay.hpp): what the
    // client's last conclusive session showed ("provider:google.com", or empty) and how
    // many bans its rejections earned but were withheld from it as a shared relay.
    std::string relay;
    std::uint32_t withheld = 0;
};

class TallyStore {
  public:
    TallyStore(std::chrono::seconds window, std::size_t max_entries)
        : window_(window), max_entries_(max_entries) {}

    Tally& record_session(const Cidr& key, UnixTime now);
    Tally& record_accepted(const Cidr& key, UnixTime now);
    // Counts one rejection with the tags that caused it.
    Tally& record_rejection(const Cidr& key, std::span<const std::string> tags, UnixTime now);
    // Forget recent rejections (a manual unban must not be undone at the next one).
    void forgive(const Cidr& key);

    const Tally* find(const Cidr& key) const;
    Tally* find(const Cidr& key);
    std::optional<TallyRow> row(const Cidr& key, UnixTime now) const;
    // Worst offenders by recent, then total rejections; `tag` filters when non-empty.
    std::vector<TallyRow> top(std::size_t limit, std::string_view tag, UnixTime now) const;
    // Was `tag` hit within `span` before `now`?
    bool tag_seen(const Tally& tally, std::string_view tag, UnixTime now,
                  std::chrono::seconds span) const;
    // Tag names of a tally, most frequent first.
    std::vector<std::string> tag_names(const Tally& tally) const;
    // Each tag's latest hit.
    std::vector<std::pair<std::string, UnixTime>> tag_hits(const Tally& tally) const;
    // `tally` with what other hosts counted: what the rules judge in a cluster.
    Tally merged(const Tally& tally, const TallyElsewhere& elsewhere);

    // Keeps the store within max_entries by dropping the coldest tenth (least
    // recently seen) of the entries that `keep` does not protect. Returns their keys.
    std::vector<Cidr> evict(const std::function<bool(const Cidr&)>& keep);
    bool over_capacity() const { return tallies_.size() > max_entries_; }

    void for_each(const std::function<void(const Cidr&, const Tally&)>& visit) const {
        for (const auto& [key, tally] : tallies_) visit(key, tally);
    }

    // A row read back from the state file.
    void restore(const TallyRow& row);

    std::size_t size() const { return tallies_.size(); }
    std::chrono::seconds window() const { return window_; }

  private:
    TallyRow make_row(const Cidr& key, const Tally& tally, UnixTime now) const;
    Tally& touch(const Cidr& key, UnixTime now);

    std::chrono::seconds window_;
    std::size_t max_entries_;
    TagNames names_;
    std::unordered_map<Cidr, Tally> tallies_;
};

}  // namespace smtpwall
