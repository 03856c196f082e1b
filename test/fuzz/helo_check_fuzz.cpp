// libFuzzer target for the HELO/EHLO checks (core/helo_check.cpp): every input is a client address
// and a HELO argument (see helo_check_check.hpp). Built with clang when SMTPWALL_FUZZ is on
// (test/fuzz/run_fuzz.sh helo_check); the corpus is replayed by the fuzz_corpus_helo_check test in
// every normal build.
#include <cstddef>
#include <cstdint>

#include "test/fuzz/helo_check_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    smtpwall::fuzz::check_helo_check(data, size);
    return 0;
}
