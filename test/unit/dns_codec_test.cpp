// The DNS packet codec: queries as built, replies checked against their query, data
// extracted (CNAME chains, RFC 2308 negative TTLs), and hostile packets that must
// be rejected or ignored without a crash.
#include <fmt/format.h>
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "dnsbl/ldns.hpp"

#include "dnsbl/codec.hpp"

using namespace smtpwall;
using namespace smtpwall::dns;
using Bytes = std::vector<std::uint8_t>;

namespace {

struct PktFree {
    void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;

PktPtr parse(const Bytes& wire) {
    ldns_pkt* p = nullptr;
    BOOST_TEST_REQUIRE(ldns_wire2pkt(&p, wire.data(), wire.size()) == LDNS_STATUS_OK);
    return PktPtr(p);
}

Bytes to_wire(const ldns_pkt* p) {
    std::uint8_t* wire = nullptr;
    std::size_t size = 0;
    BOOST_TEST_REQUIRE(ldns_pkt2wire(&wire, p, &size) == LDNS_STATUS_OK);
    Bytes out(wire, wire + size);
    std::free(wire);
    return out;
}

void push(ldns_pkt* p, ldns_pkt_section section, const std::string& text) {
    ldns_rr* rr = nullptr;
    BOOST_TEST_REQUIRE(
        ldns_rr_new_frm_str(&rr, text.c_str(), 3600, nullptr, nullptr) == LDNS_STATUS_OK, text);
    ldns_pkt_push_rr(p, section, rr);
}

// A server's reply to encode_query(qname, qtype, id): the question is echoed.
Bytes reply(std::string_view qname, RType qtype, std::vector<std::string> answer,
            std::vector<std::string> authority = {}, ldns_pkt_rcode rcode = LDNS_RCODE_NOERROR,
            std::uint16_t id = 0x1234) {
    const PktPtr p = parse(encode_query(qname, qtype, id, 0));
    ldns_pkt_set_qr(p.get(), true);
    ldns_pkt_set_ra(p.get(), true);
    ldns_pkt_set_rcode(p.get(), static_cast<std::uint8_t>(rcode));
    for (const auto& rr : answer) push(p.get(), LDNS_SECTION_ANSWER, rr);
    for (const auto& rr : authority) push(p.get(), LDNS_SECTION_AUTHORITY, rr);
    return to_wire(p.get());
}

const char* const soa = "example. 300 IN SOA ns.example. host.example. 1 3600 600 86400 120";

Reply decode(const Bytes& wire, std::string_view qname, RType qtype) {
    return decode_reply(wire, qname, qtype);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dns_codec)

BOOST_AUTO_TEST_CASE(encodes_queries_with_edns) {
    const Bytes q = encode_query("mail.example", RType::MX, 0xbeef);
    const PktPtr p = parse(q);
    BOOST_TEST(ldns_pkt_id(p.get()) == 0xbeef);
    BOOST_TEST(ldns_pkt_rd(p.get()));
    BOOST_TEST(!ldns_pkt_qr(p.get()));
    BOOST_TEST(ldns_pkt_edns(p.get()));
    BOOST_TEST(ldns_pkt_edns_udp_size(p.get()) == edns_buffer_size);
    const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(p.get()), 0);
    BOOST_TEST(ldns_rr_get_type(question) == LDNS_RR_TYPE_MX);
    BOOST_TEST(ldns_rr_get_class(question) == LDNS_RR_CLASS_IN);
    BOOST_TEST(packet_id(q) == 0xbeef);

    Bytes plain = encode_query("mail.example", RType::A, 1, 0);
    BOOST_TEST(!ldns_pkt_edns(parse(plain).get()));
    set_packet_id(plain, 0x4242);
    BOOST_TEST(packet_id(plain) == 0x4242);
    BOOST_TEST(packet_id(Bytes{1}) == 0);
}

// The hand-built query is exactly what ldns builds, for every name a session asks
// about (the longest: a nibble-reversed IPv6 address under a DNSBL zone).
BOOST_AUTO_TEST_CASE(encodes_queries_as_ldns_does) {
    const std::string label63(63, 'x');
    const std::vector<std::string> names = {
        "mail.example",
        "Host.Example",
        "example.",
        "localhost",
        "_spf.example.net",
        "0/25.2.0.192.in-addr.arpa",
        "7.2.0.192.zen.spamhaus.example",
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.c.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.c.0.0.0.8.b.d.0.1.0.0.2.dnsbl.example.net",
        label63 + ".example",
        std::string(120, 'a').replace(1, 1, ".").replace(60, 1, "."),
        "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p"};
    const RType types[] = {RType::A, RType::AAAA, RType::MX, RType::TXT, RType::PTR};
    std::uint16_t id = 1;
    for (const auto& name : names)
        for (const RType type : types)
            for (const std::uint16_t edns :
                 {std::uint16_t{0}, edns_buffer_size, std::uint16_t{512}}) {
                ++id;
                ldns_rdf* dname = ldns_dname_new_frm_str(name.c_str());
                BOOST_TEST_REQUIRE(dname != nullptr, name);
                const PktPtr pkt(ldns_pkt_query_new(dname, static_cast<ldns_rr_type>(type),
                                                    LDNS_RR_CLASS_IN, LDNS_RD));
                ldns_pkt_set_id(pkt.get(), id);
                if (edns > 0) ldns_pkt_set_edns_udp_size(pkt.get(), edns);
                const Bytes mine = encode_query(name, type, id, edns);
                const Bytes theirs = to_wire(pkt.get());
                BOOST_TEST(mine == theirs,
                           name << " type " << static_cast<int>(type) << " edns " << edns);
            }
    for (const std::string& bad :
         std::vector<std::string>{"", ".", "a..b", ".a", "a.b..", label63 + "y.example",
                                  std::string("a\\.b"), std::string(254, 'a')})
        BOOST_TEST(encode_query(bad, RType::A, 1).empty(), bad);
    std::string longest;  // 253 characters: the longest name
    for (int i = 0; i < 4; ++i) longest += label63.substr(0, 61) + ".";
    longest += "abcde";
    BOOST_TEST_REQUIRE(longest.size() == 253u);
    BOOST_TEST(encode_query(longest, RType::A, 1).size() == 12u + 255u + 4u + 11u);
}

BOOST_AUTO_TEST_CASE(matches_only_the_own_question) {
    const Bytes query = encode_query("Host.Example", RType::A, 0x1234);
    BOOST_TEST(matches_query(reply("host.example", RType::A, {}), query));
    BOOST_TEST(matches_query(reply("HOST.EXAMPLE", RType::A, {}), query));  // 0x20 and friends
    BOOST_TEST(
        !matches_query(reply("host.example", RType::A, {}, {}, LDNS_RCODE_NOERROR, 0x1235), query));
    BOOST_TEST(!matches_query(reply("host.example", RType::AAAA, {}), query));
    BOOST_TEST(!matches_query(reply("other.example", RType::A, {}), query));
    BOOST_TEST(!matches_query(reply("host.example.net", RType::A, {}), query));
    BOOST_TEST(!matches_query(query, query));  // QR not set: our own packet reflected
    Bytes no_question = reply("host.example", RType::A, {});
    no_question[5] = 0;  // QDCOUNT 0, as some servers send with FORMERR
    BOOST_TEST(!matches_query(no_question, query));
    BOOST_TEST(!matches_query(Bytes(12, 0), query));
    BOOST_TEST(!matches_query(Bytes{}, query));
}

BOOST_AUTO_TEST_CASE(decodes_addresses) {
    auto r = decode(reply("host.example", RType::A,
                          {"host.example. 300 IN A 192.0.2.1", "Host.Example. 200 IN A 192.0.2.2",
                           "other.example. 5 IN A 203.0.113.66"}),
                    "host.example", RType::A);
    BOOST_TEST((r.result.status == Status::ok));
    BOOST_TEST_REQUIRE(r.result.addresses.size() == 2u);  // never the unrelated owner
    BOOST_TEST(r.result.addresses[0].to_string() == "192.0.2.1");
    BOOST_TEST(r.result.addresses[1].to_string() == "192.0.2.2");
    BOOST_TEST(r.result.ttl == 200u);

    r = decode(reply("host.example", RType::AAAA, {"host.example. 300 IN AAAA 2001:db8::25"}),
               "host.example", RType::AAAA);
    BOOST_TEST_REQUIRE(r.result.addresses.size() == 1u);
    BOOST_TEST(r.result.addresses[0].to_string() == "2001:db8::25");
}

BOOST_AUTO_TEST_CASE(decodes_ptr_mx_txt) {
    auto r = decode(reply("7.2.0.192.in-addr.arpa", RType::PTR,
                          {"7.2.0.192.in-addr.arpa. 300 IN PTR Mail.Example.ORG."}),
                    "7.2.0.192.in-addr.arpa", RType::PTR);
    BOOST_TEST(r.result.names == std::vector<std::string>{"mail.example.org"});

    r = decode(reply("example", RType::MX,
                     {"example. 300 IN MX 20 mx2.example.", "example. 300 IN MX 10 mx1.example."}),
               "example", RType::MX);
    BOOST_TEST((r.result.names == std::vector<std::string>{"mx1.example", "mx2.example"}));

    r = decode(reply("7.2.0.192.bl.example", RType::TXT,
                     {"7.2.0.192.bl.example. 300 IN TXT \"listed, see \" \"https://bl.example/\""}),
               "7.2.0.192.bl.example", RType::TXT);
    BOOST_TEST(r.result.texts == std::vector<std::string>{"listed, see https://bl.example/"});
}

// A hostile zone's huge answer is cut to what a Result may hold, before it reaches the cache.
BOOST_AUTO_TEST_CASE(caps_records_and_text_per_reply) {
    std::vector<std::string> many;
    for (int i = 0; i < 200; ++i)
        many.push_back(fmt::format("big.example. 300 IN A 192.0.{}.{}", i / 250, i % 250 + 1));
    auto r = decode(reply("big.example", RType::A, many), "big.example", RType::A);
    BOOST_TEST((r.result.status == Status::ok));
    BOOST_TEST(r.result.addresses.size() == max_answer_records);
    BOOST_TEST(r.result.addresses[0].to_string() == "192.0.0.1");

    const std::string chunk = "\"" + std::string(250, 'x') + "\"";
    std::vector<std::string> texts;
    for (int i = 0; i < 40; ++i)
        texts.push_back("big.example. 300 IN TXT " + chunk + " " + chunk + " " + chunk + " " +
                        chunk);
    r = decode(reply("big.example", RType::TXT, texts), "big.example", RType::TXT);
    std::size_t bytes = 0;
    for (const auto& t : r.result.texts) bytes += t.size();
    BOOST_TEST(bytes <= max_answer_text);
    BOOST_TEST(r.result.texts.size() == max_answer_text / 1000);

    // The SPF record last among them all is kept all the same.
    texts.push_back("big.example. 300 IN TXT \"V=SPF1 -all\"");
    r = decode(reply("big.example", RType::TXT, texts), "big.example", RType::TXT);
    BOOST_TEST(r.result.texts.back() == "V=SPF1 -all");
    BOOST_TEST(r.result.texts.size() == max_answer_text / 1000 + 1);
}

BOOST_AUTO_TEST_CASE(follows_cname_chains_inside_the_answer) {
    // RFC 2317: the PTR lives under the delegated classless zone.
    auto r = decode(reply("5.2.0.192.in-addr.arpa", RType::PTR,
                          {"5.2.0.192.in-addr.arpa. 600 IN CNAME 5.0-25.2.0.192.in-addr.arpa.",
                           "5.0-25.2.0.192.in-addr.arpa. 300 IN PTR host5.example."}),
                    "5.2.0.192.in-addr.arpa", RType::PTR);
    BOOST_TEST((r.result.status == Status::ok));
    BOOST_TEST(r.result.names == std::vector<std::string>{"host5.example"});
    BOOST_TEST(r.result.ttl == 300u);
    BOOST_TEST(r.cname_target.empty());

    // Two hops, the chain's lowest TTL counts.
    r = decode(
        reply("www.example", RType::A,
              {"www.example. 30 IN CNAME web.example.", "web.example. 600 IN CNAME cdn.example.",
               "cdn.example. 600 IN A 192.0.2.80"}),
        "www.example", RType::A);
    BOOST_TEST_REQUIRE(r.result.addresses.size() == 1u);
    BOOST_TEST(r.result.ttl == 30u);

    // Target outside the server's zones: the resolver must ask for it.
    r = decode(reply("www.example", RType::A, {"www.example. 30 IN CNAME www.example.net."}),
               "www.example", RType::A);
    BOOST_TEST((r.result.status == Status::ok));
    BOOST_TEST(r.cname_target == "www.example.net");
    BOOST_TEST(r.result.addresses.empty());

    // Target in the zone without the type: NODATA for the target (SOA present).
    r = decode(reply("www.example", RType::AAAA, {"www.example. 30 IN CNAME web.example."}, {soa}),
               "www.example", RType::AAAA);
    BOOST_TEST((r.result.status == Status::nodata));
    BOOST_TEST(r.cname_target.empty());

    // Asking for the CNAME itself returns it instead of following it.
    r = decode(reply("www.example", RType::CNAME, {"www.example. 30 IN CNAME Web.Example."}),
               "www.example", RType::CNAME);
    BOOST_TEST(r.result.names == std::vector<std::string>{"web.example"});
}

BOOST_AUTO_TEST_CASE(cname_loops_are_errors) {
    auto r =
        decode(reply("a.example", RType::A,
                     {"a.example. 30 IN CNAME b.example.", "b.example. 30 IN CNAME a.example."}),
               "a.example", RType::A);
    BOOST_TEST((r.result.status == Status::error));
    r = decode(reply("a.example", RType::A, {"a.example. 30 IN CNAME a.example."}), "a.example",
               RType::A);
    BOOST_TEST((r.result.status == Status::error));
}

BOOST_AUTO_TEST_CASE(negative_answers_follow_rfc2308) {
    // min(SOA TTL 300, MINIMUM 120)
    auto r = decode(reply("nope.example", RType::A, {}, {soa}, LDNS_RCODE_NXDOMAIN), "nope.example",
                    RType::A);
    BOOST_TEST((r.result.status == Status::nxdomain));
    BOOST_TEST(r.result.ttl == 120u);
    BOOST_TEST(r.cacheable);
    BOOST_TEST(r.result.negative());

    r = decode(reply("host.example", RType::AAAA, {},
                     {"example. 60 IN SOA ns.example. host.example. 1 3600 600 86400 900"}),
               "host.example", RType::AAAA);
    BOOST_TEST((r.result.status == Status::nodata));
    BOOST_TEST(r.result.ttl == 60u);

    // Without SOA a negative answer must not be cached.
    r = decode(reply("host.example", RType::AAAA, {}), "host.example", RType::AAAA);
    BOOST_TEST((r.result.status == Status::nodata));
    BOOST_TEST(!r.cacheable);
}

BOOST_AUTO_TEST_CASE(maps_rcodes) {
    const auto status = [](ldns_pkt_rcode rcode) {
        return decode(reply("x.example", RType::A, {}, {}, rcode), "x.example", RType::A)
            .result.status;
    };
    BOOST_TEST((status(LDNS_RCODE_SERVFAIL) == Status::servfail));
    BOOST_TEST((status(LDNS_RCODE_REFUSED) == Status::refused));
    BOOST_TEST((status(LDNS_RCODE_FORMERR) == Status::error));
    BOOST_TEST((status(LDNS_RCODE_NOTIMPL) == Status::error));
    Result r;
    r.status = Status::servfail;
    BOOST_TEST(r.temporary());
}

BOOST_AUTO_TEST_CASE(truncation_flag) {
    Bytes wire = reply("big.example", RType::TXT, {"big.example. 300 IN TXT \"partial\""});
    wire[2] |= 0x02;  // TC
    const auto r = decode(wire, "big.example", RType::TXT);
    BOOST_TEST(r.truncated);
    BOOST_TEST(r.result.texts.empty());
}

BOOST_AUTO_TEST_CASE(truncated_packets_are_errors) {
    const Bytes full = reply("host.example", RType::A, {"host.example. 300 IN A 192.0.2.1"});
    const Bytes query = encode_query("host.example", RType::A, 0x1234);
    for (std::size_t n = 0; n < full.size(); ++n) {
        const Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        const auto r = decode(cut, "host.example", RType::A);
        BOOST_TEST((r.result.status == Status::error), "prefix of " << n << " bytes");
        BOOST_TEST(r.result.addresses.empty());
        if (n < 12 + 18) BOOST_TEST(!matches_query(cut, query));  // header + question
    }
}

BOOST_AUTO_TEST_CASE(compression_loops_are_errors) {
    Bytes wire = reply("a.example", RType::A, {});
    wire[7] = 1;  // ANCOUNT 1
    const auto self = static_cast<std::uint8_t>(wire.size());
    // Owner name: a pointer to itself, then type A, class IN, TTL, RDLENGTH 4, address.
    const Bytes rr{0xc0, self, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
    wire.insert(wire.end(), rr.begin(), rr.end());
    BOOST_TEST(matches_query(wire, encode_query("a.example", RType::A, 0x1234)));
    BOOST_TEST((decode(wire, "a.example", RType::A).result.status == Status::error));

    // Two pointers pointing at each other.
    Bytes pair = reply("a.example", RType::A, {});
    pair[7] = 1;
    const auto at = static_cast<std::uint8_t>(pair.size());
    const Bytes rr2{
        0xc0, static_cast<std::uint8_t>(at + 2), 0xc0, at, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2,
        1};
    pair.insert(pair.end(), rr2.begin(), rr2.end());
    BOOST_TEST((decode(pair, "a.example", RType::A).result.status == Status::error));
}

BOOST_AUTO_TEST_CASE(random_corruption_never_crashes) {
    const std::vector<Bytes> seeds{
        reply("5.2.0.192.in-addr.arpa", RType::PTR,
              {"5.2.0.192.in-addr.arpa. 600 IN CNAME 5.0-25.2.0.192.in-addr.arpa.",
               "5.0-25.2.0.192.in-addr.arpa. 300 IN PTR host5.example."}),
        reply("example", RType::MX, {"example. 300 IN MX 10 mx1.example."}, {soa}),
        reply("t.example", RType::TXT, {"t.example. 300 IN TXT \"a\" \"b\""}),
        reply("nope.example", RType::A, {}, {soa}, LDNS_RCODE_NXDOMAIN),
    };
    const std::vector<std::pair<std::string, RType>> questions{
        {"5.2.0.192.in-addr.arpa", RType::PTR},
        {"example", RType::MX},
        {"t.example", RType::TXT},
        {"nope.example", RType::A}};
    std::mt19937 rng(20240601);
    for (int round = 0; round < 20000; ++round) {
        const std::size_t which = static_cast<std::size_t>(round) % seeds.size();
        Bytes wire = seeds[which];
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int i = 0; i < flips; ++i)
            wire[rng() % wire.size()] = static_cast<std::uint8_t>(rng());
        if (rng() % 4 == 0) wire.resize(rng() % wire.size());
        const auto& [name, type] = questions[which];
        (void)matches_query(wire, encode_query(name, type, 0x1234, 0));
        const auto r = decode(wire, name, type);
        if (r.result.status == Status::ok) BOOST_TEST(r.result.ttl <= 0xffffffffu);
    }
}

BOOST_AUTO_TEST_CASE(replays_the_fuzz_corpus) {
    // Real nsd replies (and whatever the fuzzer added): first byte the query type, as
    // in test/fuzz/dns_reply_fuzz.cpp.
    static constexpr RType types[] = {RType::A,  RType::AAAA, RType::PTR,
                                      RType::MX, RType::TXT,  RType::CNAME};
    const std::filesystem::path dir =
        std::filesystem::path(SMTPWALL_SOURCE_DIR) / "test/fuzz/corpus/dns_reply";
    int files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        std::ifstream in(entry.path(), std::ios::binary);
        const Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (bytes.empty()) continue;
        ++files;
        const RType type = types[bytes[0] % std::size(types)];
        const Bytes wire(bytes.begin() + 1, bytes.end());
        (void)matches_query(wire, encode_query("5.2.0.192.in-addr.arpa", type, packet_id(wire)));
        (void)decode(wire, "5.2.0.192.in-addr.arpa", type);
    }
    BOOST_TEST(files >= 10);
    // The one seed whose question is the fuzzer's fixed name decodes completely.
    std::ifstream in(dir / "ptr-rfc2317-same-zone", std::ios::binary);
    const Bytes seed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    BOOST_TEST_REQUIRE(seed.size() > 1u);
    const Bytes wire(seed.begin() + 1, seed.end());
    BOOST_TEST(decode(wire, "5.2.0.192.in-addr.arpa", RType::PTR).result.names ==
               std::vector<std::string>{"host5.test.smtpwall"});
}

BOOST_AUTO_TEST_SUITE_END()
