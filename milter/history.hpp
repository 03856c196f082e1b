// The milter's counter history: samples the helper's per-entry counters (LIST) and
// its own metrics every [history] sample_interval, just before the helper expires an
// entry, before every removal (the helper client lists first) and at shutdown; keeps
// them in the pure CounterHistory (core/counter_history.hpp) behind one lock, and
// hands the changes to the state writer. Samples arrive on the Asio thread,
// enforcement events on session threads, queries on the control server's thread.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs it

#include <boost/asio.hpp>

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>

#include "conf/milter_config.hpp"
#include "core/counter_history.hpp"
#include "core/history_report.hpp"
#include "milter/enforcement.hpp"
#include "milter/helper_client.hpp"
#include "milter/metrics.hpp"

namespace smtpwall {

// The history's names for the metrics' counters (core/counter_history.hpp).
std::map<std::string, std::uint64_t> history_totals(const Metrics::Snapshot& snapshot);

class HistoryRecorder final : public EnforcementObserver, public HelperClient::CounterObserver {
  public:
    using Clock = std::function<UnixTime()>;
    HistoryRecorder(boost::asio::io_context& io, HelperClient& helper,
                    const conf::MilterConfig::History& config, Clock clock);

    void restore(CounterHistory::Contents contents);
    // Hears the helper's LIST answers from now on and starts the sampling timer.
    void start();
    // One last sample of the kernel and the metrics, waiting at most `timeout` for the
    // helper. Not on the Asio thread, which must be running.
    void final_sample(std::chrono::milliseconds timeout);
    HistoryChanges take_changes();
    // The metrics' growth since the last sample, now (before a report).
    void count_sample();

    void event(const EnforcementEvent& event) override;
    void replaced(const Cidr& member) override;

    // HelperClient::CounterObserver (Asio thread)
    void listed(const HelperClient::Entries& entries) override;
    void removed(const Cidr& net) override;

    std::vector<HistoryTopRow> top(const Period& period) const;
    PeriodReport report(std::string host, const Period& period) const;

  private:
    boost::asio::awaitable<void> run();

    boost::asio::io_context& io_;
    HelperClient& helper_;
    const std::chrono::seconds interval_;
    Clock clock_;
    mutable std::mutex mutex_;
    CounterHistory history_;
    // Asio thread only: the soonest expiry of a kernel entry (the helper removes it
    // itself) not sampled for yet, and the last one sampled for.
    std::optional<UnixTime> next_expiry_;
    UnixTime sampled_expiry_ = 0;
};

}  // namespace smtpwall
