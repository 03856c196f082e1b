// SpfChecker: the worker pool that runs libspf2 off the mail path.
#include "dnsbl/spf.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "dnsbl/fair_queue.hpp"
#include "dnsbl/resolver.hpp"
#include "dnsbl/spf_cache.hpp"
#include "dnsbl/spf_eval.hpp"

namespace smtpwall {

using Clock = std::chrono::steady_clock;

namespace {

struct Job {
    IpAddress client;
    std::string helo;
    std::string sender;
    SpfChecker::Done done;
    Clock::time_point accepted;
    Clock::time_point deadline;
};

// Where a worker waits for the answer to its current question. Shared with the
// resolver's callback, which may run after the worker gave up (deadline) or even
// after the checker is gone: the generation tells a late answer from the current one.
struct Waiter {
    std::mutex m;
    std::condition_variable cv;
    std::uint64_t generation = 0;
    std::optional<dns::Result> answer;
    bool cancelled = false;  // the checker is stopping: give up at once
};

enum class Wait { answered, deadline, cancelled };

SpfOutcome refusal(SpfResult result, std::string why) {
    SpfOutcome out;
    out.result = result;
    out.explanation = std::move(why);
    return out;
}

}  // namespace

class SpfChecker::Impl {
  public:
    Impl(AsyncLookup lookup, SpfConfig config, CachedLookup cached_lookup)
        : lookup_(std::move(lookup)),
          cached_lookup_(std::move(cached_lookup)),
          config_(std::move(config)),
          queue_(static_cast<std::size_t>(std::max(config_.client_workers, 1)),
                 config_.client_queue, config_.max_queue),
          cache_(config_.cache_entries) {
        if (!lookup_) throw std::invalid_argument("SpfChecker: no DNS lookup function");
        if (config_.workers < 1) throw std::invalid_argument("SpfChecker: workers must be >= 1");
        if (config_.deadline <= std::chrono::milliseconds::zero()) {
            throw std::invalid_argument("SpfChecker: deadline must be positive");
        }
        if (config_.max_queue == 0)
            throw std::invalid_argument("SpfChecker: max_queue must be >= 1");
        // libspf2 server objects are made here, so a failure reaches the caller rather
        // than terminating a thread; each is then used by its own worker only.
        std::vector<std::unique_ptr<spf_detail::Evaluator>> evaluators;
        for (int i = 0; i < config_.workers; ++i) {
            evaluators.push_back(std::make_unique<spf_detail::Evaluator>(config_.local_hostname));
            waiters_.push_back(std::make_shared<Waiter>());
        }
        try {
            for (std::size_t i = 0; i < evaluators.size(); ++i) {
                threads_.emplace_back([this, i, evaluator = std::move(evaluators[i])] {
                    run(*evaluator, waiters_[i]);
                });
            }
        } catch (...) {
            stop();
            throw;
        }
    }

    ~Impl() { stop(); }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    bool check(IpAddress client, std::string helo, std::string sender, Done done) {
        const auto now = Clock::now();
        {
            const std::lock_guard lock(m_);
            if (stopping_ || !queue_.push(client_key(client),
                                          Job{client, std::move(helo), std::move(sender),
                                              std::move(done), now, now + config_.deadline})) {
                ++refused_;
                return false;
            }
            ++accepted_;
        }
        cv_.notify_one();
        return true;
    }

    std::optional<SpfOutcome> cached(const IpAddress& client, std::string_view helo,
                                     std::string_view sender) {
        auto key = SpfResultCache::key(client, helo, sender);
        {
            const std::lock_guard lock(cache_mutex_);
            if (auto hit = cache_.find(key, Clock::now())) {
                ++cache_hits_;
                return hit;
            }
        }
        return evaluate_at_once(std::move(key), client, helo, sender);
    }

    SpfStats stats() const {
        SpfStats s;
        s.cache_hits = cache_hits_;
        s.evaluated_at_once = evaluated_at_once_;
        s.accepted = accepted_;
        s.refused = refused_;
        s.completed = completed_;
        s.deadline_exceeded = deadline_exceeded_;
        s.dns_lookups = dns_lookups_;
        for (std::size_t i = 0; i < spf_result_count; ++i) s.by_result[i] = by_result_[i];
        const std::lock_guard lock(m_);
        s.queued = queue_.waiting();
        return s;
    }

  private:
    // A check whose every DNS answer is cached, run in the caller's thread: a hand-off
    // to a worker and back costs more than the evaluation. The first answer missing
    // ends it (nothing was waited for, the partial outcome is dropped), and so does a
    // check asking more than a usual record does: those go to the workers, whose
    // queues keep one client's share fair.
    static constexpr int max_at_once_lookups = 10;
    std::optional<SpfOutcome> evaluate_at_once(std::string key, const IpAddress& client,
                                               std::string_view helo, std::string_view sender) {
        if (!cached_lookup_) return std::nullopt;
        auto evaluator = idle_evaluator();
        if (!evaluator) return std::nullopt;
        const auto started = Clock::now();
        bool handed_on = false;  // an answer not cached, or too many asked
        int asked = 0;
        std::optional<std::uint32_t> shortest_ttl;
        const spf_detail::BlockingLookup lookup = [&](const std::string& name, dns::RType type) {
            std::optional<dns::Result> answer;
            if (++asked <= max_at_once_lookups) {
                try {
                    answer = cached_lookup_(name, type);
                } catch (...) {
                    answer.reset();
                }
            }
            if (!answer)
                handed_on = true;
            else
                shortest_ttl = std::min(shortest_ttl.value_or(answer->ttl), answer->ttl);
            return answer;
        };
        std::optional<SpfOutcome> out;
        try {
            out = evaluator->evaluate(client, helo, sender, lookup);
        } catch (...) {
            out.reset();  // the worker will try, and report what fails
        }
        give_back(std::move(evaluator));
        if (!out || handed_on) return std::nullopt;
        out->elapsed =
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
        keep(std::move(key), *out, true, shortest_ttl);
        ++evaluated_at_once_;
        count(*out, false);
        return out;
    }

    // libspf2 server objects for evaluate_at_once, made as concurrent callers need
    // them; past the cap a caller goes to the workers instead of waiting.
    static constexpr std::size_t max_at_once_evaluators = 16;
    std::unique_ptr<spf_detail::Evaluator> idle_evaluator() {
        {
            const std::lock_guard lock(evaluators_mutex_);
            if (!idle_evaluators_.empty()) {
                auto e = std::move(idle_evaluators_.back());
                idle_evaluators_.pop_back();
                return e;
            }
            if (at_once_evaluators_ >= max_at_once_evaluators) return nullptr;
            ++at_once_evaluators_;
        }
        try {
            return std::make_unique<spf_detail::Evaluator>(config_.local_hostname);
        } catch (...) {
            const std::lock_guard lock(evaluators_mutex_);
            --at_once_evaluators_;
            return nullptr;
        }
    }
    void give_back(std::unique_ptr<spf_detail::Evaluator> evaluator) {
        const std::lock_guard lock(evaluators_mutex_);
        idle_evaluators_.push_back(std::move(evaluator));
    }

    void stop() {
        {
            const std::lock_guard lock(m_);
            if (stopping_) return;
            stopping_ = true;
        }
        for (const auto& w : waiters_) {
            const std::lock_guard lock(w->m);
            w->cancelled = true;
            w->cv.notify_all();
        }
        cv_.notify_all();
        for (auto& t : threads_) t.join();
    }

    // A client's queue key: its address, or its IPv6 /64 (an IPv4 in IPv6 as itself).
    static std::string client_key(const IpAddress& client) {
        return tally_key(client.unmapped()).to_string();
    }

    void run(spf_detail::Evaluator& evaluator, const std::shared_ptr<Waiter>& waiter) {
        for (;;) {
            std::string key;
            Job job;
            {
                std::unique_lock lock(m_);
                cv_.wait(lock, [&] { return stopping_ || queue_.can_pop(); });
                if (stopping_) {
                    auto left = queue_.take_all();
                    lock.unlock();
                    for (auto& [k, j] : left)
                        finish(j,
                               refusal(SpfResult::temperror,
                                       "SPF checker stopping before the check ran"),
                               false);
                    return;
                }
                auto next = queue_.pop();
                if (!next) continue;
                key = std::move(next->first);
                job = std::move(next->second);
            }
            SpfOutcome out;
            bool expired = false;
            if (Clock::now() >= job.deadline) {
                out = refusal(SpfResult::temperror,
                              "SPF deadline passed while the check waited for a worker");
                expired = true;
            } else {
                Wait gave_up = Wait::answered;
                std::optional<std::uint32_t> shortest_ttl;  // of the answers used
                const spf_detail::BlockingLookup lookup = [&](const std::string& name,
                                                              dns::RType type) {
                    auto answer = wait_for_answer(waiter, name, type, job.deadline, gave_up);
                    if (answer)
                        shortest_ttl = std::min(shortest_ttl.value_or(answer->ttl), answer->ttl);
                    return answer;
                };
                try {
                    out = evaluator.evaluate(job.client, job.helo, job.sender, lookup);
                } catch (const std::exception& e) {
                    out =
                        refusal(SpfResult::temperror, std::string("SPF check failed: ") + e.what());
                }
                if (gave_up == Wait::deadline) {
                    expired = true;
                    out.explanation = "SPF deadline of " +
                                      std::to_string(config_.deadline.count()) + " ms exceeded; " +
                                      out.explanation;
                } else if (gave_up == Wait::cancelled) {
                    out.explanation = "SPF checker stopping; " + out.explanation;
                }
                keep(SpfResultCache::key(job.client, job.helo, job.sender), out,
                     gave_up == Wait::answered, shortest_ttl);
            }
            {
                const std::lock_guard lock(m_);
                queue_.finished(key);  // the client may start its next check
            }
            cv_.notify_all();
            finish(job, std::move(out), expired);
        }
    }

    // Kept for the shortest TTL of the answers it used, if it may be (spf_cache.hpp).
    void keep(std::string key, const SpfOutcome& out, bool ran_to_end,
              std::optional<std::uint32_t> shortest_ttl) {
        if (!SpfResultCache::keepable(out, ran_to_end, shortest_ttl.has_value())) return;
        const std::lock_guard lock(cache_mutex_);
        cache_.store(std::move(key), out, std::chrono::seconds(*shortest_ttl), Clock::now());
    }

    void count(const SpfOutcome& out, bool expired) {
        dns_lookups_ += static_cast<std::uint64_t>(out.dns_lookups);
        if (expired) ++deadline_exceeded_;
        ++by_result_[static_cast<std::size_t>(out.result)];
        ++completed_;
    }

    void finish(Job& job, SpfOutcome out, bool expired) {
        out.elapsed =
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - job.accepted);
        count(out, expired);
        try {
            if (job.done) job.done(std::move(out));
        } catch (...) {
            // Documented: a throwing callback loses its exception, not the worker.
        }
    }

    // Asks the resolver and blocks this worker until the answer, the deadline or
    // shutdown. nullopt unless an answer arrived in time.
    std::optional<dns::Result> wait_for_answer(const std::shared_ptr<Waiter>& w,
                                               const std::string& name, dns::RType type,
                                               Clock::time_point deadline, Wait& gave_up) {
        std::uint64_t generation = 0;
        {
            const std::lock_guard lock(w->m);
            if (w->cancelled) {
                gave_up = Wait::cancelled;
                return std::nullopt;
            }
            generation = ++w->generation;
            w->answer.reset();
        }
        // Not under the waiter's lock: the callback may run inside this call.
        lookup_(name, type, [w, generation](const dns::Result& r) {
            const std::lock_guard lock(w->m);
            if (w->generation != generation || w->answer) return;  // too late
            w->answer = r;
            w->cv.notify_all();
        });
        std::unique_lock lock(w->m);
        w->cv.wait_until(lock, deadline, [&] { return w->answer.has_value() || w->cancelled; });
        if (!w->answer) {
            ++w->generation;  // a late answer must not be taken for the next question's
            gave_up = w->cancelled ? Wait::cancelled : Wait::deadline;
            return std::nullopt;
        }
        std::optional<dns::Result> answer = std::move(w->answer);
        w->answer.reset();
        return answer;
    }

    AsyncLookup lookup_;
    CachedLookup cached_lookup_;
    const SpfConfig config_;
    mutable std::mutex m_;
    std::condition_variable cv_;
    FairQueue<std::string, Job> queue_;
    bool stopping_ = false;
    std::vector<std::shared_ptr<Waiter>> waiters_;
    std::mutex cache_mutex_;  // apart from m_: a lookup never waits behind the queue
    SpfResultCache cache_;
    std::atomic<std::uint64_t> cache_hits_{0}, evaluated_at_once_{0};
    std::mutex evaluators_mutex_;
    std::vector<std::unique_ptr<spf_detail::Evaluator>> idle_evaluators_;
    std::size_t at_once_evaluators_ = 0;
    std::vector<std::thread> threads_;
    std::atomic<std::uint64_t> accepted_{0}, refused_{0}, completed_{0}, deadline_exceeded_{0},
        dns_lookups_{0};
    std::array<std::atomic<std::uint64_t>, spf_result_count> by_result_{};
};

SpfChecker::SpfChecker(dns::Resolver& resolver, SpfConfig config)
    : SpfChecker(
          [&resolver](std::string name, dns::RType type,
                      std::function<void(const dns::Result&)> done) {
              // A cached answer needs no trip through the resolver's thread.
              if (auto hit = resolver.cached(name, type)) return done(*hit);
              resolver.lookup(std::move(name), type, std::move(done));
          },
          std::move(config),
          [&resolver](const std::string& name, dns::RType type) {
              return resolver.cached(name, type);
          }) {}

SpfChecker::SpfChecker(AsyncLookup lookup, SpfConfig config, CachedLookup cached_lookup)
    : impl_(
          std::make_unique<Impl>(std::move(lookup), std::move(config), std::move(cached_lookup))) {}

SpfChecker::~SpfChecker() = default;

bool SpfChecker::check(IpAddress client, std::string helo, std::string sender, Done done) {
    return impl_->check(client, std::move(helo), std::move(sender), std::move(done));
}

std::optional<SpfOutcome> SpfChecker::cached(const IpAddress& client, std::string_view helo,
                                             std::string_view sender) {
    return impl_->cached(client, helo, sender);
}

SpfStats SpfChecker::stats() const {
    return impl_->stats();
}

}  // namespace smtpwall
