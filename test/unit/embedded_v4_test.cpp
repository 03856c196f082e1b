// IPv4 carried inside IPv6 (common/embedded_v4.hpp): every RFC 6052 prefix length,
// 6to4 and mapped, in both directions.
#include <boost/test/unit_test.hpp>

#include "common/embedded_v4.hpp"

using namespace smtpwall;

namespace {

IpAddress ip(std::string_view s) {
    return *IpAddress::parse(s);
}
Cidr net(std::string_view s) {
    return *Cidr::parse(s);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(embedded_v4)

// RFC 6052 section 2.4's examples: 192.0.2.33 under each prefix length.
BOOST_AUTO_TEST_CASE(rfc6052_examples) {
    const Ipv4Embedding e({net("2001:db8::/32"), net("2001:db8:100::/40"), net("2001:db8:122::/48"),
                           net("2001:db8:122:300::/56"), net("2001:db8:122:344::/64"),
                           net("2001:db8:122:344::/96")});
    for (const char* form : {"2001:db8:c000:221::", "2001:db8:1c0:2:21::",
                             "2001:db8:122:c000:2:2100::", "2001:db8:122:3c0:0:221::",
                             "2001:db8:122:344:c0:2:2100:0", "2001:db8:122:344::192.0.2.33"}) {
        BOOST_TEST_CONTEXT(form) {
            const auto v4 = e.carried(ip(form));
            BOOST_REQUIRE(v4);
            BOOST_TEST(v4->to_string() == "192.0.2.33");
            // ...and the IPv4 /32 arrives through exactly that address.
            BOOST_TEST((e.carrier(ip(form), net("192.0.2.33"))->base == ip(form)));
        }
    }
}

BOOST_AUTO_TEST_CASE(well_known_forms) {
    const Ipv4Embedding e;
    BOOST_TEST(e.carried(ip("64:ff9b::c633:6407"))->to_string() == "198.51.100.7");
    BOOST_TEST(e.carried(ip("64:ff9b::198.51.100.7"))->to_string() == "198.51.100.7");
    BOOST_TEST(e.carried(ip("64:ff9b:1:c633:64:700::"))->to_string() == "198.51.100.7");
    BOOST_TEST(e.carried(ip("2002:c633:6407::1"))->to_string() == "198.51.100.7");
    BOOST_TEST(e.carried(ip("::ffff:198.51.100.7"))->to_string() == "198.51.100.7");
    BOOST_TEST(!e.carried(ip("2001:db8::1")).has_value());
    BOOST_TEST(!e.carried(ip("198.51.100.7")).has_value());
    // Without the well-known NAT64 prefixes (a site that does not translate).
    BOOST_TEST(!Ipv4Embedding({}, false).carried(ip("64:ff9b::c633:6407")).has_value());
    BOOST_TEST(Ipv4Embedding({}, false).carried(ip("2002:c633:6407::1")).has_value());
}

BOOST_AUTO_TEST_CASE(networks_carry_networks) {
    const Ipv4Embedding e;
    auto only = [&](std::string_view n) {
        const auto c = e.carried(net(n));
        BOOST_REQUIRE(c.size() == 1u);
        return c.front().v4.to_string();
    };
    BOOST_TEST(only("64:ff9b::/96") == "0.0.0.0/0");
    BOOST_TEST(only("64:ff9b::/64") == "0.0.0.0/0");
    BOOST_TEST(only("64:ff9b::c633:6400/120") == "198.51.100.0/24");
    BOOST_TEST(only("64:ff9b::c633:6407") == "198.51.100.7");
    BOOST_TEST(only("2002:c633:6400::/40") == "198.51.100.0/24");
    BOOST_TEST(only("2002:c633:6407:1::/64") == "198.51.100.7");
    BOOST_TEST(only("64:ff9b:1:c633::/64") == "198.51.0.0/16");  // bits 64..71 carry nothing
    BOOST_TEST(only("64:ff9b:1:c633::/72") == "198.51.0.0/16");
    BOOST_TEST(only("64:ff9b:1:c633:64::/80") == "198.51.100.0/24");
    BOOST_TEST(e.carried(net("2001:db8::/32")).empty());
    BOOST_TEST(e.carried(net("::/0")).size() == 4u);  // covers every translation
}

BOOST_AUTO_TEST_CASE(carriers) {
    const Ipv4Embedding e;
    BOOST_TEST(e.carrier(ip("64:ff9b::c633:6407"), net("198.51.100.7"))->to_string() ==
               "64:ff9b::c633:6407");
    BOOST_TEST(e.carrier(ip("2002:c633:6407::1"), net("198.51.100.7"))->to_string() ==
               "2002:c633:6407::/48");
    BOOST_TEST(e.carrier(ip("64:ff9b::c633:6407"), net("198.51.100.0/24"))->to_string() ==
               "64:ff9b::c633:6400/120");
    BOOST_TEST(e.carrier(ip("::ffff:198.51.100.7"), net("198.51.100.7"))->to_string() ==
               "198.51.100.7");
    BOOST_TEST(!e.carrier(ip("2001:db8::1"), net("198.51.100.7")).has_value());
}

BOOST_AUTO_TEST_CASE(nat64_prefixes_and_teredo) {
    BOOST_TEST(valid_nat64_prefix(net("64:ff9b::/96")));
    BOOST_TEST(valid_nat64_prefix(net("2001:db8::/32")));
    BOOST_TEST(!valid_nat64_prefix(net("2001:db8::/36")));
    BOOST_TEST(!valid_nat64_prefix(net("2001:db8:0:0:100::/96")));  // u octet set
    BOOST_TEST(!valid_nat64_prefix(net("192.0.2.0/24")));
    BOOST_TEST(is_teredo(ip("2001:0:4136:e378:8000:63bf:3fff:fdd2")));
    BOOST_TEST(!is_teredo(ip("2001:db8::1")));
    BOOST_TEST(overlaps_teredo(net("2000::/3")));
}

BOOST_AUTO_TEST_SUITE_END()
