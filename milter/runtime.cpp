// The live configuration: reload and allow swap the session policy whole.
#include "milter/runtime.hpp"

#include <fmt/format.h>

#include "common/log.hpp"
#include "conf/config_reader.hpp"

namespace smtpwall {

Runtime::Runtime(std::string config_path, const conf::MilterConfig& config,
                 Enforcement& enforcement, DnsService* dns, UnixTime started)
    : path_(std::move(config_path)), started_(started), enforcement_(enforcement), dns_(dns) {
    std::lock_guard lock(mutex_);
    publish(config);
}

void Runtime::publish(const conf::MilterConfig& config) {
    auto policy = std::make_shared<SessionPolicy>(config);
    auto nets = config.checks.allowlist.entries();
    for (const auto& net : enforcement_.runtime_allows()) nets.push_back(net);
    policy->allowlist = CidrList(std::move(nets));
    policy_.store(std::move(policy));
    config_.store(std::make_shared<const conf::MilterConfig>(config));
}

Runtime::Result Runtime::reload() {
    std::lock_guard lock(mutex_);
    conf::MilterConfig fresh;
    try {
        fresh = conf::load_milter_config(path_);
    } catch (const conf::ConfigError& e) {
        log_error(fmt::format("reload refused, old configuration stays {}", kv("error", e.what())));
        return {false, fmt::format("reload refused, old configuration stays: {}", e.what())};
    }
    const auto running = config_.load();
    const auto restart = conf::restart_only_changes(*running, fresh);
    // What a restart would change keeps its running value; the rest takes effect now.
    const conf::MilterConfig applied = conf::reloaded(*running, fresh);
    enforcement_.reconfigure(applied);
    if (dns_ != nullptr) dns_->set_zones(zone_specs(applied));
    publish(applied);
    std::string message = fmt::format("reloaded {}", path_);
    if (!restart.empty())
        message += fmt::format("; needs a restart to change: {}", fmt::join(restart, ", "));
    log_info(message);
    return {true, message};
}

void Runtime::refresh_allows() {
    std::lock_guard lock(mutex_);
    publish(*config_.load());
}

Runtime::Result Runtime::allow(const Cidr& net) {
    std::lock_guard lock(mutex_);
    auto result = enforcement_.allow(net);
    publish(*config_.load());
    return result;
}

}  // namespace smtpwall
