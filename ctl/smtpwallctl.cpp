// smtpwallctl: the operator's command line. Talks only to the milter's control
// socket (protocol: milter/control_server.cpp); never to the helper or the
// firewall. `check --offline` needs no daemon at all: it runs the milter's own
// classification on facts given on the command line. It holds no privileges: what it may do is
// decided by the socket's permissions and the milter. It talks only to a control socket
// served by the milter's user or root (SO_PEERCRED, --server-user): whoever else took
// the socket's name could collect the operator's commands and answer with lies.
//
// `report --mail-to ADDR` hands the report to the local MTA: it runs the sendmail
// program (--sendmail, default /usr/sbin/sendmail) directly, never through a shell,
// with fixed arguments; the one address is checked and only ever sits in the To:
// header that `sendmail -t` reads.
//
// Exit codes: 0 success, 1 the milter answered with an error, 2 usage error,
// 3 the milter could not be reached or broke the protocol, 4 sendmail failed.

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <tuple>
#include <vector>

#include "common/text.hpp"
#include "common/unix_socket.hpp"
#include "conf/config_reader.hpp"
#include "conf/milter_config.hpp"
#include "core/control_protocol.hpp"
#include "core/report.hpp"
#include "core/session.hpp"

namespace {

using smtpwall::control::ReplyReader;
using smtpwall::control::Request;

constexpr int kExitOk = 0, kExitRefused = 1, kExitUsage = 2, kExitUnreachable = 3, kExitMail = 4;
constexpr int kTimeoutMs = 15000;

struct Failure {
    int code;
    std::string message;
};

// The control socket and who must serve it (the milter's user, or root).
struct Server {
    std::string path;
    std::string user;
    uid_t uid = 0;
};

int connect_to(const Server& server) {
    const std::string& path = server.path;
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
    // A socket name proves nothing: whoever took it could collect our commands.
    const auto peer = smtpwall::peer_credentials(fd);
    if (!peer || !peer->is_root_or(server.uid)) {
        ::close(fd);
        throw Failure{kExitUnreachable,
                      peer ? fmt::format("refusing {}: it is served by uid {} (pid {}), not by "
                                         "{} or root (--server-user)",
                                         path, peer->uid, peer->pid, server.user)
                           : fmt::format("refusing {}: cannot read who serves it", path)};
    }
    return fd;
}

struct OfflineFacts {
    bool enabled = false;
    std::string ptr;
    std::vector<std::string> listed;
};

// Offline classification: the same Session code as the milter, fed the facts the
// operator gives instead of DNS answers. Needs neither the daemon nor DNS.
int check_offline(const Request& request, const OfflineFacts& given,
                  const std::string& config_path) {
    using namespace smtpwall;
    conf::MilterConfig config;
    if (::access(config_path.c_str(), R_OK) == 0) {
        try {
            config = conf::load_milter_config(config_path);
        } catch (const conf::ConfigError& e) {
            std::fprintf(stderr, "smtpwallctl: %s\n", e.what());
            return kExitUsage;
        }
    } else {
        std::fprintf(stderr, "smtpwallctl: %s not readable: using built-in weights\n",
                     config_path.c_str());
    }
    const auto ip = IpAddress::parse(request.ip);
    if (!ip) {
        std::fprintf(stderr, "smtpwallctl: --ip: \"%s\" is not an IP address\n",
                     request.ip.c_str());
        return kExitUsage;
    }
    dns::DnsFacts facts;
    facts.ptr.progress = dns::Progress::done;
    facts.ptr.outcome =
        given.ptr.empty() ? dns::PtrFacts::Outcome::no_ptr : dns::PtrFacts::Outcome::confirmed;
    if (!given.ptr.empty()) {
        facts.ptr.names = {given.ptr};
        facts.ptr.confirmed_name = given.ptr;
    }
    for (const auto& tag : given.listed) {
        const auto zone = std::find_if(config.zones.begin(), config.zones.end(),
                                       [&](const auto& z) { return z.tag == tag; });
        if (zone == config.zones.end()) {
            std::fprintf(stderr, "smtpwallctl: --listed %s: no [[zone]] with that tag in %s\n",
                         tag.c_str(), config_path.c_str());
            return kExitUsage;
        }
        dns::ZoneFact z;
        z.tag = zone->tag;
        z.zone = zone->zone;
        z.weight = zone->weight;
        z.progress = dns::Progress::done;
        z.verdict = dns::ZoneVerdict::listed;
        z.codes = {*IpAddress::parse("127.0.0.2")};
        facts.zones.push_back(std::move(z));
    }
    Session session(std::make_shared<const SessionPolicy>(config), *ip, "");
    if (!request.helo.empty()) session.helo(request.helo);
    if (!request.from.empty()) session.mail_from(request.from, false);
    session.set_dns(std::move(facts));
    const auto& c = session.classification();
    const std::string out =
        request.json ? json_text(check_json(c, config.scoring.threshold, nullptr))
                     : printable_text(render_check(c, config.scoring.threshold, nullptr));
    std::fputs(out.c_str(), stdout);
    return kExitOk;
}

ReplyReader converse(const Server& server, const std::string& request) {
    const int fd = connect_to(server);
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

// A recipient for the report: a local user or user@domain, nothing a header or a
// command line could read as anything else.
bool plain_address(std::string_view a) {
    if (a.empty() || a.size() > 254 || a.front() == '-' || a.front() == '.' || a.back() == '@')
        return false;
    std::size_t ats = 0;
    for (const unsigned char c : a) {
        if (c == '@') {
            ++ats;
        } else if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '+' || c == '=')) {
            return false;
        }
    }
    return ats <= 1;
}

// The report as a mail to `to`, written to the sendmail program's stdin (-t: the
// recipient comes from To:, -oi: a line with a single dot is text).
int mail_report(const std::string& sendmail, const std::string& to, const std::string& body) {
    const auto first_line = body.substr(0, body.find('\n'));
    char date[64];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    const std::string message = fmt::format(
        "To: {}\nSubject: {}\nDate: {}\nAuto-Submitted: auto-generated\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n{}",
        to, first_line, date, body);
    // A sendmail that exits early must give an error, not kill us.
    ::signal(SIGPIPE, SIG_IGN);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        std::fprintf(stderr, "smtpwallctl: pipe: %s\n", std::strerror(errno));
        return kExitMail;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[0], STDIN_FILENO);
    std::vector<char*> argv{const_cast<char*>(sendmail.c_str()), const_cast<char*>("-oi"),
                            const_cast<char*>("-t"), nullptr};
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, sendmail.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[0]);
    if (rc != 0) {
        ::close(pipe_fds[1]);
        std::fprintf(stderr, "smtpwallctl: cannot run %s: %s\n", sendmail.c_str(),
                     std::strerror(rc));
        return kExitMail;
    }
    bool written = true;
    for (std::size_t sent = 0; sent < message.size();) {
        const auto n = ::write(pipe_fds[1], message.data() + sent, message.size() - sent);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            written = false;
            break;
        }
        sent += static_cast<std::size_t>(n);
    }
    ::close(pipe_fds[1]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!written || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "smtpwallctl: %s did not take the report (exit status %d)\n",
                     sendmail.c_str(), WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return kExitMail;
    }
    return kExitOk;
}

// --since D, --from T, --until T into the request; false (said why) when malformed.
bool read_period(Request& request, const std::string& since, const std::string& from,
                 const std::string& until) {
    using namespace smtpwall;
    if (!since.empty()) {
        request.since = conf::parse_duration(since);
        if (!request.since || request.since->count() == 0) {
            std::fprintf(stderr,
                         "smtpwallctl: --since: \"%s\" is not a duration such as 1h or 7d\n",
                         since.c_str());
            return false;
        }
    }
    for (const auto& [option, text, field] :
         {std::tuple{"--from", &from, &request.period_from},
          std::tuple{"--until", &until, &request.period_until}}) {
        if (text->empty()) continue;
        *field = parse_time(*text);
        if (!*field) {
            std::fprintf(stderr,
                         "smtpwallctl: %s: \"%s\" is not a UTC time such as 2026-12-01 or "
                         "2026-12-01T06:00:00Z\n",
                         option, text->c_str());
            return false;
        }
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"smtpwallctl: inspect and steer smtpwall (tallies, bans, the kernel's counters)"};
    app.footer(
        "Exit codes: 0 ok, 1 refused by the milter, 2 usage, 3 milter unreachable, 4 sendmail "
        "failed.");
    std::string socket_path = "/run/smtpwall/control.sock";
    if (const char* env = std::getenv("SMTPWALL_CONTROL")) socket_path = env;
    app.add_option("-s,--socket", socket_path, "the milter's control socket (env SMTPWALL_CONTROL)")
        ->capture_default_str();
    std::string server_user = "smtpwall";
    if (const char* env = std::getenv("SMTPWALL_SERVER_USER")) server_user = env;
    app.add_option("--server-user", server_user,
                   "the milter's user: a control socket served by anyone else but root is "
                   "refused (env SMTPWALL_SERVER_USER)")
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
    auto* status =
        app.add_subcommand("status", "uptime, sessions, bans, helper and DNS health, mode");
    auto* top = app.add_subcommand(
        "top", "the kernel's top sources of dropped packets (the weekly report)");
    top->add_option("count", request.top, "how many entries (default 20)")
        ->check(CLI::Range(1, 100000));
    top->add_flag("--exact", request.exact, "exact numbers instead of K/M/G");
    std::string since, from, until;
    top->add_option("--since", since,
                    "over the last D (e.g. 1h, 7d) from the counter history, across reboots");
    top->add_option("--from", from, "over a period from T (UTC, e.g. 2026-12-01)");
    top->add_option("--until", until, "... until T (default: now)");
    auto* report = app.add_subcommand(
        "report", "the summary of a period: verdicts, tags, bans, top sources, DNS zones");
    bool week = false;
    report->add_flag("--week", week, "the last 7 days (the default)");
    report->add_option("--since", since, "the last D instead (e.g. 24h, 30d)");
    report->add_option("--from", from, "from T (UTC, e.g. 2026-12-01)");
    report->add_option("--until", until, "until T (default: now)");
    std::string mail_to, sendmail = "/usr/sbin/sendmail";
    report->add_option("--mail-to", mail_to, "mail it to this address through the local MTA");
    report->add_option("--sendmail", sendmail, "the MTA's sendmail program")->capture_default_str();
    auto* show = app.add_subcommand("show", "everything known about an address");
    show->add_option("address", request.target, "an address or network")->required();
    auto* metrics = app.add_subcommand("metrics", "Prometheus text exposition");
    std::string ban_for;
    auto* ban = app.add_subcommand("ban", "ban an address or network by hand (admin)");
    ban->add_option("address", request.target, "an address or network")->required();
    ban->add_option("--for", ban_for,
                    "how long, e.g. 90m, 12h, 7d (default: the configured ban_duration)");
    ban->add_option("--reason", request.reason, "a tag shown in reports, e.g. abuse-report");
    auto* unban = app.add_subcommand("unban", "lift a ban (admin)");
    unban->add_option("address", request.target, "an address or network")->required();
    auto* allow =
        app.add_subcommand("allow", "never reject or ban an address or network again (admin)");
    allow->add_option("address", request.target, "an address or network")->required();
    auto* reload = app.add_subcommand(
        "reload", "re-read the configuration; a bad file changes nothing (admin)");
    auto* check =
        app.add_subcommand("check", "classify a client: live DNS through the milter, or --offline");
    check->add_option("--ip", request.ip, "the client's address")->required();
    check->add_option("--helo", request.helo, "the HELO/EHLO name it gives");
    check->add_option("--from", request.from, "the MAIL FROM address (for SPF)");
    OfflineFacts offline;
    check->add_flag(
        "--offline", offline.enabled,
        "no daemon, no DNS: judge the facts given (--ptr is taken as forward-confirmed)");
    check->add_option("--ptr", offline.ptr, "offline: the client's forward-confirmed PTR name");
    check->add_option("--listed", offline.listed,
                      "offline: a zone tag the client is listed in (repeatable)");
    std::string config_path = "/etc/smtpwall/smtpwall.conf";
    check
        ->add_option("-c,--config", config_path,
                     "offline: weights, threshold and zones from this file")
        ->capture_default_str();
    for (auto* sub : {ping, tallies, bans, check, status, top, report, show, metrics, ban, unban,
                      allow, reload}) {
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
    if (!ban_for.empty()) {
        request.duration = smtpwall::conf::parse_duration(ban_for);
        if (!request.duration || request.duration->count() == 0) {
            std::fprintf(stderr,
                         "smtpwallctl: --for: \"%s\" is not a duration such as 90m, 12h or 7d\n",
                         ban_for.c_str());
            return kExitUsage;
        }
    }
    if (!read_period(request, since, from, until)) return kExitUsage;
    if (week && request.over_period()) {
        std::fprintf(stderr, "smtpwallctl: give one period: --week, --since or --from\n");
        return kExitUsage;
    }
    if (week) request.since = std::chrono::seconds(7 * 86400);
    const bool mailing = report->count("--mail-to") > 0;
    if (mailing && (!plain_address(mail_to) || json)) {
        std::fprintf(stderr,
                     "smtpwallctl: --mail-to takes one address such as root or "
                     "postmaster@example.org, and no --json\n");
        return kExitUsage;
    }
    if (request.verb == "check" && offline.enabled)
        return check_offline(request, offline, config_path);
    if (request.verb == "check" && (!offline.ptr.empty() || !offline.listed.empty())) {
        std::fprintf(stderr,
                     "smtpwallctl: --ptr and --listed need --offline (live checks ask DNS)\n");
        return kExitUsage;
    }

    Server server{socket_path, server_user};
    if (const passwd* pw = ::getpwnam(server_user.c_str())) {
        server.uid = pw->pw_uid;
    } else {
        std::fprintf(stderr, "smtpwallctl: --server-user: user \"%s\" does not exist\n",
                     server_user.c_str());
        return kExitUsage;
    }
    try {
        const auto reply = converse(server, smtpwall::control::format_request(request));
        if (!reply.ok()) {
            std::fprintf(stderr, "smtpwallctl: %s\n", reply.status_message().c_str());
            return kExitRefused;
        }
        if (mailing) return mail_report(sendmail, mail_to, reply.body());
        // ping and the admin commands say what happened in the status line.
        if (!reply.status_message().empty() && !request.json)
            std::printf("%s\n", reply.status_message().c_str());
        std::fputs(reply.body().c_str(), stdout);
        return kExitOk;
    } catch (const Failure& f) {
        std::fprintf(stderr, "smtpwallctl: %s\n", f.message.c_str());
        return f.code;
    }
}
