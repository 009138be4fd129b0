-- spec/fault_spec.lua — the socket core under hostile drivers, hostile peers
-- and load (issue 16): driver values that must raise instead of crashing
-- (NaN / inf / fractions / NUL bytes), bounded queues, close deadlines, the
-- undelimited-payload flush, descriptor exhaustion and many clients.  Every
-- wait is bounded; assertions are on settled state, never on timing.
local c4emu = require "c4emu"
local S = require "support"
local T = require "tcp_support"

local REC = "fixtures/drivers/server_record"

local function rec_driver(opts)
  local d = c4emu.load(REC, opts)
  d:init()
  getfenv(2).finally(function() pcall(d.destroy, d) end)
  return d
end

-- A C4LuaTcpServer whose accepted client is CLI, recording reads; a spec
-- client connected to it.
local function tcp_pair(d)
  return T.serve(d, [[function(srv, cli)
    CLI = cli
    cli:OnRead(function(c, data) rec("read", data) end)
       :OnDisconnect(function(c, code, msg) rec("disconnect", code, msg) end)
  end]])
end

-- One test per {lua source, error pattern}: the call raises an argument
-- error with that text, and the driver keeps running.
local function each_raises(cases)
  for _, case in ipairs(cases) do
    it(case[1], function()
      local d = T.driver()
      local err = S.raised(d.eval, d, case[1])
      assert.truthy(err:find(case[2]), err)
      assert.truthy(err:find("bad argument #"), err)
      assert.equal("running", d:phase())
    end)
  end
end

describe("driver values never crash c4emu", function()
  describe("a ReadUntil matcher with an unusable count raises (and its read is cancelled)", function()
    for _, case in ipairs({
      { "true, 0/0", "is NaN" },
      { "false, 0/0", "is NaN" },
      { "true, 1/0", "is inf" },
      { "false, -1/0", "is %-inf" },
      { "false, -1", "must not be negative" },
      { "true, 1.5", "must be a whole number" },
      { "true, 'x'", "must be a number or nil, got string" },
    }) do
      it("return " .. case[1], function()
        local d = T.driver()
        local c = tcp_pair(d)
        d:eval("CLI:ReadUntil(function(buf) return " .. case[1] .. " end)")
        c:send("hello")
        d:run_until(function() return #d:unseen_errors() > 0 end, 3000)
        local errs = d:errors()
        assert.equal(1, #errs)
        assert.truthy(errs[1].message:find("ReadUntil matcher: the count %(2nd result%) " .. case[2]),
                      errs[1].message)
        assert.truthy(d:logged("matcher failed"))
        -- the emulator carries on: the client still reads with a new read
        d:eval("CLI:ReadUntil('!')")
        c:send(" world!")
        assert.equal("read hello world!", T.wait_for(d, "^read"))
      end)
    end

    it("a count past the end of the buffer takes the whole buffer", function()
      local d = T.driver()
      local c = tcp_pair(d)
      d:eval("CLI:ReadUntil(function(buf) return #buf >= 3, 1e300 end)")
      c:send("abc")
      assert.equal("read abc", T.wait_for(d, "^read"))
    end)
  end)

  describe("numbers handed to C are checked", function()
    local cases = {
      { "C4:CreateServer(0/0)", "port out of range" },
      { "C4:CreateServer(1/0)", "port out of range" },
      { "C4:CreateServer(-1/0)", "port out of range" },
      { "C4:CreateServer(80.5)", "port must be a whole number" },
      { "C4:DestroyServer(0/0)", "port out of range" },
      { "C4:PortInUse(0/0)", "port out of range" },
      { "C4:SetTimer(0/0, function() end)", "delay must be above 0" },
      { "C4:SetTimer(1/0, function() end)", "delay must be above 0" },
      { "C4:AddTimer(0/0, 'SECONDS')", "interval must be above 0" },
      { "C4:CreateTCPClient():ReadUpTo(0/0)", "must be from 1 to" },
      { "C4:CreateTCPClient():ReadAtLeast(1/0)", "must be from 1 to" },
      { "C4:CreateTCPClient():Option('keepalive', true, 0/0)", "seconds must be from 0 to 65535" },
      { "C4:CreateTCPServer():Listen('127.0.0.1', 0, 0/0)", "backlog must be from 0 to 65535" },
      { "C4:CreateTCPServer():Listen('127.0.0.1', 0/0)", "port must be a whole number" },
      { "C4:CreateTCPClient():Connect('127.0.0.1', 1.5)", "port must be a whole number" },
      { "C4:CreateTLSServer(0, '', 0/0, 0, '', 'x')", "options must be a non%-negative integer" },
    }
    each_raises(cases)

    it("ServerSend and ServerCloseClient with a NaN handle log and do nothing", function()
      local d = T.driver()
      d:eval("C4:ServerSend(0/0, 'x'); C4:ServerCloseClient(0/0); C4:ServerSend(1/0, 'x')")
      assert.truthy(d:logged("ServerSend: handle nan is not a connection")
                    or d:logged("ServerSend: handle %-?nan is not a connection"))
    end)

    it("C4EMU_MAX_PAYLOAD=-1 does not wrap to unlimited: a warning, and the default cap", function()
      local p = io.popen("C4EMU_MAX_PAYLOAD=-1 " .. S.build .. "/c4emu run --once "
                         .. S.folder("server_echo") .. " 2>&1")
      local out = p:read("*a")
      p:close()
      assert.truthy(out:find("C4EMU_MAX_PAYLOAD=%-1 is not a whole number from 1 to 1073741824; using 0"), out)
    end)
  end)

  describe("strings that become C strings refuse NUL bytes", function()
    local cases = {
      { "C4:CreateTCPClient():Connect('127.0.0.1\\0evil', 1)", "host must not contain a NUL byte" },
      { "C4:CreateTCPServer():Listen('127.0.0.1\\0x', 0)", "host must not contain a NUL byte" },
      { "C4:CreateTCPClient():Connect('127.0.0.1', 'http\\0x')", "service must not contain a NUL byte" },
      { "C4:CreateTCPClient():Option('nodelay\\0x', true)", "option name must not contain a NUL byte" },
      { "C4:CreateServer(0, '\\n', false, 'id\\0x')", "identifier must not contain a NUL byte" },
      { "C4:CreateTLSServer(0, '', 0, 0, '', 'cert.pem\\0x')", "certificate must not contain a NUL byte" },
      { "C4:ServerSend(1, 'x', '127.0.0.1\\0x')", "address must not contain a NUL byte" },
      { "C4:GetDriverConfigInfo('name\\0x')", "tag must not contain a NUL byte" },
      { "C4:Hash('SHA256\\0x', 'data')", "digest name must not contain a NUL byte" },
      { "C4:AddTimer(1, 'SECONDS\\0x')", "units must not contain a NUL byte" },
    }
    each_raises(cases)

    it("delimiters and payloads stay binary-safe (NUL allowed where it is data)", function()
      local d = rec_driver()
      local port = S.create_server(d, "CreateServer", 0, "\0")
      local c = d:connect(port)
      c:send("a\0b\0")
      local got = S.wait_events(d, 2, "data")
      assert.equal("a\0", got[1].args[2])
      assert.equal("b\0", got[2].args[2])
    end)
  end)
end)

-- The handle of the n-th connection reported ONLINE (server_record fixture).
local function handle_of(d, n)
  return S.wait_events(d, n or 1, "conn", 3, "ONLINE")[n or 1].args[1]
end

describe("bounded queues", function()
  it("a peer that never reads: the connection is reset at the send limit, OFFLINE follows, memory stays bounded", function()
    local d = rec_driver()
    d:set_send_limit(1048576)
    local port = S.create_server(d, "CreateServer", 0, "\n")
    local c = d:connect(port)
    c:pause()
    local h = handle_of(d)
    -- 64 MiB in 1 MiB sends: far more than the kernel's buffers hold
    d:eval([[local h = ... local chunk = string.rep("x", 1048576)
             for i = 1, 64 do C4:ServerSend(h, chunk) end]], h)
    S.wait_events(d, 1, "conn", 3, "OFFLINE")
    local line = d:logged("which is not reading %(send limit 1048576 bytes%): connection reset")
    assert.truthy(line)
    assert.truthy(line:find("127.0.0.1:" .. c:local_port(), 1, true), line)
    assert.equal(0, d:servers()[1].queued)
    assert.equal(0, d:servers()[1].clients)
    local _, _, queued = d:handles()
    assert.equal(0, queued["tcp-conn"] or 0)
  end)

  it("below the limit, d:servers() and d:handles() show what is queued", function()
    local d = rec_driver()
    d:set_send_limit(64 * 1048576)
    local port = S.create_server(d, "CreateServer", 0, "\n")
    local c = d:connect(port)
    c:pause()
    local h = handle_of(d)
    -- more than the kernel's loopback buffers take, under the limit
    d:eval("C4:ServerSend(..., string.rep('y', 40 * 1048576))", h)
    local q = d:servers()[1].queued
    local _, _, byk = d:handles()
    assert.is_true(q > 0 and q <= 40 * 1048576, tostring(q))
    assert.equal(q, byk["tcp-conn"])
    c:resume()
    assert.equal(40 * 1048576, #c:receive(40 * 1048576, 30000))
    d:run_until(function() return d:servers()[1].queued == 0 end, 5000)
  end)

  it("C4LuaTcpClient: a peer that never reads resets the client; OnDisconnect follows", function()
    local d = T.driver()
    d:set_send_limit(1048576)
    local c = tcp_pair(d)
    c:pause()
    d:eval([[local chunk = string.rep("x", 1048576)
             for i = 1, 64 do CLI:Write(chunk) end]])
    local l = T.wait_for(d, "^disconnect", 10000)
    assert.truthy(d:logged("which is not reading"))
    assert.is_falsy(l:find("^disconnect 0 "), l)
  end)

  it("C4LuaTcpClient: unread input is capped; an armed read that cannot match gets the buffer as it is", function()
    local d = T.driver()
    local c = tcp_pair(d)
    d:eval("CLI:ReadUntil('\\n')")
    c:send(string.rep("z", 2 * 1048576)) -- 2 MiB, no delimiter; the cap is 1 MiB
    local l = T.wait_for(d, "^read", 10000)
    assert.is_true(#l >= 1048576 + 5 and #l < 2 * 1048576, tostring(#l))
    assert.truthy(d:logged("without a match for the armed read %(unread cap 1048576 bytes%)"))
  end)

  it("64 MiB without a delimiter to CreateServer: delivered in capped pieces, nothing lost", function()
    local d = rec_driver()
    d:eval("TOTAL = 0; function OnServerDataIn(h, data) TOTAL = TOTAL + #data end")
    local port = S.create_server(d, "CreateServer", 0, "\n")
    local c = d:connect(port)
    local chunk = string.rep("q", 1048576)
    for _ = 1, 64 do c:send(chunk) end
    d:run_until(function() return d:eval("return TOTAL") == 64 * 1048576 end, 30000)
    assert.truthy(d:logged("without the delimiter; delivered as they are %(payload cap%)"))
  end)
end)

describe("close deadlines", function()
  -- A CreateServer driver with a 300 ms close deadline and a client that has
  -- stopped reading; returns the driver and the client's handle.
  local function stuck_client()
    local d = rec_driver()
    d:set_close_deadline(300)
    d:set_send_limit(64 * 1048576)
    local port = S.create_server(d, "CreateServer", 0, "\n")
    local c = d:connect(port)
    c:pause()
    return d, handle_of(d), c
  end

  it("ServerCloseClient with a full queue: OFFLINE within the deadline, then a reset", function()
    local d, h, c = stuck_client()
    d:eval("C4:ServerSend(..., string.rep('y', 40 * 1048576)); C4:ServerCloseClient(...)", h)
    S.wait_events(d, 1, "conn", 3, "OFFLINE", 5000)
    assert.truthy(d:logged("bytes still queued for 127.0.0.1:%d+ after 300 ms %(close deadline%)"))
    assert.equal(0, d:servers()[1].clients)
    -- The peer reads again: what its kernel held, then the end (Linux reports
    -- a reset that arrives behind buffered data as EOF), never all 40 MiB.
    c:resume()
    assert.is_true(c:is_closed(5000))
    local got = 0
    while true do
      local ok, part = pcall(c.receive_some, c, 0)
      if not ok then break end
      got = got + #part
    end
    assert.is_true(got < 40 * 1048576, tostring(got))
  end)

  it("DestroyServer with a full queue: the server goes OFFLINE within the deadline", function()
    local d, h = stuck_client()
    d:eval("C4:ServerSend(..., string.rep('y', 40 * 1048576)); C4:DestroyServer()", h)
    S.wait_events(d, 1, "status", 2, "OFFLINE", 5000)
    assert.same({}, d:servers())
  end)

  it("Close(true) with a full queue: OnDisconnect within the deadline", function()
    local d = T.driver()
    d:set_close_deadline(300)
    d:set_send_limit(64 * 1048576)
    local c = tcp_pair(d)
    c:pause()
    d:eval("CLI:Write(string.rep('y', 40 * 1048576)); CLI:Close(true)")
    T.wait_for(d, "^disconnect", 5000)
    assert.truthy(d:logged("close deadline"))
  end)

  it("a peer that reads gets everything before the close", function()
    local d = rec_driver()
    local port = S.create_server(d, "CreateServer", 0, "\n")
    local c = d:connect(port)
    local h = handle_of(d)
    d:eval("C4:ServerSend(..., string.rep('w', 2 * 1048576)); C4:ServerCloseClient(...)", h)
    assert.equal(2 * 1048576, #c:receive(2 * 1048576, 20000))
    assert.is_true(c:is_closed(3000))
  end)
end)

describe("the timeout flush of an undelimited payload (the seed's 'or upon timeout')", function()
  local function prompt_server(opts)
    local d = rec_driver(opts)
    local port = S.create_server(d, "CreateServer", 0, "\r\n")
    local c = d:connect(port)
    local h = handle_of(d)
    return d, c, h
  end

  local function arrived(d, n)
    d:run_until(function() return d:servers()[1].pending == n end, 3000)
  end

  it("a prompt without the delimiter is delivered after 500 ms of quiet (virtual time)", function()
    local d, c = prompt_server()
    c:send("login: ")
    arrived(d, 7)
    d:advance(499)
    assert.same({}, S.events(d, "data"))
    d:advance(1)
    local got = S.wait_events(d, 1, "data")
    assert.equal("login: ", got[1].args[2])
    assert.equal(0, d:servers()[1].pending)
    -- the next bytes start a new payload
    c:send("admin\r\n")
    got = S.wait_events(d, 2, "data")
    assert.equal("admin\r\n", got[2].args[2])
  end)

  it("a slow peer (a byte at a time, gaps under the interval) still gets its line whole", function()
    local d, c = prompt_server()
    local line = "status?\r\n"
    for i = 1, #line do
      c:send(line:sub(i, i))
      if i < #line then arrived(d, i) end
      d:advance(300)
    end
    local got = S.wait_events(d, 1, "data")
    assert.equal(line, got[1].args[2])
    d:advance(2000)
    assert.equal(1, #S.events(d, "data"))
  end)

  it("a 1 B/s peer: past the quiet interval each byte goes on its own; C4LuaTcpClient still assembles its line", function()
    local d, c = prompt_server()
    for i, b in ipairs({ "a", "b", "c" }) do
      c:send(b)
      arrived(d, 1)
      d:advance(1000)
      assert.equal(b, S.wait_events(d, i, "data")[i].args[2])
    end
    local d2 = T.driver()
    local c2 = tcp_pair(d2)
    d2:eval("CLI:ReadUntil('\\n')")
    for b in ("slow\n"):gmatch(".") do
      c2:send(b)
      d2:advance(1000)
    end
    assert.equal("read slow\n", T.wait_for(d2, "^read"))
  end)

  it("d:set_flush_timeout(ms) changes the interval; 0 turns it off", function()
    local d, c = prompt_server()
    assert.equal(500, d:set_flush_timeout(50))
    c:send("a")
    arrived(d, 1)
    d:advance(50)
    assert.equal("a", S.wait_events(d, 1, "data")[1].args[2])
    d:set_flush_timeout(0)
    c:send("b")
    arrived(d, 1)
    d:advance(60000)
    assert.equal(1, #S.events(d, "data"))
    assert.equal(1, d:servers()[1].pending)
  end)

  it("works in real time too", function()
    local d, c = prompt_server({ clock = "real" })
    d:set_flush_timeout(20)
    c:send("Password: ")
    assert.equal("Password: ", S.wait_events(d, 1, "data", nil, nil, 3000)[1].args[2])
  end)

  it("--server-flush-ms is a CLI option", function()
    local out, code = S.cli("run --once --server-flush-ms=abc " .. S.folder("server_echo"))
    assert.equal(2, code)
    assert.truthy(out:find("--server-flush-ms", 1, true), out)
    out, code = S.cli("run --once --server-flush-ms=250 " .. S.folder("server_echo"))
    assert.equal(0, code, out)
  end)
end)

describe("CreateServer's results by OS version", function()
  it("before 3.3.1 it returns nothing; from 3.3.1 true (or false, message)", function()
    local d = rec_driver({ os = "3.3.0" })
    assert.equal(0, d:eval("return select('#', C4:CreateServer(0, '\\n'))"))
    local d2 = rec_driver({ os = "3.3.1" })
    assert.same({ true }, { d2:eval("return C4:CreateServer(0, '\\n')") })
  end)

  it("c4emu check notes a driver that uses the result on a version that returns nothing", function()
    local out = S.cli("check --os 3.3.0,3.3.1 " .. S.folder("server_result"))
    assert.truthy(out:find("driver.lua:%d+ uses the result of C4:CreateServer, which returns nothing on OS 3.3.0"), out)
    assert.is_falsy(out:find("which returns nothing on OS 3.3.1", 1, true), out)
  end)
end)

describe("hostile peers and load", function()
  it("RST mid-message: the partial payload, then OFFLINE once, and the server goes on", function()
    local d = rec_driver()
    local port = S.create_server(d, "CreateServer", 0, "\n")
    local c = d:connect(port)
    handle_of(d)
    c:send("half a mess")
    d:run_until(function() return d:servers()[1].pending == 11 end, 3000)
    c:reset()
    S.wait_events(d, 1, "conn", 3, "OFFLINE")
    assert.equal("half a mess", S.events(d, "data")[1].args[2])
    local c2 = d:connect(port)
    c2:send("next\n")
    assert.equal("next\n", S.wait_events(d, 2, "data")[2].args[2])
    assert.equal(1, #S.events(d, "conn", 3, "OFFLINE"))
  end)

  it("half-close: what was sent before the peer's EOF is delivered, the reply still gets out", function()
    local d = rec_driver()
    d:eval("function OnServerDataIn(h, data) C4:ServerSend(h, 'got ' .. data) end")
    local port = S.create_server(d, "CreateServer", 0, "\n")
    local c = d:connect(port)
    c:send("one\n")
    c:shutdown()
    assert.equal("got one\n", c:receive_until("\n", 3000))
    assert.is_true(c:is_closed(3000))
  end)

  it("1000 clients x 100 lines: none lost, order kept per client", function()
    local d = c4emu.load("fixtures/drivers/server_echo")
    d:init()
    finally(function() pcall(d.destroy, d) end)
    local port = d:run_until(function() return d:eval("return PORT") end, 3000)
    local N, M = 1000, 100
    local clients, expected = {}, {}
    for i = 1, N do
      clients[i] = d:connect(port)
      local t = {}
      for m = 1, M do t[m] = i .. ":" .. m .. "\n" end
      expected[i] = table.concat(t)
    end
    for i = 1, N do clients[i]:send(expected[i]) end
    for i = 1, N do assert.equal(expected[i], clients[i]:receive(#expected[i], 30000), "client " .. i) end
    for i = 1, N do clients[i]:close() end
    d:run_until(function() return d:servers()[1].clients == 0 end, 10000)
    assert.same({}, d:errors())
  end)

  it("descriptor exhaustion (ulimit -n 64 in a child): one warning naming EMFILE, clean refusals, accepting goes on", function()
    -- a free port, found through a throwaway server
    local probe = rec_driver()
    local port = S.create_server(probe, "CreateServer", 0)
    probe:eval("C4:DestroyServer()")
    probe:serve(20)
    local dir = os.tmpname()
    os.remove(dir)
    local out, pidf = dir .. ".out", dir .. ".pid"
    os.execute("sh -c 'echo $$ > " .. pidf .. "; ulimit -n 64; exec " .. S.build .. "/c4emu run "
               .. "--bind=127.0.0.1 --prop Port=" .. port .. " " .. S.folder("server_echo")
               .. "' > " .. out .. " 2>&1 < /dev/null &")
    local function output()
      local f = io.open(out)
      local s = f and f:read("*a") or ""
      if f then f:close() end
      return s
    end
    local pid
    finally(function()
      if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
      os.remove(out)
      os.remove(pidf)
    end)
    for _ = 1, 200 do -- wall time: the child is another process
      if output():find("listening on port") then break end
      probe:serve(50)
    end
    assert.truthy(output():find("listening on port"), output())
    pid = io.open(pidf):read("*l")
    -- 100 clients: more than the child's 64 descriptors
    local clients = {}
    for i = 1, 100 do clients[i] = probe:connect(port) end
    local served, refused = 0, 0
    for i = 1, 100 do
      local ok = pcall(function()
        clients[i]:send("hi " .. i .. "\n")
        assert(clients[i]:receive_until("\n", 5000) == "hi " .. i .. "\n")
      end)
      if ok then served = served + 1 else refused = refused + 1 end
    end
    assert.is_true(served > 0 and refused > 0, served .. " served, " .. refused .. " refused")
    for i = 1, 100 do pcall(clients[i].close, clients[i]) end
    probe:serve(200)
    -- descriptors are free again: a new client is served
    local c = probe:connect(port)
    c:send("again\n")
    assert.equal("again\n", c:receive_until("\n", 5000))
    c:close()
    local log = output()
    local _, warnings = log:gsub("out of file descriptors %(EMFILE", "")
    assert.equal(1, warnings, log)
    assert.truthy(log:find("accepting again", 1, true), log)
  end)
end)

describe("temporary folders", function()
  local function sh(cmd)
    local p = io.popen(cmd)
    local s = p:read("*a")
    p:close()
    return (s:gsub("%s+$", ""))
  end
  local tmp = os.getenv("TMPDIR")
  if not tmp or tmp == "" then tmp = "/tmp" end
  local root = tmp .. "/c4emu-" .. sh("id -u")

  it("sandboxes live in one per-user folder under $TMPDIR", function()
    local d = T.driver()
    local dir = d:eval("return C4:GetSandboxDir()")
    assert.truthy(dir:find("/c4emu%-" .. sh("id -u") .. "/sandbox%-%d+%-"), dir)
    assert.equal(sh("realpath " .. root), dir:match("^(.*)/[^/]+$"))
  end)

  it("at start, folders left by processes that no longer exist are removed", function()
    -- a pid that is free now: a finished shell's
    local dead = sh("sh -c 'echo $$'")
    local stale = root .. "/sandbox-" .. dead .. "-XXXXXX"
    local live = root .. "/sandbox-1-keepme" -- pid 1 exists
    os.execute("mkdir -p " .. stale .. "/sub && touch " .. stale .. "/sub/f && mkdir -p " .. live)
    finally(function() os.execute("rm -rf " .. stale .. " " .. live) end)
    local _, code = S.cli("run --once " .. S.folder("minimal"))
    assert.equal(0, code)
    assert.equal("gone", sh("test -e " .. stale .. " && echo there || echo gone"))
    assert.equal("there", sh("test -e " .. live .. " && echo there || echo gone"))
  end)
end)

describe("--gc-each-callback (load option gc_each_callback)", function()
  local SRC = [[
    C4:CreateTCPServer()  -- no reference kept: a bug the option makes visible
      :OnListen(function(srv) rec("listening") end)
      :OnAccept(function() end)
      :Listen("127.0.0.1", 0)
  ]]

  it("a server the driver kept no reference to dies right after its callback", function()
    local d = T.driver({ gc_each_callback = true })
    d:eval(SRC)
    T.wait_for(d, "^listening")
    d:run_until(function() return T.handles(d, "C4LuaTcpServer") == 0 end, 3000)
  end)

  it("without it, the same server lives on until some later collection", function()
    local d = T.driver()
    d:eval(SRC)
    T.wait_for(d, "^listening")
    d:serve(50)
    assert.equal(1, T.handles(d, "C4LuaTcpServer"))
  end)

  it("is a CLI option of run and check", function()
    local out, code = S.cli("check --gc-each-callback " .. S.folder("minimal"))
    assert.equal(0, code, out)
  end)
end)
