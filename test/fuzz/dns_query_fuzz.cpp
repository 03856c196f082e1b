// libFuzzer target for the DNS query encoder (dnsbl/codec.cpp) against ldns: see
// dns_query_check.hpp. Built with clang when SMTPWALL_FUZZ is on (test/fuzz/run_fuzz.sh
// dns_query); the corpus is replayed by the fuzz_corpus_dns_query test in every normal
// build.
#include <cstddef>
#include <cstdint>

#include "test/fuzz/dns_query_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    smtpwall::fuzz::check_dns_query(data, size);
    return 0;
}
