// The milter's configuration (/etc/smtpwall/smtpwall.conf): where it listens,
// what it checks and when it escalates to a ban. Immutable once loaded; a reload
// builds a new one and sessions keep the one they started with.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/net.hpp"

namespace smtpwall::conf {

struct MilterConfig {
    struct Milter {
        std::string socket = "/run/smtpwall/milter.sock";
        unsigned socket_mode = 0660;
        std::string socket_group;  // empty: keep the user's primary group
        std::string user = "smtpwall";
        std::chrono::seconds timeout{30};  // libmilter's per-read timeout towards the MTA
    } milter;

    struct Control {
        std::string socket = "/run/smtpwall/control.sock";
        unsigned socket_mode = 0660;
        std::string socket_group;
    } control;

    struct Helper {
        std::string socket = "/run/smtpwall/helper.sock";
    } helper;

    struct Identity {
        std::vector<std::string> hostnames;  // our own names; the MTA's {j} is added per session
        std::vector<IpAddress> addresses;    // our own addresses
    } identity;

    struct Checks {
        // Patterns: "local@domain", "local@" (any domain), "@domain" (whole domain).
        std::vector<std::string> spamtraps;
        std::vector<std::string> exempt_recipients = {"postmaster@", "abuse@"};
        CidrList allowlist;
    } checks;

    struct Tally {
        int ipv4_prefix = 32;
        int ipv6_prefix = 64;
    } tally;

    struct Escalation {
        std::vector<std::string> ban_on_first = {"spamtrap"};
        std::uint32_t max_rejections = 5;  // 0 disables the threshold rule
        std::chrono::seconds window{3600};
        std::chrono::seconds ban_duration{7 * 86400};
    } escalation;

    std::string source;  // the file it came from, for messages
};

// Throws ConfigError ("file:line: ...") on any problem.
MilterConfig load_milter_config(const std::string& path);
MilterConfig parse_milter_config(std::string_view text, const std::string& name);

}  // namespace smtpwall::conf
