// DNSBL/DNSWL answers interpreted (listed, refused, failed) and zone health.
#include "dnsbl/zones.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "dnsbl/names.hpp"

namespace smtpwall::dns {

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
