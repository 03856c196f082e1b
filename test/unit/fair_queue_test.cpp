// FairQueue (dnsbl/fair_queue.hpp): clients served in turn, per-client bounds on running
// and waiting jobs, a total bound, and nothing lost or served twice.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "dnsbl/fair_queue.hpp"

using smtpwall::FairQueue;

BOOST_AUTO_TEST_SUITE(fair_queue)

BOOST_AUTO_TEST_CASE(clients_take_turns) {
    FairQueue<std::string, int> q(1, 100, 1000);
    for (int i = 0; i < 5; ++i) BOOST_TEST(q.push("flood", i));
    BOOST_TEST(q.push("a", 100));
    BOOST_TEST(q.push("b", 200));
    // flood's first job, then a's and b's before flood's second (flood runs one at a time).
    auto first = q.pop();
    BOOST_TEST_REQUIRE(first.has_value());
    BOOST_TEST(first->first == "flood");
    BOOST_TEST(q.pop()->second == 100);
    BOOST_TEST(q.pop()->second == 200);
    BOOST_TEST(!q.pop().has_value());  // flood is at its running limit, nobody else waits
    q.finished("a");
    q.finished("b");
    q.finished("flood");
    BOOST_TEST(q.pop()->second == 1);
    BOOST_TEST(q.waiting() == 3u);
}

BOOST_AUTO_TEST_CASE(round_robin_with_two_running_per_client) {
    FairQueue<std::string, int> q(2, 100, 1000);
    for (int i = 0; i < 4; ++i) {
        BOOST_TEST(q.push("x", i));
        BOOST_TEST(q.push("y", 10 + i));
    }
    std::vector<int> order;
    while (auto job = q.pop()) order.push_back(job->second);
    BOOST_TEST((order == std::vector<int>{0, 10, 1, 11}));
    q.finished("y");
    BOOST_TEST(q.pop()->second == 12);
    BOOST_TEST(!q.pop().has_value());
}

BOOST_AUTO_TEST_CASE(bounds_refuse_without_taking) {
    FairQueue<std::string, int> q(1, 2, 3);
    BOOST_TEST(q.push("a", 1));
    BOOST_TEST(q.push("a", 2));
    BOOST_TEST(!q.push("a", 3));  // a's own queue is full
    BOOST_TEST(q.push("b", 4));
    BOOST_TEST(!q.push("c", 5));    // the whole queue is full
    BOOST_TEST(q.clients() == 2u);  // a refused client leaves no trace
    BOOST_TEST(q.pop()->second == 1);
    BOOST_TEST(q.push("c", 5));  // room again
    auto all = q.take_all();
    BOOST_TEST(all.size() == 3u);
    BOOST_TEST(q.waiting() == 0u);
    BOOST_TEST(!q.can_pop());
    BOOST_TEST(!q.pop().has_value());
    BOOST_TEST(q.clients() == 1u);  // a, whose job 1 still runs
    q.finished("a");
    BOOST_TEST(q.clients() == 0u);
}

// Every job pushed comes out exactly once, whatever the interleaving.
BOOST_AUTO_TEST_CASE(nothing_lost_nothing_twice) {
    FairQueue<int, int> q(2, 50, 10000);
    std::vector<int> seen(3000, 0);
    std::vector<std::pair<int, int>> running;
    int next = 0;
    unsigned state = 7;
    auto rnd = [&] { return state = state * 1103515245u + 12345u, (state >> 16) % 100; };
    for (int step = 0; step < 20000; ++step) {
        const auto r = rnd();
        if (r < 45 && next < 3000) {
            if (q.push(static_cast<int>(rnd() % 7), next)) ++next;
        } else if (r < 75) {
            if (auto job = q.pop()) {
                ++seen[static_cast<std::size_t>(job->second)];
                running.push_back(*job);
            }
        } else if (!running.empty()) {
            q.finished(running.front().first);
            running.erase(running.begin());
        }
        for (int c = 0; c < 7; ++c) {
            int n = 0;
            for (const auto& [key, job] : running) n += key == c ? 1 : 0;
            BOOST_TEST_REQUIRE(n <= 2);
        }
    }
    for (const auto& [key, job] : running) q.finished(key);
    while (auto job = q.pop()) {
        ++seen[static_cast<std::size_t>(job->second)];
        q.finished(job->first);
    }
    for (int i = 0; i < next; ++i) BOOST_TEST_REQUIRE(seen[static_cast<std::size_t>(i)] == 1);
    BOOST_TEST(q.clients() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
