// IP addresses and networks as plain values: parsing, formatting, containment,
// and the classification every safety check needs (loopback, link-local, ...).
// No I/O: inet_pton/inet_ntop only convert text.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smtpwall {

enum class Family : std::uint8_t { v4 = 4, v6 = 6 };

// An IPv4 address lives in the first 4 bytes; the rest stay zero so that
// comparison and hashing work on the whole array.
struct IpAddress {
    Family family = Family::v4;
    std::array<std::uint8_t, 16> bytes{};

    static std::optional<IpAddress> parse(std::string_view text);
    static IpAddress v4(std::uint32_t host_order);

    int width() const { return family == Family::v4 ? 32 : 128; }
    std::string to_string() const;
    bool is_loopback() const;
    bool is_link_local() const;
    bool is_multicast() const;
    bool is_unspecified() const;
    // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes plain IPv4.
    IpAddress unmapped() const;
    IpAddress masked(int prefix) const;

    auto operator<=>(const IpAddress&) const = default;
};

struct Cidr {
    IpAddress base;  // always masked to prefix
    int prefix = 32;

    // Accepts "a.b.c.d", "a.b.c.d/len", "x::y", "x::y/len". Host bits must be zero
    // unless allow_host_bits is set (then they are cleared).
    static std::optional<Cidr> parse(std::string_view text, bool allow_host_bits = false);
    static Cidr host(const IpAddress& addr) { return Cidr{addr, addr.width()}; }
    Family family() const { return base.family; }
    bool is_host() const { return prefix == base.width(); }
    bool contains(const IpAddress& addr) const;
    bool contains(const Cidr& other) const;
    bool overlaps(const Cidr& other) const;
    // "192.0.2.1" for a host, "192.0.2.0/24" otherwise (the seed's Host/Mask column).
    std::string to_string() const;

    auto operator<=>(const Cidr&) const = default;
};

class CidrList {
  public:
    CidrList() = default;
    explicit CidrList(std::vector<Cidr> nets) : nets_(std::move(nets)) {}
    bool contains(const IpAddress& addr) const;
    // True if any listed network overlaps the given one.
    bool overlaps(const Cidr& net) const;
    const std::vector<Cidr>& entries() const { return nets_; }
    bool empty() const { return nets_.empty(); }
    bool operator==(const CidrList&) const = default;

  private:
    std::vector<Cidr> nets_;
};

// The key a client is tallied and banned under: /32 for IPv4 and, by default,
// /64 for IPv6, since one IPv6 host usually controls its whole /64.
Cidr tally_key(const IpAddress& addr, int v4_prefix = 32, int v6_prefix = 64);

// For test diagnostics and logs.
std::ostream& operator<<(std::ostream& out, const IpAddress& addr);
std::ostream& operator<<(std::ostream& out, const Cidr& net);

}  // namespace smtpwall

template <>
struct std::hash<smtpwall::IpAddress> {
    std::size_t operator()(const smtpwall::IpAddress& a) const noexcept;
};
template <>
struct std::hash<smtpwall::Cidr> {
    std::size_t operator()(const smtpwall::Cidr& c) const noexcept;
};
