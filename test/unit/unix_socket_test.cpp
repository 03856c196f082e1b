// The one way of serving a unix socket (common/unix_socket.hpp), on real files in a
// private temporary directory.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "common/unix_socket.hpp"
#include "test/unit/temp_dir.hpp"

using namespace smtpwall;
namespace fs = std::filesystem;

namespace {

using test::TempDir;

mode_t mode_of(const fs::path& p) {
    struct stat st {};
    BOOST_REQUIRE(::lstat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

bool connects(const fs::path& p) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, p.c_str(), sizeof addr.sun_path - 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

bool throws_with(const std::function<void()>& f, std::string_view text) {
    try {
        f();
    } catch (const std::runtime_error& e) {
        return std::string_view(e.what()).find(text) != std::string_view::npos;
    }
    return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(unix_socket)

BOOST_AUTO_TEST_CASE(created_with_exactly_its_mode_and_served) {
    TempDir dir;
    const auto path = dir.path / "a.sock";
    for (unsigned mode : {0600u, 0660u, 0666u}) {
        auto listener = listen_unix(path, access_mode(mode));
        BOOST_TEST(mode_of(path) == mode);
        BOOST_TEST(connects(path));
        ::close(listener.fd);
        listener.file.remove();
        BOOST_TEST(!fs::exists(fs::symlink_status(path)));
    }
    BOOST_TEST(throws_with([&] { listen_unix(path, access_mode(0755)); }, "not allowed"));
}

BOOST_AUTO_TEST_CASE(a_live_socket_is_never_taken_over) {
    TempDir dir;
    const auto path = dir.path / "b.sock";
    auto first = listen_unix(path, SocketAccess{});
    BOOST_TEST(
        throws_with([&] { listen_unix(path, SocketAccess{}); }, "another process is serving it"));
    BOOST_TEST(connects(path));  // still the first one's
    ::close(first.fd);
}

BOOST_AUTO_TEST_CASE(a_stale_socket_is_replaced) {
    TempDir dir;
    const auto path = dir.path / "c.sock";
    auto old = listen_unix(path, SocketAccess{});
    ::close(old.fd);  // its process died: the file stays, nobody answers
    BOOST_TEST(!connects(path));
    auto fresh = listen_unix(path, SocketAccess{});
    BOOST_TEST(connects(path));
    ::close(fresh.fd);
}

BOOST_AUTO_TEST_CASE(what_is_not_a_socket_is_left_alone) {
    TempDir dir;
    const auto file = dir.path / "file";
    std::ofstream(file) << "keep me";
    BOOST_TEST(throws_with([&] { listen_unix(file, SocketAccess{}); }, "is not a socket"));
    BOOST_TEST(fs::file_size(file) == 7u);
    const auto link = dir.path / "link";
    fs::create_symlink(file, link);
    BOOST_TEST(throws_with([&] { listen_unix(link, SocketAccess{}); }, "is not a socket"));
    BOOST_TEST(fs::is_symlink(link));
}

BOOST_AUTO_TEST_CASE(only_our_own_file_is_removed) {
    TempDir dir;
    const auto path = dir.path / "d.sock";
    auto ours = listen_unix(path, SocketAccess{});
    ::close(ours.fd);
    // Someone else's socket took the name meanwhile (ours moved away, so that its inode
    // cannot be reused for theirs).
    fs::rename(path, dir.path / "moved.sock");
    auto theirs = listen_unix(path, SocketAccess{});
    ours.file.remove();
    BOOST_TEST(connects(path));
    ::close(theirs.fd);
}

BOOST_AUTO_TEST_CASE(unknown_group_is_an_error) {
    BOOST_TEST(
        throws_with([] { socket_access(0660, "no-such-group-smtpwall"); }, "does not exist"));
    BOOST_TEST(!socket_access(0660, "").group.has_value());
}

BOOST_AUTO_TEST_SUITE_END()
