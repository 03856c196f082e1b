#include <boost/test/unit_test.hpp>

#include "core/recipients.hpp"

using namespace smtpwall;

BOOST_AUTO_TEST_SUITE(recipients)

BOOST_AUTO_TEST_CASE(canonical_form) {
    BOOST_TEST(canonical_recipient("<User@Example.ORG>") == "user@example.org");
    BOOST_TEST(canonical_recipient("user@example.org") == "user@example.org");
    BOOST_TEST(canonical_recipient(" <postmaster> ") == "postmaster");
    BOOST_TEST(canonical_recipient("<@relay.example,@other.example:user@example.org>") ==
               "user@example.org");
    BOOST_TEST(canonical_recipient("<>") == "");
}

BOOST_AUTO_TEST_CASE(patterns) {
    const AddressPatterns p({"trap@example.org", "postmaster@", "@traps.example.net"});
    BOOST_TEST(p.matches("trap@example.org"));
    BOOST_TEST(!p.matches("trap@example.com"));
    BOOST_TEST(p.matches("postmaster@anything.example"));
    BOOST_TEST(p.matches("postmaster"));
    BOOST_TEST(p.matches("whoever@traps.example.net"));
    BOOST_TEST(!p.matches("whoever@sub.traps.example.net"));
    BOOST_TEST(!p.matches("user@example.org"));
    BOOST_TEST(p.matches(canonical_recipient("<TRAP@Example.Org>")));
    BOOST_TEST(AddressPatterns().empty());
}

BOOST_AUTO_TEST_SUITE_END()
