// Operator views: aligned text tables, JSON and the seed's top-N, from plain data.
#include "core/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "common/enum_names.hpp"
#include "common/logfmt.hpp"

namespace smtpwall {

std::string format_counter(std::uint64_t value, bool exact) {
    if (exact || value <= 99999) return std::to_string(value);
    static constexpr const char* kUnits[] = {"K", "M", "G"};
    for (const char* unit : kUnits) {
        value = (value + 500) / 1000;
        if (value <= 9999) return fmt::format("{}{}", value, unit);
    }
    return fmt::format("{}T", (value + 500) / 1000);
}

void TextTable::column(std::string header, Align align) {
    headers_.push_back(std::move(header));
    aligns_.push_back(align);
}

void TextTable::row(std::vector<std::string> cells) {
    cells.resize(headers_.size());
    rows_.push_back(std::move(cells));
}

std::string TextTable::render() const {
    std::vector<std::size_t> widths(headers_.size());
    for (std::size_t c = 0; c < headers_.size(); ++c) {
        widths[c] = headers_[c].size();
        for (const auto& r : rows_) widths[c] = std::max(widths[c], r[c].size());
    }
    std::string out;
    auto emit = [&](const std::vector<std::string>& cells) {
        std::string line;
        for (std::size_t c = 0; c < cells.size(); ++c) {
            const bool last = c + 1 == cells.size();
            if (c > 0) line += "  ";
            if (aligns_[c] == Align::right) {
                line += fmt::format("{:>{}}", cells[c], widths[c]);
            } else if (last) {
                line += cells[c];  // no trailing blanks
            } else {
                line += fmt::format("{:<{}}", cells[c], widths[c]);
            }
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line;
        out += '\n';
    };
    emit(headers_);
    for (const auto& r : rows_) emit(r);
    return out;
}

std::string entry_tags(bool dynamic, const std::vector<std::string>& tags) {
    std::string out = dynamic ? "[a]" : "";
    for (const auto& t : tags) {
        if (!out.empty()) out += ' ';
        out += fmt::format("[{}]", t);
    }
    return out;
}

std::string render_tallies(const std::vector<TallyRow>& rows, std::chrono::seconds window) {
    TextTable table;
    using A = TextTable::Align;
    table.column("Address");
    table.column(fmt::format("Recent({}s)", window.count()), A::right);
    table.column("Rejections", A::right);
    table.column("Sessions", A::right);
    table.column("Last seen");
    table.column("Tags");
    for (const auto& r : rows) {
        std::string tags;
        for (const auto& t : r.tags) {
            if (!tags.empty()) tags += ' ';
            tags += fmt::format("{}:{}", t.name, t.count);
        }
        table.row({r.key.to_string(), std::to_string(r.recent), std::to_string(r.tally.rejections),
                   std::to_string(r.tally.sessions), format_time(r.tally.last_seen), tags});
    }
    return table.render();
}

nlohmann::json tallies_json(const std::vector<TallyRow>& rows, std::chrono::seconds window) {
    auto out = nlohmann::json::array();
    for (const auto& r : rows) {
        auto tags = nlohmann::json::object();
        for (const auto& t : r.tags) tags[t.name] = t.count;
        out.push_back({{"address", r.key.to_string()},
                       {"recent", r.recent},
                       {"window_seconds", window.count()},
                       {"rejections", r.tally.rejections},
                       {"sessions", r.tally.sessions},
                       {"first_seen", r.tally.first_seen},
                       {"last_seen", r.tally.last_seen},
                       {"tags", tags}});
    }
    return out;
}

std::vector<BanView> join_bans(const std::vector<Ban>& bans,
                               const std::optional<std::vector<helperproto::Entry>>& kernel) {
    std::map<Cidr, BanView> views;
    for (const auto& b : bans)
        views[b.key] = BanView{b.key, b.tags, true, b.since, b.expires, {}, {}, b.host};
    if (kernel) {
        for (const auto& e : *kernel) {
            auto& v = views[e.net];
            v.net = e.net;
            v.dynamic = e.origin == helperproto::Origin::dynamic;
            if (v.tags.empty()) v.tags = e.tags;
            if (v.expires == 0) v.expires = e.expires;
            v.packets = e.packets;
            v.bytes = e.bytes;
        }
    }
    std::vector<BanView> out;
    for (auto& [net, v] : views) out.push_back(std::move(v));
    std::stable_sort(out.begin(), out.end(), [](const BanView& a, const BanView& b) {
        return a.packets.value_or(0) > b.packets.value_or(0);
    });
    return out;
}

std::string render_bans(const std::vector<BanView>& bans, bool kernel_known) {
    TextTable table;
    using A = TextTable::Align;
    table.column("Host/Mask");
    table.column("Packets", A::right);
    table.column("Bytes", A::right);
    table.column("Expires");
    table.column("Tags");
    for (const auto& b : bans) {
        std::string tags = entry_tags(b.dynamic, b.tags);
        if (!b.host.empty()) tags += " (by " + b.host + ")";
        const std::string missing = kernel_known ? "pending" : "?";
        table.row({b.net.to_string(), b.packets ? format_counter(*b.packets) : missing,
                   b.bytes ? format_counter(*b.bytes) : missing, format_time(b.expires), tags});
    }
    std::string out = table.render();
    if (!kernel_known) out += "(firewall helper unreachable: kernel counters unknown)\n";
    return out;
}

nlohmann::json bans_json(const std::vector<BanView>& bans) {
    auto out = nlohmann::json::array();
    for (const auto& b : bans) {
        nlohmann::json j = {{"host", b.net.to_string()}, {"tags", b.tags},
                            {"dynamic", b.dynamic},      {"since", b.since},
                            {"expires", b.expires},      {"in_kernel", b.packets.has_value()}};
        j["packets"] = b.packets ? nlohmann::json(*b.packets) : nlohmann::json(nullptr);
        j["bytes"] = b.bytes ? nlohmann::json(*b.bytes) : nlohmann::json(nullptr);
        j["decided_by"] = b.host.empty() ? nlohmann::json(nullptr) : nlohmann::json(b.host);
        out.push_back(std::move(j));
    }
    return out;
}

constexpr EnumNames<Classification::Decision, 3> kDecisionNames{{
    {Classification::Decision::accept, "accept"},
    {Classification::Decision::reject, "reject"},
    {Classification::Decision::tempfail, "tempfail"},
}};

std::string_view decision_name(Classification::Decision decision) {
    return name_of(kDecisionNames, decision);
}

namespace {

constexpr EnumNames<dns::PtrFacts::Outcome, 4> kPtrOutcomeNames{{
    {dns::PtrFacts::Outcome::confirmed, "confirmed"},
    {dns::PtrFacts::Outcome::unconfirmed, "not-confirmed"},
    {dns::PtrFacts::Outcome::no_ptr, "none"},
    {dns::PtrFacts::Outcome::temp_error, "temporary-failure"},
}};

std::string_view ptr_outcome(const dns::PtrFacts& p) {
    if (p.progress != dns::Progress::done) return "pending";
    return name_of(kPtrOutcomeNames, p.outcome);
}

constexpr EnumNames<dns::ZoneVerdict, 4> kZoneVerdictNames{{
    {dns::ZoneVerdict::listed, "listed"},
    {dns::ZoneVerdict::not_listed, "not-listed"},
    {dns::ZoneVerdict::refused, "refused"},
    {dns::ZoneVerdict::failed, "failed"},
}};

std::string_view zone_outcome(const dns::ZoneFact& z) {
    if (z.skipped) return "skipped";
    if (z.progress != dns::Progress::done) return "pending";
    return name_of(kZoneVerdictNames, z.verdict);
}

}  // namespace

std::string render_check(const Classification& c, int threshold, const dns::DnsFacts* facts) {
    std::string out;
    TextTable tags;
    tags.column("Tag");
    tags.column("Weight", TextTable::Align::right);
    tags.column("Detail");
    for (const auto& t : c.tags) tags.row({t.name, std::to_string(t.weight), t.detail});
    if (!c.tags.empty()) out += tags.render();
    out += fmt::format("score {} (threshold {}), verdict {}", c.score, threshold,
                       decision_name(c.decision));
    if (c.dns_allowlisted) out += " (DNS allowlist)";
    out += '\n';
    if (c.dialup)
        out += fmt::format("dialup: score {} (threshold {}){}: {}\n", c.dialup->score,
                           dns::DialupDetector::kThreshold,
                           c.dialup->dynamic   ? ", dynamic"
                           : c.dialup->generic ? ", generic (not dynamic)"
                                               : ", not dynamic",
                           c.dialup->summary().empty() ? "-" : c.dialup->summary());
    if (c.relay.relay)
        out += fmt::format(
            "shared relay: {} ({}): rejected like anyone, never banned on rejections alone\n",
            c.relay.relay->to_string(), describe(*c.relay.relay));
    if (!c.temp_failures.empty())
        out += fmt::format("temporary failures: {}\n", fmt::join(c.temp_failures, ", "));
    if (facts != nullptr) {
        out += fmt::format(
            "ptr: {} {}\n", ptr_outcome(facts->ptr),
            facts->ptr.names.empty() ? "-" : fmt::format("{}", fmt::join(facts->ptr.names, ",")));
        for (const auto& z : facts->zones) {
            out += fmt::format("zone {} ({}): {}", z.zone, z.tag, zone_outcome(z));
            if (!z.codes.empty()) out += fmt::format(" {}", fmt::join(dns::code_texts(z), ","));
            // Text from the zone's DNS: one quoted value, as in the log (no line breaks).
            if (!z.txt.empty()) out += fmt::format(" {}", kv_value(z.txt));
            out += '\n';
        }
        if (facts->spf.progress == dns::Progress::done)
            out += fmt::format("spf: {} {}\n", to_string(facts->spf.result),
                               kv_value(facts->spf.domain));
    }
    return out;
}

std::string json_text(const nlohmann::json& doc) {
    return doc.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) + "\n";
}

nlohmann::json check_json(const Classification& c, int threshold, const dns::DnsFacts* facts) {
    nlohmann::json j;
    j["tags"] = nlohmann::json::array();
    j["weights"] = nlohmann::json::object();
    for (const auto& t : c.tags) {
        j["tags"].push_back(t.name);
        j["weights"][t.name] = t.weight;
    }
    j["details"] = nlohmann::json::array();
    for (const auto& t : c.tags)
        j["details"].push_back({{"tag", t.name}, {"weight", t.weight}, {"detail", t.detail}});
    j["score"] = c.score;
    j["threshold"] = threshold;
    j["verdict"] = decision_name(c.decision);
    j["dns_allowlisted"] = c.dns_allowlisted;
    j["shared_relay"] =
        c.relay.relay ? nlohmann::json(c.relay.relay->to_string()) : nlohmann::json(nullptr);
    if (c.dialup) {
        auto signals = nlohmann::json::array();
        for (const auto& s : c.dialup->signals)
            signals.push_back({{"rule", s.rule}, {"weight", s.weight}});
        j["dialup"] = {{"dynamic", c.dialup->dynamic},
                       {"generic", c.dialup->generic},
                       {"score", c.dialup->score},
                       {"threshold", dns::DialupDetector::kThreshold},
                       {"rules", signals}};
    } else {
        j["dialup"] = nullptr;
    }
    j["temporary_failures"] = c.temp_failures;
    if (facts != nullptr) {
        nlohmann::json d;
        d["ptr"] = {{"outcome", ptr_outcome(facts->ptr)},
                    {"names", facts->ptr.names},
                    {"confirmed", facts->ptr.confirmed_name}};
        d["zones"] = nlohmann::json::array();
        for (const auto& z : facts->zones)
            d["zones"].push_back({{"tag", z.tag},
                                  {"zone", z.zone},
                                  {"outcome", zone_outcome(z)},
                                  {"codes", dns::code_texts(z)},
                                  {"txt", z.txt}});
        d["spf"] = {
            {"result",
             facts->spf.progress == dns::Progress::done ? to_string(facts->spf.result) : "pending"},
            {"domain", facts->spf.domain}};
        d["helo_addresses"] = nlohmann::json::array();
        for (const auto& a : facts->helo.addresses) d["helo_addresses"].push_back(a.to_string());
        j["dns"] = d;
    }
    return j;
}

std::string render_top(const std::vector<helperproto::Entry>& entries, bool exact) {
    TextTable table;
    using A = TextTable::Align;
    table.column("Host/Mask");
    table.column("Packets", A::right);
    table.column("Bytes", A::right);
    table.column("");
    for (const auto& e : entries) {
        table.row({e.net.to_string(), format_counter(e.packets, exact),
                   format_counter(e.bytes, exact),
                   entry_tags(e.origin == helperproto::Origin::dynamic, e.tags)});
    }
    return table.render();
}

nlohmann::json top_json(const std::vector<helperproto::Entry>& entries) {
    auto out = nlohmann::json::array();
    for (const auto& e : entries)
        out.push_back({{"host", e.net.to_string()},
                       {"packets", e.packets},
                       {"bytes", e.bytes},
                       {"tags", e.tags},
                       {"dynamic", e.origin == helperproto::Origin::dynamic}});
    return out;
}

}  // namespace smtpwall
