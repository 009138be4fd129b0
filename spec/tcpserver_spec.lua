-- C4:CreateTCPServer and C4LuaTcpServer (reference §3; the seed
-- c4-CreateTCPServer.md): setters that chain, Listen with every kind of host
-- and service, OnResolve and choose(), OnListen, OnAccept, OnError,
-- GetLocalAddress, Option, Close, the lifetime rules, the init rule and
-- wrong arguments.  Everything on loopback, ports ephemeral.
local c4emu = require "c4emu"
local S = require "support"
local T = require "tcp_support"

local function port_of(d, var)
  return d:run_until(function() return d:eval("return " .. var) end, 3000)
end

describe("C4:CreateTCPServer", function()
  it("returns a C4LuaTcpServer whose setters chain", function()
    local d = T.driver()
    local r = d:eval([[
      local s = C4:CreateTCPServer()
      local f = function() end
      return {
        type = type(s), name = tostring(s):match("^C4LuaTcpServer") ~= nil,
        mt = getmetatable(s),
        s:OnResolve(f) == s, s:OnListen(f) == s, s:OnAccept(f) == s, s:OnError(f) == s,
        s:Option("reuseaddr", true) == s, s:Option("linger", false) == s,
        s:OnError(nil) == s,
      }
    ]])
    assert.same({ type = "userdata", name = true, mt = "C4LuaTcpServer",
                  true, true, true, true, true, true, true }, r)
  end)

  it("listens on \"*\": OnResolve lists the endpoints, OnListen gets the chosen one, " ..
     "GetLocalAddress the real port", function()
    local d = T.driver()
    d:eval([[
      S = C4:CreateTCPServer()
        :OnResolve(function(srv, eps, choose)
          rec("resolve", rawequal(srv, S), #eps, eps[1].ip, eps[1].port, type(choose))
        end)
        :OnListen(function(srv, ep)
          local a = srv:GetLocalAddress()
          rec("listen", rawequal(srv, S), ep.ip, ep.port, a.ip, a.port > 0)
          PORT = a.port
        end)
      R = S:Listen("*", 0)
    ]])
    assert.is_true(d:eval("return rawequal(R, S)"))
    assert.same({}, T.events(d)) -- nothing happens inside Listen
    local port = port_of(d, "PORT")
    assert.same({ "resolve true 1 127.0.0.1 0 function", "listen true 127.0.0.1 0 127.0.0.1 true" },
                T.events(d))
    assert.equal(1, T.handles(d, "C4LuaTcpServer"))
    local c = d:connect(port) -- it accepts (and, without OnAccept, closes at once)
    assert.is_true(c:is_closed(1000))
    assert.truthy(d:logged("no OnAccept handler"))
  end)

  for _, host in ipairs({ "!all", "!any", "0.0.0.0", "127.0.0.1" }) do
    it("listens on " .. host .. " (the bind address for every-interface names)", function()
      local d = T.driver()
      d:eval([[
        S = C4:CreateTCPServer()
          :OnListen(function(srv, ep) PORT = srv:GetLocalAddress().port; rec(ep.ip) end)
          :Listen(...)
      ]], host, 0)
      local port = port_of(d, "PORT")
      assert.same({ "127.0.0.1" }, T.events(d))
      d:connect(port):close()
    end)
  end

  it("resolves \"!local\" and \"!loopback\" to the loopback addresses, IPv4 first", function()
    local d = T.driver()
    d:eval([[
      for _, h in ipairs({ "!local", "!loopback" }) do
        C4:CreateTCPServer()
          :OnResolve(function(srv, eps)
            local ips = {}
            for i, e in ipairs(eps) do ips[i] = e.ip end
            rec(h, table.concat(ips, ","))
            return 0 -- only looking
          end)
          :OnError(function(srv, code, msg, op) rec(h, "error", code, op) end)
          :Listen(h, 0)
      end
    ]])
    T.wait_for(d, "!loopback error")
    T.wait_for(d, "!local error")
    for _, h in ipairs({ "!local", "!loopback" }) do
      local line = T.wait_for(d, "^" .. h .. " [%d:]")
      assert.truthy(line:match("^" .. h .. " 127%.0%.0%.1"), line)
      assert.is_true(T.seen(d, h .. " error 22 resolve"))
    end
  end)

  it("resolves host names (localhost) and service names (\"http\" is port 80)", function()
    local d = T.driver()
    d:eval([[
      C4:CreateTCPServer()
        :OnResolve(function(srv, eps) rec("resolve", eps[1].ip, eps[1].port); return 0 end)
        :OnError(function(srv, code, msg, op) rec("error", code, msg, op) end)
        :Listen("localhost", "http")
    ]])
    T.wait_for(d, "^error")
    assert.same({ "resolve 127.0.0.1 80", "error 22 Invalid argument resolve" }, T.events(d))
  end)

  it("takes the service as a numeric string, and a backlog", function()
    local d = T.driver()
    d:eval([[
      S = C4:CreateTCPServer()
        :OnListen(function(srv) PORT = srv:GetLocalAddress().port end)
        :Listen("127.0.0.1", "0", 16)
    ]])
    d:connect(port_of(d, "PORT")):close()
  end)

  describe("OnResolve", function()
    it("picks the endpoint whose index the handler returns", function()
      local d = T.driver()
      d:eval([[
        S = C4:CreateTCPServer()
          :OnResolve(function(srv, eps)
            NEPS = #eps
            if #eps >= 2 then return 2 end
            return 1
          end)
          :OnListen(function(srv, ep) PORT = srv:GetLocalAddress().port; rec("listen", ep.ip) end)
          :OnError(function(srv, code, msg, op) rec("error", code, msg, op) end)
          :Listen("!local", 0)
      ]])
      T.wait_for(d, "^[le]")
      if d:eval("return NEPS") < 2 then
        pending("this host has no IPv6 loopback")
        return
      end
      assert.same({ "listen ::1" }, T.events(d))
    end)

    it("index 0 cancels the Listen: OnError with code 22 (EINVAL)", function()
      local d = T.driver()
      d:eval([[
        C4:CreateTCPServer()
          :OnResolve(function() return 0 end)
          :OnListen(function() rec("listen") end)
          :OnError(function(srv, code, msg, op) rec("error", code, msg, op) end)
          :Listen("127.0.0.1", 0)
      ]])
      T.wait_for(d, "^error")
      assert.same({ "error 22 Invalid argument resolve" }, T.events(d))
      assert.equal(0, T.handles(d, "C4LuaTcpServer"))
    end)

    it("an index out of range is refused the same way", function()
      local d = T.driver()
      d:eval([[
        C4:CreateTCPServer()
          :OnResolve(function() return 7 end)
          :OnError(function(srv, code, msg, op) rec("error", code, op) end)
          :Listen("127.0.0.1", 0)
      ]])
      assert.equal("error 22 resolve", T.wait_for(d, "^error"))
    end)

    it("may call choose(index) inside the handler", function()
      local d = T.driver()
      d:eval([[
        S = C4:CreateTCPServer()
          :OnResolve(function(srv, eps, choose) rec("choose", choose(1), choose(1)) end)
          :OnListen(function(srv, ep) rec("listen", ep.ip) end)
          :Listen("127.0.0.1", 0)
      ]])
      T.wait_for(d, "^listen")
      assert.same({ "choose true false", "listen 127.0.0.1" }, T.events(d))
    end)

    it("may keep choose and decide later; the server stays alive meanwhile", function()
      local d = T.driver()
      d:eval([[
        C4:CreateTCPServer() -- no reference kept
          :OnResolve(function(srv, eps, choose) CHOOSE = choose; rec("resolved") end)
          :OnListen(function(srv, ep) LISTENING = srv; rec("listen", ep.ip) end)
          :Listen("127.0.0.1", 0)
      ]])
      T.wait_for(d, "^resolved")
      d:eval("collectgarbage(); collectgarbage()")
      assert.has_error(function() T.wait_for(d, "^listen", 200) end)
      assert.same({ "resolved" }, T.events(d))
      assert.is_true(d:eval("return CHOOSE()"))
      assert.is_false(d:eval("return CHOOSE(1)")) -- decided already
      T.wait_for(d, "^listen")
      assert.same({ "resolved", "listen 127.0.0.1" }, T.events(d))
    end)

    it("choose(0) later cancels with code 22", function()
      local d = T.driver()
      d:eval([[
        S = C4:CreateTCPServer()
          :OnResolve(function(srv, eps, choose) CHOOSE = choose end)
          :OnError(function(srv, code, msg, op) rec("error", code, op) end)
          :Listen("127.0.0.1", 0)
      ]])
      d:run_until(function() return d:eval("return CHOOSE ~= nil") end)
      d:eval("CHOOSE(0)")
      assert.equal("error 22 resolve", T.wait_for(d, "^error"))
    end)

    it("with no index and choose dropped, listens on the first endpoint", function()
      local d = T.driver()
      d:eval([[
        S = C4:CreateTCPServer()
          :OnResolve(function(srv, eps, choose) rec("resolved", #eps) end)
          :OnListen(function(srv, ep) rec("listen", ep.ip) end)
          :Listen("127.0.0.1", 0)
      ]])
      T.wait_for(d, "^listen")
      assert.same({ "resolved 1", "listen 127.0.0.1" }, T.events(d))
    end)

    it("choose dropped later without a call also means the first endpoint", function()
      local d = T.driver()
      d:eval([[
        S = C4:CreateTCPServer()
          :OnResolve(function(srv, eps, choose) CHOOSE = choose end)
          :OnListen(function(srv, ep) rec("listen", ep.ip) end)
          :Listen("127.0.0.1", 0)
      ]])
      d:run_until(function() return d:eval("return CHOOSE ~= nil") end)
      assert.has_error(function() T.wait_for(d, "^listen", 100) end)
      d:eval("CHOOSE = nil; collectgarbage(); collectgarbage()")
      assert.equal("listen 127.0.0.1", T.wait_for(d, "^listen"))
    end)

    it("an error in OnResolve is reported and the first endpoint used", function()
      local d = T.driver()
      d:eval([[
        S = C4:CreateTCPServer()
          :OnResolve(function() error("resolve handler broke") end)
          :OnListen(function(srv, ep) rec("listen", ep.ip) end)
          :Listen("127.0.0.1", 0)
      ]])
      T.wait_for(d, "^listen")
      local errs = d:errors()
      assert.equal(1, #errs)
      assert.truthy(errs[1].message:find("resolve handler broke", 1, true))
      assert.truthy(errs[1].where:find("OnResolve", 1, true))
    end)

    it("changes to the endpoints table are ignored", function()
      local d = T.driver()
      d:eval([[
        S = C4:CreateTCPServer()
          :OnResolve(function(srv, eps) eps[1].ip = "10.9.9.9"; eps[1].port = 1 end)
          :OnListen(function(srv, ep) rec("listen", ep.ip, srv:GetLocalAddress().ip) end)
          :Listen("127.0.0.1", 0)
      ]])
      assert.equal("listen 127.0.0.1 127.0.0.1", T.wait_for(d, "^listen"))
    end)
  end)

  it("an error in OnAccept is reported; the server goes on accepting", function()
    local d = T.driver()
    d:eval("ACCEPT = function(srv, cli) KEEP = cli; error('accept handler broke') end")
    local port = T.listen(d)
    d:connect(port)
    d:run_until(function() return #d:unseen_errors() > 0 end)
    assert.truthy(d:errors()[1].message:find("accept handler broke", 1, true))
    d:connect(port)
    d:run_until(function() return T.count(d, "SRV accept") == 2 end)
    assert.equal(2, #d:errors())
  end)

  describe("errors", function()
    it("port in use: OnError(98, \"Address already in use\", \"listen\")", function()
      local d = T.driver()
      local port = T.listen(d, "A")
      d:eval([[
        B = C4:CreateTCPServer()
          :OnListen(function() rec("listen") end)
          :OnError(function(srv, code, msg, op) rec("error", code, msg, op) end)
          :Listen("127.0.0.1", ...)
      ]], port)
      assert.equal("error 98 Address already in use listen", T.wait_for(d, "^error"))
      -- a failed Listen may be tried again
      assert.is_true(d:eval("return rawequal(B:Listen('127.0.0.1', 0), B)"))
      T.wait_for(d, "^listen")
    end)

    it("an unresolvable host: OnError with the resolver's code and text, op \"resolve\"", function()
      local d = T.driver()
      d:eval([[
        S = C4:CreateTCPServer()
          :OnResolve(function() rec("resolve") end)
          :OnError(function(srv, code, msg, op)
            rec("error", type(code), code > 0, type(msg), #msg > 0, op)
          end)
          :Listen("no-such-host.invalid", 0)
      ]])
      assert.equal("error number true string true resolve", T.wait_for(d, "^error", 10000))
      assert.is_false(T.seen(d, "^resolve"))
      assert.equal(0, T.handles(d, "tcp-resolve"))
    end)

    it("an unknown service name: OnError, op \"resolve\"", function()
      local d = T.driver()
      d:eval([[
        S = C4:CreateTCPServer()
          :OnError(function(srv, code, msg, op) rec("error", code > 0, op) end)
          :Listen("127.0.0.1", "no-such-service")
      ]])
      assert.equal("error true resolve", T.wait_for(d, "^error"))
    end)

    it("a failure with no OnError handler is logged", function()
      local d = T.driver()
      d:eval("C4:CreateTCPServer():OnResolve(function() return 0 end):Listen('127.0.0.1', 0)")
      d:run_until(function() return d:logged("no OnError handler") end)
    end)

    it("Listen while listening or resolving answers nil and a message", function()
      local d = T.driver()
      local r = d:eval([[
        S = C4:CreateTCPServer():OnListen(function() rec("listen") end)
        S:Listen("127.0.0.1", 0)
        return { S:Listen("127.0.0.1", 0) }
      ]])
      assert.is_nil(r[1])
      assert.truthy(r[2]:find("in progress"))
      T.wait_for(d, "^listen")
      r = d:eval("return { S:Listen('127.0.0.1', 0) }")
      assert.is_nil(r[1])
      assert.truthy(r[2]:find("already listening"))
    end)
  end)

  describe("Option", function()
    it("takes reuseaddr and linger as booleans or 1/0, with seconds", function()
      local d = T.driver()
      assert.is_true(d:eval([[
        local s = C4:CreateTCPServer()
        return s:Option("reuseaddr", true) == s and s:Option("reuseaddr", 0) == s
           and s:Option("REUSEADDR", 1) == s and s:Option("linger", true, 5) == s
           and s:Option("linger", false) == s and s:Option("linger", 1, 0) == s
      ]]))
    end)

    it("answers nil and a message for an unknown option", function()
      local d = T.driver()
      local r = d:eval("return { C4:CreateTCPServer():Option('nodelay', true) }")
      assert.is_nil(r[1])
      assert.truthy(r[2]:find("unknown option 'nodelay'", 1, true))
    end)

    it("gives accepted connections the server's linger (0 s: Close() resets)", function()
      local d = T.driver()
      d:eval([[
        ACCEPT = function(srv, cli) CLI = cli end
      ]])
      local port = T.listen(d)
      d:eval("SRV:Option('linger', true, 0)")
      local c = d:connect(port)
      d:run_until(function() return d:eval("return CLI ~= nil") end)
      d:eval("CLI:Close()")
      local err = T.error_of(c.receive, c, 1, 1000)
      assert.truthy(err:lower():find("reset"), err)
    end)
  end)

  describe("Close", function()
    it("stops listening, without OnError; accepted clients stay", function()
      local d = T.driver()
      d:eval([[
        ACCEPT = function(srv, cli)
          KEEP = cli
          cli:OnRead(function(c, data) c:Write("echo " .. data):ReadUntil("\n") end):ReadUntil("\n")
        end
      ]])
      local port = T.listen(d)
      local c = d:connect(port)
      T.wait_for(d, "SRV accept")
      assert.is_true(d:eval("return rawequal(SRV:Close(), SRV)"))
      assert.is_true(d:eval("return rawequal(SRV:Close(), SRV)")) -- twice: harmless
      d:run_until(function() return T.refused(d, port) end)
      c:send("still here\n")
      assert.equal("echo still here\n", c:receive_until("\n"))
      assert.is_false(T.seen(d, "error"))
      assert.equal(0, T.handles(d, "C4LuaTcpServer"))
    end)

    it("collecting the server does not touch accepted clients either", function()
      local d = T.driver()
      d:eval([[
        ACCEPT = function(srv, cli)
          cli:OnRead(function(c, data) c:Write("echo " .. data):ReadUntil("\n") end):ReadUntil("\n")
        end
      ]])
      local port = T.listen(d)
      local c = d:connect(port)
      T.wait_for(d, "SRV accept")
      d:eval("SRV = nil; collectgarbage(); collectgarbage()")
      d:run_until(function() return T.refused(d, port) end)
      c:send("after gc\n")
      assert.equal("echo after gc\n", c:receive_until("\n"))
    end)

    it("cancels a pending resolve: OnError(ECANCELED) comes from the loop, not from Close", function()
      local d = T.driver()
      local inside = d:eval([[
        S = C4:CreateTCPServer()
          :OnResolve(function() rec("resolve") end)
          :OnListen(function() rec("listen") end)
          :OnError(function(srv, code, msg, op) rec("error", code, msg, op) end)
        S:Listen("127.0.0.1", 0)
        S:Close()
        return #EV
      ]])
      assert.equal(0, inside)
      assert.equal("error 125 Operation canceled listen", T.wait_for(d, "^error"))
      d:advance(10)
      assert.same({ "error 125 Operation canceled listen" }, T.events(d))
      assert.equal(0, select(1, d:handles()))
    end)

    it("cancels a pending choice too", function()
      local d = T.driver()
      d:eval([[
        S = C4:CreateTCPServer()
          :OnResolve(function(srv, eps, choose) CHOOSE = choose; rec("resolve") end)
          :OnListen(function() rec("listen") end)
          :OnError(function(srv, code, msg, op) rec("error", code, op) end)
          :Listen("127.0.0.1", 0)
      ]])
      T.wait_for(d, "^resolve")
      d:eval("S:Close()")
      assert.equal("error 125 listen", T.wait_for(d, "^error"))
      assert.is_false(d:eval("return CHOOSE(1)"))
      d:advance(10)
      assert.is_false(T.seen(d, "^listen"))
    end)

    it("inside OnResolve cancels as well", function()
      local d = T.driver()
      d:eval([[
        S = C4:CreateTCPServer()
          :OnResolve(function(srv) srv:Close(); return 1 end)
          :OnListen(function() rec("listen") end)
          :OnError(function(srv, code, msg, op) rec("error", code, op) end)
          :Listen("127.0.0.1", 0)
      ]])
      assert.equal("error 125 listen", T.wait_for(d, "^error"))
      assert.is_false(T.seen(d, "^listen"))
    end)

    it("any other method on a closed server raises a clear error", function()
      local d = T.driver()
      d:eval("S = C4:CreateTCPServer(); S:Close()")
      for _, call in ipairs({
        "S:Listen('127.0.0.1', 0)", "S:GetLocalAddress()", "S:Option('reuseaddr', true)",
        "S:OnListen(function() end)", "S:OnAccept(function() end)", "S:OnError(function() end)",
        "S:OnResolve(function() end)",
      }) do
        local err = T.error_of(d.eval, d, call)
        assert.truthy(err:find("C4LuaTcpServer:%a+: this C4LuaTcpServer is closed"), err)
      end
      assert.truthy(d:eval("return tostring(S)"):find("closed"))
    end)

    it("GetLocalAddress before listening answers nil", function()
      local d = T.driver()
      local r = d:eval("return { C4:CreateTCPServer():GetLocalAddress() }")
      assert.is_nil(r[1])
      assert.truthy(r[2]:find("not listening"))
    end)
  end)

  describe("lifetime", function()
    it("a pending Listen keeps an unreferenced server alive until OnListen", function()
      local d = T.driver()
      d:eval([[
        C4:CreateTCPServer()
          :OnResolve(function() collectgarbage(); collectgarbage(); rec("resolve") end)
          :OnListen(function(srv) collectgarbage(); rec("listen", srv:GetLocalAddress().port > 0) end)
          :Listen("127.0.0.1", 0)
        collectgarbage(); collectgarbage()
      ]])
      assert.equal("listen true", T.wait_for(d, "^listen"))
      assert.same({ "resolve", "listen true" }, T.events(d))
    end)

    it("... or until OnError", function()
      local d = T.driver()
      d:eval([[
        C4:CreateTCPServer()
          :OnError(function(srv, code) rec("error", code) end)
          :Listen("no-such-host.invalid", 0)
        collectgarbage(); collectgarbage()
      ]])
      T.wait_for(d, "^error", 10000)
    end)

    it("after OnListen an unreferenced server is collected and stops listening", function()
      local d = T.driver()
      d:eval([[
        C4:CreateTCPServer()
          :OnListen(function(srv) PORT = srv:GetLocalAddress().port end)
          :Listen("127.0.0.1", 0)
      ]])
      local port = port_of(d, "PORT")
      assert.equal(1, T.handles(d, "C4LuaTcpServer"))
      d:eval("collectgarbage(); collectgarbage()")
      d:run_until(function() return T.handles(d, "C4LuaTcpServer") == 0 end)
      assert.is_true(T.refused(d, port))
    end)

    it("a referenced server keeps listening through collections", function()
      local d = T.driver()
      local port = T.listen(d)
      d:eval("collectgarbage(); collectgarbage()")
      d:advance(10)
      d:connect(port):close()
      T.wait_for(d, "SRV accept")
    end)

    it("driver destroy closes listeners, resolves and clients without calling Lua", function()
      local d = c4emu.load(S.folder("minimal"))
      d:init()
      d:eval([[
        EV = {}
        ACCEPTED = {}
        function OnDriverDestroyed() EV[#EV + 1] = "destroyed" end
        L = C4:CreateTCPServer()
          :OnListen(function(srv) PORT = srv:GetLocalAddress().port end)
          :OnAccept(function(srv, cli)
            ACCEPTED[#ACCEPTED + 1] = cli
            cli:OnDisconnect(function() EV[#EV + 1] = "disconnect" end):ReadUntil("\n")
          end)
          :Listen("127.0.0.1", 0)
        P = C4:CreateTCPServer()
          :OnResolve(function(srv, eps, choose) CHOOSE = choose end)
          :OnError(function() EV[#EV + 1] = "error" end)
          :Listen("127.0.0.1", 0)
        Q = C4:CreateTCPServer():OnError(function() EV[#EV + 1] = "error" end)
          :Listen("no-such-host.invalid", 0)
      ]])
      local port = d:run_until(function() return d:eval("return PORT") end)
      local c = d:connect(port)
      d:run_until(function() return d:eval("return #ACCEPTED == 1 and CHOOSE ~= nil") end)
      assert.is_true(select(1, d:handles()) >= 3)
      d:destroy()
      assert.equal(0, (d:handles()))
      assert.is_true(c:is_closed(1000))
      assert.same({}, d:errors())
    end)
  end)

  describe("the init rule", function()
    it("C4:CreateTCPServer in OnDriverInit is an error (strict)", function()
      local d = c4emu.load(S.folder("tcp_init"), { properties = { ["Init Action"] = "create-server" } })
      d:init()
      local errs = d:errors()
      assert.equal(1, #errs)
      assert.truthy(errs[1].message:find("C4:CreateTCPServer may not be called during OnDriverInit",
                                         1, true))
      assert.is_nil(d:eval("return RESULT"))
      d:destroy()
    end)

    it("... a warning with init_rule = \"warn\", and fine in OnDriverLateInit", function()
      local d = c4emu.load(S.folder("tcp_init"), { init_rule = "warn",
        properties = { ["Init Action"] = "create-server", ["Also Late"] = "yes" } })
      d:init()
      assert.same({}, d:errors())
      assert.equal(1, #d:notes())
      assert.equal("late", d:eval("return RESULT.phase"))
      d:destroy()
    end)

    for _, action in ipairs({ "listen", "create-client", "connect" }) do
      it(action .. " in OnDriverInit is discouraged: a note, no error", function()
        local d = c4emu.load(S.folder("tcp_init"), { properties = { ["Init Action"] = action } })
        d:init()
        assert.same({}, d:errors())
        local notes = d:notes()
        assert.equal(1, #notes)
        assert.equal("init-rule", notes[1].kind)
        assert.truthy(notes[1].text:find("OnDriverInit"))
        assert.truthy(d:eval("return RESULT.value"):find("^C4LuaTcp"))
        d:destroy()
      end)
    end

    it("the chunk is not covered: the chat seed creates its server at load", function()
      local d = c4emu.load(S.folder("chat"))
      d:init()
      assert.same({}, d:errors())
      assert.same({}, d:notes())
      d:destroy()
    end)
  end)

  describe("wrong arguments", function()
    local cases = {
      { "S:OnResolve(1)", "bad argument #1 to 'OnResolve' %(function expected, got number%)" },
      { "S:OnListen('x')", "bad argument #1 to 'OnListen' %(function expected, got string%)" },
      { "S:OnAccept({})", "bad argument #1 to 'OnAccept' %(function expected, got table%)" },
      { "S:OnError(true)", "bad argument #1 to 'OnError' %(function expected, got boolean%)" },
      { "S:OnError()", "bad argument #1 to 'OnError' %(function expected, got no value%)" },
      { "S:Option()", "bad argument #1 to 'Option' %(string expected, got no value%)" },
      { "S:Option('linger', 'yes')", "bad argument #2 to 'Option' %(boolean %(or 1/0%) expected" },
      { "S:Option('linger', true, 'x')", "bad argument #3 to 'Option' %(number expected" },
      { "S:Option('linger', true, -1)", "bad argument #3 to 'Option' %(seconds must be" },
      { "S:Listen()", "bad argument #1 to 'Listen' %(string expected, got no value%)" },
      { "S:Listen({}, 0)", "bad argument #1 to 'Listen' %(string expected, got table%)" },
      { "S:Listen('*')", "bad argument #2 to 'Listen' %(port number or service name expected" },
      { "S:Listen('*', 65536)", "bad argument #2 to 'Listen' %(port must be a whole number" },
      { "S:Listen('*', 1.5)", "bad argument #2 to 'Listen' %(port must be a whole number" },
      { "S:Listen('*', -1)", "bad argument #2 to 'Listen' %(port must be a whole number" },
      { "S:Listen('*', '99999')", "bad argument #2 to 'Listen' %(port must be a whole number" },
      { "S:Listen('*', '')", "bad argument #2 to 'Listen' %(service must not be empty" },
      { "S:Listen('*', 0, 'x')", "bad argument #3 to 'Listen' %(number expected" },
      { "S:Listen('*', 0, -5)", "bad argument #3 to 'Listen' %(backlog must be" },
      { "S.Listen('*', 0)", "bad argument #1 to 'Listen' %(C4LuaTcpServer expected, got string%)" },
      { "S.Close()", "bad argument #1 to 'Close' %(C4LuaTcpServer expected, got no value%)" },
      { "S.GetLocalAddress(C4:CreateTCPClient())",
        "bad argument #1 to 'GetLocalAddress' %(C4LuaTcpServer expected, got userdata%)" },
      { "C4.CreateTCPServer()", "must be called with a colon" },
    }
    for _, case in ipairs(cases) do
      it(case[1] .. " raises", function()
        local d = T.driver()
        d:eval("S = C4:CreateTCPServer()")
        local err = T.error_of(d.eval, d, case[1])
        assert.truthy(err:find(case[2]), err)
      end)
    end
  end)

  it("serves many lines on many connections (the echo fixture)", function()
    local d = c4emu.load(S.folder("tcp_echo"))
    d:init()
    finally(function() d:destroy() end)
    local port = d:run_until(function() return d:eval("return PORT") end)
    local cs = {}
    for i = 1, 20 do cs[i] = d:connect(port) end
    for round = 1, 20 do
      for i, c in ipairs(cs) do c:send("line " .. i .. " " .. round .. "\n") end
      for i, c in ipairs(cs) do assert.equal("line " .. i .. " " .. round .. "\n", c:receive_until("\n")) end
    end
    for _, c in ipairs(cs) do c:close() end
    d:run_until(function() return T.handles(d, "C4LuaTcpClient") == 0 end)
  end)
end)
