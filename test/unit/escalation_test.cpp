#include <boost/test/unit_test.hpp>

#include "core/escalation.hpp"

using namespace smtpwall;
using std::chrono::seconds;

namespace {

constexpr UnixTime kT0 = 1'800'000'000;
const Cidr kA = *Cidr::parse("192.0.2.7");

conf::EscalationRule rule(std::string_view text) {
    auto parsed = conf::parse_rule(text);
    if (const auto* err = std::get_if<std::string>(&parsed))
        BOOST_FAIL(std::string(text) + ": " + *err);
    return std::get<conf::EscalationRule>(parsed);
}

std::string rule_error(std::string_view text) {
    auto parsed = conf::parse_rule(text);
    return std::holds_alternative<std::string>(parsed) ? std::get<std::string>(parsed) : "";
}

Ban host_ban(std::string_view addr, std::vector<std::string> tags = {"bad-helo"}) {
    return Ban{*Cidr::parse(addr), std::move(tags), kT0, kT0 + 100, "r", BanOrigin::policy, false};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(escalation)

BOOST_AUTO_TEST_CASE(rule_lines_parse) {
    auto r = rule("ban at first spamtrap");
    BOOST_TEST((r.kind == conf::EscalationRule::Kind::first_hit));
    BOOST_TEST(r.tag == "spamtrap");
    BOOST_TEST(!r.duration);
    r = rule("ban after 3 rejections in 1h if cbl and dialup for 30d");
    BOOST_TEST((r.kind == conf::EscalationRule::Kind::threshold));
    BOOST_TEST(r.rejections == 3u);
    BOOST_TEST(r.within.count() == 3600);
    BOOST_TEST(r.required_tags == (std::vector<std::string>{"cbl", "dialup"}));
    BOOST_TEST(r.duration->count() == 30 * 86400);
    BOOST_TEST(rule("ban after 1 rejection in 10m").rejections == 1u);
}

BOOST_AUTO_TEST_CASE(bad_rule_lines_say_why) {
    BOOST_TEST(rule_error("") == "a rule starts with \"ban\"");
    BOOST_TEST(rule_error("ban at first") != "");
    BOOST_TEST(rule_error("ban at first Spam Trap") != "");
    BOOST_TEST(rule_error("ban after 0 rejections in 1h") != "");
    BOOST_TEST(rule_error("ban after -1 rejections in 1h") != "");
    BOOST_TEST(rule_error("ban after 5 rejections") != "");
    BOOST_TEST(rule_error("ban after 5 rejections in soon") != "");
    BOOST_TEST(rule_error("ban after 5 rejections in 1h if") != "");
    BOOST_TEST(rule_error("ban after 5 rejections in 1h if cbl and") != "");
    BOOST_TEST(rule_error("ban after 5 rejections in 1h for") != "");
    BOOST_TEST(rule_error("ban after 5 rejections in 1h please") == "unexpected \"please\"");
}

BOOST_AUTO_TEST_CASE(shared_relay_clauses) {
    BOOST_TEST(!rule("ban at first spamtrap").bans_shared_relays);
    BOOST_TEST(!rule("ban at first spamtrap unless shared-relay").bans_shared_relays);
    BOOST_TEST(!rule("ban after 5 rejections in 1h unless shared-relays").bans_shared_relays);
    auto r = rule("ban at first spamtrap including shared-relay for 1d");
    BOOST_TEST(r.bans_shared_relays);
    BOOST_TEST(r.duration->count() == 86400);
    BOOST_TEST(rule("ban after 2 rejections in 1h if spamtrap and cbl including shared-relays")
                   .bans_shared_relays);
    // Only spamtrap evidence may ban a shared relay.
    const std::string weak =
        "only a rule on spamtrap evidence may ban shared relays (\"ban at first spamtrap\" or "
        "\"... if spamtrap\")";
    BOOST_TEST(rule_error("ban after 5 rejections in 1h including shared-relay") == weak);
    BOOST_TEST(rule_error("ban at first cbl including shared-relay") == weak);
    BOOST_TEST(rule_error("ban after 3 rejections in 1h if badrcpt including shared-relay") ==
               weak);
    BOOST_TEST(rule_error("ban at first spamtrap including everyone") ==
               "expected \"including shared-relay\"");
    BOOST_TEST(rule_error("ban at first spamtrap unless") == "expected \"unless shared-relay\"");
    // The clause comes before "for", once.
    BOOST_TEST(rule_error("ban at first spamtrap for 1d including shared-relay") ==
               "unexpected \"including\"");
    BOOST_TEST(rule_error("ban at first spamtrap unless shared-relay including shared-relay") ==
               "unexpected \"including\"");
}

BOOST_AUTO_TEST_CASE(shared_relays_are_tried_only_with_rules_that_include_them) {
    TallyStore store(seconds(3600), 1000);
    const std::vector<std::string> trap = {"spamtrap"};
    const EscalationPolicy policy{{rule("ban at first spamtrap"),
                                   rule("ban at first spamtrap including shared-relay for 1d")}};
    const auto& t = store.record_rejection(kA, trap, kT0);
    BOOST_TEST(firing_rule(policy, store, t, trap, kT0)->text == "ban at first spamtrap");
    BOOST_TEST(firing_rule(policy, store, t, trap, kT0, true)->text ==
               "ban at first spamtrap including shared-relay for 1d");
    const EscalationPolicy plain{{rule("ban at first spamtrap")}};
    BOOST_TEST(firing_rule(plain, store, t, trap, kT0, true) == nullptr);
}

BOOST_AUTO_TEST_CASE(first_hit_and_threshold) {
    TallyStore store(seconds(3600), 1000);
    EscalationPolicy policy;
    policy.rules = {rule("ban at first spamtrap"), rule("ban after 3 rejections in 1h")};
    const std::vector<std::string> helo = {"bad-helo"}, trap = {"spamtrap"};
    auto& t = store.record_rejection(kA, helo, kT0);
    BOOST_TEST(!firing_rule(policy, store, t, helo, kT0));
    store.record_rejection(kA, helo, kT0 + 10);
    BOOST_TEST(!firing_rule(policy, store, t, helo, kT0 + 10));
    store.record_rejection(kA, trap, kT0 + 20);
    const auto* fired = firing_rule(policy, store, t, trap, kT0 + 20);
    BOOST_REQUIRE(fired);
    BOOST_TEST(fired->text == "ban at first spamtrap");  // first rule in order wins
    store.record_rejection(kA, helo, kT0 + 30);
    BOOST_TEST(firing_rule(policy, store, t, helo, kT0 + 30)->text ==
               "ban after 3 rejections in 1h");
    // Two hours later the window is empty again.
    store.record_rejection(kA, helo, kT0 + 7300);
    BOOST_TEST(!firing_rule(policy, store, t, helo, kT0 + 7300));
}

BOOST_AUTO_TEST_CASE(conditions_on_tags) {
    TallyStore store(seconds(3600), 1000);
    EscalationPolicy policy;
    policy.rules = {rule("ban after 2 rejections in 1h if cbl")};
    const std::vector<std::string> helo = {"bad-helo"}, cbl = {"cbl"};
    auto& t = store.record_rejection(kA, helo, kT0);
    store.record_rejection(kA, helo, kT0 + 1);
    BOOST_TEST(!firing_rule(policy, store, t, helo, kT0 + 1));  // enough rejections, never listed
    store.record_rejection(kA, cbl, kT0 + 2);
    BOOST_TEST(firing_rule(policy, store, t, cbl, kT0 + 2));
}

BOOST_AUTO_TEST_CASE(good_mail_spares_a_busy_sender) {
    TallyStore store(seconds(3600), 1000);
    EscalationPolicy policy;
    policy.rules = {rule("ban after 3 rejections in 1h")};
    policy.good_mail_ratio = 1.0;
    const std::vector<std::string> bad = {"badrcpt"};
    for (int i = 0; i < 50; ++i) store.record_accepted(kA, kT0);
    Tally* t = nullptr;
    for (int i = 0; i < 5; ++i) t = &store.record_rejection(kA, bad, kT0 + i);
    BOOST_TEST(!firing_rule(policy, store, *t, bad, kT0 + 5));
    policy.good_mail_ratio = 0;  // shield off
    BOOST_TEST(firing_rule(policy, store, *t, bad, kT0 + 5));
}

BOOST_AUTO_TEST_CASE(repeat_offenders_get_longer_bans_up_to_a_cap) {
    EscalationPolicy policy;
    policy.repeat_growth = 2.0;
    policy.max_ban_duration = seconds(30 * 86400);
    const seconds week(7 * 86400);
    BOOST_TEST(ban_duration_for(week, policy, 1).count() == week.count());
    BOOST_TEST(ban_duration_for(week, policy, 2).count() == 2 * week.count());
    BOOST_TEST(ban_duration_for(week, policy, 3).count() == 4 * week.count());
    BOOST_TEST(ban_duration_for(week, policy, 4).count() == 30 * 86400);  // capped
    BOOST_TEST(ban_duration_for(week, policy, 60).count() == 30 * 86400);
    policy.repeat_growth = 1.0;
    BOOST_TEST(ban_duration_for(week, policy, 9).count() == week.count());
}

BOOST_AUTO_TEST_CASE(ban_list_expiry_and_coverage) {
    BanList bans;
    BOOST_TEST(bans.add(host_ban("192.0.2.7")));
    BOOST_TEST(!bans.add(host_ban("192.0.2.7")));
    Ban forever = host_ban("2001:db8::/64");
    forever.expires = 0;
    BOOST_TEST(bans.add(forever));
    BOOST_TEST(bans.covering(*IpAddress::parse("192.0.2.7")));
    BOOST_TEST(bans.covering(*IpAddress::parse("2001:db8::abcd")));
    BOOST_TEST(bans.covering(*IpAddress::parse("::ffff:192.0.2.7")));
    BOOST_TEST(!bans.covering(*IpAddress::parse("192.0.2.8")));
    BOOST_TEST(bans.expire(kT0 + 99).empty());
    const auto gone = bans.expire(kT0 + 100);
    BOOST_TEST(gone.size() == 1u);
    BOOST_TEST(gone[0].key == kA);
    BOOST_TEST(bans.size() == 1u);
}

BOOST_AUTO_TEST_CASE(coverage_follows_adds_removals_and_expiry) {
    BanList bans;
    Ban block = host_ban("192.0.2.0/24");
    block.expires = kT0 + 50;
    bans.add(block);
    bans.add(host_ban("192.0.2.7"));
    bans.add(host_ban("2001:db8:1::/48"));
    BOOST_TEST(bans.covering(*IpAddress::parse("192.0.2.7"))->key.to_string() ==
               "192.0.2.7");  // most specific
    BOOST_TEST(bans.covering(*IpAddress::parse("192.0.2.8"))->key.to_string() == "192.0.2.0/24");
    BOOST_TEST(bans.covering(*IpAddress::parse("2001:db8:1:2::9"))->key.to_string() ==
               "2001:db8:1::/48");
    BOOST_TEST(!bans.covering(*IpAddress::parse("2001:db8:2::9")));
    bans.expire(kT0 + 50);
    BOOST_TEST(!bans.covering(*IpAddress::parse("192.0.2.8")));
    BOOST_TEST(bans.covering(*IpAddress::parse("192.0.2.7")));
    bans.remove(*Cidr::parse("192.0.2.7"));
    BOOST_TEST(!bans.covering(*IpAddress::parse("192.0.2.7")));
    BOOST_TEST(bans.count(BanOrigin::policy) == 1u);
}

BOOST_AUTO_TEST_CASE(netblock_after_k_hosts) {
    BanList bans;
    AggregationPolicy policy;  // /24, /48, 4 hosts
    const CidrList none;
    for (const char* a : {"192.0.2.1", "192.0.2.2", "192.0.2.3"}) bans.add(host_ban(a));
    BOOST_TEST(!block_to_ban(*Cidr::parse("192.0.2.3"), bans, policy, none));
    bans.add(host_ban("192.0.2.4"));
    bans.add(host_ban("198.51.100.4"));  // elsewhere: does not count
    const auto block = block_to_ban(*Cidr::parse("192.0.2.4"), bans, policy, none);
    BOOST_REQUIRE(block);
    BOOST_TEST(block->to_string() == "192.0.2.0/24");
    BOOST_TEST(bans.inside(*block).size() == 4u);
    policy.enabled = false;
    BOOST_TEST(!block_to_ban(*Cidr::parse("192.0.2.4"), bans, policy, none));
}

BOOST_AUTO_TEST_CASE(netblock_never_crosses_allowlisted_space) {
    BanList bans;
    AggregationPolicy policy;
    for (const char* a : {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"})
        bans.add(host_ban(a));
    const CidrList allow({*Cidr::parse("192.0.2.128/25")});
    BOOST_TEST(!block_to_ban(*Cidr::parse("192.0.2.4"), bans, policy, allow));
    const CidrList wide({*Cidr::parse("192.0.0.0/16")});
    BOOST_TEST(!block_to_ban(*Cidr::parse("192.0.2.4"), bans, policy, wide));
}

BOOST_AUTO_TEST_CASE(netblock_ipv6_per_48) {
    BanList bans;
    AggregationPolicy policy;
    policy.min_banned = 2;
    bans.add(host_ban("2001:db8:1:1::/64"));
    bans.add(host_ban("2001:db8:1:2::/64"));
    const auto block = block_to_ban(*Cidr::parse("2001:db8:1:2::/64"), bans, policy, {});
    BOOST_REQUIRE(block);
    BOOST_TEST(block->to_string() == "2001:db8:1::/48");
    BOOST_TEST(!block_to_ban(*Cidr::parse("2001:db8:2::/64"), bans, policy, {}));
}

BOOST_AUTO_TEST_SUITE_END()
