-- C4LuaTcpClient (reference §4): connections a C4LuaTcpServer accepts, and
-- C4:CreateTCPClient() with Connect / OnConnect.  Writes and OnWrite, every
-- read mode (a matcher that consumes and replaces included), buffered early
-- data, the partial payload at disconnect, OnDisconnect exactly once, Close
-- with and without flush, options, addresses, lifetimes, errors and wrong
-- arguments.  Everything on loopback, ports ephemeral.
local T = require "tcp_support"

local serve = T.serve

-- Records what a client sees; the reads re-arm with the given call (Lua source).
local function recorder(rearm)
  return [[function(srv, cli)
    CLI = cli
    cli:OnRead(function(c, data)
          rec("read", type(data) == "table" and ("{" .. tostring(data.payload) .. "}") or data)
          ]] .. (rearm or "") .. [[
        end)
       :OnWrite(function(c) rec("wrote") end)
       :OnDisconnect(function(c, code, msg) rec("disconnect", code, msg) end)
       :OnError(function(c, code, msg, op) rec("error", code, msg, op) end)
  end]]
end

describe("C4LuaTcpClient", function()
  it("setters chain and return the client", function()
    local d = T.driver()
    serve(d, [[function(srv, cli)
      local f = function() end
      rec(tostring(cli):match("^C4LuaTcpClient") ~= nil, getmetatable(cli),
          cli:OnRead(f) == cli, cli:OnWrite(f) == cli, cli:OnDisconnect(f) == cli,
          cli:OnError(f) == cli, cli:OnResolve(f) == cli, cli:OnConnect(f) == cli,
          cli:Option("nodelay", true) == cli, cli:Write("") == cli, cli:ReadUpTo(10) == cli,
          cli:OnRead(nil) == cli)
    end]])
    assert.equal("true C4LuaTcpClient true true true true true true true true true true",
                 T.events(d)[2])
  end)

  describe("Write and OnWrite", function()
    it("queues writes in order and calls OnWrite once everything is sent", function()
      local d = T.driver()
      local c = serve(d, [[function(srv, cli)
        CLI = cli
        cli:OnWrite(function(c) rec("wrote") end):Write("one "):Write("two "):Write("three\n")
      end]])
      assert.equal("one two three\n", c:receive_until("\n"))
      T.wait_for(d, "^wrote")
      d:advance(20)
      assert.equal(1, T.count(d, "^wrote"))
    end)

    it("calls OnWrite on a later turn, never from inside Write, even when the kernel took it at once", function()
      local d = T.driver()
      local c = serve(d, [[function(srv, cli)
        CLI = cli
        cli:OnWrite(function(c) rec("wrote") end)
        cli:Write("hello\n")
        rec("after write")
      end]])
      assert.equal("hello\n", c:receive_until("\n"))
      T.wait_for(d, "^wrote")
      local ev = T.events(d)
      local after, wrote
      for i, e in ipairs(ev) do
        if e == "after write" then after = i end
        if e == "wrote" then wrote = i end
      end
      assert.truthy(after and wrote and after < wrote)
    end)

    it("calls an OnWrite set just after the Write, in the same callback", function()
      local d = T.driver()
      local c = serve(d, [[function(srv, cli)
        CLI = cli
        cli:Write("late\n"):OnWrite(function(c) rec("wrote") end)
      end]])
      assert.equal("late\n", c:receive_until("\n"))
      T.wait_for(d, "^wrote")
      d:advance(20)
      assert.equal(1, T.count(d, "^wrote"))
    end)

    it("sends a large write whole, then OnWrite", function()
      local d = T.driver()
      local c = serve(d, [[function(srv, cli)
        CLI = cli
        local chunk = string.rep("0123456789abcdef", 4096)  -- 64 KiB
        local t = {}
        for i = 1, 64 do t[i] = chunk end                   -- 4 MiB
        cli:OnWrite(function() rec("wrote") end):Write(table.concat(t))
      end]])
      local data = c:receive(4 * 1024 * 1024, 10000)
      assert.equal(4 * 1024 * 1024, #data)
      assert.equal(string.rep("0123456789abcdef", 4), data:sub(1, 64))
      T.wait_for(d, "^wrote")
    end)

    it("keeps the order of writes made while answering, past the batch size and up to Close(true)", function()
      local d = T.driver()
      local c = serve(d, [[function(srv, cli)
        cli:OnRead(function(c)
          c:Write("a"):Write(string.rep("b", 40000)):Write("c"):Write(string.rep("d", 100000))
          for i = 1, 1000 do c:Write("e") end
          c:Write("\n"):Close(true):Write("dropped")
        end):ReadUntil("\n")
      end]])
      c:send("go\n")
      local want = "a" .. string.rep("b", 40000) .. "c" .. string.rep("d", 100000) ..
                   string.rep("e", 1000) .. "\n"
      local got = c:receive(#want, 5000)
      assert.is_true(got == want)
      assert.is_true(c:is_closed(1000))
    end)

    it("a client answering writes to another client too (the chat's broadcast)", function()
      local d = T.driver()
      d:eval([[
        CLIENTS = {}
        ACCEPT = function(srv, cli)
          CLIENTS[#CLIENTS + 1] = cli
          cli:OnRead(function(c, data)
            for _, other in ipairs(CLIENTS) do
              if other ~= c then other:Write("from another: " .. data) end
            end
            c:Write("you: " .. data):ReadUntil("\n")
          end):ReadUntil("\n")
        end
      ]])
      local port = T.listen(d)
      local a, b = d:connect(port), d:connect(port)
      d:run_until(function() return d:eval("return #CLIENTS") == 2 end)
      a:send("one\ntwo\n")
      assert.equal("you: one\n", a:receive_until("\n"))
      assert.equal("you: two\n", a:receive_until("\n"))
      assert.equal("from another: one\n", b:receive_until("\n"))
      assert.equal("from another: two\n", b:receive_until("\n"))
    end)

    it("accepts numbers as data (Lua's string coercion)", function()
      local d = T.driver()
      local c = serve(d, "function(srv, cli) CLI = cli; cli:Write(42):Write('\\n') end")
      assert.equal("42\n", c:receive_until("\n"))
    end)
  end)

  describe("reads", function()
    it("ReadUntil(string) delivers up to and including the delimiter, one read per call", function()
      local d = T.driver()
      local c = serve(d, recorder() .. "")
      d:eval("CLI:ReadUntil('\\r\\n')")
      c:send("first\r")
      d:advance(20)
      assert.is_false(T.seen(d, "^read"))
      c:send("\nsecond\r\nthird\r\n")
      T.wait_for(d, "^read first")
      d:advance(20)
      assert.equal(1, T.count(d, "^read")) -- one-shot: the rest waits, buffered
      d:eval("CLI:ReadUntil('\\r\\n')")
      T.wait_for(d, "^read second")
      d:eval("CLI:ReadUntil('\\r\\n')")
      T.wait_for(d, "^read third")
      assert.same({ "SRV accept", "read first\r\n", "read second\r\n", "read third\r\n" },
                  T.events(d))
    end)

    it("re-arming inside OnRead delivers every buffered line in turn", function()
      local d = T.driver()
      local c = serve(d, recorder("c:ReadUntil('\\n')"))
      d:eval("CLI:ReadUntil('\\n')")
      c:send("a\nb\nc\nd")
      T.wait_for(d, "^read c")
      d:advance(20)
      assert.same({ "SRV accept", "read a\n", "read b\n", "read c\n" }, T.events(d))
    end)

    it("data that arrives before a read is armed is buffered, not lost", function()
      local d = T.driver()
      local c = serve(d, "function(srv, cli) CLI = cli end")
      c:send("early one\nearly two\n")
      d:advance(50)
      local during = d:eval([[
        CLI:OnRead(function(c, data) rec("read", data); c:ReadUntil("\n") end):ReadUntil("\n")
        return #EV
      ]])
      assert.equal(1, during) -- OnRead never runs inside ReadUntil
      T.wait_for(d, "^read early two")
      assert.same({ "SRV accept", "read early one\n", "read early two\n" }, T.events(d))
    end)

    it("arming a read replaces the one armed before", function()
      local d = T.driver()
      local c = serve(d, recorder())
      d:eval("CLI:ReadUntil('\\n'); CLI:ReadUntil(';')")
      c:send("x\ny;")
      assert.equal("read x\ny;", T.wait_for(d, "^read"))
    end)

    it("ReadUntil(matcher) can consume and replace: length-prefixed frames as tables", function()
      local d = T.driver()
      d:eval([[
        MATCH = function(buf)
          local len, at = buf:match("^(%d+):()")
          if not len then return false, 0 end
          local last = at + tonumber(len) - 1
          if #buf < last then return false end
          return true, last, { payload = buf:sub(at, last) }
        end
      ]])
      local c = serve(d, recorder("c:ReadUntil(MATCH)"))
      d:eval("CLI:ReadUntil(MATCH)")
      c:send("3:abc5:hel")
      T.wait_for(d, "^read {abc}")
      d:advance(20)
      assert.equal(1, T.count(d, "^read"))
      c:send("lo0:")
      T.wait_for(d, "^read {}")
      assert.same({ "SRV accept", "read {abc}", "read {hello}", "read {}" }, T.events(d))
    end)

    it("a matcher that says no can still drop bytes (false, n), and is asked again", function()
      local d = T.driver()
      d:eval([[
        CALLS = 0
        SKIP = function(buf)
          CALLS = CALLS + 1
          local s = buf:find("<", 1, true)
          if not s then return false, #buf end       -- all garbage
          if s > 1 then return false, s - 1 end      -- drop what precedes '<'
          local e = buf:find(">", 1, true)
          if not e then return false end             -- wait for more
          return true, e                              -- the bytes themselves
        end
      ]])
      local c = serve(d, recorder("c:ReadUntil(SKIP)"))
      d:eval("CLI:ReadUntil(SKIP)")
      c:send("junk<a>xx<b")
      T.wait_for(d, "^read <a>")
      c:send("c>")
      T.wait_for(d, "^read <bc>")
      assert.same({ "SRV accept", "read <a>", "read <bc>" }, T.events(d))
      local calls = d:eval("return CALLS")
      d:advance(50)
      assert.equal(calls, d:eval("return CALLS")) -- not asked again without new data
    end)

    it("a matcher returning true with no count takes the whole buffer", function()
      local d = T.driver()
      local c = serve(d, recorder())
      d:eval("CLI:ReadUntil(function(buf) return #buf >= 4 end)")
      c:send("ab")
      d:advance(20)
      c:send("cdef")
      assert.equal("read abcdef", T.wait_for(d, "^read"))
    end)

    it("a matcher that fails is reported and its read cancelled", function()
      local d = T.driver()
      local c = serve(d, recorder())
      d:eval("CLI:ReadUntil(function(buf) error('matcher broke') end)")
      c:send("x")
      d:run_until(function() return #d:unseen_errors() > 0 end)
      local errs = d:errors()
      assert.truthy(errs[1].message:find("matcher broke", 1, true))
      c:send("y")
      d:advance(50)
      assert.is_false(T.seen(d, "^read"))
      assert.truthy(d:logged("matcher failed"))
    end)

    it("ReadUntilOneOf stops at the first byte of the set, included", function()
      local d = T.driver()
      local c = serve(d, recorder("c:ReadUntilOneOf(',;')"))
      d:eval("CLI:ReadUntilOneOf(',;')")
      c:send("ab;cd,ef")
      T.wait_for(d, "^read cd,")
      assert.same({ "SRV accept", "read ab;", "read cd," }, T.events(d))
    end)

    it("ReadUntilOneNotOf stops at the first byte not in the set, included", function()
      local d = T.driver()
      local c = serve(d, recorder("c:ReadUntilOneNotOf(' \\t')"))
      d:eval("CLI:ReadUntilOneNotOf(' \\t')")
      c:send("  \t x")
      T.wait_for(d, "^read")
      c:send("yz")
      T.wait_for(d, "^read y")
      assert.same({ "SRV accept", "read   \t x", "read y", "read z" }, T.events(d))
    end)

    it("ReadAtLeast(min) waits for min bytes, then delivers all that is buffered", function()
      local d = T.driver()
      local c = serve(d, recorder())
      d:eval("CLI:ReadAtLeast(5)")
      c:send("abc")
      d:advance(20)
      assert.is_false(T.seen(d, "^read"))
      c:send("defgh")
      assert.equal("read abcdefgh", T.wait_for(d, "^read"))
    end)

    it("ReadUpTo(max) delivers what has arrived, at most max bytes", function()
      local d = T.driver()
      local c = serve(d, recorder("c:ReadUpTo(4)"))
      c:send("abcdefghij")
      d:advance(20)
      d:eval("CLI:ReadUpTo(4)")
      T.wait_for(d, "^read ij")
      assert.same({ "SRV accept", "read abcd", "read efgh", "read ij" }, T.events(d))
    end)

    it("keeps to the limits: ReadAtLeast 1 B - 1024 KiB, ReadUpTo 1 B - 4096 KiB", function()
      local d = T.driver()
      serve(d, "function(srv, cli) CLI = cli end")
      assert.is_true(d:eval([[return CLI:ReadAtLeast(1) == CLI and CLI:ReadAtLeast(1048576) == CLI
                               and CLI:ReadUpTo(1) == CLI and CLI:ReadUpTo(4194304) == CLI]]))
      for _, call in ipairs({ "CLI:ReadAtLeast(0)", "CLI:ReadAtLeast(1048577)", "CLI:ReadAtLeast(-1)",
                              "CLI:ReadUpTo(0)", "CLI:ReadUpTo(4194305)" }) do
        local err = T.error_of(d.eval, d, call)
        assert.truthy(err:find("bad argument #1 to 'Read%a+' %(must be from 1 to %d+ bytes"), err)
      end
    end)
  end)

  describe("disconnects", function()
    it("delivers a partial payload before OnDisconnect(0) when the peer closes", function()
      local d = T.driver()
      local c = serve(d, recorder("c:ReadUntil('\\r\\n')"))
      d:eval("CLI:ReadUntil('\\r\\n')")
      c:send("whole line\r\nno delimiter")
      c:close()
      T.wait_for(d, "^disconnect")
      assert.same({ "SRV accept", "read whole line\r\n", "read no delimiter", "disconnect 0 Success" },
                  T.events(d))
    end)

    it("a reply written in that last OnRead still reaches the peer (half-close)", function()
      local d = T.driver()
      local c = serve(d, [[function(srv, cli)
        cli:OnRead(function(c, data) c:Write("got " .. data .. "\n") end)
           :OnDisconnect(function(c, code) rec("disconnect", code) end)
           :ReadUntil("\n")
      end]])
      c:send("question")
      c:shutdown()
      assert.equal("got question\n", c:receive_until("\n"))
      T.wait_for(d, "^disconnect 0")
      assert.is_true(c:is_closed(1000))
    end)

    it("OnDisconnect fires exactly once when the peer closes", function()
      local d = T.driver()
      local c = serve(d, recorder())
      c:close()
      T.wait_for(d, "^disconnect")
      d:advance(100)
      assert.equal(1, T.count(d, "^disconnect"))
      assert.same({ "SRV accept", "disconnect 0 Success" }, T.events(d))
    end)

    it("a reset by the peer: OnError(op \"read\"), then OnDisconnect with the errno", function()
      local d = T.driver()
      local c = serve(d, recorder())
      d:eval("CLI:ReadUntil('\\n')")
      c:reset()
      T.wait_for(d, "^disconnect")
      assert.same({ "SRV accept", "error 104 Connection reset by peer read",
                    "disconnect 104 Connection reset by peer" }, T.events(d))
    end)

    for _, flush in ipairs({ "true", "false", "" }) do
      it("Close(" .. flush .. ") by the driver: OnDisconnect(0) once, the peer sees the close", function()
        local d = T.driver()
        local c = serve(d, recorder())
        assert.is_true(d:eval("return rawequal(CLI:Close(" .. flush .. "), CLI)"))
        assert.is_true(d:eval("return rawequal(CLI:Close(" .. flush .. "), CLI)")) -- twice
        T.wait_for(d, "^disconnect")
        assert.is_true(c:is_closed(1000))
        d:advance(50)
        assert.same({ "SRV accept", "disconnect 0 Success" }, T.events(d))
      end)
    end

    it("Close(true) sends everything queued first; OnWrite is not called any more", function()
      local d = T.driver()
      local c = serve(d, recorder())
      d:eval([[
        local t = {}
        for i = 1, 256 do t[i] = string.rep(string.char(64 + i % 26), 16384) end  -- 4 MiB
        BIG = table.concat(t)
        CLI:Write(BIG):Write("END\n"):Close(true)
      ]])
      local data = c:receive(4 * 1024 * 1024 + 4, 10000)
      assert.equal("END\n", data:sub(-4))
      assert.is_true(d:eval("return ... == BIG", data:sub(1, -5)))
      assert.is_true(c:is_closed(1000))
      T.wait_for(d, "^disconnect 0")
      assert.is_false(T.seen(d, "^wrote"))
    end)

    it("after Close, writes are dropped and reads answer nil; after OnDisconnect methods raise", function()
      local d = T.driver()
      local c = serve(d, recorder())
      local r = d:eval([[
        CLI:Close(true)
        local w = CLI:Write("dropped")
        local r1, m1 = CLI:ReadUntil("\n")
        local o1, m2 = CLI:Option("nodelay", true)
        return { rawequal(w, CLI), r1 == nil, m1, o1 == nil, CLI:OnRead(function() end) == CLI }
      ]])
      assert.same({ true, true, "C4LuaTcpClient:ReadUntil: the client is closing", true, true }, r)
      T.wait_for(d, "^disconnect")
      assert.is_true(c:is_closed(1000))
      assert.has_error(function() c:receive(1, 100) end)
      for _, call in ipairs({
        "CLI:Write('x')", "CLI:ReadUntil('x')", "CLI:ReadUntil(function() end)",
        "CLI:ReadUntilOneOf('x')", "CLI:ReadUntilOneNotOf('x')", "CLI:ReadAtLeast(1)",
        "CLI:ReadUpTo(1)", "CLI:Option('nodelay', true)", "CLI:Connect('!local', 1)",
        "CLI:OnRead(function() end)", "CLI:OnWrite(function() end)",
        "CLI:OnDisconnect(function() end)", "CLI:OnError(function() end)",
        "CLI:OnConnect(function() end)", "CLI:OnResolve(function() end)",
      }) do
        local err = T.error_of(d.eval, d, call)
        assert.truthy(err:find("C4LuaTcpClient:%a+: this C4LuaTcpClient is closed"), err)
      end
      -- Close stays harmless; the addresses are remembered
      assert.is_true(d:eval("return rawequal(CLI:Close(), CLI) and CLI:GetRemoteAddress().port > 0"))
      assert.truthy(d:eval("return tostring(CLI)"):find("closed"))
    end)

    it("a client collected while a flushing Close runs still gets its OnDisconnect", function()
      local d = T.driver()
      local c = serve(d, [[function(srv, cli)
        CLI = cli:OnDisconnect(function(c, code) rec("disconnect", code) end)
      end]])
      d:eval([[
        CLI:Write(string.rep("z", 4 * 1024 * 1024)):Write("bye\n"):Close(true)
        CLI = nil
        collectgarbage(); collectgarbage()
      ]])
      assert.equal(4 * 1024 * 1024 + 4, #c:receive_until("bye\n", 10000))
      d:eval("collectgarbage(); collectgarbage()")
      T.wait_for(d, "^disconnect 0")
    end)
  end)

  describe("Option and addresses", function()
    it("takes keepalive, nodelay and linger as booleans or 1/0, with seconds", function()
      local d = T.driver()
      serve(d, "function(srv, cli) CLI = cli end")
      assert.is_true(d:eval([[
        local c = CLI
        return c:Option("keepalive", true, 30) == c and c:Option("keepalive", 0) == c
           and c:Option("nodelay", false) == c and c:Option("NODELAY", 1) == c
           and c:Option("linger", true, 2) == c and c:Option("linger", false) == c
      ]]))
      local r = d:eval("return { CLI:Option('reuseaddr', true) }")
      assert.is_nil(r[1])
      assert.truthy(r[2]:find("unknown option 'reuseaddr'", 1, true))
    end)

    it("linger with 0 seconds makes Close() a reset", function()
      local d = T.driver()
      local c = serve(d, "function(srv, cli) CLI = cli end")
      d:eval("CLI:Option('linger', true, 0):Close()")
      local err = T.error_of(c.receive, c, 1, 1000)
      assert.truthy(err:lower():find("reset"), err)
    end)

    it("linger with N > 0 seconds makes Close() send what is queued first (never blocking)", function()
      local d = T.driver()
      local c = serve(d, "function(srv, cli) CLI = cli end")
      local t0 = os.clock()
      d:eval("CLI:Option('linger', true, 30):Write(string.rep('q', 2 * 1024 * 1024) .. '\\n'):Close()")
      assert.is_true(os.clock() - t0 < 5)
      assert.equal(2 * 1024 * 1024 + 1, #c:receive_until("\n", 10000))
      assert.is_true(c:is_closed(1000))
    end)

    it("GetRemoteAddress is the peer, GetLocalAddress the server's side", function()
      local d = T.driver()
      local c, port = serve(d, "function(srv, cli) CLI = cli end")
      local r = d:eval("return { CLI:GetRemoteAddress(), CLI:GetLocalAddress() }")
      assert.same({ { ip = "127.0.0.1", port = c:local_port() }, { ip = "127.0.0.1", port = port } }, r)
    end)
  end)

  describe("lifetime", function()
    it("an unreferenced client with a read armed survives collection and gets OnRead", function()
      local d = T.driver()
      local c = serve(d, [[function(srv, cli)
        cli:OnRead(function(c, data) rec("read", data) end):ReadUntil("\n")
        collectgarbage(); collectgarbage()
      end]])
      d:eval("collectgarbage(); collectgarbage()")
      c:send("hello\n")
      assert.equal("read hello\n", T.wait_for(d, "^read"))
    end)

    it("an unreferenced idle client is collected and its connection closed", function()
      local d = T.driver()
      local c = serve(d, "function(srv, cli) cli:OnDisconnect(function() rec('disconnect') end) end")
      assert.equal(1, T.handles(d, "C4LuaTcpClient"))
      d:eval("collectgarbage(); collectgarbage()")
      assert.is_true(c:is_closed(1000))
      d:run_until(function() return T.handles(d, "C4LuaTcpClient") == 0 end)
      assert.is_false(T.seen(d, "disconnect")) -- __gc never calls Lua
    end)

    it("an unreferenced client with a write outstanding lives until it is sent", function()
      local d = T.driver()
      local c = serve(d, [[function(srv, cli)
        cli:OnWrite(function() rec("wrote") end):Write(string.rep("x", 3 * 1024 * 1024))
        collectgarbage(); collectgarbage()
      end]])
      d:eval("collectgarbage(); collectgarbage()")
      assert.equal(3 * 1024 * 1024, #c:receive(3 * 1024 * 1024, 10000))
      T.wait_for(d, "^wrote")
      d:eval("collectgarbage(); collectgarbage()") -- idle now: collected, closed
      assert.is_true(c:is_closed(1000))
    end)

    it("driver destroy closes open clients with no Lua calls", function()
      local d = T.driver()
      local c = serve(d, recorder())
      d:eval("CLI:ReadUntil('\\n'); CLI:Write('x')")
      d:destroy()
      assert.equal(0, (d:handles()))
      assert.is_true(c:is_closed(1000))
    end)
  end)

  describe("wrong arguments", function()
    local cases = {
      { "CLI:OnRead(1)", "bad argument #1 to 'OnRead' %(function expected, got number%)" },
      { "CLI:OnWrite('x')", "bad argument #1 to 'OnWrite' %(function expected, got string%)" },
      { "CLI:OnDisconnect({})", "bad argument #1 to 'OnDisconnect' %(function expected" },
      { "CLI:OnError(true)", "bad argument #1 to 'OnError' %(function expected" },
      { "CLI:OnConnect(2)", "bad argument #1 to 'OnConnect' %(function expected" },
      { "CLI:OnResolve()", "bad argument #1 to 'OnResolve' %(function expected, got no value%)" },
      { "CLI:Write()", "bad argument #1 to 'Write' %(string expected, got no value%)" },
      { "CLI:Write({})", "bad argument #1 to 'Write' %(string expected, got table%)" },
      { "CLI:ReadUntil()", "bad argument #1 to 'ReadUntil' %(string or function expected" },
      { "CLI:ReadUntil(5)", "bad argument #1 to 'ReadUntil' %(string or function expected" },
      { "CLI:ReadUntil('')", "bad argument #1 to 'ReadUntil' %(the delimiter must not be empty" },
      { "CLI:ReadUntilOneOf()", "bad argument #1 to 'ReadUntilOneOf' %(string expected" },
      { "CLI:ReadUntilOneOf('')", "bad argument #1 to 'ReadUntilOneOf' %(the set of bytes" },
      { "CLI:ReadUntilOneNotOf({})", "bad argument #1 to 'ReadUntilOneNotOf' %(string expected" },
      { "CLI:ReadAtLeast('x')", "bad argument #1 to 'ReadAtLeast' %(number expected" },
      { "CLI:ReadUpTo()", "bad argument #1 to 'ReadUpTo' %(number expected" },
      { "CLI:Option()", "bad argument #1 to 'Option' %(string expected" },
      { "CLI:Option('nodelay')", "bad argument #2 to 'Option' %(boolean %(or 1/0%) expected" },
      { "CLI:Option('keepalive', true, {})", "bad argument #3 to 'Option' %(number expected" },
      { "CLI:Close('yes')", "bad argument #1 to 'Close' %(boolean expected, got string%)" },
      { "CLI:Connect()", "bad argument #1 to 'Connect' %(string expected" },
      { "CLI:Connect('!local')", "bad argument #2 to 'Connect' %(port number or service name" },
      { "CLI:Connect('!local', 70000)", "bad argument #2 to 'Connect' %(port must be" },
      { "CLI.Write('x')", "bad argument #1 to 'Write' %(C4LuaTcpClient expected, got string%)" },
      { "CLI.GetRemoteAddress(C4:CreateTCPServer())",
        "bad argument #1 to 'GetRemoteAddress' %(C4LuaTcpClient expected, got userdata%)" },
      { "CLI.GetLocalAddress(1)", "bad argument #1 to 'GetLocalAddress' %(C4LuaTcpClient expected, got number%)" },
      { "CLI.Close()", "bad argument #1 to 'Close' %(C4LuaTcpClient expected, got no value%)" },
      { "C4.CreateTCPClient()", "must be called with a colon" },
    }
    for _, case in ipairs(cases) do
      it(case[1] .. " raises", function()
        local d = T.driver()
        d:eval("CLI = C4:CreateTCPClient()")
        local err = T.error_of(d.eval, d, case[1])
        assert.truthy(err:find(case[2]), err)
      end)
    end
  end)
end)

describe("C4:CreateTCPClient", function()
  -- An echo server in the same driver; returns its port.
  local function echo_server(d)
    d:eval([[
      ACCEPT = function(srv, cli)
        cli:OnRead(function(c, data) c:Write("echo " .. data):ReadUntil("\n") end):ReadUntil("\n")
      end
    ]])
    return T.listen(d)
  end

  it("connects: OnResolve, OnConnect, then reads and writes like an accepted client", function()
    local d = T.driver()
    local port = echo_server(d)
    d:eval([[
      C = C4:CreateTCPClient()
        :OnResolve(function(cli, eps) rec("resolve", #eps, eps[1].ip, eps[1].port) end)
        :OnConnect(function(cli)
          rec("connect", cli:GetRemoteAddress().port, cli:GetLocalAddress().ip)
          cli:Write("after connect\n")
        end)
        :OnRead(function(cli, data) rec("read", data); cli:ReadUntil("\n") end)
        :Write("before connect\n")
        :ReadUntil("\n")
      R = C:Connect("127.0.0.1", ...)
    ]], port)
    assert.is_true(d:eval("return rawequal(R, C)"))
    T.wait_for(d, "^read echo after")
    assert.same({ "resolve 1 127.0.0.1 " .. port, "SRV accept", "connect " .. port .. " 127.0.0.1",
                  "read echo before connect\n", "read echo after connect\n" },
                (function()
                  local e = T.events(d)
                  -- the accept and the connect happen in the same loop turn, in either order
                  if e[2]:find("^connect") then e[2], e[3] = e[3], e[2] end
                  return e
                end)())
  end)

  it("takes options before connecting and applies them once connected", function()
    local d = T.driver()
    local port = echo_server(d)
    d:eval([[
      C = C4:CreateTCPClient()
        :Option("keepalive", true, 10):Option("nodelay", 0):Option("linger", false)
        :OnConnect(function(cli) rec("connect", rawequal(cli:Option("nodelay", true), cli)) end)
        :Connect("127.0.0.1", ...)
    ]], port)
    assert.equal("connect true", T.wait_for(d, "^connect"))
    assert.is_false(d:logged("could not be set") ~= nil)
  end)

  it("a pending connect keeps an unreferenced client alive", function()
    local d = T.driver()
    local port = echo_server(d)
    d:eval([[
      C4:CreateTCPClient()
        :OnConnect(function(cli) rec("connect"); collectgarbage(); cli:Write("hi\n") end)
        :OnRead(function(cli, data) rec("read", data) end)
        :ReadUntil("\n")
        :Connect("127.0.0.1", ...)
      collectgarbage(); collectgarbage()
    ]], port)
    assert.equal("read echo hi\n", T.wait_for(d, "^read"))
  end)

  it("with the default choice, tries each endpoint in turn", function()
    local d = T.driver()
    d:eval([[
      S6 = C4:CreateTCPServer()
        :OnListen(function(srv) PORT6 = srv:GetLocalAddress().port end)
        :OnError(function(srv, code, msg) rec("no ipv6", msg) end)
        :OnAccept(function(srv, cli) rec("accept6") end)
        :Listen("::1", 0)
    ]])
    d:run_until(function() return d:eval("return PORT6 ~= nil") or T.seen(d, "no ipv6") end)
    if T.seen(d, "no ipv6") then
      pending("this host has no IPv6 loopback")
      return
    end
    -- "!local" resolves to 127.0.0.1 first, where nothing listens on that port
    d:eval([[
      C4:CreateTCPClient()
        :OnConnect(function(cli) rec("connect", cli:GetRemoteAddress().ip) end)
        :OnError(function(cli, code, msg, op) rec("error", code, op) end)
        :Connect("!local", PORT6)
    ]])
    assert.equal("connect ::1", T.wait_for(d, "^connect"))
    assert.is_false(T.seen(d, "^error"))
  end)

  it("connect refused: OnError(111, \"Connection refused\", \"connect\"), and it may retry", function()
    local d = T.driver()
    local port = T.listen(d, "GONE")
    d:eval("GONE:Close()")
    d:run_until(function() return T.refused(d, port) end)
    d:eval([[
      C = C4:CreateTCPClient()
        :OnConnect(function() rec("connect") end)
        :OnDisconnect(function() rec("disconnect") end)
        :OnError(function(cli, code, msg, op) rec("error", code, msg, op) end)
        :Connect("127.0.0.1", ...)
    ]], port)
    assert.equal("error 111 Connection refused connect", T.wait_for(d, "^error"))
    d:advance(20)
    assert.same({ "error 111 Connection refused connect" }, T.events(d))
    local port2 = T.listen(d, "BACK")
    assert.is_true(d:eval("return rawequal(C:Connect('127.0.0.1', ...), C)", port2))
    T.wait_for(d, "^connect")
  end)

  it("an unresolvable host: OnError, op \"resolve\"", function()
    local d = T.driver()
    d:eval([[
      C4:CreateTCPClient()
        :OnError(function(cli, code, msg, op) rec("error", code > 0, type(msg), op) end)
        :Connect("no-such-host.invalid", 80)
    ]])
    assert.equal("error true string resolve", T.wait_for(d, "^error", 10000))
  end)

  it("OnResolve index 0 aborts with code 22", function()
    local d = T.driver()
    d:eval([[
      C4:CreateTCPClient()
        :OnResolve(function() return 0 end)
        :OnError(function(cli, code, msg, op) rec("error", code, msg, op) end)
        :Connect("127.0.0.1", 9)
    ]])
    assert.equal("error 22 Invalid argument resolve", T.wait_for(d, "^error"))
  end)

  it("Close during a pending connect cancels it: OnError(ECANCELED), no OnConnect", function()
    local d = T.driver()
    local port = echo_server(d)
    d:eval([[
      C = C4:CreateTCPClient()
        :OnConnect(function() rec("connect") end)
        :OnError(function(cli, code, msg, op) rec("error", code, msg, op) end)
        :Connect("127.0.0.1", ...)
      C:Close()
      D = C4:CreateTCPClient()
        :OnResolve(function(cli, eps, choose) CHOOSE = choose end)
        :OnConnect(function() rec("connect D") end)
        :OnError(function(cli, code, msg, op) rec("error D", code, op) end)
        :Connect("127.0.0.1", ...)
    ]], port)
    T.wait_for(d, "^error 125")
    d:run_until(function() return d:eval("return CHOOSE ~= nil") end)
    d:eval("D:Close()")
    assert.equal("error D 125 connect", T.wait_for(d, "^error D"))
    assert.is_false(d:eval("return CHOOSE(1)"))
    d:advance(50)
    assert.same({ "error 125 Operation canceled connect", "error D 125 connect" }, T.events(d))
    assert.has_error(function() d:eval("C:Write('x')") end)
  end)

  it("Connect while connecting or connected answers nil; an accepted client cannot connect", function()
    local d = T.driver()
    local port = echo_server(d)
    d:eval([[
      C = C4:CreateTCPClient():OnConnect(function() rec("connect") end)
      C:Connect("127.0.0.1", ...)
      R1 = { C:Connect("127.0.0.1", ...) }
      ACCEPT = function(srv, cli) R3 = { cli:Connect("127.0.0.1", 1) } end
    ]], port)
    T.wait_for(d, "^connect")
    d:run_until(function() return d:eval("return R3 ~= nil") end)
    local r = d:eval("return { R1, { C:Connect('127.0.0.1', 1) }, R3 }")
    assert.is_nil(r[1][1])
    assert.truthy(r[1][2]:find("in progress"))
    assert.is_nil(r[2][1])
    assert.truthy(r[2][2]:find("connected"))
    assert.is_nil(r[3][1])
    assert.truthy(r[3][2]:find("accepted connection cannot connect"))
  end)

  it("the peer closing an outgoing connection: OnDisconnect(0)", function()
    local d = T.driver()
    d:eval("ACCEPT = function(srv, cli) cli:Close() end")
    local port = T.listen(d)
    d:eval([[
      C = C4:CreateTCPClient()
        :OnDisconnect(function(cli, code, msg) rec("disconnect", code, msg) end)
        :Connect("127.0.0.1", ...)
    ]], port)
    assert.equal("disconnect 0 Success", T.wait_for(d, "^disconnect"))
  end)

  it("Close before Connect is harmless; the client is then closed", function()
    local d = T.driver()
    assert.is_true(d:eval("local c = C4:CreateTCPClient(); return rawequal(c:Close(), c)"))
    local err = T.error_of(d.eval, d, "local c = C4:CreateTCPClient(); c:Close(); c:Connect('!local', 1)")
    assert.truthy(err:find("is closed"))
  end)
end)
