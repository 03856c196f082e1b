// The property both the helper protocol fuzzer and its corpus replay check: any bytes,
// taken as one line, parse or are refused without crashing, and whatever parses comes
// back unchanged through its formatter. Aborts (with a message on stderr) otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace smtpwall::fuzz {

void check_helper_protocol(const std::uint8_t* data, std::size_t size);

}  // namespace smtpwall::fuzz
