// Asynchronous DNS stub resolver for the milter: Boost.Asio I/O, ldns packets,
// an answer cache and sharing of identical in-flight queries. Lookups never block
// the caller and a slow name never delays another one.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs it

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "dnsbl/names.hpp"        // reverse_name
#include "dnsbl/resolv_conf.hpp"  // parse_resolv_conf
#include "dnsbl/result.hpp"

namespace smtpwall::dns {

struct ResolverConfig {
    std::vector<boost::asio::ip::udp::endpoint> servers;  // tried in order
    std::chrono::milliseconds timeout{1000};              // per attempt
    int attempts = 2;  // sends per lookup (and per CNAME step), rotating over the servers
    std::uint32_t min_ttl = 60;
    std::uint32_t max_ttl = 86400;
    std::uint32_t max_negative_ttl = 3600;
    std::chrono::seconds temp_failure_ttl{5};  // servfail/refused/timeout/error; 0: never cached
    std::size_t max_entries = 100000;          // cache size bounds (LRU)
    std::size_t max_cache_bytes = 64 << 20;
    // Queries to a server spread over this many connected UDP sockets; each socket is
    // replaced after queries_per_socket sends, so the source port keeps changing.
    int sockets_per_server = 4;
    int queries_per_socket = 100;
    // Told (on the resolver's thread) when a lookup's callback threw, which it must not.
    std::function<void(std::string_view what)> on_callback_error;
};

struct Stats {
    std::uint64_t lookups = 0;  // lookup() calls
    std::uint64_t cache_hits = 0;
    std::uint64_t shared = 0;          // lookups that joined an identical one in flight
    std::uint64_t queries_sent = 0;    // UDP datagrams (every attempt, every CNAME step)
    std::uint64_t tcp_fallbacks = 0;   // truncated answers retried over TCP
    std::uint64_t replies = 0;         // replies accepted
    std::uint64_t ignored = 0;         // datagrams matching no outstanding query: late,
                                       // stray or forged (wrong id/question)
    std::uint64_t timeouts = 0;        // attempts that timed out
    std::uint64_t network_errors = 0;  // send/receive/connect failures, ICMP unreachable
    std::uint64_t failures = 0;        // lookups that ended in a temporary failure
    std::uint64_t in_flight = 0;       // distinct queries outstanding now
    std::uint64_t cache_entries = 0;
    std::uint64_t callback_errors = 0;  // callbacks that threw (a bug, survived)
};

class Resolver {
  public:
    using Callback = std::function<void(const Result&)>;

    // Throws std::invalid_argument without servers. The io_context must outlive the
    // Resolver; any number of threads may run it.
    Resolver(boost::asio::io_context& io, ResolverConfig config);
    ~Resolver();  // shutdown()
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // Thread-safe and non-blocking. `done` runs exactly once, on a thread running the
    // io_context (never inside lookup()); it must not throw (one that does is counted
    // and reported, and harms no other lookup). Invalid names fail with
    // Status::error without a packet being sent.
    void lookup(std::string name, RType type, Callback done);

    // Thread-safe: the cached answer, if a live one exists, without waiting for the
    // Asio thread. Counts as a lookup and a cache hit.
    std::optional<Result> cached(std::string_view name, RType type);

    // Thread-safe. Outstanding lookups complete with Status::error, later ones at once
    // with Status::error; sockets close and no read is re-armed.
    void shutdown();

    Stats stats() const;  // thread-safe

  private:
    class Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace smtpwall::dns
