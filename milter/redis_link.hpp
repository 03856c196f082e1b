// One connection to Redis on the milter's Asio loop: hiredis encodes commands and
// parses replies (its RESP codec: redisFormatCommandArgv, redisReader), Asio does the
// I/O, so the link has what hiredis 0.14's own networking lacks: numeric endpoints
// only (no blocking resolver), a deadline on the connect and on every command, and
// reconnection with backoff. Commands are pipelined and answered in order.
//
// Nothing waits on it: command() only queues. A command sent while the link is down,
// or cut off by a timeout or a lost connection, is answered at once with an error
// reply made here ("ERR smtpwall: ..."); the caller keeps what it must retry.
#pragma once

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/net.hpp"

namespace smtpwall {

// A Redis reply as a plain value.
struct RedisReply {
    enum class Type { nil, status, error, integer, string, array };
    Type type = Type::nil;
    std::string text;  // status, error, string
    long long integer = 0;
    std::vector<RedisReply> elements;

    bool is_error() const { return type == Type::error; }
    bool is_array() const { return type == Type::array; }
    // An error made on this side: the link is down, the command timed out.
    static RedisReply local_error(std::string why);
    bool is_local_error() const;
};

// Where a Redis server listens: a unix socket or a numeric address and port.
struct RedisEndpoint {
    std::string unix_path;  // set: a unix socket
    IpAddress address;
    std::uint16_t port = 0;
    // "unix:/path" or "192.0.2.5:6379" / "[2001:db8::5]:6379".
    static std::optional<RedisEndpoint> parse(std::string_view text, std::uint16_t default_port);
    std::string to_string() const;
};

class RedisLink {
  public:
    struct Options {
        std::string name;  // for the log: "redis", "redis-stream"
        std::string user, password;
        std::chrono::milliseconds connect_timeout{1000};
        std::chrono::milliseconds command_timeout{1000};
    };
    using Done = std::function<void(RedisReply)>;
    // Where to connect, asked before every attempt (Sentinel discovery); nullopt: not now.
    using Locate = std::function<boost::asio::awaitable<std::optional<RedisEndpoint>>()>;

    RedisLink(boost::asio::io_context& io, Options options);
    ~RedisLink();
    RedisLink(const RedisLink&) = delete;
    RedisLink& operator=(const RedisLink&) = delete;

    // on_ready runs on the Asio thread after each (re)connect and authentication;
    // on_lost when an established connection ends (not after failed attempts).
    void start(Locate locate, std::function<void()> on_ready, std::function<void()> on_lost);
    void stop();

    // Call on the Asio thread. `extra` lengthens this command's deadline (XREAD BLOCK).
    void command(std::vector<std::string> argv, Done done,
                 std::chrono::milliseconds extra = std::chrono::milliseconds(0));
    bool ready() const;
    // Ends the current connection (the next attempt locates Redis afresh).
    void drop(const std::string& why);
    const std::optional<RedisEndpoint>& endpoint() const { return endpoint_; }

    // One command on a connection of its own, for discovery (SENTINEL ..., ROLE):
    // the reply, or a local error after the connect or command timeout.
    static boost::asio::awaitable<RedisReply> one_shot(boost::asio::io_context& io,
                                                       const RedisEndpoint& where,
                                                       std::vector<std::string> argv,
                                                       const Options& options);

  private:
    struct Session;
    boost::asio::awaitable<void> run();
    static boost::asio::awaitable<void> read_loop(std::shared_ptr<Session> s);
    // AUTH with the options' credentials, or PING when there are none.
    static std::vector<std::string> greeting(const Options& options);
    // Sends argv on `s` and waits for its reply, or the connection's end.
    static boost::asio::awaitable<RedisReply> round_trip(std::shared_ptr<Session> s,
                                                         std::vector<std::string> argv,
                                                         std::chrono::milliseconds timeout);

    boost::asio::io_context& io_;
    const Options options_;
    Locate locate_;
    std::function<void()> on_ready_, on_lost_;
    std::shared_ptr<Session> session_;  // the live connection, when there is one
    std::optional<RedisEndpoint> endpoint_;
    bool ready_ = false;
    bool stopping_ = false;
    boost::asio::steady_timer backoff_timer_;
};

}  // namespace smtpwall
