// The one way smtpwall serves a unix socket (the milter's MTA socket, its control
// socket, the helper's socket):
//   - the path is claimed safely: nothing there is fine; a socket nobody answers on
//     is stale and removed; a socket a live process serves, or anything that is not
//     a socket, is left alone and is an error (never steal, never unlink a file);
//   - the socket is created with exactly its final mode (bind under a umask), so it
//     is never reachable wider than configured, not even briefly, and no chmod by
//     path follows;
//   - owner and group are set with lchown, which never follows a symlink;
//   - at the end only the socket file we made is removed (same device and inode),
//     never one that another process has put there meanwhile.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>

namespace smtpwall {

struct SocketAccess {
    unsigned mode = 0600;        // permission bits of the socket file; no execute bits
    std::optional<uid_t> owner;  // unset: whoever creates it
    std::optional<gid_t> group;  // unset: the creator's group
};
inline SocketAccess access_mode(unsigned mode) {
    SocketAccess access;
    access.mode = mode;
    return access;
}

// `mode`, and the group called `group_name` ("" keeps the creator's). Throws
// std::runtime_error for a group this host does not know.
SocketAccess socket_access(unsigned mode, const std::string& group_name);

// The socket file one of our servers created. Moving it moves the duty to remove it.
class SocketFile {
  public:
    SocketFile() = default;
    SocketFile(SocketFile&& other) noexcept;
    SocketFile& operator=(SocketFile&& other) noexcept;
    ~SocketFile() { remove(); }

    const std::string& path() const { return path_; }
    // Unlinks the path if it is still the file we made; afterwards a no-op.
    void remove();

  private:
    friend SocketFile bind_unix_socket(const std::string&, const SocketAccess&,
                                       const std::function<void()>&);
    std::string path_;
    dev_t dev_ = 0;
    ino_t ino_ = 0;
};

// Claims `path` (see above), then calls `bind`, which must create the socket file at
// `path` (for a library that binds its own socket, such as libmilter), under a umask
// that yields `access.mode`, then sets owner and group. Throws std::runtime_error with
// the path and the reason.
SocketFile bind_unix_socket(const std::string& path, const SocketAccess& access,
                            const std::function<void()>& bind);

// A listening stream socket (non-blocking, close-on-exec) made that way.
struct UnixListener {
    int fd = -1;  // owned by the caller (an Asio acceptor may take it over)
    SocketFile file;
};
UnixListener listen_unix(const std::string& path, const SocketAccess& access, int backlog = 16);

// Who is at the other end of a connected unix socket (SO_PEERCRED: recorded by the
// kernel at connect() or listen(), so the peer cannot change it later). Servers check
// their clients with it and clients their server: a socket name proves nothing.
struct PeerCredentials {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    // Every check here trusts one configured user and root, never anyone else.
    bool is_root_or(uid_t user) const { return uid == 0 || uid == user; }
};
std::optional<PeerCredentials> peer_credentials(int fd);

}  // namespace smtpwall
