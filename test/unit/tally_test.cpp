#include <boost/test/unit_test.hpp>

#include "core/tally.hpp"

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

BOOST_AUTO_TEST_CASE(window_counts_shorter_spans) {
    WindowCounter w;
    const seconds window(1600);
    w.add(kT0, window);
    w.add(kT0 + 1000, window);
    BOOST_TEST(w.count(kT0 + 1000, window, seconds(100)) == 1u);
    BOOST_TEST(w.count(kT0 + 1000, window, seconds(1600)) == 2u);
    BOOST_TEST(w.count(kT0 + 1000, window, seconds(99999)) == 2u);  // capped at the window
}

BOOST_AUTO_TEST_CASE(window_survives_a_round_trip) {
    WindowCounter w;
    w.add(kT0, seconds(3600), 7);
    const auto copy = WindowCounter::restore(w.buckets(), w.newest_bucket());
    BOOST_TEST(copy.count(kT0 + 10, seconds(3600)) == 7u);
}

BOOST_AUTO_TEST_CASE(store_counts_sessions_rejections_accepted_and_tags) {
    TallyStore store(seconds(3600), 1000);
    store.record_session(kA, kT0);
    store.record_accepted(kA, kT0);
    store.record_rejection(kA, kBadHelo, kT0 + 1);
    store.record_rejection(kA, kBadHelo, kT0 + 2);
    const auto& t = store.record_rejection(kA, kTrap, kT0 + 3);
    BOOST_TEST(t.sessions == 1u);
    BOOST_TEST(t.accepted == 1u);
    BOOST_TEST(t.rejections == 3u);
    BOOST_TEST(t.first_seen == kT0);
    BOOST_TEST(t.last_seen == kT0 + 3);
    const auto names = store.tag_names(t);
    BOOST_TEST(names.size() == 2u);
    BOOST_TEST(names[0] == "bad-helo");  // most frequent first
    BOOST_TEST(names[1] == "spamtrap");
    BOOST_TEST(store.tag_seen(t, "spamtrap", kT0 + 10, seconds(60)));
    BOOST_TEST(!store.tag_seen(t, "spamtrap", kT0 + 100, seconds(60)));
    BOOST_TEST(!store.tag_seen(t, "cbl", kT0 + 10, seconds(60)));
    BOOST_TEST(!store.find(kB));
}

BOOST_AUTO_TEST_CASE(top_orders_and_filters) {
    TallyStore store(seconds(3600), 1000);
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
    BOOST_TEST(store.top(10, "no-such-tag", kT0).empty());
}

BOOST_AUTO_TEST_CASE(eviction_drops_the_coldest_and_spares_the_protected) {
    TallyStore store(seconds(3600), 100);
    for (std::uint32_t i = 0; i < 101; ++i)
        store.record_session(Cidr::host(IpAddress::v4(0xC0000200 + i)), kT0 + i);
    BOOST_TEST(store.over_capacity());
    const Cidr oldest = Cidr::host(IpAddress::v4(0xC0000200));
    const auto gone = store.evict([&](const Cidr& key) { return key == oldest; });
    BOOST_TEST(gone.size() == 11u);  // down to 90% of the cap
    BOOST_TEST(store.size() == 90u);
    BOOST_TEST(store.find(oldest) != nullptr);  // protected (e.g. banned)
    BOOST_TEST(store.find(Cidr::host(IpAddress::v4(0xC0000201))) == nullptr);
    BOOST_TEST(store.find(Cidr::host(IpAddress::v4(0xC0000200 + 100))) != nullptr);
    BOOST_TEST(!store.over_capacity());
}

BOOST_AUTO_TEST_CASE(rows_round_trip_through_restore) {
    TallyStore store(seconds(3600), 1000);
    store.record_rejection(kA, kTrap, kT0);
    store.record_accepted(kA, kT0);
    TallyStore copy(seconds(3600), 1000);
    copy.restore(*store.row(kA, kT0));  // what the state writer saves and loads
    const auto row = copy.row(kA, kT0 + 1);
    BOOST_REQUIRE(row);
    BOOST_TEST(row->tally.rejections == 1u);
    BOOST_TEST(row->tally.accepted == 1u);
    BOOST_TEST(row->recent == 1u);
    BOOST_TEST(row->tags.at(0).name == "spamtrap");
    BOOST_TEST(row->tags.at(0).last == kT0);
}

BOOST_AUTO_TEST_CASE(forgiving_clears_recent_rejections) {
    TallyStore store(seconds(3600), 1000);
    store.record_rejection(kA, kTrap, kT0);
    store.forgive(kA);
    BOOST_TEST(store.row(kA, kT0)->recent == 0u);
    BOOST_TEST(store.row(kA, kT0)->tally.rejections == 1u);  // history stays
}

BOOST_AUTO_TEST_SUITE_END()
