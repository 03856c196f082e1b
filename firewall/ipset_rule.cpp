// The iptables side of the ipset backend, through libiptc.
#include "firewall/ipset_rule.hpp"

#include <linux/netfilter/ipset/ip_set.h>
#include <linux/netfilter/xt_set.h>
#include <sys/socket.h>

#include "firewall/iptc_common.hpp"

namespace smtpwall::firewall {

namespace {

using namespace iptc;

// The match revision iptables-legacy itself uses with this kernel (`iptables-legacy -m
// set --help` offers the counter options of revision 4); xt_set_info_match_v4 is its
// payload. A rule iptables writes for "-m set --match-set NAME src -j DROP" is
// byte-for-byte the rule we write.
constexpr std::uint8_t kSetMatchRevision = 4;

class Socket {
  public:
    Socket() : fd_(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW)) {
        if (fd_ < 0) throw BackendError(fmt::format("ipset: raw socket: {}", std::strerror(errno)));
    }
    ~Socket() { ::close(fd_); }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    int get() const { return fd_; }

  private:
    int fd_;
};

// The kernel's index of a set (what an xt_set match refers to), as iptables finds it:
// getsockopt(SO_IP_SET) with the protocol version first. Nothing if there is no such set.
std::optional<ip_set_id_t> set_index(const std::string& name) {
    if (name.empty() || name.size() >= IPSET_MAXNAMELEN)
        throw BackendError(fmt::format("ipset: bad set name {}", name));
    Socket sock;
    ip_set_req_version version{};
    version.op = IP_SET_OP_VERSION;
    socklen_t size = sizeof version;
    if (::getsockopt(sock.get(), SOL_IP, SO_IP_SET, &version, &size) != 0)
        throw BackendError(fmt::format("ipset: protocol version: {}", std::strerror(errno)));
    ip_set_req_get_set req{};
    req.op = IP_SET_OP_GET_BYNAME;
    req.version = version.version;
    std::memcpy(req.set.name, name.data(), name.size());
    size = sizeof req;
    if (::getsockopt(sock.get(), SOL_IP, SO_IP_SET, &req, &size) != 0)
        throw BackendError(fmt::format("ipset: index of {}: {}", name, std::strerror(errno)));
    if (req.set.index == IPSET_INVALID_ID) return std::nullopt;
    return req.set.index;
}

xt_set_info_match_v4 set_match(ip_set_id_t index) {
    xt_set_info_match_v4 info{};
    info.match_set.index = index;
    info.match_set.dim = IPSET_DIM_ONE;
    info.match_set.flags = IPSET_DIM_ONE_SRC;  // "src"
    info.packets.op = IPSET_COUNTER_NONE;
    info.bytes.op = IPSET_COUNTER_NONE;
    info.flags = 0;  // counters of the matching element are updated
    return info;
}

// -m set --match-set <index> src -j DROP
template <typename Fam>
RuleBlob<Fam> set_rule(ip_set_id_t index) {
    const xt_set_info_match_v4 info = set_match(index);
    const std::size_t head = XT_ALIGN(sizeof(typename Fam::Rule));
    const std::size_t matches = match_size(sizeof info);
    const std::size_t target = XT_ALIGN(sizeof(xt_standard_target));
    RuleBlob<Fam> blob(head + matches + target);
    auto* r = blob.rule();
    r->target_offset = static_cast<std::uint16_t>(head + matches);
    r->next_offset = static_cast<std::uint16_t>(head + matches + target);
    put_match(blob.bytes() + head, "set", &info, sizeof info, kSetMatchRevision);
    put_target(blob.bytes() + head + matches, "DROP");
    return blob;
}

template <typename Fam>
bool is_set_rule(const typename Fam::Rule& r, xtc_handle* h, ip_set_id_t index) {
    const char* target = Fam::target(&r, h);
    if (target == nullptr || std::strcmp(target, IPTC_LABEL_DROP) != 0) return false;
    const auto source = Fam::plain_source(r);
    if (!source || source->prefix != 0) return false;
    const xt_set_info_match_v4 want = set_match(index);
    int count = 0;
    bool match = false;
    for_each_match(r, [&](const xt_entry_match& m) {
        ++count;
        if (std::strcmp(m.u.user.name, "set") != 0 || m.u.user.revision != kSetMatchRevision ||
            m.u.match_size < match_size(sizeof want))
            return;
        xt_set_info_match_v4 got;
        std::memcpy(&got, m.data, sizeof got);
        match = got.match_set.index == want.match_set.index &&
                got.match_set.dim == want.match_set.dim &&
                got.match_set.flags == want.match_set.flags && got.packets.op == want.packets.op &&
                got.bytes.op == want.bytes.op && got.flags == want.flags;
    });
    return count == 1 && match;
}

template <typename Fam>
void ensure_family(const IpsetRuleSpec& spec, const std::string& set_name,
                   std::vector<std::string>& done) {
    const auto index = set_index(set_name);
    if (!index) throw BackendError(fmt::format("ipset {} does not exist", set_name));
    const ChainLabel chain(spec.chain);
    Table<Fam> table;
    bool changed = ensure_chain_and_hooks<Fam>(table, chain, spec.ports, done);

    bool have_rule = false;
    std::vector<unsigned> doomed;  // rule numbers from 0
    std::size_t leftovers = 0;
    unsigned position = 0;
    for (auto* r = Fam::first(chain.text, table.get()); r != nullptr;
         r = Fam::next(r, table.get()), ++position) {
        if (is_set_rule<Fam>(*r, table.get(), *index)) {
            if (have_rule) doomed.push_back(position);  // a duplicate
            have_rule = true;
        } else if (read_entry<Fam>(*r, table.get())) {
            doomed.push_back(position);  // one entry of the iptables backend
            ++leftovers;
        }
    }
    for (auto it = doomed.rbegin(); it != doomed.rend(); ++it) {
        if (!Fam::remove(chain.text, *it, table.get()))
            Table<Fam>::fail(fmt::format("delete rule {}", *it + 1));
        changed = true;
    }
    if (leftovers > 0)
        done.push_back(fmt::format("{}: removed {} entry rules of the iptables backend from {}",
                                   Fam::name, leftovers, chain.text));
    if (!have_rule) {
        auto rule = set_rule<Fam>(*index);
        if (!Fam::insert(chain.text, rule.rule(), 0, table.get()))
            Table<Fam>::fail(fmt::format("insert the rule for set {}", set_name));
        done.push_back(fmt::format("{}: inserted -m set --match-set {} src -j DROP into {}",
                                   Fam::name, set_name, chain.text));
        changed = true;
    }
    if (changed) table.commit();
}

}  // namespace

std::vector<std::string> ensure_ipset_rules(const IpsetRuleSpec& spec) {
    std::vector<std::string> done;
    XtablesLock lock(*spec.lock);
    ensure_family<V4>(spec, spec.set4, done);
    if (spec.set6) ensure_family<V6>(spec, *spec.set6, done);
    return done;
}

}  // namespace smtpwall::firewall
