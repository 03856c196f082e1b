// Key names, Lua scripts and the spelling of operations and tallies in Redis.
#include "core/cluster_codec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>

#include "common/enum_names.hpp"
#include "common/tag.hpp"
#include "common/text.hpp"

namespace smtpwall::cluster {

namespace {

constexpr EnumNames<Op::Kind, 3> kKindNames{{
    {Op::Kind::ban, "ban"},
    {Op::Kind::unban, "unban"},
    {Op::Kind::allow, "allow"},
}};

// One spelling per number: digits only, no sign, no leading zeros (but "0").
template <typename T>
std::optional<T> number(std::string_view text) {
    if (text.empty() || text.size() > 20 || (text.size() > 1 && text.front() == '0'))
        return std::nullopt;
    T value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value < 0) return std::nullopt;
    return value;
}

bool valid_host(std::string_view host) {
    return !host.empty() && host.size() <= 64 && std::all_of(host.begin(), host.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-' || c == '_';
    });
}

// Field/value pairs into a map; nullopt for an odd count or a repeated field.
std::optional<std::map<std::string, std::string, std::less<>>> pairs(
    const std::vector<std::string>& fields) {
    if (fields.size() % 2 != 0) return std::nullopt;
    std::map<std::string, std::string, std::less<>> out;
    for (std::size_t i = 0; i < fields.size(); i += 2)
        if (!out.emplace(fields[i], fields[i + 1]).second) return std::nullopt;
    return out;
}

std::optional<std::vector<std::string>> tag_list(std::string_view text) {
    std::vector<std::string> tags;
    if (text.empty()) return tags;
    for (const auto& t : split(text, ',')) {
        if (!valid_tag(t) || tags.size() >= 8) return std::nullopt;
        tags.emplace_back(t);
    }
    return tags;
}

}  // namespace

std::string_view kind_name(Op::Kind kind) {
    return name_of(kKindNames, kind);
}

std::vector<std::string> op_fields(const Op& op) {
    std::vector<std::string> f = {"op", std::string(kind_name(op.kind)), "net",
                                  op.ban.key.to_string()};
    if (op.kind == Op::Kind::ban) {
        f.insert(f.end(),
                 {"since", std::to_string(op.ban.since), "expires", std::to_string(op.ban.expires),
                  "rule", op.ban.rule, "origin", std::string(origin_name(op.ban.origin)), "tags",
                  fmt::format("{}", fmt::join(op.ban.tags, ","))});
    }
    f.insert(f.end(), {"host", op.host});
    return f;
}

std::optional<Ban> parse_ban(const Cidr& net, const std::vector<std::string>& fields) {
    const auto m = pairs(fields);
    if (!m) return std::nullopt;
    auto get = [&](std::string_view k) -> const std::string* {
        const auto it = m->find(k);
        return it == m->end() ? nullptr : &it->second;
    };
    const auto *since = get("since"), *expires = get("expires"), *rule = get("rule"),
               *origin = get("origin"), *tags = get("tags"), *host = get("host");
    if (!since || !expires || !rule || !origin || !tags || !host) return std::nullopt;
    Ban ban;
    ban.key = net;
    const auto s = number<UnixTime>(*since);
    const auto e = number<UnixTime>(*expires);
    const auto o = origin_from_name(*origin);
    auto t = tag_list(*tags);
    if (!s || !e || !o || !t || !valid_host(*host) || rule->size() > 200) return std::nullopt;
    ban.since = *s;
    ban.expires = *e;
    ban.origin = *o;
    ban.tags = std::move(*t);
    ban.rule = *rule;
    ban.host = *host;
    return ban;
}

std::optional<Op> parse_op(const std::vector<std::string>& fields) {
    const auto m = pairs(fields);
    if (!m) return std::nullopt;
    const auto op = m->find("op");
    const auto net = m->find("net");
    const auto host = m->find("host");
    if (op == m->end() || net == m->end() || host == m->end()) return std::nullopt;
    const auto kind = value_of(kKindNames, op->second);
    const auto cidr = Cidr::parse(net->second, true);
    if (!kind || !cidr || cidr->to_string() != net->second || !valid_host(host->second))
        return std::nullopt;
    Op out;
    out.kind = *kind;
    out.host = host->second;
    if (*kind != Op::Kind::ban) {
        if (m->size() != 3) return std::nullopt;
        out.ban.key = *cidr;
        return out;
    }
    std::vector<std::string> rest;
    for (const auto& [k, v] : *m)
        if (k != "op" && k != "net") rest.insert(rest.end(), {k, v});
    auto ban = parse_ban(*cidr, rest);
    if (!ban || m->size() != 8) return std::nullopt;
    out.ban = std::move(*ban);
    return out;
}

std::string policy_fingerprint(std::chrono::seconds window, int ipv4_prefix, int ipv6_prefix,
                               const std::vector<EscalationRule>& rules) {
    std::vector<std::string> texts;
    for (const auto& r : rules) texts.push_back(r.text);
    return fmt::format("window={};v4={};v6={};rules={}", window.count(), ipv4_prefix, ipv6_prefix,
                       fmt::join(texts, "|"));
}

std::vector<std::string> tally_merge_args(const std::string& host, const Tally& tally,
                                          const std::vector<std::pair<std::string, UnixTime>>& tags,
                                          std::chrono::seconds window, UnixTime now) {
    const auto span = std::max<std::int64_t>(1, window.count() / WindowCounter::kBuckets);
    std::vector<std::string> args = {host, std::to_string(now), std::to_string(span),
                                     std::to_string(WindowCounter::kBuckets),
                                     std::to_string(kTallyTtl.count())};
    for (const auto& [bucket, n] : tally.recent_rejections.recent_buckets(now, window))
        args.insert(args.end(), {fmt::format("r|{}|{}", bucket, host), std::to_string(n)});
    for (const auto& [bucket, n] : tally.recent_accepted.recent_buckets(now, window))
        args.insert(args.end(), {fmt::format("a|{}|{}", bucket, host), std::to_string(n)});
    for (const auto& [tag, last] : tags)
        if (last > now - window.count())
            args.insert(args.end(), {fmt::format("g|{}|{}", tag, host), std::to_string(last)});
    return args;
}

std::optional<TallyElsewhere> parse_elsewhere(const std::vector<std::string>& fields) {
    if (fields.size() % 2 != 0) return std::nullopt;
    std::map<std::uint32_t, std::uint32_t> rejected, accepted;
    std::map<std::string, UnixTime> tags;
    TallyElsewhere out;
    for (std::size_t i = 0; i < fields.size(); i += 2) {
        const std::string& f = fields[i];
        const auto value = number<std::uint64_t>(fields[i + 1]);
        if (!value) return std::nullopt;
        if (f == "bans") {
            out.bans = static_cast<std::uint32_t>(std::min<std::uint64_t>(*value, 1u << 20));
            continue;
        }
        const auto parts = split(f, '|');
        if (parts.size() != 3 || !valid_host(parts[2])) return std::nullopt;
        if (parts[0] == "r" || parts[0] == "a") {
            const auto bucket = number<std::uint32_t>(parts[1]);
            if (!bucket) return std::nullopt;
            auto& sum = (parts[0] == "r" ? rejected : accepted)[*bucket];
            sum = static_cast<std::uint32_t>(std::min<std::uint64_t>(sum + *value, 1u << 30));
        } else if (parts[0] == "g" && valid_tag(parts[1])) {
            auto& last = tags[std::string(parts[1])];
            last = std::max(last, static_cast<UnixTime>(*value));
        } else {
            return std::nullopt;
        }
    }
    out.rejected.assign(rejected.begin(), rejected.end());
    out.accepted.assign(accepted.begin(), accepted.end());
    out.tags.assign(tags.begin(), tags.end());
    return out;
}

std::map<std::string, HostCounts> counts_per_host(const std::vector<std::string>& fields,
                                                  std::chrono::seconds window, UnixTime now) {
    std::map<std::string, HostCounts> out;
    const auto current = WindowCounter::bucket_of(now, window);
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
        const auto parts = split(fields[i], '|');
        if (parts.size() != 3 || (parts[0] != "r" && parts[0] != "a") || !valid_host(parts[2]))
            continue;
        const auto bucket = number<std::uint32_t>(parts[1]);
        const auto n = number<std::uint32_t>(fields[i + 1]);
        if (!bucket || !n || *bucket > current || *bucket + WindowCounter::kBuckets <= current)
            continue;
        auto& c = out[std::string(parts[2])];
        (parts[0] == "r" ? c.rejections : c.accepted) += *n;
    }
    return out;
}

const std::string_view kTallyMerge = R"lua(
local key, me = KEYS[1], ARGV[1]
local now, span, nb, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local oldest = math.floor(now / span) - nb + 1
for i = 6, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', key, ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > cur then redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
end
local all = redis.call('HGETALL', key)
local out = {}
for i = 1, #all, 2 do
  local f = all[i]
  local kind, mid, host = string.match(f, '^([rag])|([^|]+)|(.+)$')
  if kind == 'r' or kind == 'a' then
    if (tonumber(mid) or 0) < oldest then
      redis.call('HDEL', key, f)
    elseif host ~= me then
      out[#out + 1] = f; out[#out + 1] = all[i + 1]
    end
  elseif kind == 'g' then
    if host ~= me then out[#out + 1] = f; out[#out + 1] = all[i + 1] end
  elseif f == 'bans' then
    out[#out + 1] = f; out[#out + 1] = all[i + 1]
  end
end
if #all > 0 then redis.call('EXPIRE', key, ttl) end
return out
)lua";

const std::string_view kBanPut = R"lua(
local net, since, expires = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local origin, minid, ttl = ARGV[5], ARGV[8], tonumber(ARGV[9])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. since)
local cur = redis.call('HGETALL', KEYS[1])
local live = false
if #cur > 0 then
  local old
  for i = 1, #cur, 2 do if cur[i] == 'expires' then old = tonumber(cur[i + 1]) end end
  live = old ~= nil and (old == 0 or old > since)
  if live and origin ~= 'manual' and (old == 0 or (expires ~= 0 and old >= expires)) then
    local reply = {0}
    for i = 1, #cur do reply[#reply + 1] = cur[i] end
    return reply
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'since', ARGV[2], 'expires', ARGV[3], 'rule', ARGV[4],
           'origin', origin, 'tags', ARGV[6], 'host', ARGV[7])
if expires == 0 then
  redis.call('ZADD', KEYS[2], '+inf', net)
else
  redis.call('EXPIREAT', KEYS[1], expires + 3600)
  redis.call('ZADD', KEYS[2], expires, net)
end
if not live and origin ~= 'manual' then
  redis.call('HINCRBY', KEYS[4], 'bans', 1)
  redis.call('EXPIRE', KEYS[4], ttl)
end
local entry = {}
for i = 10, #ARGV do entry[#entry + 1] = ARGV[i] end
redis.call('XADD', KEYS[3], 'MINID', '~', minid, '*', unpack(entry))
return {1}
)lua";

const std::string_view kBanDel = R"lua(
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
for _, f in ipairs(redis.call('HKEYS', KEYS[4])) do
  if string.sub(f, 1, 2) == 'r|' then redis.call('HDEL', KEYS[4], f) end
end
local entry = {}
for i = 3, #ARGV do entry[#entry + 1] = ARGV[i] end
redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[2], '*', unpack(entry))
return 1
)lua";

const std::string_view kAllow = R"lua(
redis.call('SADD', KEYS[1], ARGV[1])
local entry = {}
for i = 3, #ARGV do entry[#entry + 1] = ARGV[i] end
redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[2], '*', unpack(entry))
return 1
)lua";

}  // namespace smtpwall::cluster
