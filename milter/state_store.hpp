// Durable state: tallies and bans in an SQLite file (WAL mode), so a restart or
// a reboot brings them back. Written behind the hot path by StateWriter's own
// thread; libmilter callbacks never wait on disk.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "core/counter_history.hpp"
#include "milter/enforcement.hpp"

namespace smtpwall {

class StateError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class StateStore {
  public:
    // Version 1: tallies, bans. Version 2: + allowlist (`smtpwallctl allow`). Version 3:
    // + shared relays with the tallies. Version 4: + the cluster's outbox and cursor,
    // and who decided each ban. Version 5: + the counter history (core/counter_history.hpp).
    // Migrations live in migrate(); a file from a newer smtpwall is refused.
    static constexpr int kSchemaVersion = 5;

    // Opens or creates the file and takes it for this process alone. Throws
    // StateError with what to do when the file is corrupt, locked by another
    // process or written by a newer smtpwall; the file is never modified then.
    StateStore(const std::string& path, std::chrono::seconds tally_window);
    ~StateStore();
    StateStore(const StateStore&) = delete;
    StateStore& operator=(const StateStore&) = delete;

    struct Contents {
        std::vector<TallyRow> tallies;
        std::vector<Ban> bans;
        std::vector<Cidr> allows;
        std::vector<OutboxEntry> outbox;                  // cluster
        std::map<std::string, std::string> cluster_meta;  // cluster
        CounterHistory::Contents history;
    };
    Contents load();
    // All of it in one transaction, or nothing (throws StateError).
    void write(const StateChanges& changes);
    void write_history(const HistoryChanges& changes);

  private:
    void load_history(CounterHistory::Contents& out);
    void exec(const char* sql);
    void migrate(int from_version);
    [[noreturn]] void fail(const std::string& what);

    std::string path_;
    std::chrono::seconds window_;
    sqlite3* db_ = nullptr;
};

// Every flush_interval, moves what changed in the Enforcement (and the counter
// history, when there is one) into the store.
// Failed writes are kept and retried; a final flush happens at stop().
class StateWriter {
  public:
    using Clock = std::function<UnixTime()>;
    using HistorySource = std::function<HistoryChanges()>;
    StateWriter(StateStore& store, Enforcement& enforcement, std::chrono::seconds interval,
                Clock clock, HistorySource history = {});
    ~StateWriter();
    void stop();

  private:
    void run();
    bool flush();

    StateStore& store_;
    Enforcement& enforcement_;
    const std::chrono::seconds interval_;
    Clock clock_;
    HistorySource history_;
    StateChanges unwritten_;
    HistoryChanges unwritten_history_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace smtpwall
