// Tells systemd (Type=notify) that a daemon is ready: one datagram "READY=1" to
// $NOTIFY_SOCKET. Without that variable (not under systemd) it does nothing.
// Kept to this one message, so no libsystemd is needed.
#pragma once

namespace smtpwall {

// Returns false only when $NOTIFY_SOCKET is set and the message could not be sent.
bool notify_ready();

}  // namespace smtpwall
