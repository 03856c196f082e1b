// Session lookups (dnsbl/lookups.hpp) and their judgement (core/classify.hpp)
// against nsd + dnsdist started by lookups_test.sh (DNS_PORT: dnsdist).
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "core/classify.hpp"
#include "core/session.hpp"
#include "dnsbl/lookups.hpp"

using namespace smtpwall;
using namespace smtpwall::dns;
using Clock = std::chrono::steady_clock;

namespace {

struct Fixture {
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{
        boost::asio::make_work_guard(io)};
    std::unique_ptr<Resolver> resolver;
    ZoneHealth health;
    std::shared_ptr<LookupServices> services = std::make_shared<LookupServices>();
    std::thread thread;
    std::vector<std::string> log;

    Fixture() {
        const char* port = std::getenv("DNS_PORT");
        BOOST_REQUIRE_MESSAGE(port != nullptr,
                              "DNS_PORT must name the dnsdist port (run lookups_test.sh)");
        ResolverConfig rc;
        rc.servers.emplace_back(boost::asio::ip::make_address("127.0.0.1"),
                                static_cast<unsigned short>(std::atoi(port)));
        rc.timeout = std::chrono::milliseconds(300);
        rc.attempts = 2;
        rc.temp_failure_ttl = std::chrono::seconds(0);
        resolver = std::make_unique<Resolver>(io, rc);
        services->resolver = resolver.get();
        services->health = &health;
        services->zones = {
            {"bl", "bl.smtpwall", *CodeFilter::parse("127.0.0.[2..11]"), 10, true, true, true}};
        services->clock = [] { return std::int64_t{1'800'000'000}; };
        services->log = [this](const std::string& line) { log.push_back(line); };
        thread = std::thread([this] { io.run(); });
    }
    ~Fixture() {
        resolver->shutdown();
        work.reset();
        thread.join();
    }

    DnsFacts facts(std::string_view client, std::string_view helo = {},
                   std::chrono::milliseconds deadline = std::chrono::seconds(3)) {
        auto s =
            SessionLookups::start(services, *IpAddress::parse(client), Clock::now() + deadline);
        if (!helo.empty()) s->helo(std::string(helo));
        return s->wait();
    }

    Classification judge(std::string_view client, const DnsFacts& f) {
        static const DialupDetector dialup;
        return classify({IpAddress::parse(client), HeloProblem::none, "mx.test.smtpwall", &f},
                        ScoringPolicy{}, dialup);
    }
};

using Outcome = PtrFacts::Outcome;

bool has_tag(const Classification& c, std::string_view tag) {
    return std::any_of(c.tags.begin(), c.tags.end(), [&](const auto& t) { return t.name == tag; });
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(session_lookups, Fixture)

BOOST_AUTO_TEST_CASE(fcrdns_cases) {
    auto f = facts("192.0.2.1");
    BOOST_TEST((f.ptr.outcome == Outcome::confirmed));
    BOOST_TEST(f.ptr.confirmed_name == "mx.test.smtpwall");
    BOOST_TEST(!has_tag(judge("192.0.2.1", f), "baddns"));

    f = facts("192.0.2.20");  // PTR name resolves to another address
    BOOST_TEST((f.ptr.outcome == Outcome::unconfirmed));
    BOOST_TEST(has_tag(judge("192.0.2.20", f), "baddns"));

    f = facts("192.0.2.21");  // PTR name does not exist
    BOOST_TEST((f.ptr.outcome == Outcome::unconfirmed));

    f = facts("192.0.2.22");  // two PTRs, the second confirms
    BOOST_TEST((f.ptr.outcome == Outcome::confirmed));
    BOOST_TEST(f.ptr.names.size() == 2u);
    BOOST_TEST(f.ptr.confirmed_name == "host22.test.smtpwall");

    f = facts("192.0.2.5");  // RFC 2317 CNAME inside the zone
    BOOST_TEST(f.ptr.confirmed_name == "host5.test.smtpwall");
    f = facts("192.0.2.65");  // RFC 2317 CNAME into a delegated zone
    BOOST_TEST(f.ptr.confirmed_name == "host65.test.smtpwall");

    f = facts("2001:db8::1");  // IPv6, nibble reverse, AAAA forward
    BOOST_TEST((f.ptr.outcome == Outcome::confirmed));
    BOOST_TEST(f.ptr.confirmed_name == "mx.test.smtpwall");

    f = facts("192.0.2.7");  // no PTR at all
    BOOST_TEST((f.ptr.outcome == Outcome::no_ptr));
    BOOST_TEST(has_tag(judge("192.0.2.7", f), "baddns"));
}

BOOST_AUTO_TEST_CASE(dnsbl_listing_refusal_and_ipv6) {
    auto f = facts("192.0.2.7");
    BOOST_REQUIRE(f.zones.size() == 1u);
    BOOST_TEST((f.zones[0].verdict == ZoneVerdict::listed));
    const auto c = judge("192.0.2.7", f);
    BOOST_TEST(has_tag(c, "bl"));
    BOOST_TEST((c.decision == Classification::Decision::reject));  // bl 10 + baddns 5

    f = facts("2001:db8::2");  // nibble-format listing
    BOOST_TEST((f.zones.at(0).verdict == ZoneVerdict::listed));

    f = facts("192.0.2.8");  // 127.255.255.254: refused, never a listing
    BOOST_TEST((f.zones.at(0).verdict == ZoneVerdict::refused));
    BOOST_TEST(!has_tag(judge("192.0.2.8", f), "bl"));
    BOOST_TEST(!health.usable("bl.smtpwall", 1'800'000'000));
    BOOST_REQUIRE(!log.empty());
    BOOST_TEST(log.back().find("suspended") != std::string::npos);
    f = facts("192.0.2.7");  // while suspended the zone is not asked
    BOOST_TEST(f.zones.at(0).skipped);
}

BOOST_AUTO_TEST_CASE(helo_lookups) {
    auto f = facts("192.0.2.1", "mx.test.smtpwall");
    BOOST_TEST((f.helo.outcome == HeloFacts::Outcome::resolves));
    BOOST_TEST(f.helo.addresses.size() == 2u);  // A and AAAA
    f = facts("192.0.2.1", "nosuchname.test.smtpwall");
    BOOST_TEST((f.helo.outcome == HeloFacts::Outcome::does_not_resolve));
    BOOST_TEST(has_tag(judge("192.0.2.1", f), "bad-helo"));
    f = facts("192.0.2.1", "fail.test.smtpwall");  // SERVFAIL
    BOOST_TEST((f.helo.outcome == HeloFacts::Outcome::temp_error));
    const auto c = judge("192.0.2.1", f);
    BOOST_TEST(!has_tag(c, "bad-helo"));
    BOOST_TEST((c.decision == Classification::Decision::tempfail));
}

BOOST_AUTO_TEST_CASE(servfail_is_never_baddns_nor_a_reject) {
    const auto f = facts("192.0.2.24");
    BOOST_TEST((f.ptr.outcome == Outcome::temp_error));
    const auto c = judge("192.0.2.24", f);
    BOOST_TEST(!has_tag(c, "baddns"));
    BOOST_TEST((c.decision != Classification::Decision::reject));
}

BOOST_AUTO_TEST_CASE(a_dead_server_never_holds_a_session_past_its_deadline) {
    const auto start = Clock::now();
    const auto f = facts("192.0.2.25", {}, std::chrono::milliseconds(400));
    const auto waited = Clock::now() - start;
    BOOST_TEST(waited < std::chrono::milliseconds(700), "waited too long");
    BOOST_TEST(f.deadline_passed);
    const auto c = judge("192.0.2.25", f);
    BOOST_TEST((c.decision == Classification::Decision::tempfail));
    // Given time, the resolver gives up on its own (2 x 300 ms) and says so.
    const auto late = facts("192.0.2.25", {}, std::chrono::seconds(3));
    BOOST_TEST((late.ptr.outcome == Outcome::temp_error));
    BOOST_TEST(!late.deadline_passed);
}

BOOST_AUTO_TEST_CASE(a_slow_answer_delays_only_its_own_session) {
    const auto start = Clock::now();
    std::optional<DnsFacts> slow, fast;
    std::chrono::steady_clock::duration fast_took{};
    std::thread t1([&] { slow = facts("192.0.2.26"); });
    std::thread t2([&] {
        const auto s = Clock::now();
        fast = facts("192.0.2.22");
        fast_took = Clock::now() - s;
    });
    t1.join();
    t2.join();
    BOOST_TEST((slow->ptr.outcome == Outcome::confirmed));
    BOOST_TEST((Clock::now() - start) >= std::chrono::milliseconds(50));
    BOOST_TEST((fast->ptr.outcome == Outcome::confirmed));
    BOOST_TEST(fast_took < std::chrono::milliseconds(50),
               "the fast session waited for the slow one");
}

// What the client chooses costs a bounded number of lookups: past the budget of HELO
// names and of SPF checks, only the latest name and sender are looked up, and only when
// a verdict asks; so the one judged is always the one checked, and a thousand EHLOs or
// RSETs cost a few lookups.
BOOST_AUTO_TEST_CASE(helo_and_spf_budgets) {
    std::vector<std::string> budgets;
    services->max_helo_names = 3;
    services->max_spf_checks = 2;
    services->over_budget = [&](std::string_view b) { budgets.emplace_back(b); };
    std::atomic<int> spf_calls{0};
    services->spf = [&](const IpAddress&, const std::string&, const std::string& sender,
                        std::function<void(SpfFacts)> done) {
        ++spf_calls;
        done(SpfFacts{Progress::done,
                      sender.ends_with("@bad.example") ? SpfResult::fail : SpfResult::pass, "x",
                      ""});
    };
    const auto before = resolver->stats().lookups;
    auto s = SessionLookups::start(services, *IpAddress::parse("192.0.2.1"),
                                   Clock::now() + std::chrono::seconds(3));
    const auto connect_lookups = [&] { return s->wait(), resolver->stats().lookups - before; }();
    for (int i = 0; i < 1000; ++i) s->helo(fmt::format("h{}.nosuchname.test.smtpwall", i));
    BOOST_TEST(resolver->stats().lookups - before == connect_lookups + 3 * 3);
    // The verdict looks up the name it judges: the latest, which does not resolve.
    auto f = s->wait();
    BOOST_TEST(resolver->stats().lookups - before == connect_lookups + 4 * 3);
    BOOST_TEST((f.helo.outcome == HeloFacts::Outcome::does_not_resolve));
    BOOST_TEST(has_tag(judge("192.0.2.1", f), "bad-helo"));
    // A name looked up before costs nothing new; asking again changes nothing.
    s->helo("h1.nosuchname.test.smtpwall");
    f = s->wait();
    BOOST_TEST((f.helo.outcome == HeloFacts::Outcome::does_not_resolve));
    s->helo("mx.test.smtpwall");  // over the budget, but the verdict asks for it
    f = s->wait();
    BOOST_TEST((f.helo.outcome == HeloFacts::Outcome::resolves));
    BOOST_TEST(!has_tag(judge("192.0.2.1", f), "bad-helo"));

    s->mail_from("a@bad.example");
    BOOST_TEST((s->wait().spf.result == SpfResult::fail));
    for (int i = 0; i < 200; ++i) s->mail_from("a@bad.example");  // RSET, same sender
    BOOST_TEST(spf_calls == 1);
    BOOST_TEST((s->wait().spf.result == SpfResult::fail));
    s->mail_from("b@good.example");
    BOOST_TEST((s->wait().spf.result == SpfResult::pass));
    // Burning the budget on throw-away senders does not spare the one that counts.
    for (int i = 0; i < 200; ++i) s->mail_from(fmt::format("x{}@bad.example", i));
    BOOST_TEST(spf_calls == 2);
    f = s->wait();
    BOOST_TEST(spf_calls == 3);
    BOOST_TEST((f.spf.result == SpfResult::fail));
    BOOST_TEST(has_tag(judge("192.0.2.1", f), "spf-fail"));
    s->mail_from("b@good.example");  // checked before: its result again
    BOOST_TEST((s->wait().spf.result == SpfResult::pass));
    BOOST_TEST(spf_calls == 3);
    BOOST_TEST((budgets == std::vector<std::string>{"helo_names", "spf_checks"}));
}

// A recipient the verdict accepts whatever the pending answers say is answered at
// once: 192.0.2.27's PTR (host27) answers at once, its forward confirmation 150 ms
// later, and at worst it would stay unconfirmed (baddns, 5 < 10).
BOOST_AUTO_TEST_CASE(a_certain_accept_does_not_wait_for_the_confirmation) {
    conf::MilterConfig cfg;
    cfg.checks.spamtraps = {"trap@example.org"};
    const auto policy = std::make_shared<const SessionPolicy>(cfg);
    Session session(policy, IpAddress::parse("192.0.2.27"), "host27.test.smtpwall");
    session.helo("[192.0.2.27]");
    auto s = SessionLookups::start(services, *IpAddress::parse("192.0.2.27"),
                                   Clock::now() + std::chrono::seconds(3));
    const auto start = Clock::now();
    auto f = s->wait([&](const DnsFacts& known) {
        return session.accepts_whatever_comes("<user@example.org>", known);
    });
    const auto took = Clock::now() - start;
    BOOST_TEST(f.unfinished);
    BOOST_TEST(!f.deadline_passed);
    BOOST_TEST((took < std::chrono::milliseconds(120)), "waited for the forward confirmation");
    BOOST_TEST((f.ptr.progress == Progress::pending));
    BOOST_TEST(f.ptr.names == std::vector<std::string>{"host27.test.smtpwall"});
    session.set_dns(f);
    BOOST_TEST((session.recipient("<user@example.org>").action == Action::accept));
    // A spamtrap waits for every fact: its ban rests on them.
    f = s->wait([&](const DnsFacts& known) {
        return session.accepts_whatever_comes("<trap@example.org>", known);
    });
    BOOST_TEST(!f.unfinished);
    BOOST_TEST((f.ptr.outcome == Outcome::confirmed));
    BOOST_TEST((Clock::now() - start >= std::chrono::milliseconds(120)));
}

// An outcome SPF already knows is judged at once, in the caller's thread: nothing is
// queued and nobody waits for it.
BOOST_AUTO_TEST_CASE(a_known_spf_outcome_is_used_at_once) {
    std::atomic<int> spf_calls{0};
    services->spf = [&](const IpAddress&, const std::string&, const std::string&,
                        std::function<void(SpfFacts)> done) {
        ++spf_calls;
        done(SpfFacts{Progress::done, SpfResult::pass, "new.example", ""});
    };
    services->spf_cached = [](const IpAddress& client, const std::string& helo,
                              const std::string& sender) -> std::optional<SpfFacts> {
        if (client == *IpAddress::parse("192.0.2.1") && helo == "h.example" &&
            sender == "a@known.example")
            return SpfFacts{Progress::pending, SpfResult::fail, "known.example", "kept"};
        return std::nullopt;
    };
    auto s = SessionLookups::start(services, *IpAddress::parse("192.0.2.1"),
                                   Clock::now() + std::chrono::seconds(3));
    s->wait();
    s->helo("h.example");
    s->mail_from("a@known.example");
    const auto now = s->snapshot().spf;  // no wait: already there
    BOOST_TEST((now.progress == Progress::done));
    BOOST_TEST((now.result == SpfResult::fail));
    BOOST_TEST(now.domain == "known.example");
    BOOST_TEST(spf_calls == 0);
    s->mail_from("b@new.example");  // not known: checked
    BOOST_TEST((s->wait().spf.result == SpfResult::pass));
    BOOST_TEST(spf_calls == 1);
    s->mail_from("a@known.example");  // checked before in this session: its result again
    BOOST_TEST((s->snapshot().spf.result == SpfResult::fail));
    BOOST_TEST(spf_calls == 1);
}

// A callback that throws (a bug) is reported and harms neither the other sessions
// waiting for the same answer nor the resolver's later lookups.
BOOST_AUTO_TEST_CASE(a_throwing_callback_does_not_stop_the_resolver) {
    std::atomic<int> delivered{0};
    resolver->lookup("mx.test.smtpwall", RType::A,
                     [](const Result&) { throw std::runtime_error("injected"); });
    resolver->lookup("mx.test.smtpwall", RType::A, [&](const Result&) { ++delivered; });
    for (int i = 0; i < 100 && (delivered < 1 || resolver->stats().callback_errors < 1); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    BOOST_TEST(delivered == 1);
    BOOST_TEST(resolver->stats().callback_errors == 1u);
    const auto f = facts("192.0.2.22");
    BOOST_TEST((f.ptr.outcome == Outcome::confirmed));
}

BOOST_AUTO_TEST_SUITE_END()
