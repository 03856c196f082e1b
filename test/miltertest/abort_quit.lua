-- Abort (RSET) and quit at every stage, and connections that end without
-- QUIT (the MTA or the network dropped them) at every stage. Each connection
-- that got as far as CONNECT must end in exactly one session line (the runner
-- counts them: the session was closed and freed, once); the milter keeps
-- serving, which the last, normal session shows.
local t = dofile(dir .. "/common.lua")

-- The steps, in order; reach(conn, n) performs the first n of them.
-- (DATA settles an accepted message: there is no end of message to reach.)
local stages = {"negotiate", "connect", "helo", "mail", "rcpt", "data"}

local function reach(conn, n, addr)
    local steps = {
        function() t.negotiate(conn, 6, t.POSTFIX_V6, t.ACTIONS_ALL) end,
        function()
            t.connect_macros(conn, addr, "[" .. addr .. "]")
            t.step(conn, SMFIR_CONTINUE, "connect", mt.conninfo, conn, "[" .. addr .. "]", addr)
        end,
        function() t.step(conn, SMFIR_CONTINUE, "helo", mt.helo, conn, "client.example.net") end,
        function() t.step(conn, SMFIR_CONTINUE, "mail", mt.mailfrom, conn, "<sender@example.net>") end,
        function() t.step(conn, SMFIR_CONTINUE, "rcpt", mt.rcptto, conn, "<user@example.org>") end,
        function() t.accepted_data(conn) end,
    }
    for i = 1, n do steps[i]() end
end

local endings = {
    {"abort, then quit", function(conn)
        t.ok(mt.abort(conn), "abort")
        t.ok(mt.disconnect(conn), "quit")
    end},
    {"quit", function(conn) t.ok(mt.disconnect(conn), "quit") end},
    {"connection closed without quit", function(conn) t.ok(mt.disconnect(conn, false), "close") end},
}

local host = 100
for n = 1, #stages do
    for _, ending in ipairs(endings) do
        local addr = "192.0.2." .. host
        host = host + 1
        local conn = t.connect()
        reach(conn, n, addr)
        ending[2](conn)
        if n >= 2 then t.expect_session(addr) end
        t.pass(ending[1] .. " after " .. stages[n])
    end
end

-- Abort in the middle of a transaction, then carry on on the same connection.
for n = 4, 6 do
    local addr = "192.0.2." .. host
    host = host + 1
    local conn = t.connect()
    reach(conn, n, addr)
    t.ok(mt.abort(conn), "abort after " .. stages[n])
    t.step(conn, SMFIR_CONTINUE, "mail after abort", mt.mailfrom, conn, "<sender@example.net>")
    t.step(conn, SMFIR_CONTINUE, "rcpt after abort", mt.rcptto, conn, "<user@example.org>")
    t.accepted_data(conn, "data after abort")
    mt.disconnect(conn)
    t.expect_session(addr)
    t.pass("abort after " .. stages[n] .. ", then a whole message")
end

-- A rejected session that simply vanishes after its reject.
do
    local addr = "192.0.2." .. host
    host = host + 1
    local conn = t.open(addr)
    local r = t.envelope(conn, "localhost", "user@example.org")
    if r ~= SMFIR_REPLYCODE then t.fail("bad HELO: rcpt gave " .. t.reply_name(r)) end
    mt.disconnect(conn, false)
    t.expect_session(addr)
    t.pass("connection closed without quit right after a reject")
end

-- Still serving.
do
    local conn = t.open("192.0.2.29", "client29.example.net")
    local r = t.envelope(conn, "client.example.net", "user@example.org")
    if r ~= SMFIR_CONTINUE then t.fail("after the aborts: rcpt gave " .. t.reply_name(r)) end
    t.accepted_data(conn)
    mt.disconnect(conn)
    t.expect_session("192.0.2.29")
    t.pass("the milter still serves normally")
end

t.done("abort_quit")
