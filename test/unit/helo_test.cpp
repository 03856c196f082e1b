#include <boost/test/unit_test.hpp>

#include "core/helo_check.hpp"

using namespace smtpwall;

namespace {

const OwnIdentity kOwn{{"mx.example.org"},
                       {*IpAddress::parse("192.0.2.1"), *IpAddress::parse("2001:db8::1")}};
const std::optional<IpAddress> kClient = IpAddress::parse("198.51.100.7");

HeloProblem check(std::string_view helo, std::optional<IpAddress> client = kClient) {
    return check_helo(helo, client, kOwn);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(helo)

BOOST_AUTO_TEST_CASE(valid_names_pass) {
    for (const char* helo : {"mail.example.com", "MAIL.Example.COM", "mail.example.com.", "a.b",
                             "host-1.example.net", "win_host.corp.example", "xn--bcher-kva.example",
                             "[198.51.100.7]", "[IPv6:2001:db8::7]"}) {
        const auto client =
            std::string_view(helo).starts_with("[IPv6") ? IpAddress::parse("2001:db8::7") : kClient;
        BOOST_TEST((check(helo, client) == HeloProblem::none), helo);
    }
}

BOOST_AUTO_TEST_CASE(syntax_problems) {
    BOOST_TEST((check("") == HeloProblem::empty));
    BOOST_TEST((check("localhost") == HeloProblem::localhost));
    BOOST_TEST((check("LocalHost.LocalDomain") == HeloProblem::localhost));
    BOOST_TEST((check("localhost.example.com") == HeloProblem::localhost));
    BOOST_TEST((check("mailserver") == HeloProblem::not_fqdn));
    BOOST_TEST((check("198.51.100.7") == HeloProblem::bare_ip));
    BOOST_TEST((check("2001:db8::7") == HeloProblem::bare_ip));
    BOOST_TEST((check("mail..example.com") == HeloProblem::invalid_syntax));
    BOOST_TEST((check(".example.com") == HeloProblem::invalid_syntax));
    BOOST_TEST((check("-bad.example.com") == HeloProblem::invalid_syntax));
    BOOST_TEST((check("bad-.example.com") == HeloProblem::invalid_syntax));
    BOOST_TEST((check("mail example.com") == HeloProblem::invalid_syntax));
    BOOST_TEST((check("mail.example.123") == HeloProblem::invalid_syntax));
    BOOST_TEST((check("1.2.3.4.5") == HeloProblem::invalid_syntax));
    BOOST_TEST((check("[198.51.100.7") == HeloProblem::invalid_syntax));
    BOOST_TEST((check("[]") == HeloProblem::invalid_syntax));
    BOOST_TEST((check("[mail.example.com]") == HeloProblem::invalid_syntax));
    BOOST_TEST((check("[2001:db8::7]") == HeloProblem::invalid_syntax));  // needs the IPv6: tag
    BOOST_TEST((check("[IPv6:198.51.100.7]") == HeloProblem::invalid_syntax));
}

BOOST_AUTO_TEST_CASE(literals_must_be_the_client) {
    BOOST_TEST((check("[198.51.100.8]") == HeloProblem::literal_not_client));
    BOOST_TEST((check("[IPv6:2001:db8::8]") == HeloProblem::literal_not_client));
    BOOST_TEST((check("[198.51.100.8]", std::nullopt) == HeloProblem::none));
    // An IPv4 client seen through an IPv6 socket as ::ffff:a.b.c.d
    BOOST_TEST(
        (check("[198.51.100.7]", IpAddress::parse("::ffff:198.51.100.7")) == HeloProblem::none));
}

BOOST_AUTO_TEST_CASE(impersonating_us) {
    BOOST_TEST((check("mx.example.org") == HeloProblem::own_name));
    BOOST_TEST((check("MX.EXAMPLE.ORG.") == HeloProblem::own_name));
    BOOST_TEST((check("[192.0.2.1]") == HeloProblem::own_address));
    BOOST_TEST((check("[IPv6:2001:db8::1]") == HeloProblem::own_address));
}

BOOST_AUTO_TEST_CASE(hostile_input) {
    BOOST_TEST((check(std::string(256, 'a')) == HeloProblem::too_long));
    BOOST_TEST((check(std::string(100000, 'x')) == HeloProblem::too_long));
    BOOST_TEST((check(std::string(64, 'a') + ".example.com") == HeloProblem::invalid_syntax));
    BOOST_TEST((check(std::string(63, 'a') + ".example.com") == HeloProblem::none));
    BOOST_TEST((check(std::string("mail\0.example.com", 17)) == HeloProblem::invalid_syntax));
    BOOST_TEST((check("mail\r\n.example.com") == HeloProblem::invalid_syntax));
    BOOST_TEST((check("mail\x1b[31m.example.com") == HeloProblem::invalid_syntax));
    BOOST_TEST((check("m\xc3\xa4il.example.com") == HeloProblem::invalid_syntax));
    BOOST_TEST((check("\xff\xfe") == HeloProblem::invalid_syntax));
    BOOST_TEST((check("%s%s%n.example.com") == HeloProblem::invalid_syntax));
    BOOST_TEST((check("[" + std::string(300, '1') + "]") == HeloProblem::too_long));
    BOOST_TEST((check(".") == HeloProblem::invalid_syntax));
    BOOST_TEST((check("[") == HeloProblem::invalid_syntax));
}

BOOST_AUTO_TEST_CASE(problem_names_are_log_friendly) {
    BOOST_TEST(helo_problem_name(HeloProblem::not_fqdn) == "not-fqdn");
    BOOST_TEST(helo_problem_name(HeloProblem::literal_not_client) == "literal-not-client");
}

BOOST_AUTO_TEST_SUITE_END()
