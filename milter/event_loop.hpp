// Runs an Asio io_context until it is stopped, surviving exceptions that escape a
// handler: one broken handler must not stop the DNS or control thread for good (every
// session would then wait for its deadline). Each is logged and counted.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs it

#include <boost/asio/io_context.hpp>

#include <string_view>

namespace smtpwall {

// Returns when `io` runs out of work or is stopped. `name` names the loop in the log
// and in smtpwall_internal_errors_total{where="<name>"}.
void run_event_loop(boost::asio::io_context& io, std::string_view name);

}  // namespace smtpwall
