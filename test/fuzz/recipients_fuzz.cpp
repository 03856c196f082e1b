// libFuzzer target for recipient handling (core/recipients.cpp): every input is a recipient and the
// MTA's {rcpt_host} and {rcpt_addr} (see recipients_check.hpp). Built with clang when SMTPWALL_FUZZ
// is on (test/fuzz/run_fuzz.sh recipients); the corpus is replayed by the fuzz_corpus_recipients
// test in every normal build.
#include <cstddef>
#include <cstdint>

#include "test/fuzz/recipients_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    smtpwall::fuzz::check_recipients(data, size);
    return 0;
}
