#include <boost/test/unit_test.hpp>

#include "milter/enforcement.hpp"

using namespace smtpwall;
using std::chrono::seconds;

namespace {

constexpr UnixTime kT0 = 1'800'000'000;

// Records what the helper was asked; answers bans as told.
struct FakeFirewall : FirewallLink {
    std::vector<std::string> log;
    std::vector<std::pair<Cidr, Done>> waiting;
    bool answer_at_once = true;
    Result answer = Result::applied;

    void ban(const Ban& ban, Done done) override {
        log.push_back("ban " + ban.key.to_string());
        if (answer_at_once) {
            if (done) done(answer);
        } else {
            waiting.emplace_back(ban.key, std::move(done));
        }
    }
    void unban(const Cidr& key) override { log.push_back("unban " + key.to_string()); }
    void sync(const std::vector<Ban>& bans, SyncDone done) override {
        log.push_back("sync " + std::to_string(bans.size()));
        sync_done = std::move(done);  // answered later, from the helper's thread
    }
    SyncDone sync_done;
};

conf::MilterConfig config(std::string_view extra = "") {
    return conf::parse_milter_config(std::string(R"(
[checks]
allowlist = ["203.0.113.0/24"]
[escalation]
rules = ["ban at first spamtrap", "ban after 3 rejections in 1h"]
ban_duration = "1d"
repeat_growth = 2.0
max_ban_duration = "3d"
good_mail_ratio = 0
[aggregation]
min_banned = 3
)") + std::string(extra),
                                     "test.conf");
}

IpAddress ip(std::string_view s) {
    return *IpAddress::parse(s);
}
const std::vector<std::string> kTrap = {"spamtrap"};
const std::vector<std::string> kHelo = {"bad-helo"};

}  // namespace

BOOST_AUTO_TEST_SUITE(enforcement)

BOOST_AUTO_TEST_CASE(first_hit_bans_and_tells_the_helper) {
    FakeFirewall fw;
    Enforcement e(config(), fw);
    const auto out = e.record_rejection(ip("192.0.2.7"), kTrap, kT0);
    BOOST_REQUIRE(out.new_ban);
    BOOST_TEST(out.new_ban->expires == kT0 + 86400);
    BOOST_TEST(out.new_ban->tags == kTrap);
    BOOST_TEST(fw.log == std::vector<std::string>{"ban 192.0.2.7"});
    BOOST_TEST(e.is_banned(ip("192.0.2.7")));
    // Further rejections of a banned address do not ban again.
    BOOST_TEST(!e.record_rejection(ip("192.0.2.7"), kTrap, kT0 + 1).new_ban);
}

BOOST_AUTO_TEST_CASE(allowlisted_and_loopback_are_never_banned) {
    FakeFirewall fw;
    Enforcement e(config(), fw);
    BOOST_TEST(!e.record_rejection(ip("203.0.113.5"), kTrap, kT0).new_ban);
    BOOST_TEST(!e.record_rejection(ip("127.0.0.1"), kTrap, kT0).new_ban);
    BOOST_TEST(!e.record_rejection(ip("::1"), kTrap, kT0).new_ban);
    BOOST_TEST(fw.log.empty());
    BOOST_TEST(!e.manual_ban(*Cidr::parse("203.0.113.0/28"), seconds(60), "x", kT0).ok);
}

BOOST_AUTO_TEST_CASE(repeat_offender_bans_grow_and_expire) {
    FakeFirewall fw;
    Enforcement e(config(), fw);
    e.record_rejection(ip("192.0.2.7"), kTrap, kT0);
    e.expire(kT0 + 86400);
    BOOST_TEST(!e.is_banned(ip("192.0.2.7")));
    BOOST_TEST(fw.log.back() == "unban 192.0.2.7");
    const auto second = e.record_rejection(ip("192.0.2.7"), kTrap, kT0 + 90000);
    BOOST_TEST(second.new_ban->expires == kT0 + 90000 + 2 * 86400);
    e.expire(kT0 + 90000 + 2 * 86400);
    const auto third = e.record_rejection(ip("192.0.2.7"), kTrap, kT0 + 500000);
    BOOST_TEST(third.new_ban->expires == kT0 + 500000 + 3 * 86400);  // capped at 3d
}

BOOST_AUTO_TEST_CASE(ipv6_is_tallied_and_banned_per_64) {
    FakeFirewall fw;
    Enforcement e(config(), fw);
    e.record_rejection(ip("2001:db8:5:6::1"), kHelo, kT0);
    e.record_rejection(ip("2001:db8:5:6::2"), kHelo, kT0 + 1);
    const auto out = e.record_rejection(ip("2001:db8:5:6:ffff::3"), kHelo, kT0 + 2);
    BOOST_REQUIRE(out.new_ban);
    BOOST_TEST(out.new_ban->key.to_string() == "2001:db8:5:6::/64");
    BOOST_TEST(e.is_banned(ip("2001:db8:5:6::99")));
    BOOST_TEST(!e.is_banned(ip("2001:db8:5:7::1")));
}

BOOST_AUTO_TEST_CASE(netblock_replaces_host_bans_once_applied) {
    FakeFirewall fw;
    fw.answer_at_once = false;
    Enforcement e(config(), fw);
    for (const char* a : {"192.0.2.1", "192.0.2.2", "192.0.2.3"})
        e.record_rejection(ip(a), kTrap, kT0);
    const auto bans = e.bans();
    BOOST_REQUIRE(bans.size() == 1u);
    BOOST_TEST(bans[0].key.to_string() == "192.0.2.0/24");
    BOOST_TEST((bans[0].origin == BanOrigin::netblock));
    BOOST_TEST(bans[0].tags == kTrap);
    // The hosts leave the kernel only after the helper has applied the block.
    BOOST_TEST(std::count(fw.log.begin(), fw.log.end(), "unban 192.0.2.1") == 0);
    for (auto& [key, done] : fw.waiting) done(FirewallLink::Result::applied);
    BOOST_TEST(std::count(fw.log.begin(), fw.log.end(), "unban 192.0.2.1") == 1);
    BOOST_TEST(e.is_banned(ip("192.0.2.200")));
}

BOOST_AUTO_TEST_CASE(refused_netblock_keeps_the_host_bans) {
    FakeFirewall fw;
    fw.answer_at_once = false;
    Enforcement e(config(), fw);
    for (const char* a : {"192.0.2.1", "192.0.2.2", "192.0.2.3"})
        e.record_rejection(ip(a), kTrap, kT0);
    auto waiting = std::move(fw.waiting);
    for (auto& [key, done] : waiting)
        done(key.prefix == 24 ? FirewallLink::Result::refused : FirewallLink::Result::applied);
    const auto bans = e.bans();
    BOOST_TEST(bans.size() == 3u);
    BOOST_TEST(!e.is_banned(ip("192.0.2.200")));
    BOOST_TEST(e.is_banned(ip("192.0.2.1")));
    BOOST_TEST(std::count(fw.log.begin(), fw.log.end(), "unban 192.0.2.1") == 0);
}

BOOST_AUTO_TEST_CASE(observe_mode_bans_nothing) {
    FakeFirewall fw;
    Enforcement e(config("[milter]\nobserve = true\n"), fw);
    BOOST_TEST(e.observing());
    const auto out = e.record_rejection(ip("192.0.2.7"), kTrap, kT0);
    BOOST_REQUIRE(out.new_ban);
    BOOST_TEST(out.new_ban->observed);
    BOOST_TEST(fw.log.empty());
    BOOST_TEST(!e.is_banned(ip("192.0.2.7")));
    e.sync_firewall();
    BOOST_TEST(fw.log == std::vector<std::string>{"sync 0"});
}

BOOST_AUTO_TEST_CASE(manual_unban_forgives_recent_rejections) {
    FakeFirewall fw;
    Enforcement e(config(), fw);
    for (int i = 0; i < 3; ++i) e.record_rejection(ip("192.0.2.7"), kHelo, kT0 + i);
    BOOST_TEST(e.is_banned(ip("192.0.2.7")));
    BOOST_TEST(e.manual_unban(*Cidr::parse("192.0.2.7")).ok);
    BOOST_TEST(!e.manual_unban(*Cidr::parse("192.0.2.7")).ok);
    BOOST_TEST(!e.record_rejection(ip("192.0.2.7"), kHelo, kT0 + 10).new_ban);
    BOOST_TEST(e.manual_ban(*Cidr::parse("198.51.100.0/24"), seconds(0), "manual-test", kT0).ok);
    BOOST_TEST(e.is_banned(ip("198.51.100.9")));
    BOOST_TEST(e.ban_covering(ip("198.51.100.9"))->expires == 0);
}

BOOST_AUTO_TEST_CASE(changes_are_collected_for_the_state_writer) {
    FakeFirewall fw;
    Enforcement e(config(), fw);
    e.record_session(ip("192.0.2.7"), kT0);
    e.record_rejection(ip("192.0.2.7"), kTrap, kT0);
    auto changes = e.take_changes(kT0);
    BOOST_TEST(changes.tallies.size() == 1u);
    BOOST_REQUIRE(changes.bans.size() == 1u);
    BOOST_TEST(changes.bans[0].added);
    BOOST_TEST(e.take_changes(kT0).empty());
    e.expire(kT0 + 86400);
    changes = e.take_changes(kT0 + 86400);
    BOOST_REQUIRE(changes.bans.size() == 1u);
    BOOST_TEST(!changes.bans[0].added);
}

BOOST_AUTO_TEST_CASE(restore_brings_back_live_bans_only) {
    FakeFirewall fw;
    Enforcement e(config(), fw);
    const std::vector<Ban> saved = {
        {*Cidr::parse("192.0.2.7"), kTrap, kT0, kT0 + 100, "r", BanOrigin::policy, false},
        {*Cidr::parse("192.0.2.8"), kTrap, kT0, kT0 + 10, "r", BanOrigin::policy, false},
        {*Cidr::parse("192.0.2.9"), kTrap, kT0, 0, "manual", BanOrigin::manual, false},
        {*Cidr::parse("192.0.2.10"), kTrap, kT0, kT0 + 100, "r", BanOrigin::policy, true}};
    e.restore({}, saved, {}, kT0 + 50);
    BOOST_TEST(e.is_banned(ip("192.0.2.7")));
    BOOST_TEST(!e.is_banned(ip("192.0.2.8")));
    BOOST_TEST(e.is_banned(ip("192.0.2.9")));
    BOOST_TEST(!e.is_banned(ip("192.0.2.10")));  // an observe-mode record is not enforced later
    e.sync_firewall();
    BOOST_TEST(fw.log.back() == "sync 2");
}

BOOST_AUTO_TEST_CASE(bans_a_sync_refused_are_forgotten) {
    FakeFirewall fw;
    Enforcement e(config(), fw);
    e.record_rejection(ip("192.0.2.7"), kTrap, kT0);
    e.record_rejection(ip("192.0.2.8"), kTrap, kT0);
    e.sync_firewall();
    BOOST_REQUIRE(fw.sync_done);
    fw.sync_done({{*Cidr::parse("192.0.2.7")}, 0});
    BOOST_TEST(!e.is_banned(ip("192.0.2.7")));
    BOOST_TEST(e.is_banned(ip("192.0.2.8")));
    // Deferred ones stay: the link retries them.
    e.sync_firewall();
    fw.sync_done({{}, 1});
    BOOST_TEST(e.is_banned(ip("192.0.2.8")));
}

BOOST_AUTO_TEST_SUITE_END()
