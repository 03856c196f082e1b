#include <boost/test/unit_test.hpp>

#include "core/session.hpp"

using namespace smtpwall;

namespace {

std::shared_ptr<const SessionPolicy> policy() {
    conf::MilterConfig cfg;
    cfg.identity.hostnames = {"mx.example.org"};
    cfg.checks.spamtraps = {"trap@example.org", "@traps.example.org"};
    cfg.checks.allowlist = CidrList({*Cidr::parse("203.0.113.0/24")});
    return std::make_shared<const SessionPolicy>(cfg);
}

Session make_session(std::string_view client = "198.51.100.7") {
    return Session(policy(), IpAddress::parse(client), "client.example.net");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(session)

BOOST_AUTO_TEST_CASE(clean_session_is_accepted) {
    auto s = make_session();
    s.helo("client.example.net");
    s.mail_from("<a@example.net>", false);
    BOOST_TEST((s.recipient("<user@example.org>").action == Action::accept));
    BOOST_TEST((s.data().action == Action::accept));
    s.end_transaction(true);
    BOOST_TEST(s.record().messages == 1u);
    BOOST_TEST(s.record().tags.empty());
    BOOST_TEST(!s.record().first_reject);
}

BOOST_AUTO_TEST_CASE(bad_helo_rejected_at_rcpt_but_postmaster_accepted) {
    auto s = make_session();
    s.helo("localhost");
    s.mail_from("<a@example.net>", false);
    BOOST_TEST((s.recipient("<postmaster@example.org>").action == Action::accept));
    BOOST_TEST((s.recipient("<abuse@example.org>").action == Action::accept));
    const auto v = s.recipient("<user@example.org>");
    BOOST_TEST(v.rejected());
    BOOST_TEST(v.code == "550");
    BOOST_TEST(v.tags == std::vector<std::string>{"bad-helo"});
    BOOST_TEST(s.record().helo_problem == "localhost");
    BOOST_TEST((*s.record().first_reject == Stage::rcpt));
}

BOOST_AUTO_TEST_CASE(reply_never_reveals_the_trap) {
    auto s = make_session();
    s.helo("client.example.net");
    s.mail_from("<a@example.net>", false);
    const auto v = s.recipient("<Trap@Example.org>");
    BOOST_TEST(v.rejected());
    BOOST_TEST(v.tags == std::vector<std::string>{"spamtrap"});
    BOOST_TEST(v.text.find("trap") == std::string::npos);
    BOOST_TEST(v.text.find("Trap") == std::string::npos);
    BOOST_TEST(s.recipient("<x@traps.example.org>").rejected());
}

BOOST_AUTO_TEST_CASE(trap_hit_condemns_the_session_and_the_message) {
    auto s = make_session();
    s.helo("client.example.net");
    s.mail_from("<a@example.net>", false);
    BOOST_TEST((s.recipient("<user@example.org>").action == Action::accept));
    BOOST_TEST(s.recipient("<trap@example.org>").rejected());
    BOOST_TEST(s.recipient("<other@example.org>").rejected());
    BOOST_TEST((s.recipient("<postmaster@example.org>").action == Action::accept));
    BOOST_TEST(s.data().rejected());  // the real recipient does not get the spam
    s.end_transaction(false);
    BOOST_TEST(s.record().messages == 0u);
    // The next transaction on this connection is still condemned.
    s.mail_from("<b@example.net>", false);
    BOOST_TEST(s.recipient("<user@example.org>").rejected());
}

BOOST_AUTO_TEST_CASE(allowlisted_and_authenticated_clients_are_never_rejected) {
    auto s = make_session("203.0.113.9");
    s.helo("localhost");
    s.mail_from("<a@example.net>", false);
    BOOST_TEST((s.recipient("<trap@example.org>").action == Action::accept));
    BOOST_TEST((s.data().action == Action::accept));

    auto a = make_session();
    a.helo("laptop");
    a.mail_from("<me@example.org>", true);
    BOOST_TEST((a.recipient("<user@example.org>").action == Action::accept));
}

BOOST_AUTO_TEST_CASE(mta_identity_from_macros_counts_as_ours) {
    auto s = make_session();
    s.add_own_hostname("relay.example.org");
    s.add_own_address(*IpAddress::parse("192.0.2.1"));
    s.helo("relay.example.org");
    BOOST_TEST(s.record().helo_problem == "own-name");
    s.helo("[192.0.2.1]");
    BOOST_TEST(s.record().helo_problem == "own-address");
    s.helo("client.example.net");  // EHLO again after STARTTLS: the latest counts
    BOOST_TEST(s.record().helo_problem.empty());
}

BOOST_AUTO_TEST_CASE(unknown_client_address) {
    Session s(policy(), std::nullopt, "");
    s.helo("[192.0.2.55]");
    BOOST_TEST(s.record().helo_problem.empty());
    s.mail_from("<a@example.net>", false);
    BOOST_TEST((s.recipient("<user@example.org>").action == Action::accept));
}

BOOST_AUTO_TEST_CASE(banned_client_still_connected_is_refused) {
    auto s = make_session();
    s.mark_banned();
    s.helo("client.example.net");
    s.mail_from("<a@example.net>", false);
    const auto v = s.recipient("<user@example.org>");
    BOOST_TEST(v.rejected());
    BOOST_TEST(v.tags == std::vector<std::string>{"banned"});
    BOOST_TEST((s.recipient("<postmaster@example.org>").action == Action::accept));
}

BOOST_AUTO_TEST_CASE(mta_rejected_recipients_count_as_badrcpt) {
    auto s = make_session();
    s.helo("client.example.net");
    s.mail_from("<a@example.net>", false);
    const auto tags = s.mta_rejected_recipient("5.1.1", "User unknown");
    BOOST_REQUIRE(tags);
    BOOST_TEST(*tags == std::vector<std::string>{"badrcpt"});
    BOOST_TEST(!s.mta_rejected_recipient("4.2.0", "greylisted"));
    BOOST_TEST(s.record().mta_rejected_rcpts == 2u);
    BOOST_TEST(s.record().tags.count("badrcpt") == 1u);

    auto allowed = make_session("203.0.113.9");
    BOOST_TEST(!allowed.mta_rejected_recipient("5.1.1", ""));  // allowlisted: never tallied
}

BOOST_AUTO_TEST_CASE(accepted_messages_are_reported) {
    auto s = make_session();
    s.helo("client.example.net");
    s.mail_from("<a@example.net>", false);
    BOOST_TEST(!s.end_transaction(true));  // no recipient accepted: nothing delivered
    s.mail_from("<a@example.net>", false);
    s.recipient("<user@example.org>");
    BOOST_TEST(s.end_transaction(true));
    s.mail_from("<a@example.net>", false);
    s.recipient("<user@example.org>");
    BOOST_TEST(!s.end_transaction(false));  // aborted
}

BOOST_AUTO_TEST_CASE(a_refused_data_does_not_leak_into_the_next_message) {
    // libmilter drops the MTA's ABORT after a refused DATA: no end_transaction
    // comes between the two messages, MAIL FROM alone starts the next one.
    auto s = make_session();
    s.helo("client.example.net");
    s.mail_from("<a@example.net>", false);
    BOOST_TEST((s.recipient("<user@example.org>").action == Action::accept));
    BOOST_TEST(s.recipient("<trap@example.org>").rejected());
    BOOST_TEST(s.data().rejected());
    s.mail_from("<b@example.net>", false);
    BOOST_TEST(s.recipient("<user@example.org>").rejected());  // the session is still condemned
    BOOST_TEST((s.recipient("<postmaster@example.org>").action == Action::accept));
    BOOST_TEST((s.data().action == Action::accept));  // but this message reached no trap
    BOOST_TEST(s.end_transaction(true));
    BOOST_TEST(s.record().messages == 1u);
}

BOOST_AUTO_TEST_CASE(only_a_final_accept_settles_the_message) {
    // An ordinary recipient leaves the message open (a trap may follow); DATA settles it.
    auto s = make_session();
    s.helo("client.example.net");
    s.mail_from("<a@example.net>", false);
    BOOST_TEST(!s.recipient("<user@example.org>").settles_message);
    BOOST_TEST(!s.recipient("<postmaster@example.org>").settles_message);  // exempt recipient only
    // Delivered mail earns credit (the defaults): the message counts at its end, once
    // the MTA took it, so DATA leaves it open.
    const auto data = s.data();
    BOOST_TEST((data.action == Action::accept));
    BOOST_TEST(!data.settles_message);
    // A refusal never settles anything.
    BOOST_TEST(!s.recipient("<trap@example.org>").settles_message);
    BOOST_TEST(!s.data().settles_message);

    // An exempt client's first recipient settles its message: nothing after it is judged.
    auto a = make_session();
    a.helo("laptop");
    a.mail_from("<me@example.org>", true);
    const auto rcpt = a.recipient("<user@example.org>");
    BOOST_TEST((rcpt.action == Action::accept));
    BOOST_TEST(rcpt.settles_message);
    BOOST_TEST(a.end_transaction(true));
    // Authentication lasts for the session: its next message is settled as well.
    a.mail_from("<me@example.org>", false);
    BOOST_TEST(a.recipient("<user@example.org>").settles_message);

    // Without credit for delivered mail nothing is learnt from a message's end: DATA settles it.
    conf::MilterConfig cfg;
    cfg.shared_relays.good_mail = 0;
    cfg.escalation.good_mail_ratio = 0;
    cfg.checks.spamtraps = {"trap@example.org"};
    const auto no_credit = std::make_shared<const SessionPolicy>(cfg);
    BOOST_TEST(!no_credit->credits_delivered_mail);
    BOOST_TEST(std::make_shared<const SessionPolicy>(conf::MilterConfig{})->credits_delivered_mail);
    Session n(no_credit, IpAddress::parse("198.51.100.7"), "client.example.net");
    n.helo("client.example.net");
    n.mail_from("<a@example.net>", false);
    BOOST_TEST(!n.recipient("<user@example.org>").settles_message);
    BOOST_TEST(n.data().settles_message);
    BOOST_TEST(!n.recipient("<trap@example.org>").settles_message);
    BOOST_TEST(!n.data().settles_message);  // a refusal never settles anything
}

BOOST_AUTO_TEST_CASE(only_a_certain_accept_is_given_before_dns_is_done) {
    auto s = make_session();
    s.helo("client.example.net");
    s.mail_from("<a@example.net>", false);
    dns::DnsFacts f;
    f.helo.progress = dns::Progress::done;
    f.helo.outcome = dns::HeloFacts::Outcome::resolves;
    f.spf.progress = dns::Progress::done;
    f.spf.result = SpfResult::pass;
    dns::ZoneFact zone;
    zone.tag = "bl";
    zone.zone = "bl.example";
    zone.weight = 10;
    zone.progress = dns::Progress::done;
    zone.verdict = dns::ZoneVerdict::not_listed;
    f.zones = {zone};
    // The PTR answered, its confirmation is still running: at worst baddns (5 < 10).
    f.ptr.progress = dns::Progress::pending;
    f.ptr.names = {"mail.example.net"};
    BOOST_TEST(s.accepts_whatever_comes("<user@example.org>", f));
    // Not with the blocklist still to answer (10), nor without the PTR's name (5 + 5).
    auto waiting = f;
    waiting.zones[0].progress = dns::Progress::pending;
    BOOST_TEST(!s.accepts_whatever_comes("<user@example.org>", waiting));
    waiting = f;
    waiting.ptr.names.clear();
    BOOST_TEST(!s.accepts_whatever_comes("<user@example.org>", waiting));
    // Nor with SPF still running (spf-fail 5 + baddns 5).
    waiting = f;
    waiting.spf.progress = dns::Progress::pending;
    BOOST_TEST(!s.accepts_whatever_comes("<user@example.org>", waiting));
    // An exempt recipient never waits; a spamtrap always does (its ban rests on the facts).
    BOOST_TEST(s.accepts_whatever_comes("<postmaster@example.org>", waiting));
    BOOST_TEST(!s.accepts_whatever_comes("<trap@example.org>", f));
    // The question changes nothing in the session.
    BOOST_TEST(s.record().tags.empty());
    BOOST_TEST(s.record().accepted_rcpts == 0u);
    // A condemned or banned session waits too.
    s.set_dns(f);
    BOOST_TEST(s.recipient("<trap@example.org>").rejected());
    BOOST_TEST(!s.accepts_whatever_comes("<user@example.org>", f));
    auto banned = make_session();
    banned.mark_banned();
    BOOST_TEST(!banned.accepts_whatever_comes("<user@example.org>", f));
    // An allowlisted client is accepted at once.
    auto allowed = make_session("203.0.113.9");
    BOOST_TEST(allowed.accepts_whatever_comes("<user@example.org>", waiting));
}

BOOST_AUTO_TEST_CASE(end_of_message_judges_what_data_did_not) {
    // No DATA stage (milter_protocol 2, 3): the message that reached a trap is refused
    // at its end; after a DATA verdict the end of message adds nothing.
    auto s = make_session();
    s.helo("client.example.net");
    s.mail_from("<a@example.net>", false);
    BOOST_TEST((s.recipient("<user@example.org>").action == Action::accept));
    BOOST_TEST(s.recipient("<trap@example.org>").rejected());
    BOOST_TEST(s.end_of_message().rejected());
    s.mail_from("<b@example.net>", false);
    s.recipient("<postmaster@example.org>");
    BOOST_TEST((s.data().action == Action::accept));
    BOOST_TEST((s.end_of_message().action == Action::accept));
}

BOOST_AUTO_TEST_SUITE_END()
