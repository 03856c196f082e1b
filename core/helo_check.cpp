// HELO/EHLO syntax and identity checks (RFC 5321), before any DNS.
#include "core/helo_check.hpp"

#include <algorithm>

#include "common/enum_names.hpp"

namespace smtpwall {

namespace {

constexpr std::size_t kMaxDomain = 255;
constexpr std::size_t kMaxLabel = 63;

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

// Underscores are not RFC-valid in host names, but Postfix accepts them and many
// Windows hosts send them; rejecting them would lose real mail.
bool label_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

bool valid_hostname(std::string_view name) {
    if (name.empty()) return false;
    std::size_t start = 0;
    std::string_view last;
    while (start <= name.size()) {
        const auto dot = name.find('.', start);
        const auto label = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (label.empty() || label.size() > kMaxLabel) return false;
        if (!std::all_of(label.begin(), label.end(), label_char)) return false;
        if (label.front() == '-' || label.back() == '-') return false;
        last = label;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    // A numeric top-level label means a mangled address, never a host name.
    return !std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<IpAddress> parse_literal(std::string_view inner) {
    constexpr std::string_view kV6 = "IPv6:";
    if (inner.size() > kV6.size() && iequals(inner.substr(0, kV6.size()), kV6)) {
        auto addr = IpAddress::parse(inner.substr(kV6.size()));
        if (addr && addr->family == Family::v6) return addr;
        return std::nullopt;
    }
    auto addr = IpAddress::parse(inner);
    if (addr && addr->family == Family::v4) return addr;
    return std::nullopt;
}

bool is_own_address(const IpAddress& addr, const OwnIdentity& own) {
    const auto plain = addr.unmapped();
    return std::any_of(own.addresses.begin(), own.addresses.end(),
                       [&](const IpAddress& a) { return a.unmapped() == plain; });
}

}  // namespace

constexpr EnumNames<HeloProblem, 10> kHeloProblemNames{{
    {HeloProblem::none, "ok"},
    {HeloProblem::empty, "empty"},
    {HeloProblem::too_long, "too-long"},
    {HeloProblem::invalid_syntax, "invalid-syntax"},
    {HeloProblem::bare_ip, "bare-ip"},
    {HeloProblem::not_fqdn, "not-fqdn"},
    {HeloProblem::localhost, "localhost"},
    {HeloProblem::literal_not_client, "literal-not-client"},
    {HeloProblem::own_name, "own-name"},
    {HeloProblem::own_address, "own-address"},
}};

std::string_view helo_problem_name(HeloProblem problem) {
    return name_of(kHeloProblemNames, problem);
}

HeloProblem check_helo(std::string_view helo, const std::optional<IpAddress>& client,
                       const OwnIdentity& own) {
    if (helo.empty()) return HeloProblem::empty;
    if (helo.size() > kMaxDomain) return HeloProblem::too_long;

    if (helo.front() == '[') {
        if (helo.size() < 3 || helo.back() != ']') return HeloProblem::invalid_syntax;
        const auto addr = parse_literal(helo.substr(1, helo.size() - 2));
        if (!addr) return HeloProblem::invalid_syntax;
        if (is_own_address(*addr, own)) return HeloProblem::own_address;
        // Without a known client (e.g. sendmail -bs) there is nothing to compare with.
        if (client && addr->unmapped() != client->unmapped())
            return HeloProblem::literal_not_client;
        return HeloProblem::none;
    }
    if (IpAddress::parse(helo)) return HeloProblem::bare_ip;

    std::string_view name = helo;
    if (name.size() > 1 && name.back() == '.') name.remove_suffix(1);  // absolute form
    if (!valid_hostname(name)) return HeloProblem::invalid_syntax;

    if (iequals(name, "localhost") || iequals(name, "localhost.localdomain") ||
        (name.size() > 10 && iequals(name.substr(0, 10), "localhost.")))
        return HeloProblem::localhost;
    if (name.find('.') == std::string_view::npos) return HeloProblem::not_fqdn;
    for (const auto& mine : own.hostnames)
        if (iequals(name, mine)) return HeloProblem::own_name;
    return HeloProblem::none;
}

}  // namespace smtpwall
