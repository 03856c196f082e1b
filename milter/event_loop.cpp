// The milter's Asio loops: run, and keep running past an escaped exception.
#include "milter/event_loop.hpp"

#include <fmt/format.h>

#include <exception>

#include "common/log.hpp"
#include "milter/metrics.hpp"

namespace smtpwall {

void run_event_loop(boost::asio::io_context& io, std::string_view name) {
    for (;;) {
        std::string what;
        try {
            io.run();  // after an exception, run() may simply be called again
            return;
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
            what = "unknown exception";
        }
        metrics().internal_error(name);
        log_error(fmt::format("event loop handler failed, loop goes on {} {}", kv("loop", name),
                              kv("error", what)));
    }
}

}  // namespace smtpwall
