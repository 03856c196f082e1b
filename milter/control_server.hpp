// The milter's control socket, served on its Asio thread (protocol documented
// in control_server.cpp).
#pragma once

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>

#include <functional>
#include <string>

#include "conf/milter_config.hpp"
#include "milter/control_protocol.hpp"
#include "milter/enforcement.hpp"
#include "milter/helper_client.hpp"

namespace smtpwall {

class ControlServer {
  public:
    using Clock = std::function<UnixTime()>;
    // Answers `check`: gets the request and a callback for the framed reply (any thread).
    using Checker = std::function<void(const control::Request&, std::function<void(std::string)>)>;
    ControlServer(boost::asio::io_context& io, const conf::MilterConfig::Control& config,
                  Enforcement& enforcement, HelperClient& helper, Clock clock, Checker checker);
    // Binds the socket (replacing a stale one) and starts accepting. Throws on failure.
    void start();
    void stop();

  private:
    using Socket = boost::asio::local::stream_protocol::socket;
    boost::asio::awaitable<void> accept_loop();
    boost::asio::awaitable<void> serve(Socket socket);
    boost::asio::awaitable<std::string> execute(const control::Request& request);
    boost::asio::awaitable<std::optional<HelperClient::Entries>> kernel_entries();
    boost::asio::awaitable<std::string> live_check(const control::Request& request);

    boost::asio::io_context& io_;
    const conf::MilterConfig::Control config_;
    Enforcement& enforcement_;
    HelperClient& helper_;
    Clock clock_;
    Checker checker_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
};

}  // namespace smtpwall
