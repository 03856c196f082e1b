// Dropping uid 0 and every capability but CAP_NET_ADMIN and CAP_NET_RAW (privileges.hpp).
// The order matters: the securebits and the bounding set need CAP_SETPCAP, the group and
// uid changes CAP_SETGID and CAP_SETUID, handing the socket over CAP_CHOWN, so the
// capability sets are cut last.
#include "firewall/privileges.hpp"

#include <grp.h>
#include <linux/securebits.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace smtpwall::firewall {

namespace {

[[noreturn]] void fail(std::string_view what) {
    throw std::runtime_error(
        fmt::format("dropping privileges: {}: {}", what, std::strerror(errno)));
}

constexpr cap_value_t kKeep[] = {CAP_NET_ADMIN, CAP_NET_RAW};

bool kept(cap_value_t cap) {
    return cap == kKeep[0] || cap == kKeep[1];
}

}  // namespace

void become_user(uid_t uid, gid_t gid) {
    if (uid == 0)
        throw std::runtime_error("dropping privileges: the helper's user must not be root");
    if (::setgroups(0, nullptr) != 0) fail("setgroups");
    // From here on uid 0 means nothing special and a uid change leaves the capability
    // sets alone (drop_start_up_capabilities() cuts them); both locked for good.
    if (::prctl(PR_SET_SECUREBITS,
                SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                    SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED,
                0, 0, 0) != 0)
        fail("PR_SET_SECUREBITS");
    for (cap_value_t cap = 0; cap < cap_max_bits(); ++cap)
        if (!kept(cap) && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
            fail(fmt::format("drop capability {} from the bounding set", cap));
    if (::setresgid(gid, gid, gid) != 0) fail("setresgid");
    if (::setresuid(uid, uid, uid) != 0) fail("setresuid");
}

void drop_start_up_capabilities(uid_t uid, gid_t gid) {
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
        fail("clear ambient capabilities");
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("PR_SET_NO_NEW_PRIVS");

    cap_t caps = cap_init();  // all flags clear
    if (caps == nullptr) fail("cap_init");
    const bool set = cap_set_flag(caps, CAP_PERMITTED, 2, kKeep, CAP_SET) == 0 &&
                     cap_set_flag(caps, CAP_EFFECTIVE, 2, kKeep, CAP_SET) == 0 &&
                     cap_set_proc(caps) == 0;
    const int err = errno;
    cap_t now = cap_get_proc();
    const bool as_wanted = now != nullptr && cap_compare(caps, now) == 0;
    cap_free(now);
    cap_free(caps);
    errno = err;
    if (!set) fail("cap_set_proc");
    if (!as_wanted)
        throw std::runtime_error("dropping privileges: capabilities differ from what was set");

    // Trust, but verify: nothing may lead back.
    uid_t r = 0, e = 0, s = 0;
    gid_t rg = 0, eg = 0, sg = 0;
    if (::getresuid(&r, &e, &s) != 0 || ::getresgid(&rg, &eg, &sg) != 0) fail("getresuid");
    if (r != uid || e != uid || s != uid || rg != gid || eg != gid || sg != gid)
        throw std::runtime_error("dropping privileges: uid or gid did not change");
    if (::setuid(0) == 0 || ::setgid(0) == 0)
        throw std::runtime_error("dropping privileges: uid 0 is still reachable");
    if (::getgroups(0, nullptr) != 0)
        throw std::runtime_error("dropping privileges: supplementary groups remain");
    for (cap_value_t cap = 0; cap < cap_max_bits(); ++cap)
        if (!kept(cap) && ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0)
            throw std::runtime_error("dropping privileges: the bounding set is not empty");
    const int bits = ::prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
    if (bits < 0 || (bits & SECBIT_NOROOT_LOCKED) == 0 ||
        (bits & SECBIT_NO_SETUID_FIXUP_LOCKED) == 0)
        throw std::runtime_error("dropping privileges: securebits not locked");
}

}  // namespace smtpwall::firewall
