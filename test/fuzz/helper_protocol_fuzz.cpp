// libFuzzer target for the helper protocol codec (firewall/protocol.cpp): every input
// is one line for parse_request, parse_reply_line and parse_rule_comment, and whatever
// parses must survive format -> parse unchanged. Built with clang when SMTPWALL_FUZZ is
// on (test/fuzz/run_fuzz.sh); the corpus is replayed by the fuzz_corpus_helper_protocol
// test in every normal build.
#include <cstddef>
#include <cstdint>

#include "test/fuzz/helper_protocol_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    smtpwall::fuzz::check_helper_protocol(data, size);
    return 0;
}
