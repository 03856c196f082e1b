// Control protocol, as served here (and spoken by smtpwallctl):
//
//   Transport  unix stream socket (config [control] socket, mode socket_mode,
//              group socket_group). Usable by hand:
//              socat - UNIX-CONNECT:/run/smtpwall/control.sock
//   Request    one line: VERB [OPTIONS], at most 1024 bytes, "\n" or "\r\n".
//              ping | tallies [--top N] [--tag TAG] [--json] | bans [--json] |
//              check --ip ADDR [--helo NAME] [--from ADDR] [--json] | help
//   Reply      a status line "OK" or "ERR <why>", then the body, then a line
//              holding a single "."; body lines starting with "." get another
//              "." in front (SMTP dot-stuffing). --json bodies are one JSON
//              document. Several requests may follow on one connection.
//   Limits     an over-long or non-printable request gets ERR and the
//              connection is closed; idle connections close after 60 s.
//
// Every command here only reads; nothing a client sends changes tallies or bans.
// `check` classifies a client with live DNS as a session would, and tallies nothing.

#include "milter/control_server.hpp"

#include <fmt/format.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "milter/logging.hpp"
#include "milter/report.hpp"

namespace smtpwall {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;

namespace {
constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr auto kHelperTimeout = std::chrono::seconds(5);
constexpr auto kCheckTimeout = std::chrono::seconds(30);
}  // namespace

ControlServer::ControlServer(asio::io_context& io, const conf::MilterConfig::Control& config,
                             Enforcement& enforcement, HelperClient& helper, Clock clock,
                             Checker checker)
    : io_(io),
      config_(config),
      enforcement_(enforcement),
      helper_(helper),
      clock_(std::move(clock)),
      checker_(std::move(checker)),
      acceptor_(io) {}

void ControlServer::start() {
    ::unlink(config_.socket.c_str());
    const mode_t old_mask = ::umask(0177);  // no window where the socket is wider open
    acceptor_.open();
    boost::system::error_code ec;
    acceptor_.bind(asio::local::stream_protocol::endpoint(config_.socket), ec);
    ::umask(old_mask);
    if (ec)
        throw std::runtime_error(
            fmt::format("control socket {}: {}", config_.socket, ec.message()));
    acceptor_.listen();
    if (!config_.socket_group.empty()) {
        const group* gr = ::getgrnam(config_.socket_group.c_str());
        if (gr == nullptr ||
            ::chown(config_.socket.c_str(), static_cast<uid_t>(-1), gr->gr_gid) != 0)
            throw std::runtime_error(
                fmt::format("control socket: cannot give it group {}", config_.socket_group));
    }
    if (::chmod(config_.socket.c_str(), config_.socket_mode) != 0)
        throw std::runtime_error(fmt::format("control socket: chmod {}", config_.socket));
    asio::co_spawn(io_, accept_loop(), asio::detached);
}

void ControlServer::stop() {
    asio::post(io_, [this] {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        ::unlink(config_.socket.c_str());
    });
}

awaitable<void> ControlServer::accept_loop() {
    while (acceptor_.is_open()) {
        boost::system::error_code ec;
        Socket socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
        if (ec) {
            if (ec == asio::error::operation_aborted) co_return;
            continue;
        }
        asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
    }
}

awaitable<void> ControlServer::serve(Socket socket) {
    std::string buffer;
    asio::steady_timer idle(io_);
    try {
        while (true) {
            idle.expires_after(kIdleTimeout);
            idle.async_wait([&socket](boost::system::error_code ec) {
                if (!ec) socket.close(ec);
            });
            boost::system::error_code ec;
            const auto n = co_await asio::async_read_until(
                socket, asio::dynamic_buffer(buffer, control::kMaxRequestLine + 2), '\n',
                asio::redirect_error(use_awaitable, ec));
            idle.cancel();
            if (ec == asio::error::not_found) {
                co_await asio::async_write(
                    socket, asio::buffer(control::frame_reply(false, "request line too long", "")),
                    use_awaitable);
                co_return;
            }
            if (ec) co_return;  // closed by the client or the idle timer
            const std::string line = buffer.substr(0, n - 1);
            buffer.erase(0, n);

            const auto parsed = control::parse_request(line);
            if (const auto* err = std::get_if<control::RequestError>(&parsed)) {
                co_await asio::async_write(
                    socket, asio::buffer(control::frame_reply(false, err->message, "")),
                    use_awaitable);
                continue;
            }
            std::string reply;
            try {
                reply = co_await execute(std::get<control::Request>(parsed));
            } catch (const std::exception& e) {
                log_error(fmt::format("control command failed {}", kv("error", e.what())));
                reply = control::frame_reply(false, "internal error", "");
            }
            co_await asio::async_write(socket, asio::buffer(reply), use_awaitable);
        }
    } catch (const std::exception&) {
        // The client went away mid-reply; nothing to clean up beyond the socket.
    }
}

awaitable<std::optional<HelperClient::Entries>> ControlServer::kernel_entries() {
    // The helper answers on this same thread; a timer doubles as the wake-up signal.
    auto result = std::make_shared<std::optional<std::optional<HelperClient::Entries>>>();
    auto timer = std::make_shared<asio::steady_timer>(io_, kHelperTimeout);
    helper_.list([result, timer](std::optional<HelperClient::Entries> entries) {
        *result = std::move(entries);
        timer->cancel();
    });
    boost::system::error_code ignored;
    co_await timer->async_wait(asio::redirect_error(use_awaitable, ignored));
    if (!result->has_value()) co_return std::nullopt;  // timed out
    co_return std::move(**result);
}

awaitable<std::string> ControlServer::live_check(const control::Request& req) {
    // DNS answers on its own thread; the reply is handed back to this one.
    auto reply = std::make_shared<std::optional<std::string>>();
    auto timer = std::make_shared<asio::steady_timer>(io_, kCheckTimeout);
    checker_(req, [reply, timer, &io = io_](std::string text) {
        asio::post(io, [reply, timer, text = std::move(text)]() mutable {
            *reply = std::move(text);
            timer->cancel();
        });
    });
    boost::system::error_code ignored;
    co_await timer->async_wait(asio::redirect_error(use_awaitable, ignored));
    if (!reply->has_value())
        co_return control::frame_reply(false, "DNS lookups did not finish in time", "");
    co_return std::move(**reply);
}

awaitable<std::string> ControlServer::execute(const control::Request& req) {
    const UnixTime now = clock_();
    if (req.verb == "ping") co_return control::frame_reply(true, "pong", "");
    if (req.verb == "help") co_return control::frame_reply(true, "", control::help_text());
    if (req.verb == "tallies") {
        const auto rows = enforcement_.top(req.top, req.tag, now);
        if (req.json)
            co_return control::frame_reply(true, "",
                                           tallies_json(rows, enforcement_.window()).dump() + "\n");
        co_return control::frame_reply(true, "", render_tallies(rows, enforcement_.window()));
    }
    if (req.verb == "bans") {
        const auto kernel = co_await kernel_entries();
        const auto views = join_bans(enforcement_.bans(), kernel);
        if (req.json) {
            nlohmann::json doc = {{"kernel_known", kernel.has_value()}, {"bans", bans_json(views)}};
            co_return control::frame_reply(true, "", doc.dump() + "\n");
        }
        co_return control::frame_reply(true, "", render_bans(views, kernel.has_value()));
    }
    if (req.verb == "check") co_return co_await live_check(req);
    co_return control::frame_reply(false, "unknown command", "");
}

}  // namespace smtpwall
