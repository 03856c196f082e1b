// Query name validation and the reverse names for PTR and DNSBL queries.
#include "dnsbl/names.hpp"

#include "common/enum_names.hpp"
#include "dnsbl/result.hpp"

namespace smtpwall::dns {

std::optional<std::string> normalize_name(std::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty() || name.size() > 253) return std::nullopt;
    std::string out;
    out.reserve(name.size());
    std::size_t label = 0;
    for (const char c : name) {
        if (c == '.') {
            if (label == 0) return std::nullopt;
            label = 0;
        } else if (++label > 63) {
            return std::nullopt;
        }
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '/' || c == '.';
        if (!ok) return std::nullopt;
        out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    if (label == 0) return std::nullopt;
    return out;
}

std::string reverse_name(const IpAddress& addr, std::string_view zone) {
    while (!zone.empty() && zone.front() == '.') zone.remove_prefix(1);
    while (!zone.empty() && zone.back() == '.') zone.remove_suffix(1);
    const IpAddress a = addr.unmapped();
    std::string out;
    if (a.family == Family::v4) {
        for (int i = 3; i >= 0; --i) {
            out += std::to_string(a.bytes[static_cast<std::size_t>(i)]);
            out += '.';
        }
        out += zone.empty() ? std::string_view("in-addr.arpa") : zone;
        return out;
    }
    static constexpr char hex[] = "0123456789abcdef";
    out.reserve(64 + zone.size());
    for (int i = 15; i >= 0; --i) {
        const std::uint8_t b = a.bytes[static_cast<std::size_t>(i)];
        out += hex[b & 0xf];
        out += '.';
        out += hex[b >> 4];
        out += '.';
    }
    out += zone.empty() ? std::string_view("ip6.arpa") : zone;
    return out;
}

constexpr EnumNames<Status, 7> kStatusNames{{
    {Status::ok, "ok"},
    {Status::nxdomain, "nxdomain"},
    {Status::nodata, "nodata"},
    {Status::servfail, "servfail"},
    {Status::refused, "refused"},
    {Status::timeout, "timeout"},
    {Status::error, "error"},
}};

std::string_view to_string(Status status) {
    return name_of(kStatusNames, status);
}

constexpr EnumNames<RType, 6> kRTypeNames{{
    {RType::A, "A"},
    {RType::CNAME, "CNAME"},
    {RType::PTR, "PTR"},
    {RType::MX, "MX"},
    {RType::TXT, "TXT"},
    {RType::AAAA, "AAAA"},
}};

std::string_view to_string(RType type) {
    return name_of(kRTypeNames, type);
}

}  // namespace smtpwall::dns
