// libFuzzer target for the helper's config reader (conf/helper_config.cpp over toml++):
// every input is the text of helper.conf (see helper_config_check.hpp). Built with clang
// when SMTPWALL_FUZZ is on (test/fuzz/run_fuzz.sh helper_config); the corpus is replayed
// by the fuzz_corpus_helper_config test in every normal build.
#include <cstddef>
#include <cstdint>

#include "test/fuzz/helper_config_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    smtpwall::fuzz::check_helper_config(data, size);
    return 0;
}
