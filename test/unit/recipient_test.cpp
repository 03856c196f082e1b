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

BOOST_AUTO_TEST_CASE(mta_rejected_recipients) {
    // SMFIP_RCPT_REJ as Postfix and Sendmail send it: the "error" mailer, nothing else.
    BOOST_TEST(rejected_by_mta("error"));
    for (const char* mailer : {"", "smtp", "local", "relay", "esmtp", "Error", "error "})
        BOOST_TEST(!rejected_by_mta(mailer), mailer);
}

BOOST_AUTO_TEST_CASE(mta_rejections_by_either_mta) {
    // Postfix: enhanced code in {rcpt_host}; Sendmail: the reply in {rcpt_addr}.
    BOOST_TEST((classify_mta_rejection("5.1.1", "<x@example.org>: Recipient address rejected") ==
                MtaRejection::permanent));
    BOOST_TEST((classify_mta_rejection("4.7.1", "try later") == MtaRejection::temporary));
    BOOST_TEST((classify_mta_rejection("", "550 5.1.1 User unknown") == MtaRejection::permanent));
    BOOST_TEST(
        (classify_mta_rejection("", "451 4.3.0 Temporary failure") == MtaRejection::temporary));
    BOOST_TEST((classify_mta_rejection("", "5.7.1 Relaying denied") == MtaRejection::permanent));
    BOOST_TEST((classify_mta_rejection("", "") == MtaRejection::unknown));
    BOOST_TEST((classify_mta_rejection("x", "hello") == MtaRejection::unknown));
    BOOST_TEST((classify_mta_rejection("local", "5") == MtaRejection::unknown));
}

BOOST_AUTO_TEST_SUITE_END()
