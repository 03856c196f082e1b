// Control protocol, as served here (and spoken by smtpwallctl):
//
//   Transport  unix stream socket (config [control] socket, mode socket_mode,
//              group socket_group). Usable by hand:
//              socat - UNIX-CONNECT:/run/smtpwall/control.sock
//   Request    one line: VERB [ARGS] [--json], at most 1024 bytes, "\n" or "\r\n".
//              Verbs (see `help`): ping, status, tallies, bans, top, show, check,
//              metrics, ban, unban, allow, reload, help.
//   Reply      a status line "OK [message]" or "ERR <why>", then the body, then a
//              line holding a single "."; body lines starting with "." get another
//              "." in front (SMTP dot-stuffing). --json bodies are one JSON document.
//              Several requests may follow on one connection.
//   Rights     the peer is identified with SO_PEERCRED. Everyone who can open the
//              socket may read; ban, unban, allow and reload need root, the milter's
//              own user, a user in [control] admin_users or a member of admin_group.
//   Limits     an over-long request gets ERR and the connection is closed; a
//              malformed one gets ERR. A connection waiting idle_timeout (60 s) for
//              a request is closed, and so is one whose client has not taken its
//              reply within write_timeout (10 s): the reply is dropped. Users who are
//              not admins share max_connections (64) and each user, admins too, has
//              max_connections_per_user (8); a connection over a cap gets
//              "ERR too many connections" (if it can take it at once) and is closed.
//              Live `check` is limited to checks_per_minute (30) per user who is not
//              an admin. Refusals are counted in smtpwall_control_refused_total and
//              logged at most once a minute.
//
// The optional [control] metrics_listen serves the `metrics` text over HTTP/1.0
// (GET /metrics) on a loopback address, for Prometheus to scrape: one request per
// connection, at most max_connections at once, each done within write_timeout.

#include "milter/control_server.hpp"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "common/host_name.hpp"
#include "common/log.hpp"
#include "common/unix_socket.hpp"
#include "conf/config_reader.hpp"
#include "core/history_report.hpp"
#include "core/report.hpp"
#include "milter/cluster.hpp"
#include "milter/history.hpp"
#include "milter/metrics.hpp"

namespace smtpwall {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;

namespace {
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
constexpr auto kRefusalLogInterval = std::chrono::seconds(60);
constexpr auto kHelperTimeout = std::chrono::seconds(5);
constexpr auto kCheckTimeout = std::chrono::seconds(30);
constexpr std::size_t kMaxHttpRequest = 8192;

// A socket and whether its deadline closed it, shared with the deadline's handler: that
// may run after the coroutine serving the socket has ended (a wait that finished in the
// same turn as the timer), and must then find the socket still there.
template <typename Socket>
struct Watched {
    explicit Watched(Socket s) : socket(std::move(s)) {}
    Socket socket;
    bool timed_out = false;
};

// Closes the watched socket, ending whatever read or write waits on it, after `limit`.
template <typename Socket>
void close_after(asio::steady_timer& timer, std::chrono::seconds limit,
                 const std::shared_ptr<Watched<Socket>>& watched) {
    timer.expires_after(limit);
    timer.async_wait([watched](boost::system::error_code ec) {
        if (ec) return;  // cancelled: the wait finished in time
        watched->timed_out = true;
        watched->socket.close(ec);
    });
}

std::string framed(bool json, const nlohmann::json& doc, const std::string& text) {
    return control::frame_reply(true, "", json ? json_text(doc) : text);
}

std::string duration_text(std::int64_t seconds) {
    if (seconds >= 86400) return fmt::format("{}d{}h", seconds / 86400, seconds % 86400 / 3600);
    if (seconds >= 3600) return fmt::format("{}h{:02}m", seconds / 3600, seconds % 3600 / 60);
    if (seconds >= 60) return fmt::format("{}m{:02}s", seconds / 60, seconds % 60);
    return fmt::format("{}s", seconds);
}

}  // namespace

ControlServer::ControlServer(asio::io_context& io, const conf::MilterConfig::Control& config,
                             ControlContext ctx)
    : io_(io),
      config_(config),
      ctx_(std::move(ctx)),
      acceptor_(io),
      metrics_acceptor_(io),
      refusal_log_(io) {}

void ControlServer::start() {
    auto listener =
        listen_unix(config_.socket, socket_access(config_.socket_mode, config_.socket_group));
    acceptor_.assign(asio::local::stream_protocol(), listener.fd);
    socket_file_ = std::move(listener.file);
    asio::co_spawn(io_, accept_loop(), asio::detached);

    if (!config_.metrics_listen.empty()) {
        const auto where =
            conf::parse_host_port(config_.metrics_listen, 0);  // validated with the config
        const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(where->first.to_string()),
                                               where->second);
        metrics_acceptor_.open(endpoint.protocol());
        metrics_acceptor_.set_option(asio::socket_base::reuse_address(true));
        metrics_acceptor_.bind(endpoint);
        metrics_acceptor_.listen();
        asio::co_spawn(io_, metrics_accept_loop(), asio::detached);
    }
}

void ControlServer::stop() {
    asio::post(io_, [this] {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        metrics_acceptor_.close(ignored);
        socket_file_.remove();
    });
}

unsigned ControlServer::peer_uid(Socket& socket) {
    const auto cred = peer_credentials(socket.native_handle());
    return cred ? cred->uid : static_cast<unsigned>(-1);
}

ControlServer::Peer ControlServer::identify(unsigned uid) const {
    Peer peer;
    peer.uid = uid;
    if (uid == static_cast<unsigned>(-1)) return peer;  // unknown: read-only
    // Root, and the milter's own user (systemd's ExecReload runs as it).
    if (uid == 0 || uid == ::geteuid()) {
        peer.admin = true;
        return peer;
    }
    const passwd* pw = ::getpwuid(uid);
    const std::string name = pw != nullptr ? pw->pw_name : "";
    if (!name.empty() && std::find(config_.admin_users.begin(), config_.admin_users.end(), name) !=
                             config_.admin_users.end())
        peer.admin = true;
    if (!peer.admin && !config_.admin_group.empty()) {
        if (const group* gr = ::getgrnam(config_.admin_group.c_str())) {
            if (pw != nullptr && pw->pw_gid == gr->gr_gid) peer.admin = true;
            for (char** m = gr->gr_mem; !peer.admin && m != nullptr && *m != nullptr; ++m)
                if (name == *m) peer.admin = true;
        }
    }
    return peer;
}

ControlServer::Place::Place(std::shared_ptr<Places> places, const Peer& peer)
    : places_(std::move(places)), peer_(peer) {
    ++places_->by_uid[peer_.uid];
    if (!peer_.admin) ++places_->open;
}

ControlServer::Place::~Place() {
    if (!places_) return;  // moved from
    if (!peer_.admin) --places_->open;
    const auto it = places_->by_uid.find(peer_.uid);
    if (it != places_->by_uid.end() && --it->second == 0) places_->by_uid.erase(it);
}

std::optional<ControlServer::Place> ControlServer::take_place(unsigned uid, Peer& peer,
                                                              std::string_view& why) {
    // The per-user cap first: a flood from one user costs no user-database lookups.
    const auto mine = places_->by_uid.find(uid);
    if (mine != places_->by_uid.end() && mine->second >= config_.max_connections_per_user) {
        why = "user_connections";
        return std::nullopt;
    }
    peer = identify(uid);
    if (!peer.admin && places_->open >= config_.max_connections) {
        why = "connections";
        return std::nullopt;
    }
    return std::optional<Place>(std::in_place, places_, peer);
}

void ControlServer::refused(std::string_view why) {
    metrics().control_refused(why);
    ++unlogged_refusals_[std::string(why)];
    if (refusal_log_armed_) return;
    // The first refusal is logged now, the next ones together a minute later.
    log_refusals();
    refusal_log_armed_ = true;
    refusal_log_.expires_after(kRefusalLogInterval);
    refusal_log_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;  // cancelled: the server is going away
        refusal_log_armed_ = false;
        if (!unlogged_refusals_.empty()) log_refusals();
    });
}

void ControlServer::log_refusals() {
    std::string counts;
    for (const auto& [why, n] : unlogged_refusals_)
        counts += fmt::format(" {}", kv(why, std::to_string(n)));
    unlogged_refusals_.clear();
    log_warning(fmt::format("control: connections or requests refused or cut{}", counts));
}

awaitable<void> ControlServer::accept_pause() {
    asio::steady_timer pause(io_, kAcceptPause);
    boost::system::error_code ignored;
    co_await pause.async_wait(asio::redirect_error(use_awaitable, ignored));
}

awaitable<void> ControlServer::accept_loop() {
    while (acceptor_.is_open()) {
        boost::system::error_code ec;
        Socket socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
        if (ec) {
            if (ec == asio::error::operation_aborted) co_return;
            co_await accept_pause();  // out of descriptors, say: let some close first
            continue;
        }
        Peer peer;
        std::string_view why;
        auto place = take_place(peer_uid(socket), peer, why);
        if (!place) {
            refused(why);
            // Told only if it can take it at once: a refusal must not wait for anyone.
            const auto reply = control::frame_reply(false, "too many connections", "");
            (void)::send(socket.native_handle(), reply.data(), reply.size(),
                         MSG_DONTWAIT | MSG_NOSIGNAL);
            socket.close(ec);
            continue;
        }
        asio::co_spawn(io_, serve(std::move(socket), peer, std::move(*place)), asio::detached);
    }
}

awaitable<void> ControlServer::serve(Socket socket, Peer peer, [[maybe_unused]] Place place) {
    const auto watched = std::make_shared<Watched<Socket>>(std::move(socket));
    auto& sock = watched->socket;
    asio::steady_timer deadline(io_);
    std::string buffer;
    try {
        while (true) {
            close_after(deadline, config_.idle_timeout, watched);
            boost::system::error_code ec;
            const auto n = co_await asio::async_read_until(
                sock, asio::dynamic_buffer(buffer, control::kMaxRequestLine + 2), '\n',
                asio::redirect_error(use_awaitable, ec));
            deadline.cancel();
            if (ec == asio::error::not_found) {
                co_await asio::async_write(
                    sock, asio::buffer(control::frame_reply(false, "request line too long", "")),
                    use_awaitable);
                co_return;
            }
            if (ec) co_return;  // closed by the client or the idle timer
            const std::string line = buffer.substr(0, n - 1);
            buffer.erase(0, n);

            const auto parsed = control::parse_request(line);
            std::string reply;
            if (const auto* err = std::get_if<control::RequestError>(&parsed)) {
                reply = control::frame_reply(false, err->message, "");
            } else {
                try {
                    reply = co_await execute(std::get<control::Request>(parsed), peer);
                } catch (const std::exception& e) {
                    log_error(fmt::format("control command failed {}", kv("error", e.what())));
                    reply = control::frame_reply(false, "internal error", "");
                }
            }
            close_after(deadline, config_.write_timeout, watched);
            co_await asio::async_write(sock, asio::buffer(reply),
                                       asio::redirect_error(use_awaitable, ec));
            deadline.cancel();
            if (watched->timed_out) refused("timeout");
            if (ec) co_return;  // gone, or not reading its replies: dropped with the socket
        }
    } catch (const std::exception&) {
        // The client went away mid-reply; nothing to clean up beyond the socket.
    }
}

awaitable<std::optional<HelperClient::Entries>> ControlServer::kernel_entries() {
    // The helper answers on this same thread; a timer doubles as the wake-up signal.
    auto result = std::make_shared<std::optional<std::optional<HelperClient::Entries>>>();
    auto timer = std::make_shared<asio::steady_timer>(io_, kHelperTimeout);
    ctx_.helper.list([result, timer](std::optional<HelperClient::Entries> entries) {
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
    ctx_.checker(req, [reply, timer, &io = io_](std::string text) {
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

Gauges ControlServer::gauges() const {
    Gauges g;
    const auto config = ctx_.runtime.config();
    g.uptime_seconds = static_cast<double>(ctx_.clock() - ctx_.runtime.started());
    g.bans_active = ctx_.enforcement.ban_counts().active;
    g.tracked_addresses = ctx_.enforcement.tracked();
    g.helper_connected = ctx_.helper.connected();
    g.helper_sync_deferred = ctx_.helper.deferred();
    g.observe = ctx_.enforcement.observing();
    if (ctx_.cluster != nullptr) {
        const auto c = ctx_.cluster->status();
        g.cluster = {true, c.connected, c.outbox};
    }
    if (ctx_.dns != nullptr) {
        const auto s = ctx_.dns->stats();
        g.dns = {s.lookups,  s.cache_hits,    s.queries_sent, s.timeouts,
                 s.failures, s.tcp_fallbacks, s.in_flight,    s.cache_entries};
        const auto now = ctx_.clock();
        for (const auto& z : config->zones) g.zones[z.zone] = {};
        for (const auto& [zone, state] : ctx_.dns->health().snapshot())
            g.zones[zone] = {state.dead, state.suspended_until > now, state.suspensions};
    }
    return g;
}

std::string ControlServer::status(bool json) const {
    const auto g = gauges();
    const auto m = metrics().snapshot();
    const auto config = ctx_.runtime.config();
    const auto manual = ctx_.enforcement.ban_counts().manual;
    const auto sessions = [&](const char* verdict) { return m.sessions.at(verdict); };
    nlohmann::json doc = {
        {"version", SMTPWALL_VERSION},
        {"uptime_seconds", static_cast<std::int64_t>(g.uptime_seconds)},
        {"started", ctx_.runtime.started()},
        {"mode", g.observe ? "observe" : "enforce"},
        {"sessions", m.sessions},
        {"tracked_addresses", g.tracked_addresses},
        {"bans", {{"active", g.bans_active}, {"manual", manual}}},
        {"helper",
         {{"connected", g.helper_connected},
          {"socket", config->helper.socket},
          {"deferred", g.helper_sync_deferred}}},
        {"config", ctx_.runtime.config_path()},
        {"state_file", config->state.file},
    };
    std::string text =
        fmt::format("smtpwall-milter {}, up {} (since {}), mode {}\n", SMTPWALL_VERSION,
                    duration_text(static_cast<std::int64_t>(g.uptime_seconds)),
                    format_time(ctx_.runtime.started()), g.observe ? "observe" : "enforce");
    text += g.observe ? fmt::format(
                            "sessions: {} accepted, {} would have been rejected, {} would have "
                            "been tempfailed\n",
                            sessions("accept-observe"), sessions("would-reject"),
                            sessions("would-tempfail"))
                      : fmt::format("sessions: {} accepted, {} rejected, {} tempfailed\n",
                                    sessions("accept"), sessions("reject"), sessions("tempfail"));
    text += fmt::format("tallies: {} addresses tracked\n", g.tracked_addresses);
    text += fmt::format("bans: {} active ({} by hand)\n", g.bans_active, manual);
    text +=
        fmt::format("firewall helper: {}{}\n", g.helper_connected ? "connected" : "NOT CONNECTED",
                    g.helper_sync_deferred == 0
                        ? std::string()
                        : fmt::format(", {} bans deferred by its rate cap (sent again every "
                                      "minute)",
                                      g.helper_sync_deferred));
    if (ctx_.dns != nullptr) {
        const auto& d = g.dns;
        const double hit_rate = d.lookups == 0 ? 0.0
                                               : 100.0 * static_cast<double>(d.cache_hits) /
                                                     static_cast<double>(d.lookups);
        text += fmt::format("dns: {} lookups, {:.0f}% from cache, {} timeouts, {} failed\n",
                            d.lookups, hit_rate, d.timeouts, d.failures);
        nlohmann::json zones = nlohmann::json::array();
        const auto health = ctx_.dns->health().snapshot();
        for (const auto& z : config->zones) {
            const auto it = health.find(z.zone);
            std::string state = "ok";
            std::string why;
            std::int64_t until = 0;
            if (it != health.end()) {
                if (it->second.dead) {
                    state = "dead";
                    why = it->second.why;
                } else if (it->second.suspended_until > ctx_.clock()) {
                    state = "suspended";
                    why = it->second.why;
                    until = it->second.suspended_until;
                }
            }
            text += fmt::format("zone {} ({}, weight {}): {}{}\n", z.zone, z.tag, z.weight, state,
                                state == "suspended"
                                    ? fmt::format(" until {}: {}", format_time(until), why)
                                : state == "dead" ? ": " + why
                                                  : std::string{});
            zones.push_back({{"zone", z.zone},
                             {"tag", z.tag},
                             {"weight", z.weight},
                             {"state", state},
                             {"why", why},
                             {"suspended_until", until}});
        }
        doc["dns"] = {{"lookups", d.lookups},
                      {"cache_hits", d.cache_hits},
                      {"timeouts", d.timeouts},
                      {"failures", d.failures},
                      {"zones", zones}};
    } else {
        text += "dns: disabled\n";
        doc["dns"] = nullptr;
    }
    if (ctx_.cluster != nullptr) {
        const auto c = ctx_.cluster->status();
        const auto now = ctx_.clock();
        text += fmt::format(
            "cluster: {} as {} via {}, outbox {}, lag {:.0f} ms, published {}, applied {} "
            "({} refused), reconnects {}{}\n",
            c.connected ? "connected" : "NOT CONNECTED", c.host, c.redis.empty() ? "-" : c.redis,
            c.outbox, c.lag_ms, c.published, c.applied, c.refused, c.reconnects,
            c.policy_match ? "" : "; POLICY DIFFERS from the cluster's: tallies not merged");
        nlohmann::json peers = nlohmann::json::array();
        for (const auto& p : c.peers) {
            text += fmt::format("  peer {}: heartbeat {} s ago, policy {}\n", p.host,
                                now - p.heartbeat, p.policy_match ? "same" : "DIFFERENT");
            peers.push_back(
                {{"host", p.host}, {"heartbeat", p.heartbeat}, {"policy_match", p.policy_match}});
        }
        doc["cluster"] = {{"connected", c.connected},
                          {"host", c.host},
                          {"redis", c.redis},
                          {"outbox", c.outbox},
                          {"lag_ms", c.lag_ms},
                          {"published", c.published},
                          {"applied", c.applied},
                          {"refused", c.refused},
                          {"reconnects", c.reconnects},
                          {"policy_match", c.policy_match},
                          {"peers", peers}};
    } else {
        doc["cluster"] = nullptr;
    }
    text += fmt::format("config: {}\nstate: {}\n", ctx_.runtime.config_path(),
                        config->state.file.empty() ? "(not kept)" : config->state.file);
    return framed(json, doc, text);
}

awaitable<std::string> ControlServer::show(const control::Request& req) {
    const auto net = *Cidr::parse(req.target, true);
    const UnixTime now = ctx_.clock();
    // A host address is shown under the key it is tallied with (/64 for IPv6).
    const Cidr key = net.is_host() ? ctx_.enforcement.key_of(net.base) : net;
    const auto tally = ctx_.enforcement.tally_of(key, now);
    const auto ban = ctx_.enforcement.ban_covering(net.base);
    const auto last = ctx_.recent.last(key);
    const auto kernel = co_await kernel_entries();

    nlohmann::json doc = {{"address", req.target}, {"key", key.to_string()}};
    std::string text = fmt::format("{} (tallied as {})\n", req.target, key.to_string());
    if (tally) {
        doc["tally"] = tallies_json({*tally}, ctx_.enforcement.window()).front();
        doc["tally"]["bans"] = tally->tally.bans;
        text += fmt::format(
            "tally: {} rejections ({} recent), {} sessions, {} accepted messages, banned {} "
            "times\n",
            tally->tally.rejections, tally->recent, tally->tally.sessions, tally->tally.accepted,
            tally->tally.bans);
        text += fmt::format("seen: first {}, last {}\n", format_time(tally->tally.first_seen),
                            format_time(tally->tally.last_seen));
        for (const auto& t : tally->tags)
            text += fmt::format("  {}: {} (last {})\n", t.name, t.count, format_time(t.last));
    } else {
        doc["tally"] = nullptr;
        text += "tally: none\n";
    }
    // Whether a ban can follow rejections at all, and why not.
    const auto relay = ctx_.enforcement.shared_relay(key);
    const std::uint32_t withheld = tally ? tally->withheld : 0;
    doc["shared_relay"] = relay ? nlohmann::json(relay->to_string()) : nlohmann::json(nullptr);
    doc["bans_withheld"] = withheld;
    if (relay)
        text += fmt::format(
            "shared relay: {} ({}): rejected like anyone, banned only by a rule that says "
            "\"including shared-relay\"; {} ban{} withheld\n",
            relay->to_string(), describe(*relay), withheld, withheld == 1 ? "" : "s");
    else if (withheld > 0)
        text += fmt::format("shared relay: no longer; {} ban{} withheld while it was one\n",
                            withheld, withheld == 1 ? "" : "s");
    if (ban) {
        doc["ban"] = {{"host", ban->key.to_string()},
                      {"tags", ban->tags},
                      {"since", ban->since},
                      {"expires", ban->expires},
                      {"rule", ban->rule},
                      {"origin", origin_name(ban->origin)},
                      {"observed", ban->observed},
                      {"decided_by",
                       ban->host.empty() ? nlohmann::json(nullptr) : nlohmann::json(ban->host)}};
        text += fmt::format("ban: {} {} since {}, expires {}, rule \"{}\"{}{}\n",
                            ban->key.to_string(), origin_name(ban->origin), format_time(ban->since),
                            ban->expires == 0 ? "never" : format_time(ban->expires), ban->rule,
                            ban->host.empty() ? "" : ", decided by " + ban->host,
                            ban->observed ? " (observe mode: not enforced)" : "");
    } else {
        doc["ban"] = nullptr;
        text += "ban: none\n";
    }
    if (ctx_.cluster != nullptr) {
        // The tally as every MX counted it, from Redis.
        auto fields = std::make_shared<std::optional<std::optional<std::vector<std::string>>>>();
        auto timer = std::make_shared<asio::steady_timer>(io_, kHelperTimeout);
        ctx_.cluster->tally_fields(key, [fields, timer](auto got) {
            *fields = std::move(got);
            timer->cancel();
        });
        boost::system::error_code ignored;
        co_await timer->async_wait(asio::redirect_error(use_awaitable, ignored));
        doc["cluster"] = nlohmann::json::object();
        if (fields->has_value() && fields->value()) {
            for (const auto& [host, c] :
                 cluster::counts_per_host(*fields->value(), ctx_.enforcement.window(), now)) {
                doc["cluster"][host] = {{"rejections", c.rejections}, {"accepted", c.accepted}};
                text +=
                    fmt::format("cluster: {} counted {} rejections, {} accepted in the window\n",
                                host, c.rejections, c.accepted);
            }
        } else {
            doc["cluster"] = nullptr;
            text += "cluster: (Redis unreachable)\n";
        }
    }
    doc["kernel"] = nlohmann::json::array();
    if (kernel) {
        for (const auto& e : *kernel) {
            if (!e.net.contains(net.base)) continue;
            doc["kernel"].push_back({{"host", e.net.to_string()},
                                     {"packets", e.packets},
                                     {"bytes", e.bytes},
                                     {"dynamic", e.origin == helperproto::Origin::dynamic},
                                     {"tags", e.tags}});
            text += fmt::format("kernel: {} {} packets, {} bytes\n", e.net.to_string(), e.packets,
                                e.bytes);
        }
    } else {
        text += "kernel: (firewall helper unreachable)\n";
    }
    if (last) {
        doc["last_session"] = {{"when", last->when},
                               {"helo", last->helo},
                               {"verdict", last->verdict},
                               {"score", last->score},
                               {"tags", last->tags}};
        text += fmt::format(
            "last session: {} helo={} verdict={} score={} tags={}\n", format_time(last->when),
            last->helo.empty() ? "-" : kv_value(last->helo), last->verdict, last->score,
            last->tags.empty() ? "-" : fmt::format("{}", fmt::join(last->tags, ",")));
        if (last->dns) {
            Classification none;
            doc["last_session"]["dns"] = check_json(none, 0, &*last->dns)["dns"];
            const auto facts = render_check(none, 0, &*last->dns);
            // Only the DNS lines of that rendering: the score line belongs to `check`.
            std::size_t pos = facts.find('\n');
            text += pos == std::string::npos ? std::string{} : facts.substr(pos + 1);
        }
    } else {
        doc["last_session"] = nullptr;
    }
    co_return framed(req.json, doc, text);
}

awaitable<std::string> ControlServer::over_period(const control::Request& req) {
    if (ctx_.history == nullptr) co_return control::frame_reply(false, "no counter history", "");
    // The kernel's counters of this moment go into the history first (a LIST is a sample).
    const bool kernel_known = (co_await kernel_entries()).has_value();
    const UnixTime now = ctx_.clock();
    Period period;
    period.until = req.period_until.value_or(now);
    period.from =
        req.period_from.value_or(now - req.since.value_or(std::chrono::seconds(0)).count());
    const std::string unreachable =
        kernel_known ? "" : "(firewall helper unreachable: counters as of the last sample)\n";
    if (req.verb == "report") {
        ctx_.history->count_sample();
        const auto config = ctx_.runtime.config();
        const auto report = ctx_.history->report(config->identity.hostnames.empty()
                                                     ? system_host_name()
                                                     : config->identity.hostnames.front(),
                                                 period);
        co_return framed(req.json, period_report_json(report),
                         render_period_report(report) + unreachable);
    }
    auto rows = ctx_.history->top(period);
    if (rows.size() > req.top) rows.resize(req.top);
    co_return framed(req.json, history_top_json(rows, period),
                     render_history_top(rows, period, req.exact) + unreachable);
}

awaitable<std::string> ControlServer::top(const control::Request& req) {
    if (req.over_period()) co_return co_await over_period(req);
    const auto kernel = co_await kernel_entries();
    if (!kernel) co_return control::frame_reply(false, "the firewall helper is unreachable", "");
    auto entries = *kernel;
    std::stable_sort(entries.begin(), entries.end(),
                     [](const auto& a, const auto& b) { return a.packets > b.packets; });
    if (entries.size() > req.top) entries.resize(req.top);
    co_return framed(req.json, top_json(entries), render_top(entries, req.exact));
}

awaitable<std::string> ControlServer::execute(const control::Request& req, const Peer& peer) {
    if (control::mutating(req.verb) && !peer.admin) {
        log_warning(fmt::format("control: refused {} from uid {}", req.verb, peer.uid));
        co_return control::frame_reply(
            false,
            fmt::format(
                "permission denied: {} needs root or an admin ([control] admin_users, admin_group)",
                req.verb),
            "");
    }
    const UnixTime now = ctx_.clock();
    auto action = [&](const Enforcement::ActionResult& r) {
        nlohmann::json doc = {{"ok", r.ok}, {"message", r.message}};
        if (!r.ok) return control::frame_reply(false, r.message, "");
        return control::frame_reply(true, r.message, req.json ? json_text(doc) : std::string{});
    };
    if (req.verb == "ping") co_return control::frame_reply(true, "pong", "");
    if (req.verb == "help") co_return control::frame_reply(true, "", control::help_text());
    if (req.verb == "status") co_return status(req.json);
    if (req.verb == "metrics")
        co_return control::frame_reply(true, "", render_prometheus(metrics().snapshot(), gauges()));
    if (req.verb == "tallies") {
        const auto rows = ctx_.enforcement.top(req.top, req.tag, now);
        co_return framed(req.json, tallies_json(rows, ctx_.enforcement.window()),
                         render_tallies(rows, ctx_.enforcement.window()));
    }
    if (req.verb == "bans") {
        const auto kernel = co_await kernel_entries();
        const auto views = join_bans(ctx_.enforcement.bans(), kernel);
        co_return framed(req.json,
                         {{"kernel_known", kernel.has_value()}, {"bans", bans_json(views)}},
                         render_bans(views, kernel.has_value()));
    }
    if (req.verb == "top") co_return co_await top(req);
    if (req.verb == "report") co_return co_await over_period(req);
    if (req.verb == "show") co_return co_await show(req);
    if (req.verb == "check") {
        // Real DNS, and DNSBL quota that a refusal suspends for everyone: rationed.
        if (!peer.admin) {
            auto& bucket = checks_.try_emplace(peer.uid, config_.checks_per_minute).first->second;
            if (!bucket.try_take(std::chrono::steady_clock::now())) {
                refused("check_rate");
                co_return control::frame_reply(
                    false,
                    fmt::format("at most {} live checks a minute for users who are not admins",
                                config_.checks_per_minute),
                    "");
            }
        }
        co_return co_await live_check(req);
    }
    if (req.verb == "ban") {
        const auto net = *Cidr::parse(req.target, true);
        const auto duration = req.duration.value_or(ctx_.enforcement.default_ban_duration());
        log_info(
            fmt::format("control: ban {} by uid {}", kv("network", net.to_string()), peer.uid));
        co_return action(ctx_.enforcement.manual_ban(
            net, duration, req.reason.empty() ? "manual" : req.reason, now));
    }
    if (req.verb == "unban") {
        log_info(fmt::format("control: unban {} by uid {}", kv("network", req.target), peer.uid));
        co_return action(ctx_.enforcement.manual_unban(*Cidr::parse(req.target, true)));
    }
    if (req.verb == "allow") {
        log_info(fmt::format("control: allow {} by uid {}", kv("network", req.target), peer.uid));
        co_return action(ctx_.runtime.allow(*Cidr::parse(req.target, true)));
    }
    if (req.verb == "reload") {
        log_info(fmt::format("control: reload by uid {}", peer.uid));
        co_return action(ctx_.runtime.reload());
    }
    co_return control::frame_reply(false, "unknown command", "");
}

awaitable<void> ControlServer::metrics_accept_loop() {
    while (metrics_acceptor_.is_open()) {
        boost::system::error_code ec;
        auto socket =
            co_await metrics_acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
        if (ec) {
            if (ec == asio::error::operation_aborted) co_return;
            co_await accept_pause();
            continue;
        }
        if (places_->metrics >= config_.max_connections) {
            refused("metrics_connections");
            socket.close(ec);
            continue;
        }
        ++places_->metrics;  // given back when serve_metrics ends
        asio::co_spawn(io_, serve_metrics(std::move(socket), places_), asio::detached);
    }
}

// One short request per connection; a slow or silly client only wastes its own.
awaitable<void> ControlServer::serve_metrics(asio::ip::tcp::socket socket,
                                             std::shared_ptr<Places> places) {
    struct Release {
        std::shared_ptr<Places> places;
        ~Release() { --places->metrics; }
    } release{std::move(places)};
    const auto watched = std::make_shared<Watched<asio::ip::tcp::socket>>(std::move(socket));
    auto& sock = watched->socket;
    // The whole exchange, request and response, within write_timeout.
    asio::steady_timer deadline(io_);
    close_after(deadline, config_.write_timeout, watched);
    std::string request;
    boost::system::error_code ec;
    co_await asio::async_read_until(sock, asio::dynamic_buffer(request, kMaxHttpRequest),
                                    "\r\n\r\n", asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    std::string response;
    if (request.starts_with("GET /metrics ") || request.starts_with("GET /metrics?")) {
        const auto body = render_prometheus(metrics().snapshot(), gauges());
        response = fmt::format(
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n"
            "Connection: close\r\n\r\n{}",
            body.size(), body);
    } else {
        response = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    }
    co_await asio::async_write(sock, asio::buffer(response),
                               asio::redirect_error(use_awaitable, ec));
}

}  // namespace smtpwall
