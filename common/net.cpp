// Parsing, formatting and classifying IP addresses and networks (see net.hpp).
#include "common/net.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <ostream>

namespace smtpwall {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    // inet_pton needs a NUL-terminated string; the longest textual IPv6 form is 45 chars.
    if (text.empty() || text.size() > 45) return std::nullopt;
    char buf[46];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    IpAddress out;
    if (inet_pton(AF_INET, buf, out.bytes.data()) == 1) {
        out.family = Family::v4;
        return out;
    }
    if (inet_pton(AF_INET6, buf, out.bytes.data()) == 1) {
        out.family = Family::v6;
        return out;
    }
    return std::nullopt;
}

IpAddress IpAddress::v4(std::uint32_t host_order) {
    IpAddress out;
    out.bytes[0] = static_cast<std::uint8_t>(host_order >> 24);
    out.bytes[1] = static_cast<std::uint8_t>(host_order >> 16);
    out.bytes[2] = static_cast<std::uint8_t>(host_order >> 8);
    out.bytes[3] = static_cast<std::uint8_t>(host_order);
    return out;
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN];
    const int af = family == Family::v4 ? AF_INET : AF_INET6;
    if (inet_ntop(af, bytes.data(), buf, sizeof buf) == nullptr) return "?";
    return buf;
}

bool IpAddress::is_loopback() const {
    if (family == Family::v4) return bytes[0] == 127;
    static const IpAddress one = *parse("::1");
    if (*this == one) return true;
    const IpAddress v4 = unmapped();
    return v4.family == Family::v4 && v4.is_loopback();
}

bool IpAddress::is_link_local() const {
    if (family == Family::v4) return bytes[0] == 169 && bytes[1] == 254;
    return bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80;
}

bool IpAddress::is_multicast() const {
    if (family == Family::v4) return bytes[0] >= 224;  // multicast, reserved, broadcast
    return bytes[0] == 0xff;
}

bool IpAddress::is_unspecified() const {
    for (int i = 0; i < width() / 8; ++i)
        if (bytes[i] != 0) return false;
    return true;
}

IpAddress IpAddress::unmapped() const {
    if (family != Family::v6) return *this;
    for (int i = 0; i < 10; ++i)
        if (bytes[i] != 0) return *this;
    if (bytes[10] != 0xff || bytes[11] != 0xff) return *this;
    IpAddress out;
    std::memcpy(out.bytes.data(), bytes.data() + 12, 4);
    return out;
}

IpAddress IpAddress::masked(int prefix) const {
    IpAddress out = *this;
    for (int byte = 0; byte < 16; ++byte) {
        const int bit = byte * 8;
        if (bit >= width() || bit >= prefix) {
            out.bytes[byte] = 0;
        } else if (prefix - bit < 8) {
            out.bytes[byte] &= static_cast<std::uint8_t>(0xff << (8 - (prefix - bit)));
        }
    }
    return out;
}

std::optional<Cidr> Cidr::parse(std::string_view text, bool allow_host_bits) {
    const auto slash = text.find('/');
    const auto addr = IpAddress::parse(text.substr(0, slash));
    if (!addr) return std::nullopt;
    int prefix = addr->width();
    if (slash != std::string_view::npos) {
        const auto digits = text.substr(slash + 1);
        if (digits.empty() || digits.size() > 3) return std::nullopt;
        const auto [end, ec] =
            std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
        if (prefix < 0 || prefix > addr->width()) return std::nullopt;
    }
    const IpAddress base = addr->masked(prefix);
    if (base != *addr && !allow_host_bits) return std::nullopt;
    return Cidr{base, prefix};
}

bool Cidr::contains(const IpAddress& addr) const {
    return addr.family == base.family && addr.masked(prefix) == base;
}

bool Cidr::contains(const Cidr& other) const {
    return other.prefix >= prefix && contains(other.base);
}

bool Cidr::overlaps(const Cidr& other) const {
    return contains(other) || other.contains(*this);
}

std::string Cidr::to_string() const {
    if (is_host()) return base.to_string();
    return base.to_string() + "/" + std::to_string(prefix);
}

bool CidrList::contains(const IpAddress& addr) const {
    for (const auto& net : nets_)
        if (net.contains(addr)) return true;
    return false;
}

bool CidrList::overlaps(const Cidr& net) const {
    for (const auto& listed : nets_)
        if (listed.overlaps(net)) return true;
    return false;
}

Cidr tally_key(const IpAddress& addr, int v4_prefix, int v6_prefix) {
    const IpAddress a = addr.unmapped();
    const int prefix = a.family == Family::v4 ? v4_prefix : v6_prefix;
    return Cidr{a.masked(prefix), prefix};
}

std::ostream& operator<<(std::ostream& out, const IpAddress& addr) {
    return out << addr.to_string();
}
std::ostream& operator<<(std::ostream& out, const Cidr& net) {
    return out << net.to_string();
}

}  // namespace smtpwall

std::size_t std::hash<smtpwall::IpAddress>::operator()(
    const smtpwall::IpAddress& a) const noexcept {
    // FNV-1a over the bytes; addresses are short and this keeps the type trivially hashable.
    std::size_t h = 1469598103934665603ull ^ static_cast<std::size_t>(a.family);
    for (auto b : a.bytes) h = (h ^ b) * 1099511628211ull;
    return h;
}

std::size_t std::hash<smtpwall::Cidr>::operator()(const smtpwall::Cidr& c) const noexcept {
    return std::hash<smtpwall::IpAddress>{}(c.base) * 31 + static_cast<std::size_t>(c.prefix);
}
