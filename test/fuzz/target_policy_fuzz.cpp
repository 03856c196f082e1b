// libFuzzer target for what the helper may drop (firewall/target_policy.cpp): every input
// decodes to limits and a candidate network (see target_policy_check.hpp). Built with
// clang when SMTPWALL_FUZZ is on (test/fuzz/run_fuzz.sh target_policy); the corpus is
// replayed by the fuzz_corpus_target_policy test in every normal build.
#include <cstddef>
#include <cstdint>

#include "test/fuzz/target_policy_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    smtpwall::fuzz::check_target_policy(data, size);
    return 0;
}
