-- d:device(): fake devices for drivers to connect to, in the Renoise design
-- (run/notifier, read-only properties) and the WINDEV design
-- (wait_for_connection/accept/deny, channels with transmission modes), over
-- TCP, UDP and TLS; c4emu.spawn to serve several connections at once; spec
-- clients with modes; bad input.
local c4emu = require "c4emu"
local S = require "support"
local T = require "tcp_support"

-- In driver d, a client C that connects to port and collects what it reads
-- in IN (devices live on their driver's loop: the client must be there too).
local function client_driver(d, port)
  d:eval([[
    IN, UP, DOWN = "", false, nil
    C = C4:CreateTCPClient()
      :OnConnect(function(c) UP = true c:ReadUpTo(65536) end)
      :OnRead(function(c, data) IN = IN .. data c:ReadUpTo(65536) end)
      :OnDisconnect(function(c, code, msg) UP = false DOWN = code .. " " .. tostring(msg) end)
      :OnError(function(c, code, msg, op) ERR = op .. " " .. tostring(msg) end)
      :Connect("127.0.0.1", ...)
  ]], port)
  return d
end

local function err_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("d:device, the Renoise design", function()
  it("has read-only is_open, is_running, local_address, local_port", function()
    local d = T.driver()
    local dev = d:device()
    assert.is_true(dev.is_open)
    assert.is_false(dev.is_running)
    assert.equal("127.0.0.1", dev.local_address)
    assert.is_true(dev.local_port > 0)
    assert.truthy(err_of(function() dev.local_port = 1 end):find("dev.local_port is read%-only", 1, false))
    assert.truthy(err_of(function() return dev.nonsense end):find("no such field"))
    assert.equal(1, select(2, d:handles())["spec-device"])
    d:destroy()
  end)

  it("runs a notifier table: socket_accepted, then socket_message per message", function()
    local d = T.driver()
    local dev = d:device{ mode = "end", end_char = "\n" }
    local log = {}
    dev:run{
      socket_accepted = function(client) log[#log + 1] = "accepted " .. client.peer_address end,
      socket_message = function(client, msg)
        log[#log + 1] = "message " .. msg
        client:send(msg:upper() .. "\n")
      end,
    }
    assert.is_true(dev.is_running)
    local c = d:eval([[
      IN = ""
      C = C4:CreateTCPClient()
        :OnConnect(function(c) c:Write("one\ntwo\n") c:ReadUpTo(100) end)
        :OnRead(function(c, data) IN = IN .. data c:ReadUpTo(100) end)
        :Connect("127.0.0.1", ...)
    ]], dev.local_port)
    d:settle()
    assert.same({ "accepted 127.0.0.1", "message one", "message two" }, log)
    assert.equal("ONE\nTWO\n", d:eval("return IN"))
    d:destroy()
  end)

  it("calls a NotifierClass object's methods with the object as self", function()
    local Notifier = {}
    Notifier.__index = Notifier
    function Notifier.new() return setmetatable({ got = {} }, Notifier) end
    function Notifier:socket_message(client, msg)
      self.got[#self.got + 1] = msg
      client:send("ack\r\n")
    end
    local d = T.driver()
    local dev = d:device{ mode = "end" }
    local n = Notifier.new()
    dev:run(n)
    local d2 = client_driver(d, dev.local_port)
    d2:settle()
    d2:eval("C:Write('ping\\r\\n')")
    -- dev:wait serves the loop (the driver included) and calls the notifier
    assert.is_true(dev:wait(2000))
    assert.same({ "ping" }, n.got)
    d:destroy()
  end)

  it("stop() refuses connects until run() again; close() makes every use raise", function()
    local d = T.driver()
    local dev = d:device()
    local port = dev.local_port
    dev:run{}
    dev:stop()
    assert.is_false(dev.is_running)
    d:eval([[ERR = nil
      C = C4:CreateTCPClient():OnError(function(c, code, msg, op) ERR = op end)
        :Connect("127.0.0.1", ...)]], port)
    d:settle()
    assert.equal("connect", d:eval("return ERR"))
    dev:run{}
    assert.equal(port, dev.local_port)
    dev:close()
    assert.truthy(err_of(function() return dev.is_open end):find("the device is closed"))
    assert.truthy(err_of(function() dev:run{} end):find("the device is closed"))
    dev:close() -- idempotent
    d:destroy()
  end)

  it("a failing notifier fails the spec call that was waiting, with a traceback", function()
    local d = T.driver()
    local dev = d:device()
    dev:run{ socket_accepted = function() error("kaboom") end }
    client_driver(d, dev.local_port)
    local err = err_of(d.settle, d)
    assert.truthy(err:find("device notifier socket_accepted failed: .*kaboom"), err)
    assert.truthy(err:find("stack traceback"), err)
    d:destroy()
  end)
end)

describe("d:device, the WINDEV design", function()
  it("wait_for_connection, accept, read and write in mode \"windev\"", function()
    local d = T.driver()
    local dev = d:device{ mode = "windev" }
    assert.is_false(dev:wait_for_connection(0))
    local cd = client_driver(d, dev.local_port)
    assert.is_true(dev:wait_for_connection(2000))
    local ch = dev:accept()
    assert.equal("127.0.0.1", ch.address)
    assert.is_number(ch.port)
    cd:eval("C:Write('11\\r\\nHello World5\\r\\nabc')")
    assert.equal("Hello World", ch:read())
    cd:eval("C:Write('de')")
    assert.equal("abcde", ch:read())
    ch:write("Hi")
    cd:settle()
    assert.equal("2\r\nHi", cd:eval("return IN"))
    ch:close()
    d:destroy()
  end)

  it("mode \"end\" strips and adds end_char; change_mode switches", function()
    local d = T.driver()
    local dev = d:device{ mode = "end", end_char = "<EOF>" }
    local cd = client_driver(d, dev.local_port)
    assert.is_true(dev:wait_for_connection(2000))
    local ch = dev:accept()
    cd:eval("C:Write('Hello world<EOF>rest')")
    assert.equal("Hello world", ch:read())
    ch:write("bye")
    ch:change_mode("buffered")
    assert.equal("rest", ch:read())
    ch:change_mode("end", "\n")
    ch:write("x")
    cd:settle()
    assert.equal("bye<EOF>x\n", cd:eval("return IN"))
    d:destroy()
  end)

  it("a malformed length prefix is a clear error on read", function()
    local d = T.driver()
    local dev = d:device{ mode = "windev" }
    local cd = client_driver(d, dev.local_port)
    assert.is_true(dev:wait_for_connection(2000))
    local ch = dev:accept()
    cd:eval("C:Write('12x\\r\\nhello')")
    local err = err_of(ch.read, ch, 1000)
    assert.truthy(err:find("ch:read: malformed WINDEV length prefix"), err)
    d:destroy()
  end)

  it("deny() resets the connection before any byte; the driver sees its connect " ..
     "succeed and then the connection drop", function()
    local d = T.driver()
    local dev = d:device()
    local cd = client_driver(d, dev.local_port)
    assert.is_true(dev:wait_for_connection(2000))
    dev:deny()
    cd:settle()
    cd:run_until(function() return cd:eval("return DOWN") end, 2000)
    assert.equal("", cd:eval("return IN"))
    assert.is_false(cd:eval("return UP"))
    assert.truthy(cd:eval("return DOWN"):find("reset"), cd:eval("return DOWN"))
    assert.truthy(err_of(dev.deny, dev):find("dev:deny: no connection is pending"))
    d:destroy()
  end)
end)

describe("d:device, bad input", function()
  it("refuses options of the wrong type or unknown", function()
    local d = T.driver()
    assert.truthy(err_of(d.device, d, { port = "80" }):find("d:device: opts.port must be a number, not string"))
    assert.truthy(err_of(d.device, d, { protocol = "sctp" }):find("d:device: opts.protocol must be \"tcp\" or \"udp\""))
    assert.truthy(err_of(d.device, d, { mode = 3 }):find("d:device: opts.mode must be a string, not number"))
    assert.truthy(err_of(d.device, d, { mode = "lines" }):find("mode must be \"windev\", \"end\" or \"buffered\""))
    assert.truthy(err_of(d.device, d, { end_char = false }):find("d:device: opts.end_char must be a string"))
    assert.truthy(err_of(d.device, d, { tls = "yes" }):find("d:device: opts.tls must be a table"))
    assert.truthy(err_of(d.device, d, { prot = "tcp" }):find("d:device: unknown option 'prot'"))
    assert.truthy(err_of(d.device, d, 5):find("d:device: opts must be a table"))
    assert.equal(0, select(2, d:handles())["spec-device"] or 0)
    d:destroy()
  end)

  it("accept() with nothing pending, deny() twice, read on a closed channel", function()
    local d = T.driver()
    local dev = d:device()
    assert.truthy(err_of(dev.accept, dev):find("dev:accept: no connection is pending"))
    assert.truthy(err_of(dev.deny, dev):find("dev:deny: no connection is pending"))
    local cd = client_driver(d, dev.local_port)
    assert.is_true(dev:wait_for_connection(2000))
    local ch = dev:accept()
    ch:close()
    assert.truthy(err_of(ch.read, ch):find("ch:read: the channel is closed"))
    assert.truthy(err_of(ch.write, ch, "x"):find("ch:write: the channel is closed"))
    ch:close()
    assert.truthy(err_of(ch.change_mode, ch, "windev"):find("ch:change_mode: the channel is closed"))
    d:destroy()
  end)

  it("closes with the driver: handles counted as spec-device go to 0", function()
    local d = T.driver()
    local dev = d:device()
    local cd = client_driver(d, dev.local_port)
    assert.is_true(dev:wait_for_connection(2000))
    dev:accept()
    assert.equal(2, select(2, d:handles())["spec-device"]) -- the listener and the channel
    d:destroy()
    assert.equal(0, select(2, d:handles())["spec-device"])
    assert.truthy(err_of(dev.accept, dev):find("the driver has been destroyed"))
  end)
end)

describe("c4emu.spawn", function()
  -- The WINDEV seed's server: a waiting procedure that accepts each
  -- connection and serves it in a thread of its own (here a coroutine).
  it("serves several connections at once, as WINDEV's thread per connection", function()
    local d = T.driver()
    local dev = d:device{ mode = "end", end_char = "\n" }
    local served = {}
    local function management(ch)
      while true do
        local ok, msg = c4emu.pcall(ch.read, ch, 60000)
        if not ok then return end -- the driver closed it
        served[#served + 1] = msg
        ch:write("re:" .. msg)
      end
    end
    c4emu.spawn(function()
      while true do
        if dev:wait_for_connection(60000) then c4emu.spawn(management, dev:accept()) end
      end
    end)
    d:eval([[
      IN = {}
      for i = 1, 3 do
        C4:CreateTCPClient()
          :OnConnect(function(c) c:Write("hello " .. i .. "\n") c:ReadUntil("\n") end)
          :OnRead(function(c, data)
            IN[#IN + 1] = data
            if #IN == 3 then C4:SetTimer(1, function() DONE = true end) end
          end)
          :Connect("127.0.0.1", ...)
      end
    ]], dev.local_port)
    d:settle()
    table.sort(served)
    assert.same({ "hello 1", "hello 2", "hello 3" }, served)
    local got = d:eval("table.sort(IN) return IN")
    assert.same({ "re:hello 1\n", "re:hello 2\n", "re:hello 3\n" }, got)
    assert.equal(4, c4emu.spawned()) -- the waiter and three managers, all blocked
    c4emu.spawn_reset()
    d:destroy()
  end)

  it("a spec client's receive yields inside a spawned coroutine", function()
    local d = T.driver()
    d:eval([[
      S = C4:CreateTCPServer()
        :OnListen(function(srv) PORT = srv:GetLocalAddress().port end)
        :OnAccept(function(srv, cli)
          cli:OnRead(function(c, data) c:Write(data:upper()) c:ReadUntil("\r\n") end)
          cli:ReadUntil("\r\n")
        end)
        :Listen("127.0.0.1", 0)
    ]])
    d:settle()
    local port = d:eval("return PORT")
    local got = {}
    for i = 1, 3 do
      c4emu.spawn(function()
        local c = d:connect(port, { mode = "end" })
        c:write("hi " .. i)
        local reply = c:read(5000) -- blocks this coroutine only
        got[#got + 1] = reply
        c:close()
      end)
    end
    d:settle()
    table.sort(got)
    assert.same({ "HI 1", "HI 2", "HI 3" }, got)
    assert.equal(0, c4emu.spawned())
    d:destroy()
  end)

  it("an error in a spawned coroutine fails the spec call that ran it", function()
    local d = T.driver()
    local dev = d:device()
    c4emu.spawn(function()
      dev:wait_for_connection(60000)
      error("boom in the device")
    end)
    d:eval("C4:CreateTCPClient():Connect('127.0.0.1', ...)", dev.local_port)
    local ok, err = pcall(d.settle, d)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("spawned coroutine failed: .*boom in the device"), err)
    assert.truthy(tostring(err):find("stack traceback"), err)
    assert.equal(0, c4emu.spawned())
    d:destroy()
  end)

  it("raises on a wrong argument", function()
    assert.truthy(err_of(c4emu.spawn, 42):find("bad argument #1 to 'spawn' %(function expected, got number%)"))
  end)
end)

describe("spec clients with transmission modes", function()
  it("d:connect(port, {mode = \"windev\"}): c:write frames, c:read unframes", function()
    local d = T.driver()
    d:eval([[
      S = C4:CreateTCPServer()
        :OnListen(function(srv) PORT = srv:GetLocalAddress().port end)
        :OnAccept(function(srv, cli)
          cli:OnRead(function(c, data) GOT = (GOT or "") .. data c:Write("5\r\nhello") c:ReadUpTo(100) end)
          cli:ReadUpTo(100)
        end)
        :Listen("127.0.0.1", 0)
    ]])
    d:settle()
    local c = d:connect(d:eval("return PORT"), { mode = "windev" })
    c:write("Hello World")
    assert.equal("hello", c:read())
    assert.equal("11\r\nHello World", d:eval("return GOT"))
    assert.truthy(err_of(d.connect, d, 1, { mode = "x" }):find("d:connect: mode must be"))
    c:close()
    d:destroy()
  end)
end)

describe("d:device over UDP and TLS", function()
  it("UDP: socket_message gets a stand-in client with address, port and send()", function()
    local d = T.driver()
    local dev = d:device{ protocol = "udp" }
    assert.equal("udp", dev.protocol)
    local seen
    dev:run{ socket_message = function(client, msg)
      seen = { client.address, client.port, msg }
      client:send("pong:" .. msg)
      assert.truthy(select(2, pcall(function() return client.is_open end)):find("only address, port and send"))
    end }
    local u = d:udp()
    u:sendto(dev.local_port, "ping")
    local data, ip, port = u:receive(2000)
    assert.equal("pong:ping", data)
    assert.equal(dev.local_port, port)
    assert.equal("127.0.0.1", seen[1])
    assert.equal("ping", seen[3])
    assert.truthy(err_of(dev.wait_for_connection, dev):find("a UDP device has no connections"))
    u:close()
    d:destroy()
  end)

  local TLS = require "tls_support"

  it("TLS: the device speaks TLS; a client that checks it against the CA gets through", function()
    local d = T.driver()
    local dev = d:device{ mode = "end", tls = { cert = TLS.cert("server.pem"), key = TLS.cert("server.key") } }
    local c = d:connect(dev.local_port, { mode = "end", tls = { ca = TLS.cert("ca.pem") } })
    assert.is_true(dev:wait_for_connection(2000))
    local ch = dev:accept()
    c:write("secret")
    assert.equal("secret", ch:read())
    ch:write("answer")
    assert.equal("answer", c:read())
    assert.is_true(c:tls_info().verified)
    c:close()
    d:destroy()
  end)

  it("TLS with verify = true: a client without a certificate is refused (socket_error)", function()
    local d = T.driver()
    local dev = d:device{ tls = { cert = TLS.cert("server.pem"), key = TLS.cert("server.key"),
                                  ca = TLS.cert("ca.pem"), verify = true } }
    local errors = {}
    dev:run{ socket_error = function(msg) errors[#errors + 1] = msg end,
             socket_accepted = function() errors[#errors + 1] = "accepted" end }
    local ok = pcall(d.connect, d, dev.local_port, { tls = { ca = TLS.cert("ca.pem"), max_version = "TLS1.2" } })
    assert.is_false(ok)
    d:settle()
    assert.equal(1, #errors)
    assert.truthy(errors[1]:find("TLS handshake with 127.0.0.1:%d+ failed"), errors[1])
    local c = d:connect(dev.local_port, { tls = { ca = TLS.cert("ca.pem"), cert = TLS.cert("client.pem"),
                                                 key = TLS.cert("client.key") } })
    d:settle()
    assert.equal("accepted", errors[2])
    c:close()
    d:destroy()
  end)

  it("TLS: bad options are clear errors", function()
    local d = T.driver()
    assert.truthy(err_of(d.device, d, { tls = {} }):find("d:device: opts.tls needs cert and key"))
    assert.truthy(err_of(d.device, d, { tls = { cert = 1 } }):find("opts.tls.cert must be a string"))
    assert.truthy(err_of(d.device, d, { tls = { cert = "/nonexistent.pem", key = "/nonexistent.key" } }):find("d:device: TLS: cert"))
    assert.truthy(err_of(d.device, d, { protocol = "udp", tls = {} }):find("opts.tls is for TCP devices only"))
    d:destroy()
  end)
end)

describe("d:device, more", function()
  it("dev:wait returns false after its timeout when nothing happens", function()
    local d = T.driver()
    local dev = d:device()
    dev:run{}
    assert.is_false(dev:wait(20))
    d:destroy()
  end)

  it("ch:shutdown ends the driver's reading; ch:reset resets", function()
    local d = T.driver()
    local dev = d:device()
    client_driver(d, dev.local_port)
    assert.is_true(dev:wait_for_connection(2000))
    local ch = dev:accept()
    ch:write("bye")
    ch:shutdown()
    d:settle()
    assert.equal("bye", d:eval("return IN"))
    assert.equal("0 Success", d:eval("return DOWN"))
    client_driver(d, dev.local_port)
    assert.is_true(dev:wait_for_connection(2000))
    dev:accept():reset()
    d:settle()
    assert.truthy(d:eval("return DOWN"):find("reset"), d:eval("return DOWN"))
    d:destroy()
  end)

  it("notifiers run under real-clock advance too", function()
    local d = c4emu.load(S.c4z("tcp_poll"), { clock = "real", properties = { PollMs = "20" } })
    local dev = d:device{ mode = "end" }
    local n = 0
    dev:run{ socket_message = function(client, line) n = n + 1 client:send("OK\r\n") end }
    d:set_property("Port", dev.local_port)
    d:init()
    d:run_until(function() return n >= 3 and d:eval("return Replies") >= 3 end, 5000)
    d:advance(50)
    assert.is_true(n >= 3)
    d:destroy()
  end)
end)

describe("d:device, a driver sending garbage", function()
  it("a malformed WINDEV prefix in notifier mode is a socket_error; the device goes on", function()
    local d = T.driver()
    local dev = d:device{ mode = "windev" }
    local got, errors = {}, {}
    dev:run{ socket_message = function(client, msg) got[#got + 1] = msg end,
             socket_error = function(msg) errors[#errors + 1] = msg end }
    client_driver(d, dev.local_port)
    d:settle()
    d:eval("C:Write('3\\r\\nabcZZ\\r\\nxyz')")
    d:settle()
    assert.same({ "abc" }, got)
    assert.equal(1, #errors)
    assert.truthy(errors[1]:find("127.0.0.1:%d+: malformed WINDEV length prefix"), errors[1])
    d:eval("C:Write('2\\r\\nok')")
    d:settle()
    assert.same({ "abc", "ok" }, got)
    d:destroy()
  end)
end)
