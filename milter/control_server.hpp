// The milter's control socket (and the optional HTTP /metrics listener), served
// on its Asio thread. Protocol documented in control_server.cpp.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs it

#include <boost/asio.hpp>

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>

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
    // Holds one of the capped connection places while a connection is served.
    class Place {
      public:
        Place(ControlServer& server, const Peer& peer) : server_(&server), peer_(peer) {}
        Place(Place&& other) noexcept
            : server_(std::exchange(other.server_, nullptr)), peer_(other.peer_) {}
        Place(const Place&) = delete;
        Place& operator=(const Place&) = delete;
        Place& operator=(Place&&) = delete;
        ~Place();

      private:
        ControlServer* server_;
        Peer peer_;
    };
    // A place for this peer, or why there is none ("connections", "user_connections").
    std::variant<Place, std::string_view> take_place(const Peer& peer);
    void refused(std::string_view why, std::string_view what);
    // Waits a little after a failed accept (EMFILE): never a busy loop.
    boost::asio::awaitable<void> accept_pause();
    boost::asio::awaitable<void> accept_loop();
    // `place` is held for as long as the connection is served.
    boost::asio::awaitable<void> serve(Socket socket, Peer peer, Place place);
    boost::asio::awaitable<std::string> execute(const control::Request& request, const Peer& peer);
    boost::asio::awaitable<std::optional<HelperClient::Entries>> kernel_entries();
    boost::asio::awaitable<std::string> live_check(const control::Request& request);
    boost::asio::awaitable<void> metrics_accept_loop();
    boost::asio::awaitable<void> serve_metrics(boost::asio::ip::tcp::socket socket);
    Peer identify(Socket& socket) const;
    Gauges gauges() const;
    std::string status(bool json) const;
    boost::asio::awaitable<std::string> show(const control::Request& request);
    boost::asio::awaitable<std::string> top(const control::Request& request);

    boost::asio::io_context& io_;
    const conf::MilterConfig::Control config_;
    ControlContext ctx_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
    boost::asio::ip::tcp::acceptor metrics_acceptor_;
    SocketFile socket_file_;  // removed at stop(), if it is still ours
    // All on the Asio thread: no locks.
    std::size_t open_ = 0;                    // connections of users who are not admins
    std::map<unsigned, std::size_t> by_uid_;  // connections per user
    std::size_t metrics_open_ = 0;            // HTTP /metrics connections
    std::map<unsigned, RateLimiter> checks_;  // live checks per user who is not an admin
    std::map<std::string, std::uint64_t, std::less<>> unlogged_refusals_;
    std::chrono::steady_clock::time_point last_refusal_log_{};
};

}  // namespace smtpwall
