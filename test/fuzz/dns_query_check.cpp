// The DNS query property (dns_query_check.hpp).
#include "test/fuzz/dns_query_check.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/logfmt.hpp"
#include "dnsbl/codec.hpp"
#include "dnsbl/ldns.hpp"
#include "dnsbl/names.hpp"
#include "test/fuzz/check_failure.hpp"

namespace smtpwall::fuzz {

namespace {

using Bytes = std::vector<std::uint8_t>;

[[noreturn]] void fail(std::string_view what, std::string_view name, std::string_view detail = {}) {
    check_failed("dns_query", what, kv_value(name), detail);
}

// What ldns builds for the same query; empty if it refuses the name.
Bytes ldns_query(const std::string& name, dns::RType type, std::uint16_t id, std::uint16_t edns) {
    ldns_rdf* dname = ldns_dname_new_frm_str(name.c_str());
    if (dname == nullptr) return {};
    ldns_pkt* pkt =
        ldns_pkt_query_new(dname, static_cast<ldns_rr_type>(type), LDNS_RR_CLASS_IN, LDNS_RD);
    if (pkt == nullptr) return {};
    ldns_pkt_set_id(pkt, id);
    if (edns > 0) ldns_pkt_set_edns_udp_size(pkt, edns);
    std::uint8_t* wire = nullptr;
    std::size_t size = 0;
    Bytes out;
    if (ldns_pkt2wire(&wire, pkt, &size) == LDNS_STATUS_OK) out.assign(wire, wire + size);
    std::free(wire);
    ldns_pkt_free(pkt);
    return out;
}

}  // namespace

void check_dns_query(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return;
    static constexpr dns::RType types[] = {dns::RType::A,   dns::RType::AAAA, dns::RType::MX,
                                           dns::RType::TXT, dns::RType::PTR,  dns::RType::CNAME};
    const dns::RType type = types[data[0] % std::size(types)];
    static constexpr std::uint16_t sizes[] = {0, dns::edns_buffer_size, 512};
    const std::uint16_t edns = sizes[data[1] % 3];
    const std::string name(reinterpret_cast<const char*>(data + 2), size - 2);
    const std::uint16_t id = 0x2a17;

    // Every name the resolver may send: ldns's bytes exactly.
    if (const auto clean = dns::normalize_name(name)) {
        const Bytes mine = dns::encode_query(*clean, type, id, edns);
        if (mine.empty()) fail("a normalized name is refused", *clean);
        if (mine != ldns_query(*clean, type, id, edns)) fail("bytes differ from ldns's", *clean);
    }

    // Any name: a query built is well formed and spells the name; one refused has a
    // reason to be.
    std::string_view text = name;
    if (!text.empty() && text.back() == '.') text.remove_suffix(1);
    const Bytes q = dns::encode_query(name, type, id, edns);
    if (q.empty()) {
        bool bad_label = text.empty() || text.size() > 253 || text.find('\\') != text.npos;
        for (std::size_t start = 0; !bad_label;) {
            const std::size_t end = std::min(text.find('.', start), text.size());
            bad_label = end == start || end - start > 63;
            if (end == text.size()) break;
            start = end + 1;
        }
        if (!bad_label) fail("a name with nothing wrong is refused", name);
        return;
    }
    if (q.size() < 12 + 1 + 4) fail("query too short", name);
    const auto get16 = [&q](std::size_t at) { return q[at] << 8 | q[at + 1]; };
    if (get16(0) != id || get16(2) != 0x0100 || get16(4) != 1 || get16(6) != 0 || get16(8) != 0 ||
        get16(10) != (edns > 0 ? 1 : 0))
        fail("header", name);
    std::string spelled;
    std::size_t at = 12;
    while (at < q.size() && q[at] != 0) {
        if (q[at] > 63 || at + 1 + q[at] > q.size()) fail("label length", name);
        if (!spelled.empty()) spelled += '.';
        spelled.append(reinterpret_cast<const char*>(&q[at + 1]), q[at]);
        at += 1 + q[at];
    }
    if (at - 12 + 1 > 255) fail("name over 255 bytes on the wire", name);
    if (spelled != text) fail("the question does not spell the name", name, kv_value(spelled));
    at += 1;
    if (at + 4 > q.size() || get16(at) != static_cast<int>(type) || get16(at + 2) != 1)
        fail("question type or class", name);
    at += 4;
    const Bytes opt = {
        0, 0, 41, static_cast<std::uint8_t>(edns >> 8), static_cast<std::uint8_t>(edns), 0, 0, 0,
        0, 0, 0};
    if (edns > 0 ? Bytes(q.begin() + static_cast<std::ptrdiff_t>(at), q.end()) != opt
                 : at != q.size())
        fail("OPT record", name);
}

}  // namespace smtpwall::fuzz
