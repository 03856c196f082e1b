// How tallies and bans are shown to operators: aligned text tables and JSON.
// Pure: callers pass the data and the current time.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/utc_time.hpp"
#include "core/classify.hpp"
#include "core/escalation.hpp"
#include "core/tally.hpp"
#include "dnsbl/facts.hpp"
#include "firewall/protocol.hpp"

namespace smtpwall {

// Counters the way `iptables -L` prints them: exact up to 99999, then rounded
// thousands with K, M, G, T (the seed's report: "93552", "356K").
std::string format_counter(std::uint64_t value, bool exact = false);
// The seed's tag column: "[a]" for an entry smtpwall added, then "[tag]" per reason.
std::string entry_tags(bool dynamic, const std::vector<std::string>& tags);

class TextTable {
  public:
    enum class Align { left, right };
    void column(std::string header, Align align = Align::left);
    void row(std::vector<std::string> cells);
    std::string render() const;

  private:
    std::vector<std::string> headers_;
    std::vector<Align> aligns_;
    std::vector<std::vector<std::string>> rows_;
};

std::string render_tallies(const std::vector<TallyRow>& rows, std::chrono::seconds window);
nlohmann::json tallies_json(const std::vector<TallyRow>& rows, std::chrono::seconds window);

// A ban as an operator sees it: the milter's record joined with the kernel's entry.
struct BanView {
    Cidr net;
    std::vector<std::string> tags;
    bool dynamic = true;  // added by smtpwall (the report's [a]); core entries are not
    UnixTime since = 0;
    UnixTime expires = 0;
    std::optional<std::uint64_t> packets, bytes;  // absent: not in the kernel (yet)
    std::string host{};  // cluster: the MX that decided it, when another one
};

// Kernel entries are the truth for counters; milter bans missing there show as
// pending. `kernel` is nullopt when the helper could not be asked.
std::vector<BanView> join_bans(const std::vector<Ban>& bans,
                               const std::optional<std::vector<helperproto::Entry>>& kernel);
std::string render_bans(const std::vector<BanView>& bans, bool kernel_known);
nlohmann::json bans_json(const std::vector<BanView>& bans);

// The outcome of `check`: tags with weights, score and verdict, plus the DNS facts
// when there were lookups (live check).
// The seed's weekly report, from the kernel's own counters: "Host/Mask  Packets
// Bytes" then one row per entry (the caller sorts and cuts), tags as "[a]" for
// entries smtpwall added and "[tag]" per reason; core entries have no "[a]".
std::string render_top(const std::vector<helperproto::Entry>& entries, bool exact);
nlohmann::json top_json(const std::vector<helperproto::Entry>& entries);

std::string render_check(const Classification& c, int threshold, const dns::DnsFacts* facts);
nlohmann::json check_json(const Classification& c, int threshold, const dns::DnsFacts* facts);
std::string_view decision_name(Classification::Decision decision);

// A reply document as sent (`--json`): ASCII only, and bytes that are not UTF-8 (a
// client's HELO, a DNS TXT) replaced by U+FFFD rather than failing the reply.
std::string json_text(const nlohmann::json& doc);

}  // namespace smtpwall
