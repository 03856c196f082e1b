#include <boost/test/unit_test.hpp>

#include <fstream>

#include "conf/config_reader.hpp"
#include "conf/milter_config.hpp"

using namespace smtpwall;
using namespace smtpwall::conf;

namespace {

std::string error_of(std::string_view text) {
    try {
        parse_milter_config(text, "smtpwall.conf");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(milter_config)

BOOST_AUTO_TEST_CASE(defaults_are_safe) {
    const auto cfg = parse_milter_config("", "empty.conf");
    BOOST_TEST(cfg.milter.socket == "/run/smtpwall/milter.sock");
    BOOST_TEST(cfg.milter.user == "smtpwall");
    BOOST_TEST(cfg.checks.exempt_recipients == (std::vector<std::string>{"postmaster@", "abuse@"}));
    BOOST_REQUIRE(cfg.escalation.rules.size() == 2u);
    BOOST_TEST(cfg.escalation.rules[0].text == "ban at first spamtrap");
    BOOST_TEST(cfg.escalation.rules[1].text == "ban after 5 rejections in 1h");
    BOOST_TEST(cfg.escalation.ban_duration.count() == 7 * 86400);
    BOOST_TEST(!cfg.milter.observe);
    BOOST_TEST(cfg.aggregation.enabled);
    BOOST_TEST(cfg.state.file == "/var/lib/smtpwall/state.db");
    BOOST_TEST(cfg.tally.ipv6_prefix == 64);
}

BOOST_AUTO_TEST_CASE(full_config) {
    const auto cfg = parse_milter_config(R"(
[milter]
socket = "unix:/tmp/m.sock"
socket_mode = "0666"
user = "nobody"
[control]
socket = "/tmp/c.sock"
[helper]
socket = "/tmp/h.sock"
[identity]
hostnames = ["MX.Example.ORG"]
addresses = ["192.0.2.1", "2001:db8::1"]
[checks]
spamtraps = ["trap@example.org", "@traps.example.org"]
exempt_recipients = ["postmaster@"]
allowlist = ["203.0.113.0/24"]
[tally]
window = "2h"
[escalation]
rules = ["ban at first spamtrap", "ban after 3 rejections in 30m if bad-helo"]
ban_duration = "2d"
repeat_growth = 1.5
good_mail_ratio = 2
[aggregation]
enabled = false
[state]
file = ""
)",
                                         "full.conf");
    BOOST_TEST(cfg.milter.socket == "/tmp/m.sock");
    BOOST_TEST(cfg.milter.socket_mode == 0666u);
    BOOST_TEST(cfg.identity.hostnames == std::vector<std::string>{"mx.example.org"});
    BOOST_TEST(cfg.identity.addresses.size() == 2u);
    BOOST_TEST(cfg.checks.allowlist.contains(*IpAddress::parse("203.0.113.5")));
    BOOST_TEST(cfg.escalation.rules.at(1).within.count() == 1800);
    BOOST_TEST(cfg.escalation.rules.at(1).required_tags == std::vector<std::string>{"bad-helo"});
    BOOST_TEST(cfg.escalation.ban_duration.count() == 2 * 86400);
    BOOST_TEST(cfg.escalation.repeat_growth == 1.5);
    BOOST_TEST(cfg.escalation.good_mail_ratio == 2.0);
    BOOST_TEST(!cfg.aggregation.enabled);
    BOOST_TEST(cfg.state.file.empty());
}

BOOST_AUTO_TEST_CASE(errors_name_file_line_and_key) {
    BOOST_TEST(error_of("[milter]\nsokcet = \"/x\"\n") ==
               "smtpwall.conf:2: unknown key \"milter.sokcet\"");
    BOOST_TEST(error_of("[checks]\n\nspamtraps = [\"nobody\"]\n")
                   .starts_with("smtpwall.conf:3: checks.spamtraps:"));
    BOOST_TEST(error_of("[escalation]\nban_duration = \"1 hour\"\n")
                   .starts_with("smtpwall.conf:2: escalation.ban_duration:"));
    BOOST_TEST(
        error_of("[escalation]\nrules = [\n  \"ban at first spamtrap\",\n  \"ban after 5 in "
                 "1h\",\n]\n") ==
        "smtpwall.conf:4: escalation.rules: \"ban after 5 in 1h\": expected \"N rejections\"");
    BOOST_TEST(error_of("[escalation]\nrules = [\"ban after 5 rejections in 2h\"]\n")
                   .starts_with("smtpwall.conf:2:"));
    BOOST_TEST(error_of("[escalation]\nrepeat_growth = 0.5\n")
                   .starts_with("smtpwall.conf:2: escalation.repeat_growth:"));
    BOOST_TEST(error_of("[aggregation]\nipv4_prefix = 8\n")
                   .starts_with("smtpwall.conf:2: aggregation.ipv4_prefix:"));
    BOOST_TEST(
        error_of("[state]\nfile = \"state.db\"\n").starts_with("smtpwall.conf:2: state.file:"));
    BOOST_TEST(
        error_of("[milter]\nobserve = \"yes\"\n").starts_with("smtpwall.conf:2: milter.observe:"));
    BOOST_TEST(error_of("[milter]\nsocket = \"relative.sock\"\n")
                   .starts_with("smtpwall.conf:2: milter.socket:"));
    BOOST_TEST(error_of("[milter]\nsocket_mode = \"0777\"\n")
                   .starts_with("smtpwall.conf:2: milter.socket_mode:"));
    BOOST_TEST(error_of("[escalation]\nrules = [\"ban at first Spam Trap\"]\n")
                   .starts_with("smtpwall.conf:2:"));
    BOOST_TEST(error_of("[identity]\naddresses = [\"mx\"]\n").starts_with("smtpwall.conf:2:"));
    BOOST_TEST(error_of("[tally]\nipv6_prefix = 200\n")
                   .starts_with("smtpwall.conf:2: tally.ipv6_prefix:"));
    BOOST_TEST(error_of("surprise = 1\n") == "smtpwall.conf:1: unknown key \"surprise\"");
    BOOST_TEST(error_of("[milter\n").starts_with("smtpwall.conf:1:"));
}

BOOST_AUTO_TEST_CASE(example_config_in_the_repo_loads) {
    const auto cfg = load_milter_config(SMTPWALL_SOURCE_DIR "/conf/smtpwall.conf");
    BOOST_TEST(!cfg.checks.exempt_recipients.empty());
}

BOOST_AUTO_TEST_SUITE_END()
