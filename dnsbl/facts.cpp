#include "dnsbl/facts.hpp"

namespace smtpwall {

std::string_view to_string(SpfResult result) {
    switch (result) {
        case SpfResult::none:
            return "none";
        case SpfResult::pass:
            return "pass";
        case SpfResult::fail:
            return "fail";
        case SpfResult::softfail:
            return "softfail";
        case SpfResult::neutral:
            return "neutral";
        case SpfResult::temperror:
            return "temperror";
        case SpfResult::permerror:
            return "permerror";
    }
    return "none";
}

}  // namespace smtpwall
