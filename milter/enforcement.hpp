// Where rejections become bans: the shared, thread-safe home of the tallies and
// the active bans. libmilter's session threads record rejections here; bans are
// handed to the firewall helper link, which never blocks the caller.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "conf/milter_config.hpp"
#include "milter/tally.hpp"

namespace smtpwall {

// The milter's side of the firewall helper. Calls must return at once (queue).
class FirewallLink {
  public:
    virtual ~FirewallLink() = default;
    virtual void ban(const Ban& ban) = 0;
    virtual void unban(const Cidr& key) = 0;
};

class Enforcement {
  public:
    Enforcement(const conf::MilterConfig& config, FirewallLink& firewall);

    struct Outcome {
        std::uint32_t recent = 0;    // rejections within the window, this one included
        std::optional<Ban> new_ban;  // set when this rejection crossed a threshold
    };

    void record_session(const IpAddress& client, UnixTime now);
    Outcome record_rejection(const IpAddress& client, std::span<const std::string> tags,
                             UnixTime now);
    bool is_banned(const IpAddress& client) const;
    // Lifts bans whose time is up and tells the helper.
    void expire(UnixTime now);
    // Tells the helper about every active ban again (after it (re)connected).
    void resend_bans();

    std::vector<TallyRow> top(std::size_t limit, std::string_view tag, UnixTime now) const;
    std::vector<Ban> bans() const;
    std::chrono::seconds window() const;

  private:
    // Never ban what we must never cut off, whatever the tallies say.
    bool bannable(const Cidr& key) const;

    const CidrList allowlist_;
    const int v4_prefix_, v6_prefix_;
    const EscalationRules rules_;
    FirewallLink& firewall_;

    mutable std::mutex mutex_;
    TallyStore tallies_;
    BanList bans_;
};

}  // namespace smtpwall
