// Canonical recipients, the spamtrap / exempt address patterns, and the MTA's own
// recipient rejections.
#include "core/recipients.hpp"

#include <algorithm>

namespace smtpwall {

namespace {

std::string lowered(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

std::string canonical_recipient(std::string_view raw) {
    std::string_view s = raw;
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = s.substr(1, s.size() - 2);
    if (!s.empty() && s.front() == '@') {  // obsolete source route: @relay,@relay:user@domain
        const auto colon = s.find(':');
        s = colon == std::string_view::npos ? std::string_view{} : s.substr(colon + 1);
    }
    // Local parts are case-sensitive in theory and never in practice; traps and
    // exemptions must not be dodged by capitalisation.
    return lowered(s);
}

bool rejected_by_mta(std::string_view rcpt_mailer) {
    return rcpt_mailer == "error";
}

MtaRejection classify_mta_rejection(std::string_view rcpt_host, std::string_view rcpt_addr) {
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    auto by_class = [](char c) {
        if (c == '5') return MtaRejection::permanent;
        if (c == '4') return MtaRejection::temporary;
        return MtaRejection::unknown;
    };
    // "5.1.1" (enhanced status code)
    if (rcpt_host.size() >= 5 && rcpt_host[1] == '.' && digit(rcpt_host[2]))
        return by_class(rcpt_host[0]);
    // "550 5.1.1 text" or "550 text"
    if (rcpt_addr.size() >= 3 && digit(rcpt_addr[0]) && digit(rcpt_addr[1]) &&
        digit(rcpt_addr[2]) &&
        (rcpt_addr.size() == 3 || rcpt_addr[3] == ' ' || rcpt_addr[3] == '-'))
        return by_class(rcpt_addr[0]);
    // Postfix's text may start with the enhanced code too
    if (rcpt_addr.size() >= 5 && rcpt_addr[1] == '.' && digit(rcpt_addr[2]))
        return by_class(rcpt_addr[0]);
    return MtaRejection::unknown;
}

AddressPatterns::AddressPatterns(const std::vector<std::string>& patterns) {
    for (const auto& p : patterns) {
        const auto pattern = lowered(p);
        if (pattern.front() == '@') {
            domains_.push_back(pattern.substr(1));
        } else if (pattern.back() == '@') {
            locals_.push_back(pattern.substr(0, pattern.size() - 1));
        } else {
            exact_.push_back(pattern);
        }
    }
}

bool AddressPatterns::matches(std::string_view canonical) const {
    const auto at = canonical.rfind('@');
    if (at == std::string_view::npos) return contains(locals_, canonical);
    return contains(exact_, canonical) || contains(locals_, canonical.substr(0, at)) ||
           contains(domains_, canonical.substr(at + 1));
}

}  // namespace smtpwall
