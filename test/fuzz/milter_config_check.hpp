// The property both the milter config fuzzer and its corpus replay check.
//
// An input starting with a NUL byte is one escalation rule line (the rest) for
// conf::parse_rule: it is refused with a reason, or it is a rule that keeps the rule
// language's promises (conf/escalation_rule.hpp), parses the same whatever the spacing,
// comes back unchanged from the canonical line the check writes for it, and is read the
// same from smtpwall.conf's escalation.rules.
//
// Any other input is the text of smtpwall.conf: it either makes a config that keeps
// every bound of the schema (conf/milter_config.cpp), whose reload arithmetic is sound
// (a config reloaded over itself changes nothing; over the defaults it takes every live
// setting), or throws conf::ConfigError "smtpwall.conf:LINE: ..." with LINE a line of
// the text; any other exception, or a crash, is a bug. Aborts (with a message on stderr)
// otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace smtpwall::fuzz {

void check_milter_config(const std::uint8_t* data, std::size_t size);

}  // namespace smtpwall::fuzz
