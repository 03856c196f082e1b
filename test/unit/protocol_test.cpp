// The helper protocol codec: what the privileged helper accepts is exactly what the
// grammar in firewall/helper_main.cpp says, and nothing else.
#include <boost/test/unit_test.hpp>

#include <string>

#include "firewall/protocol.hpp"

using namespace smtpwall;
using namespace smtpwall::helperproto;

namespace {

Request parse_ok(std::string_view line) {
    auto result = parse_request(line);
    BOOST_TEST_INFO("line: " << line);
    BOOST_REQUIRE(std::holds_alternative<Request>(result));
    return std::get<Request>(result);
}

ParseError parse_bad(std::string_view line) {
    auto result = parse_request(line);
    BOOST_TEST_INFO("line: " << line);
    BOOST_REQUIRE(std::holds_alternative<ParseError>(result));
    const auto error = std::get<ParseError>(result);
    BOOST_TEST(error.code == "syntax");
    BOOST_TEST(!error.message.empty());
    return error;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(helper_protocol)

BOOST_AUTO_TEST_CASE(parses_every_verb) {
    auto hello = parse_ok("1 HELLO 1");
    BOOST_TEST(hello.id == 1u);
    BOOST_TEST((hello.verb == Verb::hello));
    BOOST_TEST(hello.version == 1);

    BOOST_TEST((parse_ok("7 PING").verb == Verb::ping));
    BOOST_TEST((parse_ok("4294967295 LIST").verb == Verb::list));
    BOOST_TEST(parse_ok("4294967295 LIST").id == 4294967295u);

    auto add = parse_ok("12 ADD 192.0.2.0/24 1767225600 spamtrap,bad-helo");
    BOOST_TEST((add.verb == Verb::add));
    BOOST_TEST(add.net.to_string() == "192.0.2.0/24");
    BOOST_TEST(add.expires == 1767225600);
    BOOST_TEST((add.tags == std::vector<std::string>{"spamtrap", "bad-helo"}));

    auto no_tags = parse_ok("13 ADD 2001:db8::/64 0 -");
    BOOST_TEST(no_tags.net.to_string() == "2001:db8::/64");
    BOOST_TEST(no_tags.expires == 0);
    BOOST_TEST(no_tags.tags.empty());

    auto del = parse_ok("14 DEL 192.0.2.5");
    BOOST_TEST((del.verb == Verb::del));
    BOOST_TEST(del.net.is_host());
}

BOOST_AUTO_TEST_CASE(parses_sync) {
    auto begin = parse_ok("20 SYNC BEGIN");
    BOOST_TEST((begin.verb == Verb::sync));
    BOOST_TEST((begin.sync == SyncOp::begin));
    BOOST_TEST((parse_ok("21 SYNC END").sync == SyncOp::end));
    BOOST_TEST((parse_ok("22 SYNC ABORT").sync == SyncOp::abort));
    BOOST_TEST(parse_bad("23 SYNC").id == 23u);
    BOOST_TEST(parse_bad("23 SYNC begin").id == 23u);
    BOOST_TEST(parse_bad("23 SYNC START").id == 23u);
    BOOST_TEST(parse_bad("23 SYNC BEGIN END").id == 23u);
    BOOST_TEST(parse_bad("23 SYNC BEGIN ").id == 0u);
    BOOST_TEST(parse_bad("23 sync BEGIN").id == 23u);

    Request r;
    r.id = 4294967295u;
    r.verb = Verb::sync;
    r.sync = SyncOp::abort;
    BOOST_TEST(format_request(r) == "4294967295 SYNC ABORT");
    BOOST_TEST(parse_ok(format_request(r)).same_as(r));
    r.sync = SyncOp::begin;
    BOOST_TEST(!parse_ok("4294967295 SYNC END").same_as(r));
}

BOOST_AUTO_TEST_CASE(format_request_round_trips) {
    for (const char* line :
         {"1 HELLO 1", "2 PING", "3 LIST", "4 DEL 198.51.100.7", "5 ADD 192.0.2.0/24 0 -",
          "6 ADD 2001:db8:1::/48 99 a,b-c,d9", "7 ADD 192.0.2.77 1767225600 cbl", "8 SYNC BEGIN",
          "9 SYNC END", "10 SYNC ABORT"}) {
        BOOST_TEST(format_request(parse_ok(line)) == line);
        BOOST_TEST(parse_ok(format_request(parse_ok(line))).same_as(parse_ok(line)));
    }
    // A /32 is written as the bare address: one spelling on the wire.
    BOOST_TEST(format_request(parse_ok("8 DEL 192.0.2.1/32")) == "8 DEL 192.0.2.1");
}

BOOST_AUTO_TEST_CASE(rejects_bad_ids) {
    BOOST_TEST(parse_bad("0 PING").id == 0u);
    BOOST_TEST(parse_bad("01 PING").id == 0u);
    BOOST_TEST(parse_bad("00 PING").id == 0u);
    BOOST_TEST(parse_bad("4294967296 PING").id == 0u);
    BOOST_TEST(parse_bad("99999999999 PING").id == 0u);
    BOOST_TEST(parse_bad("-1 PING").id == 0u);
    BOOST_TEST(parse_bad("+1 PING").id == 0u);
    BOOST_TEST(parse_bad("0x10 PING").id == 0u);
    BOOST_TEST(parse_bad("abc PING").id == 0u);
    BOOST_TEST(parse_bad("PING").id == 0u);
    BOOST_TEST(parse_bad("1.5 PING").id == 0u);
}

BOOST_AUTO_TEST_CASE(rejects_unknown_verbs_and_wrong_arity_with_the_id) {
    BOOST_TEST(parse_bad("5 FLUSH").id == 5u);
    BOOST_TEST(parse_bad("5 ping").id == 5u);  // verbs are upper case
    BOOST_TEST(parse_bad("5").id == 5u);
    BOOST_TEST(parse_bad("6 PING extra").id == 6u);
    BOOST_TEST(parse_bad("6 LIST all").id == 6u);
    BOOST_TEST(parse_bad("6 HELLO").id == 6u);
    BOOST_TEST(parse_bad("6 HELLO 1 2").id == 6u);
    BOOST_TEST(parse_bad("6 HELLO one").id == 6u);
    BOOST_TEST(parse_bad("6 HELLO 01").id == 6u);
    BOOST_TEST(parse_bad("6 HELLO -1").id == 6u);
    BOOST_TEST(parse_bad("7 ADD 192.0.2.1").id == 7u);
    BOOST_TEST(parse_bad("7 ADD 192.0.2.1 0").id == 7u);
    BOOST_TEST(parse_bad("7 ADD 192.0.2.1 0 - extra").id == 7u);
    BOOST_TEST(parse_bad("8 DEL").id == 8u);
    BOOST_TEST(parse_bad("8 DEL 192.0.2.1 192.0.2.2").id == 8u);
}

BOOST_AUTO_TEST_CASE(rejects_bad_networks) {
    for (const char* net :
         {"192.0.2.1/24", "192.0.2.128/24", "192.0.2.3/31", "2001:db8::1/64", "192.0.2.0/33",
          "2001:db8::/129", "192.0.2.0/", "192.0.2.0/-1", "192.0.2.0/+8", "192.0.2.0/x", "/24",
          "192.0.2", "192.0.2.256", "192.0.2.01", "1.2.3.4.5", "host.example", "2001:db8:::1",
          "192.0.2.0/24/24"}) {
        BOOST_TEST_CONTEXT("net " << net) {
            BOOST_TEST(parse_bad(std::string("9 DEL ") + net).id == 9u);
            BOOST_TEST(parse_bad(std::string("9 ADD ") + net + " 0 -").id == 9u);
        }
    }
    // The host-bit check is per bit, not per byte.
    BOOST_TEST(parse_ok("9 DEL 192.0.2.2/31").net.to_string() == "192.0.2.2/31");
    BOOST_TEST(parse_ok("9 DEL 192.0.2.128/25").net.prefix == 25);
    BOOST_TEST(parse_ok("9 DEL 2001:db8:8000::/33").net.prefix == 33);
    parse_bad("9 DEL 2001:db8:c000::/33");
}

BOOST_AUTO_TEST_CASE(rejects_bad_expiry) {
    parse_bad("10 ADD 192.0.2.1 -1 -");
    parse_bad("10 ADD 192.0.2.1 -0 -");
    parse_bad("10 ADD 192.0.2.1 +5 -");
    parse_bad("10 ADD 192.0.2.1 00 -");
    parse_bad("10 ADD 192.0.2.1 0123 -");
    parse_bad("10 ADD 192.0.2.1 1e9 -");
    parse_bad("10 ADD 192.0.2.1 1234567890123 -");  // more than 12 digits
    BOOST_TEST(parse_ok("10 ADD 192.0.2.1 999999999999 -").expires == 999999999999);
}

BOOST_AUTO_TEST_CASE(rejects_bad_tags) {
    for (const char* tags :
         {"", "Spamtrap", "-cbl", "bad_helo", "a,,b", "a,", ",a", "[a]", "a b",
          "aaaaaaaaaaaaaaaaaaaaaaaaa", "a,b,c,d,e,f,g,h,i", "--", "caf\xc3\xa9"}) {
        BOOST_TEST_CONTEXT("tags '" << tags << "'") {
            parse_bad(std::string("11 ADD 192.0.2.1 0 ") + tags);
        }
    }
    BOOST_TEST(parse_ok("11 ADD 192.0.2.1 0 a,b,c,d,e,f,g,h").tags.size() == 8u);
    BOOST_TEST(parse_ok("11 ADD 192.0.2.1 0 aaaaaaaaaaaaaaaaaaaaaaaa").tags.size() == 1u);
    BOOST_TEST(parse_ok("11 ADD 192.0.2.1 0 a-1,0x").tags.size() == 2u);
}

BOOST_AUTO_TEST_CASE(rejects_bad_spacing_and_bytes) {
    BOOST_TEST(parse_bad("").id == 0u);
    BOOST_TEST(parse_bad(" 1 PING").id == 0u);
    BOOST_TEST(parse_bad("1  PING").id == 0u);
    BOOST_TEST(parse_bad("1 PING ").id == 0u);
    BOOST_TEST(parse_bad("1\tPING").id == 0u);
    BOOST_TEST(parse_bad("1 PING\r").id == 0u);
    BOOST_TEST(parse_bad("1 PING\n").id == 0u);
    BOOST_TEST(parse_bad(std::string("1 PING\0", 7)).id == 0u);
    BOOST_TEST(parse_bad("1 PING\x7f").id == 0u);
    BOOST_TEST(parse_bad("1 PING\x1b[2J").id == 0u);
    BOOST_TEST(parse_bad("1 ADD 192.0.2.1 0 caf\xe9").id == 0u);
}

BOOST_AUTO_TEST_CASE(line_length_limit) {
    // 511 characters plus the newline is the longest line.
    const std::string prefix = "1 ADD 192.0.2.1 0 ";
    BOOST_TEST(parse_bad(std::string(kMaxLine, '1')).id == 0u);
    BOOST_TEST(parse_bad(std::string(kMaxLine - 1, '1')).id == 0u);  // id too long, not length
    auto too_long = parse_bad(prefix + std::string(kMaxLine - prefix.size(), 'a'));
    BOOST_TEST(too_long.message.find("too long") != std::string::npos);
    auto fits = parse_bad(prefix + std::string(kMaxLine - 1 - prefix.size(), 'a'));
    BOOST_TEST(fits.message.find("too long") == std::string::npos);
    BOOST_TEST(fits.id == 1u);
    BOOST_TEST(parse_bad(std::string(100000, 'x')).id == 0u);
}

BOOST_AUTO_TEST_CASE(replies_round_trip) {
    BOOST_TEST(format_ok(3, "pong") == "3 OK pong");
    BOOST_TEST(format_err(4, "refused", "loopback") == "4 ERR refused loopback");

    auto ok = parse_reply_line("3 OK pong");
    BOOST_REQUIRE(ok);
    BOOST_REQUIRE(std::holds_alternative<OkReply>(*ok));
    BOOST_TEST(std::get<OkReply>(*ok).id == 3u);
    BOOST_TEST(std::get<OkReply>(*ok).text == "pong");

    auto err = parse_reply_line("0 ERR syntax line too long");
    BOOST_REQUIRE(err);
    BOOST_REQUIRE(std::holds_alternative<ErrReply>(*err));
    BOOST_TEST(std::get<ErrReply>(*err).id == 0u);
    BOOST_TEST(std::get<ErrReply>(*err).code == "syntax");
    BOOST_TEST(std::get<ErrReply>(*err).message == "line too long");

    Entry e;
    e.net = *Cidr::parse("2001:db8:1::/64");
    e.packets = 18446744073709551615ull;
    e.bytes = 180;
    e.origin = Origin::core;
    e.expires = 1767225600;
    e.tags = {"dialup", "cbl"};
    const auto line = format_entry(9, e);
    BOOST_TEST(line ==
               "9 ENTRY 2001:db8:1::/64 18446744073709551615 180 core 1767225600 dialup,cbl");
    auto back = parse_reply_line(line);
    BOOST_REQUIRE(back);
    BOOST_REQUIRE(std::holds_alternative<EntryLine>(*back));
    const auto& got = std::get<EntryLine>(*back);
    BOOST_TEST(got.id == 9u);
    BOOST_TEST((got.entry.net == e.net));
    BOOST_TEST(got.entry.packets == e.packets);
    BOOST_TEST(got.entry.bytes == e.bytes);
    BOOST_TEST((got.entry.origin == Origin::core));
    BOOST_TEST(got.entry.expires == e.expires);
    BOOST_TEST((got.entry.tags == e.tags));

    e.origin = Origin::dynamic;
    e.tags.clear();
    e.expires = 0;
    auto dyn = parse_reply_line(format_entry(1, e));
    BOOST_REQUIRE(dyn);
    BOOST_TEST((std::get<EntryLine>(*dyn).entry.origin == Origin::dynamic));
    BOOST_TEST(std::get<EntryLine>(*dyn).entry.tags.empty());
}

BOOST_AUTO_TEST_CASE(reply_text_cannot_forge_lines) {
    // Whatever goes into a message comes out as one printable line.
    const auto line = format_err(5, "syntax", "bad\n6 OK added\r\x01\xff");
    BOOST_TEST(line.find('\n') == std::string::npos);
    BOOST_TEST(line.find('\r') == std::string::npos);
    auto parsed = parse_reply_line(line);
    BOOST_REQUIRE(parsed);
    BOOST_TEST(std::get<ErrReply>(*parsed).id == 5u);
    BOOST_TEST(format_err(5, "backend", std::string(2000, 'x')).size() < kMaxLine);
    BOOST_TEST(format_err(5, "backend", std::string(2000, 'x')).size() == kMaxLine - 1);
    BOOST_TEST(format_ok(4294967295u, std::string(2000, 'x')).size() == kMaxLine - 1);
    BOOST_TEST(format_ok(1, "") == "1 OK -");
    BOOST_TEST(format_err(1, "", "x") == "1 ERR internal x");
    BOOST_TEST(format_err(1, "two words", "x") == "1 ERR internal x");
    BOOST_TEST(format_err(1, "refused", "") == "1 ERR refused -");
}

BOOST_AUTO_TEST_CASE(longest_reply_lines_round_trip) {
    // Whatever a valid reply line holds, formatting it again gives the same line.
    const std::string text(kMaxLine - 1 - std::string("4294967295 OK ").size(), 'y');
    const std::string ok = "4294967295 OK " + text;
    auto parsed = parse_reply_line(ok);
    BOOST_REQUIRE(parsed);
    BOOST_TEST(format_ok(4294967295u, std::get<OkReply>(*parsed).text) == ok);
    const std::string err = "7 ERR limit " + std::string(kMaxLine - 1 - 12, 'z');
    parsed = parse_reply_line(err);
    BOOST_REQUIRE(parsed);
    const auto& e = std::get<ErrReply>(*parsed);
    BOOST_TEST(format_err(e.id, e.code, e.message) == err);
    BOOST_TEST(!parse_reply_line(err + "z").has_value());
}

BOOST_AUTO_TEST_CASE(rejects_malformed_reply_lines) {
    for (const char* bad : {"",
                            "OK",
                            "1",
                            "1 OK",
                            "x OK fine",
                            "01 OK x",
                            "1 ERR",
                            "1 ERR syntax",
                            "1 ERR  x",
                            "1 MAYBE so",
                            "1 ENTRY 192.0.2.1 1 2 dyn 0",
                            "1 ENTRY 192.0.2.1 1 2 dyn 0 - x",
                            "1 ENTRY 192.0.2.1/24 1 2 dyn 0 -",
                            "1 ENTRY 192.0.2.1 -1 2 dyn 0 -",
                            "1 ENTRY 192.0.2.1 1 2 static 0 -",
                            "1 ENTRY 192.0.2.1 1 2 dyn -5 -",
                            "1 ENTRY 192.0.2.1 1 2 dyn 0 Bad",
                            "1 ENTRY 192.0.2.1  1 2 dyn 0 -",
                            "1 OK pong\r",
                            "1 OK ",
                            "1 ERR syntax ",
                            "1 ERR Syntax x",
                            "1 ERR syn-tax x",
                            "1 ERR abcdefghijklmnopq x",
                            "1 ERR 5 x"}) {
        BOOST_TEST_CONTEXT("line '" << bad << "'") {
            BOOST_TEST(!parse_reply_line(bad).has_value());
        }
    }
    BOOST_TEST(!parse_reply_line("1 OK " + std::string(kMaxLine, 'x')).has_value());
}

BOOST_AUTO_TEST_CASE(rule_comment_round_trip) {
    BOOST_TEST(format_rule_comment(Origin::core, 0, {}) == "smtpwall core");
    BOOST_TEST(format_rule_comment(Origin::dynamic, 0, {}) == "smtpwall dyn");
    const auto text = format_rule_comment(Origin::dynamic, 1767225600, {"spamtrap", "bad-helo"});
    BOOST_TEST(text == "smtpwall dyn exp=1767225600 [spamtrap] [bad-helo]");
    auto back = parse_rule_comment(text);
    BOOST_REQUIRE(back);
    BOOST_TEST((back->origin == Origin::dynamic));
    BOOST_TEST(back->expires == 1767225600);
    BOOST_TEST((back->tags == std::vector<std::string>{"spamtrap", "bad-helo"}));

    auto core = parse_rule_comment(format_rule_comment(Origin::core, 0, {"core-test"}));
    BOOST_REQUIRE(core);
    BOOST_TEST((core->origin == Origin::core));
    BOOST_TEST(core->expires == 0);
    BOOST_TEST((core->tags == std::vector<std::string>{"core-test"}));

    // The longest comment the helper can write fits the kernel's 256 bytes.
    const std::vector<std::string> eight(kMaxTags, std::string(kMaxTagLength, 'z'));
    BOOST_TEST(format_rule_comment(Origin::dynamic, 999999999999, eight).size() < 256u);
    BOOST_TEST(
        parse_rule_comment(format_rule_comment(Origin::dynamic, 999999999999, eight)).has_value());
}

BOOST_AUTO_TEST_CASE(rule_comment_rejects_foreign_text) {
    for (const char* bad :
         {"", "smtpwall", "smtpwall static", "fail2ban", "SMTPWALL dyn",
          "smtpwall dyn exp=", "smtpwall dyn exp=-1", "smtpwall dyn exp=01", "smtpwall dyn exp=x",
          "smtpwall dyn []", "smtpwall dyn [Bad]", "smtpwall dyn [a b]", "smtpwall dyn a",
          "smtpwall  dyn", "smtpwall dyn ", "smtpwall dyn [a] [b] [c] [d] [e] [f] [g] [h] [i]",
          "banned by hand smtpwall dyn"}) {
        BOOST_TEST_CONTEXT("comment '" << bad << "'") {
            BOOST_TEST(!parse_rule_comment(bad).has_value());
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
