// Tally benchmark (issue 4): memory per tracked address at 1 million addresses,
// tally updates per second (through Enforcement, the path libmilter threads
// take), and the size of the state file after a million updates.
// Run: test/bench/tally_bench.sh. Prints figures; asserts nothing.
#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "milter/enforcement.hpp"
#include "milter/state_store.hpp"

using namespace smtpwall;
using Clock = std::chrono::steady_clock;

namespace {

struct NoFirewall : FirewallLink {
    void ban(const Ban&, Done done) override {
        if (done) done(Result::applied);
    }
    void unban(const Cidr&) override {}
    void sync(const std::vector<Ban>&, SyncDone) override {}
};

std::size_t heap_in_use() {
    return mallinfo2().uordblks;
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t addresses = argc > 1 ? std::stoul(argv[1]) : 1'000'000;
    const std::string dir = argc > 2 ? argv[2] : "/tmp";
    constexpr UnixTime kT0 = 1'800'000'000;
    auto cfg = conf::parse_milter_config(
        "[escalation]\nrules = [\"ban at first spamtrap\"]\n[tally]\nmax_entries = "
        "100000000\n[state]\nfile = \"\"\n",
        "bench.conf");
    NoFirewall fw;
    const std::vector<std::string> helo = {"bad-helo"}, cbl = {"cbl"};

    const std::size_t before = heap_in_use();
    Enforcement e(cfg, fw);
    auto t = Clock::now();
    for (std::size_t i = 0; i < addresses; ++i) {
        const auto ip =
            IpAddress::v4(0x0A000000u + static_cast<std::uint32_t>(i));  // 10/8: distinct hosts
        e.record_session(ip, kT0 + static_cast<UnixTime>(i % 3600));
        e.record_rejection(ip, i % 2 ? helo : cbl, kT0 + static_cast<UnixTime>(i % 3600));
    }
    const double fill = seconds_since(t);
    e.take_changes(kT0);  // the state writer drains this every second in the milter
    malloc_trim(0);
    const std::size_t used = heap_in_use() - before;
    fmt::print("tracked addresses          {:>12}\n", e.tracked());
    fmt::print("heap per tracked address   {:>12.1f} bytes (budget 256)\n",
               static_cast<double>(used) / addresses);
    fmt::print("first-seen updates/s       {:>12.0f} (session + rejection each)\n",
               2 * addresses / fill);

    // Updates to known addresses, random order: the steady state of a busy MX.
    std::mt19937 rng(42);
    std::uniform_int_distribution<std::uint32_t> pick(0, static_cast<std::uint32_t>(addresses - 1));
    const std::size_t updates = addresses;
    t = Clock::now();
    for (std::size_t i = 0; i < updates; ++i)
        e.record_rejection(IpAddress::v4(0x0A000000u + pick(rng)), helo,
                           kT0 + 3600 + static_cast<UnixTime>(i % 60));
    fmt::print("tally updates/s (1 thread) {:>12.0f}\n", updates / seconds_since(t));

    // top 20 over everything (the operator's report).
    t = Clock::now();
    const auto top = e.top(20, "", kT0 + 3700);
    fmt::print("top 20 over {} entries   {:>8.1f} ms\n", e.tracked(), seconds_since(t) * 1000);

    // The state file after all of it.
    const std::string path = fmt::format("{}/smtpwall-bench-{}.db", dir, ::getpid());
    t = Clock::now();
    {
        StateStore store(path, cfg.tally.window);
        store.write(e.take_changes(kT0 + 3700));
    }
    const double write = seconds_since(t);
    std::uintmax_t bytes = 0;
    for (const char* suffix : {"", "-wal", "-shm"})
        if (std::filesystem::exists(path + suffix))
            bytes += std::filesystem::file_size(path + suffix);
    fmt::print(
        "state file                 {:>12.1f} MiB ({:.0f} bytes/address), written in {:.1f} s\n",
        static_cast<double>(bytes) / (1 << 20), static_cast<double>(bytes) / addresses, write);
    t = Clock::now();
    {
        StateStore store(path, cfg.tally.window);
        const auto loaded = store.load();
        fmt::print(
            "state load                 {:>12.1f} s for the {} tallies the updates touched\n",
            seconds_since(t), loaded.tallies.size());
    }
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
    return top.empty() ? 1 : 0;
}
