// Process-wide counters for `smtpwallctl metrics`, `status` and the optional
// HTTP scrape endpoint. Counting is lock-free on the hot path (atomics); tag and
// zone counters, whose names come from the config, take a short lock. Rendering
// is a pure function of a snapshot.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace smtpwall {

enum class SessionVerdict { accept, reject, tempfail };

class Metrics {
  public:
    // Upper bounds (seconds) of the DNS wait histogram buckets.
    static constexpr std::array<double, 9> kWaitBuckets = {0.001, 0.005, 0.01, 0.025, 0.05,
                                                           0.1,   0.25,  1.0,  5.0};

    void session(SessionVerdict verdict, bool observe);
    void rejection(std::span<const std::string> tags);
    void dns_wait(std::chrono::microseconds waited, bool deadline_passed);
    void zone_answer(const std::string& tag, std::string_view outcome,
                     std::chrono::microseconds latency);
    void ban_added(std::string_view origin);
    // A ban earned by a shared relay and not made, by why it is one ("provider"...).
    void ban_withheld(std::string_view why);
    void ban_expired() { ++bans_expired_; }
    void ban_refused() { ++bans_refused_; }
    void ban_lifted() { ++bans_lifted_; }
    void helper_error() { ++helper_errors_; }
    // Cluster mode (milter/cluster.hpp).
    void cluster_published() { ++cluster_published_; }
    void cluster_applied() { ++cluster_applied_; }
    void cluster_reconnect() { ++cluster_reconnects_; }
    void cluster_lag_ms(double ms) {
        cluster_lag_ms_ = ms > 0 ? static_cast<std::uint64_t>(ms) : 0;
    }
    void helper_connected() { ++helper_connects_; }
    // An exception caught and survived where none should come (a bug): where it was.
    void internal_error(std::string_view where);
    // A session that reached one of its budgets ("helo_names", "spf_checks") and was
    // judged with what it had.
    void over_budget(std::string_view budget);
    // Control or metrics connections refused or cut: "connections", "user_connections",
    // "metrics_connections", "check_rate", "timeout" (a reply not read in time).
    void control_refused(std::string_view why);

    struct Snapshot {
        std::map<std::string, std::uint64_t>
            sessions;  // "accept", "reject", "tempfail", "would-reject"...
        std::map<std::string, std::uint64_t> rejections_by_tag;
        std::array<std::uint64_t, kWaitBuckets.size()> wait_buckets{};  // cumulative
        std::uint64_t wait_count = 0;
        double wait_sum_seconds = 0;
        std::uint64_t wait_deadline_passed = 0;
        struct Zone {
            std::map<std::string, std::uint64_t>
                outcomes;  // listed, not-listed, failed, refused, skipped
            double latency_sum_seconds = 0;
            std::uint64_t answered = 0;
        };
        std::map<std::string, Zone> zones;
        std::map<std::string, std::uint64_t> bans_added;     // by origin
        std::map<std::string, std::uint64_t> bans_withheld;  // by why the client is a relay
        std::map<std::string, std::uint64_t> internal_errors, over_budget, control_refused;
        std::uint64_t bans_expired = 0, bans_refused = 0, bans_lifted = 0;
        std::uint64_t helper_errors = 0, helper_connects = 0;
        std::uint64_t cluster_published = 0, cluster_applied = 0, cluster_reconnects = 0;
        std::uint64_t cluster_lag_ms = 0;
    };
    Snapshot snapshot() const;

  private:
    std::array<std::atomic<std::uint64_t>, 6>
        sessions_{};  // accept reject tempfail, then observe variants
    std::array<std::atomic<std::uint64_t>, kWaitBuckets.size()> wait_buckets_{};
    std::atomic<std::uint64_t> wait_count_{0}, wait_sum_us_{0}, wait_deadline_{0};
    std::atomic<std::uint64_t> bans_expired_{0}, bans_refused_{0}, bans_lifted_{0};
    std::atomic<std::uint64_t> helper_errors_{0}, helper_connects_{0};
    std::atomic<std::uint64_t> cluster_published_{0}, cluster_applied_{0}, cluster_reconnects_{0},
        cluster_lag_ms_{0};
    mutable std::mutex mutex_;  // for the maps below
    std::map<std::string, std::uint64_t> rejections_by_tag_;
    std::map<std::string, Snapshot::Zone> zones_;
    std::map<std::string, std::uint64_t> bans_added_;
    std::map<std::string, std::uint64_t> bans_withheld_;
    std::map<std::string, std::uint64_t> internal_errors_, over_budget_, control_refused_;
    void bump(std::map<std::string, std::uint64_t>& counter, std::string_view label);
};

// The one registry of this process.
Metrics& metrics();

// Point-in-time values that are not counters.
struct Gauges {
    double uptime_seconds = 0;
    std::uint64_t bans_active = 0;
    std::uint64_t tracked_addresses = 0;
    bool helper_connected = false;
    std::uint64_t helper_sync_deferred = 0;  // bans the helper's rate cap left out, for now
    bool observe = false;
    struct Cluster {
        bool enabled = false, connected = false;
        std::uint64_t outbox = 0;
    } cluster;
    struct Dns {
        std::uint64_t lookups = 0, cache_hits = 0, queries_sent = 0, timeouts = 0, failures = 0,
                      tcp_fallbacks = 0, in_flight = 0, cache_entries = 0;
    } dns;
    struct ZoneState {
        bool dead = false;
        bool suspended = false;
        std::uint64_t suspensions = 0;
    };
    std::map<std::string, ZoneState> zones;  // by zone name
};

// Prometheus text exposition format, version 0.0.4.
std::string render_prometheus(const Metrics::Snapshot& counters, const Gauges& gauges);

}  // namespace smtpwall
