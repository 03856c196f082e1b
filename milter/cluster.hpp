// Cluster mode: several MX hosts acting as one through Redis ([cluster]). Keys and
// scripts are in core/cluster_codec.hpp; the policy over merged counts is the
// Enforcement's. This is the talking:
//
//   publish   local decisions (ban, unban, allow) leave the outbox, oldest first, through
//             one script each, and are removed only once Redis answered; local counts
//             are max-merged into per-host buckets (idempotent: a retried command never
//             counts twice) and the other hosts' counts come back with the answer, so
//             the rules here judge the sum.
//   apply     a second connection reads the shared log (XREAD BLOCK) from this host's
//             cursor, kept in the state file: every other host's change arrives within
//             milliseconds and passes the same checks as a local one.
//   catch up  on every (re)connect: a changed epoch means Redis lost its data, and this
//             host re-seeds it from its own state; a cursor older than the log means a
//             snapshot of the active bans and allows; then the outbox and every live
//             tally are published again.
//
// Nothing here is ever waited for by a libmilter callback: the Enforcement only queues,
// and while Redis is away each host judges and bans on its own.
#pragma once

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "conf/milter_config.hpp"
#include "core/cluster_codec.hpp"
#include "milter/enforcement.hpp"
#include "milter/redis_link.hpp"

namespace smtpwall {

class Cluster {
  public:
    using Clock = std::function<UnixTime()>;
    // `password`: the content of [cluster] password_file (read by the caller);
    // `policy`: this host's tally policy now (cluster::policy_fingerprint of the running
    // configuration: a reload may change the rules).
    Cluster(boost::asio::io_context& io, const conf::MilterConfig& config, std::string host,
            std::string password, Enforcement& enforcement, Clock clock,
            std::function<std::string()> policy);
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    // `allowed` runs (on the Asio thread) after an allow from elsewhere was applied.
    void start(std::function<void()> allowed);
    void stop();
    // Something is there to publish: wake the publisher. Any thread.
    void wake();

    struct Peer {
        std::string host;
        UnixTime heartbeat = 0;
        bool policy_match = false;
    };
    struct Status {
        bool connected = false;  // both links up and caught up
        std::string redis;       // where
        std::string host;
        std::size_t outbox = 0;
        bool policy_match = true;  // false: our tallies do not merge
        double lag_ms = 0;         // age of the last log entry applied when it arrived
        std::uint64_t published = 0, applied = 0, refused = 0, merged = 0, reconnects = 0;
        std::vector<Peer> peers;
    };
    // Call on the Asio thread.
    Status status() const;
    // The Redis hash of a tally (field/value pairs), for `show`; nullopt when not connected.
    void tally_fields(const Cidr& key,
                      std::function<void(std::optional<std::vector<std::string>>)> done);

  private:
    boost::asio::awaitable<std::optional<RedisEndpoint>> locate();
    boost::asio::awaitable<RedisReply> call(RedisLink& link, std::vector<std::string> argv,
                                            std::chrono::milliseconds extra = {});
    boost::asio::awaitable<RedisReply> script(std::string_view name, std::vector<std::string> keys,
                                              std::vector<std::string> args);
    boost::asio::awaitable<void> catch_up();
    boost::asio::awaitable<void> snapshot();
    boost::asio::awaitable<void> publisher();
    boost::asio::awaitable<bool> publish_outbox();
    boost::asio::awaitable<void> publish_tallies(bool all);
    boost::asio::awaitable<void> reader();
    boost::asio::awaitable<void> heartbeat();
    void apply_entry(const RedisReply& entry);
    // Compares our policy with the cluster's; logs when that changes.
    void check_policy(const std::string& cluster_policy);

    boost::asio::io_context& io_;
    const conf::MilterConfig::Cluster config_;
    const std::string host_;
    std::function<std::string()> policy_of_;
    std::string policy_;          // ours, as last published
    std::string cluster_policy_;  // the cluster's (the first host's), from Redis
    const cluster::Keys keys_;
    const RedisLink::Options link_options_;
    Enforcement& enforcement_;
    Clock clock_;
    RedisLink commands_;
    RedisLink stream_;
    boost::asio::steady_timer wake_timer_;
    std::atomic<bool> wake_pending_{false};
    std::map<std::string, std::string, std::less<>> shas_;  // script name -> SHA1
    bool caught_up_ = false;  // the command link has caught up since it connected
    bool resync_tallies_ = false;
    std::string cursor_;       // the last log entry applied
    std::string last_master_;  // where the last catch-up happened
    int replicas_ = 0;         // the master's replicas at the last catch-up
    std::function<void()> allowed_;
    bool stopping_ = false;
    Status status_;
};

}  // namespace smtpwall
