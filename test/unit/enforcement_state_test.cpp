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
        out += e.kind == Kind::banned     ? "banned "
               : e.kind == Kind::lifted   ? "lifted "
               : e.kind == Kind::withheld ? "withheld "
                                          : "refused ";
        out += e.ban.key.to_string();
        if (!e.replaces.empty()) out += "+" + std::to_string(e.replaces.size());
        out += ";";
    }
    return out;
}

const std::vector<std::string> kBadRcpt = {"badrcpt"};

RelayFacts provider(std::string domain = "relay.example") {
    return {true, SharedRelay{SharedRelay::Why::provider, std::move(domain)}};
}
const RelayFacts kNotARelay{true, std::nullopt};

}  // namespace

BOOST_AUTO_TEST_SUITE(enforcement_state)

// Five unknown recipients from a provider's relay: five rejections, no ban.
BOOST_AUTO_TEST_CASE(a_shared_relay_is_never_banned_on_mta_rejections) {
    EnforcementState s(config());
    for (int i = 0; i < 5; ++i) {
        const auto out = s.record_rejection(ip("192.0.2.7"), kBadRcpt, kT0 + i, provider());
        BOOST_TEST(!out.new_ban);
        BOOST_TEST(out.withheld.has_value() == (i == 4));
    }
    BOOST_TEST(describe(s.take_events()) == "withheld 192.0.2.7;");
    BOOST_TEST(s.ban_count() == 0u);
    const auto row = s.tally_of(*Cidr::parse("192.0.2.7"), kT0 + 5);
    BOOST_TEST(row->withheld == 1u);
    BOOST_TEST(row->relay == "provider:relay.example");
    // The same from an ordinary client is a ban.
    for (int i = 0; i < 5; ++i)
        s.record_rejection(ip("198.51.100.9"), kBadRcpt, kT0 + i, kNotARelay);
    BOOST_TEST(describe(s.take_events()) == "banned 198.51.100.9;");
}

BOOST_AUTO_TEST_CASE(a_spamtrap_alone_does_not_ban_a_shared_relay_by_default) {
    EnforcementState s(config());
    BOOST_TEST(!s.record_rejection(ip("192.0.2.7"), kTrap, kT0, provider()).new_ban);
    BOOST_TEST(describe(s.take_events()) == "withheld 192.0.2.7;");
    BOOST_TEST(s.record_rejection(ip("198.51.100.9"), kTrap, kT0, kNotARelay).new_ban.has_value());
}

BOOST_AUTO_TEST_CASE(an_opted_in_spamtrap_ban_of_a_relay_is_capped_and_repeat_growth_too) {
    EnforcementState s(conf::parse_milter_config(
        "[escalation]\nban_duration = \"1d\"\nrules = [\"ban at first spamtrap including "
        "shared-relay for 30d\"]\n[shared_relays]\nmax_ban = \"2h\"\n",
        "test.conf"));
    const auto first = s.record_rejection(ip("192.0.2.7"), kTrap, kT0, provider());
    BOOST_REQUIRE(first.new_ban);
    BOOST_TEST(first.new_ban->expires - first.new_ban->since == 7200);
    // An ordinary client gets the rule's 30 days.
    const auto other = s.record_rejection(ip("198.51.100.9"), kTrap, kT0, kNotARelay);
    BOOST_REQUIRE(other.new_ban);
    BOOST_TEST(other.new_ban->expires - other.new_ban->since == 30 * 86400);
    s.expire(kT0 + 7200);
    const auto again = s.record_rejection(ip("192.0.2.7"), kTrap, kT0 + 7300, provider());
    BOOST_REQUIRE(again.new_ban);
    BOOST_TEST(again.new_ban->expires - again.new_ban->since == 7200);
}

BOOST_AUTO_TEST_CASE(good_mail_history_makes_a_shared_relay) {
    EnforcementState s(config("[shared_relays]\ngood_mail = 3\n"));
    for (int i = 0; i < 3; ++i) s.record_accepted(ip("192.0.2.7"), kT0 - 7200 + i);
    // good_mail_ratio looks at the window only: these rejections are an hour later.
    for (int i = 0; i < 5; ++i) s.record_rejection(ip("192.0.2.7"), kBadRcpt, kT0 + i, kNotARelay);
    BOOST_TEST(describe(s.take_events()) == "withheld 192.0.2.7;");
    BOOST_TEST(s.shared_relay(*Cidr::parse("192.0.2.7"))->to_string() == "good-mail:3");
    // Two accepted messages are not a history.
    for (int i = 0; i < 2; ++i) s.record_accepted(ip("192.0.2.8"), kT0 - 7200 + i);
    for (int i = 0; i < 5; ++i) s.record_rejection(ip("192.0.2.8"), kBadRcpt, kT0 + i, kNotARelay);
    BOOST_TEST(describe(s.take_events()) == "banned 192.0.2.8;");
}

BOOST_AUTO_TEST_CASE(what_a_session_showed_stands_until_a_conclusive_one_says_otherwise) {
    EnforcementState s(config());
    const Cidr key = *Cidr::parse("192.0.2.7");
    s.record_session(ip("192.0.2.7"), kT0);
    s.record_relay(ip("192.0.2.7"), provider());
    BOOST_TEST(s.shared_relay(key)->to_string() == "provider:relay.example");
    // DNS did not answer this time: still the relay we saw.
    BOOST_TEST(!s.record_rejection(ip("192.0.2.7"), kTrap, kT0 + 1, RelayFacts{}).new_ban);
    BOOST_TEST(describe(s.take_events()) == "withheld 192.0.2.7;");
    // Its PTR moved away from the provider: an ordinary client now.
    s.record_relay(ip("192.0.2.7"), kNotARelay);
    BOOST_TEST(!s.shared_relay(key));
    BOOST_TEST(s.record_rejection(ip("192.0.2.7"), kTrap, kT0 + 2, kNotARelay).new_ban.has_value());
}

// Four relays in one /24 build no block, nor do ordinary bans around a relay.
BOOST_AUTO_TEST_CASE(no_block_covers_a_shared_relay) {
    EnforcementState s(conf::parse_milter_config(
        "[escalation]\nrules = [\"ban at first spamtrap including shared-relay\"]\n"
        "[aggregation]\nmin_banned = 3\n",
        "test.conf"));
    for (const char* a : {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"})
        s.record_rejection(ip(a), kTrap, kT0, provider());
    BOOST_TEST(describe(s.take_events()) ==
               "banned 192.0.2.1;banned 192.0.2.2;banned 192.0.2.3;banned 192.0.2.4;");
    s.record_session(ip("198.51.100.200"), kT0);
    s.record_relay(ip("198.51.100.200"), provider());
    for (const char* a : {"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"})
        s.record_rejection(ip(a), kTrap, kT0, kNotARelay);
    BOOST_TEST(describe(s.take_events()) ==
               "banned 198.51.100.1;banned 198.51.100.2;banned 198.51.100.3;banned "
               "198.51.100.4;");
    // Elsewhere, blocks are built as before.
    for (const char* a : {"203.0.113.1", "203.0.113.2", "203.0.113.3"})
        s.record_rejection(ip(a), kTrap, kT0, kNotARelay);
    BOOST_TEST(describe(s.take_events()) ==
               "banned 203.0.113.1;banned 203.0.113.2;banned 203.0.113.3;banned "
               "203.0.113.0/24+3;");
}

BOOST_AUTO_TEST_CASE(a_manual_ban_over_a_shared_relay_is_made_and_says_so) {
    EnforcementState s(config());
    s.record_session(ip("192.0.2.7"), kT0);
    s.record_relay(ip("192.0.2.7"), provider("google.com"));
    const auto result = s.manual_ban(*Cidr::parse("192.0.2.0/24"), std::chrono::hours(1), "", kT0);
    BOOST_TEST(result.ok);
    BOOST_TEST(
        result.message ==
        "banned 192.0.2.0/24; note: it holds shared relays: 192.0.2.7 (provider:google.com)");
}

BOOST_AUTO_TEST_CASE(relay_facts_come_from_the_confirmed_ptr_and_dnswl) {
    const RelayDomains domains({"google.com", "mail-out.ovh.net"});
    BOOST_TEST(*domains.domain_of("mail-yw1-f41.google.com") == "google.com");
    BOOST_TEST(*domains.domain_of("MAIL-YW1-F41.Google.COM.") == "google.com");
    BOOST_TEST(*domains.domain_of("10.mo3.mail-out.ovh.net") == "mail-out.ovh.net");
    BOOST_TEST(*domains.domain_of("google.com") == "google.com");
    BOOST_TEST(!domains.domain_of("notgoogle.com"));
    BOOST_TEST(!domains.domain_of("google.com.evil.example"));
    BOOST_TEST(!domains.domain_of("vps-1.vps.ovh.net"));
    BOOST_TEST(!domains.domain_of(""));

    dns::DnsFacts facts;
    BOOST_TEST(!relay_facts(facts, domains).conclusive);  // PTR not asked yet
    facts.ptr.progress = dns::Progress::done;
    facts.ptr.outcome = dns::PtrFacts::Outcome::temp_error;
    BOOST_TEST(!relay_facts(facts, domains).conclusive);
    facts.ptr.outcome = dns::PtrFacts::Outcome::unconfirmed;
    facts.ptr.names = {"mail-yw1-f41.google.com"};
    auto r = relay_facts(facts, domains);
    BOOST_TEST((r.conclusive && !r.relay));  // a PTR anyone can write is not a provider
    facts.ptr.outcome = dns::PtrFacts::Outcome::confirmed;
    facts.ptr.confirmed_name = "mail-yw1-f41.google.com";
    BOOST_TEST(relay_facts(facts, domains).relay->to_string() == "provider:google.com");
    dns::ZoneFact wl;
    wl.tag = "dnswl";
    wl.weight = -20;
    wl.progress = dns::Progress::done;
    wl.verdict = dns::ZoneVerdict::listed;
    facts.zones.push_back(wl);
    BOOST_TEST(relay_facts(facts, domains).relay->to_string() == "dnswl:dnswl");

    BOOST_TEST(SharedRelay::parse("good-mail:12")->to_string() == "good-mail:12");
    BOOST_TEST(!SharedRelay::parse("friend:x"));
    BOOST_TEST(!SharedRelay::parse("provider:"));
}

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
