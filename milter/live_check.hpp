// `check` on the control socket: classify a client the way a real session would,
// with live DNS, and describe what was found. Runs the same Session code.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/control_protocol.hpp"
#include "core/session.hpp"
#include "milter/dns_service.hpp"
#include "milter/runtime.hpp"

namespace smtpwall {

class LiveCheck {
  public:
    LiveCheck(const Runtime& runtime, DnsService* dns) : runtime_(runtime), dns_(dns) {}
    // `done` gets the framed reply; it may run on a DNS thread.
    void run(const control::Request& request, std::function<void(std::string)> done) const;

  private:
    const Runtime& runtime_;
    DnsService* dns_;
};

}  // namespace smtpwall
