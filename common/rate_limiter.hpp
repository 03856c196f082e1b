// A token bucket: up to `per_minute` at once, refilled at per_minute/60 per second. Time
// is a parameter. Used for the helper's caps on new bans and changes and for the
// control socket's live checks.
#pragma once

#include <algorithm>
#include <chrono>

namespace smtpwall {

class RateLimiter {
  public:
    using Clock = std::chrono::steady_clock;
    explicit RateLimiter(int per_minute) : capacity_(std::max(per_minute, 1)), tokens_(capacity_) {}

    bool try_take(Clock::time_point now) {
        if (started_) {
            const std::chrono::duration<double> elapsed = now - last_;
            if (elapsed.count() > 0)
                tokens_ = std::min(capacity_, tokens_ + elapsed.count() * capacity_ / 60.0);
        }
        started_ = true;
        last_ = now;
        if (tokens_ < 1.0) return false;
        tokens_ -= 1.0;
        return true;
    }

  private:
    double capacity_;
    double tokens_;
    bool started_ = false;
    Clock::time_point last_{};
};

}  // namespace smtpwall
