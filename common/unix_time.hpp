// Wall-clock time as the pure code sees it: a parameter in whole seconds since the
// epoch, never read from a clock there (common/clock.hpp reads it, at the edges).
#pragma once

#include <cstdint>

namespace smtpwall {

using UnixTime = std::int64_t;

}  // namespace smtpwall
