// libFuzzer target for the dialup PTR heuristics (dnsbl/dialup.cpp): every input is a
// client address and a PTR name (see dialup_check.hpp). Built with clang when
// SMTPWALL_FUZZ is on (test/fuzz/run_fuzz.sh dialup); the corpus is replayed by the
// fuzz_corpus_dialup test in every normal build.
#include <cstddef>
#include <cstdint>

#include "test/fuzz/dialup_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    smtpwall::fuzz::check_dialup(data, size);
    return 0;
}
