// A work queue that serves its clients in turn: one FIFO per client key, a bound on
// how many of a client's jobs run at once and on how many may wait, and round-robin
// between the clients that may start one. So a client that floods it (or whose jobs
// are slow) waits behind its own jobs, never in front of another client's. Pure: no
// locks, no clock; the SPF worker pool (dnsbl/spf.cpp) drives it under its mutex.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <utility>

namespace smtpwall {

template <typename Key, typename Job>
class FairQueue {
  public:
    // per_client_running >= 1 jobs of one client at once; per_client_waiting of its jobs
    // may wait; `total_waiting` for all clients together.
    FairQueue(std::size_t per_client_running, std::size_t per_client_waiting,
              std::size_t total_waiting)
        : running_limit_(per_client_running < 1 ? 1 : per_client_running),
          waiting_limit_(per_client_waiting),
          total_limit_(total_waiting) {}

    // false: the client's queue or the whole queue is full (the job was not taken).
    bool push(const Key& key, Job job) {
        if (waiting_ >= total_limit_ || waiting_limit_ == 0) return false;
        const auto known = clients_.find(key);
        if (known != clients_.end() && known->second.waiting.size() >= waiting_limit_) return false;
        auto& c = clients_[key];
        c.waiting.push_back(std::move(job));
        ++waiting_;
        make_ready(key, c);
        return true;
    }

    // The next client's oldest job, marked running until finished(key).
    std::optional<std::pair<Key, Job>> pop() {
        while (!ready_.empty()) {
            const Key key = ready_.front();
            ready_.pop_front();
            auto it = clients_.find(key);
            if (it == clients_.end()) continue;
            auto& c = it->second;
            c.ready = false;
            if (c.waiting.empty() || c.running >= running_limit_) continue;
            std::pair<Key, Job> out{key, std::move(c.waiting.front())};
            c.waiting.pop_front();
            --waiting_;
            ++c.running;
            make_ready(key, c);  // back of the line, if it may start another
            return out;
        }
        return std::nullopt;
    }

    // A job of `key` that pop() handed out has finished.
    void finished(const Key& key) {
        auto it = clients_.find(key);
        if (it == clients_.end()) return;
        if (it->second.running > 0) --it->second.running;
        make_ready(key, it->second);
        forget_if_idle(key);
    }

    // Every waiting job (for shutdown); jobs running stay counted until finished().
    std::deque<std::pair<Key, Job>> take_all() {
        std::deque<std::pair<Key, Job>> out;
        for (auto it = clients_.begin(); it != clients_.end();) {
            for (auto& job : it->second.waiting) out.emplace_back(it->first, std::move(job));
            it->second.waiting.clear();
            it->second.ready = false;
            it = it->second.running == 0 ? clients_.erase(it) : std::next(it);
        }
        ready_.clear();
        waiting_ = 0;
        return out;
    }

    bool can_pop() const { return !ready_.empty(); }
    std::size_t waiting() const { return waiting_; }
    std::size_t clients() const { return clients_.size(); }

  private:
    struct Client {
        std::deque<Job> waiting;
        std::size_t running = 0;
        bool ready = false;  // in ready_
    };

    void make_ready(const Key& key, Client& c) {
        if (c.ready || c.waiting.empty() || c.running >= running_limit_) return;
        c.ready = true;
        ready_.push_back(key);
    }
    void forget_if_idle(const Key& key) {
        auto it = clients_.find(key);
        if (it != clients_.end() && it->second.waiting.empty() && it->second.running == 0 &&
            !it->second.ready)
            clients_.erase(it);
    }

    std::size_t running_limit_, waiting_limit_, total_limit_;
    std::map<Key, Client> clients_;
    std::deque<Key> ready_;  // clients that may start a job, in turn
    std::size_t waiting_ = 0;
};

}  // namespace smtpwall
