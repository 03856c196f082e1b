// The ipset backend: the entries live in two kernel sets driven through libipset,
// referenced by one iptables rule per family (ipset_rule.cpp), so the per-packet cost
// stays flat however long the list grows. Layout it maintains:
//
//   ipset <chain>4   hash:net family inet  counters comment maxelem <limits.max_entries>
//   ipset <chain>6   hash:net family inet6 counters comment maxelem <limits.max_entries>
//   INPUT:    -p tcp --dport P --tcp-flags FIN,SYN,RST,ACK SYN -j <chain>   (as iptables)
//   <chain>:  -m set --match-set <chain>4 src -j DROP                        (per family)
//
// Each member carries the same comment as an iptables rule ("smtpwall dyn exp=... [tag]",
// at most 245 of the 255 bytes ipset keeps) and its own packet/byte counters. Like the
// other backends, this one uses no kernel timeouts: the helper removes expired entries
// itself (one clock, one log line per expiry, the same behaviour whatever the backend),
// and a member whose comment we cannot parse is not ours and not touched.
//
// ipset has no transactions: a batch is one session whose adds and deletes libipset
// packs into as few netlink messages as fit. If the kernel refuses one (the set is full
// or gone), what was sent before it stays; the helper's next repair compares the kernel
// with what it wants and converges again. Adding an existing member with -exist replaces
// its comment and keeps its counters, which is exactly an update.
//
// A set of the wrong shape (no counters or comments, too small, a default timeout) is
// rebuilt: a new set with the same members and counters is swapped in under the same
// name, so the iptables rule, which refers to the set by index, never sees a gap.
#include <libipset/data.h>
#include <libipset/nf_inet_addr.h>
#include <libipset/session.h>
#include <libipset/types.h>

#include <fmt/format.h>

#include <cstdarg>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include "conf/helper_config.hpp"
#include "firewall/backend.hpp"
#include "firewall/ipset_rule.hpp"
#include "firewall/xtables_lock.hpp"

namespace smtpwall::firewall {

namespace {

using helperproto::Entry;

constexpr std::string_view kSetType = "hash:net";
constexpr std::uint8_t kFamilyV4 = 2;   // NFPROTO_IPV4
constexpr std::uint8_t kFamilyV6 = 10;  // NFPROTO_IPV6

std::string family_name(Family f) {
    return f == Family::v4 ? "inet" : "inet6";
}

// One line of `ipset save` output split in words; a quoted comment is one word.
std::vector<std::string> save_words(std::string_view line) {
    std::vector<std::string> words;
    std::size_t i = 0;
    while (i < line.size()) {
        if (line[i] == ' ') {
            ++i;
            continue;
        }
        if (line[i] == '"') {
            const auto close = line.find('"', i + 1);
            if (close == std::string_view::npos) return {};  // unbalanced: not a line we know
            words.emplace_back(line.substr(i + 1, close - i - 1));
            i = close + 1;
            if (i < line.size() && line[i] != ' ') return {};
            continue;
        }
        const auto end = line.find(' ', i);
        words.emplace_back(line.substr(i, end == std::string_view::npos ? end : end - i));
        i = end == std::string_view::npos ? line.size() : end;
    }
    return words;
}

std::optional<std::uint64_t> number(std::string_view text) {
    if (text.empty() || text.size() > 20) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        const std::uint64_t next = value * 10 + static_cast<std::uint64_t>(c - '0');
        if (next / 10 != value) return std::nullopt;
        value = next;
    }
    return value;
}

// A set as `ipset save` shows it.
struct SavedSet {
    std::string header;  // the "create" line
    std::string type;
    std::string family;
    std::uint64_t maxelem = 0;
    std::uint64_t timeout = 0;
    bool counters = false;
    bool comments = false;
    struct Member {
        Cidr net;
        std::optional<std::uint64_t> packets, bytes;
        std::optional<std::string> comment;
        bool plain = true;  // nothing but packets, bytes and comment
    };
    std::vector<Member> members;
};

SavedSet parse_save(const std::string& name, std::string_view text) {
    SavedSet out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        const auto line = text.substr(pos, end - pos);
        pos = end + 1;
        const auto w = save_words(line);
        if (w.size() >= 3 && w[0] == "create" && w[1] == name) {
            out.header = std::string(line);
            out.type = w[2];
            for (std::size_t i = 3; i < w.size(); ++i) {
                const bool has_value = i + 1 < w.size();
                if (w[i] == "family" && has_value) out.family = w[i + 1];
                if (w[i] == "maxelem" && has_value) out.maxelem = number(w[i + 1]).value_or(0);
                if (w[i] == "timeout" && has_value) out.timeout = number(w[i + 1]).value_or(1);
                if (w[i] == "counters") out.counters = true;
                if (w[i] == "comment") out.comments = true;
            }
            continue;
        }
        if (w.size() < 3 || w[0] != "add" || w[1] != name) continue;
        const auto net = Cidr::parse(w[2]);
        if (!net) continue;
        SavedSet::Member m{*net, {}, {}, {}, true};
        for (std::size_t i = 3; i < w.size(); ++i) {
            const bool has_value = i + 1 < w.size();
            if (w[i] == "packets" && has_value) {
                m.packets = number(w[++i]);
            } else if (w[i] == "bytes" && has_value) {
                m.bytes = number(w[++i]);
            } else if (w[i] == "comment" && has_value) {
                m.comment = w[++i];
            } else {
                m.plain = false;  // timeout, nomatch, skbinfo...: not an entry we wrote
            }
        }
        out.members.push_back(std::move(m));
    }
    return out;
}

// A libipset session: commands go to the kernel over netlink, listings come back as
// text through the print callback. Adds and deletes are buffered ("restore mode", line
// numbers > 0) and sent by commit().
class Session {
  public:
    Session() {
        static std::once_flag types;
        std::call_once(types, [] { ipset_load_types(); });
        session_ = ipset_session_init(&Session::print, this);
        if (session_ == nullptr) throw BackendError("ipset: cannot create a session");
        ipset_envopt_set(session_, IPSET_ENV_EXIST);  // add: replace, del: absent is fine
    }
    ~Session() { ipset_session_fini(session_); }
    bool tainted() const { return tainted_; }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // The set in save format, or nothing if it does not exist.
    std::optional<std::string> save(const std::string& name) {
        commit();
        out_.clear();
        ipset_session_output(session_, IPSET_LIST_SAVE);
        set_name(name);
        if (ipset_cmd(session_, IPSET_CMD_LIST, 0) != 0) {
            tainted_ = true;
            const std::string message = report();
            if (message.find("does not exist") != std::string::npos) return std::nullopt;
            throw BackendError(fmt::format("ipset: list {}: {}", name, message));
        }
        return std::move(out_);
    }

    void create(const std::string& name, Family family, std::uint32_t maxelem) {
        commit();
        set_name(name);
        check(ipset_session_data_set(session_, IPSET_OPT_TYPENAME, kSetType.data()), "type");
        if (ipset_type_get(session_, IPSET_CMD_CREATE) == nullptr)
            fail(fmt::format("type {}", kSetType));
        const std::uint8_t nfproto = family == Family::v4 ? kFamilyV4 : kFamilyV6;
        check(ipset_session_data_set(session_, IPSET_OPT_FAMILY, &nfproto), "family");
        check(ipset_session_data_set(session_, IPSET_OPT_MAXELEM, &maxelem), "maxelem");
        check(ipset_session_data_set(session_, IPSET_OPT_COUNTERS, nullptr), "counters");
        check(ipset_session_data_set(session_, IPSET_OPT_CREATE_COMMENT, nullptr), "comment");
        if (ipset_cmd(session_, IPSET_CMD_CREATE, 0) != 0) fail(fmt::format("create {}", name));
    }

    void destroy(const std::string& name, bool must_exist) {
        commit();
        set_name(name);
        if (ipset_cmd(session_, IPSET_CMD_DESTROY, 0) == 0) return;
        tainted_ = true;
        const std::string message = report();
        if (!must_exist && message.find("does not exist") != std::string::npos) return;
        throw BackendError(fmt::format("ipset: destroy {}: {}", name, message));
    }

    void swap(const std::string& a, const std::string& b) {
        commit();
        set_name(a);
        check(ipset_session_data_set(session_, IPSET_OPT_SETNAME2, b.c_str()), "setname2");
        if (ipset_cmd(session_, IPSET_CMD_SWAP, 0) != 0) fail(fmt::format("swap {} {}", a, b));
    }

    // Buffered: sent by commit() (or earlier, when libipset's buffer is full).
    void add(const std::string& name, const Cidr& net, const std::string& comment,
             std::optional<std::pair<std::uint64_t, std::uint64_t>> counters = std::nullopt) {
        element(name, net, IPSET_CMD_ADD);
        check(ipset_session_data_set(session_, IPSET_OPT_ADT_COMMENT, comment.c_str()), "comment");
        if (counters) {
            check(ipset_session_data_set(session_, IPSET_OPT_PACKETS, &counters->first), "packets");
            check(ipset_session_data_set(session_, IPSET_OPT_BYTES, &counters->second), "bytes");
        }
        send(IPSET_CMD_ADD, net);
    }
    void del(const std::string& name, const Cidr& net) {
        element(name, net, IPSET_CMD_DEL);
        send(IPSET_CMD_DEL, net);
    }
    void commit() {
        if (pending_ == 0) return;
        pending_ = 0;
        if (ipset_commit(session_) != 0) fail("commit");
        lines_.clear();
    }

  private:
    static int print(struct ipset_session* /*session*/, void* self, const char* format, ...)
        __attribute__((format(printf, 3, 4))) {
        va_list args;
        va_start(args, format);
        va_list again;
        va_copy(again, args);
        const int n = std::vsnprintf(nullptr, 0, format, args);
        va_end(args);
        if (n > 0) {
            auto& out = static_cast<Session*>(self)->out_;
            const std::size_t at = out.size();
            out.resize(at + static_cast<std::size_t>(n) + 1);
            std::vsnprintf(out.data() + at, static_cast<std::size_t>(n) + 1, format, again);
            out.resize(at + static_cast<std::size_t>(n));
        }
        va_end(again);
        return 0;
    }

    void set_name(const std::string& name) {
        check(ipset_session_data_set(session_, IPSET_SETNAME, name.c_str()), "set name");
    }
    void element(const std::string& name, const Cidr& net, enum ipset_cmd cmd) {
        set_name(name);
        // Also fills in the set's type and family (from the kernel, then from a cache).
        if (ipset_type_get(session_, cmd) == nullptr) fail(fmt::format("set {}", name));
        const std::uint8_t nfproto = ipset_data_family(ipset_session_data(session_));
        if (nfproto != (net.family() == Family::v4 ? kFamilyV4 : kFamilyV6))
            throw BackendError(fmt::format("ipset: {} is not a set for {}", name, net.to_string()));
        nf_inet_addr addr{};
        std::memcpy(&addr, net.base.bytes.data(), net.family() == Family::v4 ? 4 : 16);
        const auto cidr = static_cast<std::uint8_t>(net.prefix);
        check(ipset_session_data_set(session_, IPSET_OPT_IP, &addr), "address");
        check(ipset_session_data_set(session_, IPSET_OPT_CIDR, &cidr), "prefix");
    }
    void send(enum ipset_cmd cmd, const Cidr& net) {
        lines_.push_back(net);
        ++pending_;
        // Line numbers make libipset aggregate consecutive adds/deletes to one set.
        if (ipset_cmd(session_, cmd, static_cast<std::uint32_t>(lines_.size())) != 0)
            fail(fmt::format("{} {}", cmd == IPSET_CMD_ADD ? "add" : "del", net.to_string()));
    }
    void check(int rc, std::string_view what) {
        if (rc != 0) fail(fmt::format("bad {}", what));
    }
    std::string report() {
        const char* msg = ipset_session_report_msg(session_);
        std::string text = msg != nullptr && *msg != '\0' ? msg : "unknown error";
        ipset_session_report_reset(session_);
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
        for (char& c : text)
            if (c == '\n') c = ' ';
        return text;
    }
    [[noreturn]] void fail(const std::string& what) {
        tainted_ = true;
        pending_ = 0;
        lines_.clear();
        throw BackendError(fmt::format("ipset: {}: {}", what, report()));
    }

    struct ipset_session* session_ = nullptr;
    bool tainted_ = false;  // a command failed: libipset may keep stale state, start afresh
    std::string out_;
    std::vector<Cidr> lines_;  // what each buffered line number was about
    std::size_t pending_ = 0;
};

class IpsetBackend final : public Backend {
  public:
    explicit IpsetBackend(const conf::HelperConfig& config)
        : lock_(config.lock_path),
          maxelem_(static_cast<std::uint32_t>(std::max<std::size_t>(config.max_entries, 1))),
          ipv6_(config.ipv6) {
        rules_.chain = config.chain;
        rules_.ports = std::set<int>(config.ports.begin(), config.ports.end());
        rules_.lock = &lock_;
        rules_.set4 = config.chain + "4";
        if (ipv6_) rules_.set6 = config.chain + "6";
    }

    std::vector<std::string> ensure_base() override {
        std::vector<std::string> done;
        guarded([&] {
            ensure_set(rules_.set4, Family::v4, done);
            if (rules_.set6) ensure_set(*rules_.set6, Family::v6, done);
        });
        for (auto& line : ensure_ipset_rules(rules_)) done.push_back(std::move(line));
        return done;
    }

    void apply(const std::vector<Change>& changes) override {
        std::map<Cidr, const Change*> last;  // last change per network wins
        for (const auto& c : changes) last[c.entry.net] = &c;
        if (last.empty()) return;
        guarded([&] {
            for (const auto& [net, change] : last) {
                if (net.family() == Family::v6 && !ipv6_)
                    throw BackendError("IPv6 is disabled in the helper config");
                const std::string& set = set_of(net);
                if (change->kind == Change::Kind::remove) {
                    session().del(set, net);
                } else {
                    const auto& e = change->entry;
                    session().add(set, net,
                                  helperproto::format_rule_comment(e.origin, e.expires, e.tags));
                }
            }
            session().commit();
        });
    }

    std::vector<Entry> list() override {
        std::vector<Entry> out;
        guarded([&] {
            list_set(rules_.set4, out);
            if (rules_.set6) list_set(*rules_.set6, out);
        });
        return out;
    }

  private:
    // A failed session may hold half a message: start the next operation afresh.
    template <typename F>
    void guarded(F&& f) {
        try {
            f();
        } catch (const BackendError&) {
            session_.reset();
            throw;
        }
    }

    Session& session() {
        if (session_ && session_->tainted()) session_.reset();
        if (!session_) session_ = std::make_unique<Session>();
        return *session_;
    }

    const std::string& set_of(const Cidr& net) const {
        return net.family() == Family::v4 ? rules_.set4 : *rules_.set6;
    }

    void ensure_set(const std::string& name, Family family, std::vector<std::string>& done) {
        const auto text = session().save(name);
        if (!text) {
            session().create(name, family, maxelem_);
            done.push_back(
                fmt::format("ipset: created {} ({} family {} maxelem {} counters comment)", name,
                            kSetType, family_name(family), maxelem_));
            return;
        }
        const SavedSet saved = parse_save(name, *text);
        const bool right_shape = saved.type == kSetType && saved.family == family_name(family) &&
                                 saved.counters && saved.comments && saved.timeout == 0 &&
                                 saved.maxelem >= maxelem_;
        if (right_shape) return;
        // Same members and counters in a set of the right shape, swapped in by name.
        const std::string fresh = name + "-n";
        session().destroy(fresh, false);
        session().create(fresh, family, maxelem_);
        for (const auto& m : saved.members) {
            std::optional<std::pair<std::uint64_t, std::uint64_t>> counters;
            if (m.packets && m.bytes) counters = std::pair{*m.packets, *m.bytes};
            session().add(fresh, m.net, m.comment.value_or(""), counters);
        }
        session().commit();
        session().swap(name, fresh);
        session().destroy(fresh, true);
        done.push_back(fmt::format("ipset: rebuilt {} with {} members: it was \"{}\"", name,
                                   saved.members.size(), saved.header));
    }

    void list_set(const std::string& name, std::vector<Entry>& out) {
        const auto text = session().save(name);
        if (!text) return;  // repaired by ensure_base
        for (const auto& m : parse_save(name, *text).members) {
            if (!m.plain || !m.comment || !m.packets || !m.bytes) continue;
            auto comment = helperproto::parse_rule_comment(*m.comment);
            if (!comment) continue;
            Entry e;
            e.net = m.net;
            e.packets = *m.packets;
            e.bytes = *m.bytes;
            e.origin = comment->origin;
            e.expires = comment->expires;
            e.tags = std::move(comment->tags);
            out.push_back(std::move(e));
        }
    }

    XtablesLockFile lock_;
    IpsetRuleSpec rules_;
    std::uint32_t maxelem_;
    bool ipv6_;
    std::unique_ptr<Session> session_;
};

}  // namespace

std::unique_ptr<Backend> make_ipset_backend(const conf::HelperConfig& config) {
    return std::make_unique<IpsetBackend>(config);
}

}  // namespace smtpwall::firewall
