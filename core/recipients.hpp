// Envelope recipient handling: the canonical form we compare, and the address
// patterns of the config ("local@domain", "local@" for any domain, "@domain").
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace smtpwall {

// "<Foo@Example.ORG>" -> "foo@example.org"; drops a source route ("@a,@b:") and
// the angle brackets. A bare local part ("<postmaster>") stays without '@'.
std::string canonical_recipient(std::string_view raw);

class AddressPatterns {
  public:
    AddressPatterns() = default;
    explicit AddressPatterns(const std::vector<std::string>& patterns);
    // `canonical` must come from canonical_recipient(). A bare local part only
    // matches "local@" patterns.
    bool matches(std::string_view canonical) const;
    bool empty() const { return exact_.empty() && locals_.empty() && domains_.empty(); }

  private:
    std::vector<std::string> exact_, locals_, domains_;
};

}  // namespace smtpwall
