// Who is a shared relay: provider domains matched on the confirmed PTR, DNSWL listings.
#include "core/shared_relay.hpp"

#include <algorithm>
#include <cctype>

#include "common/enum_names.hpp"

namespace smtpwall {

namespace {

constexpr EnumNames<SharedRelay::Why, 3> kWhyNames{{
    {SharedRelay::Why::provider, "provider"},
    {SharedRelay::Why::dnswl, "dnswl"},
    {SharedRelay::Why::good_mail, "good-mail"},
}};

std::string lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

std::string SharedRelay::to_string() const {
    return std::string(name_of(kWhyNames, why)) + ":" + detail;
}

std::optional<SharedRelay> SharedRelay::parse(std::string_view text) {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos || colon + 1 == text.size()) return std::nullopt;
    const auto why = value_of(kWhyNames, text.substr(0, colon));
    if (!why) return std::nullopt;
    return SharedRelay{*why, std::string(text.substr(colon + 1))};
}

std::string describe(const SharedRelay& relay) {
    switch (relay.why) {
        case SharedRelay::Why::provider:
            return "its confirmed PTR lies under " + relay.detail + ", a large provider's domain";
        case SharedRelay::Why::dnswl:
            return "listed in the DNS allowlist " + relay.detail;
        case SharedRelay::Why::good_mail:
            return relay.detail + " accepted messages from it";
    }
    return relay.detail;
}

RelayDomains::RelayDomains(std::vector<std::string> domains) : domains_(std::move(domains)) {
    for (auto& d : domains_) d = lower(d);
    std::sort(domains_.begin(), domains_.end());
    domains_.erase(std::unique(domains_.begin(), domains_.end()), domains_.end());
}

std::optional<std::string> RelayDomains::domain_of(std::string_view ptr_name) const {
    if (!ptr_name.empty() && ptr_name.back() == '.') ptr_name.remove_suffix(1);
    const std::string name = lower(ptr_name);
    // Every suffix that starts a label, the whole name first: the most specific entry.
    for (std::size_t start = 0; start < name.size();) {
        const std::string_view suffix = std::string_view(name).substr(start);
        if (std::binary_search(domains_.begin(), domains_.end(), suffix))
            return std::string(suffix);
        const auto dot = name.find('.', start);
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return std::nullopt;
}

RelayFacts relay_facts(const dns::DnsFacts& facts, const RelayDomains& domains) {
    RelayFacts out;
    for (const auto& z : facts.zones)
        if (z.weight < 0 && z.progress == dns::Progress::done &&
            z.verdict == dns::ZoneVerdict::listed) {
            out.conclusive = true;
            out.relay = SharedRelay{SharedRelay::Why::dnswl, z.tag};
            return out;
        }
    if (facts.ptr.progress != dns::Progress::done ||
        facts.ptr.outcome == dns::PtrFacts::Outcome::temp_error)
        return out;
    out.conclusive = true;
    if (facts.ptr.outcome == dns::PtrFacts::Outcome::confirmed)
        if (auto domain = domains.domain_of(facts.ptr.confirmed_name))
            out.relay = SharedRelay{SharedRelay::Why::provider, std::move(*domain)};
    return out;
}

}  // namespace smtpwall
