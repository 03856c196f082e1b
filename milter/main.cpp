// smtpwall-milter: the mail filter. Postfix (smtpd_milters) or Sendmail
// (INPUT_MAIL_FILTER) connect to its unix socket and hand it every SMTP session;
// it classifies the client, answers with a verdict, tallies rejections per
// client address and, when a tally crosses the escalation rules, asks
// smtpwall-helper (unix socket, firewall/helper_main.cpp) to drop the address.
// Operators talk to it through the control socket (milter/control_server.cpp)
// with smtpwallctl.
//
// Security stance: runs unprivileged. Started as root it switches to the
// configured user before opening any socket or reading any client data. It
// never touches the firewall itself, never runs other programs, and treats all
// MTA input as hostile (escaped in logs, never echoed in replies).
//
// Threads: libmilter's session threads run the callbacks (milter/milter_glue.cpp);
// one Asio thread serves the control socket, the helper connection and timers.

#include <fmt/format.h>
#include <libmilter/mfapi.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "common/clock.hpp"
#include "common/host_name.hpp"
#include "common/log.hpp"
#include "common/sd_notify.hpp"
#include "common/unix_socket.hpp"
#include "conf/config_reader.hpp"
#include "conf/milter_config.hpp"
#include "dnsbl/spf.hpp"
#include "milter/cluster.hpp"
#include "milter/control_server.hpp"
#include "milter/dns_service.hpp"
#include "milter/enforcement.hpp"
#include "milter/event_loop.hpp"
#include "milter/helper_client.hpp"
#include "milter/history.hpp"
#include "milter/host_checks.hpp"
#include "milter/live_check.hpp"
#include "milter/milter_glue.hpp"
#include "milter/privileges.hpp"
#include "milter/recent.hpp"
#include "milter/runtime.hpp"
#include "milter/state_store.hpp"

namespace {

using namespace smtpwall;
namespace asio = boost::asio;

constexpr int kExitConfig = 78;    // EX_CONFIG
constexpr int kExitSoftware = 70;  // EX_SOFTWARE

SocketFile open_milter_socket(const conf::MilterConfig::Milter& cfg) {
    const std::string conn = "unix:" + cfg.socket;
    if (smfi_setconn(const_cast<char*>(conn.c_str())) == MI_FAILURE)
        throw std::runtime_error("libmilter rejected the socket name " + cfg.socket);
    smfi_settimeout(static_cast<int>(cfg.timeout.count()));
    // libmilter binds the socket itself; the path was claimed (a stale one removed),
    // so it need not remove anything.
    return bind_unix_socket(cfg.socket, socket_access(cfg.socket_mode, cfg.socket_group), [&] {
        if (smfi_opensocket(false) == MI_FAILURE)
            throw std::runtime_error("cannot create the milter socket " + cfg.socket);
    });
}

// [cluster] host_name, or the system's host name.
std::string cluster_host_name(const conf::MilterConfig::Cluster& config) {
    if (!config.host_name.empty()) return config.host_name;
    std::string host = system_host_name();
    if (host.empty())
        throw std::runtime_error("cluster.host_name is empty and the host has no name: set it");
    std::replace_if(
        host.begin(), host.end(),
        [](char c) {
            return !(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                     c == '_');
        },
        '_');
    return host.substr(0, 64);
}

// The Redis password, the file's first line. (host_problems() checked who may read it.)
std::string read_password(const std::string& file) {
    if (file.empty()) return {};
    std::ifstream in(file);
    std::string password;
    if (!in || !std::getline(in, password))
        throw std::runtime_error("cannot read cluster.password_file " + file);
    return password;
}

asio::awaitable<void> expire_bans(asio::io_context& io, Enforcement& enforcement) {
    asio::steady_timer tick(io);
    while (true) {
        tick.expires_after(std::chrono::seconds(1));
        co_await tick.async_wait(asio::use_awaitable);
        enforcement.expire(unix_now());
    }
}

int run(const std::string& config_path, const conf::MilterConfig& config) {
    const UnixTime started = unix_now();
    drop_root(config.milter.user);

    // libmilter turns SIGTERM/SIGINT/SIGHUP into an orderly stop in its own
    // signal thread; every other thread, ours included, must keep them blocked.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&stop_signals, s);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    asio::io_context io;
    auto work = asio::make_work_guard(io);
    const passwd* helper_user = ::getpwnam(config.helper.user.c_str());
    if (helper_user == nullptr)  // host_problems() found it at start; gone since
        throw std::runtime_error(
            fmt::format("helper.user \"{}\" does not exist", config.helper.user));
    HelperClient helper(io, config.helper.socket, helper_user->pw_uid);
    Enforcement enforcement(config, helper);
    HistoryRecorder history(io, helper, config.history, unix_now);
    enforcement.observe(&history);
    std::unique_ptr<StateStore> store;
    StateStore::Contents saved;
    if (!config.state.file.empty()) {
        store = std::make_unique<StateStore>(config.state.file, config.tally.window);
        saved = store->load();
        enforcement.restore(saved.tallies, saved.bans, saved.allows, unix_now());
        history.restore(std::move(saved.history));
        log_info(fmt::format("state restored {} tallies={} bans={}", kv("file", config.state.file),
                             saved.tallies.size(), enforcement.ban_counts().active));
    }
    // Cluster mode: this host's outbox and cursor now; the link once the runtime exists.
    std::string cluster_host;
    if (config.cluster.enabled()) {
        cluster_host = cluster_host_name(config.cluster);
        enforcement.join_cluster(cluster_host, std::move(saved.outbox),
                                 std::move(saved.cluster_meta));
    }
    saved = {};
    std::optional<StateWriter> writer;
    if (store)
        writer.emplace(*store, enforcement, config.state.flush_interval, unix_now,
                       [&history] { return history.take_changes(); });
    // DNS (and SPF) exist before the control socket: `check` uses them.
    std::unique_ptr<DnsService> dns;
    std::unique_ptr<SpfChecker> spf;
    if (config.dns.enabled) {
        dns = std::make_unique<DnsService>(config, unix_now);
        if (config.spf.enabled) {
            SpfConfig spf_config;
            spf_config.workers = config.spf.workers;
            spf_config.client_workers = config.spf.client_workers;
            spf_config.deadline = config.dns.deadline;
            if (!config.identity.hostnames.empty())
                spf_config.local_hostname = config.identity.hostnames.front();
            spf = std::make_unique<SpfChecker>(dns->resolver(), spf_config);
            dns->use_spf(*spf);
        }
    }
    Runtime runtime(config_path, config, enforcement, dns.get(), started);
    std::unique_ptr<Cluster> cluster;
    if (config.cluster.enabled()) {
        cluster = std::make_unique<Cluster>(
            io, config, cluster_host, read_password(config.cluster.password_file), enforcement,
            unix_now, [&runtime] {
                const auto c = runtime.config();
                return cluster::policy_fingerprint(c->tally.window, c->tally.ipv4_prefix,
                                                   c->tally.ipv6_prefix, c->escalation.rules);
            });
        enforcement.on_cluster_work([c = cluster.get()] { c->wake(); });
    }
    RecentSessions recent;
    const LiveCheck live_check(runtime, dns.get());
    ControlServer control(io, config.control,
                          ControlContext{enforcement, helper, runtime, recent, dns.get(), unix_now,
                                         [&live_check](const control::Request& req,
                                                       std::function<void(std::string)> done) {
                                             live_check.run(req, std::move(done));
                                         },
                                         cluster.get(), &history});
    control.start();
    // Whenever the helper (re)appears it gets the complete set: the kernel then
    // holds exactly the active bans, after a reboot too.
    history.start();  // before the helper's first LIST: the sync's sample is heard
    helper.start([&enforcement] { enforcement.sync_firewall(); });
    asio::co_spawn(io, expire_bans(io, enforcement), asio::detached);
    if (cluster) cluster->start([&runtime] { runtime.refresh_allows(); });
    std::thread io_thread([&io] { run_event_loop(io, "main"); });

    MilterContext context{&runtime, &enforcement, dns.get(), &recent, unix_now};
    int rc = kExitSoftware;
    SocketFile milter_socket;
    if (register_milter(context)) {
        try {
            milter_socket = open_milter_socket(config.milter);
            log_info(fmt::format("started {} {} {}", kv("milter", config.milter.socket),
                                 kv("control", config.control.socket),
                                 kv("mode", config.milter.observe ? "observe" : "enforce")));
            // The socket is open (the MTA's connects queue): systemd may start the MTA.
            if (!notify_ready())
                log_warning("could not tell systemd we are ready ($NOTIFY_SOCKET)");
            rc = smfi_main() == MI_SUCCESS ? 0 : kExitSoftware;
        } catch (const std::exception& e) {
            log_error(e.what());
        }
    }
    log_info("stopping");
    const bool drained = drain_sessions(std::chrono::seconds(30));
    control.stop();
    if (cluster) cluster->stop();
    // The counters as they are at the end: a restart loses nothing of them.
    history.final_sample(std::chrono::seconds(2));
    helper.stop();
    work.reset();
    io.stop();
    io_thread.join();
    if (writer) writer->stop();  // the last changes reach the disk
    if (!drained) {
        // Their callbacks still use what a normal return would destroy: leave now.
        log_error(fmt::format("{} sessions still open after 30 s; exiting without cleanup",
                              open_sessions()));
        milter_socket.remove();
        std::_Exit(rc == 0 ? kExitSoftware : rc);
    }
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "smtpwall-milter: classifies SMTP sessions, tallies rejections, bans through "
        "smtpwall-helper"};
    std::string config_path = "/etc/smtpwall/smtpwall.conf";
    bool foreground = false;
    bool check_only = false;
    app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
    app.add_flag("-f,--foreground", foreground, "log to stderr instead of syslog (mail facility)");
    app.add_flag("--check-config", check_only, "validate the configuration and exit");
    bool list_settings = false;
    app.add_flag("--list-settings", list_settings,
                 "list every setting of the configuration file with its default and exit");
    CLI11_PARSE(app, argc, argv);

    if (list_settings) {
        std::fputs(conf::render_settings(conf::milter_settings()).c_str(), stdout);
        return 0;
    }
    conf::MilterConfig config;
    try {
        config = conf::load_milter_config(config_path);
    } catch (const conf::ConfigError& e) {
        std::fprintf(stderr, "smtpwall-milter: %s\n", e.what());
        return kExitConfig;
    }
    // The same host checks at start as in --check-config: what passes one passes both.
    if (const auto problems = host_problems(config); !problems.empty()) {
        for (const auto& p : problems) std::fprintf(stderr, "smtpwall-milter: %s\n", p.c_str());
        return kExitConfig;
    }
    if (check_only) {
        std::printf("%s: configuration OK\n", config_path.c_str());
        return 0;
    }
    if (foreground) {
        log_to_stderr("smtpwall-milter");
    } else {
        log_to_syslog("smtpwall-milter");
    }
    try {
        return run(config_path, config);
    } catch (const std::exception& e) {
        log_error(e.what());
        return kExitSoftware;
    }
}
