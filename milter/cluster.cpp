// Cluster mode through Redis: publish, apply, catch up (see cluster.hpp).
#include "milter/cluster.hpp"

#include <fmt/format.h>

#include <charconv>
#include <random>

#include "common/log.hpp"
#include "milter/metrics.hpp"

namespace smtpwall {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kOutboxBatch = 200;
constexpr auto kBlock = 2000ms;  // XREAD BLOCK: how long the reader waits for news
constexpr auto kHeartbeat = 2s;
constexpr auto kPublishTick = 50ms;

const std::map<std::string_view, std::string_view> kScripts = {
    {"tally_merge", cluster::kTallyMerge},
    {"ban_put", cluster::kBanPut},
    {"ban_del", cluster::kBanDel},
    {"allow", cluster::kAllow},
};

std::vector<std::string> strings_of(const RedisReply& reply) {
    std::vector<std::string> out;
    for (const auto& e : reply.elements) out.push_back(e.text);
    return out;
}

// "1733580000123-4" -> (1733580000123, 4); nullopt for anything else.
std::optional<std::pair<std::uint64_t, std::uint64_t>> stream_id(std::string_view id) {
    const auto dash = id.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    std::uint64_t ms = 0, seq = 0;
    const auto a = std::from_chars(id.data(), id.data() + dash, ms);
    const auto b = std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq);
    if (a.ec != std::errc{} || b.ec != std::errc{} || b.ptr != id.data() + id.size())
        return std::nullopt;
    return std::make_pair(ms, seq);
}

// A command's words. (GCC 12 miscompiles braced lists inside co_await expressions,
// so commands are never written as {"...", ...} there.)
template <typename... Parts>
std::vector<std::string> cmd(Parts&&... parts) {
    std::vector<std::string> out;
    out.reserve(sizeof...(parts));
    (out.emplace_back(std::forward<Parts>(parts)), ...);
    return out;
}

std::string random_epoch() {
    std::random_device rd;
    return fmt::format("{:08x}{:08x}", rd(), rd());
}

}  // namespace

Cluster::Cluster(asio::io_context& io, const conf::MilterConfig& config, std::string host,
                 std::string password, Enforcement& enforcement, Clock clock,
                 std::function<std::string()> policy)
    : io_(io),
      config_(config.cluster),
      host_(std::move(host)),
      policy_of_(std::move(policy)),
      policy_(policy_of_()),
      keys_{config.cluster.key_prefix},
      link_options_{"cluster", config.cluster.user, std::move(password),
                    config.cluster.connect_timeout, config.cluster.command_timeout},
      enforcement_(enforcement),
      clock_(std::move(clock)),
      commands_(io, link_options_),
      stream_(io,
              [this] {
                  auto o = link_options_;
                  o.name = "cluster-log";
                  return o;
              }()),
      wake_timer_(io) {
    status_.host = host_;
}

void Cluster::start(std::function<void()> allowed) {
    allowed_ = std::move(allowed);
    auto locate = [this]() { return this->locate(); };
    commands_.start(
        locate, [this] { asio::co_spawn(io_, catch_up(), asio::detached); },
        [this] {
            caught_up_ = false;
            ++status_.reconnects;
            metrics().cluster_reconnect();
        });
    stream_.start(locate, {}, {});
    asio::co_spawn(io_, publisher(), asio::detached);
    asio::co_spawn(io_, reader(), asio::detached);
    asio::co_spawn(io_, heartbeat(), asio::detached);
}

void Cluster::stop() {
    asio::post(io_, [this] {
        stopping_ = true;
        wake_timer_.cancel();
    });
    commands_.stop();
    stream_.stop();
}

void Cluster::wake() {
    if (wake_pending_.exchange(true)) return;
    asio::post(io_, [this] { wake_timer_.cancel(); });
}

// Redis itself, or the master the sentinels name, confirmed with ROLE: a sentinel that
// has not seen a failover yet must not send us to a replica.
awaitable<std::optional<RedisEndpoint>> Cluster::locate() {
    if (!config_.redis.empty()) co_return RedisEndpoint::parse(config_.redis, 6379);
    RedisLink::Options sentinel_options = link_options_;
    sentinel_options.name = "sentinel";
    sentinel_options.user.clear();
    sentinel_options.password.clear();
    for (const auto& text : config_.sentinels) {
        const auto sentinel = RedisEndpoint::parse(text, 26379);
        if (!sentinel) continue;
        std::vector<std::string> ask = {"SENTINEL", "get-master-addr-by-name", config_.master_name};
        const auto named = co_await RedisLink::one_shot(io_, *sentinel, ask, sentinel_options);
        if (!named.is_array() || named.elements.size() != 2) continue;
        const std::string& ip = named.elements[0].text;
        const auto master = RedisEndpoint::parse(
            fmt::format("{}:{}", ip.find(':') != std::string::npos ? "[" + ip + "]" : ip,
                        named.elements[1].text),
            6379);
        if (!master) continue;
        std::vector<std::string> role = {"ROLE"};
        const auto answer = co_await RedisLink::one_shot(io_, *master, role, link_options_);
        if (answer.is_array() && !answer.elements.empty() && answer.elements[0].text == "master")
            co_return master;
    }
    co_return std::nullopt;
}

awaitable<RedisReply> Cluster::call(RedisLink& link, std::vector<std::string> argv,
                                    std::chrono::milliseconds extra) {
    auto result = std::make_shared<std::optional<RedisReply>>();
    auto signal = std::make_shared<asio::steady_timer>(io_);
    signal->expires_at(asio::steady_timer::time_point::max());
    link.command(
        std::move(argv),
        [result, signal](RedisReply r) {
            *result = std::move(r);
            signal->cancel();
        },
        extra);
    // Always through the loop, even when answered at once (link down): a caller that
    // retries must not starve everything else on this thread.
    if (*result) signal->expires_after(std::chrono::milliseconds(0));
    boost::system::error_code ec;
    co_await signal->async_wait(asio::redirect_error(use_awaitable, ec));
    if ((*result)->is_error() && (*result)->text.starts_with("READONLY")) {
        // A failover made our Redis a replica: find the new master, both links.
        log_warning("cluster: Redis became a replica; asking the sentinels for the master");
        commands_.drop("the master moved");
        stream_.drop("the master moved");
        co_return RedisReply::local_error("the master moved");
    }
    co_return std::move(**result);
}

awaitable<RedisReply> Cluster::script(std::string_view name, std::vector<std::string> keys,
                                      std::vector<std::string> args) {
    std::vector<std::string> argv = {"EVALSHA", shas_[std::string(name)],
                                     std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    auto reply = co_await call(commands_, argv);
    if (reply.is_error() && reply.text.starts_with("NOSCRIPT")) {
        // Redis restarted under us and forgot the scripts: send the text once.
        argv[0] = "EVAL";
        argv[1] = std::string(kScripts.at(name));
        reply = co_await call(commands_, std::move(argv));
    }
    co_return reply;
}

// After every (re)connect of the command link: scripts, epoch, policy, the log.
awaitable<void> Cluster::catch_up() {
    for (const auto& [name, text] : kScripts) {
        const auto sha = co_await call(commands_, cmd("SCRIPT", "LOAD", std::string(text)));
        if (sha.is_error()) co_return;  // the link is gone again: the next connect retries
        shas_[std::string(name)] = sha.text;
    }
    // Replicas to wait for (WAIT) before an outbox entry counts as published.
    const auto info = co_await call(commands_, cmd("INFO", "replication"));
    replicas_ = 0;
    if (const auto at = info.text.find("connected_slaves:"); at != std::string::npos)
        std::from_chars(info.text.data() + at + 17, info.text.data() + info.text.size(), replicas_);
    // The epoch is made once per Redis data set: a new one means Redis lost its data.
    co_await call(commands_, cmd("HSETNX", keys_.meta(), "epoch", random_epoch()));
    co_await call(commands_, cmd("HSETNX", keys_.meta(), "policy", policy_));
    const auto meta = co_await call(commands_, cmd("HGETALL", keys_.meta()));
    if (!meta.is_array()) co_return;
    std::map<std::string, std::string> fields;
    for (std::size_t i = 0; i + 1 < meta.elements.size(); i += 2)
        fields[meta.elements[i].text] = meta.elements[i + 1].text;
    check_policy(fields["policy"]);
    const std::string epoch = fields["epoch"];
    const std::string known = enforcement_.cluster_meta("epoch");
    if (known != epoch) {
        if (!known.empty())
            log_warning(fmt::format(
                "cluster: Redis lost its data (epoch {} is now {}): re-seeding it from this "
                "host's state",
                known, epoch));
        // Everything this host holds goes back (idempotent: the longest ban wins), and
        // everything the others hold comes from a snapshot.
        enforcement_.republish_all();
        enforcement_.set_cluster_meta("epoch", epoch);
        enforcement_.set_cluster_meta("cursor", "");
        cursor_.clear();
    } else {
        cursor_ = enforcement_.cluster_meta("cursor");
    }
    if (!cursor_.empty()) {
        // The log keeps a week (and an operator may trim it): entries between our
        // cursor and the oldest one left may be gone, and only a snapshot has them.
        const auto stream = co_await call(commands_, cmd("XINFO", "STREAM", keys_.log()));
        const auto mine = stream_id(cursor_);
        bool missed = !mine;
        if (stream.is_array()) {
            std::optional<std::pair<std::uint64_t, std::uint64_t>> first, last;
            for (std::size_t i = 0; i + 1 < stream.elements.size(); i += 2) {
                const auto& field = stream.elements[i].text;
                const auto& value = stream.elements[i + 1];
                if (field == "last-generated-id") last = stream_id(value.text);
                if (field == "first-entry" && value.is_array() && !value.elements.empty())
                    first = stream_id(value.elements[0].text);
            }
            if (mine && first && *mine < *first) missed = true;          // trimmed past us
            if (mine && !first && last && *mine < *last) missed = true;  // emptied
        } else if (stream.is_error() && !stream.is_local_error() && mine && mine->first > 0) {
            missed = true;  // the log itself is gone
        }
        if (missed) cursor_.clear();
    }
    // Another master (a failover) may hold entries a little older than our cursor,
    // written while we still read the old one: read the last seconds again (applying
    // an entry twice changes nothing).
    const auto here = commands_.endpoint() ? commands_.endpoint()->to_string() : "";
    if (const auto mine = stream_id(cursor_); mine && !last_master_.empty() && here != last_master_)
        cursor_ = fmt::format("{}-0", mine->first > 10000 ? mine->first - 10000 : 0);
    last_master_ = here;
    if (cursor_.empty()) co_await snapshot();
    if (!commands_.ready() || cursor_.empty()) co_return;
    caught_up_ = true;
    resync_tallies_ = true;
    log_info(fmt::format("cluster: caught up {} {} {}", kv("host", host_), kv("cursor", cursor_),
                         kv("outbox", std::to_string(enforcement_.outbox_size()))));
    wake();
}

// The active bans and allows as Redis holds them now, then the log from there on.
awaitable<void> Cluster::snapshot() {
    const auto last =
        co_await call(commands_, cmd("XREVRANGE", keys_.log(), "+", "-", "COUNT", "1"));
    if (!last.is_array()) co_return;
    std::string from = "0-0";
    if (!last.elements.empty() && last.elements[0].is_array() && !last.elements[0].elements.empty())
        from = last.elements[0].elements[0].text;
    const UnixTime now = clock_();
    const auto allows = co_await call(commands_, cmd("SMEMBERS", keys_.allows()));
    if (!allows.is_array()) co_return;
    for (const auto& a : allows.elements)
        if (const auto net = Cidr::parse(a.text, true)) {
            cluster::Op op{cluster::Op::Kind::allow, {}, "snapshot"};
            op.ban.key = *net;
            enforcement_.apply(op, now);
        }
    if (!allows.elements.empty() && allowed_) allowed_();
    const auto nets = co_await call(
        commands_, cmd("ZRANGE", keys_.bans(), fmt::format("({}", now), "+inf", "BYSCORE"));
    if (!nets.is_array()) co_return;
    std::size_t applied = 0;
    for (const auto& n : nets.elements) {
        const auto net = Cidr::parse(n.text, true);
        if (!net) continue;
        const auto fields = co_await call(commands_, cmd("HGETALL", keys_.ban(*net)));
        if (!fields.is_array()) co_return;
        const auto ban = cluster::parse_ban(*net, strings_of(fields));
        if (!ban || ban->host == host_) continue;
        const auto why_not = enforcement_.apply({cluster::Op::Kind::ban, *ban, ban->host}, now);
        if (why_not.empty()) ++applied;
    }
    log_info(fmt::format("cluster: snapshot taken {} {} {}",
                         kv("bans", std::to_string(nets.elements.size())),
                         kv("applied", std::to_string(applied)), kv("from", from)));
    cursor_ = from;
    enforcement_.set_cluster_meta("cursor", cursor_);
}

awaitable<void> Cluster::publisher() {
    while (!stopping_) {
        wake_timer_.expires_after(kPublishTick);
        boost::system::error_code ec;
        co_await wake_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
        wake_pending_ = false;
        if (stopping_) break;
        if (!caught_up_ || !commands_.ready()) continue;
        if (!co_await publish_outbox()) continue;
        const bool all = std::exchange(resync_tallies_, false);
        co_await publish_tallies(all);
    }
}

// The outbox, oldest first; an entry leaves it once Redis has it. False when the
// link failed (the rest waits for the next connect).
awaitable<bool> Cluster::publish_outbox() {
    const auto minid = fmt::format("{}-0", (clock_() - cluster::kLogRetention.count()) * 1000);
    while (true) {
        const auto batch = enforcement_.outbox(kOutboxBatch);
        if (batch.empty()) co_return true;
        std::vector<std::uint64_t> done;
        for (const auto& entry : batch) {
            const auto& op = entry.op;
            const auto net = op.ban.key.to_string();
            const auto fields = cluster::op_fields(op);
            // The tally that counts this ban (repeat offenders): a host's own, or the block.
            const Cidr tally_key =
                op.ban.key.is_host() ? enforcement_.key_of(op.ban.key.base) : op.ban.key;
            RedisReply reply;
            if (op.kind == cluster::Op::Kind::ban) {
                std::vector<std::string> args = {net,
                                                 std::to_string(op.ban.since),
                                                 std::to_string(op.ban.expires),
                                                 op.ban.rule,
                                                 std::string(origin_name(op.ban.origin)),
                                                 fmt::format("{}", fmt::join(op.ban.tags, ",")),
                                                 op.host,
                                                 minid,
                                                 std::to_string(cluster::kTallyTtl.count())};
                args.insert(args.end(), fields.begin(), fields.end());
                reply = co_await script(
                    "ban_put",
                    cmd(keys_.ban(op.ban.key), keys_.bans(), keys_.log(), keys_.tally(tally_key)),
                    std::move(args));
                // Another host banned it first: one ban, on the cluster's terms.
                if (reply.is_array() && !reply.elements.empty() && reply.elements[0].integer == 0) {
                    std::vector<std::string> held;
                    for (std::size_t i = 1; i < reply.elements.size(); ++i)
                        held.push_back(reply.elements[i].text);
                    if (const auto ban = cluster::parse_ban(op.ban.key, held))
                        enforcement_.adopt(*ban);
                }
            } else {
                std::vector<std::string> args = {net, minid};
                args.insert(args.end(), fields.begin(), fields.end());
                if (op.kind == cluster::Op::Kind::unban)
                    reply = co_await script("ban_del",
                                            cmd(keys_.ban(op.ban.key), keys_.bans(), keys_.log(),
                                                keys_.tally(tally_key)),
                                            std::move(args));
                else
                    reply =
                        co_await script("allow", cmd(keys_.allows(), keys_.log()), std::move(args));
            }
            if (reply.is_local_error()) co_return false;
            if (reply.is_error())  // Redis refused this one for good: say so, go on
                log_error(fmt::format("cluster: Redis refused {} {} {}",
                                      kv("op", cluster::kind_name(op.kind)), kv("net", net),
                                      kv("error", reply.text)));
            done.push_back(entry.seq);
        }
        // Acknowledged writes can still be lost in a failover (replication is
        // asynchronous): an entry leaves the outbox once a replica has it too.
        if (replicas_ > 0) {
            const auto acked = co_await call(commands_, cmd("WAIT", "1", "500"), 500ms);
            if (acked.type != RedisReply::Type::integer || acked.integer < 1) {
                if (!acked.is_local_error())
                    log_warning(
                        "cluster: no replica confirmed the last writes; keeping them to "
                        "publish again");
                co_return false;
            }
        }
        for (const auto seq : done) {
            enforcement_.published(seq);
            ++status_.published;
            metrics().cluster_published();
        }
    }
}

// Local counts into the per-host buckets; what the other hosts counted comes back.
awaitable<void> Cluster::publish_tallies(bool all) {
    const auto pushes = enforcement_.take_tally_pushes(clock_(), all);
    if (!status_.policy_match) co_return;  // a host under another policy does not merge
    for (const auto& push : pushes) {
        const auto reply = co_await script("tally_merge", cmd(keys_.tally(push.key)), push.args);
        if (reply.is_local_error()) {
            resync_tallies_ = true;  // all of them again once back
            co_return;
        }
        if (!reply.is_array()) continue;
        if (auto elsewhere = cluster::parse_elsewhere(strings_of(reply))) {
            enforcement_.merge_elsewhere(push.key, std::move(*elsewhere), clock_());
            ++status_.merged;
        }
    }
}

// The shared log from our cursor on, each entry applied as it arrives.
awaitable<void> Cluster::reader() {
    asio::steady_timer idle(io_);
    while (!stopping_) {
        if (!caught_up_ || !stream_.ready() || cursor_.empty()) {
            idle.expires_after(50ms);
            boost::system::error_code ec;
            co_await idle.async_wait(asio::redirect_error(use_awaitable, ec));
            continue;
        }
        const auto reply =
            co_await call(stream_,
                          cmd("XREAD", "COUNT", "500", "BLOCK", std::to_string(kBlock.count()),
                              "STREAMS", keys_.log(), cursor_),
                          kBlock);
        if (reply.is_error()) {  // the link is back soon, or catch_up redoes it
            idle.expires_after(50ms);
            boost::system::error_code ec;
            co_await idle.async_wait(asio::redirect_error(use_awaitable, ec));
            continue;
        }
        if (!reply.is_array() || reply.elements.empty()) continue;  // nothing new
        const auto& stream = reply.elements[0];
        if (!stream.is_array() || stream.elements.size() != 2) continue;
        for (const auto& entry : stream.elements[1].elements) apply_entry(entry);
        enforcement_.set_cluster_meta("cursor", cursor_);
    }
}

void Cluster::apply_entry(const RedisReply& entry) {
    if (!entry.is_array() || entry.elements.size() != 2) return;
    const std::string& id = entry.elements[0].text;
    cursor_ = id;
    if (const auto when = stream_id(id)) {
        const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        status_.lag_ms = static_cast<double>(now_ms) - static_cast<double>(when->first);
        metrics().cluster_lag_ms(status_.lag_ms);
    }
    const auto op = cluster::parse_op(strings_of(entry.elements[1]));
    if (!op) {
        log_warning(fmt::format("cluster: malformed log entry ignored {}", kv("id", id)));
        return;
    }
    if (op->host == host_) return;  // our own, already done here
    const auto why_not = enforcement_.apply(*op, clock_());
    if (why_not.empty()) {
        if (op->kind == cluster::Op::Kind::allow && allowed_) allowed_();
        ++status_.applied;
        metrics().cluster_applied();
        log_info(fmt::format("cluster: applied {} {} {}", kv("op", cluster::kind_name(op->kind)),
                             kv("net", op->ban.key.to_string()), kv("host", op->host)));
    } else {
        ++status_.refused;
        log_warning(fmt::format(
            "cluster: not applied {} {} {} {}", kv("op", cluster::kind_name(op->kind)),
            kv("net", op->ban.key.to_string()), kv("host", op->host), kv("reason", why_not)));
    }
}

void Cluster::check_policy(const std::string& cluster_policy) {
    const bool match = cluster_policy == policy_;
    if (match != status_.policy_match || cluster_policy != cluster_policy_) {
        if (match)
            log_info("cluster: this host's tally policy is the cluster's: its counts merge");
        else
            log_warning(fmt::format(
                "cluster: this host's tally policy differs from the cluster's: its counts are "
                "not merged (bans, unbans and allows still are) {} {}",
                kv("ours", policy_), kv("cluster", cluster_policy)));
    }
    status_.policy_match = match;
    cluster_policy_ = cluster_policy;
}

// Every couple of seconds: this host's heartbeat and policy, and the others'.
awaitable<void> Cluster::heartbeat() {
    asio::steady_timer tick(io_);
    while (!stopping_) {
        policy_ = policy_of_();  // a reload may have changed the rules
        if (commands_.ready()) {
            const auto meta_policy = co_await call(commands_, cmd("HGET", keys_.meta(), "policy"));
            if (meta_policy.type == RedisReply::Type::string) check_policy(meta_policy.text);
            co_await call(commands_, cmd("HSET", keys_.hosts(), host_,
                                         fmt::format("{} {}", clock_(), policy_)));
            const auto hosts = co_await call(commands_, cmd("HGETALL", keys_.hosts()));
            if (hosts.is_array()) {
                status_.peers.clear();
                for (std::size_t i = 0; i + 1 < hosts.elements.size(); i += 2) {
                    const std::string& value = hosts.elements[i + 1].text;
                    const auto space = value.find(' ');
                    Peer peer;
                    peer.host = hosts.elements[i].text;
                    std::from_chars(value.data(), value.data() + std::min(space, value.size()),
                                    peer.heartbeat);
                    peer.policy_match =
                        space != std::string::npos && value.substr(space + 1) == cluster_policy_;
                    status_.peers.push_back(std::move(peer));
                }
            }
        }
        tick.expires_after(kHeartbeat);
        boost::system::error_code ec;
        co_await tick.async_wait(asio::redirect_error(use_awaitable, ec));
    }
}

Cluster::Status Cluster::status() const {
    Status s = status_;
    s.connected = caught_up_ && commands_.ready() && stream_.ready();
    if (commands_.endpoint()) s.redis = commands_.endpoint()->to_string();
    s.outbox = enforcement_.outbox_size();
    return s;
}

void Cluster::tally_fields(const Cidr& key,
                           std::function<void(std::optional<std::vector<std::string>>)> done) {
    commands_.command({"HGETALL", keys_.tally(key)}, [done](RedisReply r) {
        if (!r.is_array()) {
            done(std::nullopt);
            return;
        }
        done(strings_of(r));
    });
}

}  // namespace smtpwall
