// Driver for test/bench/helper_bench.sh: talks protocol v1 to smtpwall-helper, probes
// whether an address is dropped yet, and floods SYNs. Not a test; run by the script.
//
//   helper_bench load SOCKET sync|pipe COUNT FIRST_IPV4
//       adds COUNT addresses from FIRST_IPV4 on: "sync" as one SYNC (one commit),
//       "pipe" as plain ADDs written without waiting (the helper commits what arrives
//       together). Prints the seconds until the last reply.
//   helper_bench clear SOCKET
//       an empty SYNC: removes every dynamic entry. Prints seconds and the reply.
//   helper_bench latency SOCKET COUNT FIRST_IPV4 [DST_IPV4 PORT]
//       COUNT single ADDs, one at a time: request -> reply, and with a destination,
//       request -> the first SYN from that address that goes unanswered (the address
//       must be on a local interface, a listener on DST:PORT). Prints milliseconds:
//       reply median and max, visible median and max.
//   helper_bench serve PORT
//       accepts and closes connections on PORT (IPv4) until killed.
//   helper_bench flood SRC DST PORT SECONDS
//       sends TCP SYNs from SRC (random source ports) to DST:PORT through a raw socket
//       as fast as it can. Prints the number sent.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "firewall/protocol.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using smtpwall::helperproto::OkReply;
using smtpwall::helperproto::parse_reply_line;

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "helper_bench: %s\n", what.c_str());
    std::exit(1);
}

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

std::uint32_t parse_v4(const char* text) {
    in_addr a{};
    if (inet_pton(AF_INET, text, &a) != 1) die(std::string("not an IPv4 address: ") + text);
    return ntohl(a.s_addr);
}

std::string v4_text(std::uint32_t host_order) {
    in_addr a{htonl(host_order)};
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, buf, sizeof buf);
    return buf;
}

class Conn {
  public:
    explicit Conn(const std::string& path) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            die("cannot connect to " + path + ": " + std::strerror(errno));
        if (line() != smtpwall::helperproto::kGreeting) die("no greeting");
        send("1 HELLO 1\n");
        if (line() != "1 OK 1") die("HELLO refused");
    }
    ~Conn() { ::close(fd_); }
    int fd() const { return fd_; }

    void send(const std::string& text) {
        std::size_t done = 0;
        while (done < text.size()) {
            const auto n = ::write(fd_, text.data() + done, text.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                die(std::string("write: ") + std::strerror(errno));
            }
            done += static_cast<std::size_t>(n);
        }
    }
    // The next reply line; "" if none arrives within timeout_ms (-1: wait forever).
    std::string line(int timeout_ms = -1) {
        while (true) {
            const auto nl = buf_.find('\n');
            if (nl != std::string::npos) {
                std::string l = buf_.substr(0, nl);
                buf_.erase(0, nl + 1);
                return l;
            }
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, timeout_ms) == 0) return {};
            char chunk[65536];
            const auto n = ::read(fd_, chunk, sizeof chunk);
            if (n <= 0) die("the helper closed the connection");
            buf_.append(chunk, static_cast<std::size_t>(n));
        }
    }

  private:
    int fd_ = -1;
    std::string buf_;
};

std::string add_line(std::uint32_t id, std::uint32_t addr) {
    return std::to_string(id) + " ADD " + v4_text(addr) + " 0 bench\n";
}

int load(const std::string& sock, const std::string& mode, std::uint32_t count,
         std::uint32_t first) {
    Conn conn(sock);
    const bool sync = mode == "sync";
    if (!sync && mode != "pipe") die("mode is sync or pipe");
    std::string text;
    if (sync) text += "2 SYNC BEGIN\n";
    for (std::uint32_t i = 0; i < count; ++i) text += add_line(10 + i, first + i);
    if (sync) text += "3 SYNC END\n";
    const auto start = Clock::now();
    std::thread writer([&] { conn.send(text); });
    const std::uint32_t expected = count + (sync ? 2 : 0);
    std::uint32_t errors = 0;
    std::string last;
    for (std::uint32_t i = 0; i < expected; ++i) {
        last = conn.line();
        const auto reply = parse_reply_line(last);
        if (!reply || !std::holds_alternative<OkReply>(*reply)) ++errors;
    }
    const double elapsed = seconds_since(start);
    writer.join();
    if (errors > 0) die(std::to_string(errors) + " requests failed, last reply: " + last);
    std::printf("%.3f\n", elapsed);
    return 0;
}

int clear(const std::string& sock) {
    Conn conn(sock);
    const auto start = Clock::now();
    conn.send("2 SYNC BEGIN\n3 SYNC END\n");
    conn.line();
    const std::string reply = conn.line();
    std::printf("%.3f %s\n", seconds_since(start), reply.c_str());
    return 0;
}

// One TCP connection attempt from src to dst:port: true if the handshake completes within
// `wait`, false if the SYN goes unanswered that long. Closed with RST, no TIME_WAIT.
bool connects(std::uint32_t src, std::uint32_t dst, int port, std::chrono::microseconds wait) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die(std::string("socket: ") + std::strerror(errno));
    const linger lg{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(src);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
        die("bind " + v4_text(src) + ": " + std::strerror(errno));
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_addr.s_addr = htonl(dst);
    remote.sin_port = htons(static_cast<std::uint16_t>(port));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) == 0;
    if (!ok && errno == EINPROGRESS) {
        const auto deadline = Clock::now() + wait;
        while (!ok && Clock::now() < deadline) {
            pollfd p{fd, POLLOUT, 0};
            timespec ts{0, 20'000};
            if (::ppoll(&p, 1, &ts, nullptr) > 0) {
                int err = 0;
                socklen_t len = sizeof err;
                ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                ok = err == 0;
                if (!ok) break;
            }
        }
    }
    ::close(fd);
    return ok;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

int latency(const std::string& sock, std::uint32_t count, std::uint32_t first,
            std::optional<std::pair<std::uint32_t, int>> probe) {
    Conn conn(sock);
    std::vector<double> reply_ms, visible_ms;
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::uint32_t addr = first + i;
        if (probe && !connects(addr, probe->first, probe->second, std::chrono::seconds(1)))
            die(v4_text(addr) + " cannot connect before its ban");
        const auto start = Clock::now();
        conn.send(add_line(100 + i, addr));
        // The reply is awaited on its own thread, so that probing does not delay it.
        std::atomic<double> replied{-1};
        std::thread reader([&] {
            const std::string l = conn.line();
            replied = seconds_since(start) * 1000;
            if (l.find(" OK added") == std::string::npos) die("ADD failed: " + l);
        });
        if (probe) {
            while (true) {
                const auto attempt = Clock::now();
                // A handshake on veth takes well under a millisecond; an unanswered SYN
                // is the ban in effect.
                if (!connects(addr, probe->first, probe->second, std::chrono::milliseconds(3))) {
                    visible_ms.push_back(std::chrono::duration<double>(attempt - start).count() *
                                         1000);
                    break;
                }
                if (seconds_since(start) > 60) die("no drop within 60 s");
            }
        }
        reader.join();
        reply_ms.push_back(replied);
    }
    std::printf("%.2f %.2f %.2f %.2f\n", median(reply_ms),
                *std::max_element(reply_ms.begin(), reply_ms.end()), median(visible_ms),
                visible_ms.empty() ? 0.0 : *std::max_element(visible_ms.begin(), visible_ms.end()));
    return 0;
}

int serve(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 4096) != 0)
        die(std::string("listen: ") + std::strerror(errno));
    while (true) {
        const int c = ::accept(fd, nullptr, nullptr);
        if (c >= 0) ::close(c);
    }
}

std::uint16_t checksum(const void* data, std::size_t len, std::uint32_t sum = 0) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    for (std::size_t i = 0; i + 1 < len; i += 2)
        sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
    if (len & 1) sum += static_cast<std::uint32_t>(p[len - 1] << 8);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

int flood(std::uint32_t src, std::uint32_t dst, int port, double seconds) {
    const int fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    if (fd < 0) die(std::string("raw socket: ") + std::strerror(errno));
    struct Packet {
        iphdr ip;
        tcphdr tcp;
    } pkt{};
    pkt.ip.version = 4;
    pkt.ip.ihl = 5;
    pkt.ip.tot_len = htons(sizeof pkt);
    pkt.ip.ttl = 64;
    pkt.ip.protocol = IPPROTO_TCP;
    pkt.ip.saddr = htonl(src);
    pkt.ip.daddr = htonl(dst);
    pkt.tcp.dest = htons(static_cast<std::uint16_t>(port));
    pkt.tcp.doff = 5;
    pkt.tcp.syn = 1;
    pkt.tcp.window = htons(1024);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(dst);
    // Pseudo-header sum for the TCP checksum.
    std::uint32_t pseudo =
        (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + IPPROTO_TCP + sizeof(tcphdr);
    std::mt19937 rng(12345);
    std::uint64_t sent = 0;
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (true) {
        for (int burst = 0; burst < 256; ++burst) {
            pkt.tcp.source = htons(static_cast<std::uint16_t>(1024 + rng() % 60000));
            pkt.tcp.seq = rng();
            pkt.tcp.check = 0;
            pkt.tcp.check = htons(checksum(&pkt.tcp, sizeof pkt.tcp, pseudo));
            if (::sendto(fd, &pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
                sizeof pkt)
                ++sent;
        }
        if (Clock::now() >= end) break;
    }
    std::printf("%llu\n", static_cast<unsigned long long>(sent));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> a(argv + 1, argv + argc);
    auto need = [&](std::size_t n) {
        if (a.size() < n) die("usage: see the top of test/bench/helper_bench.cpp");
    };
    need(1);
    const std::string& mode = a[0];
    if (mode == "load") {
        need(5);
        return load(a[1], a[2], static_cast<std::uint32_t>(std::stoul(a[3])),
                    parse_v4(a[4].c_str()));
    }
    if (mode == "clear") {
        need(2);
        return clear(a[1]);
    }
    if (mode == "latency") {
        need(4);
        std::optional<std::pair<std::uint32_t, int>> probe;
        if (a.size() >= 6) probe = std::pair{parse_v4(a[4].c_str()), std::stoi(a[5])};
        return latency(a[1], static_cast<std::uint32_t>(std::stoul(a[2])), parse_v4(a[3].c_str()),
                       probe);
    }
    if (mode == "serve") {
        need(2);
        return serve(std::stoi(a[1]));
    }
    if (mode == "flood") {
        need(5);
        return flood(parse_v4(a[1].c_str()), parse_v4(a[2].c_str()), std::stoi(a[3]),
                     std::stod(a[4]));
    }
    die("unknown mode " + mode);
}
