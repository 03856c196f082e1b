// The one sd_notify datagram, "READY=1", without libsystemd.
#include "common/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace smtpwall {

bool notify_ready() {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (path == nullptr || *path == '\0') return true;
    const std::string_view where(path);
    sockaddr_un addr{};
    if (where.size() >= sizeof addr.sun_path || (where[0] != '/' && where[0] != '@')) return false;
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, where.data(), where.size());
    if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // an abstract socket
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    constexpr std::string_view kReady = "READY=1";
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + where.size());
    const bool sent = ::sendto(fd, kReady.data(), kReady.size(), MSG_NOSIGNAL,
                               reinterpret_cast<const sockaddr*>(&addr),
                               len) == static_cast<ssize_t>(kReady.size());
    ::close(fd);
    return sent;
}

}  // namespace smtpwall
