// The helper's view of the kernel: a set of DROP entries with counters. One
// implementation per firewall technology; the helper's protocol and safety
// rules are the same whichever is configured.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "firewall/protocol.hpp"

namespace smtpwall::conf {
struct HelperConfig;
}

namespace smtpwall::firewall {

class BackendError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct Change {
    enum class Kind { add, remove };
    Kind kind = Kind::add;
    helperproto::Entry entry;  // counters ignored; for remove only entry.net matters
};

class Backend {
  public:
    virtual ~Backend() = default;
    // Creates the chain(s) and the hook rules from INPUT if they are missing.
    // Returns one line per thing it had to create or repair (empty when all was in place).
    virtual std::vector<std::string> ensure_base() = 0;
    // Applies the whole batch atomically per address family (one commit each).
    // Adding a present entry replaces it (tags/expiry may change, counters are kept);
    // removing an absent entry is a no-op. Throws BackendError.
    virtual void apply(const std::vector<Change>& changes) = 0;
    // Every entry in our chain(s), with the kernel's packet and byte counters.
    virtual std::vector<helperproto::Entry> list() = 0;
};

std::unique_ptr<Backend> make_iptc_backend(const conf::HelperConfig& config);
std::unique_ptr<Backend> make_ipset_backend(const conf::HelperConfig& config);
std::unique_ptr<Backend> make_nft_backend(const conf::HelperConfig& config);
// The backend the config names ([firewall] backend).
std::unique_ptr<Backend> make_backend(const conf::HelperConfig& config);

}  // namespace smtpwall::firewall
