// Dropping root for good: the milter never needs it after start-up.
#pragma once

#include <string>

namespace smtpwall {

// When running as root, switches to `user` (its primary group and the groups it
// is a member of, none of root's) and verifies that root cannot be regained. Throws
// std::runtime_error if any step fails; does nothing when not root.
void drop_root(const std::string& user);

}  // namespace smtpwall
