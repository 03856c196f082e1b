// The milter's live configuration: the policy sessions start with, swapped whole
// by `reload` and `allow`, never edited in place. A session keeps the policy it
// started with, so a reload drops nothing and judges no session twice.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "conf/milter_config.hpp"
#include "core/session.hpp"
#include "milter/dns_service.hpp"
#include "milter/enforcement.hpp"

namespace smtpwall {

class Runtime {
  public:
    Runtime(std::string config_path, const conf::MilterConfig& config, Enforcement& enforcement,
            DnsService* dns, UnixTime started);

    std::shared_ptr<const SessionPolicy> policy() const { return policy_.load(); }
    std::shared_ptr<const conf::MilterConfig> config() const { return config_.load(); }
    const std::string& config_path() const { return path_; }
    UnixTime started() const { return started_; }

    using Result = Enforcement::ActionResult;
    // Re-reads the config file. A broken file changes nothing and says why
    // (file:line); settings that only a restart can change are named.
    Result reload();
    Result allow(const Cidr& net);
    // Runtime allows arrived another way (the cluster): sessions must see them.
    void refresh_allows();

  private:
    void publish(const conf::MilterConfig& config);  // mutex held

    const std::string path_;
    const UnixTime started_;
    Enforcement& enforcement_;
    DnsService* dns_;
    std::mutex mutex_;  // one reload or allow at a time
    std::atomic<std::shared_ptr<const SessionPolicy>> policy_;
    std::atomic<std::shared_ptr<const conf::MilterConfig>> config_;
};

}  // namespace smtpwall
