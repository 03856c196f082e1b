#include <boost/test/unit_test.hpp>

#include "dnsbl/zones.hpp"

using namespace smtpwall;
using namespace smtpwall::dns;

namespace {

IpAddress ip(std::string_view s) {
    return *IpAddress::parse(s);
}

Result answer(std::vector<std::string_view> codes) {
    Result r;
    r.status = Status::ok;
    for (auto c : codes) r.addresses.push_back(ip(c));
    return r;
}

ZoneSpec zone(std::string codes = "", int weight = 10) {
    return {"cbl", "cbl.example", *CodeFilter::parse(codes), weight, true, true, true};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(zones)

BOOST_AUTO_TEST_CASE(code_filters_in_postscreen_syntax) {
    const auto range = CodeFilter::parse("127.0.0.[2..11]");
    BOOST_REQUIRE(range);
    BOOST_TEST(range->matches(ip("127.0.0.2")));
    BOOST_TEST(range->matches(ip("127.0.0.11")));
    BOOST_TEST(!range->matches(ip("127.0.0.1")));
    BOOST_TEST(!range->matches(ip("127.0.0.12")));
    const auto list = CodeFilter::parse("127.0.[0..255].[1;3;5..7]");
    BOOST_REQUIRE(list);
    BOOST_TEST(list->matches(ip("127.0.9.3")));
    BOOST_TEST(list->matches(ip("127.0.9.6")));
    BOOST_TEST(!list->matches(ip("127.0.9.4")));
    const auto any = CodeFilter::parse("");
    BOOST_TEST(any->matches(ip("127.1.2.3")));
    BOOST_TEST(!any->matches(ip("10.0.0.2")));  // never outside 127/8
    for (const char* bad : {"127.0.0", "127.0.0.256", "127.0.0.[2..", "127.0.0.[5..2]",
                            "127.0.0.2.", "127.0.0.x", "127.0.0.[]", "127..0.2"})
        BOOST_TEST(!CodeFilter::parse(bad), bad);
}

BOOST_AUTO_TEST_CASE(query_names) {
    BOOST_TEST(zone_query_name(zone(), ip("192.0.2.7")) == "7.2.0.192.cbl.example");
    BOOST_TEST(zone_query_name(zone(), ip("::ffff:192.0.2.7")) == "7.2.0.192.cbl.example");
    BOOST_TEST(zone_query_name(zone(), ip("2001:db8::1")) ==
               "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.cbl.example");
    ZoneSpec v4only = zone();
    v4only.ipv6 = false;
    BOOST_TEST(!zone_applies(v4only, ip("2001:db8::1")));
    BOOST_TEST(zone_applies(v4only, ip("192.0.2.1")));
}

BOOST_AUTO_TEST_CASE(answers) {
    BOOST_TEST((interpret(zone(), answer({"127.0.0.2"})).verdict == ZoneVerdict::listed));
    Result nx;
    nx.status = Status::nxdomain;
    BOOST_TEST((interpret(zone(), nx).verdict == ZoneVerdict::not_listed));
    Result timeout;
    timeout.status = Status::timeout;
    BOOST_TEST((interpret(zone(), timeout).verdict == ZoneVerdict::failed));
    // A code the filter does not want is no listing.
    BOOST_TEST((interpret(zone("127.0.0.[2..11]"), answer({"127.0.0.12"})).verdict ==
                ZoneVerdict::not_listed));
    const auto multi = interpret(zone("127.0.0.[2..11]"), answer({"127.0.0.12", "127.0.0.4"}));
    BOOST_TEST((multi.verdict == ZoneVerdict::listed));
    BOOST_TEST(multi.codes.size() == 1u);
}

BOOST_AUTO_TEST_CASE(refusals_and_hijacks_are_never_listings) {
    const auto refused = interpret(zone(), answer({"127.255.255.254"}));
    BOOST_TEST((refused.verdict == ZoneVerdict::refused));
    BOOST_TEST(refused.why.find("refused") != std::string::npos);
    BOOST_TEST((interpret(zone(), answer({"127.0.0.2", "127.255.255.252"})).verdict ==
                ZoneVerdict::refused));
    BOOST_TEST((interpret(zone("", -10), answer({"127.0.0.255"})).verdict == ZoneVerdict::refused));
    BOOST_TEST((interpret(zone("", -10), answer({"127.0.2.1"})).verdict == ZoneVerdict::listed));
    const auto hijack = interpret(zone(), answer({"198.51.100.80"}));
    BOOST_TEST((hijack.verdict == ZoneVerdict::failed));
    BOOST_TEST(hijack.why.find("outside 127/8") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(health_suspends_and_marks_dead) {
    ZoneHealth h;
    BOOST_TEST(h.usable("a", 100));
    h.suspend("a", 100, std::chrono::seconds(60), "refused");
    BOOST_TEST(!h.usable("a", 159));
    BOOST_TEST(h.usable("a", 160));
    BOOST_TEST(h.record_probe("b", true, true, true));  // lists 127.0.0.1: dead
    BOOST_TEST(!h.usable("b", 100));
    BOOST_TEST(!h.record_probe("b", true, true, false));  // a timeout changes nothing
    BOOST_TEST(h.record_probe("b", true, false, true));   // sane again
    BOOST_TEST(h.usable("b", 100));
    BOOST_TEST(h.snapshot().at("a").suspensions == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
