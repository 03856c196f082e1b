// Operator patterns (common/pattern.hpp): compiled once, PCRE2's complaint kept for
// the config error, case-insensitive, bounded.
#include <boost/test/unit_test.hpp>

#include <string>
#include <variant>

#include "common/pattern.hpp"

using namespace smtpwall;

BOOST_AUTO_TEST_SUITE(patterns)

BOOST_AUTO_TEST_CASE(bad_patterns_say_where_and_why) {
    for (const char* bad : {"(unclosed", "[a-", "x{2,1}", "*oops"}) {
        const auto compiled = Pattern::compile(bad);
        BOOST_REQUIRE_MESSAGE(std::holds_alternative<std::string>(compiled), bad);
        BOOST_TEST(std::get<std::string>(compiled).find("offset") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(matches_case_insensitively) {
    const auto p = std::get<Pattern>(Pattern::compile("^cust[0-9]+-"));
    BOOST_TEST((p.match("CUST12-dsl") == Pattern::Match::yes));
    BOOST_TEST((p.match("xcust12-") == Pattern::Match::no));
    BOOST_TEST(p.text() == "^cust[0-9]+-");
    const Pattern copy = p;
    BOOST_TEST((copy == p));
}

BOOST_AUTO_TEST_CASE(catastrophic_backtracking_is_cut_short) {
    const auto p = std::get<Pattern>(Pattern::compile("(a|aa)+$|(x+x+)+y"));
    BOOST_TEST((p.match(std::string(60, 'x')) != Pattern::Match::yes));
}

BOOST_AUTO_TEST_SUITE_END()
