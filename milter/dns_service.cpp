// The milter's DNS thread: resolver, zones and their probes, session lookups.
#include "milter/dns_service.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "common/log.hpp"
#include "dnsbl/spf.hpp"
#include "milter/event_loop.hpp"
#include "milter/metrics.hpp"

namespace smtpwall {

namespace asio = boost::asio;

dns::ResolverConfig resolver_config(const conf::MilterConfig& config) {
    dns::ResolverConfig rc;
    for (const auto& text : config.dns.servers) {
        const auto server = conf::parse_host_port(text, 53);  // validated with the config
        if (!server) continue;
        const auto address = asio::ip::make_address(server->first.to_string());
        rc.servers.emplace_back(address, server->second);
    }
    if (rc.servers.empty()) {
        std::ifstream in("/etc/resolv.conf");
        std::stringstream text;
        text << in.rdbuf();
        rc.servers = dns::parse_resolv_conf(text.str());
    }
    if (rc.servers.empty())
        throw std::runtime_error("no DNS server: set [dns] servers or fix /etc/resolv.conf");
    rc.timeout = config.dns.timeout;
    rc.attempts = config.dns.attempts;
    rc.min_ttl = config.dns.min_ttl;
    rc.max_ttl = config.dns.max_ttl;
    rc.max_negative_ttl = config.dns.max_negative_ttl;
    rc.max_entries = config.dns.cache_entries;
    rc.max_cache_bytes = config.dns.cache_megabytes << 20;
    rc.on_callback_error = [](std::string_view what) {
        metrics().internal_error("dns-callback");
        log_error(
            fmt::format("DNS lookup callback failed, resolver goes on {}", kv("error", what)));
    };
    return rc;
}

std::vector<dns::ZoneSpec> zone_specs(const conf::MilterConfig& config) {
    std::vector<dns::ZoneSpec> zones;
    for (const auto& z : config.zones)
        zones.push_back({z.tag, z.zone, z.codes, z.weight, z.ipv4, z.ipv6, z.txt});
    return zones;
}

DnsService::DnsService(const conf::MilterConfig& config, Clock clock)
    : deadline_(config.dns.deadline),
      probe_interval_(config.dns.probe_interval),
      work_(asio::make_work_guard(io_)),

      resolver_(std::make_unique<dns::Resolver>(io_, resolver_config(config))) {
    auto services = std::make_shared<dns::LookupServices>();
    services->resolver = resolver_.get();
    services->zones = zone_specs(config);
    services->health = &health_;
    services->suspend_for = config.dns.zone_suspension;
    services->clock = std::move(clock);
    services->log = [](const std::string& line) { log_warning(line); };
    services->max_helo_names = config.dns.helo_lookups;
    services->max_spf_checks = config.spf.session_checks;
    services->over_budget = [](std::string_view budget) { metrics().over_budget(budget); };
    services->observe_zone = [](const std::string& tag, std::string_view outcome,
                                std::chrono::microseconds latency) {
        metrics().zone_answer(tag, outcome, latency);
    };
    services_.store(std::move(services));
    if (probe_interval_.count() > 0) asio::co_spawn(io_, probe_loop(), asio::detached);
    thread_ = std::thread([this] { run_event_loop(io_, "dns"); });
}

DnsService::~DnsService() {
    resolver_->shutdown();
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
}

namespace {

dns::SpfFacts spf_facts(const SpfOutcome& o) {
    return dns::SpfFacts{dns::Progress::done, o.result, o.domain, o.explanation};
}

}  // namespace

void DnsService::use_spf(SpfChecker& checker) {
    auto next = std::make_shared<dns::LookupServices>(*services_.load());
    next->spf = [&checker](const IpAddress& client, const std::string& helo,
                           const std::string& sender, std::function<void(dns::SpfFacts)> done) {
        const bool queued = checker.check(client, helo, sender,
                                          [done](const SpfOutcome& o) { done(spf_facts(o)); });
        // A full queue is a temporary failure like any other: never a reason to reject.
        if (!queued)
            done(dns::SpfFacts{dns::Progress::done, SpfResult::temperror, {}, "SPF queue full"});
    };
    next->spf_cached = [&checker](const IpAddress& client, const std::string& helo,
                                  const std::string& sender) -> std::optional<dns::SpfFacts> {
        if (auto outcome = checker.cached(client, helo, sender)) return spf_facts(*outcome);
        return std::nullopt;
    };
    services_.store(std::move(next));
}

void DnsService::set_zones(std::vector<dns::ZoneSpec> zones) {
    auto next = std::make_shared<dns::LookupServices>(*services_.load());
    next->zones = std::move(zones);
    services_.store(std::move(next));
}

std::shared_ptr<dns::SessionLookups> DnsService::start_session(const IpAddress& client) {
    return dns::SessionLookups::start(services_.load(), client,
                                      std::chrono::steady_clock::now() + deadline_);
}

// RFC 5782 test points: 127.0.0.2 must be listed and 127.0.0.1 must not. A zone
// that fails this is dead or answers everything; its listings are not believed.
void DnsService::probe(const dns::ZoneSpec& zone) {
    const auto test_point = dns::zone_query_name(zone, *IpAddress::parse("127.0.0.2"));
    const auto loopback = dns::zone_query_name(zone, *IpAddress::parse("127.0.0.1"));
    auto results =
        std::make_shared<std::pair<std::optional<dns::Result>, std::optional<dns::Result>>>();
    auto settle = [this, results, name = zone.zone]() {
        if (!results->first || !results->second) return;
        const auto& listed = *results->first;
        const auto& clean = *results->second;
        const bool answered = !listed.temporary() && !clean.temporary();
        const bool test_point_listed =
            listed.status == dns::Status::ok && !listed.addresses.empty();
        const bool loopback_listed = clean.status == dns::Status::ok && !clean.addresses.empty();
        if (health_.record_probe(name, test_point_listed, loopback_listed, answered)) {
            const auto state = health_.snapshot()[name];
            if (state.dead) {
                log_warning(fmt::format("zone {} marked dead: {}", name, state.why));
            } else {
                log_info(fmt::format("zone {} answers its test points again", name));
            }
        }
    };
    resolver_->lookup(test_point, dns::RType::A, [results, settle](const dns::Result& r) {
        results->first = r;
        settle();
    });
    resolver_->lookup(loopback, dns::RType::A, [results, settle](const dns::Result& r) {
        results->second = r;
        settle();
    });
}

asio::awaitable<void> DnsService::probe_loop() {
    asio::steady_timer timer(io_);
    while (true) {
        const auto services = services_.load();  // the zones as of this round
        for (const auto& zone : services->zones)
            if (zone.ipv4) probe(zone);
        timer.expires_after(probe_interval_);
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
    }
}

}  // namespace smtpwall
