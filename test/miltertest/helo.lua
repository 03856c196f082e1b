-- HELO strings that are not host names: control bytes, 8-bit bytes, 1,000+
-- characters, empty, address literals, and a client that greets twice. Every
-- one is judged (REPLYCODE at RCPT, CONTINUE before), none breaks the milter.
-- (miltertest copies a HELO into a 1,024-byte buffer: 1,020 characters is
-- its limit; milter_replies.py sends longer ones.)
local t = dofile(dir .. "/common.lua")

local function helo_case(label, addr, helo, want)
    local conn = t.open(addr)
    local r = t.envelope(conn, helo, "user@example.org")
    if r ~= want then
        t.fail(label .. ": rcpt gave " .. t.reply_name(r) .. ", expected " .. t.reply_name(want))
    end
    t.step(conn, SMFIR_CONTINUE, label .. ": postmaster", mt.rcptto, conn, "<postmaster@example.org>")
    mt.disconnect(conn)
    t.expect_session(addr)
    t.pass(label)
end

local labels63 = string.rep(string.rep("a", 63) .. ".", 15) .. "example.net"  -- 971 + 11 characters
local cases = {
    {"control byte \\001", "bad\1host.example.net", SMFIR_REPLYCODE},
    {"tab", "bad\thost.example.net", SMFIR_REPLYCODE},
    {"CR LF inside", "bad.example.net\r\nRCPT TO:<x@example.org>", SMFIR_REPLYCODE},
    {"DEL", "bad\127host.example.net", SMFIR_REPLYCODE},
    {"8-bit UTF-8", "h\195\169llo.example.net", SMFIR_REPLYCODE},
    {"8-bit Latin-1", "h\233llo.example.net", SMFIR_REPLYCODE},
    {"8-bit high bytes only", "\255\254\253", SMFIR_REPLYCODE},
    {"1,020 characters in one label", string.rep("x", 1008) .. ".example.net", SMFIR_REPLYCODE},
    {"982 characters in 63-byte labels (over 255)", labels63, SMFIR_REPLYCODE},
    {"1,020 characters of dots", string.rep(".", 1020), SMFIR_REPLYCODE},
    {"empty", "", SMFIR_REPLYCODE},
    {"spaces", "   ", SMFIR_REPLYCODE},
    {"bare IP", "192.0.2.50", SMFIR_REPLYCODE},
    {"address literal of another host", "[198.51.100.1]", SMFIR_REPLYCODE},
    {"localhost", "localhost", SMFIR_REPLYCODE},
    {"not a FQDN", "client", SMFIR_REPLYCODE},
    {"a good name", "client.example.net", SMFIR_CONTINUE},
}
for i, c in ipairs(cases) do
    helo_case("HELO " .. c[1], "192.0.2." .. (129 + i), c[2], c[3])
end

-- The client's own address literal is a valid greeting (no PTR here: baddns,
-- weight 5, below the threshold).
helo_case("HELO with the client's own address literal", "192.0.2.160", "[192.0.2.160]", SMFIR_CONTINUE)

-- Greeting twice (EHLO again after STARTTLS): the latest greeting counts.
do
    local conn = t.open("192.0.2.161")
    t.step(conn, SMFIR_CONTINUE, "bad helo", mt.helo, conn, "localhost")
    t.step(conn, SMFIR_CONTINUE, "good helo", mt.helo, conn, "client.example.net")
    t.step(conn, SMFIR_CONTINUE, "mail", mt.mailfrom, conn, "<sender@example.net>")
    t.step(conn, SMFIR_CONTINUE, "rcpt after a corrected HELO", mt.rcptto, conn, "<user@example.org>")
    mt.disconnect(conn)
    t.expect_session("192.0.2.161")
    t.pass("HELO twice: bad, then good")
end
do
    local conn = t.open("192.0.2.162")
    t.step(conn, SMFIR_CONTINUE, "good helo", mt.helo, conn, "client.example.net")
    t.step(conn, SMFIR_CONTINUE, "bad helo", mt.helo, conn, "bad\1host")
    t.step(conn, SMFIR_CONTINUE, "mail", mt.mailfrom, conn, "<sender@example.net>")
    t.step(conn, SMFIR_REPLYCODE, "rcpt after a spoiled HELO", mt.rcptto, conn, "<user@example.org>")
    mt.disconnect(conn)
    t.expect_session("192.0.2.162")
    t.pass("HELO twice: good, then bad")
end

-- (No HELO at all cannot be scripted here: miltertest sends a HELO of its own
-- before MAIL. milter_replies.py covers it.)

t.done("helo")
