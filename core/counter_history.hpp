// The history behind `top --since` and the weekly report: the firewall's per-entry
// packet and byte counters and the milter's own counts (sessions by verdict,
// rejections by tag, zone answers...), kept as growth per hour, plus a log of bans.
// Samples of counters that only grow become deltas; a counter found lower than at
// the last sample, or an entry back in the kernel after it left, starts a new segment
// counted from zero (reboot, flush, re-created entry), never a negative or doubled
// figure. Pure: samples and queries carry the time.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/net.hpp"
#include "common/unix_time.hpp"
#include "core/escalation.hpp"
#include "firewall/protocol.hpp"

namespace smtpwall {

inline constexpr UnixTime kHistoryHour = 3600;
inline UnixTime hour_of(UnixTime t) {
    return t - (t % kHistoryHour + kHistoryHour) % kHistoryHour;
}

// The SYN-burst estimate. The helper's rules match only SYNs, so a dropped client's
// packets are its connection attempts with their retransmissions: Linux resends an
// unanswered SYN after 1, 2, 4, 8, 16 s, and a mail client gives up after its connect
// timeout (Postfix: 30 s), so one attempt is about five packets. Each sample's growth
// is rounded up to whole attempts. An estimate, labelled as one wherever it is shown.
inline constexpr std::uint64_t kSynsPerAttempt = 5;
std::uint64_t estimated_attempts(std::uint64_t packets);

struct TrafficCounts {
    std::uint64_t packets = 0, bytes = 0, attempts = 0;  // attempts: estimated
    TrafficCounts& operator+=(const TrafficCounts& o) {
        packets += o.packets;
        bytes += o.bytes;
        attempts += o.attempts;
        return *this;
    }
    bool operator==(const TrafficCounts&) const = default;
};

// Why an entry left the kernel, when it did.
enum class EntryEnd { none, expired, unbanned, allowlisted, aggregated, gone };
std::string_view entry_end_name(EntryEnd end);
std::optional<EntryEnd> entry_end_from_name(std::string_view name);

// One firewall entry over its whole recorded life.
struct HistoryEntry {
    Cidr net;
    helperproto::Origin origin = helperproto::Origin::dynamic;
    std::vector<std::string> tags;
    UnixTime first_seen = 0, last_seen = 0;  // in the kernel, by the samples
    std::uint32_t segments = 0;              // lives of its kernel counters seen
    // The kernel's counters at the last sample that found the entry; none when the
    // last sample did not (its next appearance starts a new segment).
    std::optional<std::uint64_t> base_packets, base_bytes;
    EntryEnd end = EntryEnd::none;
    UnixTime ended = 0;
    bool operator==(const HistoryEntry&) const = default;
};

// A ban as the history keeps it: for new bans by rule and tag, and repeat offenders.
struct BanRecord {
    UnixTime time = 0;
    Cidr net;
    std::string rule;
    std::vector<std::string> tags;
    std::string origin;  // policy, manual, netblock
    bool operator==(const BanRecord&) const = default;
};

// What changed since the last take_changes(), as current values: writing them in
// order, each replacing what was there, gives the same history.
struct HistoryChanges {
    std::vector<HistoryEntry> entries;
    std::vector<Cidr> entries_removed;
    struct HourRow {
        UnixTime hour = 0;
        Cidr net;
        TrafficCounts counts;
    };
    std::vector<HourRow> traffic;
    struct CountRow {
        UnixTime hour = 0;
        std::string name;
        std::uint64_t value = 0;
    };
    std::vector<CountRow> counts;
    std::vector<BanRecord> bans;
    UnixTime pruned_before = 0;  // rows and bans older than this are gone
    bool empty() const {
        return entries.empty() && entries_removed.empty() && traffic.empty() && counts.empty() &&
               bans.empty() && pruned_before == 0;
    }
    void merge(HistoryChanges later);
};

// A row of `top --since`: an entry and what its counters grew by in the period.
struct HistoryTopRow {
    HistoryEntry entry;
    TrafficCounts counts;
};

class CounterHistory {
  public:
    explicit CounterHistory(std::chrono::seconds retention);

    // Everything the state file kept (as take_changes() gave it, rows already summed).
    struct Contents {
        std::vector<HistoryEntry> entries;
        std::vector<HistoryChanges::HourRow> traffic;
        std::vector<HistoryChanges::CountRow> counts;
        std::vector<BanRecord> bans;
    };
    void restore(Contents contents);

    // The helper's LIST at `now`, complete: each entry's growth since its last sample
    // goes to now's hour. An entry the list lacks has lost its counters.
    void sample(const std::vector<helperproto::Entry>& kernel, UnixTime now);
    // The milter lifted `net` (it leaves the kernel next): why, for the report.
    void ended(const Cidr& net, EntryEnd why, UnixTime now);
    // The helper removed `net` (a DEL answered): its counters are gone, and a later
    // entry for it starts a new segment even if no sample saw it missing.
    void removed(const Cidr& net, UnixTime now);
    // The milter's own counters, totals since this process started (its metrics):
    // their growth since the last call goes to now's hour. A process starts from zero.
    void sample_counts(const std::map<std::string, std::uint64_t>& totals, UnixTime now);
    void record_ban(BanRecord ban);
    // Forgets hours, bans and ended entries older than the retention.
    void prune(UnixTime now);
    HistoryChanges take_changes();

    // ---- queries over [from, until), widened to whole hours ----
    // Every entry with traffic in the period, most packets first.
    std::vector<HistoryTopRow> top(UnixTime from, UnixTime until) const;
    std::map<std::string, std::uint64_t> counts(UnixTime from, UnixTime until) const;
    std::vector<BanRecord> bans(UnixTime from, UnixTime until) const;
    // How many bans each network had before `before` (repeat offenders).
    std::unordered_map<Cidr, std::size_t> ban_counts_before(UnixTime before) const;
    std::optional<HistoryEntry> entry(const Cidr& net) const;
    std::chrono::seconds retention() const { return retention_; }

  private:
    HistoryEntry& entry_for(const helperproto::Entry& e, UnixTime now);
    void add_traffic(UnixTime now, const Cidr& net, const TrafficCounts& delta);
    // Its counters are gone (a sample missed it, or the helper removed it).
    void left_kernel(HistoryEntry& entry, UnixTime now);

    std::chrono::seconds retention_;
    std::unordered_map<Cidr, HistoryEntry> entries_;
    std::unordered_set<Cidr> in_kernel_;  // entries with a baseline: what a sample checks
    // Traffic by hour: the hours still being counted in hash maps, the past ones
    // sealed into vectors sorted by network (less than half the memory per row).
    struct SealedRow {
        Cidr net;
        TrafficCounts counts;
    };
    std::map<UnixTime, std::unordered_map<Cidr, TrafficCounts>> open_hours_;
    std::map<UnixTime, std::vector<SealedRow>> sealed_hours_;
    void seal_hours_before(UnixTime hour);
    TrafficCounts traffic_at(UnixTime hour, const Cidr& net) const;
    template <class Visit>
    void for_each_row(UnixTime from, UnixTime until, Visit visit) const;
    std::map<UnixTime, std::map<std::string, std::uint64_t>> counts_;  // by hour
    std::map<std::string, std::uint64_t> count_base_;                  // this process
    std::vector<BanRecord> bans_;                                      // by time
    // What take_changes() owes the state file.
    std::set<Cidr> dirty_entries_;
    std::vector<Cidr> removed_entries_;
    std::set<std::pair<UnixTime, Cidr>> dirty_traffic_;
    std::set<std::pair<UnixTime, std::string>> dirty_counts_;
    std::vector<BanRecord> new_bans_;
    UnixTime pruned_before_ = 0;
    UnixTime unwritten_prune_ = 0;
};

}  // namespace smtpwall

namespace smtpwall::history_count {

// The milter's own counts in the history are named "<kind>:<label>":
//   session:<verdict>           accept, reject, tempfail, would-reject...
//   rejection:<tag>             a rejection carried that tag
//   zone:<zone tag>:<outcome>   listed, not-listed, failed, refused, skipped
//   withheld:<why>              a ban earned by a shared relay and not made
//   ban:<event>                 added, expired, lifted, refused
inline constexpr std::string_view kSession = "session", kRejection = "rejection", kZone = "zone",
                                  kWithheld = "withheld", kBan = "ban";
std::string name(std::string_view kind, std::string_view label);

}  // namespace smtpwall::history_count
