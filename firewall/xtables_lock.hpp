// The lock iptables itself takes (flock on /run/xtables.lock): without it a concurrent
// iptables-legacy run could commit over our table or we over its. The file is opened
// once, at start-up while the helper may still open a root-only file; every commit
// then takes and releases the lock on that descriptor.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "firewall/backend.hpp"

namespace smtpwall::firewall {

class XtablesLockFile {
  public:
    explicit XtablesLockFile(const std::string& path) : path_(path) {
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd_ < 0)
            throw BackendError(
                fmt::format("cannot open xtables lock {}: {}", path, std::strerror(errno)));
    }
    ~XtablesLockFile() { ::close(fd_); }
    XtablesLockFile(const XtablesLockFile&) = delete;
    XtablesLockFile& operator=(const XtablesLockFile&) = delete;

    int fd() const { return fd_; }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
    int fd_ = -1;
};

// Held for one commit (or one read): waits up to 3 s for another iptables to finish.
class XtablesLock {
  public:
    explicit XtablesLock(const XtablesLockFile& file) : fd_(file.fd()) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
        while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            if ((err != EWOULDBLOCK && err != EINTR) ||
                std::chrono::steady_clock::now() >= deadline)
                throw BackendError(fmt::format(
                    "cannot take xtables lock {}: {}", file.path(),
                    err == EWOULDBLOCK ? "held by another process" : std::strerror(err)));
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    ~XtablesLock() { ::flock(fd_, LOCK_UN); }
    XtablesLock(const XtablesLock&) = delete;
    XtablesLock& operator=(const XtablesLock&) = delete;

  private:
    int fd_;
};

}  // namespace smtpwall::firewall
