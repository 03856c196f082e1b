// SpfChecker (libspf2 + smtpwall's resolver) against a real nsd serving
// test/data/zones/spf.smtpwall.zone (SMTPWALL_DNS_PORT) and a dnsdist in front of it
// that drops every query for drop.spf.smtpwall (SMTPWALL_DNS_FAULT_PORT). Started by
// spf_test.sh. Every SPF result is asserted exactly; the deadline cases assert when the
// temperror arrives; the last case prints a warm-cache throughput figure.
#include <utility>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/udp.hpp>

#include "dnsbl/resolver.hpp"
#include "dnsbl/spf.hpp"

using namespace smtpwall;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

unsigned short port_from_env(const char* var) {
    const char* value = std::getenv(var);
    BOOST_TEST_REQUIRE(value != nullptr, var << " is not set: run test/integration/spf_test.sh");
    return static_cast<unsigned short>(std::atoi(value));
}

udp::endpoint nsd() {
    return {asio::ip::make_address("127.0.0.1"), port_from_env("SMTPWALL_DNS_PORT")};
}
udp::endpoint faults() {
    return {asio::ip::make_address("127.0.0.1"), port_from_env("SMTPWALL_DNS_FAULT_PORT")};
}

dns::ResolverConfig resolver_config(udp::endpoint server,
                                    std::chrono::milliseconds timeout = 1000ms) {
    dns::ResolverConfig c;
    c.servers = {server};
    c.timeout = timeout;
    c.attempts = 2;
    return c;
}

// The resolver on its own io thread, as in the milter; the checker's workers ask it.
class Harness {
  public:
    explicit Harness(dns::ResolverConfig rc, SpfConfig sc = default_spf())
        : resolver_(io_, std::move(rc)),
          thread_([this] { io_.run(); }),
          checker_(std::make_unique<SpfChecker>(resolver_, std::move(sc))) {}
    ~Harness() {
        checker_.reset();  // before the resolver it uses
        resolver_.shutdown();
        guard_.reset();
        thread_.join();
    }

    static SpfConfig default_spf() {
        SpfConfig c;
        c.local_hostname = "mx.smtpwall.test";
        return c;
    }

    SpfOutcome check(const std::string& client, const std::string& helo,
                     const std::string& sender) {
        auto promise = std::make_shared<std::promise<SpfOutcome>>();
        auto future = promise->get_future();
        const auto addr = IpAddress::parse(client);
        BOOST_TEST_REQUIRE(addr.has_value(), client);
        BOOST_TEST_REQUIRE(checker_->check(*addr, helo, sender,
                                           [promise](SpfOutcome o) { promise->set_value(o); }));
        BOOST_TEST_REQUIRE((future.wait_for(30s) == std::future_status::ready),
                           "no outcome for " << sender << " from " << client);
        return future.get();
    }

    SpfChecker& checker() { return *checker_; }
    dns::Stats dns_stats() const { return resolver_.stats(); }

  private:
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_{io_.get_executor()};
    dns::Resolver resolver_;
    std::thread thread_;
    std::unique_ptr<SpfChecker> checker_;
};

struct Case {
    const char* client;
    const char* helo;
    const char* sender;
    const char* expected;
};

std::string str(SpfResult r) {
    return std::string(to_string(r));
}

void run_table(Harness& h, const std::vector<Case>& cases) {
    for (const auto& c : cases) {
        const auto o = h.check(c.client, c.helo, c.sender);
        BOOST_TEST(str(o.result) == c.expected, c.sender << " from " << c.client << ": got "
                                                         << str(o.result) << " (" << o.explanation
                                                         << ")");
    }
}

constexpr const char* helo = "client.example";

}  // namespace

BOOST_AUTO_TEST_SUITE(spf_nsd)

BOOST_AUTO_TEST_CASE(pass_by_every_mechanism) {
    Harness h(resolver_config(nsd()));
    run_table(h, {
                     {"203.0.113.10", helo, "a@ip4.spf.smtpwall", "pass"},
                     {"203.0.113.99", helo, "a@ip4.spf.smtpwall", "fail"},
                     {"2001:db8:5f::10", helo, "a@ip6.spf.smtpwall", "pass"},
                     {"2001:db8:5f:1::99", helo, "a@ip6.spf.smtpwall", "fail"},
                     {"203.0.113.10", helo, "a@a.spf.smtpwall", "pass"},
                     {"2001:db8:5f::10", helo, "a@a.spf.smtpwall", "pass"},
                     {"203.0.113.11", helo, "a@a.spf.smtpwall", "fail"},
                     {"203.0.113.99", helo, "a@a-cidr.spf.smtpwall", "pass"},
                     {"198.51.100.99", helo, "a@a-cidr.spf.smtpwall", "fail"},
                     {"2001:db8:5f::99", helo, "a@a-cidr.spf.smtpwall", "pass"},
                     {"2001:db8:5f:1::99", helo, "a@a-cidr.spf.smtpwall", "fail"},
                     {"203.0.113.12", helo, "a@mx.spf.smtpwall", "pass"},
                     {"203.0.113.13", helo, "a@mx.spf.smtpwall", "pass"},
                     {"2001:db8:5f::12", helo, "a@mx.spf.smtpwall", "pass"},
                     {"203.0.113.99", helo, "a@mx.spf.smtpwall", "fail"},
                     {"203.0.113.10", helo, "a@include.spf.smtpwall", "pass"},
                     {"203.0.113.99", helo, "a@include.spf.smtpwall", "fail"},
                     {"203.0.113.10", helo, "a@redirect.spf.smtpwall", "pass"},
                     {"203.0.113.99", helo, "a@redirect.spf.smtpwall", "fail"},
                     {"203.0.113.10", helo, "a@split.spf.smtpwall", "pass"},
                     {"2001:db8:5f::10", helo, "a@split.spf.smtpwall", "pass"},
                     // IPv4-mapped IPv6, as a dual-stack MTA may report the client.
                     {"::ffff:203.0.113.10", helo, "a@ip4.spf.smtpwall", "pass"},
                 });
    // The answers came from our resolver (nsd), not from anywhere else.
    BOOST_TEST(h.dns_stats().queries_sent > 0u);
    const auto o = h.check("203.0.113.10", helo, "Alice@IP4.spf.smtpwall");
    BOOST_TEST(str(o.result) == "pass");
    BOOST_TEST(o.domain == "IP4.spf.smtpwall");
    BOOST_TEST(!o.helo_identity);
    BOOST_TEST(o.explanation ==
                   "mx.smtpwall.test: domain of IP4.spf.smtpwall designates 203.0.113.10 as "
                   "permitted sender",
               o.explanation);
    BOOST_TEST(o.received_spf ==
                   "pass (mx.smtpwall.test: domain of IP4.spf.smtpwall designates "
                   "203.0.113.10 as permitted sender) client-ip=203.0.113.10; "
                   "envelope-from=Alice@IP4.spf.smtpwall; helo=client.example;",
               o.received_spf);
}

BOOST_AUTO_TEST_CASE(fail_softfail_neutral_none) {
    Harness h(resolver_config(nsd()));
    run_table(h, {
                     {"203.0.113.10", helo, "a@fail.spf.smtpwall", "fail"},
                     {"2001:db8:5f::10", helo, "a@fail.spf.smtpwall", "fail"},
                     {"203.0.113.99", helo, "a@softfail.spf.smtpwall", "softfail"},
                     {"203.0.113.10", helo, "a@softfail.spf.smtpwall", "pass"},
                     {"203.0.113.99", helo, "a@neutral.spf.smtpwall", "neutral"},
                     {"203.0.113.99", helo, "a@no-all.spf.smtpwall", "neutral"},
                     {"203.0.113.10", helo, "a@nospf.spf.smtpwall", "none"},
                     {"203.0.113.10", helo, "a@nosuch.spf.smtpwall", "none"},
                     // A domain the server refuses (outside nsd's zones) is not "none":
                     // the resolver reports REFUSED, a temporary failure.
                     {"203.0.113.10", helo, "a@example.invalid", "temperror"},
                 });
    // The domain's explanation (exp=), macros expanded.
    auto o = h.check("203.0.113.99", helo, "a@fail-exp.spf.smtpwall");
    BOOST_TEST(str(o.result) == "fail");
    BOOST_TEST(o.exp == "203.0.113.99 may not send mail for fail-exp.spf.smtpwall");
    // libspf2 1.2.10 mangles literal spaces in an explanation (only %_ works); logs only.
    o = h.check("203.0.113.99", helo, "a@fail-exp2.spf.smtpwall");
    BOOST_TEST(str(o.result) == "fail");
    BOOST_TEST(o.exp == "203.0.113.99%may%not%send%mail%for%{d}");
    // Without exp=: smtpwall's default explanation.
    o = h.check("203.0.113.99", helo, "a@fail.spf.smtpwall");
    BOOST_TEST(o.exp == "203.0.113.99 is not a permitted sender for fail.spf.smtpwall");
    BOOST_TEST(o.explanation ==
               "mx.smtpwall.test: domain of fail.spf.smtpwall does not designate 203.0.113.99 "
               "as permitted sender");
}

BOOST_AUTO_TEST_CASE(permerror) {
    Harness h(resolver_config(nsd()));
    run_table(h, {
                     {"203.0.113.10", helo, "a@syntax.spf.smtpwall", "permerror"},
                     {"203.0.113.10", helo, "a@unknown-mech.spf.smtpwall", "permerror"},
                     {"203.0.113.10", helo, "a@two.spf.smtpwall", "permerror"},
                     {"203.0.113.10", helo, "a@many.spf.smtpwall", "permerror"},
                     {"203.0.113.10", helo, "a@include-none.spf.smtpwall", "permerror"},
                     // Ten DNS mechanisms are allowed.
                     {"203.0.113.10", helo, "a@ten.spf.smtpwall", "pass"},
                     {"203.0.113.99", helo, "a@ten.spf.smtpwall", "fail"},
                 });
    auto o = h.check("203.0.113.10", helo, "a@two.spf.smtpwall");
    BOOST_TEST(
        o.explanation.find("Multiple SPF records for 'two.spf.smtpwall'") != std::string::npos,
        o.explanation);
    o = h.check("203.0.113.10", helo, "a@syntax.spf.smtpwall");
    BOOST_TEST(o.explanation.find("Invalid IPv4 address literal") != std::string::npos,
               o.explanation);
    o = h.check("203.0.113.10", helo, "a@many.spf.smtpwall");
    BOOST_TEST(o.explanation.find("DNS") != std::string::npos, o.explanation);
    // The record's TXT plus the eleven a: lookups: the twelfth mechanism is refused.
    BOOST_TEST(o.dns_lookups == 12);
    o = h.check("203.0.113.10", helo, "a@ten.spf.smtpwall");
    BOOST_TEST(o.dns_lookups == 11);
}

BOOST_AUTO_TEST_CASE(temperror_from_servfail) {
    Harness h(resolver_config(nsd()));
    // include: of a name in broken.smtpwall, configured in nsd without its zone file.
    const auto start = std::chrono::steady_clock::now();
    const auto o = h.check("203.0.113.10", helo, "a@servfail.spf.smtpwall");
    BOOST_TEST(str(o.result) == "temperror", o.explanation);
    BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
    // The sender's own domain in the broken zone: libspf2 1.2.10 leaves that result
    // INVALID; it must still be temperror.
    BOOST_TEST(str(h.check("203.0.113.10", helo, "a@spf.broken.smtpwall").result) == "temperror");
}

BOOST_AUTO_TEST_CASE(ptr_exists_and_macros) {
    Harness h(resolver_config(nsd()));
    run_table(h, {
                     // ptr:hosts.spf.smtpwall, the PTR name must confirm and be in it.
                     {"203.0.113.20", helo, "a@ptr.spf.smtpwall", "pass"},
                     {"203.0.113.21", helo, "a@ptr.spf.smtpwall", "fail"},  // not confirmed
                     {"203.0.113.22", helo, "a@ptr.spf.smtpwall", "fail"},  // other domain
                     {"203.0.113.23", helo, "a@ptr.spf.smtpwall", "fail"},  // no PTR
                     {"2001:db8:5f::20", helo, "a@ptr.spf.smtpwall", "pass"},
                     // exists:%{i}._ip.%{d}
                     {"203.0.113.30", helo, "a@exists.spf.smtpwall", "pass"},
                     {"203.0.113.31", helo, "a@exists.spf.smtpwall", "fail"},
                     {"2001:db8:5f::30", helo, "a@exists.spf.smtpwall", "pass"},
                     {"2001:db8:5f::31", helo, "a@exists.spf.smtpwall", "fail"},
                     // exists:%{l}.%{ir}.%{v}._m.%{d2}
                     {"203.0.113.31", helo, "alice@macro.spf.smtpwall", "pass"},
                     {"203.0.113.31", helo, "bob@macro.spf.smtpwall", "fail"},
                     {"203.0.113.30", helo, "alice@macro.spf.smtpwall", "fail"},
                 });
}

BOOST_AUTO_TEST_CASE(null_sender_checks_the_helo_identity) {
    Harness h(resolver_config(nsd()));
    auto o = h.check("203.0.113.10", "helo.spf.smtpwall", "");
    BOOST_TEST(str(o.result) == "pass");
    BOOST_TEST(o.domain == "helo.spf.smtpwall");
    BOOST_TEST(o.helo_identity);
    BOOST_TEST(
        o.received_spf.find("envelope-from=postmaster@helo.spf.smtpwall;") != std::string::npos,
        o.received_spf);
    o = h.check("203.0.113.99", "helo.spf.smtpwall", "");
    BOOST_TEST(str(o.result) == "fail");
    BOOST_TEST(o.helo_identity);
    BOOST_TEST(str(h.check("2001:db8:5f::10", "helo.spf.smtpwall", "").result) == "pass");
    // HELO without a policy / an address literal: none.
    BOOST_TEST(str(h.check("203.0.113.10", "nospf.spf.smtpwall", "").result) == "none");
    BOOST_TEST(str(h.check("203.0.113.10", "[203.0.113.10]", "").result) == "none");
    // With a sender, its domain is checked, not the HELO.
    o = h.check("203.0.113.10", "helo.spf.smtpwall", "a@fail.spf.smtpwall");
    BOOST_TEST(str(o.result) == "fail");
    BOOST_TEST(o.domain == "fail.spf.smtpwall");
    BOOST_TEST(!o.helo_identity);
}

BOOST_AUTO_TEST_CASE(mixed_checks_in_parallel) {
    // 200 checks of one client at once: more than a client may have waiting by default.
    auto sc = Harness::default_spf();
    sc.client_queue = 1000;
    Harness h(resolver_config(nsd()), sc);
    const std::vector<Case> cases = {
        {"203.0.113.10", helo, "a@ip4.spf.smtpwall", "pass"},
        {"203.0.113.99", helo, "a@mx.spf.smtpwall", "fail"},
        {"2001:db8:5f::20", helo, "a@ptr.spf.smtpwall", "pass"},
        {"203.0.113.99", helo, "a@softfail.spf.smtpwall", "softfail"},
        {"203.0.113.10", helo, "a@two.spf.smtpwall", "permerror"},
        {"203.0.113.10", helo, "a@servfail.spf.smtpwall", "temperror"},
        {"203.0.113.31", helo, "alice@macro.spf.smtpwall", "pass"},
        {"203.0.113.10", "helo.spf.smtpwall", "", "pass"},
    };
    std::mutex m;
    std::condition_variable cv;
    std::vector<std::string> wrong;
    std::size_t done = 0;
    constexpr std::size_t rounds = 50;
    for (std::size_t i = 0; i < rounds * cases.size(); ++i) {
        const Case& c = cases[i % cases.size()];
        const bool accepted =
            h.checker().check(*IpAddress::parse(c.client), c.helo, c.sender, [&, c](SpfOutcome o) {
                const std::lock_guard lock(m);
                if (str(o.result) != c.expected) {
                    wrong.push_back(std::string(c.sender) + ": " + str(o.result));
                }
                ++done;
                cv.notify_all();
            });
        BOOST_TEST_REQUIRE(accepted);
    }
    std::unique_lock lock(m);
    BOOST_TEST_REQUIRE(cv.wait_for(lock, 60s, [&] { return done == rounds * cases.size(); }));
    BOOST_TEST(wrong.empty(), wrong.size()
                                  << " wrong, first: " << (wrong.empty() ? "" : wrong.front()));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(spf_faults)

// dnsdist drops every query for drop.spf.smtpwall; the resolver would give up after
// 2 x 1000 ms, the SPF deadline of 1500 ms comes first.
BOOST_AUTO_TEST_CASE(temperror_at_the_deadline) {
    SpfConfig sc = Harness::default_spf();
    sc.deadline = 1500ms;
    Harness h(resolver_config(faults(), 1000ms), sc);
    // Through dnsdist, everything else still works.
    BOOST_TEST(str(h.check("203.0.113.10", helo, "a@include.spf.smtpwall").result) == "pass");
    const auto start = std::chrono::steady_clock::now();
    const auto o = h.check("203.0.113.10", helo, "a@timeout.spf.smtpwall");
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count();
    BOOST_TEST(str(o.result) == "temperror");
    BOOST_TEST(o.explanation.find("deadline of 1500 ms exceeded") != std::string::npos,
               o.explanation);
    BOOST_TEST(took >= 1500);
    BOOST_TEST(took < 1500 + 250, "temperror after " << took << " ms");
    BOOST_TEST(h.checker().stats().deadline_exceeded == 1u);
    BOOST_TEST_MESSAGE("deadline 1500 ms: temperror after " << took << " ms");
}

// The resolver's own timeout (2 x 200 ms) comes before the 5 s deadline: temperror
// as soon as the resolver gives up, for an include and for the sender's own domain.
BOOST_AUTO_TEST_CASE(temperror_from_resolver_timeout) {
    auto rc = resolver_config(faults(), 200ms);
    rc.temp_failure_ttl = 0s;  // both checks must wait for the network, not the cache
    Harness h(rc);
    for (const char* sender : {"a@timeout.spf.smtpwall", "a@drop.spf.smtpwall"}) {
        const auto start = std::chrono::steady_clock::now();
        const auto o = h.check("203.0.113.10", helo, sender);
        const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - start)
                              .count();
        BOOST_TEST(str(o.result) == "temperror", sender << ": " << o.explanation);
        BOOST_TEST(took >= 400);
        BOOST_TEST(took < 1000, sender << ": temperror after " << took << " ms");
        BOOST_TEST_MESSAGE(sender << ": resolver timeout 2 x 200 ms, temperror after " << took
                                  << " ms");
    }
    BOOST_TEST(h.checker().stats().deadline_exceeded == 0u);
    BOOST_TEST(h.dns_stats().timeouts >= 4u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(spf_throughput)

// Once the resolver holds a domain's records, a new client of it is judged at once in
// the caller's thread: no query, no worker, the same outcome a worker finds.
BOOST_AUTO_TEST_CASE(a_new_client_of_a_cached_domain_is_judged_at_once) {
    Harness h(resolver_config(nsd()));
    BOOST_TEST_REQUIRE(str(h.check("203.0.113.10", helo, "a@include.spf.smtpwall").result) ==
                       "pass");
    // Both MX hosts' addresses: a pass by the first never asks for the second's.
    BOOST_TEST_REQUIRE(str(h.check("203.0.113.13", helo, "a@mx.spf.smtpwall").result) == "pass");
    const auto queries = h.dns_stats().queries_sent;
    const auto accepted = h.checker().stats().accepted;
    const auto at_once = [&](const char* client, const char* sender) {
        const auto o = h.checker().cached(*IpAddress::parse(client), helo, sender);
        BOOST_TEST_REQUIRE(o.has_value(), sender << " from " << client);
        return str(o->result);
    };
    BOOST_TEST(at_once("203.0.113.99", "b@include.spf.smtpwall") == "fail");
    BOOST_TEST(at_once("203.0.113.12", "b@mx.spf.smtpwall") == "pass");
    BOOST_TEST(at_once("203.0.113.98", "b@mx.spf.smtpwall") == "fail");
    BOOST_TEST(h.dns_stats().queries_sent == queries);
    BOOST_TEST(h.checker().stats().accepted == accepted);
    BOOST_TEST(h.checker().stats().evaluated_at_once == 3u);
    // A domain never asked about: not at once (a worker will ask DNS).
    BOOST_TEST(!h.checker().cached(*IpAddress::parse("203.0.113.10"), helo, "a@a.spf.smtpwall"));
    BOOST_TEST(h.dns_stats().queries_sent == queries);
    BOOST_TEST(str(h.check("203.0.113.10", helo, "a@a.spf.smtpwall").result) == "pass");
}

// Not a timed assertion: prints checks/s for a pass needing one TXT lookup, answered
// from the resolver's cache, through the default two workers.
BOOST_AUTO_TEST_CASE(warm_cache_pass) {
    Harness h(resolver_config(nsd()));
    BOOST_TEST_REQUIRE(str(h.check("203.0.113.10", helo, "a@bench.spf.smtpwall").result) == "pass");
    SpfConfig sc = Harness::default_spf();
    constexpr int n = 20000;
    std::mutex m;
    std::condition_variable cv;
    int done = 0, pass = 0;
    const auto client = *IpAddress::parse("203.0.113.10");
    const auto start = std::chrono::steady_clock::now();
    int submitted = 0;
    while (submitted < n) {
        // Keep within the queue bound: submit in waves.
        if (h.checker().check(client, helo, "a@bench.spf.smtpwall", [&](SpfOutcome o) {
                const std::lock_guard lock(m);
                ++done;
                pass += o.result == SpfResult::pass ? 1 : 0;
                cv.notify_all();
            })) {
            ++submitted;
        } else {
            std::unique_lock lock(m);
            cv.wait_for(lock, 10ms, [&] { return submitted - done < 500; });
        }
    }
    std::unique_lock lock(m);
    BOOST_TEST_REQUIRE(cv.wait_for(lock, 120s, [&] { return done == n; }));
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    BOOST_TEST(pass == n);
    BOOST_TEST_MESSAGE("SPF warm-cache pass: " << n << " checks in " << secs
                                               << " s = " << static_cast<long>(n / secs)
                                               << " checks/s (" << sc.workers << " workers)");
    std::printf("SPF warm-cache pass: %d checks in %.3f s = %.0f checks/s (%d workers)\n", n, secs,
                n / secs, sc.workers);
}

BOOST_AUTO_TEST_SUITE_END()
