-- IPv6 connection info (SMFIA_INET6): classified like IPv4, tallied per /64
-- (the runner checks the tallies), IPv4-mapped addresses treated as the IPv4
-- client they are, IPv6 address literals in HELO compared with the client.
local t = dofile(dir .. "/common.lua")

local function session(label, addr, helo, want, name)
    local conn = t.connect()
    t.negotiate(conn, 6, t.POSTFIX_V6, t.ACTIONS_ALL)
    t.ok(mt.macro(conn, SMFIC_CONNECT, "{client_addr}", addr, "{client_name}", name or "unknown",
                  "{client_resolve}", "FAIL", "{daemon_addr}", "2001:db8:1::1", "j", "mx.smtpwall.test"),
         "macros")
    t.step(conn, SMFIR_CONTINUE, label .. ": connect", mt.conninfo, conn, name or ("[" .. addr .. "]"), addr)
    local r = t.envelope(conn, helo, "user@example.org")
    if r ~= want then t.fail(label .. ": rcpt gave " .. t.reply_name(r) .. ", expected " .. t.reply_name(want)) end
    t.step(conn, SMFIR_CONTINUE, label .. ": postmaster", mt.rcptto, conn, "<postmaster@example.org>")
    mt.disconnect(conn)
    t.pass(label)
end

-- Three bad-HELO sessions from two hosts of 2001:db8:6::/64: one tally of 3.
session("IPv6 bad HELO", "2001:db8:6::5", "localhost", SMFIR_REPLYCODE)
t.expect_session("2001:db8:6::5")
session("IPv6 bad HELO, same /64", "2001:db8:6::6", "localhost", SMFIR_REPLYCODE)
t.expect_session("2001:db8:6::6")
session("IPv6 bad HELO again", "2001:db8:6::5", "localhost", SMFIR_REPLYCODE)
t.expect_session("2001:db8:6::5")

-- A good name (no PTR: baddns, weight 5, below the threshold).
session("IPv6 with a good HELO", "2001:db8:7::5", "client.example.net", SMFIR_CONTINUE)
t.expect_session("2001:db8:7::5")
-- The long and the compressed spelling of one address are one client.
session("IPv6 written out in full", "2001:0db8:0007:0000:0000:0000:0000:0005", "localhost", SMFIR_REPLYCODE)
t.expect_session("2001:db8:7::5")

-- Address literals: the client's own is fine, another one is not.
session("IPv6 literal of the client", "2001:db8:8::5", "[IPv6:2001:db8:8::5]", SMFIR_CONTINUE)
t.expect_session("2001:db8:8::5")
session("IPv6 literal of another host", "2001:db8:8::6", "[IPv6:2001:db8:8::99]", SMFIR_REPLYCODE)
t.expect_session("2001:db8:8::6")
session("HELO with our own IPv6 address literal", "2001:db8:8::7", "[IPv6:2001:db8:1::1]", SMFIR_REPLYCODE)
t.expect_session("2001:db8:8::7")

-- IPv4-mapped: 192.0.2.62 is listed in bl.example; it is rejected and
-- tallied as the IPv4 address.
session("IPv4-mapped IPv6 of a listed client", "::ffff:192.0.2.62", "client.example.net", SMFIR_REPLYCODE,
        "client62.example.net")
t.expect_session("192.0.2.62")

-- Loopback and link-local clients are classified and break nothing. The test
-- DNS refuses the link-local reverse zone: a temporary failure, so a 4xx
-- (milter_replies.py checks the code), never a 5xx.
session("IPv6 loopback client", "::1", "localhost", SMFIR_REPLYCODE)
t.expect_session("::1")
session("IPv6 link-local client, reverse lookup refused", "fe80::1", "client.example.net", SMFIR_REPLYCODE)
t.expect_session("fe80::1")

t.done("ipv6")
