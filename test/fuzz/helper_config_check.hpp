// The property both the helper config fuzzer and its corpus replay check: any bytes,
// taken as helper.conf, either make a config that keeps every bound of the schema or
// throw conf::ConfigError "helper.conf:LINE: ..." with LINE a line of the text; any
// other exception, or a crash, is a bug. Aborts (with a message on stderr) otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace smtpwall::fuzz {

void check_helper_config(const std::uint8_t* data, std::size_t size);

}  // namespace smtpwall::fuzz
