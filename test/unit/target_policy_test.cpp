// What the helper may ever drop: the last line of defence against a milter that was
// fooled (or written) into banning the host itself or something it must reach.
#include <boost/test/unit_test.hpp>

#include "firewall/target_policy.hpp"

using namespace smtpwall;

namespace {

Cidr net(std::string_view text) {
    const auto parsed = Cidr::parse(text);
    BOOST_TEST_INFO("network " << text);
    BOOST_REQUIRE(parsed);
    return *parsed;
}

TargetLimits limits() {
    TargetLimits l;
    l.protected_nets = CidrList({net("198.51.100.0/24"), net("2001:db8:ffff::/48")});
    l.own_addresses = {*IpAddress::parse("192.0.2.1"), *IpAddress::parse("2001:db8:1::1")};
    l.min_prefix_v4 = 16;
    l.min_prefix_v6 = 32;
    l.embedding = Ipv4Embedding({net("2001:db8:64::/96"), net("2001:db8:4600::/40")});
    return l;
}

bool refused(std::string_view text) {
    return refusal_reason(net(text), limits()).has_value();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(target_policy)

BOOST_AUTO_TEST_CASE(ordinary_clients_may_be_dropped) {
    for (const char* ok :
         {"192.0.2.50", "203.0.113.0/24", "8.8.8.8", "10.1.0.0/16", "2001:db8:1::50",
          "2001:db8:2::/64", "2a00:1450::/32", "223.255.255.255", "1.0.0.0/16"}) {
        BOOST_TEST_CONTEXT("network " << ok) {
            BOOST_TEST(!refusal_reason(net(ok), limits()).has_value());
        }
    }
}

BOOST_AUTO_TEST_CASE(loopback_is_never_dropped) {
    BOOST_TEST(refused("127.0.0.1"));
    BOOST_TEST(refused("127.255.255.254"));
    BOOST_TEST(refused("127.0.0.0/16"));
    BOOST_TEST(refused("::1"));
    const auto why = refusal_reason(net("127.0.0.1"), limits());
    BOOST_REQUIRE(why);
    BOOST_TEST(why->find("127.0.0.0/8") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(mapped_unspecified_link_local_multicast_this_network) {
    BOOST_TEST(refused("::ffff:192.0.2.50"));  // ban the IPv4 address, not its mapped form
    BOOST_TEST(refused("::ffff:127.0.0.1"));
    BOOST_TEST(refused("::"));
    BOOST_TEST(refused("0.0.0.0"));
    BOOST_TEST(refused("0.1.2.3"));
    BOOST_TEST(refused("169.254.1.1"));
    BOOST_TEST(refused("169.254.0.0/16"));
    BOOST_TEST(refused("fe80::1"));
    BOOST_TEST(refused("febf:ffff::1"));
    BOOST_TEST(refused("224.0.0.1"));
    BOOST_TEST(refused("239.255.255.250"));
    BOOST_TEST(refused("240.0.0.1"));
    BOOST_TEST(refused("255.255.255.255"));
    BOOST_TEST(refused("ff02::1"));
    BOOST_TEST(refused("ff00::/8"));
    BOOST_TEST(!refused("fec0::1"));  // just outside fe80::/10
}

BOOST_AUTO_TEST_CASE(a_network_holding_a_reserved_range_is_refused) {
    TargetLimits wide = limits();
    wide.min_prefix_v4 = 0;
    wide.min_prefix_v6 = 0;
    BOOST_TEST(refusal_reason(net("0.0.0.0/0"), wide).has_value());
    BOOST_TEST(refusal_reason(net("96.0.0.0/3"), wide).has_value());  // holds 127/8
    BOOST_TEST(refusal_reason(net("::/0"), wide).has_value());
    BOOST_TEST(refusal_reason(net("::/96"), wide).has_value());          // holds ::1
    BOOST_TEST(refusal_reason(net("2001:db8::/32"), wide).has_value());  // holds 2001:db8:1::1
    BOOST_TEST(!refusal_reason(net("2a00::/16"), wide).has_value());
}

BOOST_AUTO_TEST_CASE(own_addresses_are_never_dropped) {
    BOOST_TEST(refused("192.0.2.1"));
    BOOST_TEST(refused("192.0.2.0/24"));  // holds our address
    BOOST_TEST(refused("192.0.0.0/16"));
    BOOST_TEST(!refused("192.0.2.2"));
    BOOST_TEST(!refused("192.0.2.2/31"));  // 192.0.2.2-3: not us
    BOOST_TEST(refused("192.0.2.0/31"));   // 192.0.2.0-1: us
    BOOST_TEST(refused("2001:db8:1::1"));
    BOOST_TEST(refused("2001:db8:1::/64"));
    BOOST_TEST(!refused("2001:db8:1::2"));
    const auto why = refusal_reason(net("192.0.2.0/24"), limits());
    BOOST_REQUIRE(why);
    BOOST_TEST(why->find("192.0.2.1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(protected_networks_overlap_both_ways) {
    BOOST_TEST(refused("198.51.100.7"));       // inside
    BOOST_TEST(refused("198.51.100.0/24"));    // equal
    BOOST_TEST(refused("198.51.100.128/25"));  // inside
    BOOST_TEST(refused("198.51.0.0/16"));      // holds it
    BOOST_TEST(!refused("198.51.101.0/24"));   // next door
    BOOST_TEST(!refused("198.51.99.255"));
    BOOST_TEST(refused("2001:db8:ffff:1::/64"));
    BOOST_TEST(refused("2001:db8:fffe::/47"));  // holds 2001:db8:ffff::/48
    BOOST_TEST(!refused("2001:db8:fffe::/48"));
    const auto why = refusal_reason(net("198.51.0.0/16"), limits());
    BOOST_REQUIRE(why);
    BOOST_TEST(why->find("198.51.100.0/24") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(minimum_prefix_per_family) {
    BOOST_TEST(refused("10.0.0.0/8"));
    BOOST_TEST(refused("10.0.0.0/15"));
    BOOST_TEST(!refused("10.0.0.0/16"));
    BOOST_TEST(refused("2a00::/31"));
    BOOST_TEST(!refused("2a00::/32"));
    const auto why = refusal_reason(net("10.0.0.0/8"), limits());
    BOOST_REQUIRE(why);
    BOOST_TEST(why->find("/8") != std::string::npos);
    BOOST_TEST(why->find("/16") != std::string::npos);

    TargetLimits strict = limits();
    strict.min_prefix_v4 = 24;
    strict.min_prefix_v6 = 64;
    BOOST_TEST(refusal_reason(net("10.1.0.0/16"), strict).has_value());
    BOOST_TEST(!refusal_reason(net("10.1.2.0/24"), strict).has_value());
    BOOST_TEST(refusal_reason(net("2a00:1::/48"), strict).has_value());
    BOOST_TEST(!refusal_reason(net("2a00:1::/64"), strict).has_value());
}

BOOST_AUTO_TEST_CASE(families_do_not_mix) {
    TargetLimits l = limits();
    l.protected_nets = CidrList({net("0.0.0.0/8")});
    BOOST_TEST(!refusal_reason(net("2001:db8:1::50"), l).has_value());
    l.protected_nets = CidrList({net("2001:db8::/32")});
    BOOST_TEST(!refusal_reason(net("192.0.2.50"), l).has_value());
}

// Written in NAT64 notation, a protected network or own address shields its IPv4 in
// every form.
BOOST_AUTO_TEST_CASE(embedded_protection_shields_the_ipv4_it_carries) {
    TargetLimits l = limits();
    l.protected_nets = CidrList({net("64:ff9b::c633:6400/120")});
    l.own_addresses = {*IpAddress::parse("64:ff9b::c000:201")};
    BOOST_TEST(refusal_reason(net("198.51.100.7"), l).has_value());
    BOOST_TEST(refusal_reason(net("2002:c633:6407::/48"), l).has_value());
    BOOST_TEST(refusal_reason(net("64:ff9b::c633:6407"), l).has_value());
    BOOST_TEST(refusal_reason(net("192.0.2.1"), l).has_value());
    BOOST_TEST(refusal_reason(net("2002:c000:201::/48"), l).has_value());
    BOOST_TEST(!refusal_reason(net("198.51.101.7"), l).has_value());
    BOOST_TEST(!refusal_reason(net("192.0.2.2"), l).has_value());
}

// 64:ff9b::/96 is the whole IPv4 Internet; every IPv4 rule holds in every embedded form.
BOOST_AUTO_TEST_CASE(ipv4_inside_ipv6_meets_the_ipv4_rules) {
    for (const char* bad : {
             "64:ff9b::/96",
             "64:ff9b::/64",
             "64:ff9b::/104",  // all or a /8 of IPv4
             "64:ff9b:1::/48",
             "64:ff9b:1::/56",  // local-use NAT64
             "2001:db8:64::/96",
             "2001:db8:64::/112",  // the site's NAT64 /96; 0.0.0.0/16
             "2001:db8:4600::/40",
             "2001:db8:4600::/48",  // the site's NAT64 /40
             "2002::/16",
             "2002::/24",  // 6to4
             "64:ff9b::7f00:1",
             "64:ff9b::7f00:0/104",  // loopback
             "2002:7f00:1::/48",
             "2002:7f00::/24",
             "64:ff9b::c000:201",
             "2002:c000:201::/48",  // this host's 192.0.2.1
             "2001:db8:64::c000:201",
             "64:ff9b::c633:6407",
             "2002:c633:6400::/40",  // protected 198.51.100.0/24
             "64:ff9b:1:c633:64:700::",
             "2001:db8:46c6:3364:7::",
             "::ffff:192.0.2.50",
             "::ffff:0:0/96",        // mapped: ban the IPv4 itself
             "2001:db8:64::a9fe:1",  // link-local 169.254.0.1
         }) {
        BOOST_TEST_CONTEXT("network " << bad) {
            BOOST_TEST(refused(bad));
        }
    }
    // What carries an ordinary client's IPv4 may be dropped, in every form.
    for (const char* ok : {"64:ff9b::cb00:7107", "64:ff9b::cb00:7100/120", "2002:cb00:7107::/48",
                           "2002:cb00:7107:1::/64", "2001:db8:64::cb00:7107",
                           "2001:db8:46cb:71:7::", "64:ff9b:1:cb00:71:700::"}) {
        BOOST_TEST_CONTEXT("network " << ok) {
            BOOST_TEST(!refusal_reason(net(ok), limits()).has_value());
        }
    }
    const auto why = refusal_reason(net("64:ff9b::c633:6407"), limits());
    BOOST_REQUIRE(why);
    BOOST_TEST(why->find("198.51.100.7") != std::string::npos, *why);
}

BOOST_AUTO_TEST_CASE(teredo_only_as_single_addresses) {
    BOOST_TEST(refused("2001::/32"));
    BOOST_TEST(refused("2001:0:4136:e378::/64"));
    BOOST_TEST(refused("2001:0:4136:e378:8000:63bf:3fff:fdd2/127"));
    BOOST_TEST(!refused("2001:0:4136:e378:8000:63bf:3fff:fdd2"));
}

BOOST_AUTO_TEST_SUITE_END()
