// Counters for status and Prometheus text; rendering is a pure function of a snapshot.
#include "milter/metrics.hpp"

#include <fmt/format.h>

namespace smtpwall {

namespace {

std::size_t verdict_index(SessionVerdict v, bool observe) {
    return static_cast<std::size_t>(v) + (observe ? 3 : 0);
}

constexpr std::array<std::string_view, 6> kVerdictNames = {
    "accept", "reject", "tempfail", "accept-observe", "would-reject", "would-tempfail"};

// Label values are config names (tags, zones): keep the exposition parseable anyway.
std::string label(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

}  // namespace

Metrics& metrics() {
    static Metrics instance;
    return instance;
}

void Metrics::session(SessionVerdict verdict, bool observe) {
    ++sessions_[verdict_index(verdict, observe)];
}

void Metrics::rejection(std::span<const std::string> tags) {
    std::lock_guard lock(mutex_);
    for (const auto& t : tags) ++rejections_by_tag_[t];
}

void Metrics::dns_wait(std::chrono::microseconds waited, bool deadline_passed) {
    const double seconds = static_cast<double>(waited.count()) / 1e6;
    for (std::size_t i = 0; i < kWaitBuckets.size(); ++i)
        if (seconds <= kWaitBuckets[i]) ++wait_buckets_[i];
    ++wait_count_;
    wait_sum_us_ += static_cast<std::uint64_t>(waited.count());
    if (deadline_passed) ++wait_deadline_;
}

void Metrics::zone_answer(const std::string& tag, std::string_view outcome,
                          std::chrono::microseconds latency) {
    std::lock_guard lock(mutex_);
    auto& z = zones_[tag];
    ++z.outcomes[std::string(outcome)];
    if (latency.count() > 0) {
        z.latency_sum_seconds += static_cast<double>(latency.count()) / 1e6;
        ++z.answered;
    }
}

void Metrics::ban_added(std::string_view origin) {
    std::lock_guard lock(mutex_);
    ++bans_added_[std::string(origin)];
}

void Metrics::ban_withheld(std::string_view why) {
    std::lock_guard lock(mutex_);
    ++bans_withheld_[std::string(why)];
}

void Metrics::bump(std::map<std::string, std::uint64_t>& counter, std::string_view label) {
    std::lock_guard lock(mutex_);
    ++counter[std::string(label)];
}

void Metrics::internal_error(std::string_view where) {
    bump(internal_errors_, where);
}

void Metrics::over_budget(std::string_view budget) {
    bump(over_budget_, budget);
}

void Metrics::control_refused(std::string_view why) {
    bump(control_refused_, why);
}

Metrics::Snapshot Metrics::snapshot() const {
    Snapshot s;
    for (std::size_t i = 0; i < sessions_.size(); ++i)
        s.sessions[std::string(kVerdictNames[i])] = sessions_[i];
    for (std::size_t i = 0; i < wait_buckets_.size(); ++i) s.wait_buckets[i] = wait_buckets_[i];
    s.wait_count = wait_count_;
    s.wait_sum_seconds = static_cast<double>(wait_sum_us_.load()) / 1e6;
    s.wait_deadline_passed = wait_deadline_;
    s.bans_expired = bans_expired_;
    s.bans_refused = bans_refused_;
    s.bans_lifted = bans_lifted_;
    s.helper_errors = helper_errors_;
    s.helper_connects = helper_connects_;
    s.cluster_published = cluster_published_;
    s.cluster_applied = cluster_applied_;
    s.cluster_reconnects = cluster_reconnects_;
    s.cluster_lag_ms = cluster_lag_ms_;
    std::lock_guard lock(mutex_);
    s.rejections_by_tag = rejections_by_tag_;
    s.zones = zones_;
    s.bans_added = bans_added_;
    s.bans_withheld = bans_withheld_;
    s.internal_errors = internal_errors_;
    s.over_budget = over_budget_;
    s.control_refused = control_refused_;
    return s;
}

std::string render_prometheus(const Metrics::Snapshot& c, const Gauges& g) {
    std::string out;
    auto family = [&](std::string_view name, std::string_view type, std::string_view help) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    };
    family("smtpwall_up_seconds", "gauge", "Seconds since the milter started.");
    out += fmt::format("smtpwall_up_seconds {:.0f}\n", g.uptime_seconds);
    family("smtpwall_observe_mode", "gauge", "1 when rejecting and banning are only logged.");
    out += fmt::format("smtpwall_observe_mode {}\n", g.observe ? 1 : 0);

    family("smtpwall_sessions_total", "counter", "SMTP sessions by final verdict.");
    for (const auto& [verdict, n] : c.sessions)
        out += fmt::format("smtpwall_sessions_total{{verdict=\"{}\"}} {}\n", verdict, n);
    family("smtpwall_rejections_total", "counter", "Rejections by the tag that caused them.");
    for (const auto& [tag, n] : c.rejections_by_tag)
        out += fmt::format("smtpwall_rejections_total{{tag=\"{}\"}} {}\n", label(tag), n);

    family("smtpwall_dns_wait_seconds", "histogram",
           "Time a verdict waited for a session's DNS lookups.");
    for (std::size_t i = 0; i < Metrics::kWaitBuckets.size(); ++i)
        out += fmt::format("smtpwall_dns_wait_seconds_bucket{{le=\"{}\"}} {}\n",
                           Metrics::kWaitBuckets[i], c.wait_buckets[i]);
    out += fmt::format("smtpwall_dns_wait_seconds_bucket{{le=\"+Inf\"}} {}\n", c.wait_count);
    out += fmt::format("smtpwall_dns_wait_seconds_sum {:.6f}\n", c.wait_sum_seconds);
    out += fmt::format("smtpwall_dns_wait_seconds_count {}\n", c.wait_count);
    family("smtpwall_dns_deadline_passed_total", "counter",
           "Verdicts given before all lookups finished.");
    out += fmt::format("smtpwall_dns_deadline_passed_total {}\n", c.wait_deadline_passed);

    family("smtpwall_dns_lookups_total", "counter", "Resolver lookups requested.");
    out += fmt::format("smtpwall_dns_lookups_total {}\n", g.dns.lookups);
    family("smtpwall_dns_cache_hits_total", "counter", "Resolver lookups answered from the cache.");
    out += fmt::format("smtpwall_dns_cache_hits_total {}\n", g.dns.cache_hits);
    family("smtpwall_dns_queries_total", "counter", "DNS queries sent.");
    out += fmt::format("smtpwall_dns_queries_total {}\n", g.dns.queries_sent);
    family("smtpwall_dns_timeouts_total", "counter", "DNS query attempts that timed out.");
    out += fmt::format("smtpwall_dns_timeouts_total {}\n", g.dns.timeouts);
    family("smtpwall_dns_failures_total", "counter", "Lookups that ended in a temporary failure.");
    out += fmt::format("smtpwall_dns_failures_total {}\n", g.dns.failures);
    family("smtpwall_dns_tcp_fallbacks_total", "counter", "Truncated answers retried over TCP.");
    out += fmt::format("smtpwall_dns_tcp_fallbacks_total {}\n", g.dns.tcp_fallbacks);
    family("smtpwall_dns_cache_entries", "gauge", "Answers in the resolver cache.");
    out += fmt::format("smtpwall_dns_cache_entries {}\n", g.dns.cache_entries);

    family("smtpwall_zone_answers_total", "counter",
           "DNSBL/DNSWL answers by zone tag and outcome.");
    for (const auto& [tag, z] : c.zones)
        for (const auto& [outcome, n] : z.outcomes)
            out += fmt::format("smtpwall_zone_answers_total{{zone=\"{}\",outcome=\"{}\"}} {}\n",
                               label(tag), outcome, n);
    family("smtpwall_zone_latency_seconds_sum", "counter",
           "Summed latency of zone answers (with _count: mean).");
    for (const auto& [tag, z] : c.zones)
        out += fmt::format("smtpwall_zone_latency_seconds_sum{{zone=\"{}\"}} {:.6f}\n", label(tag),
                           z.latency_sum_seconds);
    family("smtpwall_zone_latency_seconds_count", "counter",
           "Zone answers with a measured latency.");
    for (const auto& [tag, z] : c.zones)
        out += fmt::format("smtpwall_zone_latency_seconds_count{{zone=\"{}\"}} {}\n", label(tag),
                           z.answered);
    family("smtpwall_zone_suspended", "gauge", "1 while a zone is suspended after a refusal.");
    for (const auto& [zone, s] : g.zones)
        out += fmt::format("smtpwall_zone_suspended{{zone=\"{}\"}} {}\n", label(zone),
                           s.suspended ? 1 : 0);
    family("smtpwall_zone_dead", "gauge", "1 while a zone fails its test points.");
    for (const auto& [zone, s] : g.zones)
        out += fmt::format("smtpwall_zone_dead{{zone=\"{}\"}} {}\n", label(zone), s.dead ? 1 : 0);
    family("smtpwall_zone_suspensions_total", "counter", "Times a zone was suspended.");
    for (const auto& [zone, s] : g.zones)
        out += fmt::format("smtpwall_zone_suspensions_total{{zone=\"{}\"}} {}\n", label(zone),
                           s.suspensions);

    family("smtpwall_bans_active", "gauge", "Active bans (addresses and blocks).");
    out += fmt::format("smtpwall_bans_active {}\n", g.bans_active);
    family("smtpwall_bans_added_total", "counter",
           "Bans added, by origin (policy, netblock, manual).");
    for (const auto& [origin, n] : c.bans_added)
        out += fmt::format("smtpwall_bans_added_total{{origin=\"{}\"}} {}\n", origin, n);
    family("smtpwall_bans_withheld_total", "counter",
           "Bans earned by shared relays and not made, by why each is one (provider, dnswl, "
           "good-mail).");
    for (const auto& [why, n] : c.bans_withheld)
        out += fmt::format("smtpwall_bans_withheld_total{{reason=\"{}\"}} {}\n", why, n);
    family("smtpwall_bans_expired_total", "counter", "Bans lifted because their time was up.");
    out += fmt::format("smtpwall_bans_expired_total {}\n", c.bans_expired);
    family("smtpwall_bans_lifted_total", "counter", "Bans lifted by an operator.");
    out += fmt::format("smtpwall_bans_lifted_total {}\n", c.bans_lifted);
    family("smtpwall_bans_refused_total", "counter", "Bans the firewall helper refused.");
    out += fmt::format("smtpwall_bans_refused_total {}\n", c.bans_refused);
    family("smtpwall_tracked_addresses", "gauge", "Addresses with a tally.");
    out += fmt::format("smtpwall_tracked_addresses {}\n", g.tracked_addresses);

    family("smtpwall_helper_connected", "gauge", "1 while the firewall helper is connected.");
    out += fmt::format("smtpwall_helper_connected {}\n", g.helper_connected ? 1 : 0);
    family("smtpwall_helper_sync_deferred", "gauge",
           "Bans the helper's rate cap left out of the kernel at the last sync (sent again).");
    out += fmt::format("smtpwall_helper_sync_deferred {}\n", g.helper_sync_deferred);
    family("smtpwall_helper_connects_total", "counter", "Connections made to the firewall helper.");
    out += fmt::format("smtpwall_helper_connects_total {}\n", c.helper_connects);
    family("smtpwall_helper_errors_total", "counter",
           "Helper connection failures and refused requests.");
    out += fmt::format("smtpwall_helper_errors_total {}\n", c.helper_errors);
    family("smtpwall_internal_errors_total", "counter",
           "Exceptions caught and survived where none should come (please report).");
    for (const auto& [where, n] : c.internal_errors)
        out += fmt::format("smtpwall_internal_errors_total{{where=\"{}\"}} {}\n", where, n);
    family("smtpwall_session_budget_exceeded_total", "counter",
           "Sessions judged without more lookups: a per-session budget was reached.");
    for (const auto& [budget, n] : c.over_budget)
        out +=
            fmt::format("smtpwall_session_budget_exceeded_total{{budget=\"{}\"}} {}\n", budget, n);
    family("smtpwall_control_refused_total", "counter",
           "Control and metrics connections or requests refused or cut, by why.");
    for (const auto& [why, n] : c.control_refused)
        out += fmt::format("smtpwall_control_refused_total{{reason=\"{}\"}} {}\n", why, n);
    if (g.cluster.enabled) {
        family("smtpwall_cluster_connected", "gauge",
               "1 while the Redis links are up and caught up.");
        out += fmt::format("smtpwall_cluster_connected {}\n", g.cluster.connected ? 1 : 0);
        family("smtpwall_cluster_outbox", "gauge", "Local changes not yet published to Redis.");
        out += fmt::format("smtpwall_cluster_outbox {}\n", g.cluster.outbox);
        family("smtpwall_cluster_published_total", "counter",
               "Bans, unbans and allows published to Redis.");
        out += fmt::format("smtpwall_cluster_published_total {}\n", c.cluster_published);
        family("smtpwall_cluster_applied_total", "counter",
               "Bans, unbans and allows of other hosts applied here.");
        out += fmt::format("smtpwall_cluster_applied_total {}\n", c.cluster_applied);
        family("smtpwall_cluster_reconnects_total", "counter", "Lost connections to Redis.");
        out += fmt::format("smtpwall_cluster_reconnects_total {}\n", c.cluster_reconnects);
        family("smtpwall_cluster_lag_seconds", "gauge",
               "Age of the last log entry from another host when it was applied here.");
        out += fmt::format("smtpwall_cluster_lag_seconds {:.3f}\n",
                           static_cast<double>(c.cluster_lag_ms) / 1000.0);
    }
    return out;
}

}  // namespace smtpwall
