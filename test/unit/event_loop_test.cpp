// run_event_loop (milter/event_loop.hpp): an exception escaping a handler is logged and
// counted, and the loop goes on serving the handlers after it.
#include <boost/test/unit_test.hpp>

#include <boost/asio.hpp>

#include <stdexcept>
#include <thread>

#include "milter/event_loop.hpp"
#include "milter/metrics.hpp"

using namespace smtpwall;

BOOST_AUTO_TEST_CASE(an_escaped_exception_does_not_stop_the_loop) {
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    const auto errors_before = [] {
        const auto m = metrics().snapshot().internal_errors;
        const auto it = m.find("test-loop");
        return it == m.end() ? 0 : it->second;
    };
    const auto before = errors_before();
    int served = 0;
    boost::asio::post(io, [] { throw std::runtime_error("injected"); });
    boost::asio::post(io, [&] { ++served; });
    boost::asio::post(io, [] { throw 42; });  // not even a std::exception
    boost::asio::post(io, [&] {
        ++served;
        work.reset();
    });
    std::thread loop([&] { run_event_loop(io, "test-loop"); });
    loop.join();  // returns once the work guard is gone and the queue is empty
    BOOST_TEST(served == 2);
    BOOST_TEST(errors_before() == before + 2);
}
