// What smtpwall-helper wants the firewall to hold, and the rules for changing it.
// No sockets, no clocks of its own: the server hands in requests and the time, the
// state decides, pushes changes through a Backend, and answers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/rate_limiter.hpp"
#include "firewall/backend.hpp"
#include "firewall/protocol.hpp"
#include "firewall/target_policy.hpp"

namespace smtpwall::firewall {

class JournalError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Where the helper keeps the dynamic entries it accepted, so that all of them are back
// in the kernel after a reboot before the milter even connects, and so that the
// milter's re-sync of them never counts against the rate cap (firewall/journal.cpp
// keeps them in a file). Methods throw JournalError.
class EntryJournal {
  public:
    virtual ~EntryJournal() = default;
    // What was accepted before, unchecked: the caller applies its rules again.
    virtual std::vector<helperproto::Entry> load() = 0;
    // The complete set, replacing whatever the journal held.
    virtual void replace(const std::vector<helperproto::Entry>& entries) = 0;
    // Dynamic entries added, updated (add) or removed since.
    virtual void append(const std::vector<Change>& changes) = 0;
    // Records written since the last replace(), plus those it wrote: what a replace saves.
    virtual std::size_t records() const = 0;
};

struct HelperPolicy {
    TargetLimits targets;  // own_addresses is refreshed by the server
    bool ipv6 = true;
    std::size_t max_entries = 100000;
    int max_adds_per_minute = 600;
    // ADD and DEL requests outside a SYNC that change the firewall (new, updated or
    // deleted entries): each one is kernel work, a stream of them a stream of commits.
    int max_changes_per_minute = 6000;
    std::vector<helperproto::Entry> core;  // origin core, from the helper's config
};

// Why a configured core network must not be installed (it would cut off the host itself
// or something it must always reach), or nothing. Core networks may be large: the
// minimum prefix length does not apply to them.
std::optional<std::string> core_refusal_reason(const Cidr& net, const TargetLimits& limits);

class HelperState {
  public:
    using LogFn = std::function<void(const std::string&)>;
    using SteadyTime = RateLimiter::Clock::time_point;
    // Names the connection a request came on: a SYNC belongs to one connection.
    using SessionId = std::uint64_t;
    struct Incoming {
        helperproto::Request request;
        SessionId session = 0;
    };

    // `journal` may be null: then bans live only in the kernel.
    HelperState(HelperPolicy policy, Backend& backend, LogFn log, EntryJournal* journal = nullptr);

    // Adopts the dynamic entries found in the kernel (a restart keeps bans) and those
    // the journal kept (a reboot emptied the kernel), each checked again, installs the
    // core list and removes stale ones. Throws BackendError: without a working
    // firewall the helper has no reason to run.
    void start(std::int64_t now);

    // Answers each request, in order: one block of reply lines (no newlines) per request.
    // Changes are applied in as few backend commits as possible (one, unless a LIST needs
    // the kernel's view in between). HELLO is the server's business; it is answered here
    // only for completeness.
    std::vector<std::vector<std::string>> handle(const std::vector<Incoming>& batch,
                                                 std::int64_t now, SteadyTime steady_now);
    // The same, all requests from one session (0).
    std::vector<std::vector<std::string>> handle(const std::vector<helperproto::Request>& batch,
                                                 std::int64_t now, SteadyTime steady_now);
    // The connection is gone: a SYNC it left open is discarded.
    void close_session(SessionId session);
    std::size_t open_syncs() const { return syncs_.size(); }
    // Backend commits so far (the server budgets them and reports them per connection).
    std::uint64_t commits() const { return commits_; }

    // Removes dynamic entries whose expiry has passed.
    void expire(std::int64_t now);
    // Makes the kernel match the desired set again (chain, hooks, entries). Never throws
    // for backend trouble: it logs and tries again next time.
    void repair(std::int64_t now);

    std::optional<std::int64_t> next_expiry() const { return next_expiry_; }
    void set_own_addresses(std::vector<IpAddress> own) {
        policy_.targets.own_addresses = std::move(own);
    }
    std::size_t size() const { return desired_.size(); }
    const std::map<Cidr, helperproto::Entry>& desired() const { return desired_; }

  private:
    // Changes to `desired_` that are decided but not yet committed.
    struct Pending {
        std::map<Cidr, std::optional<helperproto::Entry>> nets;  // nullopt = removal
        std::vector<std::size_t> requests;                       // replies depend on the commit
        std::vector<std::string> log_lines;                      // logged once committed
        std::ptrdiff_t growth = 0;                               // entries added - removed
    };
    // Records a decided change (nullopt = removal), keeping `growth` up to date.
    void stage(Pending& pending, const Cidr& net, std::optional<helperproto::Entry> entry);

    // Entries staged by one connection's open SYNC: what the dynamic set becomes at END.
    struct Sync {
        std::map<Cidr, helperproto::Entry> staged;
        std::size_t refused = 0;
    };

    std::vector<std::string> handle_add(const helperproto::Request& r, std::size_t index,
                                        Pending& pending, std::int64_t now, SteadyTime steady_now);
    std::vector<std::string> handle_sync(const Incoming& in, std::size_t index, Pending& pending,
                                         std::int64_t now);
    std::vector<std::string> stage_add(const helperproto::Request& r, Sync& sync, SessionId session,
                                       const Pending& pending, std::int64_t now,
                                       SteadyTime steady_now);
    // Why an ADD of this entry must be refused (code, reason), whoever asks.
    std::optional<std::pair<std::string, std::string>> add_refusal(const helperproto::Request& r,
                                                                   const Pending& pending,
                                                                   std::int64_t now) const;
    std::vector<std::string> handle_del(const helperproto::Request& r, std::size_t index,
                                        Pending& pending, SteadyTime steady_now);
    std::vector<std::string> ok_after_commit(const helperproto::Request& r, std::size_t index,
                                             Pending& pending, std::string_view text);
    const helperproto::Entry* lookup(const Cidr& net, const Pending& pending) const;
    std::size_t count_with(const Pending& pending) const;
    void commit(Pending& pending, std::vector<std::vector<std::string>>& replies,
                const std::vector<Incoming>& batch);
    // Computes and applies what it takes for the kernel to hold exactly `desired_`.
    // The notes prefix the log line of each entry added or removed.
    void reconcile(const std::vector<helperproto::Entry>& kernel, std::string_view added_note,
                   std::string_view removed_note);
    std::optional<std::string> refusal(const Cidr& net) const;
    // Takes one change from the budget; why not, when it is spent.
    std::optional<std::string> over_change_budget(SteadyTime steady_now);
    void note_expiry(std::int64_t expires);
    void recompute_next_expiry();
    // Tells the journal what changed in the dynamic set (after the kernel took it).
    void journal(const std::vector<Change>& changes);
    void journal_everything();

    HelperPolicy policy_;
    Backend& backend_;
    LogFn log_;
    EntryJournal* journal_;
    bool journal_stale_ = false;  // an append failed: rewrite it whole next time
    RateLimiter rate_;            // new entries
    RateLimiter changes_;         // any change by ADD or DEL
    std::uint64_t commits_ = 0;
    std::map<Cidr, helperproto::Entry> desired_;  // counters unused here
    std::optional<std::int64_t> next_expiry_;
    std::map<SessionId, Sync> syncs_;  // open SYNCs by connection
};

}  // namespace smtpwall::firewall
