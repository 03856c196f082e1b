#include <boost/test/unit_test.hpp>

#include <fstream>

#include "conf/config_reader.hpp"
#include "conf/milter_config.hpp"
#include "conf/shared_relay_domains.hpp"

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
    // What the daemon compiles later is compiled here, and blamed at its own line.
    BOOST_TEST(error_of("[dialup]\npatterns = [\n  \"^ok\",\n  \"(unclosed\",\n]\n")
                   .starts_with("smtpwall.conf:4: dialup.patterns: \"(unclosed\" is not a valid "
                                "pattern: at offset"));
    BOOST_TEST(
        error_of("[[zone]]\ntag = \"bl\"\nzone = \"bl.example\"\ncodes = \"127.0.0.[9..2]\"\n")
            .starts_with("smtpwall.conf:4: zone.codes:"));
    BOOST_TEST(
        error_of("[[zone]]\nzone = \"bl.example\"\n").starts_with("smtpwall.conf:1: zone.tag:"));
    BOOST_TEST(error_of("[[zone]]\ntag = \"bl\"\nzone = \"a.example\"\n[[zone]]\ntag = \"bl\"\n"
                        "zone = \"b.example\"\n")
                   .starts_with("smtpwall.conf:5: zone.tag: \"bl\" is used by another zone"));
    BOOST_TEST(error_of("[dns]\non_failure = \"panic\"\n")
                   .starts_with("smtpwall.conf:2: dns.on_failure:"));
    BOOST_TEST(error_of("[escalation]\nban_duration = \"2d\"\nmax_ban_duration = \"1d\"\n")
                   .starts_with("smtpwall.conf:3: escalation.max_ban_duration:"));
    BOOST_TEST(error_of("[escalation]\nrules = [\n  \"ban at first spamtrap\",\n  \"ban after 5 "
                        "rejections in 1h including shared-relay\",\n]\n") ==
               "smtpwall.conf:4: escalation.rules: \"ban after 5 rejections in 1h including "
               "shared-relay\": only a rule on spamtrap evidence may ban shared relays (\"ban at "
               "first spamtrap\" or \"... if spamtrap\")");
    // /metrics needs a port: an IPv6 loopback alone has colons but names none.
    for (const char* listen : {"[::1]", "::1", "127.0.0.1", "192.0.2.1:9253"})
        BOOST_TEST(error_of(std::string("[control]\nmetrics_listen = \"") + listen + "\"\n")
                       .starts_with("smtpwall.conf:2: control.metrics_listen:"),
                   listen);
    BOOST_TEST(parse_milter_config("[control]\nmetrics_listen = \"[::1]:9253\"\n", "c")
                   .control.metrics_listen == "[::1]:9253");
    // A rule over two settings names the line of the one the file set, even when the
    // complaint is about the other one, left at its default.
    BOOST_TEST(error_of("[tally]\nipv4_prefix = 24\n")
                   .starts_with("smtpwall.conf:2: aggregation.ipv4_prefix: must be shorter"));
    BOOST_TEST(error_of("[tally]\n\nipv6_prefix = 48\n")
                   .starts_with("smtpwall.conf:3: aggregation.ipv6_prefix: must be shorter"));
    BOOST_TEST(error_of("[tally]\nwindow = \"30m\"\n")
                   .starts_with("smtpwall.conf:2: escalation.rules: \"ban after 5 rejections in "
                                "1h\" looks back further"));
    BOOST_TEST(error_of("[escalation]\n\nban_duration = \"100d\"\n")
                   .starts_with("smtpwall.conf:3: escalation.max_ban_duration: must not be"));
    BOOST_TEST(error_of("[shared_relays]\nadd_domains = [\n  \"relay.example\",\n  \"com\",\n]\n")
                   .starts_with("smtpwall.conf:4: shared_relays.add_domains: \"com\": is a "
                                "top-level domain"));
    BOOST_TEST(error_of("[shared_relays]\nadd_domains = [\"bad..example\"]\n")
                   .starts_with("smtpwall.conf:2: shared_relays.add_domains: \"bad..example\": is "
                                "not a domain name"));
    BOOST_TEST(error_of("[shared_relays]\n\nremove_domains = [\"gogle.com\"]\n") ==
               "smtpwall.conf:3: shared_relays.remove_domains: \"gogle.com\": is not in the "
               "shipped list (see smtpwall.conf(5))");
    BOOST_TEST(error_of("[shared_relays]\nmax_ban = \"10s\"\n")
                   .starts_with("smtpwall.conf:2: shared_relays.max_ban:"));
    BOOST_TEST(error_of("[shared_relays]\ngood_mail = -1\n")
                   .starts_with("smtpwall.conf:2: shared_relays.good_mail:"));
}

BOOST_AUTO_TEST_CASE(cluster_settings) {
    BOOST_TEST(!parse_milter_config("", "smtpwall.conf").cluster.enabled());
    auto cfg = parse_milter_config("[cluster]\nredis = \"unix:/run/redis/redis.sock\"\n", "c");
    BOOST_TEST(cfg.cluster.enabled());
    BOOST_TEST(parse_milter_config("[cluster]\nsentinels = [\"192.0.2.5:26379\"]\n", "c")
                   .cluster.enabled());
    BOOST_TEST(error_of("[cluster]\nredis = \"redis.example:6379\"\n")
                   .starts_with("smtpwall.conf:2: cluster.redis: expected"));
    BOOST_TEST(error_of("[cluster]\n\nsentinels = [\"192.0.2.5:26379\", \"sentinel\"]\n")
                   .starts_with("smtpwall.conf:3: cluster.sentinels: \"sentinel\": expected"));
    BOOST_TEST(
        error_of("[cluster]\nredis = \"192.0.2.5:6379\"\nsentinels = [\"192.0.2.5:26379\"]\n")
            .find("not both") != std::string::npos);
    BOOST_TEST(error_of("[cluster]\nhost_name = \"mx|1\"\n")
                   .starts_with("smtpwall.conf:2: cluster.host_name:"));
    BOOST_TEST(error_of("[cluster]\nkey_prefix = \"\"\n")
                   .starts_with("smtpwall.conf:2: cluster.key_prefix:"));
    BOOST_TEST(error_of("[cluster]\ncommand_timeout = \"1ms\"\n")
                   .starts_with("smtpwall.conf:2: cluster.command_timeout:"));
    BOOST_TEST(error_of("[cluster]\npassword_file = \"secret\"\n")
                   .starts_with("smtpwall.conf:2: cluster.password_file:"));
}

BOOST_AUTO_TEST_CASE(shared_relay_domains_are_the_shipped_list_with_changes) {
    const auto shipped = conf::shipped_relay_domains();
    BOOST_TEST(shipped.size() >= 30u);
    auto cfg = parse_milter_config(
        "[shared_relays]\nadd_domains = [\"Relay.Example.\"]\nremove_domains = [\"QQ.com\"]\n",
        "smtpwall.conf");
    const auto domains = cfg.shared_relays.domains();
    BOOST_TEST(domains.size() == shipped.size());
    BOOST_TEST((std::find(domains.begin(), domains.end(), "relay.example") != domains.end()));
    BOOST_TEST((std::find(domains.begin(), domains.end(), "qq.com") == domains.end()));
    BOOST_TEST((std::find(domains.begin(), domains.end(), "google.com") != domains.end()));
}

BOOST_AUTO_TEST_CASE(example_config_in_the_repo_loads) {
    const auto cfg = load_milter_config(SMTPWALL_SOURCE_DIR "/conf/smtpwall.conf");
    BOOST_TEST(!cfg.checks.exempt_recipients.empty());
}

BOOST_AUTO_TEST_CASE(reload_knows_what_needs_a_restart) {
    const auto a = parse_milter_config("", "a.conf");
    auto b = a;
    BOOST_TEST(restart_only_changes(a, b).empty());
    b.checks.spamtraps = {"trap@example.org"};
    b.scoring.threshold = 7;
    BOOST_TEST(restart_only_changes(a, b).empty());  // reloadable
    b.milter.socket = "/elsewhere.sock";
    b.dns.servers = {"192.0.2.53"};
    BOOST_TEST(restart_only_changes(a, b) ==
               (std::vector<std::string>{"milter.socket", "dns.servers"}));
}

BOOST_AUTO_TEST_CASE(a_reload_takes_the_reloadable_settings_only) {
    const auto running = parse_milter_config("", "a.conf");
    const auto file = parse_milter_config(
        "[milter]\nsocket = \"/elsewhere.sock\"\n[scoring]\nthreshold = 7\n"
        "[dns]\non_failure = \"ignore\"\ntimeout = \"2s\"\n[dialup]\npatterns = [\"^x\"]\n",
        "b.conf");
    const auto applied = reloaded(running, file);
    BOOST_TEST(applied.scoring.threshold == 7);
    BOOST_TEST(!applied.dns.tempfail_on_failure);
    BOOST_TEST(applied.dialup.patterns.size() == 1u);
    BOOST_TEST(applied.milter.socket == running.milter.socket);
    BOOST_TEST(applied.dns.timeout == running.dns.timeout);
}

BOOST_AUTO_TEST_SUITE_END()
