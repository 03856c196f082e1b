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

constexpr std::int64_t kNow = 1'800'000'000;

struct Fixture {
    FakeBackend backend;
    std::vector<std::string> logged;
    HelperPolicy policy;
    AddRateLimiter::Clock::time_point t0 = AddRateLimiter::Clock::now();

    Fixture() {
        policy.targets.protected_nets = CidrList({net("198.51.100.0/24")});
        policy.targets.own_addresses = {*IpAddress::parse("192.0.2.1")};
        policy.max_entries = 10;
        policy.max_adds_per_minute = 5;
        policy.core = {entry("203.0.113.0/24", Origin::core, 0, {"core-test"})};
    }
    HelperState make() {
        return HelperState(policy, backend, [this](const std::string& l) { logged.push_back(l); });
    }
    bool logged_with(std::string_view words) const {
        for (const auto& l : logged)
            if (l.find(words) != std::string::npos) return true;
        return false;
    }
};

// Replies of a batch, one string per request (lines joined by '|').
std::vector<std::string> run(HelperState& state, const std::vector<Request>& batch,
                             AddRateLimiter::Clock::time_point when, std::int64_t now = kNow) {
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

    AddRateLimiter bucket(60);
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

BOOST_AUTO_TEST_CASE(core_networks_may_be_large_but_not_dangerous) {
    TargetLimits limits;
    limits.own_addresses = {*IpAddress::parse("192.0.2.1")};
    BOOST_TEST(!core_refusal_reason(net("10.0.0.0/8"), limits).has_value());
    BOOST_TEST(core_refusal_reason(net("192.0.0.0/8"), limits).has_value());
    BOOST_TEST(core_refusal_reason(net("0.0.0.0/0"), limits).has_value());
    BOOST_TEST(core_refusal_reason(net("127.0.0.0/8"), limits).has_value());
}

BOOST_AUTO_TEST_CASE(log_escaping) {
    BOOST_TEST(escape_for_log("1 PING") == "1 PING");
    BOOST_TEST(escape_for_log("a\r\n\x1b\"\\\xff") == "a\\x0d\\x0a\\x1b\\x22\\x5c\\xff");
    BOOST_TEST(escape_for_log(std::string(100, 'x'), 10) == "xxxxxxxxxx...");
}

BOOST_AUTO_TEST_SUITE_END()
