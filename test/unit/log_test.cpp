// The one escaping of logged values (common/log.hpp), used by the milter and the helper.
#include <boost/test/unit_test.hpp>

#include "common/log.hpp"

using namespace smtpwall;

BOOST_AUTO_TEST_SUITE(log_values)

BOOST_AUTO_TEST_CASE(log_values_cannot_forge_lines) {
    BOOST_TEST(kv("helo", "mail.example.com") == "helo=mail.example.com");
    BOOST_TEST(kv("helo", "") == "helo=\"\"");
    BOOST_TEST(kv("helo", "a b") == "helo=\"a b\"");
    BOOST_TEST(kv("helo", "x\nsession client=1.2.3.4") == "helo=\"x\\x0asession client=1.2.3.4\"");
    BOOST_TEST(kv("helo", "q\"uote\\") == "helo=\"q\\\"uote\\\\\"");
    BOOST_TEST(kv("helo", "a=b") == "helo=\"a=b\"");
    BOOST_TEST(kv("helo", "\xff") == "helo=\"\\xff\"");
    BOOST_TEST(kv_value(std::string(1000, 'a')).size() < 300u);
}

// The helper logs request lines a peer sent with the same escaping.
BOOST_AUTO_TEST_CASE(peer_bytes_stay_on_one_line) {
    BOOST_TEST(kv("line", "1 PING") == "line=\"1 PING\"");
    BOOST_TEST(kv("line", "a\r\n\x1b\"\\\xff") == "line=\"a\\x0d\\x0a\\x1b\\\"\\\\\\xff\"");
    const auto cut = kv_value(std::string(1000, 'x'));
    BOOST_TEST(cut.ends_with("...\""));
    BOOST_TEST(cut.find('\n') == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
