// The socket side of smtpwall-helper: one listening unix socket, a few authenticated
// clients, one poll() loop. Lines become requests, requests that arrive together become
// one batch for HelperState (one firewall commit), replies go back in order.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "common/unix_socket.hpp"
#include "firewall/helper_state.hpp"

namespace smtpwall::firewall {

// This host's interface addresses (getifaddrs): never to be dropped.
std::vector<IpAddress> own_addresses();

// Blocks SIGTERM, SIGINT and SIGHUP and returns a signalfd that reports them.
int make_signal_fd();

struct ServerSettings {
    std::string socket_path;
    uid_t peer_uid = 0;  // besides root, the only uid allowed to connect
    gid_t peer_gid = 0;
    std::chrono::seconds repair_interval{30};
};

class HelperServer {
  public:
    HelperServer(ServerSettings settings, HelperState& state);
    ~HelperServer();  // closes everything; removes the socket file if it is still ours
    HelperServer(const HelperServer&) = delete;
    HelperServer& operator=(const HelperServer&) = delete;

    // Creates the listening socket, owned by the peer uid, mode 0600. Throws
    // std::runtime_error (also if another helper already listens there).
    void open_socket();
    // Serves until SIGTERM or SIGINT arrives on signal_fd.
    void run(int signal_fd);

  private:
    struct Client;
    struct Item;

    void accept_clients();
    void read_client(Client& client);
    // The client's complete lines into the batch, up to its first LIST; nothing while
    // it has too many replies unread.
    void take_lines(Client& client, std::vector<Item>& batch);
    // The verb of the request it queued for HelperState or answered (HELLO), if any.
    std::optional<helperproto::Verb> take_line(Client& client, std::string_view line,
                                               std::vector<Item>& batch);
    void process(std::vector<Item>& batch);
    void flush(Client& client);
    void reap();
    int poll_timeout_ms() const;
    void run_timers();

    ServerSettings settings_;
    HelperState& state_;
    int listen_fd_ = -1;
    SocketFile socket_file_;  // removed with the server, if it is still ours
    std::vector<std::unique_ptr<Client>> clients_;
    unsigned long next_serial_ = 1;
    std::chrono::steady_clock::time_point next_repair_;
    std::chrono::steady_clock::time_point next_batch_{};  // the commit budget
};

}  // namespace smtpwall::firewall
