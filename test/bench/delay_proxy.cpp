// A UDP DNS proxy on loopback that holds every answer for DELAY ms before passing it
// on: the network latency of test/bench/mta_bench.sh and classify_bench.sh.
//
//   delay_proxy LISTEN_PORT UPSTREAM_PORT DELAY_MS      (127.0.0.1 only)
//
// Queries go upstream at once; answers wait in one queue (the delay is the same for
// all, so the queue is in time order) and leave when due. The benches share two cores
// with Postfix and the milter, so the proxy must cost little: a few microseconds a
// datagram here, where a Python event loop cost about 150 us per query, charged to
// the cold variant as if DNS ran on the mail server. dnsdist's DelayAction releases
// only about one delayed answer per millisecond, too few for a benchmark.
// SIGTERM or SIGINT stops it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop = 0;

// The query id plus the question (name, type, class): what an answer repeats.
// Empty for a packet too short to hold one.
std::string key_of(const std::uint8_t* packet, std::size_t size) {
    std::size_t end = 12;
    while (end < size && packet[end] != 0) {
        if (packet[end] > 63) return {};  // a compression pointer: not a question we sent
        end += packet[end] + 1u;
    }
    end += 5;
    if (size < 17 || end > size) return {};
    std::string key(reinterpret_cast<const char*>(packet), 2);
    key.append(reinterpret_cast<const char*>(packet + 12), end - 12);
    return key;
}

int udp_socket(std::uint16_t port, bool bind_it) {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    const int buffer = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const auto* sa = reinterpret_cast<const sockaddr*>(&addr);
    if ((bind_it ? bind(fd, sa, sizeof addr) : connect(fd, sa, sizeof addr)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

struct Held {
    Clock::time_point due;
    std::vector<std::uint8_t> packet;
    sockaddr_in client;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: delay_proxy LISTEN_PORT UPSTREAM_PORT DELAY_MS\n");
        return 2;
    }
    const auto listen_port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    const auto upstream_port = static_cast<std::uint16_t>(std::atoi(argv[2]));
    const std::chrono::milliseconds delay(std::atoi(argv[3]));
    std::signal(SIGTERM, [](int) { g_stop = 1; });
    std::signal(SIGINT, [](int) { g_stop = 1; });
    const int front = udp_socket(listen_port, true);
    const int upstream = udp_socket(upstream_port, false);
    if (front < 0 || upstream < 0) {
        std::perror("delay_proxy: socket");
        return 1;
    }
    std::printf("delay proxy on 127.0.0.1:%u -> %u, %lld ms\n", listen_port, upstream_port,
                static_cast<long long>(delay.count()));
    std::fflush(stdout);

    struct Asked {
        std::vector<sockaddr_in> clients;
        Clock::time_point when;
    };
    std::unordered_map<std::string, Asked> waiting;  // by key_of
    std::deque<Held> held;
    auto swept = Clock::now();
    std::uint8_t buf[65536];
    while (!g_stop) {
        int timeout = -1;
        if (!held.empty()) {
            const auto left =
                std::chrono::ceil<std::chrono::milliseconds>(held.front().due - Clock::now());
            timeout = static_cast<int>(std::max<std::int64_t>(0, left.count()));
        }
        pollfd fds[2] = {{front, POLLIN, 0}, {upstream, POLLIN, 0}};
        if (poll(fds, 2, timeout) < 0) continue;  // EINTR: look at g_stop
        // A bounded batch from each socket per turn, so held answers leave on time.
        for (int batch = 0; batch < 64; ++batch) {  // queries: straight upstream
            sockaddr_in client{};
            socklen_t len = sizeof client;
            const ssize_t n =
                recvfrom(front, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&client), &len);
            if (n < 0) break;
            const std::string key = key_of(buf, static_cast<std::size_t>(n));
            if (key.empty()) continue;
            auto& asked = waiting[key];
            asked.clients.push_back(client);
            asked.when = Clock::now();
            (void)send(upstream, buf, static_cast<std::size_t>(n), 0);
        }
        const auto now = Clock::now();
        for (int batch = 0; batch < 64; ++batch) {  // answers: held
            const ssize_t n = recv(upstream, buf, sizeof buf, 0);
            if (n < 0) break;
            const auto it = waiting.find(key_of(buf, static_cast<std::size_t>(n)));
            if (it == waiting.end()) continue;
            for (const auto& client : it->second.clients)
                held.push_back({now + delay, {buf, buf + n}, client});
            waiting.erase(it);
        }
        const auto release = Clock::now();
        while (!held.empty() && held.front().due <= release) {
            const Held& h = held.front();
            (void)sendto(front, h.packet.data(), h.packet.size(), 0,
                         reinterpret_cast<const sockaddr*>(&h.client), sizeof h.client);
            held.pop_front();
        }
        if (release - swept > std::chrono::seconds(10)) {  // questions never answered
            std::erase_if(waiting, [&](const auto& w) {
                return release - w.second.when > std::chrono::seconds(10);
            });
            swept = release;
        }
    }
    return 0;
}
