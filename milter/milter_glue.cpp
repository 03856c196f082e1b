// The libmilter callbacks: facts from the MTA into the Session, its verdict back out.
#include "milter/milter_glue.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <libmilter/mfapi.h>
#include <netinet/in.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>

#include "common/log.hpp"
#include "core/recipients.hpp"
#include "milter/metrics.hpp"

namespace smtpwall {

namespace {

MilterContext* g_context = nullptr;

// Sessions whose Connection exists: shutdown waits for them before tearing down
// what their callbacks use.
std::atomic<int> g_open_sessions{0};
struct OpenSession {
    OpenSession() { ++g_open_sessions; }
    ~OpenSession() { --g_open_sessions; }
    OpenSession(const OpenSession&) = delete;
    OpenSession& operator=(const OpenSession&) = delete;
};

// What one MTA connection carries between callbacks.
struct Connection {
    explicit Connection(Session s) : session(std::move(s)) {}

    OpenSession open;
    Session session;
    std::uint32_t recent = 0;  // the tally after this session's last rejection
    bool banned_now = false;
    std::shared_ptr<dns::SessionLookups> lookups;  // started at connect
    bool dns_stale = true;      // lookups were started since the session last saw the facts
    bool judged_early = false;  // a verdict was given before every lookup had finished
    bool ban_withheld = false;  // a shared relay earned a ban it did not get
    // A fact stage failed inside smtpwall: recipients get a temporary failure (a HELO
    // for the rest of the session, a MAIL until the next MAIL that works).
    bool helo_failed = false;
    bool mail_failed = false;
};

// HELO and MAIL, where smtpwall only gathers facts, are negotiated without a reply
// (SMFIP_NR_HELO, SMFIP_NR_MAIL), so the MTA does not wait for them. CONNECT keeps
// its reply: libmilter drops commands still buffered when the MTA hangs up, and an
// unanswered CONNECT of a client that leaves at once would leave no session behind;
// answered, it also lets an allowlisted client through with nothing more to show.
// libmilter offers the no-reply flags to every filter and answers itself for an MTA
// that lacks them, so the outcome is the same for every connection; it is kept here
// because SMFIS_NOREPLY where it was not negotiated would leave the MTA waiting.
constexpr unsigned long kFactStages = SMFIP_NR_HELO | SMFIP_NR_MAIL;
std::atomic<bool> g_fact_stages_unanswered{false};

sfsistat fact_reply() {
    return g_fact_stages_unanswered.load(std::memory_order_relaxed) ? SMFIS_NOREPLY
                                                                    : SMFIS_CONTINUE;
}

// The session's verdict needs what DNS found; wait (bounded by the session's
// deadline) only for lookups started since it last looked, and only until `enough`
// holds for what is known so far (then the next verdict looks again).
void refresh_dns(Connection& conn,
                 const std::function<bool(const dns::DnsFacts&)>& enough = nullptr) {
    if (!conn.lookups || !conn.dns_stale) return;
    const auto started = std::chrono::steady_clock::now();
    auto facts = conn.lookups->wait(enough);
    metrics().dns_wait(std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now() - started),
                       facts.deadline_passed);
    const bool early = facts.unfinished && !facts.deadline_passed;
    conn.session.set_dns(std::move(facts));
    conn.dns_stale = early;
    conn.judged_early = conn.judged_early || early;
}

std::string sender_address(std::string_view arg) {
    if (arg.size() >= 2 && arg.front() == '<' && arg.back() == '>')
        arg = arg.substr(1, arg.size() - 2);
    return std::string(arg);
}

// Macros we ask the MTA for, per stage (Postfix sends none of {client_*} unless asked).
constexpr const char* kConnectMacros =
    "{client_addr} {client_name} {client_ptr} {client_resolve} {daemon_addr} j";
constexpr const char* kMailMacros = "{auth_authen} {i}";
constexpr const char* kRcptMacros = "{rcpt_mailer} {rcpt_host} {rcpt_addr}";

Connection* connection(SMFICTX* ctx) {
    return static_cast<Connection*>(smfi_getpriv(ctx));
}

std::string_view macro(SMFICTX* ctx, const char* name) {
    const char* value = smfi_getsymval(ctx, const_cast<char*>(name));
    return value == nullptr ? std::string_view{} : std::string_view{value};
}

std::optional<IpAddress> address_of(const sockaddr* sa) {
    if (sa == nullptr) return std::nullopt;
    IpAddress addr;
    if (sa->sa_family == AF_INET) {
        sockaddr_in in{};
        std::memcpy(&in, sa, sizeof in);
        std::memcpy(addr.bytes.data(), &in.sin_addr, 4);
        addr.family = Family::v4;
        return addr;
    }
    if (sa->sa_family == AF_INET6) {
        sockaddr_in6 in6{};
        std::memcpy(&in6, sa, sizeof in6);
        std::memcpy(addr.bytes.data(), &in6.sin6_addr, 16);
        addr.family = Family::v6;
        return addr.unmapped();
    }
    return std::nullopt;
}

// Any exception inside a callback becomes a temporary failure: the client
// retries later and no mail is lost.
template <typename Body>
sfsistat guarded(const char* stage, Body&& body) {
    try {
        return body();
    } catch (const std::exception& e) {
        log_error(fmt::format("callback failed {} {}", kv("stage", stage), kv("error", e.what())));
    } catch (...) {
        log_error(fmt::format("callback failed {}", kv("stage", stage)));
    }
    return SMFIS_TEMPFAIL;
}

// A fact stage has no reply to carry a failure: the connection remembers it and its
// recipients get a temporary failure.
template <typename Body>
sfsistat fact_stage(SMFICTX* ctx, const char* stage, bool Connection::*failed, Body&& body) {
    if (guarded(stage, [&] {
            body();
            return SMFIS_CONTINUE;
        }) != SMFIS_CONTINUE)
        if (auto* conn = connection(ctx)) conn->*failed = true;
    return fact_reply();
}

// The message is accepted: counted for the session, and, with `credit`, for the client's
// good mail. An exempt client's message settled at its first recipient earns none (an
// account must not lend its address a good name, nor may a message the MTA never took).
void accept_transaction(Connection& conn, bool credit) {
    if (conn.session.end_transaction(true) && credit && conn.session.peer())
        g_context->enforcement->record_accepted(*conn.session.peer(), g_context->clock());
}

void tally_rejection(Connection& conn, const std::vector<std::string>& tags) {
    metrics().rejection(tags);
    if (!conn.session.peer()) return;
    // Whether the client is a shared relay decides whether a ban may follow.
    const auto outcome = g_context->enforcement->record_rejection(
        *conn.session.peer(), tags, g_context->clock(), conn.session.classification().relay);
    conn.recent = outcome.recent;
    conn.banned_now = conn.banned_now || outcome.new_ban.has_value();
    conn.ban_withheld = conn.ban_withheld || outcome.withheld.has_value();
}

// `stage`: where the verdict was given (a message settled at RCPT earns no credit).
sfsistat deliver(SMFICTX* ctx, Connection& conn, const Verdict& verdict, Stage stage) {
    if (verdict.action == Action::accept) {
        if (!verdict.settles_message) return SMFIS_CONTINUE;
        // The MTA shows nothing more of this message (no end of message, no abort):
        // it counts as accepted now.
        accept_transaction(conn, stage != Stage::rcpt);
        return SMFIS_ACCEPT;
    }
    if (verdict.rejected() && !verdict.tags.empty()) tally_rejection(conn, verdict.tags);
    // Observe mode: everything is judged, tallied and logged, nothing refused.
    if (g_context->enforcement->observing()) return SMFIS_CONTINUE;
    smfi_setreply(ctx, const_cast<char*>(verdict.code.c_str()),
                  const_cast<char*>(verdict.xcode.c_str()),
                  const_cast<char*>(verdict.text.c_str()));
    return verdict.rejected() ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

std::string join(const std::set<std::string>& tags) {
    return tags.empty() ? "-" : fmt::format("{}", fmt::join(tags, ","));
}

void log_session(const Connection& conn, const RelayFacts& relay) {
    const auto& r = conn.session.record();
    const bool rejected = r.first_reject.has_value();
    const bool observe = g_context->enforcement->observing();
    metrics().session(rejected       ? SessionVerdict::reject
                      : r.tempfailed ? SessionVerdict::tempfail
                                     : SessionVerdict::accept,
                      observe);
    const std::string verdict = rejected       ? (observe ? "would-reject" : "reject")
                                : r.tempfailed ? (observe ? "would-tempfail" : "tempfail")
                                               : "accept";
    // A listing's TXT arrives after the verdict (nobody waits for it): take it now.
    std::string listing_txt = "-";
    if (conn.lookups && !r.listed.empty())
        for (const auto& z : conn.lookups->snapshot().zones)
            if (z.verdict == dns::ZoneVerdict::listed && !z.txt.empty()) {
                listing_txt = z.txt;
                break;
            }
    // One line per session, built in place (the busiest line smtpwall writes).
    std::string line = "session";
    line.reserve(512);
    append_kv(line, "client", r.client ? r.client->to_string() : "unknown");
    append_kv(line, "name", r.client_name);
    append_kv(line, "ptr", r.ptr.empty() ? "-" : r.ptr);
    append_kv(line, "helo", r.helo);
    append_kv(line, "helo_problem", r.helo_problem.empty() ? "-" : r.helo_problem);
    append_kv(line, "listed", r.listed.empty() ? "-" : r.listed);
    append_kv(line, "listed_txt", listing_txt);
    append_kv(line, "tags", join(r.tags));
    append_kv(line, "score", std::to_string(r.score));
    append_kv(line, "verdict", verdict);
    append_kv(line, "stage", rejected ? stage_name(*r.first_reject) : "-");
    append_kv(line, "rcpts",
              fmt::format("{}/{}", r.accepted_rcpts, r.accepted_rcpts + r.rejected_rcpts));
    append_kv(line, "messages", std::to_string(r.messages));
    append_kv(line, "tally", std::to_string(conn.recent));
    append_kv(line, "banned",
              conn.banned_now     ? (observe ? "would" : "yes")
              : conn.ban_withheld ? "withheld"
                                  : "no");
    append_kv(line, "shared_relay", relay.relay ? relay.relay->to_string() : "-");
    if (r.peer) append_kv(line, "peer", r.peer->to_string());
    log_info(line);
}

// Whether the client is a shared relay, for sessions no rejection told it of: what DNS
// found by now (nobody waits for it at close).
// Returns it for the log line.
RelayFacts note_relay(Connection& conn) {
    RelayFacts facts;
    if (conn.session.dns())
        facts = conn.session.classification().relay;
    else if (conn.lookups)
        facts = relay_facts(conn.lookups->snapshot(), g_context->runtime->policy()->relay_domains);
    if (const auto& peer = conn.session.peer()) g_context->enforcement->record_relay(*peer, facts);
    return facts;
}

// What `smtpwallctl show` tells about the address's last session.
void remember(Connection& conn) {
    const auto& r = conn.session.record();
    if (!r.client || g_context->recent == nullptr) return;
    SessionSummary s;
    s.when = g_context->clock();
    s.client = r.client->to_string();
    s.helo = r.helo;
    s.verdict = r.first_reject ? "reject" : r.tempfailed ? "tempfail" : "accept";
    s.score = r.score;
    s.tags.assign(r.tags.begin(), r.tags.end());
    s.dns = conn.session.dns();
    g_context->recent->remember(g_context->enforcement->key_of(*conn.session.peer()), std::move(s));
}

sfsistat on_negotiate(SMFICTX* ctx, unsigned long actions, unsigned long steps, unsigned long,
                      unsigned long, unsigned long* want_actions, unsigned long* want_steps,
                      unsigned long* want_unused2, unsigned long* want_unused3) {
    return guarded("negotiate", [&] {
        *want_actions = 0;
        *want_unused2 = 0;
        *want_unused3 = 0;
        // We decide by DATA: skip what we never look at, see recipients the MTA
        // itself rejects (Postfix and Sendmail both offer that), and answer only
        // where we may refuse (RCPT, DATA).
        constexpr unsigned long kSkip = SMFIP_NOBODY | SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOUNKNOWN;
        *want_steps = steps & (kSkip | SMFIP_RCPT_REJ);
        const bool unanswered = (steps & kFactStages) == kFactStages;
        if (unanswered) *want_steps |= kFactStages;
        g_fact_stages_unanswered.store(unanswered, std::memory_order_relaxed);
        if (actions & SMFIF_SETSYMLIST) {
            *want_actions |= SMFIF_SETSYMLIST;
            smfi_setsymlist(ctx, SMFIM_CONNECT, const_cast<char*>(kConnectMacros));
            smfi_setsymlist(ctx, SMFIM_ENVFROM, const_cast<char*>(kMailMacros));
            smfi_setsymlist(ctx, SMFIM_ENVRCPT, const_cast<char*>(kRcptMacros));
        }
        return SMFIS_CONTINUE;
    });
}

sfsistat on_connect(SMFICTX* ctx, char* hostname, _SOCK_ADDR* hostaddr) {
    return guarded("connect", [&] {
        auto client = address_of(hostaddr);
        if (!client) client = IpAddress::parse(macro(ctx, "{client_addr}"));
        auto* conn =
            new Connection(Session(g_context->runtime->policy(), client, hostname ? hostname : ""));
        smfi_setpriv(ctx, conn);
        const auto& peer = conn->session.peer();
        if (peer) g_context->enforcement->record_session(*peer, g_context->clock());
        // Nothing an allowlisted client does is judged: the MTA need not show it to us.
        if (conn->session.record().allowlisted) return SMFIS_ACCEPT;
        // DNS judges the client as the IPv4 a NAT64 or 6to4 address carries.
        if (g_context->dns && client)
            conn->lookups = g_context->dns->start_session(*conn->session.client());
        conn->session.add_own_hostname(macro(ctx, "j"));
        if (const auto own = IpAddress::parse(macro(ctx, "{daemon_addr}")))
            conn->session.add_own_address(*own);
        if (peer && g_context->enforcement->is_banned(*peer)) conn->session.mark_banned();
        return SMFIS_CONTINUE;
    });
}

sfsistat on_helo(SMFICTX* ctx, char* helo) {
    return fact_stage(ctx, "helo", &Connection::helo_failed, [&] {
        auto* conn = connection(ctx);
        if (conn == nullptr) return;
        conn->session.helo(helo ? helo : "");
        // Only a syntactically valid name is worth asking DNS about; literals are not names.
        if (conn->lookups && conn->session.helo_valid() && helo && helo[0] != '[') {
            conn->lookups->helo(helo);
            conn->dns_stale = true;
        }
    });
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
    // Sendmail reads no reply here, so it never sees its filter inside a message and
    // sends no ABORT at RSET; libmilter calls xxfi_abort itself at the next MAIL, HELO
    // or QUIT, and mail_from() starts afresh anyway.
    return fact_stage(ctx, "mail", &Connection::mail_failed, [&] {
        auto* conn = connection(ctx);
        if (conn == nullptr) return;
        conn->mail_failed = false;
        const char* sender = argv && argv[0] ? argv[0] : "";
        conn->session.mail_from(sender, !macro(ctx, "{auth_authen}").empty());
        if (conn->lookups) {
            conn->lookups->mail_from(sender_address(sender));
            conn->dns_stale = true;
        }
    });
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
    return guarded("rcpt", [&] {
        auto* conn = connection(ctx);
        if (conn == nullptr) return SMFIS_TEMPFAIL;
        // A recipient the MTA already rejected (SMFIP_RCPT_REJ): tally it, decide nothing.
        // What DNS found tells a DNSWL-listed client or a shared relay.
        if (rejected_by_mta(macro(ctx, "{rcpt_mailer}"))) {
            refresh_dns(*conn);
            if (auto tags = conn->session.mta_rejected_recipient(macro(ctx, "{rcpt_host}"),
                                                                 macro(ctx, "{rcpt_addr}")))
                tally_rejection(*conn, *tags);
            return SMFIS_CONTINUE;
        }
        if (conn->helo_failed || conn->mail_failed) {
            conn->session.mark_tempfailed();
            return SMFIS_TEMPFAIL;
        }
        // A recipient accepted whatever the lookups still running find is answered now
        // (a slow forward confirmation of a harmless PTR holds nobody up).
        const char* rcpt = argv && argv[0] ? argv[0] : "";
        refresh_dns(*conn, [&](const dns::DnsFacts& known) {
            return conn->session.accepts_whatever_comes(rcpt, known);
        });
        return deliver(ctx, *conn, conn->session.recipient(rcpt), Stage::rcpt);
    });
}

sfsistat on_data(SMFICTX* ctx) {
    return guarded("data", [&] {
        auto* conn = connection(ctx);
        if (conn == nullptr) return SMFIS_TEMPFAIL;
        return deliver(ctx, *conn, conn->session.data(), Stage::data);
    });
}

// Reached when DATA did not settle the message: delivered mail earns credit
// (SessionPolicy), the MTA's protocol has no DATA stage (Postfix's milter_protocol 2
// and 3: the DATA verdict is given here), or observe mode let a refused one through.
sfsistat on_eom(SMFICTX* ctx) {
    return guarded("eom", [&] {
        auto* conn = connection(ctx);
        if (conn == nullptr) return SMFIS_CONTINUE;
        const auto verdict = conn->session.end_of_message();
        if (verdict.action != Action::accept) return deliver(ctx, *conn, verdict, Stage::data);
        accept_transaction(*conn, true);
        return SMFIS_CONTINUE;
    });
}

sfsistat on_abort(SMFICTX* ctx) {
    return guarded("abort", [&] {
        if (auto* conn = connection(ctx)) conn->session.end_transaction(false);
        return SMFIS_CONTINUE;
    });
}

sfsistat on_close(SMFICTX* ctx) {
    return guarded("close", [&] {
        if (auto* conn = connection(ctx)) {
            smfi_setpriv(ctx, nullptr);
            std::unique_ptr<Connection> owned(conn);
            // Judged early: the log and `show` get what DNS found by now (no waiting).
            if (owned->judged_early && owned->lookups)
                owned->session.set_dns(owned->lookups->snapshot());
            log_session(*owned, note_relay(*owned));
            remember(*owned);
        }
        return SMFIS_CONTINUE;
    });
}

}  // namespace

bool drain_sessions(std::chrono::seconds patience) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (g_open_sessions.load() > 0) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
}

int open_sessions() {
    return g_open_sessions.load();
}

bool register_milter(MilterContext& context) {
    g_context = &context;
    smfiDesc desc{};
    desc.xxfi_name = const_cast<char*>("smtpwall");
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_flags = 0;  // we never modify messages
    desc.xxfi_connect = on_connect;
    desc.xxfi_helo = on_helo;
    desc.xxfi_envfrom = on_envfrom;
    desc.xxfi_envrcpt = on_envrcpt;
    desc.xxfi_eom = on_eom;
    desc.xxfi_abort = on_abort;
    desc.xxfi_close = on_close;
    desc.xxfi_data = on_data;
    desc.xxfi_negotiate = on_negotiate;
    if (smfi_register(desc) == MI_FAILURE) {
        log_error("libmilter refused to register the filter");
        return false;
    }
    return true;
}

}  // namespace smtpwall
