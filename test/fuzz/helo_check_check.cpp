// The HELO check property (see helo_check_check.hpp): the input decoder and the
// invariants, each computed from the HELO text itself rather than from check_helo's code.
#include "test/fuzz/helo_check_check.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "common/log.hpp"
#include "common/net.hpp"
#include "common/text.hpp"
#include "core/helo_check.hpp"
#include "test/fuzz/check_failure.hpp"
#include "test/fuzz/check_text.hpp"

namespace smtpwall::fuzz {

namespace {

constexpr std::array kProblems = {HeloProblem::none,      HeloProblem::empty,
                                  HeloProblem::too_long,  HeloProblem::invalid_syntax,
                                  HeloProblem::bare_ip,   HeloProblem::not_fqdn,
                                  HeloProblem::localhost, HeloProblem::literal_not_client,
                                  HeloProblem::own_name,  HeloProblem::own_address};
constexpr std::array<std::string_view, kProblems.size()> kNames = {
    "ok",       "empty",     "too-long",           "invalid-syntax", "bare-ip",
    "not-fqdn", "localhost", "literal-not-client", "own-name",       "own-address"};

struct Case {
    std::string_view helo;
    std::optional<IpAddress> client;
};

void require(bool ok, std::string_view what, const Case& c, std::string_view detail = {}) {
    if (ok) return;
    const std::string input =
        "helo=" + kv_value(c.helo) + " client=" + (c.client ? c.client->to_string() : "none");
    check_failed("helo check", what, input, detail);
}

std::string name_of(HeloProblem p) {
    return std::string(helo_problem_name(p));
}

bool all_digits(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// RFC 1123 host name, plus '_' (which the check tolerates), at least two labels.
bool fqdn(std::string_view name) {
    const auto labels = split(name, '.');
    if (labels.size() < 2) return false;
    for (const auto label : labels) {
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        for (char c : label)
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_'))
                return false;
    }
    return !all_digits(labels.back());
}

// The address of "[a.b.c.d]" or "[IPv6:x::y]".
std::optional<IpAddress> literal(std::string_view helo) {
    if (helo.size() < 3 || helo.front() != '[' || helo.back() != ']') return std::nullopt;
    std::string inner(helo.substr(1, helo.size() - 2));
    const bool v6 = inner.size() > 5 && with_case(inner.substr(0, 5), false) == "ipv6:";
    const auto addr = IpAddress::parse(v6 ? std::string_view(inner).substr(5) : inner);
    if (!addr || (addr->family == Family::v6) != v6) return std::nullopt;
    return addr;
}

const OwnIdentity& own() {
    static const OwnIdentity identity{
        {"mx.example.org", "mail.example.net"},
        {*IpAddress::parse("192.0.2.25"), *IpAddress::parse("2001:db8::25")}};
    return identity;
}

void check(const Case& c) {
    const HeloProblem p = check_helo(c.helo, c.client, own());
    const auto at = std::find(kProblems.begin(), kProblems.end(), p);
    require(at != kProblems.end(), "not a known problem", c);
    require(helo_problem_name(p) == kNames[static_cast<std::size_t>(at - kProblems.begin())],
            "the problem's name changed", c, name_of(p));
    require(check_helo(c.helo, c.client, own()) == p, "not deterministic", c);

    // Size first, whatever the bytes.
    require((p == HeloProblem::empty) == c.helo.empty(), "empty", c, name_of(p));
    require((p == HeloProblem::too_long) == (c.helo.size() > 255), "too-long", c, name_of(p));
    if (c.helo.empty() || c.helo.size() > 255) return;

    // Letters in any case are the same name or literal.
    for (const bool upper : {false, true})
        require(check_helo(with_case(c.helo, upper), c.client, own()) == p, "case matters", c,
                name_of(p));

    if (c.helo.front() == '[') {
        require(p == HeloProblem::invalid_syntax || p == HeloProblem::own_address ||
                    p == HeloProblem::literal_not_client || p == HeloProblem::none,
                "a literal judged as a name", c, name_of(p));
        const auto addr = literal(c.helo);
        require(addr.has_value() == (p != HeloProblem::invalid_syntax),
                "a literal's syntax misjudged", c, name_of(p));
        if (!addr) return;
        if (p == HeloProblem::literal_not_client)
            require(c.client && c.client->unmapped() != addr->unmapped(),
                    "literal-not-client for the client itself or an unknown client", c);
        if (p != HeloProblem::own_address) {
            require(check_helo(c.helo, addr, own()) == HeloProblem::none,
                    "the client's own literal is not fine", c);
            OwnIdentity ours = own();
            ours.addresses.push_back(*addr);
            require(check_helo(c.helo, c.client, ours) == HeloProblem::own_address,
                    "our own address is not own-address", c);
        }
        return;
    }

    require((p == HeloProblem::bare_ip) == IpAddress::parse(c.helo).has_value(), "bare-ip", c,
            name_of(p));
    if (p == HeloProblem::bare_ip) return;
    require(p != HeloProblem::own_address && p != HeloProblem::literal_not_client,
            "a name judged as a literal", c, name_of(p));

    std::string_view name = c.helo;
    if (name.size() > 1 && name.back() == '.') name.remove_suffix(1);
    const std::string lower = with_case(name, false);
    if (p == HeloProblem::none || p == HeloProblem::own_name)
        require(fqdn(name), "accepted a name that is not a host name", c, name_of(p));
    if (p == HeloProblem::not_fqdn)
        require(name.find('.') == std::string_view::npos && fqdn(std::string(name) + ".x"),
                "not-fqdn for something that is not one label", c);
    if (p == HeloProblem::localhost)
        require(lower == "localhost" || lower.starts_with("localhost."),
                "localhost for another name", c);
    const bool ours =
        std::find(own().hostnames.begin(), own().hostnames.end(), lower) != own().hostnames.end();
    require((p == HeloProblem::own_name) == (ours && fqdn(name)), "own-name", c, name_of(p));
    if (p == HeloProblem::none) {
        OwnIdentity mine = own();
        mine.hostnames.push_back(lower);
        require(check_helo(c.helo, c.client, mine) == HeloProblem::own_name,
                "our own name is not own-name", c);
    }
    // The absolute form of a name ("example.org.") is the same name.
    if (c.helo.back() != '.' && c.helo.size() < 255)
        require(check_helo(std::string(c.helo) + ".", c.client, own()) == p,
                "a trailing dot changes the verdict", c, name_of(p));
}

}  // namespace

void check_helo_check(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return;
    Case c;
    std::size_t used = 1;
    const int kind = data[0] % 4;
    if (kind != 0) {
        const std::size_t width = kind == 2 ? 16 : 4;
        if (size < 1 + width) return;
        IpAddress addr;
        if (kind == 2) {
            addr.family = Family::v6;
            std::memcpy(addr.bytes.data(), data + 1, 16);
        } else if (kind == 3) {
            addr.family = Family::v6;
            addr.bytes[10] = addr.bytes[11] = 0xff;
            std::memcpy(addr.bytes.data() + 12, data + 1, 4);
        } else {
            std::memcpy(addr.bytes.data(), data + 1, 4);
        }
        c.client = addr;
        used += width;
    }
    c.helo = std::string_view(reinterpret_cast<const char*>(data + used), size - used);
    check(c);
}

}  // namespace smtpwall::fuzz
