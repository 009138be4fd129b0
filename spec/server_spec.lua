-- spec/server_spec.lua — C4:CreateServer and its companions (DestroyServer,
-- ServerSend, ServerCloseClient, PortInUse) through real loopback sockets:
-- the seed's examples, framing, handles, the callbacks' argument lists per OS
-- version, the init rule, wrong arguments, faults, shutdown, the spec
-- clients themselves and the sample driver.
--
-- Most tests use fixtures/drivers/server_record, which records every server
-- callback with its exact argument count (select('#', ...)) in EVENTS.
local c4emu = require "c4emu"
local S = require "support"

local REC = "fixtures/drivers/server_record"

local function load(opts)
  local d = c4emu.load(REC, opts)
  d:init()
  return d
end

local events, wait_events, raised = S.events, S.wait_events, S.raised

-- Creates a server in the driver; returns its port (from d:servers()).
local function create(d, ...) return S.create_server(d, "CreateServer", ...) end

-- Serves the loop for a moment (wall time; the virtual clock stays).
local function settle(d, ms)
  d:serve(ms or 30)
end

-- The handle of the n-th connection reported ONLINE.
local function handle(d, n)
  return wait_events(d, n or 1, "conn", 3, "ONLINE")[n or 1].args[1]
end

local function data_of(d)
  local out = {}
  for _, e in ipairs(events(d, "data")) do out[#out + 1] = e.args[2] end
  return out
end

describe("C4:CreateServer", function()
  local d

  after_each(function()
    if d and d:phase() ~= "dead" then d:destroy() end
    d = nil
  end)

  describe("the seed's examples (ephemeral ports)", function()
    it("run(): CreateServer(0, '\\n', false); the callbacks print as in the page's console", function()
      d = c4emu.load("fixtures/drivers/server_seed")
      d:init()
      d:call("run")
      d:run_until(function() return d:logged("OnServerStatusChanged port") end, 3000)
      local port = tonumber(d:logged("OnServerStatusChanged port"):match("port: (%d+)"))
      assert.truthy(d:logged("^run called$"))
      assert.truthy(d:logged("^OnServerStatusChanged port: " .. port .. " status: ONLINE$"))
      assert.are_not.equal(0, port)
      local c = d:connect(port)
      c:send("lkasjdfl\n")
      d:run_until(function() return d:logged("OnServerDataIn hash") end, 3000)
      local line = d:logged("OnServerConnectionStatusChanged hash")
      local hash = line:match("hash: (%d+)")
      assert.equal("OnServerConnectionStatusChanged hash: " .. hash .. " port: " .. port ..
        " status: ONLINE ip: 127.0.0.1", line)
      assert.equal("OnServerDataIn hash: " .. hash .. " data: lkasjdfl\n ip: 127.0.0.1",
        d:logged("OnServerDataIn hash"))
      c:close()
    end)

    it("CreateServer(5080, '\\r\\n') → port 0: payloads end with \\r\\n", function()
      d = load()
      local port = create(d, 0, "\r\n")
      local c = d:connect(port)
      c:send("first\r\nsecond\r\n")
      wait_events(d, 2, "data")
      assert.same({ "first\r\n", "second\r\n" }, data_of(d))
    end)

    it("CreateServer(8080) → port 0: no delimiter, data delivered as it arrives", function()
      d = load()
      local port = create(d, 0)
      local c = d:connect(port)
      c:send("abc")
      wait_events(d, 1, "data")
      c:send("def\n")
      wait_events(d, 2, "data")
      assert.same({ "abc", "def\n" }, data_of(d))
    end)

    it("CreateServer(600, '', true) → port 0: a UDP server; OnServerDataIn as in the page", function()
      d = load()
      d:eval([[
        function OnServerDataIn(nHandle, strData)
         print("OnServerDataIn" .. nHandle .. ": " .. strData)
        end
      ]])
      local port = create(d, 0, "", true)
      assert.same({ port = port, protocol = "udp", clients = 0, queued = 0, pending = 0 }, d:servers()[1])
      local u = d:udp()
      u:sendto(port, "hello udp")
      d:run_until(function() return d:logged("^OnServerDataIn%d+: hello udp$") end, 3000)
    end)
  end)

  describe("listening", function()
    it("returns true; ONLINE comes from the loop after the call, with the port the OS chose", function()
      d = load()
      assert.same({ true, 0 }, { d:eval("local ok = C4:CreateServer(0, '\\n'); return ok, #EVENTS") })
      local st = wait_events(d, 1, "status")
      assert.equal(d:servers()[1].port, st[1].args[1])
      assert.equal("ONLINE", st[1].args[2])
      assert.is_true(st[1].args[1] > 0)
    end)

    it("reports the server ONLINE before its first connection", function()
      d = load()
      local port = create(d, 0, "\n")
      local c = d:connect(port) -- no loop turn in between
      handle(d)
      local all = events(d)
      assert.equal("status", all[1].kind)
      assert.equal("conn", all[2].kind)
      assert.equal(1, #events(d, "status"))
      c:close()
    end)

    it("listens on the bind address (loopback for specs)", function()
      d = load()
      local port = create(d, 0, "\n")
      local c = d:connect(port)
      assert.equal("127.0.0.1", handle(d) and events(d, "conn")[1].args[4])
      c:close()
    end)

    it("serves several servers, each with many clients at once", function()
      d = load()
      d:eval("ECHO = true")
      local p1 = create(d, 0, "\n", false, "one")
      local p2 = create(d, 0, ";", false, "two")
      assert.are_not.equal(p1, p2)
      local cs = {}
      for i = 1, 10 do
        cs[i] = d:connect(i % 2 == 1 and p1 or p2)
      end
      for i = 1, 10 do cs[i]:send("msg" .. i .. (i % 2 == 1 and "\n" or ";")) end
      for i = 1, 10 do
        assert.equal("msg" .. i .. (i % 2 == 1 and "\n" or ";"),
          cs[i]:receive_until(i % 2 == 1 and "\n" or ";"))
      end
      local s = d:servers()
      assert.same({ { port = p1, protocol = "tcp", identifier = "one", clients = 5, queued = 0, pending = 0 },
                    { port = p2, protocol = "tcp", identifier = "two", clients = 5, queued = 0, pending = 0 } }, s)
      -- handles: large, unique, integral
      local seen = {}
      for _, e in ipairs(events(d, "conn", 3, "ONLINE")) do
        local h = e.args[1]
        assert.is_nil(seen[h])
        seen[h] = true
        assert.equal(h, math.floor(h))
        assert.is_true(h >= 2 ^ 28 and h < 2 ^ 31, "handle " .. h)
      end
      for _, c in ipairs(cs) do c:close() end
    end)

    it("returns false and a message when the port is in use, and reports no ONLINE", function()
      d = load()
      local port = create(d, 0, "\n")
      wait_events(d, 1, "status")
      local ok, msg = d:eval("return C4:CreateServer(...)", port, "\n")
      assert.is_false(ok)
      assert.matches("port " .. port, msg)
      assert.matches("in use", msg)
      settle(d)
      assert.equal(1, #events(d, "status"))
      assert.equal(1, #d:servers())
      assert.truthy(d:logged("CreateServer: cannot listen", "WARN"))
    end)

    it("returns false and a message when the address cannot be bound", function()
      d = load({ bind = "192.0.2.1" }) -- TEST-NET-1: never an address of this host
      local ok, msg = d:eval("return C4:CreateServer(0, '\\n')")
      assert.is_false(ok)
      assert.matches("192.0.2.1", msg)
      settle(d)
      assert.equal(0, #events(d, "status"))
      assert.same({}, d:servers())
    end)

    it("returns false, 'permission denied' for a privileged port", function()
      local id = io.popen("id -u"):read("*l")
      local ok, msg
      if id ~= "0" then
        d = load()
        ok, msg = d:eval("return C4:CreateServer(1, '\\n')")
      else -- as root every port may be bound: ask as nobody, in a child process
        if os.execute("command -v runuser >/dev/null 2>&1") ~= 0 then
          pending("running as root without runuser")
          return
        end
        local build = os.getenv("BUILD") or "build"
        local script = "package.cpath = '" .. build .. "/?.so;' .. package.cpath " ..
          "local d = require('c4emu').load('" .. REC .. "') d:init() " ..
          "print(d:eval([[return C4:CreateServer(1, '\\n')]])) d:destroy()"
        local p = io.popen("runuser -u nobody -- lua5.1 -e \"" .. script .. "\" 2>&1")
        local out = p:read("*a")
        p:close()
        ok, msg = out:match("^(%a+)\t([^\n]*)")
        ok = ok == "true"
      end
      assert.is_false(ok)
      assert.matches("permission denied %(EACCES%)", msg)
    end)

    it("frees the port on DestroyServer, so it can be listened on again", function()
      d = load()
      local port = create(d, 0, "\n")
      assert.is_true(d:eval("return C4:PortInUse(...)", port))
      d:eval("C4:DestroyServer(...)", port)
      settle(d)
      assert.is_false(d:eval("return C4:PortInUse(...)", port))
      assert.is_true(d:eval("return C4:CreateServer(...)", port, "\n"))
    end)
  end)

  describe("framing", function()
    local c

    before_each(function()
      d = load()
      c = d:connect(create(d, 0, "\r\n"))
    end)

    it("joins a delimiter split across reads", function()
      c:send("ab\r")
      settle(d)
      assert.equal(0, #events(d, "data"))
      c:send("\ncd\r")
      wait_events(d, 1, "data")
      c:send("\n")
      wait_events(d, 2, "data")
      assert.same({ "ab\r\n", "cd\r\n" }, data_of(d))
    end)

    it("splits many payloads that arrive in one read", function()
      c:send("1\r\n22\r\n333\r\n\r\n4444")
      wait_events(d, 4, "data")
      settle(d)
      assert.same({ "1\r\n", "22\r\n", "333\r\n", "\r\n" }, data_of(d))
    end)

    it("is binary-safe: NUL and high bytes pass through", function()
      local bytes = {}
      for i = 0, 255 do
        if i ~= 13 then bytes[#bytes + 1] = string.char(i) end
      end
      local blob = table.concat(bytes)
      c:send(blob .. "\r\n")
      wait_events(d, 1, "data")
      assert.equal(blob .. "\r\n", data_of(d)[1])
    end)

    it("hands over a payload without a delimiter at the cap, as it is, and logs it", function()
      c:close()
      d:set_payload_cap(16)
      c = d:connect(d:servers()[1].port)
      c:send(string.rep("x", 40) .. "\r\n")
      wait_events(d, 3, "data")
      assert.same({ string.rep("x", 16), string.rep("x", 16), string.rep("x", 8) .. "\r\n" },
        data_of(d))
      assert.truthy(d:logged("without the delimiter; delivered as they are", "WARN"))
    end)
  end)

  describe("connections", function()
    before_each(function()
      d = load()
    end)

    it("reports ONLINE on accept and OFFLINE when the client closes", function()
      local port = create(d, 0, "\n")
      local c = d:connect(port)
      local h = handle(d)
      c:close()
      local off = wait_events(d, 1, "conn", 3, "OFFLINE")
      assert.same({ h, port, "OFFLINE", "127.0.0.1", "" }, off[1].args)
      settle(d)
      assert.equal(2, #events(d, "conn"))
      assert.equal(0, d:servers()[1].clients)
    end)

    it("ServerSend is binary-safe and keeps order", function()
      local port = create(d, 0, "\n")
      local c = d:connect(port)
      local h = handle(d)
      d:eval([[
        local h = ...
        local all = {}
        for i = 0, 255 do all[#all + 1] = string.char(i) end
        C4:ServerSend(h, table.concat(all))
        for i = 1, 1000 do C4:ServerSend(h, i .. "\n") end
      ]], h)
      local want = {}
      for i = 0, 255 do want[#want + 1] = string.char(i) end
      assert.equal(table.concat(want), c:receive(256))
      for i = 1, 1000 do assert.equal(i .. "\n", c:receive_until("\n")) end
    end)

    it("ServerSend never blocks: 16 MiB to a client that does not read yet", function()
      d:set_send_limit(32 * 1048576) -- above the 4 MiB default send limit (fault_spec)
      local port = create(d, 0, "\n")
      local c = d:connect(port)
      local h = handle(d)
      local t0 = os.clock()
      d:eval("C4:ServerSend(..., string.rep('0123456789abcdef', 1048576))", h)
      assert.is_true(os.clock() - t0 < 5, "ServerSend took too long")
      local got = c:receive(16 * 1048576, 20000)
      assert.equal(16 * 1048576, #got)
      assert.equal(string.rep("0123456789abcdef", 4), got:sub(-64))
    end)

    it("ServerSend returns nothing and logs for an unknown handle", function()
      create(d, 0, "\n")
      assert.equal(0, d:eval("return select('#', C4:ServerSend(123, 'x'))"))
      assert.truthy(d:logged("ServerSend: handle 123 is not a connection of this driver", "WARN"))
    end)

    it("ServerSend and ServerCloseClient on a closed handle log a warning", function()
      local port = create(d, 0, "\n")
      local c = d:connect(port)
      local h = handle(d)
      c:close()
      wait_events(d, 1, "conn", 3, "OFFLINE")
      assert.equal(0, d:eval("return select('#', C4:ServerSend(..., 'late'))", h))
      d:eval("C4:ServerCloseClient(...)", h)
      assert.truthy(d:logged("ServerSend: handle " .. h .. " is ", "WARN"))
      assert.truthy(d:logged("ServerCloseClient: handle " .. h .. " is ", "WARN"))
    end)

    it("ServerSend during OFFLINE for that handle warns instead of sending", function()
      local port = create(d, 0, "\n")
      d:eval([[ON_CONN = function(h, port, status)
        if status == "OFFLINE" then C4:ServerSend(h, "too late\n") end end]])
      local c = d:connect(port)
      local h = handle(d)
      c:close()
      wait_events(d, 1, "conn", 3, "OFFLINE")
      assert.truthy(d:logged("ServerSend: handle " .. h .. " is closed", "WARN"))
    end)

    it("ServerCloseClient sends what is queued, then closes; OFFLINE follows", function()
      local port = create(d, 0, "\n")
      local c = d:connect(port)
      local h = handle(d)
      d:eval("local h = ...; C4:ServerSend(h, string.rep('z', 300000) .. 'END\\n'); C4:ServerCloseClient(h)", h)
      local got = c:receive_until("END\n", 5000)
      assert.equal(300004, #got)
      assert.is_true(c:is_closed(1000))
      local off = wait_events(d, 1, "conn", 3, "OFFLINE")
      assert.equal(h, off[1].args[1])
      -- a second ServerCloseClient on it is harmless
      d:eval("C4:ServerCloseClient(...)", h)
    end)

    it("ServerCloseClient inside OnServerDataIn stops the delivery of that read", function()
      local port = create(d, 0, "\n")
      d:eval([[ON_DATA = function(h, data)
        if data == "quit\n" then C4:ServerSend(h, "bye\n"); C4:ServerCloseClient(h) end end]])
      local c = d:connect(port)
      c:send("a\nquit\nnot delivered\n")
      assert.equal("bye\n", c:receive_until("\n"))
      assert.is_true(c:is_closed(1000))
      wait_events(d, 1, "conn", 3, "OFFLINE")
      assert.same({ "a\n", "quit\n" }, data_of(d))
    end)

    it("ServerCloseClient / DestroyServer inside OnServerDataIn, on a payload that was buffered", function()
      local port = create(d, 0, "\n")
      d:eval([[ON_DATA = function(h, data)
        if data:sub(1, 4) == "quit" then C4:ServerCloseClient(h) end
        if data:sub(1, 4) == "stop" then C4:DestroyServer() end
      end]])
      local a, b = d:connect(port), d:connect(port)
      a:send(string.rep("x", 600))        -- a tail bigger than the framer keeps
      b:send("st")
      d:serve(30)
      a:send("\nquit\nlost\n")
      assert.is_true(a:is_closed(1000))
      b:send("op\nlost too\n")
      assert.is_true(b:is_closed(1000))
      wait_events(d, 2, "conn", 3, "OFFLINE")
      assert.same({ string.rep("x", 600) .. "\n", "quit\n", "stop\n" }, data_of(d))
    end)

    it("DestroyServer(port) closes that server's clients, each with OFFLINE, then the server", function()
      local p1 = create(d, 0, "\n")
      local p2 = create(d, 0, "\n")
      local a, b, other = d:connect(p1), d:connect(p1), d:connect(p2)
      wait_events(d, 3, "conn", 3, "ONLINE")
      d:eval("C4:DestroyServer(...)", p1)
      assert.equal(1, #d:servers())
      assert.equal(p2, d:servers()[1].port)
      assert.is_true(a:is_closed(1000))
      assert.is_true(b:is_closed(1000))
      local off = wait_events(d, 2, "conn", 3, "OFFLINE")
      assert.equal(p1, off[1].args[2])
      assert.equal(p1, off[2].args[2])
      local st = wait_events(d, 1, "status", 2, "OFFLINE")
      assert.same({ p1, "OFFLINE", "" }, st[1].args)
      -- the OFFLINE of the server comes after its clients'
      local kinds = {}
      for _, e in ipairs(events(d)) do
        if e.args[2] == "OFFLINE" or e.args[3] == "OFFLINE" then kinds[#kinds + 1] = e.kind end
      end
      assert.same({ "conn", "conn", "status" }, kinds)
      assert.is_false(other:is_closed())
      other:send("still here\n")
      wait_events(d, 1, "data")
    end)

    it("DestroyServer() with no argument destroys every server of the driver", function()
      local tcp = create(d, 0, "\n")
      create(d, 0, "", true)
      local c = d:connect(d:servers()[1].port)
      handle(d)
      d:eval("C4:DestroyServer()")
      assert.same({}, d:servers())
      assert.is_true(c:is_closed(1000))
      wait_events(d, 2, "status", 2, "OFFLINE")
      -- PortInUse binds TCP: ask about the TCP server's port.  (The UDP port's
      -- number can be held by any TCP client socket of the machine, one in
      -- TIME_WAIT included, which made this flaky after load tests.)
      assert.is_false(d:eval("return C4:PortInUse(...)", tcp))
    end)

    it("DestroyServer on a port without a server logs a warning", function()
      d:eval("C4:DestroyServer(1)")
      assert.truthy(d:logged("DestroyServer%(1%): no server on that port", "WARN"))
    end)
  end)

  describe("UDP", function()
    it("one OnServerDataIn per datagram, with the sender's address; the reply goes to it (4.0.0)", function()
      d = load()
      local port = create(d, 0, "\n", true)
      d:eval([[ON_DATA = function(h, data, ip, port) C4:ServerSend(port, "re:" .. data, ip) end]])
      local u = d:udp()
      u:sendto(port, "one\ntwo")
      u:sendto(port, "three")
      local e = wait_events(d, 2, "data")
      assert.equal("one\ntwo", e[1].args[2])
      assert.equal("three", e[2].args[2])
      assert.equal("127.0.0.1", e[1].args[3])
      assert.equal(e[1].args[1], e[2].args[1])
      local data, ip, from = u:receive(2000)
      assert.equal("re:one\ntwo", data)
      assert.equal("127.0.0.1", ip)
      assert.equal(port, from)
      assert.equal("re:three", (u:receive(2000)))
    end)

    it("before 4.0.0 the address form does not exist; ServerSend(handle, data) answers the last sender", function()
      d = load({ os = "3.3.1" })
      local port = create(d, 0, "", true)
      d:eval([[ON_DATA = function(h, data, ip, port)
        C4:ServerSend(port, "address form", ip)
        C4:ServerSend(h, "re:" .. data)
      end]])
      local u = d:udp()
      u:sendto(port, "ping")
      assert.equal("re:ping", (u:receive(2000)))
      assert.truthy(d:logged("is not a connection of this driver", "WARN"))
    end)
  end)

  describe("callback arguments by OS version", function()
    -- One connection: ONLINE, one payload, OFFLINE; what each callback got.
    local function session(os, identifier)
      d = load({ os = os })
      local port = create(d, 0, "\n", false, identifier)
      local c = d:connect(port)
      c:send("hi\n")
      wait_events(d, 1, "data")
      c:close()
      wait_events(d, 1, "conn", 3, "OFFLINE")
      return port, c, events(d, "status"), events(d, "conn"), events(d, "data")
    end

    it("2.8.0: no OnServerStatusChanged; (handle, port, status) and (handle, data)", function()
      local port, _, st, conn, data = session("2.8.0", "id")
      assert.same({}, st)
      assert.equal(3, conn[1].n)
      assert.same({ conn[1].args[1], port, "ONLINE" }, conn[1].args)
      assert.equal(3, conn[2].n)
      assert.same({ conn[1].args[1], port, "OFFLINE" }, conn[2].args)
      assert.equal(2, data[1].n)
      assert.same({ conn[1].args[1], "hi\n" }, data[1].args)
    end)

    it("2.9.0: (port, status), the client IP, and IP + remote port with data", function()
      local port, _, st, conn, data = session("2.9.0", "id")
      assert.equal(2, st[1].n)
      assert.same({ port, "ONLINE" }, st[1].args)
      assert.equal(4, conn[1].n)
      assert.same({ conn[1].args[1], port, "ONLINE", "127.0.0.1" }, conn[1].args)
      assert.equal(4, conn[2].n)
      assert.equal(4, data[1].n)
      assert.equal("127.0.0.1", data[1].args[3])
      assert.equal("number", type(data[1].args[4]))
      assert.are_not.equal(port, data[1].args[4])
    end)

    it("3.3.1: the identifier comes last in all three", function()
      local port, _, st, conn, data = session("3.3.1", "kitchen")
      assert.equal(3, st[1].n)
      assert.same({ port, "ONLINE", "kitchen" }, st[1].args)
      assert.equal(5, conn[1].n)
      assert.same({ conn[1].args[1], port, "ONLINE", "127.0.0.1", "kitchen" }, conn[1].args)
      assert.equal(5, conn[2].n)
      assert.equal("kitchen", conn[2].args[5])
      assert.equal(5, data[1].n)
      assert.same({ conn[1].args[1], "hi\n", "127.0.0.1", data[1].args[4], "kitchen" }, data[1].args)
    end)

    it("3.3.1 without an identifier passes \"\"", function()
      local _, _, st, conn, data = session("3.3.1", nil)
      assert.equal("", st[1].args[3])
      assert.equal("", conn[1].args[5])
      assert.equal("", data[1].args[5])
    end)

    it("the remote port in OnServerDataIn is the client's own port", function()
      d = load()
      local port = create(d, 0, "\n")
      local c = d:connect(port)
      c:send("x\n")
      assert.equal(c:local_port(), wait_events(d, 1, "data")[1].args[4])
    end)

    it("d:servers() keeps the identifier on every version", function()
      d = load({ os = "2.8.0" })
      create(d, 0, "\n", false, "kept")
      assert.equal("kept", d:servers()[1].identifier)
    end)

    it("PortInUse exists from 3.3.1", function()
      d = load({ os = "3.3.0" })
      assert.is_nil(d:eval("return C4.PortInUse"))
      d:destroy()
      d = load({ os = "3.3.1" })
      assert.equal("function", d:eval("return type(C4.PortInUse)"))
      assert.is_false(d:eval("return C4:PortInUse(0)"))
    end)
  end)

  describe("the init rule", function()
    it("CreateServer in OnDriverInit raises (strict); DestroyServer, ServerSend, ServerCloseClient warn", function()
      d = c4emu.load("fixtures/drivers/server_init")
      d:init()
      local create_err = d:eval("return INIT_CREATE")
      assert.is_false(create_err[1])
      assert.matches("C4:CreateServer may not be called during OnDriverInit", create_err[2])
      local errs = d:errors()
      assert.equal(1, #errs)
      assert.equal("OnDriverInit", errs[1].where)
      assert.is_nil(d:eval("return REACHED_END_OF_INIT"))
      local notes = {}
      for _, n in ipairs(d:notes()) do notes[#notes + 1] = n.text end
      local all = table.concat(notes, "\n")
      for _, api in ipairs({ "DestroyServer", "ServerSend", "ServerCloseClient" }) do
        assert.matches("C4:" .. api .. " called during OnDriverInit; DriverWorks says", all)
      end
      -- OnDriverLateInit may create servers
      assert.same({ true }, d:eval("return LATE"))
      assert.equal(1, #d:servers())
    end)

    it("with init_rule = 'warn' CreateServer in OnDriverInit works", function()
      d = c4emu.load("fixtures/drivers/server_init", { init_rule = "warn" })
      d:init()
      assert.same({ true, true }, d:eval("return INIT_CREATE"))
      assert.is_true(d:eval("return REACHED_END_OF_INIT"))
      assert.equal(3, #d:servers())
    end)
  end)

  describe("wrong arguments raise with Lua's wording", function()
    before_each(function()
      d = load()
    end)

    local cases = {
      { "C4:CreateServer('x')", "bad argument #1 to 'CreateServer' %(number expected, got string%)" },
      { "C4:CreateServer()", "bad argument #1 to 'CreateServer' %(number expected, got no value%)" },
      { "C4:CreateServer(70000)", "bad argument #1 to 'CreateServer' %(port out of range" },
      { "C4:CreateServer(-1)", "bad argument #1 to 'CreateServer' %(port out of range" },
      { "C4:CreateServer(0, {})", "bad argument #2 to 'CreateServer' %(string expected, got table%)" },
      { "C4:CreateServer(0, '\\n', 'yes')", "bad argument #3 to 'CreateServer' %(boolean expected, got string%)" },
      { "C4:CreateServer(0, '\\n', false, {})", "bad argument #4 to 'CreateServer' %(string expected, got table%)" },
      { "C4:DestroyServer('all')", "bad argument #1 to 'DestroyServer' %(number expected, got string%)" },
      { "C4:ServerSend('h', 'x')", "bad argument #1 to 'ServerSend' %(number expected, got string%)" },
      { "C4:ServerSend(1)", "bad argument #2 to 'ServerSend' %(string expected, got no value%)" },
      { "C4:ServerSend(1, {})", "bad argument #2 to 'ServerSend' %(string expected, got table%)" },
      { "C4:ServerSend(80, 'x', {})", "bad argument #3 to 'ServerSend' %(string expected, got table%)" },
      { "C4:ServerCloseClient({})", "bad argument #1 to 'ServerCloseClient' %(number expected, got table%)" },
      { "C4:PortInUse('http')", "bad argument #1 to 'PortInUse' %(number expected, got string%)" },
      { "C4.CreateServer(0)", "C4:CreateServer must be called with a colon" },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        assert.matches(case[2], raised(function() d:eval(case[1]) end))
        assert.same({}, d:servers())
      end)
    end
  end)

  describe("faults", function()
    before_each(function()
      d = load()
      d:eval("ECHO = true")
    end)

    it("a client that resets mid-payload: the partial payload, then OFFLINE exactly once", function()
      local port = create(d, 0, "\n")
      local c, other = d:connect(port), d:connect(port)
      local h = handle(d)
      handle(d, 2)
      c:send("whole\npart")
      wait_events(d, 1, "data")
      settle(d)
      c:reset()
      local off = wait_events(d, 1, "conn", 3, "OFFLINE")
      settle(d)
      assert.equal(1, #events(d, "conn", 3, "OFFLINE"))
      assert.equal(h, off[1].args[1])
      assert.same({ "whole\n", "part" }, data_of(d))
      assert.truthy(d:logged("unfinished payload; delivered without the delimiter"))
      -- the other client is still served
      other:send("fine\n")
      assert.equal("fine\n", other:receive_until("\n"))
    end)

    it("a client that half-closes: what arrived is delivered and answered, then it is closed", function()
      local port = create(d, 0, "\n")
      local c = d:connect(port)
      c:send("line\npart")
      c:shutdown()
      assert.equal("line\npart", c:receive(9))
      assert.is_true(c:is_closed(1000))
      wait_events(d, 1, "conn", 3, "OFFLINE")
      settle(d)
      assert.same({ "line\n", "part" }, data_of(d))
      assert.equal(1, #events(d, "conn", 3, "OFFLINE"))
    end)

    it("a client that sends one byte at a time, slowly, while another is served", function()
      d:destroy()
      d = load({ clock = "real" })
      d:eval("ECHO = true")
      local port = create(d, 0, "\n")
      local slow, quick = d:connect(port), d:connect(port)
      for i, ch in ipairs({ "s", "l", "o", "w", "\n" }) do
        slow:send(ch)
        d:advance(200) -- real time
        quick:send("q" .. i .. "\n")
        assert.equal("q" .. i .. "\n", quick:receive_until("\n"))
      end
      assert.equal("slow\n", slow:receive_until("\n"))
      local slow_data = {}
      for _, p in ipairs(data_of(d)) do
        if not p:match("^q") then slow_data[#slow_data + 1] = p end
      end
      assert.same({ "slow\n" }, slow_data)
    end)

    it("a Lua error in OnServerDataIn is logged with a traceback; serving goes on", function()
      local port = create(d, 0, "\n")
      d:eval([[ON_DATA = function(h, data) if data == "boom\n" then error("boom in data") end end]])
      local c, other = d:connect(port), d:connect(port)
      c:send("boom\n")
      assert.equal("boom\n", c:receive_until("\n"))
      d:run_until(function() return #d:unseen_errors() > 0 end)
      local errs = d:errors()
      assert.equal(1, #errs)
      assert.equal("OnServerDataIn", errs[1].where)
      assert.matches("boom in data", errs[1].message)
      assert.matches("stack traceback", errs[1].traceback)
      c:send("after\n")
      assert.equal("after\n", c:receive_until("\n"))
      other:send("other\n")
      assert.equal("other\n", other:receive_until("\n"))
    end)

    it("a Lua error in OnServerConnectionStatusChanged is logged; the connection still works", function()
      local port = create(d, 0, "\n")
      d:eval([[ON_CONN = function() error("boom in conn") end]])
      local c = d:connect(port)
      c:send("x\n")
      assert.equal("x\n", c:receive_until("\n"))
      local errs = d:errors()
      assert.equal("OnServerConnectionStatusChanged", errs[1].where)
      assert.matches("boom in conn", errs[1].message)
      assert.matches("stack traceback", errs[1].traceback)
      c:close()
      wait_events(d, 1, "conn", 3, "OFFLINE")
      assert.equal(2, #d:errors()) -- and the OFFLINE one
    end)

    it("a Lua error in OnServerStatusChanged is logged; the server still accepts", function()
      d:eval([[ON_STATUS = function() error("boom in status") end]])
      local port = create(d, 0, "\n")
      wait_events(d, 1, "status")
      local errs = d:errors()
      assert.equal("OnServerStatusChanged", errs[1].where)
      assert.matches("boom in status", errs[1].message)
      local c = d:connect(port)
      c:send("y\n")
      assert.equal("y\n", c:receive_until("\n"))
    end)
  end)

  describe("shutdown", function()
    it("closes servers and clients at destroy, calls no Lua after OnDriverDestroyed", function()
      d = load()
      local port = create(d, 0, "\n")
      local udp = create(d, 0, "", true)
      d:eval([[
        function OnDriverDestroyed() DESTROYED = true end
        local function late() if DESTROYED then print("callback after destroy") end end
        ON_CONN, ON_DATA, ON_STATUS = late, late, late
      ]])
      local c = d:connect(port)
      handle(d)
      c:send("unfinished")
      settle(d)
      local n, kinds = d:handles()
      assert.equal(1, kinds["tcp-server"])
      assert.equal(1, kinds["udp-server"])
      assert.equal(1, kinds["tcp-conn"])
      assert.equal(1, kinds["spec-client"])
      assert.equal(4, n)
      d:destroy()
      assert.is_nil(d:logged("callback after destroy"))
      assert.equal(0, (d:handles()))
      assert.is_true(c:is_closed())
      assert.matches("destroyed", raised(function() c:send("x") end))
      assert.same({}, d:servers())
      assert.is_not_nil(udp)
    end)
  end)

  describe("spec clients", function()
    before_each(function()
      d = load()
    end)

    it("c:receive raises on timeout and keeps what arrived", function()
      local port = create(d, 0, "\n")
      local c = d:connect(port)
      local h = handle(d)
      d:eval("C4:ServerSend(..., 'abc')", h)
      assert.matches("timed out after 100 ms %(3 bytes buffered, wanted 5%)",
        raised(function() c:receive(5, 100) end))
      assert.equal("abc", c:receive(3))
    end)

    it("c:receive raises when the server closes before n bytes", function()
      local port = create(d, 0, "\n")
      local c = d:connect(port)
      local h = handle(d)
      d:eval("local h = ...; C4:ServerSend(h, 'ab'); C4:ServerCloseClient(h)", h)
      assert.matches("connection closed by the server",
        raised(function() c:receive_until("\n", 2000) end))
      assert.equal("ab", c:receive(2))
      assert.is_true(c:is_closed())
    end)

    it("c:is_closed() is false while the server keeps the connection", function()
      local c = d:connect(create(d, 0, "\n"))
      assert.is_false(c:is_closed())
      c:close()
      assert.is_true(c:is_closed())
      c:close() -- idempotent
    end)

    it("d:connect raises when nothing listens", function()
      local port = create(d, 0, "\n")
      d:eval("C4:DestroyServer()")
      settle(d)
      assert.matches("refused", raised(function() d:connect(port) end))
    end)

    it("d:connect with opts.tls wants a CA to verify the server by default", function()
      local port = create(d, 0, "\n")
      assert.matches("TLS", raised(function() d:connect(port, { tls = {} }) end))
    end)
  end)

  describe("the sample driver", function()
    it("is a line server on an ephemeral port with help, time, who, name and quit", function()
      d = c4emu.load("fixtures/drivers/sample")
      d:init()
      d:run_until(function() return d:logged("line server ONLINE on port") end, 3000)
      local port = tonumber(d:logged("line server ONLINE on port (%d+)"):match("port (%d+)"))
      assert.truthy(d:logged("^OnDriverLateInit"))
      local a = d:connect(port)
      assert.equal("Hello from c4emu, guest1! (type help)\r\n", a:receive_until("\r\n"))
      local b = d:connect(port)
      b:receive_until("\r\n")
      assert.equal("guest2 joined\r\n", a:receive_until("\r\n"))
      a:send("help\n")
      assert.matches("^commands: help, time", a:receive_until("\r\n"))
      a:send("time\n")
      assert.matches("^time: %d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d\r\n$", a:receive_until("\r\n"))
      a:send("name alice\n")
      assert.equal("you are now alice\r\n", a:receive_until("\r\n"))
      assert.equal("guest1 is now alice\r\n", b:receive_until("\r\n"))
      b:send("hi all\r\n")
      assert.equal("you: hi all\r\n", b:receive_until("\r\n"))
      assert.equal("guest2: hi all\r\n", a:receive_until("\r\n"))
      b:send("quit\n")
      assert.equal("bye\r\n", b:receive_until("\r\n"))
      assert.is_true(b:is_closed(1000))
      assert.equal("guest2 left\r\n", a:receive_until("\r\n"))
      d:destroy()
      assert.truthy(d:logged("^OnDriverDestroyed"))
    end)
  end)
end)
