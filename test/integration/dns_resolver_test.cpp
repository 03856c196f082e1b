// The resolver against a real nsd (SMTPWALL_DNS_PORT) and, for fault injection, a
// dnsdist in front of it (SMTPWALL_DNS_FAULT_PORT: slow.* delayed 50 ms, drop.*
// dropped, fail.* SERVFAIL, cname-only.* answered with a bare CNAME). Started by
// dns_test.sh with the zones in test/data/zones.
#include <utility>

#include <boost/test/unit_test.hpp>

#include <condition_variable>
#include <cstdlib>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/udp.hpp>

#include "dnsbl/resolver.hpp"

using namespace smtpwall;
using namespace smtpwall::dns;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

unsigned short port_from_env(const char* var) {
    const char* value = std::getenv(var);
    BOOST_TEST_REQUIRE(value != nullptr, var << " is not set: run test/integration/dns_test.sh");
    return static_cast<unsigned short>(std::atoi(value));
}

udp::endpoint nsd() {
    return {asio::ip::make_address("127.0.0.1"), port_from_env("SMTPWALL_DNS_PORT")};
}
udp::endpoint nsd6() {
    return {asio::ip::make_address("::1"), port_from_env("SMTPWALL_DNS_PORT")};
}
udp::endpoint faults() {
    return {asio::ip::make_address("127.0.0.1"), port_from_env("SMTPWALL_DNS_FAULT_PORT")};
}

ResolverConfig config(std::vector<udp::endpoint> servers) {
    ResolverConfig c;
    c.servers = std::move(servers);
    return c;
}

thread_local bool on_io_thread = false;

using Queries = std::vector<std::pair<std::string, RType>>;

// What a batch of lookups produced. Shared with the callbacks, so a lookup finishing
// after a failed wait cannot write into a dead stack frame.
struct Batch {
    std::mutex m;
    std::condition_variable cv;
    std::vector<Result> results;
    std::vector<int> calls;          // per lookup: callbacks seen
    std::vector<std::size_t> order;  // completion order
    std::size_t done = 0;
    bool off_io_thread = false;
};

// Issues all lookups at once and waits (no Boost.Test assertions: also used from
// several threads at once).
std::shared_ptr<Batch> gather(Resolver& resolver, const Queries& queries) {
    auto b = std::make_shared<Batch>();
    b->results.resize(queries.size());
    b->calls.resize(queries.size());
    for (std::size_t i = 0; i < queries.size(); ++i) {
        resolver.lookup(queries[i].first, queries[i].second, [b, i](const Result& r) {
            const std::lock_guard lock(b->m);
            b->results[i] = r;
            b->off_io_thread |= !on_io_thread;
            ++b->calls[i];
            b->order.push_back(i);
            ++b->done;
            b->cv.notify_all();
        });
    }
    std::unique_lock lock(b->m);
    b->cv.wait_for(lock, 30s, [&] { return b->done == queries.size(); });
    lock.unlock();
    std::this_thread::sleep_for(1ms);  // a second call would come now
    return b;
}

// A resolver whose io_context runs on its own thread(s), as in the milter; lookups
// come from the test thread(s).
class Harness {
  public:
    explicit Harness(ResolverConfig c, int io_threads = 1) : resolver_(io_, std::move(c)) {
        for (int i = 0; i < io_threads; ++i) {
            threads_.emplace_back([this] {
                on_io_thread = true;
                io_.run();
            });
        }
    }
    ~Harness() {
        resolver_.shutdown();
        guard_.reset();
        // With the resolver shut down nothing may keep the io_context busy: no armed
        // read, no timer. run() returning proves it.
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!io_.stopped() && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(1ms);
        }
        if (!io_.stopped()) {
            BOOST_ERROR("io_context still busy 5 s after shutdown()");
            io_.stop();
        }
        for (auto& t : threads_) t.join();
    }

    Result resolve(const std::string& name, RType type) {
        return resolve_all({{name, type}}).at(0);
    }

    // Results in request order; completion order in `order`.
    std::vector<Result> resolve_all(const Queries& queries,
                                    std::vector<std::size_t>* order = nullptr) {
        const auto b = gather(resolver_, queries);
        const std::lock_guard lock(b->m);
        BOOST_TEST_REQUIRE(b->done == queries.size(),
                           "only " << b->done << " of " << queries.size() << " lookups completed");
        for (const int n : b->calls) BOOST_TEST(n == 1, "callback ran " << n << " times");
        BOOST_TEST(!b->off_io_thread, "a callback ran outside the io_context's threads");
        if (order) *order = b->order;
        return b->results;
    }

    Resolver& resolver() { return resolver_; }
    Stats stats() const { return resolver_.stats(); }

  private:
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_{io_.get_executor()};
    Resolver resolver_;
    std::vector<std::thread> threads_;
};

std::vector<std::string> addresses(const Result& r) {
    std::vector<std::string> out;
    for (const auto& a : r.addresses) out.push_back(a.to_string());
    return out;
}

using Names = std::vector<std::string>;

}  // namespace

BOOST_AUTO_TEST_SUITE(dns_resolver)

BOOST_AUTO_TEST_CASE(forward_lookups) {
    Harness h(config({nsd()}));
    auto r = h.resolve("mx.test.smtpwall", RType::A);
    BOOST_TEST((r.status == Status::ok));
    BOOST_TEST(addresses(r) == Names{"192.0.2.1"});
    BOOST_TEST(r.ttl == 300u);
    BOOST_TEST(!r.from_cache);
    BOOST_TEST(r.latency.count() > 0);
    BOOST_TEST(addresses(h.resolve("MX.Test.Smtpwall.", RType::AAAA)) == Names{"2001:db8::1"});
    BOOST_TEST((h.resolve("test.smtpwall", RType::MX).names ==
                Names{"mx.test.smtpwall", "mx2.test.smtpwall"}));
    BOOST_TEST(h.resolve("txt.test.smtpwall", RType::TXT).texts ==
               Names{"v=spf1 ip4:192.0.2.0/24 -all"});
    BOOST_TEST(h.resolve("multi.test.smtpwall", RType::TXT).texts == Names{"part one, part two"});
    // TTL 5 in the zone, raised to min_ttl.
    BOOST_TEST(h.resolve("shortttl.test.smtpwall", RType::A).ttl == 60u);
}

BOOST_AUTO_TEST_CASE(ipv6_server) {
    Harness h(config({nsd6()}));
    BOOST_TEST(addresses(h.resolve("mx.test.smtpwall", RType::A)) == Names{"192.0.2.1"});
}

BOOST_AUTO_TEST_CASE(nxdomain_nodata_refused) {
    Harness h(config({nsd()}));
    auto r = h.resolve("nosuch.test.smtpwall", RType::A);
    BOOST_TEST((r.status == Status::nxdomain));
    BOOST_TEST(r.ttl == 60u);  // SOA minimum
    BOOST_TEST(!r.temporary());
    r = h.resolve("v4only.test.smtpwall", RType::AAAA);
    BOOST_TEST((r.status == Status::nodata));
    BOOST_TEST(r.addresses.empty());
    // Negative answers are cached too.
    const auto sent = h.stats().queries_sent;
    BOOST_TEST(h.resolve("nosuch.test.smtpwall", RType::A).from_cache);
    BOOST_TEST(h.stats().queries_sent == sent);
    // Outside nsd's zones.
    r = h.resolve("www.example.invalid", RType::A);
    BOOST_TEST((r.status == Status::refused));
    BOOST_TEST(r.temporary());
}

BOOST_AUTO_TEST_CASE(reverse_lookups) {
    Harness h(config({nsd()}));
    const auto ptr = [&](const char* ip) {
        return h.resolve(reverse_name(*IpAddress::parse(ip)), RType::PTR);
    };
    BOOST_TEST(ptr("192.0.2.1").names == Names{"mx.test.smtpwall"});
    BOOST_TEST(ptr("2001:db8::1").names == Names{"mx.test.smtpwall"});
    BOOST_TEST((ptr("192.0.2.7").status == Status::nxdomain));
    // RFC 2317, classless name in the same zone and in a delegated "64/26" zone.
    BOOST_TEST(ptr("192.0.2.5").names == Names{"host5.test.smtpwall"});
    BOOST_TEST(ptr("192.0.2.65").names == Names{"host65.test.smtpwall"});
    // DNSBL form.
    const auto bl =
        h.resolve(reverse_name(*IpAddress::parse("192.0.2.7"), "bl.smtpwall"), RType::A);
    BOOST_TEST((addresses(bl) == Names{"127.0.0.2", "127.0.0.4"}));
}

BOOST_AUTO_TEST_CASE(cname_chains) {
    Harness h(config({nsd()}));
    auto r = h.resolve("alias2.test.smtpwall", RType::A);
    BOOST_TEST(addresses(r) == Names{"192.0.2.1"});
    BOOST_TEST(h.resolve("ext.test.smtpwall", RType::A).ttl == 120u);  // lowest in the chain
    BOOST_TEST(h.resolve("alias.test.smtpwall", RType::CNAME).names == Names{"mx.test.smtpwall"});
    BOOST_TEST((h.resolve("loop-a.test.smtpwall", RType::A).status == Status::error));
    // nsd gives only the CNAME (target zone not loaded): the target is queried and
    // its SERVFAIL is the result.
    const auto before = h.stats().queries_sent;
    BOOST_TEST((h.resolve("broken.test.smtpwall", RType::A).status == Status::servfail));
    BOOST_TEST(h.stats().queries_sent - before == 2u);
}

BOOST_AUTO_TEST_CASE(bare_cname_is_followed_with_a_new_query) {
    Harness h(config({faults()}));
    const auto r = h.resolve("cname-only.test.smtpwall", RType::A);
    BOOST_TEST(addresses(r) == Names{"192.0.2.65"});
    BOOST_TEST(h.stats().queries_sent == 2u);
    // The target's own answer was cached on the way.
    BOOST_TEST(h.resolve("host65.test.smtpwall", RType::A).from_cache);
}

BOOST_AUTO_TEST_CASE(truncated_answer_falls_back_to_tcp) {
    Harness h(config({nsd()}));
    const auto r = h.resolve("big.test.smtpwall", RType::TXT);
    BOOST_TEST((r.status == Status::ok));
    BOOST_TEST(r.texts.size() == 20u);
    BOOST_TEST(h.stats().tcp_fallbacks == 1u);
}

BOOST_AUTO_TEST_CASE(servfail_is_temporary_and_cached_briefly) {
    Harness h(config({nsd()}));
    auto r = h.resolve("mx.broken.smtpwall", RType::A);
    BOOST_TEST((r.status == Status::servfail));
    BOOST_TEST(r.temporary());
    BOOST_TEST(r.ttl == 5u);
    const auto sent = h.stats().queries_sent;
    BOOST_TEST(h.resolve("mx.broken.smtpwall", RType::A).from_cache);
    BOOST_TEST(h.stats().queries_sent == sent);

    Harness f(config({faults()}));
    BOOST_TEST((f.resolve("fail.test.smtpwall", RType::A).status == Status::servfail));
}

BOOST_AUTO_TEST_CASE(servfail_moves_to_the_next_server) {
    Harness h(config({faults(), nsd()}));
    const auto r = h.resolve("fail.test.smtpwall", RType::A);
    BOOST_TEST(addresses(r) == Names{"192.0.2.52"});
    BOOST_TEST(h.stats().queries_sent == 2u);
}

BOOST_AUTO_TEST_CASE(timeout_within_timeout_times_attempts) {
    auto c = config({faults()});
    c.timeout = 300ms;
    c.attempts = 2;
    Harness h(c);
    const auto start = std::chrono::steady_clock::now();
    const auto r = h.resolve("drop.test.smtpwall", RType::A);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    BOOST_TEST((r.status == Status::timeout));
    BOOST_TEST(r.temporary());
    BOOST_TEST(h.stats().timeouts == 2u);
    BOOST_TEST(h.stats().queries_sent == 2u);
    BOOST_TEST(elapsed >= 600ms);
    BOOST_TEST(elapsed < 600ms + 400ms);  // scheduling slack only
}

BOOST_AUTO_TEST_CASE(unreachable_server_is_skipped_without_waiting) {
    // A port nobody listens on: the kernel answers with ICMP port unreachable, which a
    // connected UDP socket reports; the next server is asked at once.
    unsigned short closed = 0;
    {
        asio::io_context io;
        udp::socket s(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        closed = s.local_endpoint().port();
    }
    auto c = config({udp::endpoint(asio::ip::make_address("127.0.0.1"), closed), nsd()});
    c.timeout = 5s;
    Harness h(c);
    const auto r = h.resolve("mx.test.smtpwall", RType::A);
    BOOST_TEST(addresses(r) == Names{"192.0.2.1"});
    BOOST_TEST(r.latency < 5s);
    BOOST_TEST(h.stats().network_errors >= 1u);
    BOOST_TEST(h.stats().timeouts == 0u);
}

BOOST_AUTO_TEST_CASE(identical_lookups_in_flight_share_one_query) {
    Harness h(config({faults()}));  // slow.*: 50 ms, so all 100 arrive while it is out
    const Queries same(100, {"slow.test.smtpwall", RType::A});
    const auto results = h.resolve_all(same);
    for (const auto& r : results) BOOST_TEST(addresses(r) == Names{"192.0.2.50"});
    BOOST_TEST(h.stats().queries_sent == 1u);
    BOOST_TEST(h.stats().shared == 99u);
    BOOST_TEST(h.stats().in_flight == 0u);
}

BOOST_AUTO_TEST_CASE(repeat_is_a_cache_hit) {
    Harness h(config({nsd()}));
    const auto first = h.resolve("mx2.test.smtpwall", RType::A);
    const auto second = h.resolve("mx2.test.smtpwall", RType::A);
    BOOST_TEST(!first.from_cache);
    BOOST_TEST(second.from_cache);
    BOOST_TEST(addresses(second) == Names{"192.0.2.2"});
    BOOST_TEST(second.ttl <= first.ttl);
    BOOST_TEST(h.stats().queries_sent == 1u);
    BOOST_TEST(h.stats().cache_hits == 1u);
    BOOST_TEST(h.stats().cache_entries == 1u);
}

BOOST_AUTO_TEST_CASE(thousand_concurrent_distinct_lookups) {
    Harness h(config({nsd()}));
    Queries queries;
    for (int i = 0; i < 1000; ++i)
        queries.emplace_back("n" + std::to_string(i) + ".many.test.smtpwall", RType::A);
    const auto results = h.resolve_all(queries);
    int ok = 0;
    for (const auto& r : results) ok += addresses(r) == Names{"192.0.2.99"};
    BOOST_TEST(ok == 1000);
    BOOST_TEST(h.stats().replies == 1000u);
    // Loopback loses nothing unless a receive buffer overflows (see RcvbufErrors in
    // /proc/net/snmp): a retry here means the resolver dropped a reply itself.
    BOOST_TEST(h.stats().timeouts == 0u);
    BOOST_TEST(h.stats().queries_sent == 1000u);
    BOOST_TEST_MESSAGE("1000 lookups: " << h.stats().queries_sent << " queries, "
                                        << h.stats().timeouts << " timeouts, " << h.stats().ignored
                                        << " ignored, " << h.stats().replies << " replies");
}

BOOST_AUTO_TEST_CASE(many_caller_threads_and_io_threads) {
    // The milter calls lookup() from libmilter's threads; the io_context may run on
    // several. Overlapping names exercise sharing and the cache across threads.
    Harness h(config({nsd()}), 2);
    Queries queries;
    for (int i = 0; i < 200; ++i)
        queries.emplace_back("t" + std::to_string(i % 50) + ".many.test.smtpwall", RType::A);
    std::vector<std::shared_ptr<Batch>> batches(4);
    std::vector<std::thread> callers;
    for (auto& b : batches) callers.emplace_back([&] { b = gather(h.resolver(), queries); });
    for (auto& t : callers) t.join();
    for (const auto& b : batches) {
        const std::lock_guard lock(b->m);
        BOOST_TEST(b->done == queries.size());
        BOOST_TEST(!b->off_io_thread);
        for (const int n : b->calls) BOOST_TEST(n == 1);
        for (const auto& r : b->results) BOOST_TEST(addresses(r) == Names{"192.0.2.99"});
    }
    const Stats s = h.stats();
    BOOST_TEST(s.lookups == 800u);
    BOOST_TEST(s.queries_sent == 50u);
    BOOST_TEST(s.cache_hits + s.shared == 750u);
}

BOOST_AUTO_TEST_CASE(a_slow_name_does_not_delay_others) {
    Harness h(config({faults()}));
    Queries queries{{"slow.test.smtpwall", RType::A}};
    for (int i = 0; i < 20; ++i)
        queries.emplace_back("f" + std::to_string(i) + ".many.test.smtpwall", RType::A);
    std::vector<std::size_t> order;
    const auto results = h.resolve_all(queries, &order);
    BOOST_TEST(order.back() == 0u);  // the slow one finishes last
    BOOST_TEST(results[0].latency >= 50ms);
    for (std::size_t i = 1; i < results.size(); ++i) BOOST_TEST((results[i].status == Status::ok));
}

BOOST_AUTO_TEST_CASE(forged_and_stray_replies_are_ignored) {
    // A server that first answers with a wrong id and with a wrong question, then
    // correctly: the lookup must wait for (and only believe) the real answer.
    asio::io_context server_io;
    udp::socket server(server_io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    std::thread fake([&] {
        std::array<std::uint8_t, 1500> buf;
        udp::endpoint client;
        const std::size_t n = server.receive_from(asio::buffer(buf), client);
        std::vector<std::uint8_t> query(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
        // Header + question only, then one A record pointing back at the question name.
        std::size_t end = 12;
        while (query[end] != 0) end += 1 + query[end];
        end += 5;
        auto answer = [&](std::uint8_t id_delta, std::uint8_t name_byte) {
            std::vector<std::uint8_t> r(query.begin(),
                                        query.begin() + static_cast<std::ptrdiff_t>(end));
            r[1] = static_cast<std::uint8_t>(r[1] + id_delta);
            r[2] |= 0x80;          // QR
            r[3] = 0x80;           // RA, NOERROR
            r[6] = 0, r[7] = 1;    // ANCOUNT
            r[10] = 0, r[11] = 0;  // no OPT
            if (name_byte) r[13] = name_byte;
            const std::uint8_t rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 77};
            r.insert(r.end(), std::begin(rr), std::end(rr));
            return r;
        };
        server.send_to(asio::buffer(answer(1, 0)), client);    // wrong id
        server.send_to(asio::buffer(answer(0, 'z')), client);  // wrong question
        std::this_thread::sleep_for(20ms);
        server.send_to(asio::buffer(answer(0, 0)), client);
    });
    Harness h(config({server.local_endpoint()}));
    const auto r = h.resolve("forge.test.smtpwall", RType::A);
    fake.join();
    BOOST_TEST(addresses(r) == Names{"192.0.2.77"});
    BOOST_TEST(h.stats().ignored == 2u);
    BOOST_TEST(h.stats().queries_sent == 1u);
}

BOOST_AUTO_TEST_CASE(invalid_names_are_never_sent) {
    Harness h(config({nsd()}));
    for (const std::string& name : {std::string("bad name.test.smtpwall"), std::string(300, 'a'),
                                    std::string("a\0b", 3), std::string(""), std::string("x..y")}) {
        BOOST_TEST((h.resolve(name, RType::A).status == Status::error));
    }
    BOOST_TEST(h.stats().queries_sent == 0u);
}

BOOST_AUTO_TEST_CASE(shutdown_completes_outstanding_lookups) {
    auto c = config({faults()});
    c.timeout = 10s;
    Harness h(c);
    std::promise<Result> pending;
    h.resolver().lookup("drop.test.smtpwall", RType::A,
                        [&](const Result& r) { pending.set_value(r); });
    std::this_thread::sleep_for(50ms);
    BOOST_TEST(h.stats().in_flight == 1u);
    h.resolver().shutdown();
    auto f = pending.get_future();
    BOOST_TEST_REQUIRE((f.wait_for(2s) == std::future_status::ready));
    BOOST_TEST((f.get().status == Status::error));
    // Later lookups fail at once, without a packet.
    BOOST_TEST((h.resolve("mx.test.smtpwall", RType::A).status == Status::error));
    BOOST_TEST(h.stats().queries_sent == 1u);
    // ~Harness checks that the io_context runs dry.
}

BOOST_AUTO_TEST_SUITE_END()
