// Resolver throughput against a real server (dns_bench.sh starts nsd): distinct
// names (every lookup a packet) and cache hits. Prints figures, asserts nothing.
// Usage: dns_bench PORT [NAMES=10000] [WINDOW=1000] [HIT_ROUNDS=10]
#include <utility>

#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <semaphore>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>

#include "dnsbl/resolver.hpp"

using namespace smtpwall::dns;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Run {
    double wall = 0, cpu = 0;
    int failed = 0;
};

// Looks up every name once, at most `window` outstanding.
Run run(Resolver& resolver, const std::vector<std::string>& names, std::ptrdiff_t window) {
    std::counting_semaphore<> slots(window);
    std::atomic<int> failed{0};
    const auto wall0 = Clock::now();
    const double cpu0 = cpu_seconds();
    for (const auto& name : names) {
        slots.acquire();
        resolver.lookup(name, RType::A, [&](const Result& r) {
            if (r.status != Status::ok) failed.fetch_add(1);
            slots.release();
        });
    }
    for (std::ptrdiff_t i = 0; i < window; ++i) slots.acquire();  // all done
    Run out;
    out.wall = std::chrono::duration<double>(Clock::now() - wall0).count();
    out.cpu = cpu_seconds() - cpu0;
    out.failed = failed.load();
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s PORT [NAMES] [WINDOW] [HIT_ROUNDS]\n", argv[0]);
        return 2;
    }
    const auto port = static_cast<unsigned short>(std::atoi(argv[1]));
    const int count = argc > 2 ? std::atoi(argv[2]) : 10000;
    const std::ptrdiff_t window = argc > 3 ? std::atoi(argv[3]) : 1000;
    const int rounds = argc > 4 ? std::atoi(argv[4]) : 10;

    asio::io_context io;
    auto guard = asio::make_work_guard(io);
    ResolverConfig config;
    config.servers = {{asio::ip::make_address("127.0.0.1"), port}};
    config.max_entries = static_cast<std::size_t>(count) * 2;
    Resolver resolver(io, config);
    std::thread thread([&] { io.run(); });

    std::vector<std::string> names;
    const std::string tag = std::to_string(::getpid());
    for (int i = 0; i < count; ++i)
        names.push_back("b" + std::to_string(i) + "-" + tag + ".bench.test.smtpwall");

    const Run distinct = run(resolver, names, window);
    const Stats s = resolver.stats();
    std::printf(
        "distinct names: %d lookups in %.3f s = %.0f queries/s, CPU %.2f us/query "
        "(window %td, %llu packets, %llu timeouts, %d failed)\n",
        count, distinct.wall, count / distinct.wall, distinct.cpu / count * 1e6, window,
        static_cast<unsigned long long>(s.queries_sent),
        static_cast<unsigned long long>(s.timeouts), distinct.failed);

    std::vector<std::string> repeated;
    for (int r = 0; r < rounds; ++r) repeated.insert(repeated.end(), names.begin(), names.end());
    const Run hits = run(resolver, repeated, window);
    const auto n = static_cast<double>(repeated.size());
    std::printf(
        "cache hits:     %zu lookups in %.3f s = %.0f lookups/s, CPU %.2f us/lookup "
        "(%llu cache hits, %d failed)\n",
        repeated.size(), hits.wall, n / hits.wall, hits.cpu / n * 1e6,
        static_cast<unsigned long long>(resolver.stats().cache_hits), hits.failed);

    resolver.shutdown();
    guard.reset();
    thread.join();
    return distinct.failed + hits.failed == 0 ? 0 : 1;
}
