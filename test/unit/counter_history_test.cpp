// The counter history: deltas, segments on counter resets, periods, persistence
// through take_changes/restore, and the weekly report against a golden file.
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>

#include "core/control_protocol.hpp"
#include "core/counter_history.hpp"
#include "core/history_report.hpp"
#include "core/report.hpp"

using namespace smtpwall;

namespace {

constexpr UnixTime kStart = 1'796'083'200;  // 2026-12-01T00:00:00Z, on the hour

Cidr net(const char* text) {
    return *Cidr::parse(text);
}

helperproto::Entry kernel_entry(const char* text, std::uint64_t packets, std::uint64_t bytes,
                                std::vector<std::string> tags = {"spamtrap"}) {
    helperproto::Entry e;
    e.net = net(text);
    e.packets = packets;
    e.bytes = bytes;
    e.tags = std::move(tags);
    return e;
}

TrafficCounts total_of(const CounterHistory& h, const char* text, UnixTime from, UnixTime until) {
    for (const auto& row : h.top(from, until))
        if (row.entry.net == net(text)) return row.counts;
    return {};
}

// What a state file would hold after writing every change set in order.
struct FakeFile {
    std::map<Cidr, HistoryEntry> entries;
    std::map<std::pair<UnixTime, Cidr>, TrafficCounts> traffic;
    std::map<std::pair<UnixTime, std::string>, std::uint64_t> counts;
    std::vector<BanRecord> bans;
    void write(const HistoryChanges& c) {
        for (const auto& e : c.entries) entries[e.net] = e;
        for (const auto& n : c.entries_removed) entries.erase(n);
        for (const auto& r : c.traffic) traffic[{r.hour, r.net}] = r.counts;
        for (const auto& r : c.counts) counts[{r.hour, r.name}] = r.value;
        for (const auto& b : c.bans) bans.push_back(b);
        if (c.pruned_before != 0) {
            std::erase_if(traffic,
                          [&](const auto& kv) { return kv.first.first < c.pruned_before; });
            std::erase_if(counts, [&](const auto& kv) { return kv.first.first < c.pruned_before; });
            std::erase_if(bans, [&](const auto& b) { return b.time < c.pruned_before; });
        }
    }
    CounterHistory::Contents contents() const {
        CounterHistory::Contents out;
        for (const auto& [n, e] : entries) out.entries.push_back(e);
        for (const auto& [k, v] : traffic) out.traffic.push_back({k.first, k.second, v});
        for (const auto& [k, v] : counts) out.counts.push_back({k.first, k.second, v});
        out.bans = bans;
        return out;
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(counter_history)

BOOST_AUTO_TEST_CASE(growth_between_samples_is_counted_once) {
    CounterHistory h(std::chrono::hours(24 * 35));
    const UnixTime t = kStart + 600;
    h.sample({kernel_entry("192.0.2.7/32", 10, 600)}, t);
    h.sample({kernel_entry("192.0.2.7/32", 25, 1500)}, t + 300);
    h.sample({kernel_entry("192.0.2.7/32", 25, 1500)}, t + 600);
    const auto c = total_of(h, "192.0.2.7/32", t, t + 700);
    BOOST_TEST(c.packets == 25u);
    BOOST_TEST(c.bytes == 1500u);
    BOOST_TEST(c.attempts == 2u + 3u);  // 10 -> 2 attempts, 15 more -> 3
    BOOST_TEST(h.entry(net("192.0.2.7/32"))->segments == 1u);
}

BOOST_AUTO_TEST_CASE(a_counter_reset_starts_a_segment_never_a_negative) {
    CounterHistory h(std::chrono::hours(24 * 35));
    const UnixTime t = kStart + 60;
    h.sample({kernel_entry("192.0.2.7/32", 100, 6000)}, t);
    // Reboot: the kernel counts again from zero; 40 packets since.
    h.sample({kernel_entry("192.0.2.7/32", 40, 2400)}, t + 300);
    h.sample({kernel_entry("192.0.2.7/32", 55, 3300)}, t + 600);
    const auto c = total_of(h, "192.0.2.7/32", t, t + 900);
    BOOST_TEST(c.packets == 155u);
    BOOST_TEST(c.bytes == 9300u);
    BOOST_TEST(h.entry(net("192.0.2.7/32"))->segments == 2u);
    // Packets fell but bytes did not: still a reset (both must grow together).
    h.sample({kernel_entry("192.0.2.7/32", 1, 9999)}, t + 900);
    BOOST_TEST(total_of(h, "192.0.2.7/32", t, t + 1000).packets == 156u);
    BOOST_TEST(h.entry(net("192.0.2.7/32"))->segments == 3u);
}

BOOST_AUTO_TEST_CASE(an_entry_back_after_it_left_counts_from_zero) {
    CounterHistory h(std::chrono::hours(24 * 35));
    const UnixTime t = kStart + 60;
    h.sample({kernel_entry("192.0.2.7/32", 30, 1800)}, t);
    h.sample({}, t + 60);  // flushed: gone, without the milter lifting it
    BOOST_TEST((h.entry(net("192.0.2.7/32"))->end == EntryEnd::gone));
    // Back with higher counters than before, but a new life: all of them count.
    h.sample({kernel_entry("192.0.2.7/32", 50, 3000)}, t + 120);
    BOOST_TEST(total_of(h, "192.0.2.7/32", t, t + 200).packets == 80u);
    const auto e = h.entry(net("192.0.2.7/32"));
    BOOST_TEST((e->end == EntryEnd::none));
    BOOST_TEST(e->segments == 2u);
}

BOOST_AUTO_TEST_CASE(lifted_entries_keep_their_packets_and_say_why) {
    CounterHistory h(std::chrono::hours(24 * 35));
    const UnixTime t = kStart + 60;
    h.sample({kernel_entry("192.0.2.7/32", 30, 1800), kernel_entry("192.0.2.8/32", 5, 300)}, t);
    h.ended(net("192.0.2.7/32"), EntryEnd::unbanned, t + 10);
    h.sample({kernel_entry("192.0.2.8/32", 9, 540)}, t + 20);
    const auto rows = h.top(t, t + 60);
    BOOST_REQUIRE(rows.size() == 2u);
    BOOST_TEST(rows[0].entry.net == net("192.0.2.7/32"));
    BOOST_TEST(rows[0].counts.packets == 30u);
    BOOST_TEST((rows[0].entry.end == EntryEnd::unbanned));
    BOOST_TEST(rows[1].counts.packets == 9u);
    BOOST_TEST((rows[1].entry.end == EntryEnd::none));
}

BOOST_AUTO_TEST_CASE(a_lifted_entry_keeps_its_reason_until_it_is_banned_again) {
    CounterHistory h(std::chrono::hours(24 * 35));
    const UnixTime t = kStart + 60;
    h.sample({kernel_entry("192.0.2.7/32", 30, 1800)}, t);
    h.ended(net("192.0.2.7/32"), EntryEnd::unbanned, t + 1);
    h.sample({kernel_entry("192.0.2.7/32", 31, 1860)}, t + 2);  // the LIST before its DEL
    h.sample({}, t + 3);
    BOOST_TEST((h.entry(net("192.0.2.7/32"))->end == EntryEnd::unbanned));
    BOOST_TEST(total_of(h, "192.0.2.7/32", t, t + 10).packets == 31u);
    h.record_ban({t + 20, net("192.0.2.7/32"), "manual", {"spamtrap"}, "manual"});
    BOOST_TEST((h.entry(net("192.0.2.7/32"))->end == EntryEnd::none));
    h.sample({kernel_entry("192.0.2.7/32", 2, 120)}, t + 30);
    BOOST_TEST(total_of(h, "192.0.2.7/32", t, t + 40).packets == 33u);
    BOOST_TEST(h.entry(net("192.0.2.7/32"))->segments == 2u);
}

BOOST_AUTO_TEST_CASE(removed_then_made_again_before_any_sample_is_a_new_segment) {
    CounterHistory h(std::chrono::hours(24 * 35));
    const UnixTime t = kStart + 60;
    h.sample({kernel_entry("192.0.2.7/32", 30, 1800)}, t);
    h.removed(net("192.0.2.7/32"), t + 1);  // DEL answered; ADD again, 40 packets since
    h.sample({kernel_entry("192.0.2.7/32", 40, 2400)}, t + 2);
    BOOST_TEST(total_of(h, "192.0.2.7/32", t, t + 10).packets == 70u);
    BOOST_TEST(h.entry(net("192.0.2.7/32"))->segments == 2u);
}

BOOST_AUTO_TEST_CASE(an_entry_pruned_and_back_is_written_not_removed) {
    CounterHistory h(std::chrono::hours(48));
    FakeFile file;
    h.sample({kernel_entry("192.0.2.7/32", 30, 1800)}, kStart);
    h.sample({}, kStart + 60);
    file.write(h.take_changes());
    h.prune(kStart + 3 * 86400);                                                // forgotten...
    h.sample({kernel_entry("192.0.2.7/32", 5, 300)}, kStart + 3 * 86400 + 10);  // ...and back
    file.write(h.take_changes());
    BOOST_TEST(file.entries.contains(net("192.0.2.7/32")));
    CounterHistory again(std::chrono::hours(48));
    again.restore(file.contents());
    again.sample({kernel_entry("192.0.2.7/32", 5, 300)}, kStart + 3 * 86400 + 20);
    BOOST_TEST(total_of(again, "192.0.2.7/32", kStart + 3 * 86400, kStart + 4 * 86400).packets ==
               5u);
}

BOOST_AUTO_TEST_CASE(merged_change_sets_keep_the_last_word_on_an_entry) {
    HistoryChanges first, second;
    HistoryEntry e;
    e.net = net("192.0.2.7/32");
    first.entries.push_back(e);
    second.entries_removed.push_back(e.net);
    first.merge(std::move(second));
    BOOST_TEST(first.entries.empty());
    HistoryChanges third;
    third.entries.push_back(e);
    first.merge(std::move(third));
    BOOST_TEST(first.entries_removed.empty());
    BOOST_TEST(first.entries.size() == 1u);
}

BOOST_AUTO_TEST_CASE(periods_are_whole_hours) {
    CounterHistory h(std::chrono::hours(24 * 35));
    h.sample({kernel_entry("192.0.2.7/32", 0, 0)}, kStart);
    h.sample({kernel_entry("192.0.2.7/32", 10, 600)}, kStart + 3599);   // hour 0
    h.sample({kernel_entry("192.0.2.7/32", 15, 900)}, kStart + 3600);   // hour 1
    h.sample({kernel_entry("192.0.2.7/32", 18, 1080)}, kStart + 7300);  // hour 2
    BOOST_TEST(total_of(h, "192.0.2.7/32", kStart + 1800, kStart + 3700).packets == 15u);
    BOOST_TEST(total_of(h, "192.0.2.7/32", kStart + 3600, kStart + 7200).packets == 5u);
    BOOST_TEST(total_of(h, "192.0.2.7/32", kStart, kStart + 9000).packets == 18u);
}

BOOST_AUTO_TEST_CASE(own_counts_grow_and_a_new_process_starts_from_zero) {
    CounterHistory h(std::chrono::hours(24 * 35));
    const UnixTime t = kStart + 60;
    h.sample_counts({{"session:accept", 10}, {"rejection:cbl", 2}}, t);
    h.sample_counts({{"session:accept", 14}, {"rejection:cbl", 2}}, t + 300);
    BOOST_TEST(h.counts(t, t + 400).at("session:accept") == 14u);
    // The milter restarted: its metrics count from zero again.
    FakeFile file;
    file.write(h.take_changes());
    CounterHistory after(std::chrono::hours(24 * 35));
    after.restore(file.contents());
    after.sample_counts({{"session:accept", 3}}, t + 600);
    BOOST_TEST(after.counts(t, t + 700).at("session:accept") == 17u);
    BOOST_TEST(after.counts(t, t + 700).at("rejection:cbl") == 2u);
}

BOOST_AUTO_TEST_CASE(what_the_file_keeps_gives_the_same_history_and_baselines) {
    CounterHistory h(std::chrono::hours(24 * 35));
    FakeFile file;
    const UnixTime t = kStart + 60;
    h.sample({kernel_entry("192.0.2.7/32", 30, 1800)}, t);
    h.record_ban({t, net("192.0.2.7/32"), "ban at first spamtrap", {"spamtrap"}, "policy"});
    file.write(h.take_changes());
    h.sample({kernel_entry("192.0.2.7/32", 45, 2700)}, t + 300);
    file.write(h.take_changes());
    // kill -9 here: nothing after the last write. The kernel kept counting.
    CounterHistory again(std::chrono::hours(24 * 35));
    again.restore(file.contents());
    again.sample({kernel_entry("192.0.2.7/32", 70, 4200)}, t + 900);
    BOOST_TEST(total_of(again, "192.0.2.7/32", t, t + 1000).packets == 70u);
    BOOST_TEST(again.entry(net("192.0.2.7/32"))->segments == 1u);
    BOOST_TEST(again.bans(t, t + 1000).size() == 1u);
}

BOOST_AUTO_TEST_CASE(retention_forgets_old_hours_and_finished_entries) {
    CounterHistory h(std::chrono::hours(48));
    FakeFile file;
    h.sample({kernel_entry("192.0.2.7/32", 30, 1800)}, kStart);
    h.record_ban({kStart, net("192.0.2.7/32"), "r", {"spamtrap"}, "policy"});
    h.sample({}, kStart + 60);
    file.write(h.take_changes());
    h.prune(kStart + 3 * 86400);
    file.write(h.take_changes());
    BOOST_TEST(h.top(kStart - 86400, kStart + 4 * 86400).empty());
    BOOST_TEST(!h.entry(net("192.0.2.7/32")));
    BOOST_TEST(file.traffic.empty());
    BOOST_TEST(file.entries.empty());
    BOOST_TEST(file.bans.empty());
    BOOST_TEST(h.take_changes().empty());
}

BOOST_AUTO_TEST_CASE(attempts_are_syn_bursts) {
    BOOST_TEST(estimated_attempts(0) == 0u);
    BOOST_TEST(estimated_attempts(1) == 1u);
    BOOST_TEST(estimated_attempts(5) == 1u);
    BOOST_TEST(estimated_attempts(6) == 2u);
}

BOOST_AUTO_TEST_CASE(utc_times_read_back) {
    BOOST_TEST(*parse_time("2026-12-01") == 1'796'083'200);
    BOOST_TEST(*parse_time("2026-12-01T06:30") == 1'796'083'200 + 6 * 3600 + 1800);
    BOOST_TEST(*parse_time("2026-12-01T06:30:15Z") == 1'796'083'200 + 6 * 3600 + 1815);
    BOOST_TEST(*parse_time(format_time(1'800'000'000)) == 1'800'000'000);
    for (const char* bad : {"", "2026-13-01", "2026-02-30", "2026-12-01T24:00", "2026/12/01",
                            "2026-12-01 06:00", "1969-12-31", "1970-01-01", "2026-12-01T06:00:61"})
        BOOST_TEST(!parse_time(bad), bad);
}

BOOST_AUTO_TEST_CASE(periods_on_the_control_protocol) {
    using control::parse_request;
    auto req = std::get<control::Request>(parse_request("top 5 --since 7d --json"));
    BOOST_TEST(req.top == 5u);
    BOOST_TEST(req.since->count() == 7 * 86400);
    BOOST_TEST(control::format_request(req) == "top 5 --since 604800s --json");
    req = std::get<control::Request>(parse_request("report"));
    BOOST_TEST(req.since->count() == 7 * 86400);  // the week by default
    req = std::get<control::Request>(
        parse_request("report --from 2026-12-01 --until 2026-12-08T00:00:00Z"));
    BOOST_TEST(*req.period_from == 1'796'083'200);
    BOOST_TEST(control::format_request(req) ==
               "report --from 2026-12-01T00:00:00Z --until 2026-12-08T00:00:00Z");
    for (const char* bad :
         {"top --since 7d --from 2026-12-01", "top --until 2026-12-01",
          "report --from 2026-12-02 --until 2026-12-01", "top --week", "report --since 0s",
          "report --since soon", "tallies --since 1h", "report --week --week"})
        BOOST_TEST(std::holds_alternative<control::RequestError>(parse_request(bad)), bad);
}

// A scripted week, the clock injected: the report's text is fixed (golden file).
BOOST_AUTO_TEST_CASE(weekly_report_golden) {
    CounterHistory h(std::chrono::hours(24 * 35));
    const UnixTime start = *parse_time("2026-11-30T00:00:00Z");
    const UnixTime week = 7 * 86400;
    // An offender from the week before, banned again this week.
    h.record_ban({start - 3 * 86400,
                  net("203.0.113.9/32"),
                  "ban after 3 rejections in 1h",
                  {"bad-helo"},
                  "policy"});
    std::uint64_t accepted = 0, rejected = 0, tempfailed = 0, cbl = 0, helo = 0, trap = 0;
    std::uint64_t p7 = 0, p9 = 0, p64 = 0;
    for (UnixTime t = start; t < start + week; t += 3600) {
        const auto day = (t - start) / 86400;
        accepted += 40 + day;
        rejected += 6;
        tempfailed += (day % 3 == 0) ? 1 : 0;
        cbl += 4;
        helo += 2;
        trap += day == 2 ? 1 : 0;
        h.sample_counts({{"session:accept", accepted},
                         {"session:reject", rejected},
                         {"session:tempfail", tempfailed},
                         {"rejection:cbl", cbl},
                         {"rejection:bad-helo", helo},
                         {"rejection:spamtrap", trap},
                         {"zone:cbl:listed", cbl},
                         {"zone:cbl:not-listed", accepted},
                         {"zone:cbl:failed", tempfailed},
                         {"zone:dnswl:not-listed", accepted + rejected},
                         {"zone:dnswl:refused", day >= 5 ? 12 : 0},
                         {"withheld:provider", day >= 4 ? 1 : 0},
                         {"ban:expired", day >= 3 ? 2 : 0},
                         {"ban:refused", 0}},
                        t + 1800);
        std::vector<helperproto::Entry> kernel;
        p7 += 7;
        kernel.push_back(kernel_entry("192.0.2.7/32", p7, p7 * 60, {"spamtrap"}));
        if (day == 4) p9 = 0;  // expired: the entry made again later counts from zero
        if ((day >= 1 && day <= 3) || day >= 5) {
            p9 += 3;
            kernel.push_back(kernel_entry("203.0.113.9/32", p9, p9 * 60, {"bad-helo"}));
        }
        if (day == 4 && (t - start) % 86400 == 12 * 3600) p64 = 0;  // a reboot
        p64 += 11;
        kernel.push_back(kernel_entry("2001:db8:5::/64", p64, p64 * 80, {"cbl", "dialup"}));
        auto core = kernel_entry("198.18.0.0/15", 1, 40, {"core-test"});
        core.origin = helperproto::Origin::core;
        kernel.push_back(core);
        h.sample(kernel, t + 1800);
        if (t == start + 86400 + 7200)
            h.record_ban(
                {t, net("203.0.113.9/32"), "ban after 3 rejections in 1h", {"bad-helo"}, "policy"});
        if (t == start + 2 * 86400)
            h.record_ban({t, net("192.0.2.7/32"), "ban at first spamtrap", {"spamtrap"}, "policy"});
        if (t == start + 3 * 86400 + 3600)
            h.record_ban({t,
                          net("2001:db8:5::/64"),
                          "ban when listed in cbl and 5 rejections in 1d",
                          {"cbl", "dialup"},
                          "policy"});
        if (t == start + 4 * 86400) {
            h.ended(net("203.0.113.9/32"), EntryEnd::expired, t);
            h.record_ban({t + 60, net("203.0.113.9/32"), "manual", {"abuse-report"}, "manual"});
        }
    }
    const auto report = build_period_report(h, "mx.example.org", {start, start + week});
    const std::string text = render_period_report(report);
    const std::string golden_path =
        std::string(SMTPWALL_SOURCE_DIR) + "/test/data/golden/report/week.txt";
    if (const char* update = std::getenv("SMTPWALL_UPDATE_GOLDEN"); update && *update == '1') {
        std::ofstream(golden_path) << text;
        return;
    }
    std::ifstream in(golden_path);
    BOOST_REQUIRE_MESSAGE(in, golden_path + " is missing (SMTPWALL_UPDATE_GOLDEN=1 writes it)");
    std::stringstream expected;
    expected << in.rdbuf();
    BOOST_TEST(text == expected.str());
    // The JSON carries the same figures.
    const auto j = period_report_json(report);
    BOOST_TEST(j["sessions"]["reject"].get<std::uint64_t>() == rejected);
    BOOST_TEST(j["top"][0]["host"].get<std::string>() == "2001:db8:5::/64");
    BOOST_TEST(j["repeat_offenders"][0]["host"].get<std::string>() == "203.0.113.9");
}

BOOST_AUTO_TEST_SUITE_END()
