// smtpwallctl: the operator's command line. Talks only to the milter's control
// socket (protocol: milter/control_server.cpp); never to the helper or the
// firewall. It holds no privileges: what it may do is decided by the socket's
// permissions and the milter.
//
// Exit codes: 0 success, 1 the milter answered with an error, 2 usage error,
// 3 the milter could not be reached or broke the protocol.

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "milter/control_protocol.hpp"

namespace {

using smtpwall::control::ReplyReader;
using smtpwall::control::Request;

constexpr int kExitOk = 0, kExitRefused = 1, kExitUsage = 2, kExitUnreachable = 3;
constexpr int kTimeoutMs = 15000;

struct Failure {
    int code;
    std::string message;
};

int connect_to(const std::string& path) {
    sockaddr_un addr{};
    if (path.size() >= sizeof addr.sun_path)
        throw Failure{kExitUsage, "socket path too long: " + path};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw Failure{kExitUnreachable, std::strerror(errno)};
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        const std::string why = std::strerror(errno);
        ::close(fd);
        throw Failure{kExitUnreachable, "cannot reach the milter at " + path + ": " + why};
    }
    return fd;
}

ReplyReader converse(const std::string& path, const std::string& request) {
    const int fd = connect_to(path);
    const std::string wire = request + "\n";
    for (std::size_t sent = 0; sent < wire.size();) {
        const auto n = ::send(fd, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            ::close(fd);
            throw Failure{kExitUnreachable, "lost the connection to the milter while sending"};
        }
        sent += static_cast<std::size_t>(n);
    }
    ReplyReader reader;
    std::string pending;
    char buf[65536];
    while (!reader.done()) {
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, kTimeoutMs) <= 0) {
            ::close(fd);
            throw Failure{kExitUnreachable, "the milter did not answer in time"};
        }
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            ::close(fd);
            throw Failure{kExitUnreachable, "the milter closed the connection mid-reply"};
        }
        pending.append(buf, static_cast<std::size_t>(n));
        std::size_t nl;
        while (!reader.done() && (nl = pending.find('\n')) != std::string::npos) {
            reader.feed(std::string_view(pending).substr(0, nl));
            pending.erase(0, nl + 1);
        }
    }
    ::close(fd);
    if (reader.malformed()) throw Failure{kExitUnreachable, "the milter sent a malformed reply"};
    return reader;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"smtpwallctl: inspect smtpwall's tallies and bans"};
    app.footer("Exit codes: 0 ok, 1 refused by the milter, 2 usage, 3 milter unreachable.");
    std::string socket_path = "/run/smtpwall/control.sock";
    if (const char* env = std::getenv("SMTPWALL_CONTROL")) socket_path = env;
    app.add_option("-s,--socket", socket_path, "the milter's control socket (env SMTPWALL_CONTROL)")
        ->capture_default_str();
    bool json = false;
    app.add_flag("--json", json, "machine-readable output");
    app.require_subcommand(1);

    Request request;
    auto* ping = app.add_subcommand("ping", "check that the milter answers");
    auto* tallies =
        app.add_subcommand("tallies", "worst offenders by recent rejections, with their tags");
    tallies->add_option("-n,--top", request.top, "how many rows")->check(CLI::Range(1, 100000));
    tallies->add_option("-t,--tag", request.tag, "only addresses with this tag");
    auto* bans =
        app.add_subcommand("bans", "active bans with the kernel's packet and byte counters");
    for (auto* sub : {ping, tallies, bans}) {
        sub->add_flag("--json", json, "machine-readable output");
        sub->callback([&request, sub] { request.verb = sub->get_name(); });
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return kExitUsage;
    }
    request.json = json;

    try {
        const auto reply = converse(socket_path, smtpwall::control::format_request(request));
        if (!reply.ok()) {
            std::fprintf(stderr, "smtpwallctl: %s\n", reply.status_message().c_str());
            return kExitRefused;
        }
        if (request.verb == "ping") std::printf("%s\n", reply.status_message().c_str());
        std::fputs(reply.body().c_str(), stdout);
        return kExitOk;
    } catch (const Failure& f) {
        std::fprintf(stderr, "smtpwallctl: %s\n", f.message.c_str());
        return f.code;
    }
}
