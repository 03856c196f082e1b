#include <boost/test/unit_test.hpp>

#include "milter/tally.hpp"

using namespace smtpwall;
using std::chrono::seconds;

namespace {
const Cidr kA = *Cidr::parse("192.0.2.7");
const Cidr kB = *Cidr::parse("2001:db8::/64");
constexpr UnixTime kT0 = 1'800'000'000;
const std::vector<std::string> kBadHelo = {"bad-helo"};
const std::vector<std::string> kTrap = {"spamtrap"};
}  // namespace

BOOST_AUTO_TEST_SUITE(tally)

BOOST_AUTO_TEST_CASE(window_counts_recent_events_only) {
    WindowCounter w;
    const seconds window(1600);  // 16 buckets of 100 s
    w.add(kT0, window);
    w.add(kT0 + 50, window);
    BOOST_TEST(w.count(kT0 + 60, window) == 2u);
    w.add(kT0 + 900, window);
    BOOST_TEST(w.count(kT0 + 900, window) == 3u);
    BOOST_TEST(w.count(kT0 + 1700, window) == 1u);  // the first two slid out
    BOOST_TEST(w.count(kT0 + 3000, window) == 0u);
    w.add(kT0 + 100000, window);  // far later: old buckets cleared, not resurrected
    BOOST_TEST(w.count(kT0 + 100000, window) == 1u);
}

BOOST_AUTO_TEST_CASE(store_counts_sessions_rejections_and_tags) {
    TallyStore store(seconds(3600));
    store.record_session(kA, kT0);
    store.record_rejection(kA, kBadHelo, kT0 + 1);
    store.record_rejection(kA, kBadHelo, kT0 + 2);
    const auto& t = store.record_rejection(kA, kTrap, kT0 + 3);
    BOOST_TEST(t.sessions == 1u);
    BOOST_TEST(t.rejections == 3u);
    BOOST_TEST(t.first_seen == kT0);
    BOOST_TEST(t.last_seen == kT0 + 3);
    const auto names = store.tag_names(t);
    BOOST_TEST(names.size() == 2u);
    BOOST_TEST(names[0] == "bad-helo");  // most frequent first
    BOOST_TEST(names[1] == "spamtrap");
    BOOST_TEST(!store.find(kB));
}

BOOST_AUTO_TEST_CASE(top_orders_and_filters) {
    TallyStore store(seconds(3600));
    store.record_rejection(kA, kBadHelo, kT0);
    store.record_rejection(kB, kTrap, kT0);
    store.record_rejection(kB, kTrap, kT0);
    store.record_session(*Cidr::parse("192.0.2.99"), kT0);  // no rejections: not an offender
    auto rows = store.top(10, "", kT0);
    BOOST_TEST(rows.size() == 2u);
    BOOST_TEST(rows[0].key == kB);
    BOOST_TEST(rows[0].recent == 2u);
    rows = store.top(10, "bad-helo", kT0);
    BOOST_TEST(rows.size() == 1u);
    BOOST_TEST(rows[0].key == kA);
    BOOST_TEST(store.top(1, "", kT0).size() == 1u);
}

BOOST_AUTO_TEST_CASE(first_hit_tags_ban_at_once) {
    TallyStore store(seconds(3600));
    const EscalationRules rules{{"spamtrap"}, 5, seconds(7 * 86400)};
    const auto& t = store.record_rejection(kA, kTrap, kT0);
    const auto ban = decide_ban(kA, t, kTrap, store.tag_names(t), rules, store.window(), kT0);
    BOOST_REQUIRE(ban);
    BOOST_TEST(ban->rule == "first-hit:spamtrap");
    BOOST_TEST(ban->expires == kT0 + 7 * 86400);
    BOOST_TEST(ban->tags == kTrap);
}

BOOST_AUTO_TEST_CASE(threshold_within_window) {
    TallyStore store(seconds(3600));
    const EscalationRules rules{{"spamtrap"}, 3, seconds(86400)};
    auto decide = [&](UnixTime now) {
        const auto& t = store.record_rejection(kA, kBadHelo, now);
        return decide_ban(kA, t, kBadHelo, store.tag_names(t), rules, store.window(), now);
    };
    BOOST_TEST(!decide(kT0));
    BOOST_TEST(!decide(kT0 + 10));
    // Two hours later the first two have left the window: no ban yet.
    BOOST_TEST(!decide(kT0 + 7200));
    BOOST_TEST(!decide(kT0 + 7210));
    const auto ban = decide(kT0 + 7220);
    BOOST_REQUIRE(ban);
    BOOST_TEST(ban->rule == "threshold:3/3600s");
    BOOST_TEST(ban->expires == kT0 + 7220 + 86400);
}

BOOST_AUTO_TEST_CASE(threshold_zero_disables_the_rule) {
    TallyStore store(seconds(3600));
    const EscalationRules rules{{}, 0, seconds(60)};
    for (int i = 0; i < 100; ++i) {
        const auto& t = store.record_rejection(kA, kBadHelo, kT0 + i);
        BOOST_TEST(!decide_ban(kA, t, kBadHelo, {}, rules, store.window(), kT0 + i));
    }
}

BOOST_AUTO_TEST_CASE(ban_list_expiry_and_coverage) {
    BanList bans;
    BOOST_TEST(bans.add({kA, kTrap, kT0, kT0 + 100, "r"}));
    BOOST_TEST(!bans.add({kA, kTrap, kT0, kT0 + 500, "r"}));  // already banned: unchanged
    BOOST_TEST(bans.add({kB, kTrap, kT0, 0, "manual"}));      // no expiry
    BOOST_TEST(bans.covers(*IpAddress::parse("192.0.2.7")));
    BOOST_TEST(bans.covers(*IpAddress::parse("2001:db8::abcd")));
    BOOST_TEST(bans.covers(*IpAddress::parse("::ffff:192.0.2.7")));
    BOOST_TEST(!bans.covers(*IpAddress::parse("192.0.2.8")));
    BOOST_TEST(bans.expire(kT0 + 99).empty());
    const auto gone = bans.expire(kT0 + 100);
    BOOST_TEST(gone.size() == 1u);
    BOOST_TEST(gone[0].key == kA);
    BOOST_TEST(bans.size() == 1u);
    BOOST_TEST(bans.remove(kB));
    BOOST_TEST(!bans.remove(kB));
}

BOOST_AUTO_TEST_SUITE_END()
