// libiptc glue shared by the iptables backend (one DROP rule per entry) and the ipset
// backend (one set-match rule per family): the per-family function tables, rules built
// as byte blobs, the SYN-only INPUT hooks, the xtables lock and table handles.
// Included only by the helper's backend sources.
#pragma once

#include <fcntl.h>
#include <libiptc/libiptc.h>
extern "C" {  // unlike libiptc.h, libip6tc.h has no C++ guard of its own
#include <libiptc/libip6tc.h>
}
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "firewall/backend.hpp"
#include "firewall/xtables_lock.hpp"

namespace smtpwall::firewall::iptc {

using helperproto::Entry;
using helperproto::Origin;

inline constexpr const char* kTable = "filter";
inline constexpr std::uint8_t kTcpFlagsMask = 0x01 | 0x02 | 0x04 | 0x10;  // FIN,SYN,RST,ACK
inline constexpr std::uint8_t kTcpFlagSyn = 0x02;

// libiptc takes chain names as char[32]; a short literal would be read past its end.
struct ChainLabel {
    xt_chainlabel text{};
    explicit ChainLabel(std::string_view name) {
        std::memcpy(text, name.data(), std::min(name.size(), sizeof text - 1));
    }
};

// --- per-family glue: the same code drives libip4tc and libip6tc --------------------

struct V4 {
    using Rule = ipt_entry;
    static constexpr const char* name = "IPv4";
    static xtc_handle* init() { return iptc_init(kTable); }
    static void free(xtc_handle* h) { iptc_free(h); }
    static int is_chain(const char* c, xtc_handle* h) { return iptc_is_chain(c, h); }
    static int create_chain(const xt_chainlabel c, xtc_handle* h) {
        return iptc_create_chain(c, h);
    }
    static const Rule* first(const char* c, xtc_handle* h) { return iptc_first_rule(c, h); }
    static const Rule* next(const Rule* r, xtc_handle* h) { return iptc_next_rule(r, h); }
    static const char* target(const Rule* r, xtc_handle* h) { return iptc_get_target(r, h); }
    static int insert(const xt_chainlabel c, const Rule* r, unsigned n, xtc_handle* h) {
        return iptc_insert_entry(c, r, n, h);
    }
    static int replace(const xt_chainlabel c, const Rule* r, unsigned n, xtc_handle* h) {
        return iptc_replace_entry(c, r, n, h);
    }
    static int append(const xt_chainlabel c, const Rule* r, xtc_handle* h) {
        return iptc_append_entry(c, r, h);
    }
    static int remove(const xt_chainlabel c, unsigned n, xtc_handle* h) {
        return iptc_delete_num_entry(c, n, h);
    }
    static int flush(const xt_chainlabel c, xtc_handle* h) { return iptc_flush_entries(c, h); }
    static int commit(xtc_handle* h) { return iptc_commit(h); }
    static const char* strerror(int err) { return iptc_strerror(err); }

    static void set_source(Rule& r, const Cidr& net) {
        const IpAddress mask = mask_of(net.prefix);
        std::memcpy(&r.ip.src, net.base.bytes.data(), 4);
        std::memcpy(&r.ip.smsk, mask.bytes.data(), 4);
    }
    static void set_tcp(Rule& r) { r.ip.proto = IPPROTO_TCP; }
    // Source network of a rule that matches on nothing but its source address.
    static std::optional<Cidr> plain_source(const Rule& r) {
        const ipt_ip& ip = r.ip;
        if (ip.dst.s_addr != 0 || ip.dmsk.s_addr != 0 || ip.proto != 0 || ip.flags != 0 ||
            ip.invflags != 0 || ip.iniface[0] != '\0' || ip.outiface[0] != '\0')
            return std::nullopt;
        IpAddress src, mask;
        std::memcpy(src.bytes.data(), &ip.src, 4);
        std::memcpy(mask.bytes.data(), &ip.smsk, 4);
        return network_of(src, mask);
    }
    static IpAddress mask_of(int prefix) {
        IpAddress all;
        all.bytes.fill(0xff);
        return all.masked(prefix);
    }
    static std::optional<Cidr> network_of(const IpAddress& src, const IpAddress& mask);
};

struct V6 {
    using Rule = ip6t_entry;
    static constexpr const char* name = "IPv6";
    static xtc_handle* init() { return ip6tc_init(kTable); }
    static void free(xtc_handle* h) { ip6tc_free(h); }
    static int is_chain(const char* c, xtc_handle* h) { return ip6tc_is_chain(c, h); }
    static int create_chain(const xt_chainlabel c, xtc_handle* h) {
        return ip6tc_create_chain(c, h);
    }
    static const Rule* first(const char* c, xtc_handle* h) { return ip6tc_first_rule(c, h); }
    static const Rule* next(const Rule* r, xtc_handle* h) { return ip6tc_next_rule(r, h); }
    static const char* target(const Rule* r, xtc_handle* h) { return ip6tc_get_target(r, h); }
    static int insert(const xt_chainlabel c, const Rule* r, unsigned n, xtc_handle* h) {
        return ip6tc_insert_entry(c, r, n, h);
    }
    static int replace(const xt_chainlabel c, const Rule* r, unsigned n, xtc_handle* h) {
        return ip6tc_replace_entry(c, r, n, h);
    }
    static int append(const xt_chainlabel c, const Rule* r, xtc_handle* h) {
        return ip6tc_append_entry(c, r, h);
    }
    static int remove(const xt_chainlabel c, unsigned n, xtc_handle* h) {
        return ip6tc_delete_num_entry(c, n, h);
    }
    static int flush(const xt_chainlabel c, xtc_handle* h) { return ip6tc_flush_entries(c, h); }
    static int commit(xtc_handle* h) { return ip6tc_commit(h); }
    static const char* strerror(int err) { return ip6tc_strerror(err); }

    static void set_source(Rule& r, const Cidr& net) {
        IpAddress all;
        all.family = Family::v6;
        all.bytes.fill(0xff);
        const IpAddress mask = all.masked(net.prefix);
        std::memcpy(&r.ipv6.src, net.base.bytes.data(), 16);
        std::memcpy(&r.ipv6.smsk, mask.bytes.data(), 16);
    }
    static void set_tcp(Rule& r) {
        r.ipv6.proto = IPPROTO_TCP;
        r.ipv6.flags |= IP6T_F_PROTO;  // without it ip6tables ignores the protocol
    }
    static std::optional<Cidr> plain_source(const Rule& r) {
        const ip6t_ip6& ip = r.ipv6;
        static const in6_addr any{};
        if (std::memcmp(&ip.dst, &any, sizeof any) != 0 ||
            std::memcmp(&ip.dmsk, &any, sizeof any) != 0 || ip.proto != 0 || ip.flags != 0 ||
            ip.invflags != 0 || ip.iniface[0] != '\0' || ip.outiface[0] != '\0')
            return std::nullopt;
        IpAddress src, mask;
        src.family = mask.family = Family::v6;
        std::memcpy(src.bytes.data(), &ip.src, 16);
        std::memcpy(mask.bytes.data(), &ip.smsk, 16);
        return V4::network_of(src, mask);
    }
};

// A contiguous mask and a source without host bits, or nothing.
inline std::optional<Cidr> V4::network_of(const IpAddress& src, const IpAddress& mask) {
    int prefix = 0;
    bool ended = false;
    for (std::size_t i = 0; i < static_cast<std::size_t>(src.width() / 8); ++i) {
        for (int bit = 7; bit >= 0; --bit) {
            const bool set = (mask.bytes[i] >> bit) & 1;
            if (set && ended) return std::nullopt;
            if (set) ++prefix;
            if (!set) ended = true;
        }
    }
    if (src.masked(prefix) != src) return std::nullopt;
    return Cidr{src, prefix};
}

// --- rules as byte blobs -------------------------------------------------------------

// An entry with its matches and target in one block, aligned like the kernel wants it.
template <typename Fam>
class RuleBlob {
  public:
    explicit RuleBlob(std::size_t size) : words_((size + 7) / 8, 0) {}
    typename Fam::Rule* rule() { return reinterpret_cast<typename Fam::Rule*>(words_.data()); }
    unsigned char* bytes() { return reinterpret_cast<unsigned char*>(words_.data()); }

  private:
    std::vector<std::uint64_t> words_;
};

constexpr std::size_t match_size(std::size_t payload) {
    return XT_ALIGN(sizeof(xt_entry_match)) + XT_ALIGN(payload);
}

// Copies a name into a zeroed, fixed-size name field, keeping its terminating NUL.
template <std::size_t N>
void put_name(char (&field)[N], std::string_view name) {
    std::memcpy(field, name.data(), std::min(name.size(), N - 1));
}

inline void put_match(unsigned char* at, std::string_view name, const void* payload,
                      std::size_t size, std::uint8_t revision = 0) {
    auto* m = reinterpret_cast<xt_entry_match*>(at);
    m->u.user.match_size = static_cast<std::uint16_t>(match_size(size));
    m->u.user.revision = revision;
    put_name(m->u.user.name, name);
    std::memcpy(m->data, payload, size);
}

// `target` is "DROP" or a chain name (at most 28 characters, the config checks that);
// libiptc maps both to the kernel's standard target.
inline void put_target(unsigned char* at, std::string_view target) {
    auto* t = reinterpret_cast<xt_standard_target*>(at);
    t->target.u.user.target_size = XT_ALIGN(sizeof(xt_standard_target));
    put_name(t->target.u.user.name, target);
}

template <typename Fam>
RuleBlob<Fam> drop_rule(const Entry& entry, const xt_counters& counters) {
    xt_comment_info comment{};
    const std::string text =
        helperproto::format_rule_comment(entry.origin, entry.expires, entry.tags);
    if (text.size() >= sizeof comment.comment)
        throw BackendError(fmt::format("rule comment for {} is too long", entry.net.to_string()));
    std::memcpy(comment.comment, text.data(), text.size());

    const std::size_t head = XT_ALIGN(sizeof(typename Fam::Rule));
    const std::size_t matches = match_size(sizeof comment);
    const std::size_t target = XT_ALIGN(sizeof(xt_standard_target));
    RuleBlob<Fam> blob(head + matches + target);
    auto* r = blob.rule();
    Fam::set_source(*r, entry.net);
    r->target_offset = static_cast<std::uint16_t>(head + matches);
    r->next_offset = static_cast<std::uint16_t>(head + matches + target);
    r->counters = counters;
    put_match(blob.bytes() + head, "comment", &comment, sizeof comment);
    put_target(blob.bytes() + head + matches, "DROP");
    return blob;
}

template <typename Fam>
RuleBlob<Fam> hook_rule(int port, const ChainLabel& chain) {
    xt_tcp tcp{};
    tcp.spts[0] = 0;
    tcp.spts[1] = 0xffff;
    tcp.dpts[0] = tcp.dpts[1] = static_cast<std::uint16_t>(port);
    tcp.flg_mask = kTcpFlagsMask;
    tcp.flg_cmp = kTcpFlagSyn;

    const std::size_t head = XT_ALIGN(sizeof(typename Fam::Rule));
    const std::size_t matches = match_size(sizeof tcp);
    const std::size_t target = XT_ALIGN(sizeof(xt_standard_target));
    RuleBlob<Fam> blob(head + matches + target);
    auto* r = blob.rule();
    Fam::set_tcp(*r);
    r->target_offset = static_cast<std::uint16_t>(head + matches);
    r->next_offset = static_cast<std::uint16_t>(head + matches + target);
    put_match(blob.bytes() + head, "tcp", &tcp, sizeof tcp);
    put_target(blob.bytes() + head + matches, chain.text);
    return blob;
}

// Calls f(match) for each match of a rule; stops early on a malformed size.
template <typename Rule, typename F>
void for_each_match(const Rule& r, F&& f) {
    const auto* base = reinterpret_cast<const unsigned char*>(&r);
    std::size_t offset = sizeof(Rule);
    while (offset + sizeof(xt_entry_match) <= r.target_offset) {
        const auto* m = reinterpret_cast<const xt_entry_match*>(base + offset);
        if (m->u.match_size < sizeof(xt_entry_match)) return;
        f(*m);
        offset += m->u.match_size;
    }
}

// Our entry if the rule is "-s NET -m comment --comment 'smtpwall ...' -j DROP".
template <typename Fam>
std::optional<Entry> read_entry(const typename Fam::Rule& r, xtc_handle* h) {
    const char* target = Fam::target(&r, h);
    if (target == nullptr || std::strcmp(target, IPTC_LABEL_DROP) != 0) return std::nullopt;
    const auto net = Fam::plain_source(r);
    if (!net) return std::nullopt;
    int count = 0;
    std::optional<helperproto::RuleComment> comment;
    for_each_match(r, [&](const xt_entry_match& m) {
        ++count;
        if (std::strcmp(m.u.user.name, "comment") != 0 ||
            m.u.match_size < match_size(sizeof(xt_comment_info)))
            return;
        const auto* info = reinterpret_cast<const xt_comment_info*>(m.data);
        const std::size_t len = strnlen(info->comment, sizeof info->comment);
        comment = helperproto::parse_rule_comment(std::string_view(info->comment, len));
    });
    if (count != 1 || !comment) return std::nullopt;
    Entry e;
    e.net = *net;
    e.packets = r.counters.pcnt;
    e.bytes = r.counters.bcnt;
    e.origin = comment->origin;
    e.expires = comment->expires;
    e.tags = std::move(comment->tags);
    return e;
}

// The destination port of one of our INPUT hooks, or nothing.
template <typename Fam>
std::optional<int> read_hook_port(const typename Fam::Rule& r, xtc_handle* h,
                                  const ChainLabel& chain) {
    const char* target = Fam::target(&r, h);
    if (target == nullptr || std::strcmp(target, chain.text) != 0) return std::nullopt;
    std::optional<int> port;
    int count = 0;
    for_each_match(r, [&](const xt_entry_match& m) {
        ++count;
        if (std::strcmp(m.u.user.name, "tcp") != 0 || m.u.match_size < match_size(sizeof(xt_tcp)))
            return;
        const auto* tcp = reinterpret_cast<const xt_tcp*>(m.data);
        if (tcp->dpts[0] == tcp->dpts[1] && tcp->spts[0] == 0 && tcp->spts[1] == 0xffff &&
            tcp->flg_mask == kTcpFlagsMask && tcp->flg_cmp == kTcpFlagSyn && tcp->invflags == 0 &&
            tcp->option == 0)
            port = tcp->dpts[0];
    });
    if (count != 1) return std::nullopt;
    return port;
}

// --- locking and handles -------------------------------------------------------------

template <typename Fam>
class Table {
  public:
    Table() : handle_(Fam::init()) {
        if (handle_ == nullptr) fail("init table filter");
    }
    ~Table() { Fam::free(handle_); }
    Table(const Table&) = delete;
    Table& operator=(const Table&) = delete;

    xtc_handle* get() const { return handle_; }
    void commit() {
        if (!Fam::commit(handle_)) fail("commit");
    }
    [[noreturn]] static void fail(std::string_view what) {
        const int err = errno;
        throw BackendError(fmt::format("{}: {}: {}", Fam::name, what, Fam::strerror(err)));
    }

  private:
    xtc_handle* handle_;
};

// --- the chain and its INPUT hooks, shared by the iptables and ipset backends ---------

// Creates `chain` and the SYN-only INPUT hooks for `ports` where missing. Appends a line
// per repair to `done`; true if the table changed (the caller commits).
template <typename Fam>
bool ensure_chain_and_hooks(Table<Fam>& table, const ChainLabel& chain, const std::set<int>& ports,
                            std::vector<std::string>& done) {
    bool changed = false;
    if (!Fam::is_chain(chain.text, table.get())) {
        if (!Fam::create_chain(chain.text, table.get()))
            Table<Fam>::fail(fmt::format("create chain {}", chain.text));
        done.push_back(fmt::format("{}: created chain {}", Fam::name, chain.text));
        changed = true;
    }
    const ChainLabel input("INPUT");
    std::set<int> hooked;
    for (auto* r = Fam::first(input.text, table.get()); r != nullptr; r = Fam::next(r, table.get()))
        if (auto port = read_hook_port<Fam>(*r, table.get(), chain)) hooked.insert(*port);
    for (int port : ports) {
        if (hooked.contains(port)) continue;
        auto rule = hook_rule<Fam>(port, chain);
        if (!Fam::insert(input.text, rule.rule(), 0, table.get()))
            Table<Fam>::fail(fmt::format("insert INPUT hook for tcp port {}", port));
        done.push_back(fmt::format("{}: inserted INPUT hook tcp dport {} SYN -> {}", Fam::name,
                                   port, chain.text));
        changed = true;
    }
    return changed;
}

}  // namespace smtpwall::firewall::iptc
