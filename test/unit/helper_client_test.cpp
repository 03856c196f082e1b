// The milter's helper client against a scripted helper on a real unix socket: a
// full-state sync of any size arrives whole (BEGIN, every ADD, END) on one connection.
#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <variant>

#include "common/unix_socket.hpp"
#include "firewall/protocol.hpp"
#include "milter/helper_client.hpp"
#include "test/unit/temp_dir.hpp"

using namespace smtpwall;

namespace {

// What the scripted helper saw on its one connection.
struct Heard {
    std::size_t requests = 0;
    std::size_t adds_in_sync = 0;
    std::size_t adds_outside = 0;
    std::string first_after_hello;
    bool sync_ended = false;
    std::vector<std::string> lines;  // after HELLO, without their ids
};

// Serves one connection like smtpwall-helper would, until SYNC END (or, with
// `hang_up_after`, until that many requests have come: a helper that dies mid-sync;
// with `past_sync_end` too, the sync does not end it); answers every request with OK.
Heard serve_one(int listen_fd, std::size_t hang_up_after = 0, bool past_sync_end = false) {
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, 30'000) != 1) throw std::runtime_error("no connection");
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) throw std::runtime_error("accept");
    std::string out = std::string(helperproto::kGreeting) + "\n", in;
    Heard heard;
    bool syncing = false;
    char buf[65536];
    while ((past_sync_end || !heard.sync_ended) &&
           (hang_up_after == 0 || heard.requests < hang_up_after)) {
        for (std::size_t sent = 0; sent < out.size();) {
            const auto n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) throw std::runtime_error("send");
            sent += static_cast<std::size_t>(n);
        }
        out.clear();
        pollfd readable{fd, POLLIN, 0};
        if (::poll(&readable, 1, 10'000) != 1) break;  // nothing more is coming
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
        std::size_t start = 0;
        for (auto end = in.find('\n'); end != std::string::npos; end = in.find('\n', start)) {
            const auto line = in.substr(start, end - start);
            start = end + 1;
            const auto parsed = helperproto::parse_request(line);
            const auto& r = std::get<helperproto::Request>(parsed);
            if (r.verb != helperproto::Verb::hello) {
                heard.lines.push_back(line.substr(line.find(' ') + 1));
                if (heard.requests++ == 0) heard.first_after_hello = heard.lines.back();
            }
            std::string text = "1";
            if (r.verb == helperproto::Verb::sync) {
                syncing = r.sync == helperproto::SyncOp::begin;
                heard.sync_ended = r.sync == helperproto::SyncOp::end;
                text = syncing ? "syncing" : "added=0 updated=0 removed=0";
            } else if (r.verb == helperproto::Verb::add) {
                ++(syncing ? heard.adds_in_sync : heard.adds_outside);
                text = syncing ? "staged" : "added";
            }
            out += helperproto::format_ok(r.id, text) + "\n";
        }
        in.erase(0, start);
    }
    for (std::size_t sent = 0; sent < out.size();) {
        const auto n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return heard;
}

// `count` host bans in 198.18.0.0/15 (benchmarking space).
std::vector<Ban> bans(std::uint32_t count) {
    std::vector<Ban> out;
    for (std::uint32_t i = 0; i < count; ++i) {
        Ban b;
        b.key = Cidr::host(IpAddress::v4(0xc6120000u + i));
        b.tags = {"t"};
        out.push_back(std::move(b));
    }
    return out;
}

// Runs a HelperClient against the helper at `path`, syncing `all` on every connection;
// the outcome of the first sync the helper completed within 60 s, if any.
std::optional<FirewallLink::SyncOutcome> sync_through(const std::string& path,
                                                      const std::vector<Ban>& all) {
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    HelperClient client(io, path, ::geteuid());
    std::promise<FirewallLink::SyncOutcome> outcome;
    std::atomic<bool> answered = false;
    client.start([&] {
        client.sync(all, [&](FirewallLink::SyncOutcome o) {
            if (!answered.exchange(true)) outcome.set_value(std::move(o));
        });
    });
    std::thread runner([&] { io.run(); });
    auto done = outcome.get_future();
    const bool ready = done.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
    client.stop();
    work.reset();
    io.stop();
    runner.join();
    if (!ready) return std::nullopt;
    return done.get();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(helper_client)

// More bans than the client queues for single requests (100000): the sync must still
// arrive whole, its BEGIN first, or its ADDs would count as new bans at the helper.
BOOST_AUTO_TEST_CASE(a_sync_larger_than_the_queue_arrives_whole) {
    test::TempDir dir;
    auto listener = listen_unix(dir.file("helper.sock"), access_mode(0600));
    auto served = std::async(std::launch::async, [&] { return serve_one(listener.fd); });
    const auto all = bans(100'050);
    const auto outcome = sync_through(dir.file("helper.sock"), all);
    ::close(listener.fd);

    BOOST_REQUIRE(outcome);
    const Heard heard = served.get();
    BOOST_TEST(heard.first_after_hello == "SYNC BEGIN");
    BOOST_TEST(heard.adds_in_sync == all.size());
    BOOST_TEST(heard.adds_outside == 0u);
    BOOST_TEST(heard.sync_ended);
    BOOST_TEST(outcome->refused.empty());
    BOOST_TEST(outcome->deferred == 0u);
}

// The helper goes away in the middle of a sync: what the client had not sent yet of
// it must not follow on the next connection as plain ADDs (new bans, against the
// cap); that connection starts a sync of its own.
BOOST_AUTO_TEST_CASE(a_sync_cut_by_the_connection_is_not_continued_on_the_next) {
    test::TempDir dir;
    auto listener = listen_unix(dir.file("helper.sock"), access_mode(0600));
    auto served = std::async(std::launch::async, [&] {
        serve_one(listener.fd, 50);
        return serve_one(listener.fd);
    });
    const auto all = bans(200'000);
    const auto outcome = sync_through(dir.file("helper.sock"), all);
    ::close(listener.fd);

    BOOST_REQUIRE(outcome);
    const Heard second = served.get();
    BOOST_TEST(second.first_after_hello == "SYNC BEGIN");
    BOOST_TEST(second.adds_outside == 0u);
    BOOST_TEST(second.adds_in_sync == all.size());
}

// With a counter observer (the history), the kernel's counters are read before
// anything leaves it: a LIST before a sync and before removals; removals queued
// together share one LIST.
BOOST_AUTO_TEST_CASE(removals_are_preceded_by_a_list_when_counters_are_observed) {
    test::TempDir dir;
    auto listener = listen_unix(dir.file("helper.sock"), access_mode(0600));
    auto served = std::async(std::launch::async, [&] { return serve_one(listener.fd, 6, true); });
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    HelperClient client(io, dir.file("helper.sock"), ::geteuid());
    struct Observer : HelperClient::CounterObserver {
        std::atomic<int> listed_count = 0, removed_count = 0;
        void listed(const HelperClient::Entries&) override { ++listed_count; }
        void removed(const Cidr&) override { ++removed_count; }
    } observer;
    client.observe_counters(&observer);
    client.start([&] {
        client.sync({}, {});
        client.unban(*Cidr::parse("192.0.2.7/32"));
        client.unban(*Cidr::parse("192.0.2.8/32"));
    });
    std::thread runner([&] { io.run(); });
    const Heard heard = served.get();
    // The answers were sent: let the client read them before it stops.
    for (int i = 0; i < 1000 && (observer.listed_count < 2 || observer.removed_count < 2); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    client.stop();
    work.reset();
    io.stop();
    runner.join();
    ::close(listener.fd);
    // A LIST before the sync, one after it (what the sync removed), which also goes
    // before the two removals queued behind it.
    const std::vector<std::string> expected = {"LIST", "SYNC BEGIN",    "SYNC END",
                                               "LIST", "DEL 192.0.2.7", "DEL 192.0.2.8"};
    BOOST_TEST(heard.lines == expected, boost::test_tools::per_element());
    BOOST_TEST(observer.listed_count == 2);
    BOOST_TEST(observer.removed_count == 2);
}

BOOST_AUTO_TEST_SUITE_END()
