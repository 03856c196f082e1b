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

namespace smtpwall::dns {

std::vector<std::string> code_texts(const ZoneFact& zone) {
    std::vector<std::string> out;
    for (const auto& code : zone.codes) out.push_back(code.to_string());
    return out;
}

}  // namespace smtpwall::dns
