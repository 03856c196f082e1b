// libmilter callbacks. Each one is a few lines: fetch facts from the MTA, hand
// them to the connection's Session, turn its Verdict into a milter reply.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>

#include "core/session.hpp"
#include "milter/dns_service.hpp"
#include "milter/enforcement.hpp"
#include "milter/recent.hpp"
#include "milter/runtime.hpp"

namespace smtpwall {

struct MilterContext {
    Runtime* runtime = nullptr;  // the policy a new session starts with
    Enforcement* enforcement = nullptr;
    DnsService* dns = nullptr;  // null: no DNS checks
    RecentSessions* recent = nullptr;
    std::function<UnixTime()> clock;
};

// Registers the callbacks with libmilter; `context` must outlive smfi_main().
// Returns false (after logging) when libmilter refuses.
bool register_milter(MilterContext& context);

// After smfi_main() returns, callbacks of sessions still open may be running:
// waits until they have all closed (true) or `patience` ran out (false).
bool drain_sessions(std::chrono::seconds patience);
int open_sessions();

}  // namespace smtpwall
