-- Every callback stage, with the exact reply at each: negotiate, connect,
-- HELO and MAIL (negotiated without a reply, SMFIP_NR_*: miltertest shows
-- CONTINUE), RCPT, DATA (an accepted message is settled there with ACCEPT, so
-- no end of message follows), close. Decisions come at RCPT (never at connect
-- or HELO), exempt recipients pass, the MTA's own rejected recipients
-- (SMFIP_RCPT_REJ) are taken without a verdict, and a message that reached a
-- spamtrap is refused at DATA.
local t = dofile(dir .. "/common.lua")

-- A clean client (confirmed PTR, good HELO): CONTINUE everywhere.
do
    local conn = t.connect()
    t.negotiate(conn, 6, t.POSTFIX_V6, t.ACTIONS_ALL)
    t.expect(conn, string.byte("O"), "negotiate")
    t.connect_macros(conn, "192.0.2.20", "client20.example.net")
    t.step(conn, SMFIR_CONTINUE, "connect", mt.conninfo, conn, "client20.example.net", "192.0.2.20")
    t.step(conn, SMFIR_CONTINUE, "helo", mt.helo, conn, "client.example.net")
    t.ok(mt.macro(conn, SMFIC_MAIL, "i", "4XyZ1q2w3e", "{auth_authen}", ""), "mail macros")
    t.step(conn, SMFIR_CONTINUE, "mail", mt.mailfrom, conn, "<sender@example.net>", "SIZE=100", "BODY=8BITMIME")
    t.ok(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "smtp", "{rcpt_host}", "example.org",
                  "{rcpt_addr}", "user@example.org"), "rcpt macros")
    t.step(conn, SMFIR_CONTINUE, "rcpt", mt.rcptto, conn, "<user@example.org>", "NOTIFY=NEVER")
    t.step(conn, SMFIR_CONTINUE, "second rcpt", mt.rcptto, conn, "<other@example.org>")
    -- Settled at DATA: nothing of the message follows, so nothing can be modified
    -- (no modifying action is negotiated either: negotiate.lua).
    t.accepted_data(conn, "data")
    t.ok(mt.disconnect(conn), "quit")
    t.expect_session("192.0.2.20")
    t.pass("clean client: CONTINUE up to RCPT, ACCEPT at DATA")
end

-- Bad HELO: nothing at connect or HELO, the reject comes at RCPT; postmaster passes.
do
    local conn = t.open("192.0.2.21", "client21.example.net")
    t.step(conn, SMFIR_CONTINUE, "helo localhost", mt.helo, conn, "localhost")
    t.step(conn, SMFIR_CONTINUE, "mail", mt.mailfrom, conn, "<sender@example.net>")
    t.step(conn, SMFIR_REPLYCODE, "rcpt after bad HELO", mt.rcptto, conn, "<user@example.org>")
    t.step(conn, SMFIR_REPLYCODE, "second rcpt after bad HELO", mt.rcptto, conn, "<other@example.org>")
    t.step(conn, SMFIR_CONTINUE, "postmaster", mt.rcptto, conn, "<postmaster@example.org>")
    t.step(conn, SMFIR_CONTINUE, "abuse", mt.rcptto, conn, "<Abuse@Example.ORG>")
    t.accepted_data(conn, "data (postmaster's message)")
    mt.disconnect(conn)
    t.expect_session("192.0.2.21")
    t.pass("bad HELO: REPLYCODE at RCPT only, postmaster and abuse pass")
end

-- A DNSBL-listed client: REPLYCODE at RCPT.
do
    local conn = t.open("192.0.2.62", "client62.example.net")
    local r = t.envelope(conn, "client.example.net", "user@example.org")
    if r ~= SMFIR_REPLYCODE then t.fail("listed client: rcpt gave " .. t.reply_name(r)) end
    mt.disconnect(conn)
    t.expect_session("192.0.2.62")
    t.pass("DNSBL-listed client: REPLYCODE at RCPT")
end

-- Recipients the MTA rejected itself (SMFIP_RCPT_REJ): no verdict of ours,
-- CONTINUE, and the session goes on.
do
    local conn = t.open("192.0.2.31", "client31.example.net")
    t.step(conn, SMFIR_CONTINUE, "helo", mt.helo, conn, "client.example.net")
    t.step(conn, SMFIR_CONTINUE, "mail", mt.mailfrom, conn, "<sender@example.net>")
    -- Postfix: code in {rcpt_host}, text in {rcpt_addr}
    t.ok(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "error", "{rcpt_host}", "5.1.1",
                  "{rcpt_addr}", "<nobody@example.org>: Recipient address rejected: User unknown"), "macros")
    t.step(conn, SMFIR_CONTINUE, "MTA-rejected rcpt (Postfix)", mt.rcptto, conn, "<nobody@example.org>")
    -- Sendmail: the whole reply in {rcpt_addr}
    t.ok(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "error", "{rcpt_host}", "5.1.1",
                  "{rcpt_addr}", "550 5.1.1 User unknown"), "macros")
    t.step(conn, SMFIR_CONTINUE, "MTA-rejected rcpt (Sendmail)", mt.rcptto, conn, "<nobody2@example.org>")
    t.ok(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "smtp", "{rcpt_host}", "example.org",
                  "{rcpt_addr}", "user@example.org"), "macros")
    t.step(conn, SMFIR_CONTINUE, "a good rcpt after them", mt.rcptto, conn, "<user@example.org>")
    t.accepted_data(conn, "data")
    mt.disconnect(conn)
    t.expect_session("192.0.2.31")
    t.pass("MTA-rejected recipients: CONTINUE, counted, session goes on")
end

-- A spamtrap next to a real recipient: the trap is refused at RCPT, the
-- real recipient after it too, and the message itself at DATA.
do
    local conn = t.open("192.0.2.32", "client32.example.net")
    t.step(conn, SMFIR_CONTINUE, "helo", mt.helo, conn, "client.example.net")
    t.step(conn, SMFIR_CONTINUE, "mail", mt.mailfrom, conn, "<sender@example.net>")
    t.step(conn, SMFIR_CONTINUE, "real rcpt before the trap", mt.rcptto, conn, "<user@example.org>")
    t.step(conn, SMFIR_REPLYCODE, "spamtrap", mt.rcptto, conn, "<trap@example.org>")
    t.step(conn, SMFIR_REPLYCODE, "real rcpt after the trap", mt.rcptto, conn, "<other@example.org>")
    t.step(conn, SMFIR_REPLYCODE, "data of a message that reached a trap", mt.data, conn)
    mt.disconnect(conn)
    t.expect_session("192.0.2.32")
    t.pass("spamtrap: REPLYCODE at RCPT and at DATA")
end

t.done("stages")
