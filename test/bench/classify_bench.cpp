// Classification latency benchmark (issue 3, the latency budget): N sessions, each with
// its own client address, HELO name and sender domain (nothing cached), 6 DNSBL
// zones, PTR -> AAAA forward confirmation, HELO A/AAAA/MX and SPF, through the
// milter's own DnsService and SpfChecker. Every DNS answer is delayed by dnsdist
// (see classify_bench.sh). Prints p50/p90/p99 verdict latency next to the ideal
// (the longest chain of dependent lookups, two round trips) and the sum of all
// lookups done one after another (what a serial checker would pay).
// Usage: classify_bench DNS_PORT DELAY_MS [SESSIONS] [CONCURRENCY] [SPF_WORKERS]
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "conf/milter_config.hpp"
#include "core/session.hpp"
#include "dnsbl/spf.hpp"
#include "milter/dns_service.hpp"

using namespace smtpwall;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
    if (argc < 3) {
        fmt::print(stderr, "usage: {} DNS_PORT DELAY_MS [SESSIONS] [CONCURRENCY]\n", argv[0]);
        return 2;
    }
    const int port = std::atoi(argv[1]);
    const int delay_ms = std::atoi(argv[2]);
    const int sessions = argc > 3 ? std::atoi(argv[3]) : 1000;
    const int concurrency = argc > 4 ? std::atoi(argv[4]) : 50;
    const int spf_workers = argc > 5 ? std::atoi(argv[5]) : 32;  // the milter's default
    // SMTPWALL_BENCH_WARM=1: ten clients over and over, every answer from the cache;
    // what is left is smtpwall's own cost per session.
    const bool warm = std::getenv("SMTPWALL_BENCH_WARM") != nullptr;

    std::string text = fmt::format(
        "[dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"2s\"\ndeadline = \"5s\"\nprobe_interval "
        "= \"0\"\n[spf]\nworkers = {}\n",
        port, spf_workers);
    for (int z = 1; z <= 6; ++z)
        text += fmt::format(
            "[[zone]]\ntag = \"z{}\"\nzone = \"z{}.bench.example\"\nweight = 10\nipv6 = true\ntxt "
            "= false\n",
            z, z);
    const auto config = conf::parse_milter_config(text, "bench.conf");
    const auto now = [] {
        return std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    };
    DnsService dns(config, now);
    SpfChecker spf(dns.resolver(), SpfConfig{config.spf.workers, std::chrono::seconds(5),
                                             "mx.bench.example", 10000});
    dns.use_spf(spf);
    const auto policy = std::make_shared<const SessionPolicy>(config);

    std::vector<double> latencies(static_cast<std::size_t>(sessions));
    std::atomic<int> next{0}, rejected{0}, deadline_passed{0}, spf_pass{0};
    auto worker = [&] {
        for (int n = next++; n < sessions; n = next++) {
            const int i = warm ? n % 10 : n;
            const auto client = *IpAddress::parse(
                fmt::format("2001:db8:b::{:x}:{:x}", i / 65536 + 1, i % 65536 + 2));
            const auto helo = fmt::format("h{}.helo.bench.example", i);
            const auto sender = fmt::format("bench@s{}.spf.bench.example", i);
            const auto start = Clock::now();
            // What the milter does at connect, HELO and MAIL, then waits for at RCPT.
            auto lookups = dns.start_session(client);
            Session session(policy, client, "");
            session.helo(helo);
            lookups->helo(helo);
            session.mail_from(sender, false);
            lookups->mail_from(sender);
            const auto facts = lookups->wait();
            session.set_dns(facts);
            const auto& c = session.classification();
            latencies[static_cast<std::size_t>(n)] =
                std::chrono::duration<double, std::milli>(Clock::now() - start).count();
            if (c.decision == Classification::Decision::reject) ++rejected;
            if (facts.deadline_passed) ++deadline_passed;
            if (facts.spf.result == SpfResult::pass) ++spf_pass;
        }
    };
    const auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < concurrency; ++t) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();

    std::sort(latencies.begin(), latencies.end());
    auto pct = [&](double p) {
        return latencies[static_cast<std::size_t>(p * (latencies.size() - 1))];
    };
    // PTR, its AAAA, 6 zones, HELO A/AAAA/MX, SPF TXT: 12 lookups; the longest dependent
    // chain is PTR -> AAAA (the SPF policy needs one TXT, the zones one A each).
    constexpr int kLookups = 12, kChain = 2;
    fmt::print(
        "sessions {} (concurrency {}, {} SPF workers), DNS delay {} ms per answer, {:.1f} s wall, "
        "{:.0f} sessions/s\n",
        sessions, concurrency, spf_workers, delay_ms, wall, sessions / wall);
    fmt::print("verdict latency  p50 {:.1f} ms  p90 {:.1f} ms  p99 {:.1f} ms  max {:.1f} ms\n",
               pct(0.5), pct(0.9), pct(0.99), latencies.back());
    fmt::print("ideal (longest dependent chain, {} round trips)  {} ms\n", kChain,
               kChain * delay_ms);
    fmt::print("serial (all {} lookups one after another)        {} ms\n", kLookups,
               kLookups * delay_ms);
    fmt::print("p50 / ideal = {:.2f}, p50 / serial = {:.2f}\n", pct(0.5) / (kChain * delay_ms),
               pct(0.5) / (kLookups * delay_ms));
    fmt::print(
        "SPF pass {}/{}, deadline passed {}, rejected {} (expected 0: no client is listed)\n",
        spf_pass.load(), sessions, deadline_passed.load(), rejected.load());
    const auto s = dns.stats();
    fmt::print("resolver: {} lookups, {} queries sent, {} cache hits, {} timeouts\n", s.lookups,
               s.queries_sent, s.cache_hits, s.timeouts);
    return deadline_passed > 0 ? 1 : 0;
}
