-- Shared helpers of smtpwall's miltertest suites, loaded by each suite with
--   dofile(dir .. "/common.lua")
-- Globals set by the runner (test/integration/miltertest_test.sh) with -D:
--   sock   the milter's unix socket
--   dir    this directory
--
-- miltertest does not show the text of a Lua error(), so every failure is
-- printed first. Replies are asserted exactly with mt.getreply(): a reply the
-- milter set with smfi_setreply() comes back as SMFIR_REPLYCODE; its text is
-- not exposed by miltertest before end-of-message (the runner checks the exact
-- texts with milter_replies.py).
--
-- mt.negotiate() takes (conn, version, protocol steps, actions) in this
-- miltertest (1.6.0), whatever miltertest(8) says: t.negotiate() below names
-- them.

local t = {}

-- What the MTAs offer (Postfix milter8.c, Sendmail 8.17 / libmilter mfdef.h).
t.ACTIONS_ALL = 0x1FF               -- SMFIF_ADDHDRS .. SMFIF_SETSYMLIST
t.POSTFIX_V2 = 0x7F                 -- NOCONNECT..NOEOH
t.POSTFIX_V3 = 0x17F                -- + NOUNKNOWN
t.POSTFIX_V4 = 0x37F                -- + NODATA
t.POSTFIX_V6 = 0x1FFFFF             -- + SKIP, RCPT_REJ, NR_*, HDR_LEADSPC
t.SENDMAIL = 0x1FFFFF               -- SMFI_CURR_PROT
t.SMFIP_MDS_256K = 0x10000000

local names = {}
for _, n in ipairs({"SMFIR_CONTINUE", "SMFIR_ACCEPT", "SMFIR_REJECT", "SMFIR_TEMPFAIL",
                    "SMFIR_DISCARD", "SMFIR_REPLYCODE", "SMFIR_SKIP"}) do
    if _G[n] ~= nil then names[_G[n]] = n end
end

function t.reply_name(r)
    if r == nil then return "nil" end
    if names[r] then return names[r] end
    if r == 0 then return "none" end
    return string.format("'%s' (%d)", string.char(math.floor(r)), math.floor(r))
end

function t.fail(msg)
    print("FAIL: " .. msg)
    io.stdout:flush()
    error(msg)
end

function t.ok(err, what)
    if err ~= nil then t.fail(what .. ": " .. tostring(err)) end
end

function t.expect(conn, want, what)
    local got = mt.getreply(conn)
    if got ~= want then
        t.fail(what .. ": expected " .. t.reply_name(want) .. ", got " .. t.reply_name(got))
    end
end

-- One step and its exact reply: t.step(conn, SMFIR_CONTINUE, "helo", mt.helo, conn, "x")
function t.step(conn, want, what, fn, ...)
    t.ok(fn(...), what)
    t.expect(conn, want, what)
end

function t.connect()
    local conn = mt.connect("unix:" .. sock, 40, 0.05)
    if conn == nil then t.fail("mt.connect(" .. sock .. ") failed") end
    return conn
end

-- Negotiates explicitly (so miltertest knows the steps the milter skips).
function t.negotiate(conn, version, steps, actions)
    t.ok(mt.negotiate(conn, version, steps, actions), "negotiate")
end

-- The macros smtpwall asks for at connect, as an MTA would send them.
function t.connect_macros(conn, addr, name)
    t.ok(mt.macro(conn, SMFIC_CONNECT, "{client_addr}", addr, "{client_name}", name,
                  "{client_ptr}", name, "{client_resolve}", "OK",
                  "{daemon_addr}", "192.0.2.1", "j", "mx.smtpwall.test"), "connect macros")
end

-- A new connection up to and including CONNECT, negotiated like Postfix 6.
function t.open(addr, name)
    local conn = t.connect()
    t.negotiate(conn, 6, t.POSTFIX_V6, t.ACTIONS_ALL)
    t.connect_macros(conn, addr, name or ("[" .. addr .. "]"))
    t.step(conn, SMFIR_CONTINUE, "connect " .. addr, mt.conninfo, conn, name or ("[" .. addr .. "]"), addr)
    return conn
end

-- The usual envelope up to RCPT, each reply asserted; returns the RCPT reply.
function t.envelope(conn, helo, rcpt)
    t.step(conn, SMFIR_CONTINUE, "helo " .. helo, mt.helo, conn, helo)
    t.step(conn, SMFIR_CONTINUE, "mail", mt.mailfrom, conn, "<sender@example.net>")
    t.ok(mt.rcptto(conn, "<" .. rcpt .. ">"), "rcpt " .. rcpt)
    return mt.getreply(conn)
end

-- DATA of a message smtpwall accepts: SMFIR_ACCEPT settles it, so the MTA sends
-- nothing more of it (Postfix and Sendmail skip end-of-message; libmilter would
-- ignore it).
function t.accepted_data(conn, what)
    t.step(conn, SMFIR_ACCEPT, what or "data", mt.data, conn)
end

-- A session that must show up as exactly one "session client=ADDR" log line
-- (the runner counts them: no leaked and no doubled sessions).
function t.expect_session(addr)
    print("expect-session " .. addr)
end

function t.pass(name)
    print("ok - " .. name)
end

function t.done(suite)
    print("PASS " .. suite)
end

return t
