// Reading the wall clock: only the daemons' edges do it and hand the time to the
// pure code as a parameter (common/unix_time.hpp).
#pragma once

#include <chrono>

#include "common/unix_time.hpp"

namespace smtpwall {

inline UnixTime unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

inline std::int64_t unix_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace smtpwall
