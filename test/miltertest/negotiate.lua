-- Negotiation with the protocol versions and option sets the MTAs offer:
-- Postfix's milter_protocol = 2, 3, 4 and 6 (milter8.c: every action, the
-- events of that version), Sendmail 8.17 (SMFI_CURR_ACTS / SMFI_CURR_PROT, also
-- with a larger MilterMaxDataSize), an MTA that offers no actions, one that
-- offers no steps, and a version libmilter refuses. After each negotiation a
-- whole session must work and be judged the same way.
local t = dofile(dir .. "/common.lua")

local function want_option(conn, name, want, label)
    local got = mt.test_option(conn, _G[name])
    if got ~= want then
        t.fail(label .. ": " .. name .. " requested=" .. tostring(got) .. ", expected " .. tostring(want))
    end
end

local function want_action(conn, name, want, label)
    local got = mt.test_action(conn, _G[name])
    if got ~= want then
        t.fail(label .. ": " .. name .. " requested=" .. tostring(got) .. ", expected " .. tostring(want))
    end
end

-- One bad-HELO session after negotiating as (version, steps, actions).
local function session(label, version, steps, actions, addr)
    local conn = t.connect()
    t.negotiate(conn, version, steps, actions)
    t.expect(conn, string.byte("O"), label .. ": negotiation reply")
    -- We never modify messages: no SMFIF_* beyond asking for macros.
    for _, a in ipairs({"SMFIF_ADDHDRS", "SMFIF_CHGBODY", "SMFIF_ADDRCPT", "SMFIF_DELRCPT",
                        "SMFIF_CHGHDRS", "SMFIF_QUARANTINE", "SMFIF_CHGFROM"}) do
        want_action(conn, a, false, label)
    end
    want_action(conn, "SMFIF_SETSYMLIST", (actions & SMFIF_SETSYMLIST) ~= 0, label)
    -- What we never look at is skipped when offered; what we need is never skipped.
    want_option(conn, "SMFIP_NOHDRS", true, label)  -- libmilter: no header callback
    want_option(conn, "SMFIP_NOBODY", true, label)  -- libmilter: no body callback
    want_option(conn, "SMFIP_NOEOH", (steps & SMFIP_NOEOH) ~= 0, label)
    want_option(conn, "SMFIP_NOUNKNOWN", (steps & SMFIP_NOUNKNOWN) ~= 0, label)
    want_option(conn, "SMFIP_RCPT_REJ", (steps & SMFIP_RCPT_REJ) ~= 0, label)
    -- Stages where smtpwall only gathers facts get no reply, where the MTA can do that
    -- (libmilter answers for an MTA that cannot).
    for _, o in ipairs({"SMFIP_NR_HELO", "SMFIP_NR_MAIL"}) do
        want_option(conn, o, (steps & _G[o]) ~= 0, label)
    end
    for _, o in ipairs({"SMFIP_NOCONNECT", "SMFIP_NOHELO", "SMFIP_NOMAIL", "SMFIP_NORCPT",
                        "SMFIP_NODATA", "SMFIP_NR_CONN", "SMFIP_NR_RCPT", "SMFIP_NR_DATA",
                        "SMFIP_NR_HDR"}) do
        want_option(conn, o, false, label)
    end

    t.connect_macros(conn, addr, "[" .. addr .. "]")
    t.step(conn, SMFIR_CONTINUE, label .. ": connect", mt.conninfo, conn, "[" .. addr .. "]", addr)
    t.step(conn, SMFIR_CONTINUE, label .. ": helo", mt.helo, conn, "localhost")
    t.step(conn, SMFIR_CONTINUE, label .. ": mail", mt.mailfrom, conn, "<sender@example.net>")
    t.step(conn, SMFIR_REPLYCODE, label .. ": rcpt after a bad HELO", mt.rcptto, conn, "<user@example.org>")
    t.step(conn, SMFIR_CONTINUE, label .. ": postmaster", mt.rcptto, conn, "<postmaster@example.org>")
    -- DATA settles the message: the MTA sends nothing more of it. (miltertest sends
    -- DATA whatever the version; Postfix before milter_protocol 4 ends the message
    -- at end of message instead, where it is counted the same way.)
    t.accepted_data(conn, label .. ": data")
    if not mt.test_option(conn, SMFIP_NOUNKNOWN) then
        t.step(conn, SMFIR_CONTINUE, label .. ": unknown command", mt.unknown, conn, "XYZZY")
    end
    mt.disconnect(conn)
    t.expect_session(addr)
    t.pass(label)
end

session("postfix milter_protocol=2", 2, t.POSTFIX_V2, t.ACTIONS_ALL, "192.0.2.70")
session("postfix milter_protocol=3", 3, t.POSTFIX_V3, t.ACTIONS_ALL, "192.0.2.71")
session("postfix milter_protocol=4", 4, t.POSTFIX_V4, t.ACTIONS_ALL, "192.0.2.72")
session("postfix milter_protocol=6", 6, t.POSTFIX_V6, t.ACTIONS_ALL, "192.0.2.73")
session("sendmail 8.17", 6, t.SENDMAIL, t.ACTIONS_ALL, "192.0.2.74")
session("sendmail 8.17, MilterMaxDataSize 256K", 6, t.SENDMAIL | t.SMFIP_MDS_256K, t.ACTIONS_ALL, "192.0.2.75")
session("an MTA offering no actions (no macro lists)", 6, t.POSTFIX_V6, 0, "192.0.2.76")
session("an MTA offering no steps to skip", 6, 0, t.ACTIONS_ALL, "192.0.2.77")

-- Protocol version 1 is older than libmilter supports: the milter hangs up,
-- and keeps serving everybody else.
do
    local conn = t.connect()
    local err = mt.negotiate(conn, 1, t.POSTFIX_V2, t.ACTIONS_ALL)
    if err == nil and mt.getreply(conn) == string.byte("O") then
        t.fail("protocol version 1 was accepted")
    end
    mt.disconnect(conn, false)
    t.pass("protocol version 1 refused")
end
session("after a refused negotiation", 6, t.POSTFIX_V6, t.ACTIONS_ALL, "192.0.2.78")

t.done("negotiate")
