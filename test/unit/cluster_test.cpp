// The cluster's pure parts: how operations and tallies are spelled in Redis
// (core/cluster_codec.hpp) and what the enforcement policy does with the other hosts'
// counts and changes (core/enforcement_state.hpp). Redis itself: cluster_test.sh.
#include <boost/test/unit_test.hpp>

#include "core/cluster_codec.hpp"
#include "core/enforcement_state.hpp"

using namespace smtpwall;
using cluster::Op;

namespace {

constexpr UnixTime kT0 = 1'800'000'000;

IpAddress ip(std::string_view s) {
    return *IpAddress::parse(s);
}

Ban a_ban() {
    return Ban{*Cidr::parse("192.0.2.7"),      {"bad-helo", "cbl"}, kT0,   kT0 + 3600,
               "ban after 5 rejections in 1h", BanOrigin::policy,   false, "mx2"};
}

std::vector<std::string> with(std::vector<std::string> fields, const std::string& field,
                              const std::string& value) {
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2)
        if (fields[i] == field) fields[i + 1] = value;
    return fields;
}

conf::MilterConfig config(std::string_view extra = "") {
    return conf::parse_milter_config(std::string(extra), "test.conf");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cluster_codec)

BOOST_AUTO_TEST_CASE(operations_round_trip) {
    const Op ban{Op::Kind::ban, a_ban(), "mx2"};
    BOOST_TEST((cluster::parse_op(cluster::op_fields(ban)) == ban));
    Op unban{Op::Kind::unban, {}, "mx1"};
    unban.ban.key = *Cidr::parse("2001:db8:5::/64");
    BOOST_TEST((cluster::parse_op(cluster::op_fields(unban)) == unban));
    Op allow{Op::Kind::allow, {}, "mx-3.example"};
    allow.ban.key = *Cidr::parse("198.51.100.0/24");
    BOOST_TEST((cluster::parse_op(cluster::op_fields(allow)) == allow));
}

// What a compromised or foreign writer puts in the log gets no further than the codec.
BOOST_AUTO_TEST_CASE(malformed_operations_are_refused) {
    const auto good = cluster::op_fields(Op{Op::Kind::ban, a_ban(), "mx2"});
    BOOST_TEST(cluster::parse_op(good).has_value());
    for (const auto& [field, value] : std::vector<std::pair<std::string, std::string>>{
             {"op", "flush"},
             {"net", "192.0.2.7/33"},
             {"net", "192.0.2.07"},
             {"net", "192.0.2.8/24"},  // not the network's own spelling
             {"since", "-1"},
             {"expires", "0123"},
             {"expires", "1e9"},
             {"origin", "root"},
             {"tags", "Bad Tag"},
             {"tags", "a,b,c,d,e,f,g,h,i"},
             {"host", "mx|1"},
             {"host", ""},
         })
        BOOST_TEST(!cluster::parse_op(with(good, field, value)), field << "=" << value);
    auto odd = good;
    odd.pop_back();
    BOOST_TEST(!cluster::parse_op(odd));
    auto extra = good;
    extra.insert(extra.end(), {"shell", "rm -rf /"});
    BOOST_TEST(!cluster::parse_op(extra));
    auto twice = good;
    twice.insert(twice.end(), {"net", "192.0.2.7"});
    BOOST_TEST(!cluster::parse_op(twice));
}

BOOST_AUTO_TEST_CASE(tallies_are_absolute_buckets_per_host) {
    const std::chrono::seconds window(3600);  // buckets of 225 s
    TallyStore store(window, 100);
    const Cidr key = *Cidr::parse("192.0.2.7");
    const std::vector<std::string> helo = {"bad-helo"};
    store.record_rejection(key, helo, kT0);
    store.record_rejection(key, helo, kT0 + 1);
    store.record_accepted(key, kT0 + 2);
    const Tally& t = *store.find(key);
    const auto args = cluster::tally_merge_args("mx1", t, store.tag_hits(t), window, kT0 + 10);
    const auto bucket = std::to_string(kT0 / 225);
    BOOST_TEST(args[0] == "mx1");
    BOOST_TEST(args[2] == "225");
    const std::vector<std::string> pairs(args.begin() + 5, args.end());
    BOOST_TEST(
        pairs == (std::vector<std::string>{"r|" + bucket + "|mx1", "2", "a|" + bucket + "|mx1", "1",
                                           "g|bad-helo|mx1", std::to_string(kT0 + 1)}),
        boost::test_tools::per_element());

    const auto elsewhere =
        cluster::parse_elsewhere({"r|100|mx2", "3", "r|100|mx3", "1", "r|101|mx2", "2", "a|101|mx3",
                                  "4", "g|cbl|mx2", "50", "g|cbl|mx3", "70", "bans", "2"});
    BOOST_REQUIRE(elsewhere);
    BOOST_TEST((elsewhere->rejected ==
                std::vector<std::pair<std::uint32_t, std::uint32_t>>{{100, 4}, {101, 2}}));
    BOOST_TEST(
        (elsewhere->accepted == std::vector<std::pair<std::uint32_t, std::uint32_t>>{{101, 4}}));
    BOOST_TEST((elsewhere->tags == std::vector<std::pair<std::string, UnixTime>>{{"cbl", 70}}));
    BOOST_TEST(elsewhere->bans == 2u);
    BOOST_TEST(!cluster::parse_elsewhere({"r|100|mx2"}));
    BOOST_TEST(!cluster::parse_elsewhere({"r|x|mx2", "1"}));
    BOOST_TEST(!cluster::parse_elsewhere({"z|1|mx2", "1"}));
    BOOST_TEST(!cluster::parse_elsewhere({"r|1|mx2", "-1"}));

    // For `show`: per host, within the window only.
    const auto now = static_cast<UnixTime>(1000) * 225;
    const auto per_host =
        cluster::counts_per_host({"r|1000|mx1", "2", "r|990|mx1", "1", "a|999|mx2", "4",
                                  "r|984|mx2", "7", "bans", "1", "g|cbl|mx1", "5"},
                                 window, now);
    BOOST_TEST(per_host.size() == 2u);
    BOOST_TEST((per_host.at("mx1") == cluster::HostCounts{3, 0}));
    BOOST_TEST((per_host.at("mx2") == cluster::HostCounts{0, 4}));  // bucket 984 is too old
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cluster_enforcement)

// 2 rejections here and 3 counted elsewhere make 5: the rule fires here.
BOOST_AUTO_TEST_CASE(the_rules_judge_every_hosts_counts) {
    EnforcementState s(config());
    s.join_cluster("mx1");
    const std::vector<std::string> helo = {"bad-helo"};
    for (int i = 0; i < 2; ++i) s.record_rejection(ip("192.0.2.7"), helo, kT0 + i);
    auto pushes = s.take_tally_pushes(kT0 + 2);
    BOOST_REQUIRE(pushes.size() == 1u);
    BOOST_TEST(pushes[0].key.to_string() == "192.0.2.7");
    BOOST_TEST(s.take_tally_pushes(kT0 + 2).empty());
    TallyElsewhere there;
    there.rejected = {{static_cast<std::uint32_t>(kT0 / 225), 2}};
    s.merge_elsewhere(*Cidr::parse("192.0.2.7"), there, kT0 + 3);
    BOOST_TEST(s.ban_count() == 0u);  // 4
    there.rejected = {{static_cast<std::uint32_t>(kT0 / 225), 3}};
    s.merge_elsewhere(*Cidr::parse("192.0.2.7"), there, kT0 + 4);
    BOOST_TEST(s.ban_count() == 1u);  // 5
    const auto outbox = s.outbox(10);
    BOOST_REQUIRE(outbox.size() == 1u);
    BOOST_TEST((outbox[0].op.kind == Op::Kind::ban));
    BOOST_TEST(outbox[0].op.host == "mx1");
    s.published(outbox[0].seq);
    BOOST_TEST(s.outbox_size() == 0u);
}

BOOST_AUTO_TEST_CASE(a_repeat_offender_anywhere_gets_the_longer_ban) {
    EnforcementState s(config("[escalation]\nban_duration = \"1d\"\n"));
    s.join_cluster("mx2");
    const std::vector<std::string> trap = {"spamtrap"};
    s.record_session(ip("192.0.2.7"), kT0);
    TallyElsewhere there;
    there.bans = 1;  // banned once before, at another host
    s.merge_elsewhere(*Cidr::parse("192.0.2.7"), there, kT0);
    const auto out = s.record_rejection(ip("192.0.2.7"), trap, kT0 + 1);
    BOOST_REQUIRE(out.new_ban);
    BOOST_TEST(out.new_ban->expires - out.new_ban->since == 2 * 86400);
}

// Redis can ask, not force.
BOOST_AUTO_TEST_CASE(changes_from_elsewhere_pass_the_same_checks) {
    EnforcementState s(config("[checks]\nallowlist = [\"203.0.113.0/24\"]\n"));
    s.join_cluster("mx1");
    Op op{Op::Kind::ban, a_ban(), "mx2"};
    BOOST_TEST(s.apply(op, kT0) == "");
    BOOST_TEST(s.is_banned(ip("192.0.2.7")));
    BOOST_TEST(s.outbox_size() == 0u);  // not ours to publish
    op.ban.key = *Cidr::parse("203.0.113.9");
    BOOST_TEST(s.apply(op, kT0) != "");
    op.ban.key = *Cidr::parse("127.0.0.1");
    BOOST_TEST(s.apply(op, kT0) != "");
    op.ban.key = *Cidr::parse("0.0.0.0/0");
    BOOST_TEST(s.apply(op, kT0) != "");
    // Under the name of a policy or netblock ban, nothing broader than they are.
    op.ban.key = *Cidr::parse("192.0.0.0/16");
    BOOST_TEST(s.apply(op, kT0) == "not the size of a tally");
    op.ban.origin = BanOrigin::netblock;
    BOOST_TEST(s.apply(op, kT0) == "not the size of a netblock");
    op.ban.key = *Cidr::parse("192.0.3.0/24");
    BOOST_TEST(s.apply(op, kT0) == "");
    op.ban.origin = BanOrigin::policy;
    op.ban.key = *Cidr::parse("198.51.100.9");
    op.ban.expires = kT0 - 1;
    BOOST_TEST(s.apply(op, kT0) == "expired");
    // A shared relay here is banned only under a rule that includes shared relays.
    s.record_session(ip("198.51.100.20"), kT0);
    s.record_relay(ip("198.51.100.20"),
                   {true, SharedRelay{SharedRelay::Why::provider, "relay.example"}});
    op.ban.key = *Cidr::parse("198.51.100.20");
    op.ban.expires = kT0 + 60;
    BOOST_TEST(s.apply(op, kT0).starts_with("a shared relay here"));
    op.ban.rule = "ban at first spamtrap including shared-relay";
    BOOST_TEST(s.apply(op, kT0) == "");
    // An unban from elsewhere lifts and forgives; an allow protects.
    Op unban{Op::Kind::unban, {}, "mx2"};
    unban.ban.key = *Cidr::parse("192.0.2.7");
    BOOST_TEST(s.apply(unban, kT0 + 1) == "");
    BOOST_TEST(!s.is_banned(ip("192.0.2.7")));
    Op allow{Op::Kind::allow, {}, "mx3"};
    allow.ban.key = *Cidr::parse("198.51.100.0/24");
    BOOST_TEST(s.apply(allow, kT0 + 2) == "");
    BOOST_TEST(!s.is_banned(ip("198.51.100.20")));
    BOOST_TEST(s.runtime_allows().size() == 1u);
    BOOST_TEST(s.outbox_size() == 0u);
}

BOOST_AUTO_TEST_CASE(one_ban_on_the_clusters_terms) {
    EnforcementState s(config());
    s.join_cluster("mx1");
    const std::vector<std::string> trap = {"spamtrap"};
    s.record_rejection(ip("192.0.2.7"), trap, kT0 + 5);
    Ban first = a_ban();  // mx2 banned it a moment earlier
    s.adopt(first);
    const auto held = s.ban_covering(ip("192.0.2.7"));
    BOOST_REQUIRE(held);
    BOOST_TEST(held->host == "mx2");
    BOOST_TEST(held->expires == first.expires);
}

BOOST_AUTO_TEST_CASE(republishing_puts_every_ban_and_allow_back) {
    EnforcementState s(config());
    s.join_cluster("mx1");
    s.apply(Op{Op::Kind::ban, a_ban(), "mx2"}, kT0);
    s.allow(*Cidr::parse("203.0.113.0/24"));
    s.published(s.outbox(10).front().seq);
    BOOST_TEST(s.outbox_size() == 0u);
    s.republish_all();
    const auto out = s.outbox(10);
    BOOST_REQUIRE(out.size() == 2u);
    BOOST_TEST((out[0].op.kind == Op::Kind::allow));
    BOOST_TEST((out[1].op.kind == Op::Kind::ban));
    BOOST_TEST(out[1].op.host == "mx2");  // who decided it stays
}

BOOST_AUTO_TEST_SUITE_END()
