// Counter history benchmark (issue 16): a week of hourly samples of N kernel entries
// of which a share sends traffic each hour. Prints the cost of one sample, the memory
// the hours take, the state file's write per flush and its size, and the time of
// `top --since 7d` and `report --week` over it.
// Run: test/bench/history_bench.sh [ENTRIES] [ACTIVE_PERCENT]. Prints figures; asserts nothing.
#include <fmt/format.h>
#include <malloc.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "core/counter_history.hpp"
#include "core/history_report.hpp"
#include "milter/state_store.hpp"

using namespace smtpwall;
using Clock = std::chrono::steady_clock;

namespace {

std::size_t heap_in_use() {
    return mallinfo2().uordblks;
}

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t entries = argc > 1 ? std::stoul(argv[1]) : 100'000;
    const unsigned active_percent = argc > 2 ? static_cast<unsigned>(std::stoul(argv[2])) : 10;
    const std::string dir = argc > 3 ? argv[3] : "/tmp";
    const UnixTime start = 1'796'083'200;
    const auto path = dir + "/history_bench.db";
    std::filesystem::remove(path);
    std::filesystem::remove(path + "-wal");

    std::vector<helperproto::Entry> kernel(entries);
    for (std::size_t i = 0; i < entries; ++i) {
        kernel[i].net = Cidr::host(IpAddress::v4(0xc6120000u + static_cast<std::uint32_t>(i)));
        kernel[i].tags = {"spamtrap"};
    }
    StateStore store(path, std::chrono::seconds(3600));  // (its page cache is not the history's)
    const auto heap_before = heap_in_use();
    CounterHistory history(std::chrono::hours(24 * 35));
    std::mt19937 random(7);
    std::uniform_int_distribution<unsigned> percent(0, 99), syns(1, 40);
    double sample_ms = 0, write_ms = 0, max_sample_ms = 0;
    std::size_t rows = 0;
    const int hours = 24 * 7;
    for (int h = 0; h < hours; ++h) {
        for (auto& e : kernel) {
            if (percent(random) >= active_percent) continue;
            const auto n = syns(random);
            e.packets += n;
            e.bytes += 60ull * n;
        }
        const auto t0 = Clock::now();
        history.sample(kernel, start + h * 3600 + 1800);
        const double ms = ms_since(t0);
        sample_ms += ms;
        max_sample_ms = std::max(max_sample_ms, ms);
        const auto t1 = Clock::now();
        const auto changes = history.take_changes();
        rows += changes.traffic.size();
        store.write_history(changes);
        write_ms += ms_since(t1);
    }
    const auto heap = heap_in_use() - heap_before;
    const Period week{start, start + hours * 3600};
    auto t2 = Clock::now();
    const auto top = history.top(week.from, week.until);
    const double top_ms = ms_since(t2);
    t2 = Clock::now();
    const auto report = build_period_report(history, "bench", week);
    const auto text = render_period_report(report);
    const double report_ms = ms_since(t2);

    fmt::print("entries {} ({}% send SYNs each hour), {} hourly samples\n", entries, active_percent,
               hours);
    fmt::print("sample (LIST of {} entries into the history): mean {:.1f} ms, max {:.1f} ms\n",
               entries, sample_ms / hours, max_sample_ms);
    fmt::print("state file write per sample: mean {:.1f} ms ({} hour rows in all)\n",
               write_ms / hours, rows);
    fmt::print("memory: {:.1f} MiB for the week, entries included ({:.0f} bytes per hour row)\n",
               static_cast<double>(heap) / (1 << 20),
               static_cast<double>(heap) / static_cast<double>(std::max<std::size_t>(rows, 1)));
    fmt::print("state file: {:.1f} MiB\n",
               static_cast<double>(std::filesystem::file_size(path) +
                                   (std::filesystem::exists(path + "-wal")
                                        ? std::filesystem::file_size(path + "-wal")
                                        : 0)) /
                   (1 << 20));
    fmt::print("top --since 7d over {} entries: {:.1f} ms\n", top.size(), top_ms);
    fmt::print("report --week: {:.1f} ms ({} bytes of text)\n", report_ms, text.size());
    std::filesystem::remove(path);
    std::filesystem::remove(path + "-wal");
    std::filesystem::remove(path + "-shm");
}
