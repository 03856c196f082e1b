// `top --since` and `report` rendered from the counter history.
#include "core/history_report.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/report.hpp"

namespace smtpwall {

namespace {

using A = TextTable::Align;

std::string period_line(const Period& p) {
    const UnixTime from = hour_of(p.from);
    const auto hours = (p.until - from + kHistoryHour - 1) / kHistoryHour;
    return fmt::format("{} .. {} ({} h; whole hours, counters sampled by the milter)",
                       format_time(from), format_time(p.until), hours);
}

std::string status_of(const HistoryEntry& e) {
    if (e.end == EntryEnd::none) return e.base_packets ? "active" : "not-in-kernel";
    return std::string(entry_end_name(e.end));
}

nlohmann::json entry_json(const HistoryTopRow& r) {
    const auto& e = r.entry;
    return {{"host", e.net.to_string()},
            {"packets", r.counts.packets},
            {"bytes", r.counts.bytes},
            {"attempts_estimate", r.counts.attempts},
            {"tags", e.tags},
            {"dynamic", e.origin == helperproto::Origin::dynamic},
            {"status", status_of(e)},
            {"ended", e.ended == 0 ? nlohmann::json(nullptr) : nlohmann::json(e.ended)},
            {"segments", e.segments},
            {"first_seen", e.first_seen},
            {"last_seen", e.last_seen}};
}

// "kind:label" totals of one kind, by label.
std::map<std::string, std::uint64_t> of_kind(const std::map<std::string, std::uint64_t>& counts,
                                             std::string_view kind) {
    std::map<std::string, std::uint64_t> out;
    const std::string prefix = history_count::name(kind, "");
    for (auto it = counts.lower_bound(prefix); it != counts.end() && it->first.starts_with(prefix);
         ++it)
        out[it->first.substr(prefix.size())] = it->second;
    return out;
}

std::uint64_t sum(const std::map<std::string, std::uint64_t>& m) {
    std::uint64_t total = 0;
    for (const auto& [k, v] : m) total += v;
    return total;
}

std::string percent(std::uint64_t part, std::uint64_t whole) {
    if (whole == 0) return "-";
    return fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

std::string indented(const std::string& text) {
    std::string out;
    for (std::string_view rest = text; !rest.empty();) {
        const auto nl = rest.find('\n');
        out += "  ";
        out += rest.substr(0, nl == std::string_view::npos ? rest.size() : nl + 1);
        if (nl == std::string_view::npos) break;
        rest.remove_prefix(nl + 1);
    }
    return out;
}

// A two-column section, biggest first; "(none)" when empty.
std::string counted(const std::map<std::string, std::uint64_t>& m, std::string_view what,
                    bool with_share) {
    if (m.empty()) return "  (none)\n";
    std::vector<std::pair<std::string, std::uint64_t>> rows(m.begin(), m.end());
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    const auto total = sum(m);
    TextTable t;
    t.column(std::string(what));
    t.column("Count", A::right);
    if (with_share) t.column("Share", A::right);
    for (const auto& [name, n] : rows) {
        if (with_share) {
            t.row({name, std::to_string(n), percent(n, total)});
        } else {
            t.row({name, std::to_string(n)});
        }
    }
    return indented(t.render());
}

constexpr std::string_view kEstimateNote =
    "Attempts are an estimate: the firewall drops SYNs, and an unanswered SYN is sent again\n"
    "(Linux: after 1, 2, 4, 8 s...), so about 5 packets make one connection attempt.\n";

// The seed's columns, plus the estimate and what became of each entry.
std::string history_top_table(const std::vector<HistoryTopRow>& rows, bool exact) {
    TextTable table;
    table.column("Host/Mask");
    table.column("Packets", A::right);
    table.column("Bytes", A::right);
    table.column("Attempts(est.)", A::right);
    table.column("Status");
    table.column("");
    for (const auto& r : rows)
        table.row({r.entry.net.to_string(), format_counter(r.counts.packets, exact),
                   format_counter(r.counts.bytes, exact), format_counter(r.counts.attempts, exact),
                   status_of(r.entry),
                   entry_tags(r.entry.origin == helperproto::Origin::dynamic, r.entry.tags)});
    return table.render() + std::string(kEstimateNote);
}

}  // namespace

std::string render_history_top(const std::vector<HistoryTopRow>& rows, const Period& period,
                               bool exact) {
    return fmt::format("Period: {}\n", period_line(period)) + history_top_table(rows, exact);
}

nlohmann::json history_top_json(const std::vector<HistoryTopRow>& rows, const Period& period) {
    auto entries = nlohmann::json::array();
    for (const auto& r : rows) entries.push_back(entry_json(r));
    return {{"from", hour_of(period.from)}, {"until", period.until}, {"entries", entries}};
}

PeriodReport build_period_report(const CounterHistory& history, std::string host, Period period,
                                 std::size_t top_limit) {
    PeriodReport r;
    r.host = std::move(host);
    r.period = period;
    const auto counts = history.counts(period.from, period.until);
    r.sessions = of_kind(counts, history_count::kSession);
    r.rejections = of_kind(counts, history_count::kRejection);
    r.withheld = of_kind(counts, history_count::kWithheld);
    r.ban_events = of_kind(counts, history_count::kBan);
    for (const auto& [name, n] : of_kind(counts, history_count::kZone)) {
        const auto colon = name.rfind(':');
        if (colon == std::string::npos) continue;
        r.zones[name.substr(0, colon)].outcomes[name.substr(colon + 1)] += n;
    }
    r.new_bans = history.bans(period.from, period.until);
    r.top = history.top(period.from, period.until);
    if (r.top.size() > top_limit) r.top.resize(top_limit);
    // Repeat offenders: banned in the period more than once, or banned before it too.
    std::map<Cidr, PeriodReport::Repeat> repeats;
    for (const auto& b : r.new_bans) {
        auto& rep = repeats[b.net];
        rep.net = b.net;
        ++rep.in_period;
        rep.tags = b.tags;
    }
    const auto before = history.ban_counts_before(hour_of(period.from));
    for (auto& [net, rep] : repeats) {
        const auto it = before.find(net);
        rep.before = it == before.end() ? 0 : it->second;
        if (rep.in_period > 1 || rep.before > 0) r.repeat_offenders.push_back(rep);
    }
    std::stable_sort(r.repeat_offenders.begin(), r.repeat_offenders.end(),
                     [](const auto& a, const auto& b) {
                         return a.in_period + a.before > b.in_period + b.before;
                     });
    return r;
}

std::string render_period_report(const PeriodReport& r) {
    std::string out =
        fmt::format("smtpwall report for {}\nPeriod: {}\n", r.host, period_line(r.period));

    out += fmt::format("\nSessions by verdict: {}\n", sum(r.sessions));
    out += counted(r.sessions, "Verdict", true);

    out += fmt::format("\nRejections by tag: {} tags on rejected sessions\n", sum(r.rejections));
    out += counted(r.rejections, "Tag", true);

    out += fmt::format("\nNew bans: {}\n", r.new_bans.size());
    std::map<std::string, std::uint64_t> by_rule, by_tag;
    for (const auto& b : r.new_bans) {
        ++by_rule[b.rule.empty() ? "-" : b.rule];
        for (const auto& t : b.tags) ++by_tag[t];
    }
    out += " by rule\n" + counted(by_rule, "Rule", false);
    out += " by tag\n" + counted(by_tag, "Tag", false);
    auto events = r.ban_events;
    out += fmt::format(" expired {}, lifted by hand {}\n", events["expired"], events["lifted"]);

    out += fmt::format("\nBans withheld (shared relays): {}\n", sum(r.withheld));
    out += counted(r.withheld, "Why", false);
    out += fmt::format("Bans refused by the firewall helper: {}\n", events["refused"]);

    out += fmt::format("\nTop {} dropped sources\n", r.top.size());
    if (r.top.empty()) {
        out += "  (none)\n";
    } else {
        out += indented(history_top_table(r.top, false));
    }

    out += fmt::format("\nRepeat offenders: {}\n", r.repeat_offenders.size());
    if (r.repeat_offenders.empty()) {
        out += "  (none)\n";
    } else {
        TextTable t;
        t.column("Host/Mask");
        t.column("Bans", A::right);
        t.column("Before", A::right);
        t.column("Last tags");
        for (const auto& rep : r.repeat_offenders)
            t.row({rep.net.to_string(), std::to_string(rep.in_period), std::to_string(rep.before),
                   entry_tags(false, rep.tags)});
        out += indented(t.render());
    }

    out += "\nDNS zone health\n";
    if (r.zones.empty()) {
        out += "  (no lookups)\n";
    } else {
        TextTable t;
        t.column("Zone");
        t.column("Answers", A::right);
        t.column("Listed", A::right);
        t.column("Failed", A::right);
        t.column("Refused", A::right);
        t.column("Failed%", A::right);
        for (const auto& [zone, z] : r.zones) {
            auto o = z.outcomes;
            const auto answers = sum(o) - o["skipped"];
            const auto bad = o["failed"] + o["refused"];
            t.row({zone, std::to_string(answers), std::to_string(o["listed"]),
                   std::to_string(o["failed"]), std::to_string(o["refused"]),
                   percent(bad, answers)});
        }
        out += indented(t.render());
        out += "  (refused: the zone answered 127.255.255.x, over quota or blocked)\n";
    }
    return out;
}

nlohmann::json period_report_json(const PeriodReport& r) {
    nlohmann::json j;
    j["host"] = r.host;
    j["from"] = hour_of(r.period.from);
    j["until"] = r.period.until;
    j["sessions"] = r.sessions;
    j["rejections"] = r.rejections;
    auto bans = nlohmann::json::array();
    for (const auto& b : r.new_bans)
        bans.push_back({{"time", b.time},
                        {"host", b.net.to_string()},
                        {"rule", b.rule},
                        {"tags", b.tags},
                        {"origin", b.origin}});
    j["new_bans"] = bans;
    j["ban_events"] = r.ban_events;
    j["withheld"] = r.withheld;
    auto top = nlohmann::json::array();
    for (const auto& row : r.top) top.push_back(entry_json(row));
    j["top"] = top;
    auto repeats = nlohmann::json::array();
    for (const auto& rep : r.repeat_offenders)
        repeats.push_back({{"host", rep.net.to_string()},
                           {"bans", rep.in_period},
                           {"bans_before", rep.before},
                           {"tags", rep.tags}});
    j["repeat_offenders"] = repeats;
    auto zones = nlohmann::json::object();
    for (const auto& [zone, z] : r.zones) zones[zone] = z.outcomes;
    j["zones"] = zones;
    return j;
}

}  // namespace smtpwall
