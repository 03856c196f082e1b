-- Missing, empty and unexpected macros. An MTA may send none of the macros
-- smtpwall asks for (an MTA without SMFIF_SETSYMLIST, a stripped-down
-- milter_*_macros), empty ones, garbage, names nobody asked for, or the ones
-- of a later stage early. The verdicts must stay the same and nothing may
-- break. The runner checks the tallies this leaves behind.
local t = dofile(dir .. "/common.lua")

local function bad_helo_session(label, addr, macros_fn, want_rcpt, logged_as)
    local conn = t.connect()
    t.negotiate(conn, 6, t.POSTFIX_V6, t.ACTIONS_ALL)
    if macros_fn then macros_fn(conn) end
    t.step(conn, SMFIR_CONTINUE, label .. ": connect", mt.conninfo, conn, "[" .. addr .. "]", addr)
    t.step(conn, SMFIR_CONTINUE, label .. ": helo", mt.helo, conn, "localhost")
    t.step(conn, SMFIR_CONTINUE, label .. ": mail", mt.mailfrom, conn, "<sender@example.net>")
    t.step(conn, want_rcpt or SMFIR_REPLYCODE, label .. ": rcpt", mt.rcptto, conn, "<user@example.org>")
    t.step(conn, SMFIR_CONTINUE, label .. ": postmaster", mt.rcptto, conn, "<postmaster@example.org>")
    mt.disconnect(conn)
    t.expect_session(logged_as or addr)
    t.pass(label)
end

bad_helo_session("no macros at all", "192.0.2.40", nil)

bad_helo_session("empty macros", "192.0.2.41", function(conn)
    t.ok(mt.macro(conn, SMFIC_CONNECT, "{client_addr}", "", "{client_name}", "", "{client_ptr}", "",
                  "{client_resolve}", "", "{daemon_addr}", "", "j", ""), "macros")
    t.ok(mt.macro(conn, SMFIC_MAIL, "{auth_authen}", "", "i", ""), "macros")
    t.ok(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "", "{rcpt_host}", "", "{rcpt_addr}", ""), "macros")
end)

bad_helo_session("garbage in macros", "192.0.2.42", function(conn)
    t.ok(mt.macro(conn, SMFIC_CONNECT, "{client_addr}", "not an address", "{client_name}", "\1\2\3",
                  "{client_resolve}", "MAYBE", "{daemon_addr}", "999.1.2.3", "j", "..."), "macros")
end)

-- A {client_addr} that contradicts the connection: the connection wins.
bad_helo_session("a {client_addr} that is not the client", "192.0.2.43", function(conn)
    t.ok(mt.macro(conn, SMFIC_CONNECT, "{client_addr}", "203.0.113.9", "{daemon_addr}", "192.0.2.1"), "macros")
end)

bad_helo_session("unexpected macros, long values, a later stage's macros early", "192.0.2.44", function(conn)
    t.ok(mt.macro(conn, SMFIC_CONNECT, "{nobody_asked}", "x", "{tls_version}", "TLSv1.3",
                  "_", "client.example.net [192.0.2.44] (may be forged)", "{long}", string.rep("x", 800)), "macros")
    t.ok(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "error", "{rcpt_host}", "5.1.1",
                  "{rcpt_addr}", "550 5.1.1 early"), "macros")
    t.ok(mt.macro(conn, SMFIC_MAIL, "{auth_type}", "PLAIN", "{mail_addr}", "sender@example.net"), "macros")
end)

-- Our own name or address given by the MTA's macros: a client greeting us with
-- them is lying, and an empty one changes nothing.
do
    local conn = t.connect()
    t.negotiate(conn, 6, t.POSTFIX_V6, t.ACTIONS_ALL)
    t.ok(mt.macro(conn, SMFIC_CONNECT, "j", "mx.smtpwall.test", "{daemon_addr}", "192.0.2.1"), "macros")
    t.step(conn, SMFIR_CONTINUE, "connect", mt.conninfo, conn, "client20.example.net", "192.0.2.20")
    t.step(conn, SMFIR_CONTINUE, "helo with our name", mt.helo, conn, "mx.smtpwall.test")
    t.step(conn, SMFIR_CONTINUE, "mail", mt.mailfrom, conn, "<sender@example.net>")
    t.step(conn, SMFIR_REPLYCODE, "rcpt after our own name as HELO", mt.rcptto, conn, "<user@example.org>")
    mt.disconnect(conn)
    t.expect_session("192.0.2.20")
    t.pass("HELO with the name the MTA gave in {j}")
end

-- The client address only in {client_addr}: the connection info carried no
-- address (family unknown), so the macro is used.
bad_helo_session("address from {client_addr} when conninfo has none", "unspec", function(conn)
    t.ok(mt.macro(conn, SMFIC_CONNECT, "{client_addr}", "192.0.2.45"), "macros")
end, SMFIR_REPLYCODE, "192.0.2.45")
-- No address anywhere: judged on what there is, tallied nowhere.
bad_helo_session("no client address at all", "unspec", nil, SMFIR_REPLYCODE, "unknown")

-- An authenticated client ({auth_authen} at MAIL) is never rejected; an
-- empty {auth_authen} is no authentication.
do
    local conn = t.open("192.0.2.46", "client46.example.net")
    t.step(conn, SMFIR_CONTINUE, "helo", mt.helo, conn, "localhost")
    t.ok(mt.macro(conn, SMFIC_MAIL, "{auth_authen}", "alice", "{auth_type}", "PLAIN"), "macros")
    t.step(conn, SMFIR_CONTINUE, "mail", mt.mailfrom, conn, "<alice@example.net>")
    -- Exempt: the first recipient settles the message (ACCEPT, nothing more of it follows).
    t.step(conn, SMFIR_ACCEPT, "authenticated rcpt after a bad HELO", mt.rcptto, conn, "<user@example.org>")
    t.ok(mt.macro(conn, SMFIC_MAIL, "{auth_authen}", "alice", "{auth_type}", "PLAIN"), "macros")
    t.step(conn, SMFIR_CONTINUE, "next mail", mt.mailfrom, conn, "<alice@example.net>")
    t.step(conn, SMFIR_ACCEPT, "authenticated rcpt to a spamtrap", mt.rcptto, conn, "<trap@example.org>")
    mt.disconnect(conn)
    t.expect_session("192.0.2.46")
    t.pass("{auth_authen} set: never rejected")
end
bad_helo_session("{auth_authen} empty: no authentication", "192.0.2.47", function(conn)
    t.ok(mt.macro(conn, SMFIC_MAIL, "{auth_authen}", ""), "macros")
end)

-- {rcpt_mailer}=error (SMFIP_RCPT_REJ) with missing or odd companions: taken
-- without a verdict; only permanent rejections count (the runner checks that
-- 192.0.2.48 has badrcpt:2 — the Postfix and the Sendmail forms).
do
    local conn = t.open("192.0.2.48", "client48.example.net")
    t.step(conn, SMFIR_CONTINUE, "helo", mt.helo, conn, "client.example.net")
    t.step(conn, SMFIR_CONTINUE, "mail", mt.mailfrom, conn, "<sender@example.net>")
    local cases = {
        {"error alone", {"{rcpt_mailer}", "error"}},
        {"error, empty host and addr", {"{rcpt_mailer}", "error", "{rcpt_host}", "", "{rcpt_addr}", ""}},
        {"error, temporary (Postfix)", {"{rcpt_mailer}", "error", "{rcpt_host}", "4.2.0", "{rcpt_addr}", "greylisted"}},
        {"error, temporary (Sendmail)", {"{rcpt_mailer}", "error", "{rcpt_addr}", "451 4.3.0 try later"}},
        {"error, garbage", {"{rcpt_mailer}", "error", "{rcpt_host}", "x.y", "{rcpt_addr}", "55"}},
        {"error, permanent (Postfix)", {"{rcpt_mailer}", "error", "{rcpt_host}", "5.1.1",
                                        "{rcpt_addr}", "Recipient address rejected: User unknown"}},
        {"error, permanent (Sendmail)", {"{rcpt_mailer}", "error", "{rcpt_addr}", "550 5.1.1 User unknown"}},
    }
    for i, c in ipairs(cases) do
        t.ok(mt.macro(conn, SMFIC_RCPT, table.unpack(c[2])), "macros")
        t.step(conn, SMFIR_CONTINUE, c[1], mt.rcptto, conn, "<nobody" .. i .. "@example.org>")
    end
    t.ok(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "smtp"), "macros")
    t.step(conn, SMFIR_CONTINUE, "a good rcpt after them", mt.rcptto, conn, "<user@example.org>")
    mt.disconnect(conn)
    t.expect_session("192.0.2.48")
    t.pass("MTA-rejected recipients with missing, empty and odd macros")
end

t.done("macros")
