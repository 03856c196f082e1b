#include "dnsbl/zones.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "dnsbl/names.hpp"

namespace smtpwall::dns {

namespace {

std::optional<std::uint8_t> octet(std::string_view s) {
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || v > 255)
        return std::nullopt;
    return static_cast<std::uint8_t>(v);
}

}  // namespace

std::optional<CodeFilter> CodeFilter::parse(std::string_view text) {
    CodeFilter f;
    f.text_ = std::string(text);
    if (text.empty()) return f;
    std::size_t pos = 0;
    for (int i = 0; i < 4; ++i) {
        if (pos > text.size()) return std::nullopt;
        std::vector<Range> ranges;
        if (pos < text.size() && text[pos] == '[') {
            const auto close = text.find(']', pos);
            if (close == std::string_view::npos) return std::nullopt;
            std::string_view list = text.substr(pos + 1, close - pos - 1);
            while (true) {
                const auto semi = list.find(';');
                const auto item = list.substr(0, semi);
                const auto dots = item.find("..");
                Range r;
                if (dots == std::string_view::npos) {
                    const auto v = octet(item);
                    if (!v) return std::nullopt;
                    r = {*v, *v};
                } else {
                    const auto lo = octet(item.substr(0, dots));
                    const auto hi = octet(item.substr(dots + 2));
                    if (!lo || !hi || *lo > *hi) return std::nullopt;
                    r = {*lo, *hi};
                }
                ranges.push_back(r);
                if (semi == std::string_view::npos) break;
                list = list.substr(semi + 1);
            }
            pos = close + 1;
        } else {
            const auto dot = text.find('.', pos);
            const auto v = octet(text.substr(pos, dot == std::string_view::npos ? dot : dot - pos));
            if (!v) return std::nullopt;
            ranges.push_back({*v, *v});
            pos = dot == std::string_view::npos ? text.size() : dot;
        }
        f.octets_.push_back(std::move(ranges));
        if (i < 3) {
            if (pos >= text.size() || text[pos] != '.') return std::nullopt;
            ++pos;
        }
    }
    if (pos != text.size()) return std::nullopt;
    return f;
}

bool CodeFilter::matches(const IpAddress& code) const {
    if (code.family != Family::v4 || code.bytes[0] != 127) return false;
    if (octets_.empty()) return true;
    for (std::size_t i = 0; i < 4; ++i) {
        const auto b = code.bytes[i];
        if (std::none_of(octets_[i].begin(), octets_[i].end(),
                         [b](const Range& r) { return b >= r.low && b <= r.high; }))
            return false;
    }
    return true;
}

bool zone_applies(const ZoneSpec& zone, const IpAddress& client) {
    return client.unmapped().family == Family::v4 ? zone.ipv4 : zone.ipv6;
}

std::string zone_query_name(const ZoneSpec& zone, const IpAddress& client) {
    return reverse_name(client.unmapped(), zone.zone);
}

ZoneAnswer interpret(const ZoneSpec& zone, const Result& answer) {
    ZoneAnswer out;
    if (answer.negative()) {
        out.verdict = ZoneVerdict::not_listed;
        return out;
    }
    if (answer.status != Status::ok) {
        out.why = std::string(to_string(answer.status));
        return out;
    }
    for (const auto& code : answer.addresses) {
        if (code.family != Family::v4 || code.bytes[0] != 127) {
            out.verdict = ZoneVerdict::failed;
            out.codes = {code};
            out.why = fmt::format("answer {} is outside 127/8 (a resolver rewriting NXDOMAIN?)",
                                  code.to_string());
            return out;
        }
        const bool refusal =
            zone.allowlist() ? (code.bytes[1] == 0 && code.bytes[2] == 0 && code.bytes[3] == 255)
                             : (code.bytes[1] == 255 && code.bytes[2] == 255);
        if (refusal) {
            out.verdict = ZoneVerdict::refused;
            out.codes = {code};
            out.why = fmt::format("answer {} means query refused or over quota", code.to_string());
            return out;
        }
    }
    for (const auto& code : answer.addresses)
        if (zone.codes.matches(code)) out.codes.push_back(code);
    out.verdict = out.codes.empty() ? ZoneVerdict::not_listed : ZoneVerdict::listed;
    return out;
}

bool ZoneHealth::usable(const std::string& zone, Time now) const {
    std::lock_guard lock(mutex_);
    const auto it = zones_.find(zone);
    return it == zones_.end() || (!it->second.dead && it->second.suspended_until <= now);
}

void ZoneHealth::suspend(const std::string& zone, Time now, std::chrono::seconds duration,
                         std::string why) {
    std::lock_guard lock(mutex_);
    auto& s = zones_[zone];
    s.suspended_until = std::max(s.suspended_until, now + duration.count());
    s.why = std::move(why);
    ++s.suspensions;
}

bool ZoneHealth::record_probe(const std::string& zone, bool test_point_listed, bool loopback_listed,
                              bool answered) {
    if (!answered) return false;  // a timeout says nothing about the list itself
    std::lock_guard lock(mutex_);
    auto& s = zones_[zone];
    const bool dead = !test_point_listed || loopback_listed;
    const bool changed = dead != s.dead;
    s.dead = dead;
    if (dead)
        s.why = loopback_listed ? "lists the 127.0.0.1 test point (answers everything?)"
                                : "does not list the 127.0.0.2 test point";
    return changed;
}

std::map<std::string, ZoneHealth::State> ZoneHealth::snapshot() const {
    std::lock_guard lock(mutex_);
    return zones_;
}

}  // namespace smtpwall::dns
