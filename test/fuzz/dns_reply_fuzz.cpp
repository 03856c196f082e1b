// libFuzzer target: arbitrary bytes as a reply to a fixed query. matches_query and
// decode_reply must never crash, hang or leak, whatever the server (or a spoofer)
// sends. The first byte picks the query type.
#include <cstddef>
#include <cstdint>
#include <span>

#include "dnsbl/codec.hpp"

using namespace smtpwall::dns;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    static constexpr RType types[] = {RType::A,  RType::AAAA, RType::PTR,
                                      RType::MX, RType::TXT,  RType::CNAME};
    const RType type = types[data[0] % std::size(types)];
    const std::span<const std::uint8_t> reply(data + 1, size - 1);
    const auto query = encode_query("5.2.0.192.in-addr.arpa", type, packet_id(reply));
    (void)matches_query(reply, query);
    const Reply r = decode_reply(reply, "5.2.0.192.in-addr.arpa", type);
    (void)r;
    return 0;
}
