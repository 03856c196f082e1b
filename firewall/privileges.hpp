// How the helper gives up uid 0 once its firewall handles are open, in two steps so
// that it can still hand its socket to the milter's user in between.
#pragma once

#include <sys/types.h>

namespace smtpwall::firewall {

// Becomes uid:gid with no supplementary groups, with the securebits locked so that uid 0
// never means anything again, and a bounding set of CAP_NET_ADMIN and CAP_NET_RAW; the
// capabilities already held stay until drop_start_up_capabilities(). Throws
// std::runtime_error: a helper that could not drop must not serve.
void become_user(uid_t uid, gid_t gid);

// Keeps only CAP_NET_ADMIN and CAP_NET_RAW (permitted and effective, nothing inheritable
// or ambient) with no_new_privs, then verifies the whole state of become_user(uid, gid)
// (setuid(0) must fail). Throws std::runtime_error.
void drop_start_up_capabilities(uid_t uid, gid_t gid);

}  // namespace smtpwall::firewall
