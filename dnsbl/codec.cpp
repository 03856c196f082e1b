// DNS queries built here, replies parsed through ldns, with the checks a stub resolver owes.
#include "dnsbl/codec.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <limits>
#include <memory>

#include "dnsbl/ldns.hpp"

namespace smtpwall::dns {

namespace {

struct PktFree {
    void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
struct RdfFree {
    void operator()(ldns_rdf* r) const { ldns_rdf_deep_free(r); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;
using RdfPtr = std::unique_ptr<ldns_rdf, RdfFree>;

constexpr std::size_t header_size = 12;

char fold(std::uint8_t c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
}

// "Mail.Example.", as ldns prints it (non-printables escaped as \DDD), to "mail.example".
std::string dname_text(const ldns_rdf* rdf) {
    char* raw = ldns_rdf2str(rdf);
    if (raw == nullptr) return {};
    std::string out(raw);
    std::free(raw);
    if (!out.empty() && out.back() == '.') out.pop_back();
    for (char& c : out) c = fold(static_cast<std::uint8_t>(c));
    return out;
}

// Length of the question section at `offset` (name + type + class), 0 if malformed.
// Only used on our own queries, which never contain compression pointers.
std::size_t question_size(std::span<const std::uint8_t> packet) {
    std::size_t i = header_size;
    while (i < packet.size() && packet[i] != 0) {
        if (packet[i] > 63) return 0;
        i += 1 + packet[i];
    }
    i += 1 + 4;
    return i <= packet.size() ? i - header_size : 0;
}

std::uint16_t get16(std::span<const std::uint8_t> p, std::size_t at) {
    return static_cast<std::uint16_t>(p[at] << 8 | p[at + 1]);
}

// "v=spf1" alone or followed by a space, in any case (RFC 7208 4.5).
bool is_spf_record(std::string_view text) {
    if (text.size() < 6 || (text.size() > 6 && text[6] != ' ')) return false;
    for (std::size_t i = 0; i < 6; ++i)
        if (std::tolower(static_cast<unsigned char>(text[i])) != "v=spf1"[i]) return false;
    return true;
}

void collect(const ldns_rr* rr, RType type, Result& out,
             std::vector<std::pair<std::uint16_t, std::string>>& mx) {
    const std::size_t n = ldns_rr_rd_count(rr);
    if (n == 0) return;
    const bool full = out.addresses.size() + out.names.size() + out.texts.size() + mx.size() >=
                      max_answer_records;
    if (full && type != RType::TXT) return;
    const ldns_rdf* first = ldns_rr_rdf(rr, 0);
    switch (type) {
        case RType::A:
        case RType::AAAA: {
            const std::size_t want = type == RType::A ? 4 : 16;
            if (ldns_rdf_size(first) != want) return;
            IpAddress addr;
            addr.family = type == RType::A ? Family::v4 : Family::v6;
            std::copy_n(ldns_rdf_data(first), want, addr.bytes.begin());
            out.addresses.push_back(addr);
            break;
        }
        case RType::PTR:
        case RType::CNAME:
            if (ldns_rdf_get_type(first) == LDNS_RDF_TYPE_DNAME)
                out.names.push_back(dname_text(first));
            break;
        case RType::MX:
            if (n == 2 && ldns_rdf_get_type(ldns_rr_rdf(rr, 1)) == LDNS_RDF_TYPE_DNAME) {
                mx.emplace_back(ldns_rdf2native_int16(first), dname_text(ldns_rr_rdf(rr, 1)));
            }
            break;
        case RType::TXT: {
            std::string text;
            for (std::size_t i = 0; i < n; ++i) {
                const ldns_rdf* s = ldns_rr_rdf(rr, i);
                const std::size_t size = ldns_rdf_size(s);
                const std::uint8_t* data = ldns_rdf_data(s);
                // Character strings are length-prefixed; trust the prefix only as far as
                // the rdata goes.
                if (size == 0) continue;
                const std::size_t len = std::min<std::size_t>(data[0], size - 1);
                text.append(reinterpret_cast<const char*>(data + 1), len);
            }
            // A domain's SPF record must not be the one cut from among its many TXT
            // records: up to two are kept whatever the caps (two already make a
            // permerror, RFC 7208 4.5).
            std::size_t kept = 0, spf = 0;
            for (const auto& t : out.texts) {
                kept += t.size();
                spf += is_spf_record(t) ? 1 : 0;
            }
            if (is_spf_record(text) ? spf >= 2 : full || kept + text.size() > max_answer_text)
                return;
            out.texts.push_back(std::move(text));
            break;
        }
    }
}

}  // namespace

std::vector<std::uint8_t> encode_query(std::string_view name, RType type, std::uint16_t id,
                                       std::uint16_t edns_size) {
    // Built by hand: ldns compresses names with a tree of suffixes, quadratic in the
    // labels, and a 34-label ip6.arpa name cost more than all the rest of a session.
    // A query holds one name, so there is nothing to compress.
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty() || name.size() > 253) return {};
    std::vector<std::uint8_t> out;
    out.reserve(header_size + name.size() + 2 + 4 + (edns_size > 0 ? 11 : 0));
    const auto put16 = [&out](unsigned v) {
        out.push_back(static_cast<std::uint8_t>(v >> 8));
        out.push_back(static_cast<std::uint8_t>(v));
    };
    put16(id);
    put16(0x0100);  // RD
    put16(1);       // one question
    put16(0);
    put16(0);
    put16(edns_size > 0 ? 1 : 0);
    for (std::size_t start = 0;;) {
        const std::size_t end = std::min(name.find('.', start), name.size());
        const std::string_view label = name.substr(start, end - start);
        // Escapes (\. and \DDD) never reach here: normalize_name refuses backslashes.
        if (label.empty() || label.size() > 63 || label.find('\\') != label.npos) return {};
        out.push_back(static_cast<std::uint8_t>(label.size()));
        out.insert(out.end(), label.begin(), label.end());
        if (end == name.size()) break;
        start = end + 1;
    }
    out.push_back(0);
    put16(static_cast<unsigned>(type));
    put16(1);  // IN
    if (edns_size > 0) {
        out.push_back(0);  // the root
        put16(41);         // OPT
        put16(edns_size);  // its class: the buffer size we take
        put16(0);          // extended rcode, version 0, no DO
        put16(0);
        put16(0);  // no options
    }
    return out;
}

void set_packet_id(std::span<std::uint8_t> packet, std::uint16_t id) {
    if (packet.size() < 2) return;
    packet[0] = static_cast<std::uint8_t>(id >> 8);
    packet[1] = static_cast<std::uint8_t>(id);
}

std::uint16_t packet_id(std::span<const std::uint8_t> packet) {
    return packet.size() < 2 ? 0 : get16(packet, 0);
}

bool matches_query(std::span<const std::uint8_t> reply, std::span<const std::uint8_t> query) {
    const std::size_t qsize = question_size(query);
    if (qsize == 0 || reply.size() < header_size + qsize) return false;
    if (get16(reply, 0) != get16(query, 0)) return false;
    if ((reply[2] & 0x80) == 0 || (reply[2] & 0x78) != 0) return false;  // QR, opcode QUERY
    if (get16(reply, 4) != 1) return false;
    for (std::size_t i = header_size; i < header_size + qsize; ++i) {
        if (fold(reply[i]) != fold(query[i])) return false;
    }
    return true;
}

Reply decode_reply(std::span<const std::uint8_t> wire, std::string_view qname, RType qtype) {
    Reply out;
    out.result.status = Status::error;
    ldns_pkt* raw = nullptr;
    if (ldns_wire2pkt(&raw, wire.data(), wire.size()) != LDNS_STATUS_OK) return out;
    const PktPtr pkt(raw);
    if (ldns_pkt_tc(pkt.get())) {
        out.truncated = true;
        return out;
    }
    const std::string qtext(qname);
    const RdfPtr qrdf(ldns_dname_new_frm_str(qtext.c_str()));
    if (!qrdf) return out;

    // Walk the chain qname -> CNAME -> ... inside the answer section.
    const ldns_rr_list* answer = ldns_pkt_answer(pkt.get());
    const std::size_t count = ldns_rr_list_rr_count(answer);
    const auto want = static_cast<ldns_rr_type>(qtype);
    std::uint32_t ttl = std::numeric_limits<std::uint32_t>::max();
    std::vector<std::pair<std::uint16_t, std::string>> mx;
    const ldns_rdf* current = qrdf.get();
    bool found = false;
    for (int hop = 0;; ++hop) {
        const ldns_rr* cname = nullptr;
        for (std::size_t i = 0; i < count; ++i) {
            const ldns_rr* rr = ldns_rr_list_rr(answer, i);
            if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) continue;
            if (ldns_dname_compare(ldns_rr_owner(rr), current) != 0) continue;
            if (ldns_rr_get_type(rr) == want) {
                collect(rr, qtype, out.result, mx);
                ttl = std::min(ttl, ldns_rr_ttl(rr));
                found = true;
            } else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME && cname == nullptr &&
                       ldns_rr_rd_count(rr) == 1) {
                cname = rr;
            }
        }
        if (found || cname == nullptr) break;
        if (hop == max_cname_chain) return out;  // a loop or an absurd chain
        ttl = std::min(ttl, ldns_rr_ttl(cname));
        current = ldns_rr_rdf(cname, 0);
    }
    std::sort(mx.begin(), mx.end());
    for (auto& [pref, host] : mx) out.result.names.push_back(std::move(host));

    // RFC 2308: the negative TTL is min(SOA TTL, SOA MINIMUM) from the authority section.
    std::uint32_t negative_ttl = 0;
    bool have_soa = false;
    const ldns_rr_list* authority = ldns_pkt_authority(pkt.get());
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(authority); ++i) {
        const ldns_rr* rr = ldns_rr_list_rr(authority, i);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(rr) != 7) continue;
        negative_ttl = std::min(ldns_rr_ttl(rr), ldns_rdf2native_int32(ldns_rr_rdf(rr, 6)));
        have_soa = true;
        break;
    }

    const bool chained = current != qrdf.get();
    switch (ldns_pkt_get_rcode(pkt.get())) {
        case LDNS_RCODE_NOERROR:
            if (found) {
                out.result.status = Status::ok;
            } else if (chained && !have_soa) {
                // The server gave the alias but not the target's data (the target is
                // outside its zones): the resolver asks for the target itself.
                out.result.status = Status::ok;
                out.cname_target = dname_text(current);
            } else {
                out.result.status = Status::nodata;
            }
            break;
        case LDNS_RCODE_NXDOMAIN:
            out.result.status = Status::nxdomain;
            break;
        case LDNS_RCODE_SERVFAIL:
            out.result.status = Status::servfail;
            break;
        case LDNS_RCODE_REFUSED:
            out.result.status = Status::refused;
            break;
        default:
            out.result.status = Status::error;
            break;
    }
    if (out.result.negative()) {
        out.cacheable = have_soa;
        ttl = std::min(ttl, negative_ttl);
    }
    out.result.ttl = ttl == std::numeric_limits<std::uint32_t>::max() ? 0 : ttl;
    return out;
}

}  // namespace smtpwall::dns
