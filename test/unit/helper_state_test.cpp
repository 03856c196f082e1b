// The helper's decisions, driven through a fake firewall: what is accepted, refused,
// batched into one commit, expired, repaired and reported.
#include <boost/test/unit_test.hpp>

#include <map>

#include "firewall/helper_state.hpp"

using namespace smtpwall;
using namespace smtpwall::firewall;
using helperproto::Entry;
using helperproto::Origin;
using helperproto::Request;
using helperproto::Verb;

namespace {

Cidr net(std::string_view text) {
    return *Cidr::parse(text);
}

// A kernel chain in a map, with a record of every commit.
class FakeBackend : public Backend {
  public:
    std::map<Cidr, Entry> kernel;
    std::vector<std::vector<Change>> commits;
    int base_calls = 0;
    bool broken = false;

    std::vector<std::string> ensure_base() override {
        if (broken) throw BackendError("fake: table is gone");
        return ++base_calls == 1 ? std::vector<std::string>{"created chain"}
                                 : std::vector<std::string>{};
    }
    void apply(const std::vector<Change>& changes) override {
        if (broken) throw BackendError("fake: commit failed");
        commits.push_back(changes);
        for (const auto& c : changes) {
            if (c.kind == Change::Kind::remove) {
                kernel.erase(c.entry.net);
                continue;
            }
            Entry e = c.entry;
            if (auto it = kernel.find(e.net); it != kernel.end()) {
                e.packets = it->second.packets;
                e.bytes = it->second.bytes;
            }
            kernel[e.net] = e;
        }
    }
    std::vector<Entry> list() override {
        if (broken) throw BackendError("fake: cannot read");
        std::vector<Entry> out;
        for (const auto& [n, e] : kernel) out.push_back(e);
        return out;
    }
};

// The journal in memory: what a reboot would find.
class MemoryJournal : public EntryJournal {
  public:
    std::map<Cidr, Entry> kept;
    std::size_t written = 0, replaces = 0;
    bool broken = false;

    std::vector<Entry> load() override {
        if (broken) throw JournalError("fake: unreadable");
        std::vector<Entry> out;
        for (const auto& [n, e] : kept) out.push_back(e);
        return out;
    }
    void replace(const std::vector<Entry>& entries) override {
        if (broken) throw JournalError("fake: disk full");
        kept.clear();
        for (const auto& e : entries) kept[e.net] = e;
        written = entries.size();
        ++replaces;
    }
    void append(const std::vector<Change>& changes) override {
        if (broken) throw JournalError("fake: disk full");
        for (const auto& c : changes) {
            if (c.kind == Change::Kind::remove)
                kept.erase(c.entry.net);
            else
                kept[c.entry.net] = c.entry;
        }
        written += changes.size();
    }
    std::size_t records() const override { return written; }
};

Entry entry(std::string_view text, Origin origin = Origin::dynamic, std::int64_t expires = 0,
            std::vector<std::string> tags = {}) {
    Entry e;
    e.net = net(text);
    e.origin = origin;
    e.expires = expires;
    e.tags = std::move(tags);
    return e;
}

Request add(std::uint32_t id, std::string_view text, std::int64_t expires = 0,
            std::vector<std::string> tags = {}) {
    Request r;
    r.id = id;
    r.verb = Verb::add;
    r.net = net(text);
    r.expires = expires;
    r.tags = std::move(tags);
    return r;
}

Request del(std::uint32_t id, std::string_view text) {
    Request r;
    r.id = id;
    r.verb = Verb::del;
    r.net = net(text);
    return r;
}

Request simple(std::uint32_t id, Verb verb) {
    Request r;
    r.id = id;
    r.verb = verb;
    return r;
}

Request sync(std::uint32_t id, helperproto::SyncOp op) {
    Request r;
    r.id = id;
    r.verb = Verb::sync;
    r.sync = op;
    return r;
}
constexpr auto kBegin = helperproto::SyncOp::begin;
constexpr auto kEnd = helperproto::SyncOp::end;
constexpr auto kAbort = helperproto::SyncOp::abort;

constexpr std::int64_t kNow = 1'800'000'000;

struct Fixture {
    FakeBackend backend;
    std::vector<std::string> logged;
    HelperPolicy policy;
    RateLimiter::Clock::time_point t0 = RateLimiter::Clock::now();

    Fixture() {
        policy.targets.protected_nets = CidrList({net("198.51.100.0/24")});
        policy.targets.own_addresses = {*IpAddress::parse("192.0.2.1")};
        policy.max_entries = 10;
        policy.max_adds_per_minute = 5;
        policy.core = {entry("203.0.113.0/24", Origin::core, 0, {"core-test"})};
    }
    HelperState make(EntryJournal* journal = nullptr) {
        return HelperState(
            policy, backend, [this](const std::string& l) { logged.push_back(l); }, journal);
    }
    bool logged_with(std::string_view words) const {
        for (const auto& l : logged)
            if (l.find(words) != std::string::npos) return true;
        return false;
    }
};

// Replies of a batch, one string per request (lines joined by '|').
std::vector<std::string> run(HelperState& state, const std::vector<Request>& batch,
                             RateLimiter::Clock::time_point when, std::int64_t now = kNow) {
    std::vector<std::string> out;
    for (const auto& lines : state.handle(batch, now, when)) {
        std::string joined;
        for (const auto& l : lines) joined += (joined.empty() ? "" : "|") + l;
        out.push_back(joined);
    }
    return out;
}

// The same for requests from several connections: {request, session}.
std::vector<std::string> run_on(HelperState& state, const std::vector<HelperState::Incoming>& batch,
                                RateLimiter::Clock::time_point when, std::int64_t now = kNow) {
    std::vector<std::string> out;
    for (const auto& lines : state.handle(batch, now, when)) {
        std::string joined;
        for (const auto& l : lines) joined += (joined.empty() ? "" : "|") + l;
        out.push_back(joined);
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(helper_state)

BOOST_FIXTURE_TEST_CASE(start_adopts_kernel_bans_and_installs_core, Fixture) {
    backend.kernel[net("192.0.2.50")] = entry("192.0.2.50", Origin::dynamic, kNow + 60, {"cbl"});
    backend.kernel[net("192.0.2.60")] = entry("192.0.2.60", Origin::dynamic, kNow - 1);  // expired
    backend.kernel[net("198.51.100.9")] = entry("198.51.100.9");                // now protected
    backend.kernel[net("192.0.2.0/28")] = entry("192.0.2.0/28", Origin::core);  // stale core
    auto state = make();
    state.start(kNow);

    BOOST_TEST(backend.kernel.size() == 2u);
    BOOST_TEST(backend.kernel.contains(net("192.0.2.50")));
    BOOST_TEST((backend.kernel.at(net("192.0.2.50")).tags == std::vector<std::string>{"cbl"}));
    BOOST_REQUIRE(backend.kernel.contains(net("203.0.113.0/24")));
    BOOST_TEST((backend.kernel.at(net("203.0.113.0/24")).origin == Origin::core));
    BOOST_TEST(backend.commits.size() == 1u);  // one commit for the whole start
    BOOST_TEST((state.next_expiry() == std::optional<std::int64_t>(kNow + 60)));
    BOOST_TEST(logged_with("base: created chain"));
    BOOST_TEST(logged_with("198.51.100.9"));
}

BOOST_FIXTURE_TEST_CASE(add_update_delete, Fixture) {
    auto state = make();
    state.start(kNow);
    backend.commits.clear();

    auto r = run(state, {add(1, "192.0.2.50", 0, {"a"})}, t0);
    BOOST_TEST(r[0] == "1 OK added");
    BOOST_TEST(backend.kernel.contains(net("192.0.2.50")));
    backend.kernel[net("192.0.2.50")].packets = 3;

    r = run(state, {add(2, "192.0.2.50", 0, {"a"})}, t0);
    BOOST_TEST(r[0] == "2 OK updated");
    BOOST_TEST(backend.commits.size() == 1u);  // nothing to change, no commit

    r = run(state, {add(3, "192.0.2.50", kNow + 100, {"a", "b"})}, t0);
    BOOST_TEST(r[0] == "3 OK updated");
    BOOST_TEST(backend.commits.size() == 2u);
    BOOST_TEST(backend.kernel.at(net("192.0.2.50")).expires == kNow + 100);
    BOOST_TEST(backend.kernel.at(net("192.0.2.50")).packets == 3u);

    r = run(state, {del(4, "192.0.2.50"), del(5, "192.0.2.50")}, t0);
    BOOST_TEST(r[0] == "4 OK deleted");
    BOOST_TEST(r[1] == "5 OK absent");
    BOOST_TEST(!backend.kernel.contains(net("192.0.2.50")));
}

BOOST_FIXTURE_TEST_CASE(refusals, Fixture) {
    policy.ipv6 = false;
    auto state = make();
    state.start(kNow);
    backend.commits.clear();
    const auto r =
        run(state,
            {add(1, "127.0.0.1"), add(2, "::1"), add(3, "198.51.100.7"), add(4, "192.0.2.1"),
             add(5, "10.0.0.0/8"), add(6, "2001:db8::5"), add(7, "192.0.2.50", kNow),
             add(8, "203.0.113.0/24"), del(9, "203.0.113.0/24"), simple(10, Verb::ping)},
            t0);
    for (std::size_t i = 0; i < 9; ++i)
        BOOST_TEST(r[i].starts_with(std::to_string(i + 1) + " ERR refused "), r[i]);
    BOOST_TEST(r[9] == "10 OK pong");
    BOOST_TEST(backend.commits.empty());
    BOOST_TEST(logged_with("refused ADD net=127.0.0.1"));
    BOOST_TEST(logged_with("refused DEL net=203.0.113.0/24"));
}

BOOST_FIXTURE_TEST_CASE(a_batch_is_one_commit_and_list_sees_earlier_changes, Fixture) {
    auto state = make();
    state.start(kNow);
    backend.commits.clear();
    const auto r = run(
        state,
        {add(1, "192.0.2.50"), add(2, "192.0.2.51"), simple(3, Verb::list), del(4, "192.0.2.50"),
         add(5, "2001:db8:1::50"), add(6, "192.0.2.52"), del(7, "192.0.2.52")},
        t0);
    BOOST_TEST(r[0] == "1 OK added");
    BOOST_TEST(r[1] == "2 OK added");
    BOOST_TEST(r[2].find("3 ENTRY 192.0.2.50 0 0 dyn 0 -") != std::string::npos);
    BOOST_TEST(r[2].find("3 ENTRY 203.0.113.0/24 0 0 core 0 core-test") != std::string::npos);
    BOOST_TEST(r[2].ends_with("3 OK 3"));
    BOOST_TEST(r[3] == "4 OK deleted");
    BOOST_TEST(r[5] == "6 OK added");
    BOOST_TEST(r[6] == "7 OK deleted");
    BOOST_TEST(backend.commits.size() == 2u);     // before the LIST, and at the end
    BOOST_TEST(backend.commits[1].size() == 3u);  // 192.0.2.52 added and removed: one change
    BOOST_TEST(!backend.kernel.contains(net("192.0.2.52")));
    BOOST_TEST(state.size() == 3u);
}

BOOST_FIXTURE_TEST_CASE(backend_failure_fails_only_the_changes, Fixture) {
    auto state = make();
    state.start(kNow);
    backend.broken = true;
    const auto r = run(state,
                       {add(1, "192.0.2.50"), simple(2, Verb::ping), del(3, "192.0.2.99"),
                        add(4, "127.0.0.1"), simple(5, Verb::list)},
                       t0);
    BOOST_TEST(r[0].starts_with("1 ERR backend "));
    BOOST_TEST(r[1] == "2 OK pong");
    BOOST_TEST(r[2] == "3 OK absent");
    BOOST_TEST(r[3].starts_with("4 ERR refused "));
    BOOST_TEST(r[4].starts_with("5 ERR backend "));
    BOOST_TEST(state.size() == 1u);  // only the core entry
    backend.broken = false;
    BOOST_TEST(run(state, {add(6, "192.0.2.50")}, t0)[0] == "6 OK added");
}

BOOST_FIXTURE_TEST_CASE(max_entries, Fixture) {
    policy.max_entries = 3;  // the core entry is one of them
    policy.max_adds_per_minute = 100;
    auto state = make();
    state.start(kNow);
    const auto r = run(state,
                       {add(1, "192.0.2.50"), add(2, "192.0.2.51"), add(3, "192.0.2.52"),
                        del(4, "192.0.2.50"), add(5, "192.0.2.53")},
                       t0);
    BOOST_TEST(r[0] == "1 OK added");
    BOOST_TEST(r[1] == "2 OK added");
    BOOST_TEST(r[2].starts_with("3 ERR limit "));
    BOOST_TEST(r[3] == "4 OK deleted");
    BOOST_TEST(r[4] == "5 OK added");
    BOOST_TEST(run(state, {add(6, "192.0.2.51", 0, {"x"})}, t0)[0] == "6 OK updated");
}

BOOST_FIXTURE_TEST_CASE(add_rate_is_a_token_bucket, Fixture) {
    policy.max_adds_per_minute = 3;
    auto state = make();
    state.start(kNow);
    auto r = run(state,
                 {add(1, "192.0.2.50"), add(2, "192.0.2.51"), add(3, "192.0.2.52"),
                  add(4, "192.0.2.53"), add(5, "192.0.2.50", 0, {"again"})},
                 t0);
    BOOST_TEST(r[2] == "3 OK added");
    BOOST_TEST(r[3].starts_with("4 ERR limit "));
    BOOST_TEST(r[4] == "5 OK updated");  // updates are not new entries
    BOOST_TEST(run(state, {add(6, "192.0.2.53")}, t0 + std::chrono::seconds(10))[0].starts_with(
        "6 ERR limit "));
    BOOST_TEST(run(state, {add(7, "192.0.2.53")}, t0 + std::chrono::seconds(21))[0] ==
               "7 OK added");

    RateLimiter bucket(60);
    for (int i = 0; i < 60; ++i) BOOST_TEST(bucket.try_take(t0));
    BOOST_TEST(!bucket.try_take(t0));
    BOOST_TEST(bucket.try_take(t0 + std::chrono::seconds(1)));
    BOOST_TEST(!bucket.try_take(t0 + std::chrono::seconds(1)));
    BOOST_TEST(bucket.try_take(t0 + std::chrono::hours(1)));
}

BOOST_FIXTURE_TEST_CASE(expiry, Fixture) {
    auto state = make();
    state.start(kNow);
    run(state,
        {add(1, "192.0.2.50", kNow + 10), add(2, "192.0.2.51", kNow + 20), add(3, "192.0.2.52")},
        t0);
    BOOST_TEST((state.next_expiry() == std::optional<std::int64_t>(kNow + 10)));
    state.expire(kNow + 9);
    BOOST_TEST(backend.kernel.contains(net("192.0.2.50")));
    state.expire(kNow + 10);
    BOOST_TEST(!backend.kernel.contains(net("192.0.2.50")));
    BOOST_TEST((state.next_expiry() == std::optional<std::int64_t>(kNow + 20)));
    BOOST_TEST(logged_with("expired net=192.0.2.50"));

    backend.broken = true;  // a failing backend is retried later, not in a busy loop
    state.expire(kNow + 30);
    BOOST_TEST((state.next_expiry() == std::optional<std::int64_t>(kNow + 35)));
    backend.broken = false;
    state.expire(kNow + 35);
    BOOST_TEST(!backend.kernel.contains(net("192.0.2.51")));
    BOOST_TEST(backend.kernel.contains(net("192.0.2.52")));
    BOOST_TEST(!state.next_expiry().has_value());
}

BOOST_FIXTURE_TEST_CASE(repair_restores_the_desired_set, Fixture) {
    auto state = make();
    state.start(kNow);
    run(state, {add(1, "192.0.2.50", 0, {"a"}), add(2, "192.0.2.51")}, t0);
    backend.kernel.erase(net("192.0.2.50"));                  // flushed
    backend.kernel[net("192.0.2.51")].tags = {"edited"};      // rewritten by hand
    backend.kernel[net("192.0.2.99")] = entry("192.0.2.99");  // not ours any more
    backend.kernel.erase(net("203.0.113.0/24"));
    backend.commits.clear();
    state.repair(kNow);
    BOOST_TEST(backend.commits.size() == 1u);
    BOOST_TEST(backend.kernel.size() == 3u);
    BOOST_TEST((backend.kernel.at(net("192.0.2.50")).tags == std::vector<std::string>{"a"}));
    BOOST_TEST(backend.kernel.at(net("192.0.2.51")).tags.empty());
    BOOST_TEST(backend.kernel.contains(net("203.0.113.0/24")));
    BOOST_TEST(logged_with("re-added missing entry net=192.0.2.50"));
    BOOST_TEST(logged_with("removed stray entry net=192.0.2.99"));

    backend.commits.clear();
    state.repair(kNow);  // all in place: no commit
    BOOST_TEST(backend.commits.empty());

    // The host gained an address inside a ban: the ban goes.
    state.set_own_addresses({*IpAddress::parse("192.0.2.51")});
    state.repair(kNow);
    BOOST_TEST(!backend.kernel.contains(net("192.0.2.51")));

    backend.broken = true;
    state.repair(kNow);  // logs, does not throw
    BOOST_TEST(logged_with("backend error during repair"));
}

BOOST_FIXTURE_TEST_CASE(sync_converges_in_one_commit, Fixture) {
    policy.max_adds_per_minute = 100;
    auto state = make();
    state.start(kNow);
    run(state, {add(1, "192.0.2.50"), add(2, "192.0.2.51", 0, {"a"}), add(3, "192.0.2.52")}, t0);
    backend.kernel[net("192.0.2.51")].packets = 7;
    backend.kernel[net("192.0.2.51")].bytes = 420;
    backend.commits.clear();

    auto r =
        run(state,
            {sync(10, kBegin), add(11, "192.0.2.51", kNow + 60, {"b"}), add(12, "192.0.2.53"),
             add(13, "2001:db8:1::53", 0, {"v6"}), simple(14, Verb::list), add(15, "192.0.2.52")},
            t0);
    BOOST_TEST(r[0] == "10 OK syncing");
    BOOST_TEST(r[1] == "11 OK staged");
    BOOST_TEST(r[2] == "12 OK staged");
    BOOST_TEST(r[3] == "13 OK staged");
    BOOST_TEST(r[4].ends_with("14 OK 4"));  // LIST shows the kernel, not the staged set
    BOOST_TEST(r[5] == "15 OK staged");
    BOOST_TEST(backend.commits.empty());  // nothing applied while staging
    BOOST_TEST(state.open_syncs() == 1u);

    r = run(state, {add(16, "192.0.2.52", 0, {"again"}), sync(17, kEnd)}, t0);
    BOOST_TEST(r[0] == "16 OK staged");
    BOOST_TEST(r[1] == "17 OK added=2 updated=2 removed=1");
    BOOST_TEST(backend.commits.size() == 1u);
    BOOST_TEST(backend.commits[0].size() == 5u);
    BOOST_TEST(state.open_syncs() == 0u);
    BOOST_TEST(!backend.kernel.contains(net("192.0.2.50")));
    BOOST_TEST(backend.kernel.contains(net("203.0.113.0/24")));  // core stays
    const auto& kept = backend.kernel.at(net("192.0.2.51"));
    BOOST_TEST((kept.tags == std::vector<std::string>{"b"}));
    BOOST_TEST(kept.expires == kNow + 60);
    BOOST_TEST(kept.packets == 7u);  // counters kept
    BOOST_TEST(kept.bytes == 420u);
    BOOST_TEST((backend.kernel.at(net("192.0.2.52")).tags == std::vector<std::string>{"again"}));
    BOOST_TEST(backend.kernel.contains(net("2001:db8:1::53")));
    BOOST_TEST(backend.kernel.size() == 5u);
    BOOST_TEST(state.size() == 5u);
    BOOST_TEST((state.next_expiry() == std::optional<std::int64_t>(kNow + 60)));
    BOOST_TEST(logged_with("sync: removed net=192.0.2.50"));
    BOOST_TEST(logged_with("sync done conn=0 staged=4 refused=0 expired=0 added=2"));

    // The same sync again changes nothing and commits nothing.
    backend.commits.clear();
    r = run(state,
            {sync(20, kBegin), add(21, "192.0.2.51", kNow + 60, {"b"}),
             add(22, "192.0.2.52", 0, {"again"}), add(23, "192.0.2.53"),
             add(24, "2001:db8:1::53", 0, {"v6"}), sync(25, kEnd)},
            t0);
    BOOST_TEST(r[5] == "25 OK added=0 updated=0 removed=0");
    BOOST_TEST(backend.commits.empty());

    // An empty sync leaves only the core list.
    r = run(state, {sync(30, kBegin), sync(31, kEnd)}, t0);
    BOOST_TEST(r[1] == "31 OK added=0 updated=0 removed=4");
    BOOST_TEST(backend.kernel.size() == 1u);
    BOOST_TEST(state.size() == 1u);
}

BOOST_FIXTURE_TEST_CASE(sync_refusals_and_misuse, Fixture) {
    policy.max_adds_per_minute = 100;
    auto state = make();
    state.start(kNow);
    run(state, {add(1, "192.0.2.50")}, t0);
    backend.commits.clear();
    const auto r =
        run(state,
            {sync(2, kEnd), sync(3, kAbort), sync(4, kBegin), sync(5, kBegin), add(6, "127.0.0.1"),
             add(7, "198.51.100.7"), add(8, "203.0.113.0/24"), add(9, "192.0.2.60", kNow),
             del(10, "192.0.2.50"), add(11, "192.0.2.61"), add(12, "192.0.2.61", kNow - 1),
             add(13, "192.0.2.62"), simple(14, Verb::ping), sync(15, kEnd)},
            t0);
    BOOST_TEST(r[0] == "2 ERR syntax no SYNC in progress");
    BOOST_TEST(r[1] == "3 ERR syntax no SYNC in progress");
    BOOST_TEST(r[2] == "4 OK syncing");
    BOOST_TEST(r[3] == "5 ERR syntax SYNC already in progress");
    for (std::size_t i : {4, 5, 6, 7}) BOOST_TEST(r[i].find(" ERR refused ") != std::string::npos);
    BOOST_TEST(r[8] == "10 ERR syntax DEL inside SYNC");
    BOOST_TEST(r[9] == "11 OK staged");
    BOOST_TEST(r[10].starts_with("12 ERR refused expiry"));  // and 192.0.2.61 is not staged
    BOOST_TEST(r[11] == "13 OK staged");
    BOOST_TEST(r[12] == "14 OK pong");
    BOOST_TEST(r[13] == "15 OK added=1 updated=0 removed=1");
    BOOST_TEST(backend.kernel.contains(net("192.0.2.62")));
    BOOST_TEST(!backend.kernel.contains(net("192.0.2.61")));
    BOOST_TEST(!backend.kernel.contains(net("192.0.2.50")));
    BOOST_TEST(!backend.kernel.contains(net("127.0.0.1")));
    BOOST_TEST(backend.kernel.contains(net("203.0.113.0/24")));
    BOOST_TEST(logged_with("refused ADD net=127.0.0.1 code=refused"));
    BOOST_TEST(logged_with("refused=5"));
}

BOOST_FIXTURE_TEST_CASE(sync_abort_and_closed_connection_discard, Fixture) {
    policy.max_adds_per_minute = 100;
    auto state = make();
    state.start(kNow);
    run(state, {add(1, "192.0.2.50")}, t0);
    backend.commits.clear();
    // Session 1 syncs while session 2 keeps working normally.
    auto r = run_on(state,
                    {{sync(2, kBegin), 1},
                     {add(3, "192.0.2.51"), 1},
                     {add(4, "192.0.2.52"), 2},
                     {del(5, "192.0.2.50"), 2},
                     {sync(6, kAbort), 1},
                     {sync(7, kEnd), 1}},
                    t0);
    BOOST_TEST(r[1] == "3 OK staged");
    BOOST_TEST(r[2] == "4 OK added");
    BOOST_TEST(r[3] == "5 OK deleted");
    BOOST_TEST(r[4] == "6 OK aborted");
    BOOST_TEST(r[5] == "7 ERR syntax no SYNC in progress");
    BOOST_TEST(!backend.kernel.contains(net("192.0.2.51")));
    BOOST_TEST(backend.kernel.contains(net("192.0.2.52")));
    BOOST_TEST(backend.commits.size() == 1u);

    r = run_on(state, {{sync(8, kBegin), 1}, {add(9, "192.0.2.53"), 1}, {sync(10, kBegin), 2}}, t0);
    BOOST_TEST(r[2] == "10 OK syncing");  // one sync per connection
    BOOST_TEST(state.open_syncs() == 2u);
    state.close_session(1);
    state.close_session(7);  // no sync there: nothing happens
    BOOST_TEST(state.open_syncs() == 1u);
    BOOST_TEST(logged_with("sync discarded conn=1: connection closed with 1 staged entries"));
    r = run_on(state, {{sync(11, kEnd), 1}, {add(12, "192.0.2.54"), 1}}, t0);
    BOOST_TEST(r[0] == "11 ERR syntax no SYNC in progress");
    BOOST_TEST(r[1] == "12 OK added");  // a normal ADD again
    BOOST_TEST(!backend.kernel.contains(net("192.0.2.53")));
    r = run_on(state, {{sync(13, kEnd), 2}}, t0);
    BOOST_TEST(r[0] == "13 OK added=0 updated=0 removed=2");
    BOOST_TEST(backend.kernel.size() == 1u);
}

BOOST_FIXTURE_TEST_CASE(sync_limits, Fixture) {
    policy.max_entries = 6;  // core + 5
    policy.max_adds_per_minute = 3;
    for (const char* n : {"192.0.2.50", "192.0.2.51", "192.0.2.52"})
        backend.kernel[net(n)] = entry(n);  // adopted at start: present, no rate cost
    auto state = make();
    state.start(kNow);
    auto r = run(state,
                 {sync(1, kBegin), add(2, "192.0.2.50"), add(3, "192.0.2.51"), add(4, "192.0.2.52"),
                  add(5, "192.0.2.60"), add(6, "192.0.2.61"), add(7, "192.0.2.62"),
                  add(8, "192.0.2.61", 0, {"x"}), add(9, "192.0.2.63")},
                 t0);
    for (std::size_t i = 1; i <= 4; ++i) BOOST_TEST(r[i].ends_with(" OK staged"), r[i]);
    BOOST_TEST(r[5] == "6 OK staged");
    BOOST_TEST(r[6].starts_with("7 ERR limit max_entries 6 reached"));
    BOOST_TEST(r[7] == "8 OK staged");  // already staged: no new room needed
    BOOST_TEST(r[8].starts_with("9 ERR limit max_entries"));
    r = run(state, {sync(10, kEnd)}, t0);
    BOOST_TEST(r[0] == "10 OK added=2 updated=0 removed=0");

    // Over the rate: present entries are free, new ones take tokens.
    r = run(state,
            {sync(11, kBegin), add(12, "192.0.2.50"), add(13, "192.0.2.70"), add(14, "192.0.2.71"),
             sync(15, kEnd)},
            t0);
    BOOST_TEST(r[1] == "12 OK staged");
    BOOST_TEST(r[2] == "13 OK staged");  // the third token
    BOOST_TEST(r[3].starts_with("14 ERR limit more than 3 new entries per minute"));
    BOOST_TEST(r[4] == "15 OK added=1 updated=0 removed=4");
}

BOOST_FIXTURE_TEST_CASE(sync_backend_failure_changes_nothing, Fixture) {
    policy.max_adds_per_minute = 100;
    auto state = make();
    state.start(kNow);
    run(state, {add(1, "192.0.2.50")}, t0);
    auto r = run(state, {sync(2, kBegin), add(3, "192.0.2.51", kNow + 5)}, t0);
    backend.broken = true;
    r = run(state, {sync(4, kEnd)}, t0, kNow + 1);
    BOOST_TEST(r[0].starts_with("4 ERR backend "));
    BOOST_TEST(state.size() == 2u);
    BOOST_TEST(state.open_syncs() == 0u);
    backend.broken = false;
    BOOST_TEST(backend.kernel.contains(net("192.0.2.50")));

    // An entry that expires while staged is left out.
    r = run(state, {sync(5, kBegin), add(6, "192.0.2.50", kNow + 5), add(7, "192.0.2.51")}, t0);
    r = run(state, {sync(8, kEnd)}, t0, kNow + 5);
    BOOST_TEST(r[0] == "8 OK added=1 updated=0 removed=1");
    BOOST_TEST(!backend.kernel.contains(net("192.0.2.50")));
    BOOST_TEST(logged_with("expired=1"));
}

BOOST_FIXTURE_TEST_CASE(start_restores_the_journal_into_an_empty_kernel, Fixture) {
    MemoryJournal journal;
    journal.kept[net("192.0.2.60")] = entry("192.0.2.60", Origin::dynamic, kNow + 600, {"trap"});
    journal.kept[net("192.0.2.61")] = entry("192.0.2.61", Origin::dynamic, kNow - 1, {"old"});
    journal.kept[net("198.51.100.7")] = entry("198.51.100.7");  // protected since
    journal.kept[net("2001:db8::/48")] = entry("2001:db8::/48", Origin::dynamic, 0, {"v6"});
    auto state = make(&journal);
    state.start(kNow);
    BOOST_TEST(backend.kernel.contains(net("192.0.2.60")));
    BOOST_TEST(backend.kernel.at(net("192.0.2.60")).tags == std::vector<std::string>{"trap"});
    BOOST_TEST(backend.kernel.contains(net("2001:db8::/48")));
    BOOST_TEST(!backend.kernel.contains(net("192.0.2.61")));
    BOOST_TEST(!backend.kernel.contains(net("198.51.100.7")));
    BOOST_TEST(logged_with("dropping journaled entry net=198.51.100.7"));
    BOOST_TEST(logged_with("restored=2"));
    // The journal is rewritten with what the helper really holds (no core, no refusals).
    BOOST_TEST(journal.replaces == 1u);
    BOOST_TEST(journal.kept.size() == 2u);
    BOOST_TEST(!journal.kept.contains(net("203.0.113.0/24")));
}

BOOST_FIXTURE_TEST_CASE(restored_entries_do_not_count_against_the_rate_cap, Fixture) {
    policy.max_adds_per_minute = 2;
    MemoryJournal journal;
    for (const auto* a : {"192.0.2.60", "192.0.2.61", "192.0.2.62", "192.0.2.63"})
        journal.kept[net(a)] = entry(a, Origin::dynamic, kNow + 600);
    auto state = make(&journal);
    state.start(kNow);
    // The milter's full sync: the four it had (one with a new expiry) and three new ones.
    auto r =
        run(state,
            {sync(1, kBegin), add(2, "192.0.2.60", kNow + 600), add(3, "192.0.2.61", kNow + 600),
             add(4, "192.0.2.62", kNow + 900), add(5, "192.0.2.63", kNow + 600),
             add(6, "192.0.2.70"), add(7, "192.0.2.71"), add(8, "192.0.2.72"), sync(9, kEnd)},
            t0);
    for (std::size_t i = 1; i <= 6; ++i) BOOST_TEST(r[i].find("ERR") == std::string::npos);
    BOOST_TEST(r[7].starts_with("8 ERR limit "));
    BOOST_TEST(r[8] == "9 OK added=2 updated=1 removed=0");
    BOOST_TEST(backend.kernel.size() == 7u);  // 6 bans + core
    BOOST_TEST(journal.kept.size() == 6u);
    BOOST_TEST(journal.kept.at(net("192.0.2.62")).expires == kNow + 900);
}

BOOST_FIXTURE_TEST_CASE(journal_follows_adds_deletes_and_expiry, Fixture) {
    MemoryJournal journal;
    auto state = make(&journal);
    state.start(kNow);
    run(state, {add(1, "192.0.2.50", kNow + 5), add(2, "192.0.2.51"), add(3, "192.0.2.52")}, t0);
    BOOST_TEST(journal.kept.size() == 3u);
    run(state, {del(4, "192.0.2.51")}, t0);
    BOOST_TEST(!journal.kept.contains(net("192.0.2.51")));
    state.expire(kNow + 5);
    BOOST_TEST(journal.kept.size() == 1u);
    BOOST_TEST(journal.kept.contains(net("192.0.2.52")));

    // A journal that fails costs the reboot guarantee, never the ban itself.
    journal.broken = true;
    auto r = run(state, {add(5, "192.0.2.53")}, t0);
    BOOST_TEST(r[0].starts_with("5 OK"));
    BOOST_TEST(backend.kernel.contains(net("192.0.2.53")));
    BOOST_TEST(logged_with("journal error"));
    // Once it works again the next change rewrites it whole, so nothing missed stays missing.
    journal.broken = false;
    run(state, {add(6, "192.0.2.54")}, t0);
    BOOST_TEST(journal.kept.size() == 3u);
    BOOST_TEST(journal.kept.contains(net("192.0.2.53")));
}

BOOST_FIXTURE_TEST_CASE(every_change_counts_against_the_change_budget, Fixture) {
    policy.max_adds_per_minute = 100;
    policy.max_changes_per_minute = 4;
    auto state = make();
    state.start(kNow);
    const auto commits = state.commits();
    // Two adds, one real update, one update that changes nothing, then a delete: the
    // fifth change is over the budget, the no-op costs nothing.
    auto r = run(state,
                 {add(1, "192.0.2.50", kNow + 60), add(2, "192.0.2.51"),
                  add(3, "192.0.2.50", kNow + 120), add(4, "192.0.2.51"), del(5, "192.0.2.51"),
                  add(6, "192.0.2.50", kNow + 180), del(7, "192.0.2.50"), add(8, "192.0.2.52")},
                 t0);
    BOOST_TEST(r[0] == "1 OK added");
    BOOST_TEST(r[1] == "2 OK added");
    BOOST_TEST(r[2] == "3 OK updated");
    BOOST_TEST(r[3] == "4 OK updated");
    BOOST_TEST(r[4] == "5 OK deleted");
    BOOST_TEST(r[5] == "6 ERR limit more than 4 changes per minute");
    BOOST_TEST(r[6] == "7 ERR limit more than 4 changes per minute");
    BOOST_TEST(r[7] == "8 ERR limit more than 4 changes per minute");
    BOOST_TEST(backend.kernel.at(net("192.0.2.50")).expires == kNow + 120);
    BOOST_TEST(state.commits() == commits + 1);  // the whole batch, one commit
    BOOST_TEST(logged_with("refused DEL net=192.0.2.50 code=limit"));
    // The budget refills: a quarter of a minute buys one more change.
    r = run(state, {del(9, "192.0.2.50")}, t0 + std::chrono::seconds(15));
    BOOST_TEST(r[0] == "9 OK deleted");
    BOOST_TEST(state.commits() == commits + 2);
}

BOOST_AUTO_TEST_CASE(core_networks_may_be_large_but_not_dangerous) {
    TargetLimits limits;
    limits.own_addresses = {*IpAddress::parse("192.0.2.1")};
    BOOST_TEST(!core_refusal_reason(net("10.0.0.0/8"), limits).has_value());
    BOOST_TEST(core_refusal_reason(net("192.0.0.0/8"), limits).has_value());
    BOOST_TEST(core_refusal_reason(net("0.0.0.0/0"), limits).has_value());
    BOOST_TEST(core_refusal_reason(net("127.0.0.0/8"), limits).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
