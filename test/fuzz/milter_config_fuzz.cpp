// libFuzzer target for the milter's config reader (conf/milter_config.cpp over toml++) and the
// escalation rule parser (conf/escalation_rule.cpp): every input is the text of smtpwall.conf, or a
// NUL and one rule line (see milter_config_check.hpp). Built with clang when SMTPWALL_FUZZ is on
// (test/fuzz/run_fuzz.sh milter_config); the corpus is replayed by the fuzz_corpus_milter_config
// test in every normal build.
#include <cstddef>
#include <cstdint>

#include "test/fuzz/milter_config_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    smtpwall::fuzz::check_milter_config(data, size);
    return 0;
}
