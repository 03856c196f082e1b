// libFuzzer target for the control protocol codec (core/control_protocol.cpp): every
// input is a request line and a reply (see control_protocol_check.hpp). Built with clang
// when SMTPWALL_FUZZ is on (test/fuzz/run_fuzz.sh control_protocol); the corpus is
// replayed by the fuzz_corpus_control_protocol test in every normal build.
#include <cstddef>
#include <cstdint>

#include "test/fuzz/control_protocol_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    smtpwall::fuzz::check_control_protocol(data, size);
    return 0;
}
