// Kernel watcher of test/bench/ban_latency_bench.sh: polls the firewall state the helper
// writes and prints each IPv4 network the moment it first shows up there.
//
//   ban_watch iptables CHAIN [INTERVAL_US]   the legacy x_tables filter chain (libiptc)
//   ban_watch ipset SET [INTERVAL_US]        an ipset (libipset, save format)
//   ban_watch nftables TABLE [INTERVAL_US]   an inet table (libnftables, all its sets)
//
// Run it in the network namespace of the firewall. Prints "ready" after the first read
// (entries present then are not reported), then "NET NANOSECONDS" per new entry, the
// CLOCK_MONOTONIC time right after the read that first showed it: the entry was in the
// kernel by then, at most one poll period (read time + INTERVAL_US, default 500) earlier.
// On SIGTERM or SIGINT it prints its poll statistics to stderr and exits.
#include <arpa/inet.h>
#include <libiptc/libiptc.h>
#include <nftables/libnftables.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "test/bench/ban_watch_ipset.hpp"

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) {
    g_stop = 1;
}

std::int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "ban_watch: %s\n", what.c_str());
    std::exit(1);
}

// Every IPv4 network ("a.b.c.d" or "a.b.c.d/len", /32 implied) in a listing.
void networks_in(std::string_view text, std::set<std::string>& out) {
    auto digit = [&](std::size_t i) { return i < text.size() && text[i] >= '0' && text[i] <= '9'; };
    std::size_t i = 0;
    while (i < text.size()) {
        if (!digit(i) || (i > 0 && (digit(i - 1) || text[i - 1] == '.'))) {
            ++i;
            continue;
        }
        const std::size_t start = i;
        int dots = 0;
        while (digit(i) || (i < text.size() && text[i] == '.' && digit(i + 1) && ++dots)) ++i;
        std::string net(text.substr(start, i - start));
        if (dots != 3) continue;
        in_addr a{};
        if (inet_pton(AF_INET, net.c_str(), &a) != 1) continue;
        std::size_t len_end = i + 1;
        while (digit(len_end)) ++len_end;
        if (i < text.size() && text[i] == '/' && len_end > i + 1) {
            net += text.substr(i, len_end - i);
            i = len_end;
        } else {
            net += "/32";
        }
        out.insert(net);
    }
}

// --- the three readers: one call = one snapshot, nothing if it could not be read ----

std::optional<std::set<std::string>> read_iptables(const std::string& chain) {
    xtc_handle* h = iptc_init("filter");
    if (h == nullptr) return std::nullopt;  // EAGAIN: the table changed during the read
    std::set<std::string> out;
    if (iptc_is_chain(chain.c_str(), h)) {
        for (const ipt_entry* e = iptc_first_rule(chain.c_str(), h); e != nullptr;
             e = iptc_next_rule(e, h)) {
            char addr[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &e->ip.src, addr, sizeof addr);
            const int len = __builtin_popcount(e->ip.smsk.s_addr);
            if (len > 0) out.insert(std::string(addr) + "/" + std::to_string(len));
        }
    }
    iptc_free(h);
    return out;
}

// The set in `ipset save` format (ban_watch_ipset.cpp: libipset's headers and
// libiptc's cannot share a translation unit); only the member lines hold addresses.
std::optional<std::set<std::string>> read_ipset(const std::string& set) {
    const auto text = bench::ipset_save(set);
    if (!text) return std::nullopt;
    std::set<std::string> nets;
    std::size_t at = 0;
    while (at < text->size()) {
        std::size_t end = text->find('\n', at);
        if (end == std::string::npos) end = text->size();
        const std::string_view line = std::string_view(*text).substr(at, end - at);
        if (line.starts_with("add ")) {  // "add SET NET [options]"
            const auto start = line.find(' ', 4);
            if (start != std::string_view::npos)
                networks_in(line.substr(start + 1, line.find(' ', start + 1) - start - 1), nets);
        }
        at = end + 1;
    }
    return nets;
}

class NftReader {
  public:
    explicit NftReader(const std::string& table) : command_("list table inet " + table) {
        ctx_ = nft_ctx_new(NFT_CTX_DEFAULT);
        if (ctx_ == nullptr) die("cannot create an nftables context");
        nft_ctx_output_set_flags(ctx_, NFT_CTX_OUTPUT_NUMERIC_ALL | NFT_CTX_OUTPUT_STATELESS);
        nft_ctx_buffer_output(ctx_);
        nft_ctx_buffer_error(ctx_);
    }
    ~NftReader() { nft_ctx_free(ctx_); }
    NftReader(const NftReader&) = delete;
    NftReader& operator=(const NftReader&) = delete;

    std::optional<std::set<std::string>> read() {
        if (nft_run_cmd_from_buffer(ctx_, command_.c_str()) != 0) return std::nullopt;
        // Only what is inside "elements = { ... }": rules and set declarations hold
        // no addresses, but keep to the elements anyway.
        const std::string text = nft_ctx_get_output_buffer(ctx_);
        std::set<std::string> nets;
        for (std::size_t at = text.find("elements = {"); at != std::string::npos;
             at = text.find("elements = {", at + 1)) {
            const auto end = text.find('}', at);
            networks_in(text.substr(at, end - at), nets);
        }
        return nets;
    }

  private:
    std::string command_;
    nft_ctx* ctx_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3 || argc > 4) {
        std::fprintf(stderr, "usage: ban_watch iptables|ipset|nftables NAME [INTERVAL_US]\n");
        return 2;
    }
    const std::string backend = argv[1], name = argv[2];
    const long interval_us = argc == 4 ? std::atol(argv[3]) : 500;
    std::optional<NftReader> nft;
    if (backend == "nftables") {
        nft.emplace(name);
    } else if (backend != "iptables" && backend != "ipset") {
        die("unknown backend " + backend);
    }
    auto read = [&]() -> std::optional<std::set<std::string>> {
        if (backend == "ipset") return read_ipset(name);
        if (nft) return nft->read();
        return read_iptables(name);
    };

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);

    std::set<std::string> seen;
    bool ready = false;
    std::uint64_t polls = 0, failed = 0;
    std::int64_t read_total = 0, read_max = 0;
    const std::int64_t started = now_ns();
    const timespec pause{0, interval_us * 1000};
    while (!g_stop) {
        const std::int64_t before = now_ns();
        const auto nets = read();
        const std::int64_t after = now_ns();
        ++polls;
        read_total += after - before;
        read_max = std::max(read_max, after - before);
        if (!nets) {
            ++failed;
        } else {
            for (const auto& net : *nets)
                if (seen.insert(net).second && ready)
                    std::printf("%s %lld\n", net.c_str(), static_cast<long long>(after));
            if (!ready) std::printf("ready\n");
            ready = true;
            std::fflush(stdout);
        }
        nanosleep(&pause, nullptr);
    }
    const double elapsed_us = static_cast<double>(now_ns() - started) / 1e3;
    std::fprintf(stderr,
                 "ban_watch %s: %llu polls (%llu failed), read %.0f us mean %.0f us max, "
                 "period %.0f us mean\n",
                 backend.c_str(), static_cast<unsigned long long>(polls),
                 static_cast<unsigned long long>(failed),
                 polls ? static_cast<double>(read_total) / 1e3 / static_cast<double>(polls) : 0.0,
                 static_cast<double>(read_max) / 1e3,
                 polls ? elapsed_us / static_cast<double>(polls) : 0.0);
    return 0;
}
