// The helper's poll() loop: authenticated clients, request batches, replies in order.
#include "firewall/helper_server.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/unix_socket.hpp"
#include "firewall/protocol.hpp"

namespace smtpwall::firewall {

namespace {

using Steady = std::chrono::steady_clock;

constexpr std::size_t kMaxClients = 8;
constexpr std::size_t kReadChunk = 4096;
// Unparsed input held per client: about 2000 requests, one commit. Beyond it the
// helper stops reading from that client until it has taken its lines.
constexpr std::size_t kMaxInput = 64 * 1024;
// A client with more replies than this waiting to be read gets no new request
// taken, so what it makes the helper build is bounded before it is built: this
// plus one LIST reply (one per batch and client; ~8 MB at 100k entries).
constexpr std::size_t kPauseOutput = 256 * 1024;
// The commit budget: after a commit that took d, the next batch waits max(2d, 50 ms),
// and whatever arrives meanwhile joins it. A stream of changes costs the kernel at
// most a third of a core, whatever its rate.
constexpr auto kMinCommitGap = std::chrono::milliseconds(50);
// A client we are closing gets this long to read its last replies.
constexpr auto kClosingGrace = std::chrono::seconds(5);
// A client that reads none of its pending replies for this long is dropped.
constexpr auto kStalled = std::chrono::seconds(30);

std::string errno_text(std::string_view what) {
    return fmt::format("{}: {}", what, std::strerror(errno));
}

// Best effort, for a connection we are about to close before it is a client.
void send_and_close(int fd, const std::string& line) {
    const std::string text = line + "\n";
    [[maybe_unused]] const auto sent = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    ::close(fd);
}

}  // namespace

std::vector<IpAddress> own_addresses() {
    std::vector<IpAddress> out;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) {
        log_info(errno_text("getifaddrs"));
        return out;
    }
    for (const ifaddrs* ifa = list; ifa != nullptr; ifa = ifa->ifa_next) {
        if (ifa->ifa_addr == nullptr) continue;
        IpAddress addr;
        if (ifa->ifa_addr->sa_family == AF_INET) {
            sockaddr_in sin;
            std::memcpy(&sin, ifa->ifa_addr, sizeof sin);
            std::memcpy(addr.bytes.data(), &sin.sin_addr, 4);
        } else if (ifa->ifa_addr->sa_family == AF_INET6) {
            sockaddr_in6 sin6;
            std::memcpy(&sin6, ifa->ifa_addr, sizeof sin6);
            addr.family = Family::v6;
            std::memcpy(addr.bytes.data(), &sin6.sin6_addr, 16);
        } else {
            continue;
        }
        if (std::find(out.begin(), out.end(), addr) == out.end()) out.push_back(addr);
    }
    ::freeifaddrs(list);
    return out;
}

int make_signal_fd() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0)
        throw std::runtime_error(errno_text("sigprocmask"));
    const int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) throw std::runtime_error(errno_text("signalfd"));
    return fd;
}

struct HelperServer::Client {
    int fd = -1;
    unsigned long serial = 0;  // names the connection in log lines
    std::string in;
    std::string out;
    std::size_t out_sent = 0;
    std::uint64_t requests = 0;       // taken from this connection
    std::uint64_t commits_since = 0;  // HelperState::commits() when it connected
    Steady::time_point last_sent = Steady::now();
    bool greeted = false;  // HELLO done
    bool closing = false;  // send what is queued, then close
    bool eof = false;      // the peer will send nothing more: stop polling for input
    bool dead = false;     // close now
    Steady::time_point closing_since{};

    void close_after_replies() {
        if (!closing) closing_since = Steady::now();
        closing = true;
    }
    std::size_t unsent() const { return out.size() - out_sent; }
    bool paused() const { return unsent() > kPauseOutput; }
    bool has_line() const { return in.find('\n') != std::string::npos; }
};

// One line of one client in the current batch, with its reply once known.
struct HelperServer::Item {
    Client* client = nullptr;
    std::vector<std::string> reply;
    std::optional<helperproto::Request> request;  // set when HelperState must answer
};

HelperServer::HelperServer(ServerSettings settings, HelperState& state)
    : settings_(std::move(settings)), state_(state) {}

HelperServer::~HelperServer() {
    for (auto& c : clients_) ::close(c->fd);
    if (listen_fd_ >= 0) ::close(listen_fd_);
}

void HelperServer::open_socket() {
    // Only the peer user may connect: its socket, mode 0600.
    auto listener =
        listen_unix(settings_.socket_path,
                    {.mode = 0600, .owner = settings_.peer_uid, .group = settings_.peer_gid});
    listen_fd_ = listener.fd;
    socket_file_ = std::move(listener.file);
}

void HelperServer::run(int signal_fd) {
    next_repair_ = Steady::now() + settings_.repair_interval;
    while (true) {
        std::vector<pollfd> fds;
        fds.push_back({signal_fd, POLLIN, 0});
        fds.push_back({listen_fd_, POLLIN, 0});
        for (const auto& c : clients_) {
            // A closing client is still read (and what it sends dropped) until its EOF;
            // a busy one not while it holds a full input buffer.
            short events = c->eof || (!c->closing && c->in.size() >= kMaxInput) ? 0 : POLLIN;
            if (c->unsent() > 0) events |= POLLOUT;
            fds.push_back({c->fd, events, 0});
        }
        const int ready = ::poll(fds.data(), fds.size(), poll_timeout_ms());
        if (ready < 0 && errno != EINTR) throw std::runtime_error(errno_text("poll"));

        if (ready > 0 && (fds[0].revents & POLLIN)) {
            signalfd_siginfo info{};
            while (::read(signal_fd, &info, sizeof info) == sizeof info) {
                if (info.ssi_signo == SIGHUP) {
                    log_info("SIGHUP ignored: restart the helper to reload its config");
                    continue;
                }
                log_info(fmt::format("signal={} stopping; firewall entries stay in place",
                                     info.ssi_signo == SIGTERM ? "TERM" : "INT"));
                return;
            }
        }

        std::vector<Item> batch;
        if (ready > 0) {
            for (std::size_t i = 0; i < clients_.size(); ++i) {
                Client& c = *clients_[i];
                const short revents = fds[i + 2].revents;
                if (revents & POLLOUT) flush(c);
                if (revents & (POLLIN | POLLHUP | POLLERR)) read_client(c);
            }
        }
        // Lines wait, in the clients' buffers, for the commit budget and for their
        // client to read what it was sent.
        if (Steady::now() >= next_batch_)
            for (auto& c : clients_) take_lines(*c, batch);
        if (!batch.empty()) {
            const auto commits = state_.commits();
            const auto started = Steady::now();
            process(batch);
            if (state_.commits() != commits)
                next_batch_ = Steady::now() + std::max<Steady::duration>(
                                                  kMinCommitGap, 2 * (Steady::now() - started));
        }
        for (auto& c : clients_)
            if (c->unsent() > 0) flush(*c);
        reap();
        if (ready > 0 && (fds[1].revents & POLLIN)) accept_clients();
        run_timers();
    }
}

int HelperServer::poll_timeout_ms() const {
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    std::int64_t ms = duration_cast<milliseconds>(next_repair_ - Steady::now()).count();
    if (const auto expiry = state_.next_expiry()) {
        ms = std::min(ms, *expiry * 1000 - unix_now_ms());
    }
    for (const auto& c : clients_) {
        if (c->closing) ms = std::min<std::int64_t>(ms, 1000);
        // Lines already here are taken as soon as the budget and their client allow.
        if (!c->closing && !c->paused() && (c->has_line() || c->eof))
            ms = std::min<std::int64_t>(
                ms, duration_cast<milliseconds>(next_batch_ - Steady::now()).count() + 1);
    }
    return static_cast<int>(std::clamp<std::int64_t>(ms, 0, 60'000));
}

void HelperServer::run_timers() {
    const auto now = unix_now();
    if (const auto expiry = state_.next_expiry(); expiry && *expiry <= now) state_.expire(now);
    if (Steady::now() >= next_repair_) {
        state_.set_own_addresses(own_addresses());
        state_.repair(now);
        next_repair_ = Steady::now() + settings_.repair_interval;
    }
}

void HelperServer::accept_clients() {
    while (true) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) log_info(errno_text("accept"));
            return;
        }
        const auto peer = peer_credentials(fd);
        if (!peer) {
            log_info(errno_text("SO_PEERCRED"));
            ::close(fd);
            continue;
        }
        const auto& cred = *peer;
        if (!cred.is_root_or(settings_.peer_uid)) {
            log_info(fmt::format("refused connection uid={} pid={}: not the peer user", cred.uid,
                                 cred.pid));
            send_and_close(fd, helperproto::format_err(
                                   0, "refused", fmt::format("peer uid {} not allowed", cred.uid)));
            continue;
        }
        if (clients_.size() >= kMaxClients) {
            log_info(fmt::format("refused connection uid={} pid={}: {} clients already", cred.uid,
                                 cred.pid, clients_.size()));
            send_and_close(fd, helperproto::format_err(0, "limit", "too many connections"));
            continue;
        }
        auto client = std::make_unique<Client>();
        client->fd = fd;
        client->serial = next_serial_++;
        client->out = std::string(helperproto::kGreeting) + "\n";
        client->commits_since = state_.commits();
        log_info(
            fmt::format("connection conn={} uid={} pid={}", client->serial, cred.uid, cred.pid));
        flush(*client);
        clients_.push_back(std::move(client));
    }
}

void HelperServer::read_client(Client& c) {
    // Everything the peer has sent by now, up to kMaxInput unparsed: requests written
    // together become one firewall commit.
    char buf[kReadChunk];
    while (c.closing || c.in.size() < kMaxInput) {
        const auto n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            log_info(fmt::format("conn={} {}", c.serial, errno_text("recv")));
            c.dead = true;
            return;
        }
        if (n == 0) {
            c.eof = true;
            break;
        }
        // A closing client is read until its EOF, but what it sends is dropped: the
        // reply that ends the connection is queued.
        if (!c.closing) c.in.append(buf, static_cast<std::size_t>(n));
    }
}

void HelperServer::take_lines(Client& c, std::vector<Item>& batch) {
    if (c.closing || c.dead || c.paused()) return;
    std::size_t start = 0;
    while (!c.closing) {
        const auto end = c.in.find('\n', start);
        if (end == std::string::npos) break;
        const auto line = std::string_view(c.in).substr(start, end - start);
        start = end + 1;
        ++c.requests;
        // At most one LIST per client and batch: its reply is built whole.
        if (take_line(c, line, batch) == helperproto::Verb::list) break;
    }
    c.in.erase(0, start);
    if (c.closing) {
        c.in.clear();
    } else if (c.has_line()) {
        return;  // the rest in the next batch
    } else if (c.in.size() >= helperproto::kMaxLine) {
        log_info(fmt::format("conn={} bad request: line longer than {} bytes", c.serial,
                             helperproto::kMaxLine));
        batch.push_back({&c, {helperproto::format_err(0, "syntax", "line too long")}, {}});
        c.in.clear();
        c.close_after_replies();
    } else if (c.eof) {
        if (!c.in.empty()) {
            log_info(fmt::format("conn={} bad request: last line has no newline", c.serial));
            batch.push_back(
                {&c, {helperproto::format_err(0, "syntax", "line without newline")}, {}});
        }
        c.in.clear();
        c.close_after_replies();
    }
}

std::optional<helperproto::Verb> HelperServer::take_line(Client& c, std::string_view line,
                                                         std::vector<Item>& batch) {
    auto refuse = [&](std::uint32_t id, std::string_view code,
                      const std::string& why) -> std::optional<helperproto::Verb> {
        log_info(fmt::format("conn={} bad request: {} {}", c.serial, why, kv("line", line)));
        batch.push_back({&c, {helperproto::format_err(id, code, why)}, {}});
        c.close_after_replies();
        return std::nullopt;
    };
    auto parsed = helperproto::parse_request(line);
    if (const auto* error = std::get_if<helperproto::ParseError>(&parsed))
        return refuse(error->id, error->code, error->message);
    auto& request = std::get<helperproto::Request>(parsed);
    if (request.verb == helperproto::Verb::hello) {
        if (request.version != helperproto::kVersion)
            return refuse(request.id, "version",
                          fmt::format("version {} not supported, this helper speaks {}",
                                      request.version, helperproto::kVersion));
        c.greeted = true;
        batch.push_back({&c, {helperproto::format_ok(request.id, "1")}, {}});
        return request.verb;
    }
    if (!c.greeted) return refuse(request.id, "syntax", "HELLO must come first");
    const auto verb = request.verb;
    batch.push_back({&c, {}, std::move(request)});
    return verb;
}

void HelperServer::process(std::vector<Item>& batch) {
    std::vector<HelperState::Incoming> requests;
    bool adds = false;
    for (const auto& item : batch) {
        if (!item.request) continue;
        requests.push_back({*item.request, item.client->serial});
        adds = adds || item.request->verb == helperproto::Verb::add;
    }
    if (!requests.empty()) {
        // Interfaces change; an ADD must be checked against today's addresses.
        if (adds) state_.set_own_addresses(own_addresses());
        std::vector<std::vector<std::string>> replies;
        try {
            replies = state_.handle(requests, unix_now(), Steady::now());
        } catch (const std::exception& e) {
            log_info(fmt::format("internal error in a batch of {} request(s): {}", requests.size(),
                                 e.what()));
            for (const auto& r : requests)
                replies.push_back(
                    {helperproto::format_err(r.request.id, "backend", "internal error")});
        }
        std::size_t next = 0;
        for (auto& item : batch)
            if (item.request) item.reply = std::move(replies.at(next++));
    }
    for (const auto& item : batch) {
        Client& c = *item.client;
        for (const auto& line : item.reply) {
            c.out += line;
            c.out += '\n';
        }
    }
}

void HelperServer::flush(Client& c) {
    while (!c.dead && c.out_sent < c.out.size()) {
        const auto n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent,
                              MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno != EPIPE && errno != ECONNRESET)
                log_info(fmt::format("conn={} {}", c.serial, errno_text("send")));
            c.dead = true;
            return;
        }
        c.out_sent += static_cast<std::size_t>(n);
        c.last_sent = Steady::now();
    }
    c.out.clear();
    c.out_sent = 0;
}

void HelperServer::reap() {
    const auto now = Steady::now();
    std::erase_if(clients_, [&](const std::unique_ptr<Client>& c) {
        const bool flushed = c->out_sent == c->out.size();
        if (!flushed && !c->dead && now - c->last_sent > kStalled) {
            log_info(fmt::format("conn={} dropped: it does not read its replies", c->serial));
            c->dead = true;
        }
        const bool done = c->dead || (c->closing && flushed) ||
                          (c->closing && now - c->closing_since > kClosingGrace);
        if (!done) return false;
        if (flushed) ::shutdown(c->fd, SHUT_WR);
        ::close(c->fd);
        log_info(fmt::format("closed conn={} requests={} commits={}", c->serial, c->requests,
                             state_.commits() - c->commits_since));
        state_.close_session(c->serial);  // a SYNC it left open is discarded
        return true;
    });
}

}  // namespace smtpwall::firewall
