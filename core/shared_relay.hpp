// Shared relays: clients that send for very many people, so that a firewall ban of
// one would cut off every one of them for days. A large provider's outbound host (its
// forward-confirmed PTR lies under a listed domain), a client a DNSWL lists, or one
// with a good-mail history here. They are rejected like anyone (the sender gets the
// bounce, the provider's abuse desk sees it), but rejections alone never ban them: only
// a rule on spamtrap evidence that says "including shared-relay" may, for at most
// [shared_relays] max_ban, and no netblock ban ever covers one. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dnsbl/facts.hpp"

namespace smtpwall {

struct SharedRelay {
    enum class Why : std::uint8_t { provider, dnswl, good_mail };
    Why why = Why::provider;
    std::string detail;  // the provider's domain, the DNSWL's tag, the accepted messages

    // "provider:google.com", "dnswl:dnswl", "good-mail:37": logs, show, the state file.
    std::string to_string() const;
    static std::optional<SharedRelay> parse(std::string_view text);
    bool operator==(const SharedRelay&) const = default;
};

// "its confirmed PTR lies under google.com, a listed provider domain": for operators.
std::string describe(const SharedRelay& relay);

// The domains whose confirmed PTR names are shared relays ([shared_relays]).
class RelayDomains {
  public:
    explicit RelayDomains(std::vector<std::string> domains = {});
    // The listed domain `ptr_name` lies under (label boundary, any case, optional
    // trailing dot), or nothing.
    std::optional<std::string> domain_of(std::string_view ptr_name) const;

  private:
    std::vector<std::string> domains_;  // sorted, lower case
};

// What one session's DNS showed about its client. `conclusive` once the PTR lookup has
// finished (found, absent or not confirmed): a relay seen before is then forgotten if
// the session shows none.
struct RelayFacts {
    bool conclusive = false;
    std::optional<SharedRelay> relay;
};

// From the session's DNS: a listing in a DNSWL zone (negative weight), or a confirmed
// PTR under a listed domain.
RelayFacts relay_facts(const dns::DnsFacts& facts, const RelayDomains& domains);

}  // namespace smtpwall
