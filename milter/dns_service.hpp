// The milter's DNS side: one resolver on its own Asio thread (so a DNS burst
// never delays the control socket or the helper link), the configured zones with
// their health, periodic zone probes, and the per-session lookups.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs it

#include <boost/asio.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "conf/milter_config.hpp"
#include "dnsbl/lookups.hpp"
#include "dnsbl/resolver.hpp"
#include "dnsbl/zones.hpp"

namespace smtpwall {

class SpfChecker;

class DnsService {
  public:
    using Clock = std::function<std::int64_t()>;

    // Throws std::runtime_error when no DNS server can be found.
    DnsService(const conf::MilterConfig& config, Clock clock);
    ~DnsService();
    DnsService(const DnsService&) = delete;
    DnsService& operator=(const DnsService&) = delete;

    // Installs the SPF checker (before the first session).
    // Sessions check SPF with `checker` from now on (it must outlive this service's
    // sessions): a known outcome at once, others on its workers.
    void use_spf(SpfChecker& checker);
    // New zones for sessions that start from now on (reload).
    void set_zones(std::vector<dns::ZoneSpec> zones);
    std::shared_ptr<dns::SessionLookups> start_session(const IpAddress& client);
    // Lookups for `smtpwallctl check`: like a session's, with the same deadline.
    dns::Resolver& resolver() { return *resolver_; }
    const dns::ZoneHealth& health() const { return health_; }
    dns::Stats stats() const { return resolver_->stats(); }

  private:
    boost::asio::awaitable<void> probe_loop();
    void probe(const dns::ZoneSpec& zone);

    const std::chrono::milliseconds deadline_;
    const std::chrono::seconds probe_interval_;
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::unique_ptr<dns::Resolver> resolver_;
    dns::ZoneHealth health_;
    // Swapped whole on reload; running sessions keep the one they started with.
    std::atomic<std::shared_ptr<const dns::LookupServices>> services_;
    std::thread thread_;
};

// The resolver settings from the config (servers from /etc/resolv.conf when none are set).
dns::ResolverConfig resolver_config(const conf::MilterConfig& config);
std::vector<dns::ZoneSpec> zone_specs(const conf::MilterConfig& config);

}  // namespace smtpwall
