// The milter's control socket (and the optional HTTP /metrics listener), served
// on its Asio thread. Protocol documented in control_server.cpp.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs it

#include <boost/asio.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/rate_limiter.hpp"
#include "common/unix_socket.hpp"
#include "conf/milter_config.hpp"
#include "core/control_protocol.hpp"
#include "milter/dns_service.hpp"
#include "milter/enforcement.hpp"
#include "milter/helper_client.hpp"
#include "milter/metrics.hpp"
#include "milter/recent.hpp"
#include "milter/runtime.hpp"

namespace smtpwall {

class Cluster;
class HistoryRecorder;

struct ControlContext {
    Enforcement& enforcement;
    HelperClient& helper;
    Runtime& runtime;
    RecentSessions& recent;
    DnsService* dns = nullptr;
    std::function<UnixTime()> clock;
    // Answers `check`: gets the request and a callback for the framed reply (any thread).
    std::function<void(const control::Request&, std::function<void(std::string)>)> checker;
    Cluster* cluster = nullptr;  // cluster mode only
    HistoryRecorder* history = nullptr;
};

class ControlServer {
  public:
    ControlServer(boost::asio::io_context& io, const conf::MilterConfig::Control& config,
                  ControlContext context);
    // Binds the socket(s) and starts accepting. Throws on failure.
    void start();
    void stop();

  private:
    using Socket = boost::asio::local::stream_protocol::socket;
    struct Peer {
        unsigned uid = 0;
        bool admin = false;
    };
    // The connections being served, counted for the caps. Shared with every Place, so
    // that a connection ended by the io_context's destruction, after this server's,
    // still gives its place back into something alive.
    struct Places {
        std::size_t open = 0;                    // of users who are not admins
        std::map<unsigned, std::size_t> by_uid;  // per user
        std::size_t metrics = 0;                 // HTTP /metrics
    };
    // Holds one of the capped places while a connection is served.
    class Place {
      public:
        Place(std::shared_ptr<Places> places, const Peer& peer);
        Place(Place&& other) noexcept = default;
        Place(const Place&) = delete;
        Place& operator=(const Place&) = delete;
        Place& operator=(Place&&) = delete;
        ~Place();

      private:
        std::shared_ptr<Places> places_;
        Peer peer_;
    };
    // A place for the user `uid` (then `peer` says who that is), or none and `why`
    // ("user_connections", "connections").
    std::optional<Place> take_place(unsigned uid, Peer& peer, std::string_view& why);
    // Counts a refusal (metrics) and logs them together, at most once a minute.
    void refused(std::string_view why);
    void log_refusals();
    // Waits a little after a failed accept (EMFILE): never a busy loop.
    boost::asio::awaitable<void> accept_pause();
    boost::asio::awaitable<void> accept_loop();
    // `place` is held for as long as the connection is served.
    boost::asio::awaitable<void> serve(Socket socket, Peer peer, Place place);
    // A peer's uid from SO_PEERCRED (-1 when unknown: read-only).
    static unsigned peer_uid(Socket& socket);
    boost::asio::awaitable<std::string> execute(const control::Request& request, const Peer& peer);
    boost::asio::awaitable<std::optional<HelperClient::Entries>> kernel_entries();
    boost::asio::awaitable<std::string> live_check(const control::Request& request);
    boost::asio::awaitable<void> metrics_accept_loop();
    boost::asio::awaitable<void> serve_metrics(boost::asio::ip::tcp::socket socket,
                                               std::shared_ptr<Places> places);
    Peer identify(unsigned uid) const;
    Gauges gauges() const;
    std::string status(bool json) const;
    boost::asio::awaitable<std::string> show(const control::Request& request);
    boost::asio::awaitable<std::string> top(const control::Request& request);
    // top --since/--from and report: from the counter history, after a fresh sample.
    boost::asio::awaitable<std::string> over_period(const control::Request& request);

    boost::asio::io_context& io_;
    const conf::MilterConfig::Control config_;
    ControlContext ctx_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
    boost::asio::ip::tcp::acceptor metrics_acceptor_;
    SocketFile socket_file_;  // removed at stop(), if it is still ours
    // All on the Asio thread: no locks.
    std::shared_ptr<Places> places_ = std::make_shared<Places>();
    std::map<unsigned, RateLimiter> checks_;  // live checks per user who is not an admin
    std::map<std::string, std::uint64_t, std::less<>> unlogged_refusals_;
    boost::asio::steady_timer refusal_log_;  // armed while refusals wait to be logged
    bool refusal_log_armed_ = false;
};

}  // namespace smtpwall
