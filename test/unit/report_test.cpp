#include <boost/test/unit_test.hpp>

#include "core/control_protocol.hpp"
#include "core/report.hpp"

using namespace smtpwall;

BOOST_AUTO_TEST_SUITE(report)

BOOST_AUTO_TEST_CASE(counters_like_iptables) {
    BOOST_TEST(format_counter(0) == "0");
    BOOST_TEST(format_counter(93552) == "93552");  // from the seed's report
    BOOST_TEST(format_counter(99999) == "99999");
    BOOST_TEST(format_counter(100000) == "100K");
    BOOST_TEST(format_counter(356400) == "356K");
    BOOST_TEST(format_counter(9999499) == "9999K");
    BOOST_TEST(format_counter(9999500) == "10M");
    BOOST_TEST(format_counter(1234567890) == "1235M");
    BOOST_TEST(format_counter(12345678901ull) == "12G");
    BOOST_TEST(format_counter(123456789, true) == "123456789");
}

BOOST_AUTO_TEST_CASE(times_in_utc) {
    BOOST_TEST(format_time(0) == "-");
    BOOST_TEST(format_time(1'800'000'000) == "2027-01-15T08:00:00Z");
}

BOOST_AUTO_TEST_CASE(tables_align_columns) {
    TextTable t;
    t.column("Host/Mask");
    t.column("Packets", TextTable::Align::right);
    t.column("Tags");
    t.row({"192.0.2.7", "5", "[a] [spamtrap]"});
    t.row({"198.51.100.0/24", "12345", ""});
    BOOST_TEST(t.render() ==
               "Host/Mask        Packets  Tags\n"
               "192.0.2.7              5  [a] [spamtrap]\n"
               "198.51.100.0/24    12345\n");
}

BOOST_AUTO_TEST_CASE(bans_join_kernel_counters) {
    const std::vector<Ban> bans = {
        {*Cidr::parse("192.0.2.7"), {"spamtrap"}, 100, 200, "first-hit:spamtrap"},
        {*Cidr::parse("192.0.2.8"), {"bad-helo"}, 100, 200, "threshold"}};
    std::vector<helperproto::Entry> kernel(2);
    kernel[0].net = *Cidr::parse("192.0.2.7");
    kernel[0].packets = 3;
    kernel[0].bytes = 180;
    kernel[0].tags = {"spamtrap"};
    kernel[1].net = *Cidr::parse("203.0.113.0/24");
    kernel[1].origin = helperproto::Origin::core;
    kernel[1].packets = 9;
    kernel[1].bytes = 540;
    const auto views = join_bans(bans, kernel);
    BOOST_REQUIRE(views.size() == 3u);
    BOOST_TEST(views[0].net.to_string() == "203.0.113.0/24");  // most packets first
    BOOST_TEST(!views[0].dynamic);
    BOOST_TEST(*views[1].packets == 3u);
    BOOST_TEST(!views[2].packets);  // not in the kernel: pending
    const auto text = render_bans(views, true);
    BOOST_TEST(text ==
                   "Host/Mask       Packets    Bytes  Expires               Tags\n"
                   "203.0.113.0/24        9      540  -\n"
                   "192.0.2.7             3      180  1970-01-01T00:03:20Z  [a] [spamtrap]\n"
                   "192.0.2.8       pending  pending  1970-01-01T00:03:20Z  [a] [bad-helo]\n",
               text);
    const auto json = bans_json(views);
    BOOST_TEST(json[1]["host"] == "192.0.2.7");
    BOOST_TEST(json[1]["packets"] == 3);
    BOOST_TEST(json[2]["packets"].is_null());
    BOOST_TEST(json[0]["dynamic"] == false);
}

BOOST_AUTO_TEST_CASE(control_requests) {
    using namespace smtpwall::control;
    auto r = std::get<Request>(parse_request("tallies --top 5 --tag spamtrap --json\r"));
    BOOST_TEST(r.verb == "tallies");
    BOOST_TEST(r.top == 5u);
    BOOST_TEST(r.tag == "spamtrap");
    BOOST_TEST(r.json);
    BOOST_TEST(format_request(r) == "tallies --top 5 --tag spamtrap --json");
    BOOST_TEST(std::holds_alternative<RequestError>(parse_request("")));
    BOOST_TEST(std::holds_alternative<RequestError>(parse_request("rm -rf /")));
    BOOST_TEST(std::holds_alternative<RequestError>(parse_request("tallies --top x")));
    BOOST_TEST(std::holds_alternative<RequestError>(parse_request("tallies --top")));
    BOOST_TEST(std::holds_alternative<RequestError>(parse_request("bans --top 3")));
    BOOST_TEST(std::holds_alternative<RequestError>(parse_request("ping\x01")));
    BOOST_TEST(std::holds_alternative<RequestError>(parse_request(std::string(2000, 'p'))));
}

BOOST_AUTO_TEST_CASE(control_reply_framing_round_trips) {
    using namespace smtpwall::control;
    const std::string body = "line one\n.hidden\n..two\n";
    const auto wire = frame_reply(true, "", body);
    BOOST_TEST(wire == "OK\nline one\n..hidden\n...two\n.\n");
    ReplyReader reader;
    std::size_t pos = 0;
    while (!reader.done()) {
        const auto nl = wire.find('\n', pos);
        reader.feed(std::string_view(wire).substr(pos, nl - pos));
        pos = nl + 1;
    }
    BOOST_TEST(reader.ok());
    BOOST_TEST(reader.body() == body);
    ReplyReader err;
    err.feed("ERR no such thing");
    err.feed(".");
    BOOST_TEST(err.done());
    BOOST_TEST(!err.ok());
    BOOST_TEST(err.status_message() == "no such thing");
    ReplyReader junk;
    junk.feed("HELLO");
    BOOST_TEST(junk.malformed());
}

// Text from the network (a HELO, a DNS TXT, a sender domain) reaches an operator's
// terminal without its control bytes, and JSON survives bytes that are not UTF-8.
BOOST_AUTO_TEST_CASE(replies_carry_no_terminal_escapes_and_json_survives_bad_utf8) {
    using namespace smtpwall::control;
    const auto wire =
        frame_reply(false, "bad\x1b[2J\r\nERR", "helo \x1b]0;owned\x07\x9b\xff\tok\n");
    BOOST_TEST(wire == "ERR bad\\x1b[2J\\x0d ERR\nhelo \\x1b]0;owned\\x07\\x9b\\xff\tok\n.\n");
    for (unsigned char c : wire) BOOST_TEST((c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)));

    nlohmann::json doc;
    doc["helo"] = "caf\xc3\xa9 \xff\xfe \x1b[31m";
    const auto text = json_text(doc);
    BOOST_TEST(text == "{\"helo\":\"caf\\u00e9 \\ufffd\\ufffd \\u001b[31m\"}\n");
    BOOST_TEST(nlohmann::json::parse(text)["helo"] ==
               "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd \x1b[31m");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(operator_views)

BOOST_AUTO_TEST_CASE(top_is_the_seeds_report) {
    std::vector<helperproto::Entry> entries(3);
    entries[0].net = *Cidr::parse("192.0.2.7");
    entries[0].packets = 7768;
    entries[0].bytes = 356400;
    entries[0].tags = {"njabl"};
    entries[1].net = *Cidr::parse("198.51.100.0/24");
    entries[1].origin = helperproto::Origin::core;
    entries[1].packets = 4356;
    entries[1].bytes = 215000;
    entries[2].net = *Cidr::parse("2001:db8:1::/64");
    entries[2].packets = 1949;
    entries[2].bytes = 93552;
    entries[2].tags = {"dialup", "cbl"};
    const auto text = render_top(entries, false);
    BOOST_TEST(text ==
                   "Host/Mask        Packets  Bytes\n"
                   "192.0.2.7           7768   356K  [a] [njabl]\n"
                   "198.51.100.0/24     4356   215K\n"
                   "2001:db8:1::/64     1949  93552  [a] [dialup] [cbl]\n",
               text);
    BOOST_TEST(render_top(entries, true).find("356400") != std::string::npos);
    const auto json = top_json(entries);
    BOOST_TEST(json[0]["host"] == "192.0.2.7");
    BOOST_TEST(json[0]["packets"] == 7768);
    BOOST_TEST(json[0]["dynamic"] == true);
    BOOST_TEST(json[1]["dynamic"] == false);
    BOOST_TEST(json[2]["tags"] == nlohmann::json({"dialup", "cbl"}));
}

BOOST_AUTO_TEST_CASE(operator_requests) {
    using namespace smtpwall::control;
    auto r = std::get<Request>(parse_request("ban 192.0.2.0/24 --for 12h --reason abuse-report"));
    BOOST_TEST(r.target == "192.0.2.0/24");
    BOOST_TEST(r.duration->count() == 12 * 3600);
    BOOST_TEST(r.reason == "abuse-report");
    BOOST_TEST(mutating(r.verb));
    BOOST_TEST(std::get<Request>(parse_request(format_request(r))).duration->count() == 12 * 3600);
    r = std::get<Request>(parse_request("top 5 --exact --json"));
    BOOST_TEST(r.top == 5u);
    BOOST_TEST(r.exact);
    BOOST_TEST(!mutating(r.verb));
    BOOST_TEST(std::get<Request>(parse_request("show 2001:db8::1")).target == "2001:db8::1");
    BOOST_TEST(mutating(std::get<Request>(parse_request("reload")).verb));
    for (const char* bad : {"ban", "ban nothing", "ban 192.0.2.1 --for 0s",
                            "ban 192.0.2.1 --reason 'x y'", "show", "allow 999.1.1.1", "top 0",
                            "top many", "reload now", "unban 192.0.2.1 extra", "status --exact"})
        BOOST_TEST(std::holds_alternative<RequestError>(parse_request(bad)), bad);
}

BOOST_AUTO_TEST_SUITE_END()
