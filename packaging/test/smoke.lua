-- Smoke classification through the installed, running smtpwall-milter, the way
-- Postfix talks to it (package_test.sh runs this as user postfix):
--   miltertest -D sock=/run/smtpwall/milter.sock -s smoke.lua
-- A client greeting with "localhost" is rejected at RCPT (bad-helo, weight 10 =
-- the packaged threshold); postmaster@ is accepted all the same.

local function fail(msg)
    print("FAIL: " .. msg)
    io.stdout:flush()
    error(msg)
end
local function ok(err, what) if err ~= nil then fail(what .. ": " .. tostring(err)) end end
local function expect(conn, want, what)
    local got = mt.getreply(conn)
    if got ~= want then fail(what .. ": reply " .. tostring(got) .. ", expected " .. tostring(want)) end
end

local conn = mt.connect("unix:" .. sock, 40, 0.05)
if conn == nil then fail("cannot connect to " .. sock) end
-- Postfix 3.x: protocol version 6, every step offered, every action allowed.
ok(mt.negotiate(conn, 6, 0x1FFFFF, 0x1FF), "negotiate")
ok(mt.macro(conn, SMFIC_CONNECT, "{client_addr}", "192.0.2.7", "{client_name}", "[192.0.2.7]",
            "{client_ptr}", "[192.0.2.7]", "{client_resolve}", "FAIL",
            "{daemon_addr}", "192.0.2.1", "j", "mx.smtpwall.test"), "connect macros")
ok(mt.conninfo(conn, "[192.0.2.7]", "192.0.2.7"), "connect")
expect(conn, SMFIR_CONTINUE, "connect")
ok(mt.helo(conn, "localhost"), "helo")
expect(conn, SMFIR_CONTINUE, "helo")
ok(mt.mailfrom(conn, "<sender@example.net>"), "mail")
expect(conn, SMFIR_CONTINUE, "mail")
ok(mt.rcptto(conn, "<user@example.org>"), "rcpt")
expect(conn, SMFIR_REPLYCODE, "rcpt user@ after HELO localhost")
ok(mt.rcptto(conn, "<postmaster@example.org>"), "rcpt postmaster")
expect(conn, SMFIR_CONTINUE, "rcpt postmaster@ (always accepted)")
mt.disconnect(conn)
print("PASS smoke")
