// Query-name validation, reverse names (PTR and DNSBL forms) and resolv.conf parsing.
#include <boost/test/unit_test.hpp>

#include "dnsbl/names.hpp"
#include "dnsbl/resolv_conf.hpp"

using namespace smtpwall;
using namespace smtpwall::dns;

namespace {
IpAddress ip(const char* text) {
    return *IpAddress::parse(text);
}
}  // namespace

BOOST_AUTO_TEST_SUITE(dns_names)

BOOST_AUTO_TEST_CASE(normalizes_valid_names) {
    BOOST_TEST(*normalize_name("Mail.Example.COM.") == "mail.example.com");
    BOOST_TEST(*normalize_name("localhost") == "localhost");
    BOOST_TEST(*normalize_name("_dmarc.example.org") == "_dmarc.example.org");
    BOOST_TEST(*normalize_name("5/25.2.0.192.in-addr.arpa") == "5/25.2.0.192.in-addr.arpa");
    const std::string label63(63, 'a');
    BOOST_TEST(normalize_name(label63 + ".example").has_value());
    // 253 characters is the longest name that fits 255 octets on the wire.
    std::string longest = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
    BOOST_TEST(longest.size() == 253u);
    BOOST_TEST(normalize_name(longest).has_value());
    BOOST_TEST(!normalize_name(longest + "b"));
}

BOOST_AUTO_TEST_CASE(rejects_hostile_names) {
    BOOST_TEST(!normalize_name(""));
    BOOST_TEST(!normalize_name("."));
    BOOST_TEST(!normalize_name("a..b"));
    BOOST_TEST(!normalize_name(".a"));
    BOOST_TEST(!normalize_name("a.."));
    BOOST_TEST(!normalize_name(std::string(64, 'a') + ".example"));
    BOOST_TEST(!normalize_name(std::string(300, 'a')));
    BOOST_TEST(!normalize_name("a b.example"));
    BOOST_TEST(!normalize_name("a\\046b.example"));
    BOOST_TEST(!normalize_name("evil\r\nexample"));
    BOOST_TEST(!normalize_name("a\x01.example"));
    BOOST_TEST(!normalize_name(std::string("a\0b.example", 11)));
    BOOST_TEST(!normalize_name("caf\xc3\xa9.example"));
    BOOST_TEST(!normalize_name("a;b.example"));
    BOOST_TEST(!normalize_name("@"));
}

BOOST_AUTO_TEST_CASE(reverse_names_ipv4) {
    BOOST_TEST(reverse_name(ip("192.0.2.7")) == "7.2.0.192.in-addr.arpa");
    BOOST_TEST(reverse_name(ip("192.0.2.7"), "zen.example") == "7.2.0.192.zen.example");
    BOOST_TEST(reverse_name(ip("192.0.2.7"), ".zen.example.") == "7.2.0.192.zen.example");
    BOOST_TEST(reverse_name(ip("10.0.0.255")) == "255.0.0.10.in-addr.arpa");
    // Dual-stack sockets report IPv4 clients as mapped addresses.
    BOOST_TEST(reverse_name(ip("::ffff:192.0.2.7")) == "7.2.0.192.in-addr.arpa");
}

BOOST_AUTO_TEST_CASE(reverse_names_ipv6_nibbles) {
    BOOST_TEST(reverse_name(ip("2001:db8::1")) ==
               "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    BOOST_TEST(reverse_name(ip("2001:db8:1234:5678:9abc:def0:1:ff"), "bl.example") ==
               "f.f.0.0.1.0.0.0.0.f.e.d.c.b.a.9.8.7.6.5.4.3.2.1.8.b.d.0.1.0.0.2.bl.example");
    BOOST_TEST(normalize_name(reverse_name(ip("2001:db8::1"), "zen.example")).has_value());
}

BOOST_AUTO_TEST_CASE(parses_resolv_conf) {
    const auto servers = parse_resolv_conf(
        "# generated\n"
        "search example.org\n"
        "nameserver 192.0.2.53\n"
        "  nameserver\t2001:db8::53   # trailing comment\n"
        "; nameserver 192.0.2.1\n"
        "nameserver not-an-address\n"
        "nameserver\n"
        "nameservers 192.0.2.9\n"
        "options ndots:2 timeout:1\n"
        "nameserver 127.0.0.1\r\n"
        "nameserver 198.51.100.1");
    BOOST_TEST_REQUIRE(servers.size() == 4u);
    BOOST_TEST(servers[0].address().to_string() == "192.0.2.53");
    BOOST_TEST(servers[0].port() == 53);
    BOOST_TEST(servers[1].address().to_string() == "2001:db8::53");
    BOOST_TEST(servers[2].address().to_string() == "127.0.0.1");
    BOOST_TEST(servers[3].address().to_string() == "198.51.100.1");
    BOOST_TEST(parse_resolv_conf("").empty());
    BOOST_TEST(parse_resolv_conf("nameserver " + std::string(5000, '1')).empty());
}

BOOST_AUTO_TEST_SUITE_END()
