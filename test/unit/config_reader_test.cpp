#include <boost/test/unit_test.hpp>

#include "conf/config_reader.hpp"

using namespace smtpwall;
using namespace smtpwall::conf;

namespace {

std::string error_of(std::string_view text, auto&& read) {
    try {
        auto table = parse_toml_text(text, "t.conf");
        TableReader reader(table, "t.conf", "");
        read(reader);
        reader.reject_unknown_keys();
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(config_reader)

BOOST_AUTO_TEST_CASE(durations) {
    BOOST_TEST(parse_duration("90s")->count() == 90);
    BOOST_TEST(parse_duration("15m")->count() == 900);
    BOOST_TEST(parse_duration("1h")->count() == 3600);
    BOOST_TEST(parse_duration("7d")->count() == 7 * 86400);
    BOOST_TEST(parse_duration("2w")->count() == 14 * 86400);
    BOOST_TEST(parse_duration("42")->count() == 42);
    BOOST_TEST(!parse_duration(""));
    BOOST_TEST(!parse_duration("h"));
    BOOST_TEST(!parse_duration("-1s"));
    BOOST_TEST(!parse_duration("1y"));
    BOOST_TEST(!parse_duration("1 h"));
    BOOST_TEST(!parse_duration("99999999999999d"));
}

BOOST_AUTO_TEST_CASE(syntax_errors_name_file_and_line) {
    const auto err = error_of("a = 1\nb = [\n", [](TableReader&) {});
    BOOST_TEST(err.starts_with("t.conf:"), err);
}

BOOST_AUTO_TEST_CASE(unknown_keys_are_errors_with_their_line) {
    const auto err =
        error_of("known = 1\n\nunknwon = 2\n", [](TableReader& r) { r.integer("known", 0, 0, 9); });
    BOOST_TEST(err == "t.conf:3: unknown key \"unknwon\"", err);
}

BOOST_AUTO_TEST_CASE(type_and_range_errors) {
    auto err = error_of("n = \"five\"\n", [](TableReader& r) { r.integer("n", 0, 0, 9); });
    BOOST_TEST(err == "t.conf:1: n: expected an integer", err);
    err = error_of("\nn = 10\n", [](TableReader& r) { r.integer("n", 0, 0, 9); });
    BOOST_TEST(err == "t.conf:2: n: 10 is out of range [0, 9]", err);
    err = error_of("d = \"soon\"\n",
                   [](TableReader& r) { r.duration("d", std::chrono::seconds(1)); });
    BOOST_TEST(err.starts_with("t.conf:1: d: \"soon\" is not a duration"), err);
}

BOOST_AUTO_TEST_CASE(network_lists_point_at_the_bad_element) {
    const auto err = error_of("nets = [\n  \"192.0.2.0/24\",\n  \"192.0.2.1/24\",\n]\n",
                              [](TableReader& r) { r.networks("nets"); });
    BOOST_TEST(err.starts_with("t.conf:3: nets: \"192.0.2.1/24\""), err);
}

BOOST_AUTO_TEST_CASE(nested_tables_report_their_section) {
    const auto err = error_of("[s]\nx = 1\ny = 2\n", [](TableReader& r) {
        auto s = r.table("s");
        s->integer("x", 0, 0, 9);
        s->reject_unknown_keys();
    });
    BOOST_TEST(err == "t.conf:3: unknown key \"s.y\"", err);
}

BOOST_AUTO_TEST_SUITE_END()
