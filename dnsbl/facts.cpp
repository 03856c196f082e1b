// Text forms of the DNS facts of a session.
#include "dnsbl/facts.hpp"

#include "common/enum_names.hpp"

namespace smtpwall {

constexpr EnumNames<SpfResult, 7> kSpfResultNames{{
    {SpfResult::none, "none"},
    {SpfResult::pass, "pass"},
    {SpfResult::fail, "fail"},
    {SpfResult::softfail, "softfail"},
    {SpfResult::neutral, "neutral"},
    {SpfResult::temperror, "temperror"},
    {SpfResult::permerror, "permerror"},
}};

std::string_view to_string(SpfResult result) {
    return name_of(kSpfResultNames, result);
}

}  // namespace smtpwall

namespace smtpwall::dns {

std::vector<std::string> code_texts(const ZoneFact& zone) {
    std::vector<std::string> out;
    for (const auto& code : zone.codes) out.push_back(code.to_string());
    return out;
}

}  // namespace smtpwall::dns
