// Where IPv6 addresses carry IPv4 ones (RFC 6052, RFC 3056, mapped), bit by bit.
#include "common/embedded_v4.hpp"

#include <algorithm>

namespace smtpwall {

namespace {

bool bit(const IpAddress& a, int i) {
    return (a.bytes[static_cast<std::size_t>(i / 8)] >> (7 - i % 8)) & 1;
}

void set_bit(IpAddress& a, int i, bool value) {
    auto& byte = a.bytes[static_cast<std::size_t>(i / 8)];
    const auto mask = static_cast<std::uint8_t>(1u << (7 - i % 8));
    byte = static_cast<std::uint8_t>(value ? byte | mask : byte & ~mask);
}

Cidr known(const char* text) {
    return *Cidr::parse(text);
}

}  // namespace

bool valid_nat64_prefix(const Cidr& prefix) {
    if (prefix.family() != Family::v6) return false;
    switch (prefix.prefix) {
        case 32:
        case 40:
        case 48:
        case 56:
        case 64:
        case 96:
            break;
        default:
            return false;
    }
    return prefix.prefix <= 64 || prefix.base.bytes[8] == 0;  // the u octet
}

bool is_teredo(const IpAddress& addr) {
    return known("2001::/32").contains(addr);
}

bool overlaps_teredo(const Cidr& net) {
    return known("2001::/32").overlaps(net);
}

Ipv4Embedding::Ipv4Embedding(const std::vector<Cidr>& nat64_prefixes, bool well_known_nat64) {
    // The most specific prefix decides where an address's IPv4 bits are.
    std::vector<Cidr> own = nat64_prefixes;
    std::sort(own.begin(), own.end(),
              [](const Cidr& a, const Cidr& b) { return a.prefix > b.prefix; });
    for (const auto& p : own) translations_.push_back({p, p.prefix < 96, false});
    translations_.push_back({known("::ffff:0:0/96"), false, true});
    if (well_known_nat64) {
        translations_.push_back({known("64:ff9b::/96"), false, false});
        translations_.push_back({known("64:ff9b:1::/48"), true, false});
    }
    translations_.push_back({known("2002::/16"), false, false});
}

int Ipv4Embedding::position(const Translation& t, int v4_bit) {
    const int pos = t.prefix.prefix + v4_bit;
    return t.skips_u_octet && pos >= 64 ? pos + 8 : pos;
}

const Ipv4Embedding::Translation* Ipv4Embedding::translation_of(const IpAddress& addr) const {
    if (addr.family != Family::v6) return nullptr;
    for (const auto& t : translations_)
        if (t.prefix.contains(addr)) return &t;
    return nullptr;
}

std::optional<IpAddress> Ipv4Embedding::carried(const IpAddress& addr) const {
    const Translation* t = translation_of(addr);
    if (t == nullptr) return std::nullopt;
    IpAddress v4;
    for (int i = 0; i < 32; ++i) set_bit(v4, i, bit(addr, position(*t, i)));
    return v4;
}

std::vector<Ipv4Embedding::Carried> Ipv4Embedding::carried(const Cidr& net) const {
    std::vector<Carried> out;
    if (net.family() != Family::v6) return out;
    for (const auto& t : translations_) {
        if (!t.prefix.overlaps(net)) continue;
        if (net.prefix <= t.prefix.prefix) {
            out.push_back({Cidr{IpAddress{}, 0}, t.prefix.to_string()});
            continue;
        }
        IpAddress v4;
        int fixed = 0;
        for (int i = 0; i < 32 && position(t, i) < net.prefix; ++i) {
            set_bit(v4, i, bit(net.base, position(t, i)));
            fixed = i + 1;
        }
        out.push_back({Cidr{v4, fixed}, t.prefix.to_string()});
    }
    return out;
}

std::optional<Cidr> Ipv4Embedding::carrier(const IpAddress& addr, const Cidr& v4) const {
    const Translation* t = translation_of(addr);
    if (t == nullptr || v4.family() != Family::v4) return std::nullopt;
    if (t->mapped) return v4;
    IpAddress out = t->prefix.base;
    for (int i = 0; i < v4.prefix; ++i) set_bit(out, position(*t, i), bit(v4.base, i));
    const int prefix = v4.prefix == 0 ? t->prefix.prefix : position(*t, v4.prefix - 1) + 1;
    return Cidr{out, prefix};
}

}  // namespace smtpwall
