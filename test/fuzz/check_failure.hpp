// How every fuzz check reports a broken property: which check, what was expected, the
// input (escaped as logged values are, so any byte shows) and what was found; then
// abort(), so libFuzzer keeps the input and the corpus replay fails.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace smtpwall::fuzz {

[[noreturn]] inline void check_failed(std::string_view check, std::string_view what,
                                      std::string_view input, std::string_view detail = {}) {
    std::fprintf(stderr, "%.*s check failed: %.*s\n  input:  %.*s\n  detail: %.*s\n",
                 static_cast<int>(check.size()), check.data(), static_cast<int>(what.size()),
                 what.data(), static_cast<int>(input.size()), input.data(),
                 static_cast<int>(detail.size()), detail.data());
    std::abort();
}

}  // namespace smtpwall::fuzz
