// The property both the control protocol fuzzer and its corpus replay check: any bytes,
// taken as one request line, parse or are refused with a one-line reason; whatever
// parses comes back unchanged through format_request -> parse_request (and the formatted
// line is canonical and sendable), keeps the bounds the codec promises, and parses the
// same with a trailing CR or other spacing. The same bytes, as a reply's message and body
// (split at the first NUL), come back unchanged through frame_reply -> ReplyReader.
// Aborts (with a message on stderr) otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace smtpwall::fuzz {

void check_control_protocol(const std::uint8_t* data, std::size_t size);

}  // namespace smtpwall::fuzz
