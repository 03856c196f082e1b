// Reports over a period from the counter history (core/counter_history.hpp): the
// seed's top-N across reboots and flushes (`top --since`), and the weekly summary in
// the spirit of pflogsumm (`report --week`). Pure: the caller passes the period.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "core/counter_history.hpp"

namespace smtpwall {

struct Period {
    UnixTime from = 0, until = 0;  // [from, until); the history widens from to its hour
};

std::string render_history_top(const std::vector<HistoryTopRow>& rows, const Period& period,
                               bool exact);
nlohmann::json history_top_json(const std::vector<HistoryTopRow>& rows, const Period& period);

// Everything `report` shows, gathered once for both renderings.
struct PeriodReport {
    std::string host;
    Period period;
    std::map<std::string, std::uint64_t> sessions;    // by verdict
    std::map<std::string, std::uint64_t> rejections;  // by tag
    std::vector<BanRecord> new_bans;
    std::map<std::string, std::uint64_t> withheld;    // by why
    std::map<std::string, std::uint64_t> ban_events;  // expired, lifted, refused
    std::vector<HistoryTopRow> top;                   // cut to top_limit
    struct Repeat {
        Cidr net;
        std::size_t in_period = 0, before = 0;
        std::vector<std::string> tags;  // of its latest ban
    };
    std::vector<Repeat> repeat_offenders;
    struct Zone {
        std::map<std::string, std::uint64_t> outcomes;
    };
    std::map<std::string, Zone> zones;  // by zone tag
};

PeriodReport build_period_report(const CounterHistory& history, std::string host, Period period,
                                 std::size_t top_limit = 20);
std::string render_period_report(const PeriodReport& report);
nlohmann::json period_report_json(const PeriodReport& report);

}  // namespace smtpwall
