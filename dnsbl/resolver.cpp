// The asynchronous stub resolver: UDP with retries, TCP on truncation, cache,
// shared in-flight queries.
#include "dnsbl/resolver.hpp"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <stdexcept>
#include <unordered_map>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "dnsbl/cache.hpp"
#include "dnsbl/codec.hpp"

namespace smtpwall::dns {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using Clock = std::chrono::steady_clock;
using Bytes = std::vector<std::uint8_t>;

namespace {

// Length-prefixed exchange over TCP (RFC 1035 4.2.2, RFC 7766); throws on any error.
// The caller's timer closes the socket to abort it.
asio::awaitable<Bytes> tcp_exchange(std::shared_ptr<tcp::socket> sock, tcp::endpoint server,
                                    Bytes query) {
    co_await sock->async_connect(server, asio::use_awaitable);
    std::array<std::uint8_t, 2> len{static_cast<std::uint8_t>(query.size() >> 8),
                                    static_cast<std::uint8_t>(query.size())};
    const std::array<asio::const_buffer, 2> out{asio::buffer(len), asio::buffer(query)};
    co_await asio::async_write(*sock, out, asio::use_awaitable);
    co_await asio::async_read(*sock, asio::buffer(len), asio::use_awaitable);
    Bytes reply(static_cast<std::size_t>(len[0] << 8 | len[1]));
    co_await asio::async_read(*sock, asio::buffer(reply), asio::use_awaitable);
    co_return reply;
}

struct Counters {
    std::atomic<std::uint64_t> lookups{0}, cache_hits{0}, shared{0}, queries_sent{0},
        tcp_fallbacks{0}, replies{0}, ignored{0}, timeouts{0}, network_errors{0}, failures{0},
        in_flight{0}, cache_entries{0}, callback_errors{0};
};

Result failure(Status status) {
    Result r;
    r.status = status;
    return r;
}

void bump(std::atomic<std::uint64_t>& counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

// All state below is touched only on strand_; lookup() and shutdown() post to it.
class Resolver::Impl : public std::enable_shared_from_this<Impl> {
  public:
    Impl(asio::io_context& io, ResolverConfig config);
    void lookup(std::string name, RType type, Callback done);
    void shutdown();
    Stats stats() const;

  private:
    struct Waiter {
        Callback done;
        Clock::time_point start;
    };
    struct Socket;
    // One distinct (name, type) being resolved, shared by every caller asking for it.
    struct Query {
        Query(asio::strand<asio::io_context::executor_type>& strand, std::string key_,
              std::string name_, RType type_)
            : key(std::move(key_)),
              name(std::move(name_)),
              qname(name),
              type(type_),
              timer(strand) {}
        std::string key, name;  // in-flight key; the name the callers asked for
        std::string qname;      // the name on the wire (differs after a CNAME)
        RType type;
        std::vector<Waiter> waiters;
        Bytes packet;
        asio::steady_timer timer;
        unsigned generation = 0;  // bumped per attempt: stale timers/TCP results are ignored
        int tries = 0;
        int hops = 0;
        std::uint32_t chain_ttl = std::numeric_limits<std::uint32_t>::max();
        Status last_failure = Status::timeout;
        std::shared_ptr<Socket> socket;  // where it waits for a UDP reply
        std::uint16_t id = 0;
        std::shared_ptr<tcp::socket> stream;  // TCP fallback in progress
        bool finished = false;
    };
    using QueryPtr = std::shared_ptr<Query>;
    // A connected UDP socket: the kernel picks a random source port, ICMP errors come
    // back as connection_refused, and only the server's address can reach it.
    struct Socket {
        explicit Socket(asio::strand<asio::io_context::executor_type>& strand) : sock(strand) {}
        udp::socket sock;
        std::unordered_map<std::uint16_t, QueryPtr> pending;  // by query id
        int sent = 0;
        bool retired = false;  // replaced in the pool; closes once pending drains
        std::array<std::uint8_t, 65536> buf;
    };
    using SocketPtr = std::shared_ptr<Socket>;

    void start(std::optional<std::string> name, RType type, Waiter waiter);
    // A caller's callback must not throw; if one does anyway, the others waiting on the
    // same query still get their answer and the socket's read loop keeps running.
    void deliver(Waiter& waiter, const Result& result) noexcept {
        try {
            waiter.done(result);
        } catch (const std::exception& e) {
            callback_failed(e.what());
        } catch (...) {
            callback_failed("unknown exception");
        }
    }
    void callback_failed(std::string_view what) noexcept {
        bump(counters_.callback_errors);
        try {
            if (config_.on_callback_error) config_.on_callback_error(what);
        } catch (...) {
        }
    }
    std::optional<Result> cached_locked(std::string_view name, RType type, Clock::time_point now) {
        const std::lock_guard lock(cache_mutex_);
        return cache_.get(name, type, now);
    }

  public:
    std::optional<Result> cached(std::string_view name, RType type) {
        const auto clean = normalize_name(name);
        if (!clean || stopped_) return std::nullopt;
        auto hit = cached_locked(*clean, type, Clock::now());
        if (hit) {
            bump(counters_.lookups);
            bump(counters_.cache_hits);
        }
        return hit;
    }

  private:
    void send_packet(const QueryPtr& q);  // (re)starts the current name's attempts
    void next_attempt(const QueryPtr& q);
    void arm_timer(const QueryPtr& q);
    void start_tcp(const QueryPtr& q);
    void on_reply(const QueryPtr& q, std::span<const std::uint8_t> reply, bool via_tcp);
    void complete(const QueryPtr& q, Result result, bool cacheable);
    void detach(Query& q);
    SocketPtr pick_socket(std::size_t server);
    void read(const SocketPtr& s);
    void on_read(const SocketPtr& s, boost::system::error_code ec, std::size_t size);
    void on_datagram(const SocketPtr& s, std::span<const std::uint8_t> reply);
    void fail_pending(Socket& s);
    std::uint16_t random16();

    asio::strand<asio::io_context::executor_type> strand_;
    const ResolverConfig config_;
    // The strand owns the cache, but cached() reads it from callers' threads too: a
    // hit then costs a lock instead of two thread hand-offs.
    std::mutex cache_mutex_;
    Cache cache_;
    std::vector<std::vector<SocketPtr>> pools_;  // per server
    std::unordered_map<std::string, QueryPtr> in_flight_;
    std::array<std::uint16_t, 512> random_{};
    std::size_t random_used_ = random_.size();
    std::atomic<bool> stopped_{false};  // read by cached() from other threads too
    std::atomic<bool> stopping_{false};
    Counters counters_;
};

Resolver::Impl::Impl(asio::io_context& io, ResolverConfig config)
    : strand_(asio::make_strand(io)),
      config_(std::move(config)),
      cache_(CachePolicy{config_.min_ttl, config_.max_ttl, config_.max_negative_ttl,
                         static_cast<std::uint32_t>(config_.temp_failure_ttl.count()),
                         config_.max_entries, config_.max_cache_bytes}),
      pools_(config_.servers.size(), std::vector<SocketPtr>(static_cast<std::size_t>(
                                         std::max(1, config_.sockets_per_server)))) {
    if (config_.servers.empty()) throw std::invalid_argument("DNS resolver: no servers");
}

void Resolver::Impl::lookup(std::string name, RType type, Callback done) {
    bump(counters_.lookups);
    Waiter waiter{std::move(done), Clock::now()};
    // Validation runs on the caller's thread: the strand only sees clean names.
    asio::post(strand_, [self = shared_from_this(), n = normalize_name(name), type,
                         w = std::move(waiter)]() mutable {
        self->start(std::move(n), type, std::move(w));
    });
}

void Resolver::Impl::start(std::optional<std::string> name, RType type, Waiter waiter) {
    const auto now = Clock::now();
    if (stopped_ || !name) {
        Result r;
        r.latency = std::chrono::duration_cast<std::chrono::microseconds>(now - waiter.start);
        deliver(waiter, r);
        return;
    }
    if (auto hit = cached_locked(*name, type, now)) {
        bump(counters_.cache_hits);
        hit->latency = std::chrono::duration_cast<std::chrono::microseconds>(now - waiter.start);
        deliver(waiter, *hit);
        return;
    }
    std::string key = std::to_string(static_cast<int>(type)) + '/' + *name;
    if (const auto it = in_flight_.find(key); it != in_flight_.end()) {
        bump(counters_.shared);
        it->second->waiters.push_back(std::move(waiter));
        return;
    }
    auto q = std::make_shared<Query>(strand_, key, std::move(*name), type);
    q->waiters.push_back(std::move(waiter));
    in_flight_.emplace(std::move(key), q);
    counters_.in_flight.store(in_flight_.size(), std::memory_order_relaxed);
    send_packet(q);
}

void Resolver::Impl::send_packet(const QueryPtr& q) {
    q->packet = encode_query(q->qname, q->type, 0);
    q->tries = 0;
    q->last_failure = Status::timeout;
    if (q->packet.empty()) return complete(q, Result{}, false);
    next_attempt(q);
}

void Resolver::Impl::next_attempt(const QueryPtr& q) {
    detach(*q);
    ++q->generation;
    if (q->tries >= std::max(1, config_.attempts)) {
        return complete(q, failure(q->last_failure), false);
    }
    const std::size_t server = static_cast<std::size_t>(q->tries++) % config_.servers.size();
    const SocketPtr s = pick_socket(server);
    if (!s) {
        bump(counters_.network_errors);
        q->last_failure = Status::error;
        return next_attempt(q);
    }
    do q->id = random16();
    while (s->pending.count(q->id) != 0);
    set_packet_id(q->packet, q->id);
    boost::system::error_code ec;
    s->sock.send(asio::buffer(q->packet), 0, ec);  // non-blocking; UDP sends don't queue
    bump(counters_.queries_sent);
    if (ec) {
        bump(counters_.network_errors);
        q->last_failure = Status::error;
        return next_attempt(q);
    }
    s->pending.emplace(q->id, q);
    q->socket = s;
    arm_timer(q);
}

void Resolver::Impl::arm_timer(const QueryPtr& q) {
    q->timer.expires_after(config_.timeout);
    q->timer.async_wait([self = shared_from_this(), q, gen = q->generation](auto ec) {
        if (ec || q->finished || gen != q->generation) return;
        bump(self->counters_.timeouts);
        q->last_failure = Status::timeout;
        self->next_attempt(q);
    });
}

Resolver::Impl::SocketPtr Resolver::Impl::pick_socket(std::size_t server) {
    auto& pool = pools_[server];
    SocketPtr& s = pool[random16() % pool.size()];
    // A socket is retired after a few sends so that the source port changes often, and
    // long before its 16-bit id space gets crowded.
    if (s && (s->sent >= config_.queries_per_socket || s->pending.size() >= 4096)) {
        s->retired = true;
        if (s->pending.empty()) s->sock.close();
        s.reset();
    }
    if (!s) {
        auto fresh = std::make_shared<Socket>(strand_);
        boost::system::error_code ec;
        const udp::endpoint& ep = config_.servers[server];
        fresh->sock.open(ep.protocol(), ec);
        if (!ec) fresh->sock.non_blocking(true, ec);
        if (!ec) {
            // Bursts of replies overflow the default buffer; the kernel caps this at
            // net.core.rmem_max, which is fine.
            boost::system::error_code ignored;
            fresh->sock.set_option(udp::socket::receive_buffer_size(1 << 20), ignored);
            fresh->sock.connect(ep, ec);
        }
        if (ec) return nullptr;
        s = fresh;
        read(s);
    }
    ++s->sent;
    return s;
}

void Resolver::Impl::read(const SocketPtr& s) {
    s->sock.async_receive(
        asio::buffer(s->buf),
        [self = shared_from_this(), s](auto ec, std::size_t n) { self->on_read(s, ec, n); });
}

void Resolver::Impl::on_read(const SocketPtr& s, boost::system::error_code ec, std::size_t size) {
    // Never re-arm after shutdown or close: a closed socket completes at once.
    if (stopped_ || !s->sock.is_open() || ec == asio::error::operation_aborted) return;
    // Drain what is queued without a round trip through the reactor, a bounded number
    // of datagrams at a time so that other sockets get their turn.
    for (int i = 0;; ++i) {
        if (i > 0) {
            if (i == 64 || !s->sock.is_open()) break;
            size = s->sock.receive(asio::buffer(s->buf), 0, ec);
        }
        if (ec == asio::error::would_block || ec == asio::error::try_again) break;
        if (ec == asio::error::connection_refused || ec == asio::error::host_unreachable ||
            ec == asio::error::network_unreachable) {
            // An ICMP error: the server is not there. Every query on this socket went to
            // it, so all of them move on to their next attempt.
            bump(counters_.network_errors);
            fail_pending(*s);
        } else if (ec) {
            // Anything else is not expected to clear up: drop the socket.
            bump(counters_.network_errors);
            s->retired = true;
            for (auto& pool : pools_) std::replace(pool.begin(), pool.end(), s, SocketPtr{});
            fail_pending(*s);
            s->sock.close();
            return;
        } else {
            on_datagram(s, std::span<const std::uint8_t>(s->buf.data(), size));
        }
    }
    if (s->sock.is_open()) read(s);
}

void Resolver::Impl::on_datagram(const SocketPtr& s, std::span<const std::uint8_t> reply) {
    const auto it = s->pending.find(packet_id(reply));
    // A wrong id or question is ignored and the query keeps waiting: a forged or late
    // datagram must neither end a lookup nor be believed.
    if (it == s->pending.end() || !matches_query(reply, it->second->packet)) {
        bump(counters_.ignored);
        return;
    }
    const QueryPtr q = it->second;
    bump(counters_.replies);
    on_reply(q, reply, false);
}

void Resolver::Impl::fail_pending(Socket& s) {
    auto pending = std::move(s.pending);
    s.pending.clear();
    for (auto& [id, q] : pending) {
        q->socket.reset();
        q->last_failure = Status::error;
        next_attempt(q);
    }
}

void Resolver::Impl::start_tcp(const QueryPtr& q) {
    bump(counters_.tcp_fallbacks);
    const udp::endpoint& server =
        config_.servers[static_cast<std::size_t>(q->tries - 1) % config_.servers.size()];
    detach(*q);
    const unsigned gen = ++q->generation;
    q->id = random16();
    set_packet_id(q->packet, q->id);
    q->stream = std::make_shared<tcp::socket>(strand_);
    arm_timer(q);
    asio::co_spawn(
        strand_, tcp_exchange(q->stream, tcp::endpoint(server.address(), server.port()), q->packet),
        asio::bind_executor(
            strand_, [self = shared_from_this(), q, gen](std::exception_ptr error, Bytes reply) {
                if (q->finished || gen != q->generation) return;
                if (error || !matches_query(reply, q->packet)) {
                    bump(self->counters_.network_errors);
                    q->last_failure = Status::error;
                    return self->next_attempt(q);
                }
                bump(self->counters_.replies);
                self->on_reply(q, reply, true);
            }));
}

void Resolver::Impl::on_reply(const QueryPtr& q, std::span<const std::uint8_t> wire, bool via_tcp) {
    Reply reply = decode_reply(wire, q->qname, q->type);
    if (reply.truncated && !via_tcp) return start_tcp(q);
    if (reply.truncated) reply.result.status = Status::error;  // TC over TCP: broken server
    if (reply.result.temporary()) {
        q->last_failure = reply.result.status;
        // Another server may do better; asking the same one again at once would not.
        if (config_.servers.size() > 1 && q->tries < config_.attempts) return next_attempt(q);
        return complete(q, failure(reply.result.status), false);
    }
    q->chain_ttl = std::min(q->chain_ttl, reply.result.ttl);
    if (!reply.cname_target.empty()) {
        // The answer stops at an alias whose target lives elsewhere: ask for the
        // target, a bounded number of times (loops end here too).
        auto target = normalize_name(reply.cname_target);
        if (!target || ++q->hops > max_cname_chain) return complete(q, Result{}, false);
        detach(*q);
        q->qname = std::move(*target);
        if (auto hit = cached_locked(q->qname, q->type, Clock::now())) {
            hit->ttl = std::min(hit->ttl, q->chain_ttl);
            return complete(q, std::move(*hit), true);
        }
        return send_packet(q);
    }
    if (q->qname != q->name) {
        const std::lock_guard lock(cache_mutex_);
        cache_.put(q->qname, q->type, reply.result, reply.cacheable, Clock::now());
    }
    reply.result.ttl = q->chain_ttl;
    complete(q, std::move(reply.result), reply.cacheable);
}

void Resolver::Impl::detach(Query& q) {
    if (q.socket) {
        q.socket->pending.erase(q.id);
        if (q.socket->retired && q.socket->pending.empty()) q.socket->sock.close();
        q.socket.reset();
    }
    if (q.stream) {
        boost::system::error_code ignored;
        q.stream->close(ignored);
        q.stream.reset();
    }
    q.timer.cancel();
}

void Resolver::Impl::complete(const QueryPtr& q, Result result, bool cacheable) {
    detach(*q);
    q->finished = true;
    const auto now = Clock::now();
    result.from_cache = false;
    std::size_t cache_entries = 0;
    {
        const std::lock_guard lock(cache_mutex_);
        result.ttl = cache_.effective_ttl(result, cacheable);  // clamping twice changes nothing
        cache_.put(q->name, q->type, result, cacheable, now);
        cache_entries = cache_.size();
    }
    if (result.temporary()) bump(counters_.failures);
    in_flight_.erase(q->key);
    counters_.in_flight.store(in_flight_.size(), std::memory_order_relaxed);
    counters_.cache_entries.store(cache_entries, std::memory_order_relaxed);
    for (auto& w : std::exchange(q->waiters, {})) {
        result.latency = std::chrono::duration_cast<std::chrono::microseconds>(now - w.start);
        deliver(w, result);
    }
}

void Resolver::Impl::shutdown() {
    if (stopping_.exchange(true)) return;
    asio::post(strand_, [self = shared_from_this()] {
        self->stopped_ = true;
        for (auto& pool : self->pools_) {
            for (auto& s : pool) {
                if (s) s->sock.close();
                s.reset();
            }
        }
        auto queries = std::move(self->in_flight_);
        self->in_flight_.clear();
        for (auto& [key, q] : queries) self->complete(q, Result{}, false);
    });
}

std::uint16_t Resolver::Impl::random16() {
    if (random_used_ == random_.size()) {
        // Query ids and socket choice must be unpredictable (spoofing); getrandom() in
        // batches keeps the syscall off the per-query path.
        auto* bytes = reinterpret_cast<char*>(random_.data());
        std::size_t have = 0;
        while (have < sizeof random_) {
            const ssize_t n = getrandom(bytes + have, sizeof random_ - have, 0);
            if (n > 0) have += static_cast<std::size_t>(n);
        }
        random_used_ = 0;
    }
    return random_[random_used_++];
}

Stats Resolver::Impl::stats() const {
    const auto get = [](const std::atomic<std::uint64_t>& c) {
        return c.load(std::memory_order_relaxed);
    };
    const Counters& c = counters_;
    return Stats{get(c.lookups),        get(c.cache_hits), get(c.shared),    get(c.queries_sent),
                 get(c.tcp_fallbacks),  get(c.replies),    get(c.ignored),   get(c.timeouts),
                 get(c.network_errors), get(c.failures),   get(c.in_flight), get(c.cache_entries),
                 get(c.callback_errors)};
}

Resolver::Resolver(asio::io_context& io, ResolverConfig config)
    : impl_(std::make_shared<Impl>(io, std::move(config))) {}

Resolver::~Resolver() {
    impl_->shutdown();
}

void Resolver::lookup(std::string name, RType type, Callback done) {
    impl_->lookup(std::move(name), type, std::move(done));
}

std::optional<Result> Resolver::cached(std::string_view name, RType type) {
    return impl_->cached(name, type);
}

void Resolver::shutdown() {
    impl_->shutdown();
}

Stats Resolver::stats() const {
    return impl_->stats();
}

}  // namespace smtpwall::dns
