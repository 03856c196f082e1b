// Starts a session's lookups as soon as their inputs exist and gathers the facts.
#include "dnsbl/lookups.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <utility>

namespace smtpwall::dns {

SessionLookups::SessionLookups(std::shared_ptr<const LookupServices> services,
                               const IpAddress& client, Deadline deadline)
    : services_(std::move(services)),
      client_(client.unmapped()),
      patience_(std::max(deadline - std::chrono::steady_clock::now(),
                         std::chrono::steady_clock::duration::zero())),
      deadline_(deadline) {}

void SessionLookups::give_time() {
    deadline_ = std::max(deadline_, std::chrono::steady_clock::now() + patience_);
}

std::shared_ptr<SessionLookups> SessionLookups::start(
    std::shared_ptr<const LookupServices> services, const IpAddress& client, Deadline deadline) {
    std::shared_ptr<SessionLookups> s(new SessionLookups(std::move(services), client, deadline));
    s->begin();
    return s;
}

// Every lookup the verdict waits for goes through here, with the mutex held. The
// resolver never calls back from inside lookup(), so holding the mutex is safe;
// the handler runs with the mutex held again.
void SessionLookups::lookup(std::string name, RType type, std::function<void(const Result&)> then) {
    // A cached answer is used at once, in this thread (`then` expects the mutex held).
    if (auto hit = services_->resolver->cached(name, type)) {
        then(*hit);
        return;
    }
    ++outstanding_;
    services_->resolver->lookup(
        std::move(name), type,
        [self = shared_from_this(), then = std::move(then)](const Result& r) {
            std::unique_lock lock(self->mutex_);
            try {
                then(r);
            } catch (...) {
                // A bug, reported by the resolver; the session must not wait for it.
                --self->outstanding_;
                self->notify_waiters(lock);
                throw;
            }
            --self->outstanding_;
            self->notify_waiters(lock);
        });
}

void SessionLookups::notify_waiters(std::unique_lock<std::mutex>& lock) {
    changed_.notify_all();  // every answer: a waiter may have enough already
    if (outstanding_ != 0) return;
    if (waiters_.empty()) return;
    auto waiters = std::move(waiters_);
    waiters_.clear();
    const DnsFacts facts = facts_;
    lock.unlock();
    for (auto& w : waiters) w(facts);
    lock.lock();
}

void SessionLookups::begin() {
    std::unique_lock lock(mutex_);
    facts_.ptr.progress = Progress::pending;
    lookup(reverse_name(client_), RType::PTR, [this](const Result& r) {
        auto& ptr = facts_.ptr;
        if (r.negative() || (r.status == Status::ok && r.names.empty())) {
            ptr.outcome = PtrFacts::Outcome::no_ptr;
            ptr.progress = Progress::done;
            return;
        }
        if (r.status != Status::ok) {
            ptr.outcome = PtrFacts::Outcome::temp_error;
            ptr.progress = Progress::done;
            return;
        }
        const auto n = std::min(r.names.size(), services_->max_ptr_names);
        ptr.names.assign(r.names.begin(), r.names.begin() + static_cast<std::ptrdiff_t>(n));
        const RType forward = client_.family == Family::v4 ? RType::A : RType::AAAA;
        ptr_forward_pending_ = static_cast<int>(n);
        for (const auto& name : ptr.names) {
            lookup(name, forward, [this, name](const Result& fwd) {
                --ptr_forward_pending_;
                if (fwd.temporary()) ptr_forward_temp_ = true;
                const bool back_to_client =
                    fwd.status == Status::ok &&
                    std::any_of(fwd.addresses.begin(), fwd.addresses.end(),
                                [&](const IpAddress& a) { return a.unmapped() == client_; });
                if (back_to_client && facts_.ptr.confirmed_name.empty())
                    facts_.ptr.confirmed_name = name;
                confirm_ptr();
            });
        }
    });

    const auto now = services_->clock ? services_->clock() : 0;
    for (const auto& zone : services_->zones) {
        if (!zone_applies(zone, client_)) continue;
        ZoneFact fact{zone.tag, zone.zone, zone.weight, Progress::pending, ZoneVerdict::failed, {},
                      {},       {},        false};
        if (services_->health && !services_->health->usable(zone.zone, now)) {
            fact.progress = Progress::done;
            fact.skipped = true;
            fact.why = "zone suspended or dead";
            if (services_->observe_zone) services_->observe_zone(zone.tag, "skipped", {});
            facts_.zones.push_back(std::move(fact));
            continue;
        }
        const std::size_t index = facts_.zones.size();
        facts_.zones.push_back(std::move(fact));
        lookup(zone_query_name(zone, client_), RType::A, [this, index, &zone](const Result& r) {
            auto& f = facts_.zones[index];
            const ZoneAnswer answer = interpret(zone, r);
            f.progress = Progress::done;
            f.verdict = answer.verdict;
            f.codes = answer.codes;
            f.why = answer.why;
            if (services_->observe_zone) {
                static constexpr std::string_view kNames[] = {"listed", "not-listed", "refused",
                                                              "failed"};
                services_->observe_zone(zone.tag, kNames[static_cast<int>(answer.verdict)],
                                        r.latency);
            }
            if (answer.verdict == ZoneVerdict::refused && services_->health) {
                services_->health->suspend(zone.zone, services_->clock ? services_->clock() : 0,
                                           services_->suspend_for, answer.why);
                if (services_->log)
                    services_->log(fmt::format("zone {} suspended for {}s: {}", zone.zone,
                                               services_->suspend_for.count(), answer.why));
            }
            if (answer.verdict == ZoneVerdict::listed && zone.txt) {
                // For the log only: the verdict does not wait for it.
                services_->resolver->lookup(zone_query_name(zone, client_), RType::TXT,
                                            [self = shared_from_this(), index](const Result& txt) {
                                                std::lock_guard relock(self->mutex_);
                                                if (txt.status == Status::ok && !txt.texts.empty())
                                                    self->facts_.zones[index].txt =
                                                        txt.texts.front();
                                            });
            }
        });
    }
}

void SessionLookups::confirm_ptr() {
    auto& ptr = facts_.ptr;
    if (ptr.progress == Progress::done) return;
    if (!ptr.confirmed_name.empty()) {
        ptr.outcome = PtrFacts::Outcome::confirmed;  // no need to wait for the other names
        ptr.progress = Progress::done;
        return;
    }
    if (ptr_forward_pending_ > 0) return;
    // A name that failed to resolve for now might still have confirmed: not proven bad.
    ptr.outcome =
        ptr_forward_temp_ ? PtrFacts::Outcome::temp_error : PtrFacts::Outcome::unconfirmed;
    ptr.progress = Progress::done;
}

void SessionLookups::helo(const std::string& name) {
    std::unique_lock lock(mutex_);
    helo_name_ = name;
    ++helo_generation_;
    helo_pending_ = 0;
    const bool seen = std::find(helo_names_looked_up_.begin(), helo_names_looked_up_.end(), name) !=
                      helo_names_looked_up_.end();
    if (!seen && helo_names_looked_up_.size() >=
                     static_cast<std::size_t>(std::max(services_->max_helo_names, 0))) {
        // Over the budget: looked up only if a verdict needs it (wait(), when_done()).
        facts_.helo = HeloFacts{};
        helo_deferred_ = true;
        if (!std::exchange(helo_over_budget_, true) && services_->over_budget)
            services_->over_budget("helo_names");
        return;
    }
    if (!seen) helo_names_looked_up_.push_back(name);
    look_up_helo();
}

void SessionLookups::look_up_helo() {
    helo_deferred_ = false;
    const std::string name = helo_name_;
    const unsigned generation = helo_generation_;
    give_time();
    facts_.helo = HeloFacts{Progress::pending, HeloFacts::Outcome::temp_error, {}, false};
    helo_pending_ = 3;
    helo_temp_ = helo_positive_ = false;
    for (const RType type : {RType::A, RType::AAAA, RType::MX}) {
        lookup(name, type, [this, generation, type](const Result& r) {
            if (generation != helo_generation_) return;  // an older EHLO's answer
            --helo_pending_;
            if (r.temporary()) helo_temp_ = true;
            if (r.status == Status::ok) {
                helo_positive_ = true;
                if (type == RType::MX) {
                    facts_.helo.has_mx = !r.names.empty();
                } else {
                    facts_.helo.addresses.insert(facts_.helo.addresses.end(), r.addresses.begin(),
                                                 r.addresses.end());
                }
            }
            settle_helo();
        });
    }
}

void SessionLookups::settle_helo() {
    if (helo_pending_ > 0) return;
    facts_.helo.outcome = helo_positive_ ? HeloFacts::Outcome::resolves
                          : helo_temp_   ? HeloFacts::Outcome::temp_error
                                         : HeloFacts::Outcome::does_not_resolve;
    facts_.helo.progress = Progress::done;
}

void SessionLookups::mail_from(const std::string& sender) {
    if (!services_->spf) return;
    std::unique_lock lock(mutex_);
    spf_deferred_.reset();
    std::string key = sender;
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    key += '\n' + helo_name_;
    // Checked before in this session: its result, now or when it comes. A temporary
    // failure is not reused: the sender may be checked again.
    const auto before =
        std::find_if(spf_checks_.begin(), spf_checks_.end(), [&](const SpfCheck& c) {
            return c.key == key && !(c.result && c.result->result == SpfResult::temperror);
        });
    if (before != spf_checks_.end()) {
        current_spf_ = static_cast<std::size_t>(before - spf_checks_.begin());
        facts_.spf =
            before->result ? *before->result : SpfFacts{Progress::pending, SpfResult::none, {}, {}};
        return;
    }
    if (spf_checks_.size() < static_cast<std::size_t>(std::max(services_->max_spf_checks, 1))) {
        check_spf(lock, std::move(key), sender);
        return;
    }
    // Over the budget: checked only if a verdict needs it (wait(), when_done()), so the
    // sender that is judged is always the one checked.
    current_spf_.reset();
    facts_.spf = SpfFacts{};
    spf_deferred_ = DeferredSpf{std::move(key), sender};
    if (!std::exchange(spf_over_budget_, true) && services_->over_budget)
        services_->over_budget("spf_checks");
}

void SessionLookups::check_spf(std::unique_lock<std::mutex>& lock, std::string key,
                               const std::string& sender) {
    const std::size_t index = spf_checks_.size();
    spf_checks_.push_back(SpfCheck{std::move(key), std::nullopt});
    current_spf_ = index;
    facts_.spf = SpfFacts{Progress::pending, SpfResult::none, {}, {}};
    ++outstanding_;
    const std::string helo = helo_name_;
    // Neither the checker's outcome at once (it may run libspf2 over cached answers)
    // nor its call back runs under our lock: the resolver's thread delivers this
    // session's other answers meanwhile.
    lock.unlock();
    std::optional<SpfFacts> known;
    if (services_->spf_cached) known = services_->spf_cached(client_, helo, sender);
    lock.lock();
    if (known) return spf_done(lock, index, std::move(*known));
    give_time();
    lock.unlock();
    services_->spf(client_, helo, sender, [self = shared_from_this(), index](SpfFacts result) {
        std::unique_lock relock(self->mutex_);
        self->spf_done(relock, index, std::move(result));
    });
    lock.lock();
}

void SessionLookups::spf_done(std::unique_lock<std::mutex>& lock, std::size_t index,
                              SpfFacts result) {
    result.progress = Progress::done;
    spf_checks_[index].result = result;
    // Only the latest MAIL FROM's sender is judged.
    if (current_spf_ == index) facts_.spf = std::move(result);
    --outstanding_;
    notify_waiters(lock);
}

void SessionLookups::start_deferred(std::unique_lock<std::mutex>& lock) {
    if (helo_deferred_) {
        helo_names_looked_up_.push_back(helo_name_);  // new: a seen name is never deferred
        look_up_helo();
    }
    if (auto spf = std::exchange(spf_deferred_, std::nullopt))
        check_spf(lock, std::move(spf->key), spf->sender);
}

DnsFacts SessionLookups::wait() {
    return wait(nullptr);
}

DnsFacts SessionLookups::wait(const std::function<bool(const DnsFacts&)>& enough) {
    std::unique_lock lock(mutex_);
    start_deferred(lock);
    bool early = false;
    changed_.wait_until(lock, deadline_, [&] {
        early = outstanding_ != 0 && enough && enough(facts_);
        return outstanding_ == 0 || early;
    });
    DnsFacts out = facts_;
    out.unfinished = outstanding_ != 0;
    out.deadline_passed = out.unfinished && !early;
    return out;
}

void SessionLookups::when_done(std::function<void(DnsFacts)> done) {
    std::unique_lock lock(mutex_);
    start_deferred(lock);
    if (outstanding_ == 0) {
        const DnsFacts facts = facts_;
        lock.unlock();
        done(facts);
        return;
    }
    waiters_.push_back(std::move(done));
}

DnsFacts SessionLookups::snapshot() const {
    std::lock_guard lock(mutex_);
    return facts_;
}

}  // namespace smtpwall::dns
