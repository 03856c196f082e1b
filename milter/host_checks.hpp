// What a configuration needs from this host (users, groups, directories, a DNS
// server) beyond being well-formed. `--check-config` and the start-up both ask,
// so a config that passes the check does not fail at start for these reasons.
#pragma once

#include <string>
#include <vector>

#include "conf/milter_config.hpp"

namespace smtpwall {

// Each problem as "file:line: key: message"; empty when all is well.
std::vector<std::string> host_problems(const conf::MilterConfig& config);

}  // namespace smtpwall
