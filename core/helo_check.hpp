// HELO/EHLO syntax checks (RFC 5321 4.1.1.1, 4.1.3). Pure: the client address and
// our own identity are parameters. Checks that need DNS live in dnsbl/.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"

namespace smtpwall {

struct OwnIdentity {
    std::vector<std::string> hostnames;  // lower case, no trailing dot
    std::vector<IpAddress> addresses;
};

enum class HeloProblem {
    none,
    empty,
    too_long,            // over 255 octets
    invalid_syntax,      // bad characters or label structure, numeric TLD
    bare_ip,             // an address not in [brackets]
    not_fqdn,            // a single label
    localhost,           // localhost, localhost.localdomain, ...
    literal_not_client,  // [a.b.c.d] that is not the connecting client
    own_name,            // claims to be us
    own_address,         // [our address]
};

// Short, stable, log-friendly name ("not-fqdn", ...).
std::string_view helo_problem_name(HeloProblem problem);

HeloProblem check_helo(std::string_view helo, const std::optional<IpAddress>& client,
                       const OwnIdentity& own);

}  // namespace smtpwall
