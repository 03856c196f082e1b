// The helper's decisions over the Backend interface: accept, batch, expire, repair.
#include "firewall/helper_state.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "common/log.hpp"

namespace smtpwall::firewall {

using helperproto::Entry;
using helperproto::Origin;
using helperproto::Request;
using helperproto::Verb;

namespace {

std::string tags_text(const std::vector<std::string>& tags) {
    return tags.empty() ? "-" : fmt::format("{}", fmt::join(tags, ","));
}

std::string describe(const Entry& e) {
    return fmt::format("{} {} {} {}", kv("net", e.net.to_string()),
                       kv("origin", e.origin == Origin::core ? "core" : "dyn"),
                       kv("expires", std::to_string(e.expires)), kv("tags", tags_text(e.tags)));
}

bool same_meaning(const Entry& a, const Entry& b) {
    return a.origin == b.origin && a.expires == b.expires && a.tags == b.tags;
}

}  // namespace

std::optional<std::string> core_refusal_reason(const Cidr& net, const TargetLimits& limits) {
    TargetLimits any_size = limits;
    any_size.min_prefix_v4 = 0;
    any_size.min_prefix_v6 = 0;
    return refusal_reason(net, any_size);
}

HelperState::HelperState(HelperPolicy policy, Backend& backend, LogFn log, EntryJournal* journal)
    : policy_(std::move(policy)),
      backend_(backend),
      log_(std::move(log)),
      journal_(journal),
      rate_(policy_.max_adds_per_minute),
      changes_(policy_.max_changes_per_minute) {}

void HelperState::journal(const std::vector<Change>& changes) {
    if (journal_ == nullptr) return;
    std::vector<Change> dynamic;
    for (const auto& c : changes)
        if (c.kind == Change::Kind::remove || c.entry.origin == Origin::dynamic)
            dynamic.push_back(c);
    if (dynamic.empty()) return;
    if (journal_stale_) return journal_everything();
    try {
        journal_->append(dynamic);
        // Mostly superseded records by now: write what is live, once.
        if (journal_->records() > 2 * desired_.size() + 1000) journal_everything();
    } catch (const JournalError& e) {
        // A torn append may have lost more than these: the next change rewrites it all.
        journal_stale_ = true;
        log_(fmt::format("journal error: {} change(s) not kept for a reboot: {}", dynamic.size(),
                         e.what()));
    }
}

void HelperState::journal_everything() {
    if (journal_ == nullptr) return;
    std::vector<Entry> dynamic;
    for (const auto& [net, e] : desired_)
        if (e.origin == Origin::dynamic) dynamic.push_back(e);
    try {
        journal_->replace(dynamic);
        journal_stale_ = false;
    } catch (const JournalError& e) {
        journal_stale_ = true;
        log_(fmt::format("journal error: {} entries not kept for a reboot: {}", dynamic.size(),
                         e.what()));
    }
}

std::optional<std::string> HelperState::over_change_budget(SteadyTime steady_now) {
    if (changes_.try_take(steady_now)) return std::nullopt;
    return fmt::format("more than {} changes per minute", policy_.max_changes_per_minute);
}

std::optional<std::string> HelperState::refusal(const Cidr& net) const {
    if (net.family() == Family::v6 && !policy_.ipv6) return "IPv6 is disabled in the helper config";
    return refusal_reason(net, policy_.targets);
}

void HelperState::start(std::int64_t now) {
    for (const auto& line : backend_.ensure_base()) log_("base: " + line);
    const auto kernel = backend_.list();
    std::size_t adopted = 0;
    for (const auto& found : kernel) {
        if (found.origin == Origin::core) continue;  // the config alone says what is core
        if (found.expires != 0 && found.expires <= now) {
            log_("dropping expired entry found in the kernel " + describe(found));
            continue;
        }
        if (auto why = refusal(found.net)) {
            log_(fmt::format("dropping entry found in the kernel {} {}", describe(found),
                             kv("reason", *why)));
            continue;
        }
        Entry e = found;
        e.packets = e.bytes = 0;
        adopted += desired_.emplace(e.net, std::move(e)).second ? 1 : 0;
    }
    // What the kernel lost (a reboot, a flush, a new namespace) but the journal kept.
    std::size_t restored = 0;
    if (journal_ != nullptr) {
        std::vector<Entry> kept;
        try {
            kept = journal_->load();
        } catch (const JournalError& e) {
            log_(fmt::format("journal error: nothing restored: {}", e.what()));
        }
        for (auto& e : kept) {
            if (e.origin != Origin::dynamic || (e.expires != 0 && e.expires <= now)) continue;
            if (auto why = refusal(e.net)) {
                log_(
                    fmt::format("dropping journaled entry {} {}", describe(e), kv("reason", *why)));
                continue;
            }
            e.packets = e.bytes = 0;
            restored += desired_.emplace(e.net, std::move(e)).second ? 1 : 0;
        }
    }
    for (const auto& core : policy_.core) {
        Entry e = core;
        e.origin = Origin::core;
        e.expires = 0;
        desired_[e.net] = std::move(e);
    }
    reconcile(kernel, "start: installed entry ", "start: removed entry ");
    journal_everything();
    recompute_next_expiry();
    log_(fmt::format("started entries={} adopted={} restored={} core={}", desired_.size(), adopted,
                     restored, policy_.core.size()));
}

const Entry* HelperState::lookup(const Cidr& net, const Pending& pending) const {
    if (const auto it = pending.nets.find(net); it != pending.nets.end())
        return it->second ? &*it->second : nullptr;
    const auto it = desired_.find(net);
    return it == desired_.end() ? nullptr : &it->second;
}

std::size_t HelperState::count_with(const Pending& pending) const {
    return static_cast<std::size_t>(static_cast<std::ptrdiff_t>(desired_.size()) + pending.growth);
}

void HelperState::stage(Pending& pending, const Cidr& net, std::optional<Entry> entry) {
    const bool before = lookup(net, pending) != nullptr;
    pending.growth += (entry ? 1 : 0) - (before ? 1 : 0);
    pending.nets[net] = std::move(entry);
}

std::vector<std::vector<std::string>> HelperState::handle(const std::vector<Request>& batch,
                                                          std::int64_t now, SteadyTime steady_now) {
    std::vector<Incoming> incoming;
    incoming.reserve(batch.size());
    for (const auto& r : batch) incoming.push_back({r, 0});
    return handle(incoming, now, steady_now);
}

std::vector<std::vector<std::string>> HelperState::handle(const std::vector<Incoming>& batch,
                                                          std::int64_t now, SteadyTime steady_now) {
    std::vector<std::vector<std::string>> replies(batch.size());
    Pending pending;
    bool sync_ended = false;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const Request& r = batch[i].request;
        const auto sync = syncs_.find(batch[i].session);
        const bool syncing = sync != syncs_.end();
        switch (r.verb) {
            case Verb::hello:
                replies[i] = {r.version == helperproto::kVersion
                                  ? helperproto::format_ok(r.id, "1")
                                  : helperproto::format_err(r.id, "version", "only version 1")};
                break;
            case Verb::ping:
                replies[i] = {helperproto::format_ok(r.id, "pong")};
                break;
            case Verb::list: {
                commit(pending, replies, batch);  // the answer must include earlier changes
                try {
                    const auto entries = backend_.list();
                    for (const auto& e : entries)
                        replies[i].push_back(helperproto::format_entry(r.id, e));
                    replies[i].push_back(
                        helperproto::format_ok(r.id, std::to_string(entries.size())));
                } catch (const BackendError& e) {
                    log_(fmt::format("backend error during LIST: {}", e.what()));
                    replies[i] = {helperproto::format_err(r.id, "backend", e.what())};
                }
                break;
            }
            case Verb::add:
                replies[i] =
                    syncing ? stage_add(r, sync->second, batch[i].session, pending, now, steady_now)
                            : handle_add(r, i, pending, now, steady_now);
                break;
            case Verb::del:
                replies[i] = syncing ? std::vector<std::string>{helperproto::format_err(
                                           r.id, "syntax", "DEL inside SYNC")}
                                     : handle_del(r, i, pending, steady_now);
                break;
            case Verb::sync:
                replies[i] = handle_sync(batch[i], i, pending, now);
                sync_ended = sync_ended || r.sync == helperproto::SyncOp::end;
                break;
        }
    }
    commit(pending, replies, batch);
    // A full-state sync also converges the kernel itself: after an external flush
    // or a reboot it holds exactly the synced set again, not only our idea of it.
    if (sync_ended) repair(now);
    return replies;
}

// An OK whose truth depends on a pending change is only true once that change is
// committed: remember the request so a backend failure can turn it into an ERR.
std::vector<std::string> HelperState::ok_after_commit(const Request& r, std::size_t index,
                                                      Pending& pending, std::string_view text) {
    if (pending.nets.contains(r.net)) pending.requests.push_back(index);
    return {helperproto::format_ok(r.id, text)};
}

std::optional<std::pair<std::string, std::string>> HelperState::add_refusal(
    const Request& r, const Pending& pending, std::int64_t now) const {
    if (auto why = refusal(r.net)) return std::pair<std::string, std::string>{"refused", *why};
    if (r.expires != 0 && r.expires <= now)
        return std::pair<std::string, std::string>{
            "refused", fmt::format("expiry {} is not in the future", r.expires)};
    const Entry* current = lookup(r.net, pending);
    if (current != nullptr && current->origin == Origin::core)
        return std::pair<std::string, std::string>{"refused",
                                                   "is a core entry of the helper config"};
    return std::nullopt;
}

std::vector<std::string> HelperState::handle_add(const Request& r, std::size_t index,
                                                 Pending& pending, std::int64_t now,
                                                 SteadyTime steady_now) {
    auto refuse = [&](std::string_view code, const std::string& why) {
        log_(fmt::format("refused ADD net={} code={} {}", r.net.to_string(), code,
                         kv("reason", why)));
        return std::vector<std::string>{helperproto::format_err(r.id, code, why)};
    };
    if (auto why = add_refusal(r, pending, now)) return refuse(why->first, why->second);
    const Entry* current = lookup(r.net, pending);

    Entry wanted;
    wanted.net = r.net;
    wanted.origin = Origin::dynamic;
    wanted.expires = r.expires;
    wanted.tags = r.tags;
    if (current != nullptr) {
        if (!same_meaning(*current, wanted)) {
            if (auto why = over_change_budget(steady_now)) return refuse("limit", *why);
            pending.log_lines.push_back("updated " + describe(wanted));
            stage(pending, r.net, std::move(wanted));
        }
        return ok_after_commit(r, index, pending, "updated");
    }
    if (count_with(pending) >= policy_.max_entries)
        return refuse("limit", fmt::format("max_entries {} reached", policy_.max_entries));
    // Only new entries count: a milter re-syncing its bans after a restart must not be
    // throttled, and updates add nothing to the chain.
    if (!rate_.try_take(steady_now))
        return refuse("limit", fmt::format("more than {} new entries per minute",
                                           policy_.max_adds_per_minute));
    if (auto why = over_change_budget(steady_now)) return refuse("limit", *why);
    pending.log_lines.push_back("added " + describe(wanted));
    stage(pending, r.net, std::move(wanted));
    return ok_after_commit(r, index, pending, "added");
}

// An ADD inside a SYNC: checked like any ADD, remembered until END. Nothing reaches the
// kernel yet, so the reply does not wait for a commit.
std::vector<std::string> HelperState::stage_add(const Request& r, Sync& sync, SessionId session,
                                                const Pending& pending, std::int64_t now,
                                                SteadyTime steady_now) {
    auto refuse = [&](std::string_view code, const std::string& why) {
        log_(fmt::format("refused ADD net={} code={} {} sync conn={}", r.net.to_string(), code,
                         kv("reason", why), session));
        ++sync.refused;
        sync.staged.erase(r.net);  // a refused entry is not part of the set
        return std::vector<std::string>{helperproto::format_err(r.id, code, why)};
    };
    if (auto why = add_refusal(r, pending, now)) return refuse(why->first, why->second);

    Entry wanted;
    wanted.net = r.net;
    wanted.origin = Origin::dynamic;
    wanted.expires = r.expires;
    wanted.tags = r.tags;
    if (const auto it = sync.staged.find(r.net); it != sync.staged.end()) {
        it->second = std::move(wanted);
        return {helperproto::format_ok(r.id, "staged")};
    }
    if (sync.staged.size() + policy_.core.size() >= policy_.max_entries)
        return refuse("limit", fmt::format("max_entries {} reached", policy_.max_entries));
    // As for ADD, only entries the firewall does not hold yet count against the rate.
    if (lookup(r.net, pending) == nullptr && !rate_.try_take(steady_now))
        return refuse("limit", fmt::format("more than {} new entries per minute",
                                           policy_.max_adds_per_minute));
    sync.staged.emplace(r.net, std::move(wanted));
    return {helperproto::format_ok(r.id, "staged")};
}

std::vector<std::string> HelperState::handle_sync(const Incoming& in, std::size_t index,
                                                  Pending& pending, std::int64_t now) {
    const Request& r = in.request;
    const auto it = syncs_.find(in.session);
    auto misuse = [&](std::string_view why) {
        log_(fmt::format("refused SYNC {} conn={}: {}",
                         r.sync == helperproto::SyncOp::begin ? "BEGIN"
                         : r.sync == helperproto::SyncOp::end ? "END"
                                                              : "ABORT",
                         in.session, why));
        return std::vector<std::string>{helperproto::format_err(r.id, "syntax", why)};
    };
    switch (r.sync) {
        case helperproto::SyncOp::begin:
            if (it != syncs_.end()) return misuse("SYNC already in progress");
            syncs_.emplace(in.session, Sync{});
            log_(fmt::format("sync begun conn={}", in.session));
            return {helperproto::format_ok(r.id, "syncing")};
        case helperproto::SyncOp::abort:
            if (it == syncs_.end()) return misuse("no SYNC in progress");
            log_(fmt::format("sync aborted conn={} staged={}", in.session,
                             it->second.staged.size()));
            syncs_.erase(it);
            return {helperproto::format_ok(r.id, "aborted")};
        case helperproto::SyncOp::end:
            break;
    }
    if (it == syncs_.end()) return misuse("no SYNC in progress");
    const Sync sync = std::move(it->second);
    syncs_.erase(it);

    // The dynamic set becomes exactly what was staged: whatever else is dynamic goes.
    std::vector<Cidr> doomed;
    for (const auto& [net, e] : desired_) {
        if (e.origin != Origin::dynamic || sync.staged.contains(net)) continue;
        if (const auto p = pending.nets.find(net); p != pending.nets.end() && !p->second) continue;
        doomed.push_back(net);
    }
    for (const auto& [net, e] : pending.nets)
        if (e && e->origin == Origin::dynamic && !desired_.contains(net) &&
            !sync.staged.contains(net))
            doomed.push_back(net);
    std::size_t added = 0, updated = 0, removed = 0, expired = 0;
    for (const auto& net : doomed) {
        pending.log_lines.push_back("sync: removed " + describe(*lookup(net, pending)));
        stage(pending, net, std::nullopt);
        ++removed;
    }
    for (const auto& [net, wanted] : sync.staged) {
        if (wanted.expires != 0 && wanted.expires <= now) {  // expired while staged
            ++expired;
            if (const Entry* cur = lookup(net, pending); cur != nullptr) {
                pending.log_lines.push_back("sync: removed " + describe(*cur));
                stage(pending, net, std::nullopt);
                ++removed;
            }
            continue;
        }
        const Entry* current = lookup(net, pending);
        if (current != nullptr && current->origin == Origin::core) continue;  // refused at ADD
        if (current == nullptr) {
            pending.log_lines.push_back("sync: added " + describe(wanted));
            ++added;
        } else if (!same_meaning(*current, wanted)) {
            pending.log_lines.push_back("sync: updated " + describe(wanted));
            ++updated;
        } else {
            continue;
        }
        stage(pending, net, wanted);
    }
    const std::string summary =
        fmt::format("added={} updated={} removed={}", added, updated, removed);
    const std::string line =
        fmt::format("sync done conn={} staged={} refused={} expired={} {}", in.session,
                    sync.staged.size(), sync.refused, expired, summary);
    if (added + updated + removed == 0) {
        log_(line);
    } else {
        pending.log_lines.push_back(line);
        pending.requests.push_back(index);
    }
    return {helperproto::format_ok(r.id, summary)};
}

void HelperState::close_session(SessionId session) {
    const auto it = syncs_.find(session);
    if (it == syncs_.end()) return;
    log_(fmt::format("sync discarded conn={}: connection closed with {} staged entries", session,
                     it->second.staged.size()));
    syncs_.erase(it);
}

std::vector<std::string> HelperState::handle_del(const Request& r, std::size_t index,
                                                 Pending& pending, SteadyTime steady_now) {
    const Entry* current = lookup(r.net, pending);
    if (current == nullptr) return ok_after_commit(r, index, pending, "absent");
    if (current->origin == Origin::core) {
        const std::string why = "is a core entry of the helper config";
        log_(fmt::format("refused DEL net={} code=refused {}", r.net.to_string(),
                         kv("reason", why)));
        return {helperproto::format_err(r.id, "refused", why)};
    }
    if (auto why = over_change_budget(steady_now)) {
        log_(
            fmt::format("refused DEL net={} code=limit {}", r.net.to_string(), kv("reason", *why)));
        return {helperproto::format_err(r.id, "limit", *why)};
    }
    pending.log_lines.push_back("deleted " + describe(*current));
    stage(pending, r.net, std::nullopt);
    return ok_after_commit(r, index, pending, "deleted");
}

void HelperState::commit(Pending& pending, std::vector<std::vector<std::string>>& replies,
                         const std::vector<Incoming>& batch) {
    if (pending.nets.empty()) return;
    std::vector<Change> changes;
    changes.reserve(pending.nets.size());
    for (const auto& [net, entry] : pending.nets) {
        Change c;
        c.kind = entry ? Change::Kind::add : Change::Kind::remove;
        c.entry = entry ? *entry : Entry{};
        c.entry.net = net;
        changes.push_back(std::move(c));
    }
    try {
        ++commits_;
        backend_.apply(changes);
        for (auto& [net, entry] : pending.nets) {
            if (entry) {
                note_expiry(entry->expires);
                desired_[net] = std::move(*entry);
            } else {
                desired_.erase(net);
            }
        }
        journal(changes);
        for (const auto& line : pending.log_lines) log_(line);
    } catch (const BackendError& e) {
        log_(fmt::format("backend error, {} request(s) failed: {}", pending.requests.size(),
                         e.what()));
        for (std::size_t i : pending.requests)
            replies[i] = {helperproto::format_err(batch[i].request.id, "backend", e.what())};
    }
    pending = Pending{};
}

void HelperState::expire(std::int64_t now) {
    if (!next_expiry_ || *next_expiry_ > now) return;
    std::vector<Change> changes;
    for (const auto& [net, e] : desired_)
        if (e.origin == Origin::dynamic && e.expires != 0 && e.expires <= now)
            changes.push_back(Change{Change::Kind::remove, e});
    try {
        ++commits_;
        backend_.apply(changes);
    } catch (const BackendError& e) {
        log_(fmt::format("backend error while expiring {} entries: {}", changes.size(), e.what()));
        next_expiry_ = now + 5;  // try again soon, but do not spin
        return;
    }
    for (const auto& c : changes) {
        log_("expired " + describe(c.entry));
        desired_.erase(c.entry.net);
    }
    journal(changes);
    recompute_next_expiry();
}

void HelperState::repair(std::int64_t now) {
    try {
        for (const auto& line : backend_.ensure_base()) log_("repaired: " + line);
        // The host may have gained an address inside a ban since it was accepted.
        std::vector<Change> removed;
        for (auto it = desired_.begin(); it != desired_.end();) {
            const auto why =
                it->second.origin == Origin::dynamic ? refusal(it->first) : std::nullopt;
            if (why) {
                log_(fmt::format("removing {} {}", describe(it->second), kv("reason", *why)));
                removed.push_back(Change{Change::Kind::remove, it->second});
                it = desired_.erase(it);
            } else {
                ++it;
            }
        }
        journal(removed);
        reconcile(backend_.list(), "repaired: re-added missing entry ",
                  "repaired: removed stray entry ");
    } catch (const BackendError& e) {
        log_(fmt::format("backend error during repair: {}", e.what()));
    }
    expire(now);
}

void HelperState::reconcile(const std::vector<Entry>& kernel, std::string_view added_note,
                            std::string_view removed_note) {
    std::map<Cidr, std::pair<const Entry*, int>> found;  // first rule, number of rules
    for (const auto& k : kernel) {
        auto& slot = found[k.net];
        if (slot.first == nullptr) slot.first = &k;
        ++slot.second;
    }
    std::vector<Change> changes;
    std::vector<std::string> lines;
    for (const auto& [net, slot] : found) {
        if (desired_.contains(net)) continue;
        changes.push_back(Change{Change::Kind::remove, *slot.first});
        lines.push_back(std::string(removed_note) + describe(*slot.first));
    }
    for (const auto& [net, wanted] : desired_) {
        const auto it = found.find(net);
        if (it == found.end()) {
            lines.push_back(std::string(added_note) + describe(wanted));
        } else if (it->second.second > 1 || !same_meaning(*it->second.first, wanted)) {
            lines.push_back("repaired: rewrote entry " + describe(wanted));
        } else {
            continue;
        }
        changes.push_back(Change{Change::Kind::add, wanted});
    }
    if (changes.empty()) return;
    ++commits_;
    backend_.apply(changes);
    for (const auto& line : lines) log_(line);
}

void HelperState::note_expiry(std::int64_t expires) {
    if (expires != 0 && (!next_expiry_ || expires < *next_expiry_)) next_expiry_ = expires;
}

void HelperState::recompute_next_expiry() {
    next_expiry_.reset();
    for (const auto& [net, e] : desired_)
        if (e.origin == Origin::dynamic) note_expiry(e.expires);
}

}  // namespace smtpwall::firewall
