#include <boost/test/unit_test.hpp>

#include "common/net.hpp"

using namespace smtpwall;

BOOST_AUTO_TEST_SUITE(net)

BOOST_AUTO_TEST_CASE(parses_and_formats_addresses) {
    BOOST_TEST(IpAddress::parse("192.0.2.1")->to_string() == "192.0.2.1");
    BOOST_TEST(IpAddress::parse("2001:DB8::1")->to_string() == "2001:db8::1");
    BOOST_TEST(!IpAddress::parse(""));
    BOOST_TEST(!IpAddress::parse("192.0.2"));
    BOOST_TEST(!IpAddress::parse("192.0.2.256"));
    BOOST_TEST(!IpAddress::parse(" 192.0.2.1"));
    BOOST_TEST(!IpAddress::parse(std::string(100, '1')));
}

BOOST_AUTO_TEST_CASE(cidr_requires_clean_host_bits) {
    BOOST_TEST(Cidr::parse("192.0.2.0/24")->to_string() == "192.0.2.0/24");
    BOOST_TEST(!Cidr::parse("192.0.2.1/24"));
    BOOST_TEST(Cidr::parse("192.0.2.1/24", true)->to_string() == "192.0.2.0/24");
    BOOST_TEST(Cidr::parse("192.0.2.1")->to_string() == "192.0.2.1");
    BOOST_TEST(Cidr::parse("192.0.2.1/32")->to_string() == "192.0.2.1");
    BOOST_TEST(Cidr::parse("2001:db8::/32")->to_string() == "2001:db8::/32");
    BOOST_TEST(!Cidr::parse("192.0.2.0/33"));
    BOOST_TEST(!Cidr::parse("192.0.2.0/"));
    BOOST_TEST(!Cidr::parse("192.0.2.0/-1"));
    BOOST_TEST(!Cidr::parse("192.0.2.0/2a"));
    BOOST_TEST(Cidr::parse("0.0.0.0/0")->prefix == 0);
    BOOST_TEST(Cidr::parse("10.0.0.0/9", true)->to_string() == "10.0.0.0/9");
    BOOST_TEST(Cidr::parse("10.255.0.0/9", true)->to_string() == "10.128.0.0/9");
}

BOOST_AUTO_TEST_CASE(containment_and_overlap) {
    const auto net = *Cidr::parse("192.0.2.0/24");
    BOOST_TEST(net.contains(*IpAddress::parse("192.0.2.200")));
    BOOST_TEST(!net.contains(*IpAddress::parse("192.0.3.1")));
    BOOST_TEST(!net.contains(*IpAddress::parse("2001:db8::1")));
    BOOST_TEST(net.overlaps(*Cidr::parse("192.0.0.0/16")));
    BOOST_TEST(net.overlaps(*Cidr::parse("192.0.2.7")));
    BOOST_TEST(!net.overlaps(*Cidr::parse("192.0.3.0/24")));
}

BOOST_AUTO_TEST_CASE(address_classes) {
    BOOST_TEST(IpAddress::parse("127.1.2.3")->is_loopback());
    BOOST_TEST(IpAddress::parse("::1")->is_loopback());
    BOOST_TEST(IpAddress::parse("::ffff:127.0.0.1")->is_loopback());
    BOOST_TEST(!IpAddress::parse("192.0.2.1")->is_loopback());
    BOOST_TEST(IpAddress::parse("fe80::1")->is_link_local());
    BOOST_TEST(IpAddress::parse("169.254.1.1")->is_link_local());
    BOOST_TEST(IpAddress::parse("ff02::1")->is_multicast());
    BOOST_TEST(IpAddress::parse("::ffff:192.0.2.9")->unmapped().to_string() == "192.0.2.9");
}

BOOST_AUTO_TEST_CASE(tally_keys_group_ipv6_per_64) {
    BOOST_TEST(tally_key(*IpAddress::parse("192.0.2.9")).to_string() == "192.0.2.9");
    BOOST_TEST(tally_key(*IpAddress::parse("2001:db8:1:2:aaaa::1")).to_string() ==
               "2001:db8:1:2::/64");
    BOOST_TEST(tally_key(*IpAddress::parse("::ffff:192.0.2.9")).to_string() == "192.0.2.9");
    BOOST_TEST(tally_key(*IpAddress::parse("192.0.2.9"), 24, 64).to_string() == "192.0.2.0/24");
}

BOOST_AUTO_TEST_SUITE_END()
