// The DNS lookups of one SMTP session. All of them start as early as their
// inputs exist, in parallel: PTR (then forward confirmation) and every DNSBL/DNSWL
// zone at connect, the HELO name's A/AAAA/MX at HELO, SPF at MAIL FROM. A verdict
// waits only until what was started is done or the session's deadline passes; a
// slow name delays only the sessions that need it, never the others.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dnsbl/facts.hpp"
#include "dnsbl/resolver.hpp"
#include "dnsbl/zones.hpp"

namespace smtpwall::dns {

// Shared by all sessions; outlives them (sessions hold a shared_ptr).
struct LookupServices {
    Resolver* resolver = nullptr;
    std::vector<ZoneSpec> zones;
    ZoneHealth* health = nullptr;
    std::chrono::seconds suspend_for{600};
    std::size_t max_ptr_names = 5;
    // Per-session budgets for what the client chooses (its HELO names, its senders): a
    // session past one is judged with the facts it has, never failed for it.
    int max_helo_names = 3;  // distinct HELO names looked up (A, AAAA, MX each)
    int max_spf_checks = 3;  // distinct senders checked; a repeated one reuses its result
    std::function<void(std::string_view budget)> over_budget;  // once per session and budget
    // SPF (may be empty: no SPF checks). Must not block; calls back once.
    std::function<void(const IpAddress& client, const std::string& helo, const std::string& sender,
                       std::function<void(SpfFacts)> done)>
        spf;
    // An outcome SPF knows at once for these inputs (may be empty): an earlier check's,
    // or one evaluated from cached DNS answers. Never waits for DNS; called without the
    // session's lock.
    std::function<std::optional<SpfFacts>(const IpAddress& client, const std::string& helo,
                                          const std::string& sender)>
        spf_cached;
    std::function<std::int64_t()> clock;          // unix seconds, for zone health
    std::function<void(const std::string&)> log;  // zone suspensions and the like
    // Every zone answer (for metrics): tag, outcome name, latency (0 when not asked).
    std::function<void(const std::string&, std::string_view, std::chrono::microseconds)>
        observe_zone;
};

class SessionLookups : public std::enable_shared_from_this<SessionLookups> {
  public:
    using Deadline = std::chrono::steady_clock::time_point;

    // Starts PTR/FCrDNS and the zone lookups for `client`.
    static std::shared_ptr<SessionLookups> start(std::shared_ptr<const LookupServices> services,
                                                 const IpAddress& client, Deadline deadline);

    // Starts A/AAAA/MX lookups of a syntactically valid HELO name (call again after
    // a second EHLO: the latest name counts). Past the session's budget of names, the
    // latest name is looked up only when a verdict asks (wait(), when_done()).
    void helo(const std::string& name);
    // Starts SPF for this sender (without angle brackets; empty for the null sender).
    // A sender (with the same HELO) checked before in the session reuses its result,
    // unless that was a temporary error. Past the budget of checks, the latest sender
    // is checked only when a verdict asks. So a client greeting or RSETting a thousand
    // times costs a few lookups, and the name and sender judged are always checked.
    void mail_from(const std::string& sender);

    // Starts what a budget left for the verdict, then blocks until everything started
    // so far is done, or the deadline passed.
    DnsFacts wait();
    // The same, but returns as soon as `enough` holds for the facts so far (called
    // with the session's lock held: it must not block nor call back into this).
    DnsFacts wait(const std::function<bool(const DnsFacts&)>& enough);
    // Starts what a budget left for the verdict, then calls `done` once everything
    // started is done or the deadline passed; on a resolver or SPF thread, or at once
    // in the caller if already complete.
    void when_done(std::function<void(DnsFacts)> done);
    DnsFacts snapshot() const;

  private:
    SessionLookups(std::shared_ptr<const LookupServices> services, const IpAddress& client,
                   Deadline deadline);
    void begin();  // the connect-time lookups
    // Starts a lookup the verdict waits for; mutex held. `then` runs with it held too.
    void lookup(std::string name, RType type, std::function<void(const Result&)> then);
    // Wakes wait() at every answer; once nothing is outstanding, runs when_done()'s
    // callbacks (mutex held, released around them).
    void notify_waiters(std::unique_lock<std::mutex>& lock);
    void confirm_ptr();   // mutex held
    void settle_helo();   // mutex held
    void look_up_helo();  // mutex held: the A/AAAA/MX lookups of helo_name_ (counted before)
    // Starts SPF for `sender`; `lock` is released around the calls into the checker.
    void check_spf(std::unique_lock<std::mutex>& lock, std::string key, const std::string& sender);
    // The outcome of spf_checks_[index] (mutex held).
    void spf_done(std::unique_lock<std::mutex>& lock, std::size_t index, SpfFacts result);
    void start_deferred(std::unique_lock<std::mutex>& lock);

    const std::shared_ptr<const LookupServices> services_;
    const IpAddress client_;
    // A verdict waits for the lookups until deadline_: the one given at start, moved
    // on by the same span whenever a HELO's or a sender's checks start later.
    const std::chrono::steady_clock::duration patience_;
    Deadline deadline_;  // mutex_
    void give_time();    // mutex held

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    int outstanding_ = 0;  // lookups the verdict waits for
    DnsFacts facts_;
    std::string helo_name_;
    unsigned helo_generation_ = 0;
    int ptr_forward_pending_ = 0;
    bool ptr_forward_temp_ = false;
    int helo_pending_ = 0;
    bool helo_temp_ = false, helo_positive_ = false;
    std::vector<std::function<void(DnsFacts)>> waiters_;
    std::vector<std::string> helo_names_looked_up_;
    struct SpfCheck {
        std::string key;  // sender and HELO
        std::optional<SpfFacts> result;
    };
    std::vector<SpfCheck> spf_checks_;
    std::optional<std::size_t> current_spf_;  // the latest MAIL FROM's check
    struct DeferredSpf {
        std::string key, sender;
    };
    std::optional<DeferredSpf> spf_deferred_;  // the latest sender, over the budget
    bool helo_deferred_ = false;               // the latest HELO name, over the budget
    bool helo_over_budget_ = false, spf_over_budget_ = false;
};

}  // namespace smtpwall::dns
