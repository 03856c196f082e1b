// The target policy property (see target_policy_check.hpp): the input decoder and an
// independent model of what an accepted network covers, as plain address ranges.
#include "test/fuzz/target_policy_check.hpp"

#include <algorithm>
#include <compare>
#include <string>
#include <string_view>
#include <vector>

#include "common/embedded_v4.hpp"
#include "common/net.hpp"
#include "firewall/target_policy.hpp"
#include "test/fuzz/check_failure.hpp"

namespace smtpwall::fuzz {

namespace {

// ---- addresses as numbers, networks as [first, last] ----

struct U128 {
    std::uint64_t hi = 0, lo = 0;
    auto operator<=>(const U128&) const = default;
};

// The n low bits set (n in 0..64).
std::uint64_t ones(int n) {
    return n >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;
}

U128 number(const IpAddress& a) {
    U128 out;
    for (std::size_t i = 0; i < 8; ++i) {
        out.hi = out.hi << 8 | a.bytes[i];
        out.lo = out.lo << 8 | a.bytes[i + 8];
    }
    return out;
}

std::uint32_t number4(const IpAddress& a) {
    return static_cast<std::uint32_t>(a.bytes[0]) << 24 |
           static_cast<std::uint32_t>(a.bytes[1]) << 16 |
           static_cast<std::uint32_t>(a.bytes[2]) << 8 | a.bytes[3];
}

IpAddress address6(U128 n) {
    IpAddress out;
    out.family = Family::v6;
    for (std::size_t i = 0; i < 8; ++i) {
        out.bytes[7 - i] = static_cast<std::uint8_t>(n.hi >> (8 * i));
        out.bytes[15 - i] = static_cast<std::uint8_t>(n.lo >> (8 * i));
    }
    return out;
}

IpAddress address4(std::uint32_t n) {
    IpAddress out;
    for (std::size_t i = 0; i < 4; ++i) out.bytes[3 - i] = static_cast<std::uint8_t>(n >> (8 * i));
    return out;
}

// The host part of a /prefix in each half.
U128 host_bits(int prefix) {
    return prefix >= 64 ? U128{0, ones(128 - prefix)} : U128{ones(64 - prefix), ~std::uint64_t{0}};
}

struct Range6 {
    U128 first, last;
};
struct Range4 {
    std::uint64_t first, last;  // 64 bits so that sizes do not overflow
};

Range6 range6(U128 base, int prefix) {
    const U128 host = host_bits(prefix);
    const U128 first{base.hi & ~host.hi, base.lo & ~host.lo};
    return {first, {first.hi | host.hi, first.lo | host.lo}};
}

Range6 range6(const Cidr& net) {
    return range6(number(net.base), net.prefix);
}

Range4 range4(std::uint32_t base, int prefix) {
    const std::uint64_t host = ones(32 - prefix);
    const std::uint64_t first = base & ~host & 0xffffffffu;
    return {first, first | host};
}

Range4 range4(const Cidr& net) {
    return range4(number4(net.base), net.prefix);
}

template <class R>
bool overlap(const R& a, const R& b) {
    return a.first <= b.last && b.first <= a.last;
}

template <class R, class N>
bool holds(const R& r, const N& n) {
    return r.first <= n && n <= r.last;
}

// ---- RFC 6052 section 2.2, RFC 3056, RFC 4291 2.5.5.2: where IPv6 carries IPv4 ----

enum class Layout { nat64_32, nat64_40, nat64_48, nat64_56, nat64_64, nat64_96, six_to_four };

struct Translation {
    std::string name;
    Range6 range;
    Layout layout;
};

Layout nat64_layout(int length) {
    switch (length) {
        case 32:
            return Layout::nat64_32;
        case 40:
            return Layout::nat64_40;
        case 48:
            return Layout::nat64_48;
        case 56:
            return Layout::nat64_56;
        case 64:
            return Layout::nat64_64;
        default:
            return Layout::nat64_96;
    }
}

// The IPv4 bits of an address (the u octet, bits 64..71, carries none).
std::uint32_t extract(U128 a, Layout layout) {
    std::uint64_t v = 0;
    switch (layout) {
        case Layout::nat64_32:
            v = a.hi & 0xffffffff;
            break;
        case Layout::nat64_40:
            v = (a.hi & 0xffffff) << 8 | (a.lo >> 48 & 0xff);
            break;
        case Layout::nat64_48:
            v = (a.hi & 0xffff) << 16 | (a.lo >> 40 & 0xffff);
            break;
        case Layout::nat64_56:
            v = (a.hi & 0xff) << 24 | (a.lo >> 32 & 0xffffff);
            break;
        case Layout::nat64_64:
            v = a.lo >> 24 & 0xffffffff;
            break;
        case Layout::nat64_96:
            v = a.lo & 0xffffffff;
            break;
        case Layout::six_to_four:
            v = a.hi >> 16 & 0xffffffff;
            break;
    }
    return static_cast<std::uint32_t>(v);
}

// The inverse, into an address of the translation prefix.
U128 embed(U128 prefix, Layout layout, std::uint32_t v4) {
    const std::uint64_t v = v4;
    switch (layout) {
        case Layout::nat64_32:
            prefix.hi |= v;
            break;
        case Layout::nat64_40:
            prefix.hi |= v >> 8;
            prefix.lo |= (v & 0xff) << 48;
            break;
        case Layout::nat64_48:
            prefix.hi |= v >> 16;
            prefix.lo |= (v & 0xffff) << 40;
            break;
        case Layout::nat64_56:
            prefix.hi |= v >> 24;
            prefix.lo |= (v & 0xffffff) << 32;
            break;
        case Layout::nat64_64:
            prefix.lo |= v << 24;
            break;
        case Layout::nat64_96:
            prefix.lo |= v;
            break;
        case Layout::six_to_four:
            prefix.hi |= v << 16;
            break;
    }
    return prefix;
}

constexpr U128 kMapped{0, 0x0000ffff00000000};
constexpr U128 kWellKnown{0x0064ff9b00000000, 0};
constexpr U128 kLocalUse{0x0064ff9b00010000, 0};
constexpr U128 kSixToFour{0x2002000000000000, 0};
constexpr U128 kTeredo{0x2001000000000000, 0};
constexpr U128 kLoopback6{0, 1};

// ---- the decoded case ----

struct Case {
    TargetLimits limits;
    std::vector<Cidr> nat64;          // the operator's prefixes, as given to the embedding
    std::vector<std::uint32_t> pool;  // IPv4 decoded so far, for reuse
    Cidr candidate;
};

class Reader {
  public:
    Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    std::uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }

  private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t at_ = 0;
};

std::uint32_t read_v4(Reader& in, const Case& c) {
    const std::uint8_t b = in.byte();
    if (b >= 0xe0 && !c.pool.empty()) return c.pool[(b - 0xe0u) % c.pool.size()];
    std::uint32_t v = b;
    for (int i = 0; i < 3; ++i) v = v << 8 | in.byte();
    return v;
}

IpAddress read_address(Reader& in, const Case& c) {
    const std::uint8_t s = in.byte();
    switch (s % 10) {
        case 0:
            return address4(read_v4(in, c));
        case 1: {
            U128 n;
            for (int i = 0; i < 8; ++i) n.hi = n.hi << 8 | in.byte();
            for (int i = 0; i < 8; ++i) n.lo = n.lo << 8 | in.byte();
            return address6(n);
        }
        case 2:
            return address6(embed(kMapped, Layout::nat64_96, read_v4(in, c)));
        case 3:
            return address6(embed(kWellKnown, Layout::nat64_96, read_v4(in, c)));
        case 4:
            return address6(embed(kLocalUse, Layout::nat64_48, read_v4(in, c)));
        case 5: {
            U128 n = embed(kSixToFour, Layout::six_to_four, read_v4(in, c));
            n.hi |= in.byte();  // the subnet
            return address6(n);
        }
        case 6: {
            const std::uint32_t v4 = read_v4(in, c);  // server, then obfuscated client
            return address6({kTeredo.hi | v4, std::uint64_t{0x8000} << 48 | (~v4 & 0xffffffffu)});
        }
        case 7: {
            const std::uint32_t v4 = read_v4(in, c);
            if (c.nat64.empty()) return address6(embed(kWellKnown, Layout::nat64_96, v4));
            const Cidr& p = c.nat64[(s / 10u) % c.nat64.size()];
            return address6(embed(number(p.base), nat64_layout(p.prefix), v4));
        }
        case 8:
            return address6(kLoopback6);
        default: {
            const std::uint64_t top = static_cast<std::uint64_t>(in.byte()) << 8 | in.byte();
            return address6({top << 48, 0});
        }
    }
}

// The network of `addr` with host bits cleared, by our own arithmetic.
Cidr network(const IpAddress& addr, int prefix) {
    if (addr.family == Family::v4)
        return {address4(static_cast<std::uint32_t>(range4(number4(addr), prefix).first)), prefix};
    return {address6(range6(number(addr), prefix).first), prefix};
}

Cidr read_network(Reader& in, const Case& c) {
    const IpAddress addr = read_address(in, c);
    const std::uint8_t b = in.byte();
    return network(addr, addr.family == Family::v4 ? b % 33 : b % 129);
}

Case decode(const std::uint8_t* data, std::size_t size) {
    Reader in(data, size);
    Case c;
    c.limits.min_prefix_v4 = in.byte() % 33;
    c.limits.min_prefix_v6 = in.byte() % 129;
    const std::uint8_t counts = in.byte();
    const int nat64 = counts % 3, own = counts / 3 % 3, shielded = counts / 9 % 4;
    for (int i = 0; i < nat64; ++i) {
        static constexpr int kLengths[] = {32, 40, 48, 56, 64, 96};
        const IpAddress addr = read_address(in, c);
        const std::uint8_t b = in.byte();
        if (addr.family != Family::v6) continue;
        const Cidr prefix = network(addr, b < 0x80 ? kLengths[b % 6] : b - 0x80);
        if (valid_nat64_prefix(prefix)) c.nat64.push_back(prefix);
    }
    for (int i = 0; i < own; ++i) {
        const IpAddress addr = read_address(in, c);
        c.limits.own_addresses.push_back(addr);
        if (addr.family == Family::v4) c.pool.push_back(number4(addr));
    }
    std::vector<Cidr> nets;
    for (int i = 0; i < shielded; ++i) {
        nets.push_back(read_network(in, c));
        if (nets.back().family() == Family::v4) c.pool.push_back(number4(nets.back().base));
    }
    c.limits.protected_nets = CidrList(std::move(nets));
    c.limits.embedding = Ipv4Embedding(c.nat64);
    c.candidate = read_network(in, c);
    return c;
}

std::string describe(const Case& c) {
    std::string out = "candidate " + c.candidate.to_string() + "\n  min_prefix_v4 " +
                      std::to_string(c.limits.min_prefix_v4) + ", min_prefix_v6 " +
                      std::to_string(c.limits.min_prefix_v6) + "\n  own:";
    for (const auto& a : c.limits.own_addresses) out += " " + a.to_string();
    out += "\n  protected:";
    for (const auto& n : c.limits.protected_nets.entries()) out += " " + n.to_string();
    out += "\n  nat64:";
    for (const auto& n : c.nat64) out += " " + n.to_string();
    return out;
}

void require(bool ok, const Case& c, const std::string& what) {
    if (!ok) check_failed("target policy", what, describe(c));
}

// What an accepted IPv4 range (the candidate itself, or what it carries) must avoid.
void check_v4(const Case& c, Range4 r, const std::string& how) {
    require(r.first <= r.last && r.last <= 0xffffffffu, c, "model error: bad IPv4 range " + how);
    const std::uint64_t size = r.last - r.first + 1;
    require(size <= (std::uint64_t{1} << (32 - c.limits.min_prefix_v4)), c,
            "accepted: IPv4 range " + address4(static_cast<std::uint32_t>(r.first)).to_string() +
                "-" + address4(static_cast<std::uint32_t>(r.last)).to_string() + how +
                " is wider than min_prefix_v4");
    require(!overlap(r, range4(0x7f000000, 8)), c, "accepted: covers IPv4 loopback" + how);
    for (const auto& own : c.limits.own_addresses)
        if (own.family == Family::v4)
            require(!holds(r, std::uint64_t{number4(own)}), c,
                    "accepted: covers own address " + own.to_string() + how);
    for (const auto& net : c.limits.protected_nets.entries())
        if (net.family() == Family::v4)
            require(!overlap(r, range4(net)), c,
                    "accepted: overlaps protected " + net.to_string() + how);
}

void check_v6(const Case& c) {
    const Range6 r = range6(c.candidate);
    require(c.candidate.prefix >= c.limits.min_prefix_v6, c, "accepted: wider than min_prefix_v6");
    require(!holds(r, kLoopback6), c, "accepted: covers ::1");
    for (const auto& own : c.limits.own_addresses)
        if (own.family == Family::v6)
            require(!holds(r, number(own)), c, "accepted: covers own address " + own.to_string());
    for (const auto& net : c.limits.protected_nets.entries())
        if (net.family() == Family::v6)
            require(!overlap(r, range6(net)), c, "accepted: overlaps protected " + net.to_string());
    if (overlap(r, range6(kTeredo, 32)))
        require(c.candidate.prefix == 128, c, "accepted: a Teredo network wider than /128");

    std::vector<Translation> translations = {
        {"::ffff:0:0/96", range6(kMapped, 96), Layout::nat64_96},
        {"64:ff9b::/96", range6(kWellKnown, 96), Layout::nat64_96},
        {"64:ff9b:1::/48", range6(kLocalUse, 48), Layout::nat64_48},
        {"2002::/16", range6(kSixToFour, 16), Layout::six_to_four},
    };
    for (const auto& p : c.nat64)
        translations.push_back({p.to_string(), range6(p), nat64_layout(p.prefix)});
    for (const auto& t : translations) {
        if (!overlap(r, t.range)) continue;
        // Prefixes nest: the overlap is the narrower one, whose first and last addresses
        // carry the lowest and the highest IPv4 of the block it carries.
        const U128 first = std::max(r.first, t.range.first), last = std::min(r.last, t.range.last);
        check_v4(c, {extract(first, t.layout), extract(last, t.layout)},
                 " (through " + t.name + ")");
    }
}

}  // namespace

void check_target_policy(const std::uint8_t* data, std::size_t size) {
    const Case c = decode(data, size);
    const auto why = refusal_reason(c.candidate, c.limits);
    if (why) {
        require(!why->empty(), c, "refused without a reason");
        return;
    }
    if (c.candidate.family() == Family::v4) {
        require(c.candidate.prefix >= c.limits.min_prefix_v4, c,
                "accepted: wider than min_prefix_v4");
        check_v4(c, range4(c.candidate), "");
    } else {
        check_v6(c);
    }
}

}  // namespace smtpwall::fuzz
