// A pipelined Redis connection: hiredis's RESP codec over Asio sockets, with timeouts.
#include "milter/redis_link.hpp"

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <random>

#include "common/log.hpp"
#include "conf/milter_config.hpp"

namespace smtpwall {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;
using Socket = asio::generic::stream_protocol::socket;

namespace {

constexpr std::string_view kLocalError = "ERR smtpwall: ";

RedisReply from_hiredis(const redisReply* r) {
    RedisReply out;
    switch (r->type) {
        case REDIS_REPLY_STRING:
            out.type = RedisReply::Type::string;
            out.text.assign(r->str, r->len);
            break;
        case REDIS_REPLY_STATUS:
            out.type = RedisReply::Type::status;
            out.text.assign(r->str, r->len);
            break;
        case REDIS_REPLY_ERROR:
            out.type = RedisReply::Type::error;
            out.text.assign(r->str, r->len);
            break;
        case REDIS_REPLY_INTEGER:
            out.type = RedisReply::Type::integer;
            out.integer = r->integer;
            break;
        case REDIS_REPLY_ARRAY:
            out.type = RedisReply::Type::array;
            out.elements.reserve(r->elements);
            for (std::size_t i = 0; i < r->elements; ++i)
                out.elements.push_back(from_hiredis(r->element[i]));
            break;
        default:
            out.type = RedisReply::Type::nil;
    }
    return out;
}

std::string encode(const std::vector<std::string>& argv) {
    std::vector<const char*> args;
    std::vector<std::size_t> lengths;
    for (const auto& a : argv) {
        args.push_back(a.data());
        lengths.push_back(a.size());
    }
    char* wire = nullptr;
    const int n =
        redisFormatCommandArgv(&wire, static_cast<int>(args.size()), args.data(), lengths.data());
    if (n < 0 || wire == nullptr) throw std::bad_alloc();
    std::string out(wire, static_cast<std::size_t>(n));
    redisFreeCommand(wire);
    return out;
}

asio::generic::stream_protocol::endpoint to_asio(const RedisEndpoint& where) {
    if (!where.unix_path.empty()) return asio::local::stream_protocol::endpoint(where.unix_path);
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(where.address.to_string(), ec);
    if (ec) throw std::runtime_error("bad Redis address " + where.address.to_string());
    return asio::ip::tcp::endpoint(address, where.port);
}

}  // namespace

RedisReply RedisReply::local_error(std::string why) {
    RedisReply r;
    r.type = Type::error;
    r.text = std::string(kLocalError) + why;
    return r;
}

bool RedisReply::is_local_error() const {
    return type == Type::error && text.starts_with(kLocalError);
}

std::optional<RedisEndpoint> RedisEndpoint::parse(std::string_view text,
                                                  std::uint16_t default_port) {
    RedisEndpoint out;
    if (text.starts_with("unix:")) {
        out.unix_path = std::string(text.substr(5));
        if (out.unix_path.empty() || out.unix_path.front() != '/') return std::nullopt;
        return out;
    }
    const auto where = conf::parse_host_port(text, default_port);
    if (!where || where->second == 0) return std::nullopt;
    out.address = where->first;
    out.port = where->second;
    return out;
}

std::string RedisEndpoint::to_string() const {
    if (!unix_path.empty()) return "unix:" + unix_path;
    if (address.family == Family::v6) return fmt::format("[{}]:{}", address.to_string(), port);
    return fmt::format("{}:{}", address.to_string(), port);
}

// One established connection: the socket, hiredis's reader, and the commands whose
// replies are due, oldest first.
struct RedisLink::Session {
    struct Pending {
        Done done;
        Clock::time_point deadline;
    };
    explicit Session(asio::io_context& io) : socket(io), watchdog(io), ended(io) {
        ended.expires_at(Clock::time_point::max());
    }
    ~Session() {
        if (reader) redisReaderFree(reader);
    }

    void send(std::vector<std::string> argv, Done done, std::chrono::milliseconds timeout) {
        if (closed) {
            if (done) done(RedisReply::local_error("connection lost"));
            return;
        }
        out += encode(argv);
        inflight.push_back({std::move(done), Clock::now() + timeout});
        if (inflight.size() == 1) arm_watchdog();
        if (!writing) write_more();
    }

    void write_more() {
        if (out.empty() || closed) {
            writing = false;
            return;
        }
        writing = true;
        writing_now = std::move(out);
        out.clear();
        asio::async_write(socket, asio::buffer(writing_now),
                          [self = self_ref.lock()](boost::system::error_code ec, std::size_t) {
                              if (!self) return;
                              if (ec) {
                                  self->close("write failed: " + ec.message());
                                  return;
                              }
                              self->write_more();
                          });
    }

    void arm_watchdog() {
        if (inflight.empty() || closed) return;
        watchdog.expires_at(inflight.front().deadline);
        watchdog.async_wait([self = self_ref.lock()](boost::system::error_code ec) {
            if (ec || !self || self->closed || self->inflight.empty()) return;
            if (self->inflight.front().deadline <= Clock::now()) {
                self->close("no answer in time");
            } else {
                self->arm_watchdog();
            }
        });
    }

    // Ends the connection: every command still waiting gets a local error.
    void close(const std::string& why) {
        if (closed) return;
        closed = true;
        reason = why;
        boost::system::error_code ignored;
        socket.close(ignored);
        watchdog.cancel();
        auto failed = std::move(inflight);
        inflight.clear();
        for (auto& p : failed)
            if (p.done) p.done(RedisReply::local_error(why));
        ended.cancel();
    }

    // Feeds what arrived to hiredis and answers the oldest commands. False on a
    // protocol error.
    bool take(const char* data, std::size_t size) {
        if (redisReaderFeed(reader, data, size) != REDIS_OK) return false;
        while (true) {
            void* raw = nullptr;
            if (redisReaderGetReply(reader, &raw) != REDIS_OK) return false;
            if (raw == nullptr) return true;
            RedisReply reply = from_hiredis(static_cast<redisReply*>(raw));
            freeReplyObject(raw);
            if (inflight.empty()) return false;  // an answer nobody asked for
            auto pending = std::move(inflight.front());
            inflight.pop_front();
            arm_watchdog();
            if (pending.done) pending.done(std::move(reply));
            if (closed) return true;
        }
    }

    Socket socket;
    asio::steady_timer watchdog;
    asio::steady_timer ended;  // cancelled when the connection ends
    redisReader* reader = redisReaderCreate();
    std::string out, writing_now;
    bool writing = false;
    bool closed = false;
    std::string reason;
    std::deque<Pending> inflight;
    std::weak_ptr<Session> self_ref;
};

RedisLink::RedisLink(asio::io_context& io, Options options)
    : io_(io), options_(std::move(options)), backoff_timer_(io) {}

RedisLink::~RedisLink() {
    if (session_) session_->close("shutting down");
}

void RedisLink::start(Locate locate, std::function<void()> on_ready,
                      std::function<void()> on_lost) {
    locate_ = std::move(locate);
    on_ready_ = std::move(on_ready);
    on_lost_ = std::move(on_lost);
    asio::co_spawn(io_, run(), asio::detached);
}

void RedisLink::stop() {
    asio::post(io_, [this] {
        stopping_ = true;
        backoff_timer_.cancel();
        if (session_) session_->close("shutting down");
    });
}

bool RedisLink::ready() const {
    return ready_ && session_ && !session_->closed;
}

void RedisLink::command(std::vector<std::string> argv, Done done, std::chrono::milliseconds extra) {
    if (!ready()) {
        if (done) done(RedisReply::local_error("not connected"));
        return;
    }
    session_->send(std::move(argv), std::move(done), options_.command_timeout + extra);
}

namespace {

// Connects `socket` to `where` within `timeout`; throws on failure.
awaitable<void> connect_within(Socket& socket, const RedisEndpoint& where,
                               std::chrono::milliseconds timeout) {
    auto& io = static_cast<asio::io_context&>(socket.get_executor().context());
    asio::steady_timer guard(io);
    guard.expires_after(timeout);
    bool timed_out = false;
    guard.async_wait([&socket, &timed_out](boost::system::error_code ec) {
        if (ec) return;
        timed_out = true;
        boost::system::error_code ignored;
        socket.close(ignored);
    });
    const auto endpoint = to_asio(where);
    socket.open(endpoint.protocol());
    try {
        co_await socket.async_connect(endpoint, use_awaitable);
    } catch (const boost::system::system_error& e) {
        guard.cancel();
        throw std::runtime_error(timed_out ? "connect timed out" : e.code().message());
    }
    guard.cancel();
}

}  // namespace

std::vector<std::string> RedisLink::greeting(const Options& options) {
    if (options.password.empty()) return {"PING"};
    std::vector<std::string> auth = {"AUTH"};
    if (!options.user.empty()) auth.push_back(options.user);
    auth.push_back(options.password);
    return auth;
}

awaitable<RedisReply> RedisLink::round_trip(std::shared_ptr<Session> s,
                                            std::vector<std::string> argv,
                                            std::chrono::milliseconds timeout) {
    auto result = std::make_shared<std::optional<RedisReply>>();
    s->send(
        std::move(argv), [result](RedisReply r) { *result = std::move(r); }, timeout);
    boost::system::error_code ec;
    while (!*result && !s->closed) {
        s->ended.expires_after(std::chrono::milliseconds(5));
        co_await s->ended.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    co_return result->value_or(RedisReply::local_error(s->reason));
}

awaitable<RedisReply> RedisLink::one_shot(asio::io_context& io, const RedisEndpoint& where,
                                          std::vector<std::string> argv, const Options& options) {
    auto s = std::make_shared<Session>(io);
    s->self_ref = s;
    try {
        co_await connect_within(s->socket, where, options.connect_timeout);
    } catch (const std::exception& e) {
        co_return RedisReply::local_error(e.what());
    }
    asio::co_spawn(io, read_loop(s), asio::detached);
    auto reply = co_await round_trip(s, greeting(options), options.command_timeout);
    if (!reply.is_error()) reply = co_await round_trip(s, std::move(argv), options.command_timeout);
    s->close("done");
    co_return reply;
}

// Reads until the connection ends; the session answers its commands meanwhile.
awaitable<void> RedisLink::read_loop(std::shared_ptr<Session> s) {
    std::array<char, 16384> buffer;
    while (!s->closed) {
        boost::system::error_code ec;
        const auto n = co_await s->socket.async_read_some(asio::buffer(buffer),
                                                          asio::redirect_error(use_awaitable, ec));
        if (ec) {
            s->close(ec == asio::error::eof ? "closed by Redis" : ec.message());
            break;
        }
        if (!s->take(buffer.data(), n)) s->close("protocol error");
    }
}

void RedisLink::drop(const std::string& why) {
    if (session_) session_->close(why);
}

awaitable<void> RedisLink::run() {
    std::mt19937 jitter(std::random_device{}());
    auto backoff = std::chrono::milliseconds(200);
    bool reported_down = false;
    while (!stopping_) {
        std::optional<RedisEndpoint> where;
        try {
            where = co_await locate_();
        } catch (const std::exception& e) {
            log_warning(
                fmt::format("{}: cannot locate Redis {}", options_.name, kv("error", e.what())));
        }
        std::string failure = "no Redis master known";
        if (where) {
            auto s = std::make_shared<Session>(io_);
            s->self_ref = s;
            try {
                co_await connect_within(s->socket, *where, options_.connect_timeout);
                asio::co_spawn(io_, read_loop(s), asio::detached);
                const auto hello =
                    co_await round_trip(s, greeting(options_), options_.command_timeout);
                if (hello.is_local_error()) throw std::runtime_error(hello.text);
                if (hello.is_error()) throw std::runtime_error("refused: " + hello.text);
                session_ = s;
                endpoint_ = where;
                ready_ = true;
                backoff = std::chrono::milliseconds(200);
                reported_down = false;
                log_info(fmt::format("{}: connected {}", options_.name,
                                     kv("redis", where->to_string())));
                if (on_ready_) on_ready_();
                s->ended.expires_at(Clock::time_point::max());
                boost::system::error_code ec;
                while (!s->closed)
                    co_await s->ended.async_wait(asio::redirect_error(use_awaitable, ec));
                failure = s->reason;
                ready_ = false;
                session_.reset();
                if (!stopping_)
                    log_warning(fmt::format("{}: connection lost {} {}", options_.name,
                                            kv("redis", where->to_string()), kv("error", failure)));
                if (on_lost_) on_lost_();
                continue;  // straight back: a failover is found at once
            } catch (const std::exception& e) {
                failure = e.what();
                s->close(failure);
            }
        }
        if (stopping_) break;
        if (!reported_down) {
            log_warning(fmt::format("{}: Redis unavailable {} {}", options_.name,
                                    kv("redis", where ? where->to_string() : "-"),
                                    kv("error", failure)));
            reported_down = true;
        }
        // 0.2 s doubling to 30 s, with jitter so that the MX hosts do not return in step.
        const auto wait = backoff + std::chrono::milliseconds(jitter() % (backoff.count() / 2 + 1));
        backoff = std::min(backoff * 2, std::chrono::milliseconds(30000));
        backoff_timer_.expires_after(wait);
        boost::system::error_code ec;
        co_await backoff_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
    }
}

}  // namespace smtpwall
