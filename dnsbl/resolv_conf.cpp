// The nameserver lines of resolv.conf.
#include "dnsbl/resolv_conf.hpp"

#include <string>

#include <boost/asio/ip/address.hpp>

namespace smtpwall::dns {

namespace {
bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view next_word(std::string_view& line) {
    std::size_t i = 0;
    while (i < line.size() && is_space(line[i])) ++i;
    std::size_t j = i;
    while (j < line.size() && !is_space(line[j])) ++j;
    const std::string_view word = line.substr(i, j - i);
    line.remove_prefix(j);
    return word;
}
}  // namespace

std::vector<boost::asio::ip::udp::endpoint> parse_resolv_conf(std::string_view text) {
    std::vector<boost::asio::ip::udp::endpoint> out;
    while (!text.empty()) {
        const std::size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
        if (const std::size_t hash = line.find_first_of("#;"); hash != std::string_view::npos) {
            line = line.substr(0, hash);
        }
        if (next_word(line) != "nameserver") continue;
        const std::string_view addr = next_word(line);
        if (addr.empty() || addr.size() > 64) continue;
        boost::system::error_code ec;
        const auto ip = boost::asio::ip::make_address(std::string(addr), ec);
        if (ec) continue;
        out.emplace_back(ip, 53);
    }
    return out;
}

}  // namespace smtpwall::dns
