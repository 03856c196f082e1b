#include <boost/test/unit_test.hpp>

#include "core/classify.hpp"

using namespace smtpwall;
using dns::Progress;
using Decision = Classification::Decision;

namespace {

const auto kClient = IpAddress::parse("198.51.100.7");

dns::DnsFacts clean_facts() {
    dns::DnsFacts f;
    f.ptr.progress = Progress::done;
    f.ptr.outcome = dns::PtrFacts::Outcome::confirmed;
    f.ptr.names = {"mail.example.net"};
    f.ptr.confirmed_name = "mail.example.net";
    f.helo.progress = Progress::done;
    f.helo.outcome = dns::HeloFacts::Outcome::resolves;
    return f;
}

dns::ZoneFact listing(std::string tag, int weight,
                      dns::ZoneVerdict verdict = dns::ZoneVerdict::listed) {
    dns::ZoneFact z;
    z.tag = std::move(tag);
    z.zone = z.tag + ".example";
    z.weight = weight;
    z.progress = Progress::done;
    z.verdict = verdict;
    if (verdict == dns::ZoneVerdict::listed) z.codes = {*IpAddress::parse("127.0.0.2")};
    return z;
}

Classification run(const dns::DnsFacts& f, HeloProblem helo = HeloProblem::none,
                   ScoringPolicy policy = {}) {
    static const dns::DialupDetector dialup;
    return classify({kClient, helo, "mail.example.net", &f}, policy, dialup);
}

bool has(const Classification& c, std::string_view tag) {
    return std::any_of(c.tags.begin(), c.tags.end(), [&](const auto& t) { return t.name == tag; });
}

}  // namespace

BOOST_AUTO_TEST_SUITE(classify)

BOOST_AUTO_TEST_CASE(clean_client_is_accepted) {
    const auto c = run(clean_facts());
    BOOST_TEST(c.score == 0);
    BOOST_TEST((c.decision == Decision::accept));
    BOOST_TEST(c.tags.empty());
}

BOOST_AUTO_TEST_CASE(listing_with_enough_weight_rejects_without_naming_the_zone) {
    auto f = clean_facts();
    f.zones.push_back(listing("privatebl", 10));
    const auto c = run(f);
    BOOST_TEST((c.decision == Decision::reject));
    BOOST_TEST(c.deciding_tag == "privatebl");
    BOOST_TEST(c.reject_tags == std::vector<std::string>{"privatebl"});
    const auto text = reject_text(c.deciding_tag, kClient);
    BOOST_TEST(text.find("privatebl") == std::string::npos);
    BOOST_TEST(text.find("198.51.100.7") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(weights_add_up) {
    auto f = clean_facts();
    f.ptr.outcome = dns::PtrFacts::Outcome::no_ptr;
    f.ptr.confirmed_name.clear();
    auto c = run(f);
    BOOST_TEST(has(c, "baddns"));
    BOOST_TEST(c.score == 5);
    BOOST_TEST((c.decision == Decision::accept));  // baddns alone is not enough by default
    f.zones.push_back(listing("sorbs", 5));
    c = run(f);
    BOOST_TEST(c.score == 10);
    BOOST_TEST((c.decision == Decision::reject));
}

BOOST_AUTO_TEST_CASE(dialup_is_judged_on_the_confirmed_ptr) {
    auto f = clean_facts();
    f.ptr.confirmed_name = "198-51-100-7.dsl.dyn.isp.example";
    auto c = run(f);
    BOOST_TEST(has(c, "dialup"));
    f.ptr.outcome = dns::PtrFacts::Outcome::unconfirmed;  // forged PTR: only baddns
    c = run(f);
    BOOST_TEST(!has(c, "dialup"));
    BOOST_TEST(has(c, "baddns"));
}

BOOST_AUTO_TEST_CASE(temporary_failures_never_reject) {
    auto f = clean_facts();
    f.ptr.outcome = dns::PtrFacts::Outcome::temp_error;
    f.zones.push_back(listing("zen", 10, dns::ZoneVerdict::failed));
    auto c = run(f);
    BOOST_TEST(!has(c, "baddns"));
    BOOST_TEST(c.score == 0);
    BOOST_TEST(c.possible_score == 15);  // the PTR name is known: at worst baddns (5)
    BOOST_TEST((c.decision == Decision::tempfail));
    ScoringPolicy ignore;
    ignore.tempfail_on_dns_failure = false;
    c = run(f, HeloProblem::none, ignore);
    BOOST_TEST((c.decision == Decision::accept));
    // A failed lookup that could not decide anything changes nothing.
    auto g = clean_facts();
    g.zones.push_back(listing("minor", 2, dns::ZoneVerdict::failed));
    BOOST_TEST((run(g).decision == Decision::accept));
}

BOOST_AUTO_TEST_CASE(pending_at_the_deadline_counts_as_failed) {
    auto f = clean_facts();
    f.ptr.progress = Progress::pending;
    auto z = listing("zen", 10);
    z.progress = Progress::pending;
    z.verdict = dns::ZoneVerdict::failed;
    f.zones.push_back(z);
    f.deadline_passed = true;
    const auto c = run(f);
    BOOST_TEST((c.decision == Decision::tempfail));
    BOOST_TEST(c.temp_failures.size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_ptr_being_confirmed_is_bounded_by_its_names) {
    // The PTR answered, its forward confirmation has not: at worst the client ends
    // unconfirmed (baddns) or confirmed as that name (dialup if it looks dynamic).
    auto f = clean_facts();
    f.ptr.progress = Progress::pending;
    f.ptr.confirmed_name.clear();
    auto c = run(f);
    BOOST_TEST(c.score == 0);
    BOOST_TEST(c.possible_score == 5);
    BOOST_TEST((c.decision == Decision::accept));  // whatever the confirmation says
    // The same when the confirmation failed for now.
    f.ptr.progress = Progress::done;
    f.ptr.outcome = dns::PtrFacts::Outcome::temp_error;
    BOOST_TEST(run(f).possible_score == 5);
    BOOST_TEST((run(f).decision == Decision::accept));
    // A dynamic-looking name weighs what dialup weighs.
    ScoringPolicy heavy;
    heavy.weights["dialup"] = 8;
    f.ptr.names = {"mail.example.net", "198-51-100-7.dsl.dyn.isp.example"};
    BOOST_TEST(run(f, HeloProblem::none, heavy).possible_score == 8);
    // A HELO naming another host counts when weighted.
    ScoringPolicy mismatch;
    mismatch.weights["helo-ptr-mismatch"] = 3;
    f.ptr.names = {"other.example.net"};
    BOOST_TEST(run(f, HeloProblem::none, mismatch).possible_score == 5);
    mismatch.weights["helo-ptr-mismatch"] = 7;
    BOOST_TEST(run(f, HeloProblem::none, mismatch).possible_score == 7);
    // No name yet: anything (baddns and dialup together), as before.
    f.ptr.names.clear();
    f.ptr.progress = Progress::pending;
    c = run(f);
    BOOST_TEST(c.possible_score == 10);
    BOOST_TEST((c.decision == Decision::tempfail));
}

BOOST_AUTO_TEST_CASE(refused_zone_answers_are_failures_not_listings) {
    auto f = clean_facts();
    f.zones.push_back(listing("zen", 10, dns::ZoneVerdict::refused));
    const auto c = run(f);
    BOOST_TEST(!has(c, "zen"));
    BOOST_TEST((c.decision == Decision::accept));  // not even a tempfail: the zone is suspended
}

BOOST_AUTO_TEST_CASE(dnswl_exempts_and_a_failed_dnswl_prevents_a_reject) {
    auto f = clean_facts();
    f.zones.push_back(listing("zen", 10));
    f.zones.push_back(listing("dnswl", -20));
    auto c = run(f);
    BOOST_TEST(c.dns_allowlisted);
    BOOST_TEST((c.decision == Decision::accept));
    f.zones.back() = listing("dnswl", -20, dns::ZoneVerdict::failed);
    c = run(f);
    BOOST_TEST((c.decision == Decision::tempfail));
}

BOOST_AUTO_TEST_CASE(helo_must_resolve) {
    auto f = clean_facts();
    f.helo.outcome = dns::HeloFacts::Outcome::does_not_resolve;
    auto c = run(f);
    BOOST_TEST(has(c, "bad-helo"));
    BOOST_TEST((c.decision == Decision::reject));
    f.helo.outcome = dns::HeloFacts::Outcome::temp_error;
    c = run(f);
    BOOST_TEST(!has(c, "bad-helo"));
    BOOST_TEST((c.decision == Decision::tempfail));
    // The syntax check already decided: no DNS opinion on top.
    f.helo.outcome = dns::HeloFacts::Outcome::does_not_resolve;
    c = run(f, HeloProblem::localhost);
    BOOST_TEST(std::count_if(c.tags.begin(), c.tags.end(),
                             [](const auto& t) { return t.name == "bad-helo"; }) == 1);
}

BOOST_AUTO_TEST_CASE(helo_mismatch_only_when_weighted) {
    auto f = clean_facts();
    f.helo.addresses = {*IpAddress::parse("203.0.113.9")};
    BOOST_TEST(!has(run(f), "helo-mismatch"));
    ScoringPolicy p;
    p.weights["helo-mismatch"] = 3;
    const auto c = run(f, HeloProblem::none, p);
    BOOST_TEST(has(c, "helo-mismatch"));
    BOOST_TEST(c.score == 3);
}

BOOST_AUTO_TEST_CASE(helo_ptr_mismatch_only_when_weighted) {
    auto f = clean_facts();  // confirmed PTR mail.example.net, HELO mail.example.net
    ScoringPolicy p;
    p.weights["helo-ptr-mismatch"] = 2;
    BOOST_TEST(!has(run(f, HeloProblem::none, p), "helo-ptr-mismatch"));
    f.ptr.confirmed_name = "MAIL.example.NET.";  // same host, other spelling
    BOOST_TEST(!has(run(f, HeloProblem::none, p), "helo-ptr-mismatch"));
    f.ptr.confirmed_name = "out.example.net";
    BOOST_TEST(has(run(f, HeloProblem::none, p), "helo-ptr-mismatch"));
    BOOST_TEST(!has(run(f), "helo-ptr-mismatch"));  // weight 0 by default
}

BOOST_AUTO_TEST_CASE(spf_results) {
    auto f = clean_facts();
    f.spf.progress = Progress::done;
    f.spf.result = dns::SpfResult::fail;
    f.spf.domain = "example.net";
    BOOST_TEST(has(run(f), "spf-fail"));
    f.spf.result = dns::SpfResult::softfail;
    BOOST_TEST(!has(run(f), "spf-softfail"));  // weight 0 by default
    f.spf.result = dns::SpfResult::permerror;
    BOOST_TEST(run(f).tags.empty());
    f.spf.result = dns::SpfResult::temperror;
    BOOST_TEST(run(f).temp_failures == std::vector<std::string>{"spf"});
}

BOOST_AUTO_TEST_SUITE_END()
