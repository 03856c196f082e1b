// The system's host name (gethostname): the cluster's default host name, the
// report's heading.
#pragma once

#include <string>

namespace smtpwall {

// Empty when the host has none.
std::string system_host_name();

}  // namespace smtpwall
