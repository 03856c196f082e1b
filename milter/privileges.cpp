// Dropping root for good at start-up.
#include "milter/privileges.hpp"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace smtpwall {

void drop_root(const std::string& user) {
    if (::geteuid() != 0) return;
    const passwd* pw = ::getpwnam(user.c_str());
    if (pw == nullptr) throw std::runtime_error(fmt::format("user \"{}\" does not exist", user));
    if (pw->pw_uid == 0)
        throw std::runtime_error(fmt::format("user \"{}\" is root; refusing to run as root", user));
    const uid_t uid = pw->pw_uid;
    const gid_t gid = pw->pw_gid;
    // The user's own groups stay (e.g. smtpwall-admin, to give the control socket
    // its group); root's do not.
    if (::initgroups(user.c_str(), gid) != 0 || ::setresgid(gid, gid, gid) != 0 ||
        ::setresuid(uid, uid, uid) != 0)
        throw std::runtime_error(
            fmt::format("cannot become user {}: {}", user, std::strerror(errno)));
    if (::setuid(0) == 0 || ::geteuid() == 0)
        throw std::runtime_error("root privileges could be regained after dropping them");
}

}  // namespace smtpwall
