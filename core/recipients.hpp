// Envelope recipient handling: the canonical form we compare, the address patterns
// of the config ("local@domain", "local@" for any domain, "@domain"), and what the
// MTA's recipient macros say about a recipient it rejected itself.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace smtpwall {

// "<Foo@Example.ORG>" -> "foo@example.org"; drops a source route ("@a,@b:") and
// the angle brackets. A bare local part ("<postmaster>") stays without '@'.
std::string canonical_recipient(std::string_view raw);

// SMFIP_RCPT_REJ: the MTA also passes on the recipients it rejected itself, marked by
// the "error" mailer in {rcpt_mailer} (Postfix and Sendmail alike).
bool rejected_by_mta(std::string_view rcpt_mailer);

// How the MTA itself rejected a recipient. Postfix puts the enhanced status code in
// {rcpt_host} ("5.1.1") and the text in {rcpt_addr}; Sendmail puts the whole reply in
// {rcpt_addr} ("550 5.1.1 User unknown").
enum class MtaRejection { permanent, temporary, unknown };
MtaRejection classify_mta_rejection(std::string_view rcpt_host, std::string_view rcpt_addr);

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
