// resolv.conf parsing: the "nameserver" lines, in order. Pure (text in, endpoints out).
#pragma once

#include <string_view>
#include <vector>

#include <boost/asio/ip/udp.hpp>

namespace smtpwall::dns {

// Every "nameserver ADDR" line (IPv4, or IPv6 with an optional %scope) as an endpoint
// on port 53. Comments ('#', ';'), other keywords and unparsable addresses are
// skipped, as the C library does. An empty result is the caller's decision (glibc
// would fall back to 127.0.0.1).
std::vector<boost::asio::ip::udp::endpoint> parse_resolv_conf(std::string_view text);

}  // namespace smtpwall::dns
