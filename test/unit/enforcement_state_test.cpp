// The pure enforcement policy (core/enforcement_state.hpp): decisions come back as
// events, in order, with nothing sent anywhere. milter/enforcement's tests cover how
// the daemon carries them out.
#include <boost/test/unit_test.hpp>

#include "core/enforcement_state.hpp"

using namespace smtpwall;
using Kind = EnforcementEvent::Kind;
using Reason = EnforcementEvent::LiftReason;

namespace {

constexpr UnixTime kT0 = 1'800'000'000;
const std::vector<std::string> kTrap = {"spamtrap"};

conf::MilterConfig config(std::string_view extra = "") {
    return conf::parse_milter_config(
        std::string("[escalation]\nban_duration = \"1d\"\n[aggregation]\nmin_banned = 3\n") +
            std::string(extra),
        "test.conf");
}

IpAddress ip(std::string_view s) {
    return *IpAddress::parse(s);
}

std::string describe(const std::vector<EnforcementEvent>& events) {
    std::string out;
    for (const auto& e : events) {
        out += e.kind == Kind::banned ? "banned " : e.kind == Kind::lifted ? "lifted " : "refused ";
        out += e.ban.key.to_string();
        if (!e.replaces.empty()) out += "+" + std::to_string(e.replaces.size());
        out += ";";
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(enforcement_state)

BOOST_AUTO_TEST_CASE(a_block_is_one_event_that_names_what_it_replaces) {
    EnforcementState s(config());
    for (const char* a : {"192.0.2.1", "192.0.2.2", "192.0.2.3"})
        s.record_rejection(ip(a), kTrap, kT0);
    BOOST_TEST(describe(s.take_events()) ==
               "banned 192.0.2.1;banned 192.0.2.2;banned 192.0.2.3;banned 192.0.2.0/24+3;");
    BOOST_TEST(s.take_events().empty());
    BOOST_TEST(s.ban_count() == 1u);
}

BOOST_AUTO_TEST_CASE(a_refused_block_brings_its_hosts_back_and_is_not_proposed_again) {
    EnforcementState s(config());
    for (const char* a : {"192.0.2.1", "192.0.2.2", "192.0.2.3"})
        s.record_rejection(ip(a), kTrap, kT0);
    auto events = s.take_events();
    s.refused(events.back().ban.key, events.back().replaces);
    BOOST_TEST(describe(s.take_events()) == "refused 192.0.2.0/24;");
    BOOST_TEST(s.ban_count() == 3u);
    s.record_rejection(ip("192.0.2.4"), kTrap, kT0 + 1);
    BOOST_TEST(describe(s.take_events()) == "banned 192.0.2.4;");
}

BOOST_AUTO_TEST_CASE(lifts_say_why) {
    EnforcementState s(config());
    s.record_rejection(ip("192.0.2.7"), kTrap, kT0);
    s.record_rejection(ip("198.51.100.7"), kTrap, kT0);
    s.take_events();
    s.allow(*Cidr::parse("198.51.100.0/24"));
    s.expire(kT0 + 86400);
    const auto events = s.take_events();
    BOOST_REQUIRE(events.size() == 2u);
    BOOST_TEST((events[0].kind == Kind::lifted && events[0].reason == Reason::allowlisted));
    BOOST_TEST((events[1].kind == Kind::lifted && events[1].reason == Reason::expired));
    BOOST_TEST(!s.manual_unban(*Cidr::parse("192.0.2.7")).ok);
    BOOST_TEST(s.take_events().empty());
}

BOOST_AUTO_TEST_CASE(observe_mode_decides_the_same_but_enforces_nothing) {
    EnforcementState s(config("[milter]\nobserve = true\n"));
    s.record_rejection(ip("192.0.2.7"), kTrap, kT0);
    const auto events = s.take_events();
    BOOST_REQUIRE(events.size() == 1u);
    BOOST_TEST(events[0].ban.observed);
    BOOST_TEST(!s.is_banned(ip("192.0.2.7")));
    BOOST_TEST(s.enforced_bans().empty());
}

BOOST_AUTO_TEST_SUITE_END()
