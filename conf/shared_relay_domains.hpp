// The shipped list of large outbound mail providers' domains: a client whose
// forward-confirmed PTR lies under one of them is a shared relay (core/shared_relay.hpp),
// rejected like anyone but never firewalled on weak evidence. The operator adds and
// removes entries with [shared_relays] add_domains / remove_domains.
#pragma once

#include <span>
#include <string_view>

namespace smtpwall::conf {

struct RelayDomain {
    std::string_view domain;    // matched at a label boundary: "google.com" covers
                                // "mail-yw1-f41.google.com", not "notgoogle.com"
    std::string_view provider;  // for the documentation
};

// Sorted by domain, lower case, no trailing dot.
std::span<const RelayDomain> shipped_relay_domains();

}  // namespace smtpwall::conf
