// The milter's connection to smtpwall-helper (protocol: firewall/helper_main.cpp).
// Lives on the milter's Asio thread; reconnects with backoff; ban/unban may be
// called from any thread and never block. After each (re)connect it reports
// through on_connected so the caller can send the full set of active bans.
#pragma once

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "firewall/protocol.hpp"
#include "milter/enforcement.hpp"

namespace smtpwall {

class HelperClient final : public FirewallLink {
  public:
    using Entries = std::vector<helperproto::Entry>;
    using ListHandler = std::function<void(std::optional<Entries>)>;

    // Only a helper served by `server_uid` (or root) is trusted with the bans.
    HelperClient(boost::asio::io_context& io, std::string socket_path, uid_t server_uid);

    void start(std::function<void()> on_connected);
    void stop();

    void ban(const Ban& ban, Done done) override;
    void unban(const Cidr& key) override;
    // Entries the helper refuses are reported to `done`; those over its rate cap are
    // logged, counted (deferred()) and the whole set is sent again a minute later.
    void sync(const std::vector<Ban>& bans, SyncDone done) override;
    // Calls `done` on the Asio thread with the kernel's entries, or nullopt when
    // the helper is not connected or the connection fails before the answer.
    void list(ListHandler done);
    // Hears the kernel's counters (on the Asio thread): every LIST answer, and every
    // DEL answered. With one set, a LIST goes before each removal (DEL, SYNC) so that
    // an entry's counters are read before they are gone, and after each SYNC.
    class CounterObserver {
      public:
        virtual ~CounterObserver() = default;
        virtual void listed(const Entries& entries) = 0;
        virtual void removed(const Cidr& net) = 0;
    };
    void observe_counters(CounterObserver* observer) { observer_ = observer; }
    bool connected() const { return connected_; }
    // Bans the last sync left out of the kernel for now (the helper's rate cap).
    std::size_t deferred() const { return deferred_; }

  private:
    struct Reply {
        bool ok = false;
        std::string text;
        Entries entries;
    };
    using ReplyHandler = std::function<void(std::optional<Reply>)>;
    // A full-state sync is one run of requests, SYNC BEGIN first, on one connection.
    enum class Part { single, sync_begin, sync_rest };
    struct Pending {
        std::uint32_t id = 0;
        std::string line;
        ReplyHandler done;
        Part part = Part::single;
        bool sample = false;  // the LIST before removals
    };
    using Socket = boost::asio::local::stream_protocol::socket;

    std::uint32_t take_id();
    void enqueue(helperproto::Request request, ReplyHandler done, Part part = Part::single);
    // A LIST for the observer before removals, unless one is queued and not yet sent
    // (it reads the counters before everything queued after it).
    void enqueue_sample();
    void enqueue_sample_after_sync();
    // Takes the queued, unsent requests of syncs out (their handlers get nullopt): those
    // of every sync after the connection is lost, else only a sync not begun yet.
    void drop_queued_syncs(bool started_too);
    void fail_inflight();
    boost::asio::awaitable<void> run();
    boost::asio::awaitable<void> writer(std::shared_ptr<Socket> socket);
    boost::asio::awaitable<void> reader(std::shared_ptr<Socket> socket, std::string buffer);
    // Asks for a full-state sync again in a minute (after a sync the rate cap cut short).
    void resync_later();

    boost::asio::io_context& io_;
    const std::string path_;
    const uid_t server_uid_;
    std::function<void()> on_connected_;
    CounterObserver* observer_ = nullptr;
    bool sample_queued_ = false;
    boost::asio::steady_timer wake_writer_;
    boost::asio::steady_timer resync_;
    std::deque<Pending> outbox_;
    std::deque<Pending> inflight_;
    std::uint32_t next_id_ = 1;
    bool connected_ = false;
    bool stopping_ = false;
    std::atomic<std::size_t> deferred_{0};
};

}  // namespace smtpwall
