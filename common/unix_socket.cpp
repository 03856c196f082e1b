// Claiming, creating and removing unix socket files safely (see unix_socket.hpp).
#include "common/unix_socket.hpp"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace smtpwall {

namespace {

[[noreturn]] void fail(const std::string& path, std::string_view what) {
    throw std::runtime_error(fmt::format("socket {}: {}: {}", path, what, std::strerror(errno)));
}

sockaddr_un address_of(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        throw std::runtime_error(fmt::format("socket {}: path empty or too long", path));
    std::memcpy(addr.sun_path, path.data(), path.size());
    return addr;
}

// Nothing there, or a stale socket (removed): the path is ours to bind.
void claim(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return;
        fail(path, "lstat");
    }
    if (!S_ISSOCK(st.st_mode))
        throw std::runtime_error(
            fmt::format("socket {}: exists and is not a socket; not touching it", path));
    const auto addr = address_of(path);
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) fail(path, "socket");
    const bool alive = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    ::close(probe);
    if (alive)
        throw std::runtime_error(
            fmt::format("socket {}: another process is serving it; not taking it over", path));
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail(path, "removing the stale socket");
}

}  // namespace

SocketAccess socket_access(unsigned mode, const std::string& group_name) {
    SocketAccess access = access_mode(mode);
    if (group_name.empty()) return access;
    const group* gr = ::getgrnam(group_name.c_str());
    if (gr == nullptr)
        throw std::runtime_error(fmt::format("group \"{}\" does not exist", group_name));
    access.group = gr->gr_gid;
    return access;
}

SocketFile::SocketFile(SocketFile&& other) noexcept
    : path_(std::exchange(other.path_, {})), dev_(other.dev_), ino_(other.ino_) {}

SocketFile& SocketFile::operator=(SocketFile&& other) noexcept {
    if (this != &other) {
        remove();
        path_ = std::exchange(other.path_, {});
        dev_ = other.dev_;
        ino_ = other.ino_;
    }
    return *this;
}

void SocketFile::remove() {
    if (path_.empty()) return;
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == dev_ &&
        st.st_ino == ino_)
        ::unlink(path_.c_str());
    path_.clear();
}

SocketFile bind_unix_socket(const std::string& path, const SocketAccess& access,
                            const std::function<void()>& bind) {
    if ((access.mode & ~0777u) != 0 || (access.mode & 0111u) != 0)
        throw std::runtime_error(
            fmt::format("socket {}: mode {:04o} is not allowed", path, access.mode));
    claim(path);
    const mode_t old_mask = ::umask(static_cast<mode_t>(0777u & ~access.mode));
    try {
        bind();
    } catch (...) {
        ::umask(old_mask);
        throw;
    }
    ::umask(old_mask);

    SocketFile file;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) fail(path, "lstat after bind");
    if (!S_ISSOCK(st.st_mode))
        throw std::runtime_error(fmt::format("socket {}: replaced right after bind", path));
    file.path_ = path;
    file.dev_ = st.st_dev;
    file.ino_ = st.st_ino;
    if (access.owner || access.group) {
        const uid_t uid = access.owner.value_or(static_cast<uid_t>(-1));
        const gid_t gid = access.group.value_or(static_cast<gid_t>(-1));
        if (::lchown(path.c_str(), uid, gid) != 0) fail(path, "lchown");
    }
    return file;
}

UnixListener listen_unix(const std::string& path, const SocketAccess& access, int backlog) {
    const auto addr = address_of(path);
    UnixListener listener;
    listener.fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listener.fd < 0) fail(path, "socket");
    try {
        listener.file = bind_unix_socket(path, access, [&] {
            if (::bind(listener.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
                fail(path, "bind");
        });
        if (::listen(listener.fd, backlog) != 0) fail(path, "listen");
    } catch (...) {
        ::close(listener.fd);
        throw;
    }
    return listener;
}

std::optional<PeerCredentials> peer_credentials(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred)
        return std::nullopt;
    return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

}  // namespace smtpwall
