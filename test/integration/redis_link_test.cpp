// milter/redis_link against a real redis-server (started by redis_test.sh): pipelined
// commands answered in order over a unix socket and TCP, ACL authentication, a
// command that outlives its deadline (DEBUG SLEEP) answered with a local error and
// the link back by itself, commands while down answered at once, one-shot commands.
#include <boost/test/unit_test.hpp>

#include <cstdlib>

#include "milter/redis_link.hpp"

using namespace smtpwall;
namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr)
        throw std::runtime_error(std::string(name) + " is not set: run redis_test.sh");
    return v;
}

RedisEndpoint unix_endpoint() {
    return *RedisEndpoint::parse("unix:" + env("SMTPWALL_REDIS_SOCK"), 6379);
}

RedisEndpoint tcp_endpoint() {
    return *RedisEndpoint::parse("127.0.0.1:" + env("SMTPWALL_REDIS_PORT"), 6379);
}

RedisLink::Locate at(RedisEndpoint where) {
    return [where]() -> asio::awaitable<std::optional<RedisEndpoint>> { co_return where; };
}

// Runs the loop until `done` or 5 s.
template <typename Pred>
bool run_until(asio::io_context& io, Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        io.restart();
        io.run_for(milliseconds(10));
    }
    return done();
}

RedisLink::Options options(std::string user = "", std::string password = "") {
    RedisLink::Options o;
    o.name = "test";
    o.user = std::move(user);
    o.password = std::move(password);
    o.connect_timeout = milliseconds(500);
    o.command_timeout = milliseconds(300);
    return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(redis_link)

BOOST_AUTO_TEST_CASE(pipelined_commands_are_answered_in_order) {
    for (const auto& where : {unix_endpoint(), tcp_endpoint()}) {
        asio::io_context io;
        RedisLink link(io, options());
        int readies = 0;
        link.start(at(where), [&] { ++readies; }, {});
        BOOST_REQUIRE(run_until(io, [&] { return link.ready(); }));
        std::vector<long long> got;
        link.command({"DEL", "t:counter"}, {});
        for (int i = 0; i < 1000; ++i)
            link.command({"INCR", "t:counter"}, [&](RedisReply r) { got.push_back(r.integer); });
        BOOST_REQUIRE(run_until(io, [&] { return got.size() == 1000; }));
        for (int i = 0; i < 1000; ++i) BOOST_TEST(got[i] == i + 1);
        RedisReply big;
        const std::string value(100000, 'x');  // more than one read
        link.command({"SET", "t:big", value}, {});
        link.command({"GET", "t:big"}, [&](RedisReply r) { big = std::move(r); });
        BOOST_REQUIRE(run_until(io, [&] { return !big.text.empty(); }));
        BOOST_TEST((big.type == RedisReply::Type::string));
        BOOST_TEST(big.text == value);
        RedisReply arr;
        link.command({"HSET", "t:h", "a", "1", "b", "2"}, {});
        link.command({"HGETALL", "t:h"}, [&](RedisReply r) { arr = std::move(r); });
        BOOST_REQUIRE(run_until(io, [&] { return arr.is_array(); }));
        BOOST_TEST(arr.elements.size() == 4u);
        RedisReply error;
        link.command({"NOSUCHCOMMAND"}, [&](RedisReply r) { error = std::move(r); });
        BOOST_REQUIRE(run_until(io, [&] { return error.is_error(); }));
        BOOST_TEST(!error.is_local_error());
        BOOST_TEST(readies == 1);
        link.stop();
        run_until(io, [&] { return !link.ready(); });
    }
}

BOOST_AUTO_TEST_CASE(acl_user_and_password) {
    const auto password = env("SMTPWALL_REDIS_PASSWORD");
    {
        asio::io_context io;
        RedisLink link(io, options("smtpwall", password));
        link.start(at(unix_endpoint()), {}, {});
        BOOST_REQUIRE(run_until(io, [&] { return link.ready(); }));
        RedisReply r;
        link.command({"SET", "sw:acl", "1"}, [&](RedisReply x) { r = std::move(x); });
        BOOST_REQUIRE(run_until(io, [&] { return r.type != RedisReply::Type::nil; }));
        BOOST_TEST(r.text == "OK");
        // The ACL keeps the user to its own keys.
        RedisReply denied;
        link.command({"SET", "other", "1"}, [&](RedisReply x) { denied = std::move(x); });
        BOOST_REQUIRE(run_until(io, [&] { return denied.type != RedisReply::Type::nil; }));
        BOOST_TEST(denied.is_error());
        link.stop();
        run_until(io, [&] { return !link.ready(); });
    }
    asio::io_context io;
    RedisLink wrong(io, options("smtpwall", "not-the-password"));
    wrong.start(at(unix_endpoint()), {}, {});
    run_until(io, [] { return false; });  // 5 s of attempts
    BOOST_TEST(!wrong.ready());
    wrong.stop();
    io.restart();
    io.run_for(milliseconds(50));
}

BOOST_AUTO_TEST_CASE(a_late_answer_is_a_local_error_and_the_link_comes_back) {
    asio::io_context io;
    RedisLink link(io, options());
    int readies = 0, losses = 0;
    link.start(
        at(unix_endpoint()), [&] { ++readies; }, [&] { ++losses; });
    BOOST_REQUIRE(run_until(io, [&] { return link.ready(); }));
    RedisReply slept, queued;
    link.command({"DEBUG", "SLEEP", "1"}, [&](RedisReply r) { slept = std::move(r); });
    link.command({"PING"}, [&](RedisReply r) { queued = std::move(r); });
    BOOST_REQUIRE(run_until(io, [&] { return slept.is_error(); }));
    BOOST_TEST(slept.is_local_error());
    BOOST_TEST(slept.text.find("no answer in time") != std::string::npos, slept.text);
    BOOST_TEST(queued.is_local_error());  // cut off with it
    // While down: answered at once, nothing queued for later.
    RedisReply down;
    if (!link.ready()) {
        link.command({"PING"}, [&](RedisReply r) { down = std::move(r); });
        BOOST_TEST(down.is_local_error());
    }
    BOOST_REQUIRE(run_until(io, [&] { return readies == 2; }));
    BOOST_TEST(losses == 1);
    RedisReply pong;
    link.command({"PING"}, [&](RedisReply r) { pong = std::move(r); });
    BOOST_REQUIRE(run_until(io, [&] { return !pong.text.empty(); }));
    BOOST_TEST(pong.text == "PONG");
    link.stop();
    run_until(io, [&] { return !link.ready(); });
}

BOOST_AUTO_TEST_CASE(one_shot_commands) {
    asio::io_context io;
    std::optional<RedisReply> got, refused;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            // (Arguments built first: GCC 12 miscompiles braced lists inside co_await.)
            std::vector<std::string> echo = {"ECHO", "hi"}, ping = {"PING"};
            const auto nowhere = *RedisEndpoint::parse("unix:/nonexistent/redis.sock", 0);
            const auto opts = options();
            got = co_await RedisLink::one_shot(io, unix_endpoint(), echo, opts);
            refused = co_await RedisLink::one_shot(io, nowhere, ping, opts);
        },
        asio::detached);
    BOOST_REQUIRE(run_until(io, [&] { return refused.has_value(); }));
    BOOST_TEST(got->text == "hi");
    BOOST_TEST(refused->is_local_error());
}

BOOST_AUTO_TEST_CASE(endpoints_parse) {
    BOOST_TEST(RedisEndpoint::parse("unix:/run/redis.sock", 6379)->to_string() ==
               "unix:/run/redis.sock");
    BOOST_TEST(RedisEndpoint::parse("192.0.2.5", 6379)->to_string() == "192.0.2.5:6379");
    BOOST_TEST(RedisEndpoint::parse("[2001:db8::5]:7000", 6379)->to_string() ==
               "[2001:db8::5]:7000");
    BOOST_TEST(!RedisEndpoint::parse("redis.example:6379", 6379));
    BOOST_TEST(!RedisEndpoint::parse("unix:relative", 6379));
}

BOOST_AUTO_TEST_SUITE_END()
