#include <boost/test/unit_test.hpp>

#include <sstream>

#include "milter/metrics.hpp"

using namespace smtpwall;

BOOST_AUTO_TEST_SUITE(metrics_exposition)

BOOST_AUTO_TEST_CASE(prometheus_text_is_well_formed) {
    Metrics m;
    m.session(SessionVerdict::reject, false);
    m.session(SessionVerdict::accept, false);
    m.session(SessionVerdict::accept, false);
    const std::vector<std::string> tags = {"bad-helo", "baddns"};
    m.rejection(tags);
    m.dns_wait(std::chrono::milliseconds(30), false);
    m.dns_wait(std::chrono::seconds(3), true);
    m.zone_answer("zen", "listed", std::chrono::milliseconds(12));
    m.zone_answer("zen", "not-listed", std::chrono::milliseconds(8));
    m.ban_added("policy");
    Gauges g;
    g.bans_active = 4;
    g.zones["zen.example"] = {false, true, 2};
    const auto text = render_prometheus(m.snapshot(), g);
    auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
    BOOST_TEST(has("smtpwall_sessions_total{verdict=\"accept\"} 2"));
    BOOST_TEST(has("smtpwall_sessions_total{verdict=\"reject\"} 1"));
    BOOST_TEST(has("smtpwall_rejections_total{tag=\"baddns\"} 1"));
    BOOST_TEST(has("smtpwall_dns_wait_seconds_bucket{le=\"0.05\"} 1"));
    BOOST_TEST(has("smtpwall_dns_wait_seconds_bucket{le=\"+Inf\"} 2"));
    BOOST_TEST(has("smtpwall_dns_wait_seconds_count 2"));
    BOOST_TEST(has("smtpwall_dns_deadline_passed_total 1"));
    BOOST_TEST(has("smtpwall_zone_answers_total{zone=\"zen\",outcome=\"listed\"} 1"));
    BOOST_TEST(has("smtpwall_zone_latency_seconds_count{zone=\"zen\"} 2"));
    BOOST_TEST(has("smtpwall_zone_suspended{zone=\"zen.example\"} 1"));
    BOOST_TEST(has("smtpwall_bans_added_total{origin=\"policy\"} 1"));
    BOOST_TEST(has("smtpwall_bans_active 4"));
    // Every sample line belongs to a declared family.
    std::istringstream in(text);
    std::string line, family;
    while (std::getline(in, line)) {
        if (line.starts_with("# TYPE ")) family = line.substr(7, line.find(' ', 7) - 7);
        if (line.empty() || line.starts_with("#")) continue;
        BOOST_TEST(line.starts_with(family), line);
    }
}

BOOST_AUTO_TEST_SUITE_END()
