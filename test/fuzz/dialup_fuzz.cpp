// libFuzzer target for the dialup PTR heuristics: any client address and any name
// bytes must classify without crashing, and the verdict must agree with its score.
//
// Input layout: byte 0 picks the family (even: IPv4, odd: IPv6) and whether the
// detector with operator patterns is used (bit 1); then 4 or 16 address bytes; the
// rest is the PTR name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "dnsbl/dialup.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const smtpwall::dns::DialupDetector plain;
    static const smtpwall::dns::DialupDetector with_patterns([] {
        std::vector<smtpwall::Pattern> out;
        for (const char* p : {R"(^(?:[a-z]+-)?\d+(?:-\d+){3}$)", "(a|aa)+$", R"(\bcust\d+)"})
            out.push_back(std::get<smtpwall::Pattern>(smtpwall::Pattern::compile(p)));
        return out;
    }());
    if (size < 1) return 0;
    const bool v6 = (data[0] & 1) != 0;
    const bool patterns = (data[0] & 2) != 0;
    const std::size_t width = v6 ? 16 : 4;
    if (size < 1 + width) return 0;

    smtpwall::IpAddress client;
    client.family = v6 ? smtpwall::Family::v6 : smtpwall::Family::v4;
    std::memcpy(client.bytes.data(), data + 1, width);
    const std::string_view name(reinterpret_cast<const char*>(data + 1 + width), size - 1 - width);

    const auto verdict = (patterns ? with_patterns : plain).classify(client, name);
    if (verdict.dynamic != (verdict.score >= smtpwall::dns::DialupDetector::kThreshold))
        std::abort();
    if (verdict.dynamic && verdict.generic) std::abort();  // generic names are never dynamic
    if (verdict.signals.size() > 300) std::abort();        // bounded by the 253-byte name
    int sum = 0;
    for (const auto& s : verdict.signals) sum += s.weight;
    if (sum != verdict.score) std::abort();  // the signals explain the score
    return 0;
}
