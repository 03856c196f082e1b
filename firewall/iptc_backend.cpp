// The iptables backend: one chain in the legacy x_tables "filter" table per address
// family, driven through libiptc (libip4tc / libip6tc). Layout it maintains:
//
//   INPUT:    -p tcp --dport P --tcp-flags FIN,SYN,RST,ACK SYN -j <chain>   (one per port)
//   <chain>:  -s NET -m comment --comment "smtpwall dyn exp=... [tag]" -j DROP
//
// The hook matches only new connections (bare SYN): a ban stops the next connection,
// while the SMTP session that just received its 5xx ends normally instead of leaving an
// smtpd process waiting on a half-dead socket.
//
// Only rules of exactly that entry shape with a comment we can parse are ours; anything
// else an operator puts in the chain is neither reported nor touched. libiptc commits
// replace the whole table, so every operation takes the xtables lock (as iptables does)
// and each batch is one commit per family.
#include <fmt/format.h>

#include <map>
#include <set>

#include "conf/helper_config.hpp"
#include "firewall/backend.hpp"
#include "firewall/iptc_common.hpp"

namespace smtpwall::firewall {

namespace {

using helperproto::Entry;
using namespace iptc;

// Above this many edits (updates, deletions) in one commit, the chain is rebuilt.
constexpr std::size_t kRebuildAbove = 256;

// --- the backend ---------------------------------------------------------------------

class IptcBackend final : public Backend {
  public:
    explicit IptcBackend(const conf::HelperConfig& config)
        : chain_(config.chain),
          lock_(config.lock_path),
          ports_(config.ports.begin(), config.ports.end()),
          ipv6_(config.ipv6) {}

    std::vector<std::string> ensure_base() override {
        std::vector<std::string> done;
        XtablesLock lock(lock_);
        ensure_base_family<V4>(done);
        if (ipv6_) ensure_base_family<V6>(done);
        return done;
    }

    void apply(const std::vector<Change>& changes) override {
        // Last change per network wins, as if applied in order.
        std::map<Cidr, const Change*> v4, v6;
        for (const auto& c : changes)
            (c.entry.net.family() == Family::v4 ? v4 : v6)[c.entry.net] = &c;
        if (!v6.empty() && !ipv6_) throw BackendError("IPv6 is disabled in the helper config");
        if (v4.empty() && v6.empty()) return;
        XtablesLock lock(lock_);
        if (!v4.empty()) apply_family<V4>(v4);
        if (!v6.empty()) apply_family<V6>(v6);
    }

    std::vector<Entry> list() override {
        std::vector<Entry> out;
        XtablesLock lock(lock_);
        list_family<V4>(out);
        if (ipv6_) list_family<V6>(out);
        return out;
    }

  private:
    template <typename Fam>
    void ensure_base_family(std::vector<std::string>& done) {
        Table<Fam> table;
        if (ensure_chain_and_hooks<Fam>(table, chain_, ports_, done)) table.commit();
    }

    template <typename Fam>
    void apply_family(const std::map<Cidr, const Change*>& changes) {
        Table<Fam> table;
        bool changed = false;
        if (!Fam::is_chain(chain_.text, table.get())) {
            // Someone removed the chain; the hooks come back with the next repair.
            if (!Fam::create_chain(chain_.text, table.get()))
                Table<Fam>::fail(fmt::format("create chain {}", chain_.text));
            changed = true;
        }

        struct Present {
            std::vector<unsigned> positions;  // rule numbers from 0
            xt_counters counters{};
        };
        std::map<Cidr, Present> present;
        unsigned position = 0;
        for (auto* r = Fam::first(chain_.text, table.get()); r != nullptr;
             r = Fam::next(r, table.get()), ++position) {
            auto entry = read_entry<Fam>(*r, table.get());
            if (!entry || !changes.contains(entry->net)) continue;
            auto& p = present[entry->net];
            if (p.positions.empty()) p.counters = r->counters;
            p.positions.push_back(position);
        }

        // libiptc finds rule n by walking the chain, so editing many rules in place is
        // quadratic (minutes for 100k). Past a few hundred edits, rebuild the chain.
        std::size_t edits = 0;
        for (const auto& [net, p] : present) edits += p.positions.size();
        if (edits > kRebuildAbove && rebuild<Fam>(table, changes)) {
            table.commit();
            return;
        }

        // Replacements keep rule numbers stable, deletions go from the end, appends last.
        std::vector<unsigned> doomed;
        std::vector<const Entry*> appended;
        for (const auto& [net, change] : changes) {
            const auto it = present.find(net);
            if (change->kind == Change::Kind::remove) {
                if (it != present.end())
                    doomed.insert(doomed.end(), it->second.positions.begin(),
                                  it->second.positions.end());
                continue;
            }
            if (it == present.end()) {
                appended.push_back(&change->entry);
                continue;
            }
            // Keep the counters: they are what the operator's weekly report is made of.
            auto rule = drop_rule<Fam>(change->entry, it->second.counters);
            if (!Fam::replace(chain_.text, rule.rule(), it->second.positions.front(), table.get()))
                Table<Fam>::fail(fmt::format("replace rule for {}", net.to_string()));
            doomed.insert(doomed.end(), it->second.positions.begin() + 1,
                          it->second.positions.end());  // duplicates
            changed = true;
        }
        std::sort(doomed.rbegin(), doomed.rend());
        for (unsigned n : doomed) {
            if (!Fam::remove(chain_.text, n, table.get()))
                Table<Fam>::fail(fmt::format("delete rule {}", n + 1));
            changed = true;
        }
        for (const Entry* entry : appended) {
            auto rule = drop_rule<Fam>(*entry, xt_counters{});
            if (!Fam::append(chain_.text, rule.rule(), table.get()))
                Table<Fam>::fail(fmt::format("append rule for {}", entry->net.to_string()));
            changed = true;
        }
        if (changed) table.commit();
    }

    // The whole batch as a new chain: flush it, then append every entry that stays (in
    // its place, updated where the batch says so, counters kept) and the new ones. Only
    // when the chain holds nothing but our entries: false, with nothing changed, if it
    // holds any other rule (that one could not be copied back faithfully).
    template <typename Fam>
    bool rebuild(Table<Fam>& table, const std::map<Cidr, const Change*>& changes) {
        std::vector<Entry> chain;
        std::set<Cidr> seen;
        for (auto* r = Fam::first(chain_.text, table.get()); r != nullptr;
             r = Fam::next(r, table.get())) {
            auto entry = read_entry<Fam>(*r, table.get());
            if (!entry) return false;
            if (!seen.insert(entry->net).second) continue;  // a duplicate goes
            const auto it = changes.find(entry->net);
            if (it == changes.end()) {
                chain.push_back(std::move(*entry));
            } else if (it->second->kind == Change::Kind::add) {
                Entry updated = it->second->entry;
                updated.packets = entry->packets;
                updated.bytes = entry->bytes;
                chain.push_back(std::move(updated));
            }
        }
        for (const auto& [net, change] : changes)
            if (change->kind == Change::Kind::add && !seen.contains(net)) {
                chain.push_back(change->entry);
                chain.back().packets = chain.back().bytes = 0;
            }
        if (!Fam::flush(chain_.text, table.get())) Table<Fam>::fail("flush chain");
        for (const auto& e : chain) {
            auto rule = drop_rule<Fam>(e, xt_counters{e.packets, e.bytes});
            if (!Fam::append(chain_.text, rule.rule(), table.get()))
                Table<Fam>::fail(fmt::format("append rule for {}", e.net.to_string()));
        }
        return true;
    }

    template <typename Fam>
    void list_family(std::vector<Entry>& out) {
        Table<Fam> table;
        if (!Fam::is_chain(chain_.text, table.get())) return;  // repaired by ensure_base
        for (auto* r = Fam::first(chain_.text, table.get()); r != nullptr;
             r = Fam::next(r, table.get()))
            if (auto entry = read_entry<Fam>(*r, table.get())) out.push_back(std::move(*entry));
    }

    ChainLabel chain_;
    XtablesLockFile lock_;
    std::set<int> ports_;
    bool ipv6_;
};

}  // namespace

std::unique_ptr<Backend> make_iptc_backend(const conf::HelperConfig& config) {
    return std::make_unique<IptcBackend>(config);
}

}  // namespace smtpwall::firewall
