#include "test/bench/ban_watch_ipset.hpp"

#include <libipset/data.h>
#include <libipset/session.h>
#include <libipset/types.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace bench {

namespace {

std::string g_out;

int print(struct ipset_session*, void*, const char* format, ...)
    __attribute__((format(printf, 3, 4)));

int print(struct ipset_session*, void*, const char* format, ...) {
    va_list args;
    va_start(args, format);
    va_list again;
    va_copy(again, args);
    const int n = std::vsnprintf(nullptr, 0, format, args);
    va_end(args);
    if (n > 0) {
        const std::size_t at = g_out.size();
        g_out.resize(at + static_cast<std::size_t>(n) + 1);
        std::vsnprintf(g_out.data() + at, static_cast<std::size_t>(n) + 1, format, again);
        g_out.resize(at + static_cast<std::size_t>(n));
    }
    va_end(again);
    return 0;
}

struct ipset_session* session() {
    static struct ipset_session* s = [] {
        ipset_load_types();
        auto* created = ipset_session_init(&print, nullptr);
        if (created == nullptr) {
            std::fprintf(stderr, "ban_watch: cannot create an ipset session\n");
            std::exit(1);
        }
        return created;
    }();
    return s;
}

}  // namespace

std::optional<std::string> ipset_save(const std::string& name) {
    g_out.clear();
    struct ipset_session* s = session();
    ipset_session_output(s, IPSET_LIST_SAVE);
    if (ipset_session_data_set(s, IPSET_SETNAME, name.c_str()) != 0 ||
        ipset_cmd(s, IPSET_CMD_LIST, 0) != 0) {
        ipset_session_report_reset(s);
        return std::nullopt;
    }
    return g_out;
}

}  // namespace bench
