// Sampling for the counter history (milter/history.hpp).
#include "milter/history.hpp"

#include <fmt/format.h>

#include <future>

#include "common/log.hpp"

namespace smtpwall {

namespace asio = boost::asio;
using asio::use_awaitable;

std::map<std::string, std::uint64_t> history_totals(const Metrics::Snapshot& s) {
    namespace hc = history_count;
    std::map<std::string, std::uint64_t> out;
    for (const auto& [verdict, n] : s.sessions) out[hc::name(hc::kSession, verdict)] = n;
    for (const auto& [tag, n] : s.rejections_by_tag) out[hc::name(hc::kRejection, tag)] = n;
    for (const auto& [zone, z] : s.zones)
        for (const auto& [outcome, n] : z.outcomes)
            out[hc::name(hc::kZone, zone + ":" + outcome)] = n;
    for (const auto& [why, n] : s.bans_withheld) out[hc::name(hc::kWithheld, why)] = n;
    std::uint64_t added = 0;
    for (const auto& [origin, n] : s.bans_added) added += n;
    out[hc::name(hc::kBan, "added")] = added;
    out[hc::name(hc::kBan, "expired")] = s.bans_expired;
    out[hc::name(hc::kBan, "lifted")] = s.bans_lifted;
    out[hc::name(hc::kBan, "refused")] = s.bans_refused;
    return out;
}

HistoryRecorder::HistoryRecorder(asio::io_context& io, HelperClient& helper,
                                 const conf::MilterConfig::History& config, Clock clock)
    : io_(io),
      helper_(helper),
      interval_(config.sample_interval),
      clock_(std::move(clock)),
      history_(config.retention) {}

void HistoryRecorder::restore(CounterHistory::Contents contents) {
    std::lock_guard lock(mutex_);
    history_.restore(std::move(contents));
}

void HistoryRecorder::start() {
    helper_.observe_counters(this);
    asio::co_spawn(io_, run(), asio::detached);
}

void HistoryRecorder::removed(const Cidr& net) {
    std::lock_guard lock(mutex_);
    history_.removed(net, clock_());
}

void HistoryRecorder::listed(const HelperClient::Entries& entries) {
    next_expiry_.reset();
    for (const auto& e : entries)
        if (e.expires > sampled_expiry_)
            next_expiry_ = std::min(next_expiry_.value_or(e.expires), e.expires);
    std::lock_guard lock(mutex_);
    history_.sample(entries, clock_());
}

void HistoryRecorder::count_sample() {
    // The snapshot under the lock: two samples applied in the other order would look
    // like a counter that went back, and count everything again.
    std::lock_guard lock(mutex_);
    const auto totals = history_totals(metrics().snapshot());
    const UnixTime now = clock_();
    history_.sample_counts(totals, now);
    history_.prune(now);
}

// Every interval a full sample; every second a look at what the helper will expire
// on its own within the next second: its counters are read first.
asio::awaitable<void> HistoryRecorder::run() {
    using Steady = std::chrono::steady_clock;
    asio::steady_timer tick(io_);
    auto next_sample = Steady::now() + interval_;
    while (true) {
        tick.expires_after(std::chrono::seconds(1));
        boost::system::error_code ec;
        co_await tick.async_wait(asio::redirect_error(use_awaitable, ec));
        if (ec) co_return;
        const bool expiring = next_expiry_ && *next_expiry_ <= clock_() + 1;
        if (expiring) {
            sampled_expiry_ = *next_expiry_;  // the LIST's answer finds the next one
            next_expiry_.reset();
        }
        const bool due = Steady::now() >= next_sample;
        if (expiring || due)
            helper_.list([](const std::optional<HelperClient::Entries>&) {});  // observed
        if (due) {
            count_sample();
            next_sample += interval_;
            if (next_sample < Steady::now()) next_sample = Steady::now() + interval_;
        }
    }
}

void HistoryRecorder::final_sample(std::chrono::milliseconds timeout) {
    auto listed = std::make_shared<std::promise<void>>();
    auto done = listed->get_future();
    helper_.list([listed](const std::optional<HelperClient::Entries>&) { listed->set_value(); });
    if (done.wait_for(timeout) != std::future_status::ready)
        log_warning("the last sample of the firewall's counters did not come in time");
    count_sample();
}

HistoryChanges HistoryRecorder::take_changes() {
    std::lock_guard lock(mutex_);
    return history_.take_changes();
}

void HistoryRecorder::event(const EnforcementEvent& event) {
    using Kind = EnforcementEvent::Kind;
    using Lift = EnforcementEvent::LiftReason;
    if (event.ban.observed) return;  // never in the kernel
    const UnixTime now = clock_();
    std::lock_guard lock(mutex_);
    if (event.kind == Kind::banned) {
        history_.record_ban({event.ban.since != 0 ? event.ban.since : now, event.ban.key,
                             event.ban.rule, event.ban.tags,
                             std::string(origin_name(event.ban.origin))});
    } else if (event.kind == Kind::lifted) {
        history_.ended(event.ban.key,
                       event.reason == Lift::expired  ? EntryEnd::expired
                       : event.reason == Lift::manual ? EntryEnd::unbanned
                                                      : EntryEnd::allowlisted,
                       now);
    }
}

void HistoryRecorder::replaced(const Cidr& member) {
    std::lock_guard lock(mutex_);
    history_.ended(member, EntryEnd::aggregated, clock_());
}

std::vector<HistoryTopRow> HistoryRecorder::top(const Period& period) const {
    std::lock_guard lock(mutex_);
    return history_.top(period.from, period.until);
}

PeriodReport HistoryRecorder::report(std::string host, const Period& period) const {
    std::lock_guard lock(mutex_);
    return build_period_report(history_, std::move(host), period);
}

}  // namespace smtpwall
