// libFuzzer target for the SPF result mapping (dnsbl/spf_eval.cpp, core/classify.cpp): every input
// is one case of one part of it (see spf_result_check.hpp). Built with clang when SMTPWALL_FUZZ is
// on (test/fuzz/run_fuzz.sh spf_result); the corpus is replayed by the fuzz_corpus_spf_result test
// in every normal build.
#include <cstddef>
#include <cstdint>

#include "test/fuzz/spf_result_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    smtpwall::fuzz::check_spf_result(data, size);
    return 0;
}
