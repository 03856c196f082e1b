// The vocabulary of the DNS layer: record types we ask for, lookup outcomes and
// the result a lookup hands to its caller. Plain values, no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"

namespace smtpwall::dns {

enum class RType : std::uint16_t { A = 1, CNAME = 5, PTR = 12, MX = 15, TXT = 16, AAAA = 28 };

// nodata: the name exists but has no record of the asked type.
// error: invalid query name, malformed reply, network error, shutdown.
enum class Status { ok, nxdomain, nodata, servfail, refused, timeout, error };

struct Result {
    Status status = Status::error;
    std::vector<std::string> names;    // PTR/CNAME targets, MX exchanges (by preference);
                                       // lower case, no trailing dot
    std::vector<IpAddress> addresses;  // A/AAAA
    std::vector<std::string> texts;    // TXT: the strings of each RR joined
    std::uint32_t ttl = 0;             // seconds this result stays valid (as cached)
    bool from_cache = false;
    std::chrono::microseconds latency{0};

    // Failures that say nothing about the name: never a reason to reject permanently.
    bool temporary() const {
        return status == Status::servfail || status == Status::refused ||
               status == Status::timeout || status == Status::error;
    }
    // nxdomain and nodata: the authoritative "no such record".
    bool negative() const { return status == Status::nxdomain || status == Status::nodata; }
};

std::string_view to_string(Status status);
std::string_view to_string(RType type);

}  // namespace smtpwall::dns
