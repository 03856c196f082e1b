// DNSBL and DNSWL zones: how to ask them about a client and what their answers
// mean. Pure: no I/O; health bookkeeping takes time as a parameter.
//
// Lessons built in (postscreen, rspamd, SpamAssassin users learned them the hard way):
// - 127.255.255.x from a DNSBL (127.0.0.255 from a DNSWL) means "query refused /
//   over quota", never "listed": the zone is suspended for a while.
// - An answer outside 127/8 is a resolver that rewrites NXDOMAIN (or a hijacked
//   zone): an error, never a listing.
// - A zone that lists the 127.0.0.1 test point, or stops listing 127.0.0.2, is dead
//   or broken (a retired list that answers "listed" for everything); its answers
//   are ignored until a probe finds it sane again.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/code_filter.hpp"
#include "common/net.hpp"
#include "dnsbl/result.hpp"

namespace smtpwall::dns {

struct ZoneSpec {
    std::string tag;   // becomes the tag of a listing, e.g. "cbl"
    std::string zone;  // e.g. "cbl.abuseat.org"
    CodeFilter codes;
    int weight = 0;     // negative: an allowlist (DNSWL)
    bool ipv4 = true;   // query for IPv4 clients
    bool ipv6 = false;  // query for IPv6 clients (nibble format)
    bool txt = true;    // fetch the TXT record of a listing for the log
    bool allowlist() const { return weight < 0; }
};

enum class ZoneVerdict { listed, not_listed, refused, failed };

struct ZoneAnswer {
    ZoneVerdict verdict = ZoneVerdict::failed;
    std::vector<IpAddress> codes;  // the codes that matched (listed) or the offending ones
    std::string why;               // for refused/failed: one phrase for the log
};

// Does this zone want to be asked about this client at all?
bool zone_applies(const ZoneSpec& zone, const IpAddress& client);
// The name to query: reversed octets (IPv4) or nibbles (IPv6) under the zone.
std::string zone_query_name(const ZoneSpec& zone, const IpAddress& client);
ZoneAnswer interpret(const ZoneSpec& zone, const Result& a_answer);

// Per-zone suspension and probe state, shared by all sessions (thread-safe).
class ZoneHealth {
  public:
    using Time = std::int64_t;  // unix seconds

    bool usable(const std::string& zone, Time now) const;
    // A refused answer: suspend the zone until now + duration.
    void suspend(const std::string& zone, Time now, std::chrono::seconds duration, std::string why);
    // Probe outcome: 127.0.0.2 listed and 127.0.0.1 not listed means healthy.
    // Returns true when the zone's state changed (worth a log line).
    bool record_probe(const std::string& zone, bool test_point_listed, bool loopback_listed,
                      bool answered);

    struct State {
        bool dead = false;
        Time suspended_until = 0;
        std::string why;
        std::uint64_t suspensions = 0;
    };
    std::map<std::string, State> snapshot() const;

  private:
    mutable std::mutex mutex_;
    std::map<std::string, State> zones_;
};

}  // namespace smtpwall::dns
