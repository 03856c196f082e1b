-- Several messages on one connection (a second MAIL FROM after end of
-- message, RSET as SMFIC_ABORT, MAIL FROM again), and state that must or must
-- not carry over: within a connection a spamtrap hit condemns the rest of the
-- session; a new connection starts clean; a client banned by that hit is
-- refused as banned on its next connection.
local t = dofile(dir .. "/common.lua")

-- Clean client, four transactions on one connection.
do
    local conn = t.open("192.0.2.24", "client24.example.net")
    t.step(conn, SMFIR_CONTINUE, "helo", mt.helo, conn, "client.example.net")
    for i = 1, 2 do
        t.ok(mt.macro(conn, SMFIC_MAIL, "i", "Q" .. i), "mail macros")
        t.step(conn, SMFIR_CONTINUE, "mail " .. i, mt.mailfrom, conn, "<sender" .. i .. "@example.net>")
        t.step(conn, SMFIR_CONTINUE, "rcpt " .. i, mt.rcptto, conn, "<user@example.org>")
        t.step(conn, SMFIR_CONTINUE, "second rcpt " .. i, mt.rcptto, conn, "<other@example.org>")
        t.accepted_data(conn, "data " .. i)
    end
    -- RSET after MAIL and RCPT, then a new transaction
    t.step(conn, SMFIR_CONTINUE, "mail 3", mt.mailfrom, conn, "<sender3@example.net>")
    t.step(conn, SMFIR_CONTINUE, "rcpt 3", mt.rcptto, conn, "<user@example.org>")
    t.ok(mt.abort(conn), "RSET")
    t.step(conn, SMFIR_CONTINUE, "mail 4 after RSET", mt.mailfrom, conn, "<sender4@example.net>")
    t.step(conn, SMFIR_CONTINUE, "rcpt 4", mt.rcptto, conn, "<user@example.org>")
    t.accepted_data(conn, "data 4")
    -- RSET right after end of message, and a HELO again (as after STARTTLS)
    t.ok(mt.abort(conn), "RSET after eom")
    t.step(conn, SMFIR_CONTINUE, "helo again", mt.helo, conn, "client.example.net")
    t.step(conn, SMFIR_CONTINUE, "mail 5", mt.mailfrom, conn, "<sender5@example.net>")
    t.step(conn, SMFIR_CONTINUE, "rcpt 5", mt.rcptto, conn, "<user@example.org>")
    t.accepted_data(conn, "data 5")
    mt.disconnect(conn)
    t.expect_session("192.0.2.24")
    t.pass("one connection, several messages, RSET between them")
end

-- A session condemned by a spamtrap in its first message.
do
    local conn = t.open("192.0.2.25", "client25.example.net")
    t.step(conn, SMFIR_CONTINUE, "helo", mt.helo, conn, "client.example.net")
    t.step(conn, SMFIR_CONTINUE, "mail 1", mt.mailfrom, conn, "<sender@example.net>")
    t.step(conn, SMFIR_CONTINUE, "rcpt 1", mt.rcptto, conn, "<user@example.org>")
    t.step(conn, SMFIR_REPLYCODE, "spamtrap", mt.rcptto, conn, "<trap@example.org>")
    t.step(conn, SMFIR_REPLYCODE, "data 1", mt.data, conn)
    t.ok(mt.abort(conn), "RSET after the refused DATA")
    t.step(conn, SMFIR_CONTINUE, "mail 2", mt.mailfrom, conn, "<sender@example.net>")
    t.step(conn, SMFIR_REPLYCODE, "rcpt 2 in the condemned session", mt.rcptto, conn, "<user@example.org>")
    t.step(conn, SMFIR_CONTINUE, "postmaster in the condemned session", mt.rcptto, conn, "<postmaster@example.org>")
    t.accepted_data(conn, "data 2 (postmaster only, no trap in this message)")
    mt.disconnect(conn)
    t.expect_session("192.0.2.25")
    t.pass("a spamtrap hit condemns the rest of its session")
end

-- Right after it, on new connections: another client is clean...
do
    local conn = t.open("192.0.2.26", "client26.example.net")
    local r = t.envelope(conn, "client.example.net", "user@example.org")
    if r ~= SMFIR_CONTINUE then t.fail("clean client after a condemned session: rcpt gave " .. t.reply_name(r)) end
    t.accepted_data(conn, "data")
    mt.disconnect(conn)
    t.expect_session("192.0.2.26")
    t.pass("a new connection after a condemned session starts clean")
end

-- ...while the condemned client was banned ("ban at first spamtrap") and is
-- refused as such, even with a perfect HELO; postmaster still passes.
do
    local conn = t.open("192.0.2.25", "client25.example.net")
    local r = t.envelope(conn, "client.example.net", "user@example.org")
    if r ~= SMFIR_REPLYCODE then t.fail("banned client: rcpt gave " .. t.reply_name(r)) end
    t.step(conn, SMFIR_CONTINUE, "postmaster from a banned client", mt.rcptto, conn, "<postmaster@example.org>")
    mt.disconnect(conn)
    t.expect_session("192.0.2.25")
    t.pass("the banned client's next connection is refused")
end

-- Two connections open at once, interleaved: one bad, one clean.
do
    local bad = t.open("192.0.2.27", "client27.example.net")
    local good = t.open("192.0.2.28", "client28.example.net")
    t.step(bad, SMFIR_CONTINUE, "bad helo", mt.helo, bad, "localhost")
    t.step(good, SMFIR_CONTINUE, "good helo", mt.helo, good, "client.example.net")
    t.step(bad, SMFIR_CONTINUE, "bad mail", mt.mailfrom, bad, "<sender@example.net>")
    t.step(good, SMFIR_CONTINUE, "good mail", mt.mailfrom, good, "<sender@example.net>")
    t.step(bad, SMFIR_REPLYCODE, "bad rcpt", mt.rcptto, bad, "<user@example.org>")
    t.step(good, SMFIR_CONTINUE, "good rcpt", mt.rcptto, good, "<user@example.org>")
    mt.disconnect(bad)
    t.accepted_data(good, "good data")
    mt.disconnect(good)
    t.expect_session("192.0.2.27")
    t.expect_session("192.0.2.28")
    t.pass("interleaved connections keep their own state")
end

t.done("messages")
