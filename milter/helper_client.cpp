// The milter's link to smtpwall-helper on the Asio thread: queue, reconnect, sync.
#include "milter/helper_client.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "common/log.hpp"
#include "common/unix_socket.hpp"
#include "milter/metrics.hpp"

namespace smtpwall {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;

namespace {

// Single bans and unbans waiting while the helper is away; beyond this the oldest are
// dropped, which is safe: every active ban is resent once the helper is back. A sync
// is never cut (its BEGIN lost, its ADDs would count as new bans), whatever its size.
constexpr std::size_t kMaxQueued = 100000;

awaitable<std::string> read_line(asio::local::stream_protocol::socket& socket,
                                 std::string& buffer) {
    const auto n = co_await asio::async_read_until(
        socket, asio::dynamic_buffer(buffer, helperproto::kMaxLine), '\n', use_awaitable);
    std::string line = buffer.substr(0, n - 1);
    buffer.erase(0, n);
    co_return line;
}

}  // namespace

HelperClient::HelperClient(asio::io_context& io, std::string socket_path, uid_t server_uid)
    : io_(io),
      path_(std::move(socket_path)),
      server_uid_(server_uid),
      wake_writer_(io),
      resync_(io) {}

void HelperClient::start(std::function<void()> on_connected) {
    on_connected_ = std::move(on_connected);
    asio::co_spawn(io_, run(), asio::detached);
}

void HelperClient::stop() {
    asio::post(io_, [this] {
        stopping_ = true;
        wake_writer_.cancel();
        resync_.cancel();
    });
}

std::uint32_t HelperClient::take_id() {
    const auto id = next_id_++;
    if (next_id_ == 0) next_id_ = 1;  // 0 is not a valid request id
    return id;
}

void HelperClient::enqueue(helperproto::Request request, ReplyHandler done, Part part) {
    request.id = take_id();
    // (A LIST before removals is never given up for room: they would lose their counts.)
    const auto single = [](const Pending& p) { return p.part == Part::single && !p.sample; };
    if (part == Part::single && outbox_.size() >= kMaxQueued &&
        static_cast<std::size_t>(std::count_if(outbox_.begin(), outbox_.end(), single)) >=
            kMaxQueued) {
        const auto oldest = std::find_if(outbox_.begin(), outbox_.end(), single);
        if (oldest->done) oldest->done(std::nullopt);
        outbox_.erase(oldest);
    }
    outbox_.push_back({request.id, helperproto::format_request(request), std::move(done), part});
    wake_writer_.cancel();
}

void HelperClient::enqueue_sample() {
    if (!observer_ || sample_queued_) return;
    helperproto::Request req;
    req.verb = helperproto::Verb::list;
    enqueue(req, [this](std::optional<Reply> reply) {
        if (reply && reply->ok) observer_->listed(reply->entries);
    });
    outbox_.back().sample = true;
    sample_queued_ = true;
}

void HelperClient::enqueue_sample_after_sync() {
    if (!observer_) return;
    sample_queued_ = false;  // the one queued before the sync does not cover what follows
    enqueue_sample();
}

void HelperClient::drop_queued_syncs(bool started_too) {
    std::vector<ReplyHandler> dropped;
    auto it = started_too ? outbox_.begin()
                          : std::find_if(outbox_.begin(), outbox_.end(), [](const Pending& p) {
                                return p.part == Part::sync_begin;
                            });
    while (it != outbox_.end()) {
        if (it->part == Part::single) {
            if (!started_too) break;  // the end of that sync's run
            ++it;
            continue;
        }
        dropped.push_back(std::move(it->done));
        it = outbox_.erase(it);
    }
    for (auto& done : dropped)
        if (done) done(std::nullopt);
}

namespace {

helperproto::Request add_request(const Ban& ban) {
    helperproto::Request req;
    req.verb = helperproto::Verb::add;
    req.net = ban.key;
    req.expires = ban.expires;
    for (const auto& tag : ban.tags)
        if (req.tags.size() < helperproto::kMaxTags && valid_tag(tag)) req.tags.push_back(tag);
    return req;
}

}  // namespace

void HelperClient::ban(const Ban& ban, Done done) {
    const auto key = ban.key.to_string();
    asio::post(io_, [this, req = add_request(ban), key, done = std::move(done)] {
        enqueue(req, [key, done](std::optional<Reply> reply) {
            if (!reply) {
                if (done) done(Result::unknown);
                return;
            }
            if (!reply->ok) metrics().helper_error();
            if (!reply->ok)
                log_warning(fmt::format("helper refused ban {} {}", kv("client", key),
                                        kv("reason", reply->text)));
            if (done) done(reply->ok ? Result::applied : Result::refused);
        });
    });
}

// SYNC BEGIN, one ADD per ban, SYNC END: the helper makes the kernel hold exactly
// these bans (plus its core list), in one commit. Each ADD's answer is kept: what the
// helper refuses goes back to `done`, what its rate cap defers is sent again later.
void HelperClient::sync(const std::vector<Ban>& bans, SyncDone done) {
    std::vector<helperproto::Request> requests;
    requests.reserve(bans.size() + 2);
    helperproto::Request begin;
    begin.verb = helperproto::Verb::sync;
    begin.sync = helperproto::SyncOp::begin;
    requests.push_back(begin);
    for (const auto& ban : bans) requests.push_back(add_request(ban));
    helperproto::Request end = begin;
    end.sync = helperproto::SyncOp::end;
    requests.push_back(end);
    asio::post(io_, [this, requests = std::move(requests), done = std::move(done)] {
        // This one supersedes a sync still waiting to begin.
        drop_queued_syncs(false);
        enqueue_sample();  // a sync removes what it does not name
        auto outcome = std::make_shared<SyncOutcome>();
        const auto count = requests.size() - 2;
        enqueue(requests.front(), {}, Part::sync_begin);
        for (std::size_t i = 1; i + 1 < requests.size(); ++i)
            enqueue(
                requests[i],
                [outcome, key = requests[i].net](std::optional<Reply> reply) {
                    if (!reply || reply->ok) return;
                    if (reply->text.starts_with("limit ")) {
                        ++outcome->deferred;
                    } else {
                        outcome->refused.push_back(key);
                    }
                },
                Part::sync_rest);
        enqueue(
            requests.back(),
            [this, count, outcome, done](std::optional<Reply> reply) {
                if (!reply) return;  // connection lost: the next connect syncs again
                deferred_ = outcome->deferred;
                if (!reply->ok) {
                    log_warning(fmt::format("firewall sync failed {}", kv("error", reply->text)));
                    resync_later();
                    return;
                }
                log_info(fmt::format("firewall synced {} {} {} {}",
                                     kv("bans", std::to_string(count)), kv("result", reply->text),
                                     kv("refused", std::to_string(outcome->refused.size())),
                                     kv("deferred", std::to_string(outcome->deferred))));
                if (outcome->deferred > 0) {
                    log_warning(
                        fmt::format("firewall helper deferred {} bans (its rate cap); sending them "
                                    "again in 60 s",
                                    outcome->deferred));
                    resync_later();
                }
                if (done) done(std::move(*outcome));
            },
            Part::sync_rest);
        // What the sync removed leaves the history's view at once.
        enqueue_sample_after_sync();
    });
}

void HelperClient::resync_later() {
    resync_.expires_after(std::chrono::seconds(60));
    resync_.async_wait([this](boost::system::error_code ec) {
        if (!ec && connected_ && !stopping_ && on_connected_) on_connected_();
    });
}

void HelperClient::unban(const Cidr& key) {
    helperproto::Request req;
    req.verb = helperproto::Verb::del;
    req.net = key;
    asio::post(io_, [this, req] {
        enqueue_sample();
        enqueue(req, [this, net = req.net](std::optional<Reply> reply) {
            if (reply && observer_) observer_->removed(net);  // done, or was not there
        });
    });
}

void HelperClient::list(ListHandler done) {
    asio::post(io_, [this, done = std::move(done)]() mutable {
        if (!connected_) {
            done(std::nullopt);
            return;
        }
        helperproto::Request req;
        req.verb = helperproto::Verb::list;
        enqueue(req, [this, done = std::move(done)](std::optional<Reply> reply) {
            if (reply && reply->ok) {
                if (observer_) observer_->listed(reply->entries);
                done(std::move(reply->entries));
            } else {
                done(std::nullopt);
            }
        });
    });
}

void HelperClient::fail_inflight() {
    auto failed = std::move(inflight_);
    inflight_.clear();
    for (auto& p : failed)
        if (p.done) p.done(std::nullopt);
}

awaitable<void> HelperClient::run() {
    auto backoff = std::chrono::milliseconds(100);
    bool reported_down = false;
    while (!stopping_) {
        auto socket = std::make_shared<Socket>(io_);
        try {
            co_await socket->async_connect(asio::local::stream_protocol::endpoint(path_),
                                           use_awaitable);
            // Whoever could bind that name (a fake helper that swallows every ban) is not
            // trusted with one: only the helper's user or root.
            const auto server = peer_credentials(socket->native_handle());
            if (!server) throw std::runtime_error("cannot read the helper's credentials");
            if (!server->is_root_or(server_uid_))
                throw std::runtime_error(
                    fmt::format("refusing a helper served by uid {} pid {}: not helper.user "
                                "(uid {}) or root",
                                server->uid, server->pid, server_uid_));
            std::string buffer;
            const auto greeting = co_await read_line(*socket, buffer);
            if (greeting != helperproto::kGreeting)
                throw std::runtime_error("unexpected greeting from helper");
            helperproto::Request hello;
            hello.id = take_id();
            hello.verb = helperproto::Verb::hello;
            hello.version = helperproto::kVersion;
            co_await asio::async_write(
                *socket, asio::buffer(helperproto::format_request(hello) + "\n"), use_awaitable);
            const auto reply = helperproto::parse_reply_line(co_await read_line(*socket, buffer));
            if (!reply || !std::holds_alternative<helperproto::OkReply>(*reply))
                throw std::runtime_error("helper did not accept HELLO 1");

            connected_ = true;
            metrics().helper_connected();
            reported_down = false;
            backoff = std::chrono::milliseconds(100);
            log_info(fmt::format("connected to firewall helper {}", kv("socket", path_)));
            if (on_connected_) on_connected_();
            asio::co_spawn(io_, writer(socket), asio::detached);
            co_await reader(socket, std::move(buffer));
        } catch (const std::exception& e) {
            metrics().helper_error();
            if (connected_ || !reported_down)
                log_warning(fmt::format("firewall helper unavailable {} {}", kv("socket", path_),
                                        kv("error", e.what())));
            reported_down = true;
        }
        connected_ = false;
        boost::system::error_code ignored;
        socket->close(ignored);
        wake_writer_.cancel();
        fail_inflight();
        // A sync cut by the connection is over; the next connection starts a new one.
        drop_queued_syncs(true);
        if (stopping_) break;
        asio::steady_timer pause(io_, backoff);
        co_await pause.async_wait(asio::redirect_error(use_awaitable, ignored));
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
}

awaitable<void> HelperClient::writer(std::shared_ptr<Socket> socket) {
    while (connected_ && !stopping_ && socket->is_open()) {
        if (outbox_.empty()) {
            wake_writer_.expires_at(asio::steady_timer::time_point::max());
            boost::system::error_code ignored;
            co_await wake_writer_.async_wait(asio::redirect_error(use_awaitable, ignored));
            continue;
        }
        Pending next = std::move(outbox_.front());
        outbox_.pop_front();
        if (next.sample) sample_queued_ = false;
        const std::string wire = next.line + "\n";
        inflight_.push_back(std::move(next));
        boost::system::error_code ec;
        co_await asio::async_write(*socket, asio::buffer(wire),
                                   asio::redirect_error(use_awaitable, ec));
        if (ec) {
            socket->close(ec);
            co_return;
        }
    }
}

awaitable<void> HelperClient::reader(std::shared_ptr<Socket> socket, std::string buffer) {
    Entries entries;
    while (true) {
        const auto line = co_await read_line(*socket, buffer);
        const auto parsed = helperproto::parse_reply_line(line);
        if (!parsed) throw std::runtime_error("malformed reply from helper");
        const auto id = std::visit([](const auto& r) { return r.id; }, *parsed);
        if (inflight_.empty() || inflight_.front().id != id)
            throw std::runtime_error(fmt::format("reply for unexpected request id {}", id));
        if (const auto* e = std::get_if<helperproto::EntryLine>(&*parsed)) {
            entries.push_back(e->entry);
            continue;
        }
        Reply reply;
        if (const auto* ok = std::get_if<helperproto::OkReply>(&*parsed)) {
            reply.ok = true;
            reply.text = ok->text;
        } else {
            const auto& err = std::get<helperproto::ErrReply>(*parsed);
            reply.text = err.code + " " + err.message;
        }
        reply.entries = std::move(entries);
        entries.clear();
        Pending done = std::move(inflight_.front());
        inflight_.pop_front();
        if (done.done) done.done(std::move(reply));
    }
}

}  // namespace smtpwall
