// The nftables backend, driven through libnftables. Layout it maintains, in its own
// table (config [firewall] table, default: the chain name in lower case):
//
//   table inet smtpwall {
//     set ban4    { type ipv4_addr; counter; }     /32 entries, by address
//     set ban4_24 { type ipv4_addr; counter; }     /24 entries, by network address
//     set ban6    { type ipv6_addr; counter; }     /128 entries ... and so on per length
//     chain input {
//       type filter hook input priority -10; policy accept;
//       tcp dport { 25 } tcp flags & (fin|syn|rst|ack) == syn counter jump bans
//     }
//     chain bans {                                  one rule per set, longest prefix first
//       ip saddr @ban4 drop
//       ip saddr & 255.255.255.0 @ban4_24 drop
//       ip6 saddr @ban6 drop
//     }
//   }
//
// Why one set per prefix length rather than one interval set per family: an interval
// set refuses overlapping elements, and the helper's entries may overlap (a ban inside a
// core network, a /24 and one of its addresses). Sets keyed by the masked address behave
// like ipset's hash:net: any mix of entries, the most specific one counts the packet,
// and the cost per packet is one hash lookup per prefix length in use (usually one or
// two), however many entries there are. Sets and their rules are created on demand.
//
// Each element carries a counter and a comment with the same text as an iptables rule
// ("smtpwall dyn exp=... [tag]"). nft keeps at most 128 bytes of comment: tags that do
// not fit are left out of the kernel's copy and remembered here, so a running helper
// reports them in full (after a restart, the shortened list is what it knows). As in
// the other backends there are no kernel timeouts: the helper expires entries itself.
//
// All changes of a batch are one buffer of commands, which nft applies as one
// transaction: all or nothing. nft cannot change an element in place, so an update is
// "delete, then add with the old counter values and the new comment" in the same
// transaction; the counter values come from the last reading of the kernel (every LIST
// and every repair), so packets counted since that reading are lost on an update.
// Removals are written "add bare element, delete element", which cannot fail on an
// element someone else removed first.
//
// Commands are text for nft's own parser inside this process: nothing is executed and
// no shell is involved. The text is built only from our constants, numbers, validated
// addresses (Cidr::to_string: hex digits, '.', ':') and tags that passed valid_tag()
// ([a-z0-9-]); each piece is checked against that alphabet before it is used
// (require_safe), so no quote, semicolon, newline, brace, '$', '@' or '#' from outside
// can ever reach the parser.
#include <nftables/libnftables.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "conf/helper_config.hpp"
#include "firewall/backend.hpp"

namespace smtpwall::firewall {

namespace {

using helperproto::Entry;
using json = nlohmann::json;

constexpr int kPriority = -10;
constexpr std::size_t kMaxComment = 128;  // nft refuses longer element comments

// Throws unless every byte of `text` is [a-z0-9] or one of `punct`.
void require_safe(std::string_view text, std::string_view punct) {
    const bool ok = !text.empty() && std::all_of(text.begin(), text.end(), [&](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               punct.find(c) != std::string_view::npos;
    });
    if (!ok)
        throw BackendError(
            fmt::format("internal error: refusing to put \"{}\" into an nft command", text));
}

std::string set_name(Family family, int prefix) {
    const bool v4 = family == Family::v4;
    const int full = v4 ? 32 : 128;
    return prefix == full ? (v4 ? "ban4" : "ban6") : fmt::format("ban{}_{}", v4 ? 4 : 6, prefix);
}

// The family and prefix length a set of ours is for, or nothing for any other name.
std::optional<std::pair<Family, int>> parse_set_name(std::string_view name) {
    if (name == "ban4") return std::pair{Family::v4, 32};
    if (name == "ban6") return std::pair{Family::v6, 128};
    if (name.size() < 6 || !name.starts_with("ban") || name[4] != '_') return std::nullopt;
    const Family family = name[3] == '4' ? Family::v4 : Family::v6;
    if (name[3] != '4' && name[3] != '6') return std::nullopt;
    const auto digits = name.substr(5);
    if (digits.size() > 3 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
    int prefix = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        prefix = prefix * 10 + (c - '0');
    }
    if (prefix >= (family == Family::v4 ? 32 : 128)) return std::nullopt;
    return std::pair{family, prefix};
}

std::string set_name(const Cidr& net) {
    return set_name(net.family(), net.prefix);
}

// Longest prefix first, IPv4 before IPv6: the order of the rules in chain bans.
bool rule_order(const std::string& a, const std::string& b) {
    const auto pa = *parse_set_name(a), pb = *parse_set_name(b);
    if (pa.first != pb.first) return pa.first == Family::v4;
    return pa.second > pb.second;
}

// The element comment for an entry, shortened to what nft keeps; true if shortened.
std::pair<std::string, bool> element_comment(const Entry& e) {
    std::vector<std::string> tags = e.tags;
    std::string text = helperproto::format_rule_comment(e.origin, e.expires, tags);
    const bool shortened = text.size() > kMaxComment;
    while (text.size() > kMaxComment && !tags.empty()) {
        tags.pop_back();
        text = helperproto::format_rule_comment(e.origin, e.expires, tags);
    }
    return {text, shortened};
}

// One libnftables context: commands in, output (JSON for listings) and errors out.
class Nft {
  public:
    Nft() : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
        if (ctx_ == nullptr) throw BackendError("nftables: cannot create a context");
        nft_ctx_buffer_output(ctx_);
        nft_ctx_buffer_error(ctx_);
    }
    ~Nft() {
        nft_ctx_unbuffer_output(ctx_);
        nft_ctx_unbuffer_error(ctx_);
        nft_ctx_free(ctx_);
    }
    Nft(const Nft&) = delete;
    Nft& operator=(const Nft&) = delete;

    // Runs the commands as one transaction and returns what nft printed. With `absent_ok`,
    // an ENOENT ("No such file or directory": the table is missing) gives nothing.
    std::optional<std::string> run(const std::string& commands, unsigned flags = 0,
                                   bool absent_ok = false) {
        nft_ctx_output_set_flags(ctx_, flags);
        const int rc = nft_run_cmd_from_buffer(ctx_, commands.c_str());
        const char* out = nft_ctx_get_output_buffer(ctx_);  // also resets the buffer
        std::string error = nft_ctx_get_error_buffer(ctx_);
        if (rc == 0) return std::string(out != nullptr ? out : "");
        if (absent_ok && error.find("No such file or directory") != std::string::npos)
            return std::nullopt;
        // nft repeats the command under its error message: keep the first line only.
        if (const auto nl = error.find('\n'); nl != std::string::npos) error.resize(nl);
        throw BackendError(fmt::format("nftables: {}", error.empty() ? "unknown error" : error));
    }

  private:
    nft_ctx* ctx_;
};

json parse_json(const std::string& text) {
    try {
        json j = json::parse(text);
        if (!j.contains("nftables") || !j["nftables"].is_array())
            throw BackendError("nftables: unexpected JSON output");
        return j;
    } catch (const json::exception& e) {
        throw BackendError(fmt::format("nftables: bad JSON output: {}", e.what()));
    }
}

std::string str(const json& obj, const char* key) {
    const auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

class NftBackend final : public Backend {
  public:
    explicit NftBackend(const conf::HelperConfig& config)
        : table_(config.nft_table()),
          ports_(config.ports.begin(), config.ports.end()),
          ipv6_(config.ipv6) {
        require_safe(table_, "_");
    }

    std::vector<std::string> ensure_base() override {
        const auto text = nft().run(fmt::format("list table inet {}", table_),
                                    NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_TERSE, true);
        std::vector<std::string> done;
        if (!text) done.push_back(fmt::format("nftables: created table inet {}", table_));

        std::set<std::string> present, bad;
        std::optional<bool> input_ok;  // nothing: no such chain
        bool have_bans = false;
        std::vector<std::string> input_rules, bans_rules;
        if (text) {
            const json doc = parse_json(*text);  // (not in the for: it would die before the loop)
            for (const auto& item : doc["nftables"]) {
                if (const auto it = item.find("set"); it != item.end()) {
                    const std::string name = str(*it, "name");
                    const auto kind = parse_set_name(name);
                    if (!kind) continue;
                    present.insert(name);
                    const char* type = kind->first == Family::v4 ? "ipv4_addr" : "ipv6_addr";
                    const bool counter =
                        it->contains("stmt") && it->at("stmt").dump() == R"([{"counter":null}])";
                    if (str(*it, "type") != type || it->contains("flags") || !counter)
                        bad.insert(name);
                } else if (const auto ch = item.find("chain"); ch != item.end()) {
                    const std::string name = str(*ch, "name");
                    if (name == "bans") have_bans = true;
                    if (name != "input") continue;
                    const auto prio = ch->find("prio");
                    input_ok = str(*ch, "type") == "filter" && str(*ch, "hook") == "input" &&
                               prio != ch->end() && prio->is_number_integer() &&
                               prio->get<int>() == kPriority && str(*ch, "policy") == "accept";
                } else if (const auto rule = item.find("rule"); rule != item.end()) {
                    const std::string chain = str(*rule, "chain");
                    if (chain == "input") input_rules.push_back(str(*rule, "comment"));
                    if (chain == "bans") bans_rules.push_back(str(*rule, "comment"));
                }
            }
        }
        std::set<std::string> wanted = present;
        wanted.insert(set_name(Family::v4, 32));
        if (ipv6_) wanted.insert(set_name(Family::v6, 128));
        if (!ipv6_)
            std::erase_if(wanted, [](const std::string& n) { return n.starts_with("ban6"); });
        const auto order = ordered(wanted);
        std::vector<std::string> expected_bans;
        for (const auto& name : order) expected_bans.push_back(bans_comment(name));

        const bool hook_ok =
            input_ok.value_or(false) && input_rules == std::vector<std::string>{hook_comment()};
        const bool sets_ok = bad.empty() && std::includes(present.begin(), present.end(),
                                                          wanted.begin(), wanted.end());
        if (text && hook_ok && sets_ok && have_bans && bans_rules == expected_bans) {
            sets_ = wanted;
            return done;
        }

        // One transaction puts the table in order; set elements are not touched.
        std::string cmd = fmt::format("add table inet {}\n", table_);
        cmd += fmt::format("add chain inet {} bans\nflush chain inet {} bans\n", table_, table_);
        if (input_ok && !*input_ok) {
            cmd += fmt::format("flush chain inet {0} input\ndelete chain inet {0} input\n", table_);
            done.push_back("nftables: replaced chain input (wrong hook, priority or policy)");
        }
        cmd += fmt::format(
            "add chain inet {0} input {{ type filter hook input priority {1}; policy accept; }}\n"
            "flush chain inet {0} input\n",
            table_, kPriority);
        cmd += hook_rule();
        for (const auto& name : bad) {
            cmd += fmt::format("delete set inet {} {}\n", table_, name);
            done.push_back(fmt::format("nftables: replaced set {} (wrong type or flags)", name));
        }
        for (const auto& name : order) {
            cmd += set_decl(name);
            if (!present.contains(name))
                done.push_back(fmt::format("nftables: created set {}", name));
        }
        for (const auto& name : order) cmd += bans_rule(name);
        if (text && !hook_ok) done.push_back("nftables: restored the input hook rule");
        if (text && (!have_bans || bans_rules != expected_bans))
            done.push_back(fmt::format("nftables: restored chain bans ({} rules)", order.size()));
        nft().run(cmd);
        sets_ = wanted;
        return done;
    }

    void apply(const std::vector<Change>& changes) override {
        std::map<Cidr, const Change*> last;  // last change per network wins
        for (const auto& c : changes) last[c.entry.net] = &c;
        if (last.empty()) return;

        struct Ops {
            std::vector<std::string> touch;  // made present, then deleted
            std::vector<std::string> add;    // added with comment (and counters)
        };
        std::map<std::string, Ops> ops;
        std::set<std::string> new_sets;
        for (const auto& [net, change] : last) {
            if (net.family() == Family::v6 && !ipv6_)
                throw BackendError("IPv6 is disabled in the helper config");
            const std::string set = set_name(net);
            const std::string addr = net.base.to_string();
            require_safe(addr, ".:");
            const auto known = known_.find(net);
            if (change->kind == Change::Kind::remove) {
                if (!sets_.contains(set)) continue;  // no such set, no such element
                ops[set].touch.push_back(addr);
                continue;
            }
            if (!sets_.contains(set)) new_sets.insert(set);
            const auto [comment, shortened] = element_comment(change->entry);
            require_safe(comment, " =[]-");
            if (known != known_.end()) {  // an update: delete and add, keeping the counters
                ops[set].touch.push_back(addr);
                ops[set].add.push_back(fmt::format("{} counter packets {} bytes {} comment \"{}\"",
                                                   addr, known->second.packets, known->second.bytes,
                                                   comment));
            } else {
                ops[set].add.push_back(fmt::format("{} comment \"{}\"", addr, comment));
            }
        }

        std::string cmd;
        if (!new_sets.empty()) {
            std::set<std::string> all = sets_;
            all.insert(new_sets.begin(), new_sets.end());
            cmd += fmt::format(
                "add table inet {0}\nadd chain inet {0} bans\nflush chain inet {0} bans\n", table_);
            for (const auto& name : new_sets) cmd += set_decl(name);
            for (const auto& name : ordered(all)) cmd += bans_rule(name);
        }
        for (const auto& [set, o] : ops) {
            if (!o.touch.empty()) {
                const std::string list = fmt::format("{}", fmt::join(o.touch, ", "));
                cmd += fmt::format(
                    "add element inet {0} {1} {{ {2} }}\n"
                    "delete element inet {0} {1} {{ {2} }}\n",
                    table_, set, list);
            }
            if (!o.add.empty())
                cmd += fmt::format("add element inet {} {} {{ {} }}\n", table_, set,
                                   fmt::join(o.add, ", "));
        }
        if (cmd.empty()) return;
        nft().run(cmd);

        sets_.insert(new_sets.begin(), new_sets.end());
        for (const auto& [net, change] : last) {
            if (change->kind == Change::Kind::remove) {
                known_.erase(net);
                shortened_.erase(net);
                continue;
            }
            known_.try_emplace(net);  // an update keeps its counters
            if (element_comment(change->entry).second)
                shortened_[net] = change->entry;
            else
                shortened_.erase(net);
        }
    }

    std::vector<Entry> list() override {
        const auto text =
            nft().run(fmt::format("list table inet {}", table_), NFT_CTX_OUTPUT_JSON, true);
        std::vector<Entry> out;
        std::map<Cidr, Known> known;
        if (text) {
            const json doc = parse_json(*text);
            for (const auto& item : doc["nftables"]) {
                const auto it = item.find("set");
                if (it == item.end()) continue;
                const auto kind = parse_set_name(str(*it, "name"));
                const auto elems = it->find("elem");
                if (!kind || elems == it->end() || !elems->is_array()) continue;
                for (const auto& el : *elems) read_element(*kind, el, out, known);
            }
        }
        known_ = std::move(known);
        std::erase_if(shortened_, [&](const auto& kv) { return !known_.contains(kv.first); });
        return out;
    }

  private:
    struct Known {
        std::uint64_t packets = 0;
        std::uint64_t bytes = 0;
    };

    Nft& nft() {
        if (!nft_) nft_ = std::make_unique<Nft>();
        return *nft_;
    }

    static std::vector<std::string> ordered(const std::set<std::string>& names) {
        std::vector<std::string> v(names.begin(), names.end());
        std::sort(v.begin(), v.end(), rule_order);
        return v;
    }

    std::string hook_comment() const {
        return fmt::format("smtpwall hook tcp dport {}", fmt::join(ports_, ","));
    }
    static std::string bans_comment(const std::string& set) { return "smtpwall " + set; }

    std::string hook_rule() const {
        return fmt::format(
            "add rule inet {} input tcp dport {{ {} }} tcp flags & (fin|syn|rst|ack) == syn "
            "counter jump bans comment \"{}\"\n",
            table_, fmt::join(ports_, ", "), hook_comment());
    }

    std::string set_decl(const std::string& name) const {
        const auto kind = *parse_set_name(name);
        return fmt::format("add set inet {} {} {{ type {}; counter; }}\n", table_, name,
                           kind.first == Family::v4 ? "ipv4_addr" : "ipv6_addr");
    }

    std::string bans_rule(const std::string& name) const {
        const auto [family, prefix] = *parse_set_name(name);
        const bool v4 = family == Family::v4;
        std::string match = v4 ? "ip saddr" : "ip6 saddr";
        if (prefix != (v4 ? 32 : 128)) {
            IpAddress all;
            all.family = family;
            all.bytes.fill(0xff);
            const std::string mask = all.masked(prefix).to_string();
            require_safe(mask, ".:");
            match += " & " + mask;
        }
        return fmt::format("add rule inet {} bans {} @{} drop comment \"{}\"\n", table_, match,
                           name, bans_comment(name));
    }

    void read_element(std::pair<Family, int> kind, const json& el, std::vector<Entry>& out,
                      std::map<Cidr, Known>& known) {
        const json* obj = &el;
        if (el.is_object() && el.contains("elem")) obj = &el["elem"];
        if (!obj->is_object()) return;
        const auto val = obj->find("val");
        if (val == obj->end() || !val->is_string()) return;
        const auto addr = IpAddress::parse(val->get<std::string>());
        if (!addr || addr->family != kind.first || addr->masked(kind.second) != *addr) return;
        const Cidr net{*addr, kind.second};
        const std::string comment = str(*obj, "comment");
        const auto counter = obj->find("counter");
        if (counter == obj->end() || !counter->is_object()) return;
        const auto packets = counter->find("packets"), bytes = counter->find("bytes");
        if (packets == counter->end() || bytes == counter->end() ||
            !packets->is_number_unsigned() || !bytes->is_number_unsigned())
            return;

        Entry e;
        if (const auto it = shortened_.find(net);
            it != shortened_.end() && element_comment(it->second).first == comment) {
            e = it->second;  // what we wrote, in full
        } else if (auto parsed = helperproto::parse_rule_comment(comment)) {
            e.origin = parsed->origin;
            e.expires = parsed->expires;
            e.tags = std::move(parsed->tags);
        } else {
            return;  // not ours
        }
        e.net = net;
        e.packets = packets->get<std::uint64_t>();
        e.bytes = bytes->get<std::uint64_t>();
        known[net] = Known{e.packets, e.bytes};
        out.push_back(std::move(e));
    }

    std::string table_;
    std::set<int> ports_;
    bool ipv6_;
    std::unique_ptr<Nft> nft_;
    std::set<std::string> sets_;       // our sets, each with its rule in chain bans
    std::map<Cidr, Known> known_;      // our elements at the last reading, and since
    std::map<Cidr, Entry> shortened_;  // entries whose kernel comment lacks some tags
};

}  // namespace

std::unique_ptr<Backend> make_nft_backend(const conf::HelperConfig& config) {
    return std::make_unique<NftBackend>(config);
}

}  // namespace smtpwall::firewall
