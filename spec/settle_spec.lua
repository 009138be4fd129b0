-- d:settle(): serve the loop until everything inside this process is quiet,
-- and d:advance(), which settles around every timer it fires.  A polling
-- TCP-client driver against a d:device, the serve/settle hang of issue 9,
-- and bad input.
local c4emu = require "c4emu"
local S = require "support"
local T = require "tcp_support"

-- The polling client fixture connected to a device that answers "OK <line>".
local function polling_pair(opts)
  local d = c4emu.load(S.c4z("tcp_poll"), opts)
  local dev = d:device{ mode = "end" }
  local seen = 0
  dev:run{ socket_message = function(client, line)
    seen = seen + 1
    client:send("OK " .. line .. "\r\n")
  end }
  d:set_property("Port", dev.local_port)
  d:init()
  return d, dev, function() return seen end
end

describe("d:settle", function()
  it("returns at once when nothing is in flight", function()
    local d = T.driver()
    d:settle()
    d:settle(0)
    d:destroy()
  end)

  it("waits for the connect, the request and the reply of a client driver", function()
    local d, dev, seen = polling_pair()
    d:settle()
    assert.is_true(d:eval("return Connected"))
    d:eval("client_probe = true")
    d:advance(1000)  -- one poll: the request reaches the device, the reply the driver
    assert.equal(1, seen())
    assert.same({ 1, 1 }, { d:eval("return Sent, Replies") })
    assert.equal("OK POLL 1\r\n", d:eval("return LastReply"))
    d:destroy()
  end)

  it("settles what a driver writes to a spec client before returning", function()
    local d = T.driver()
    d:eval([[
      S = C4:CreateTCPServer()
        :OnListen(function(srv) PORT = srv:GetLocalAddress().port end)
        :OnAccept(function(srv, cli)
          cli:OnRead(function(c, data) c:Write("echo:" .. data) c:ReadUpTo(4096) end)
          cli:ReadUpTo(4096)
        end)
        :Listen("127.0.0.1", 0)
    ]])
    d:settle()
    local port = d:eval("return PORT")
    assert.is_number(port)
    local c = d:connect(port)
    c:send("hello")
    d:settle()
    assert.equal("echo:hello", c:receive_some(0))
    c:close()
    d:destroy()
  end)

  it("d:serve(1) in a loop with a listening server always returns", function()
    local d = T.driver()
    d:eval([[
      S = C4:CreateTCPServer():OnListen(function(srv) PORT = srv:GetLocalAddress().port end)
      S:Listen("127.0.0.1", 0)
    ]])
    for _ = 1, 300 do d:serve(1) end
    for _ = 1, 100 do d:settle() end
    assert.is_number(d:eval("return PORT"))
    d:destroy()
  end)

  it("raises on a bad timeout", function()
    local d = T.driver()
    local ok, err = pcall(d.settle, d, -1)
    assert.is_false(ok)
    assert.truthy(err:find("d:settle: timeout_ms must be >= 0"), err)
    ok, err = pcall(d.settle, d, "soon")
    assert.is_false(ok)
    assert.truthy(err:find("d:settle: timeout_ms must be a number, not string"), err)
    d:destroy()
  end)

  it("refuses to run inside a device notifier", function()
    local d, dev = polling_pair()
    local inner
    dev:run{ socket_message = function(client, line)
      inner = select(2, pcall(d.settle, d))
      client:send("OK\r\n")
    end }
    d:advance(1000)
    assert.truthy(inner and inner:find("d:settle: called from inside a callback"), inner)
    d:destroy()
  end)
end)

describe("d:advance with a device", function()
  it("five virtual minutes of a 1 s poll give exactly 300 replies", function()
    local d, dev, seen = polling_pair()
    d:advance(5 * 60 * 1000)
    assert.same({ 300, 300 }, { d:eval("return Sent, Replies") })
    assert.equal(300, seen())
    d:destroy()
  end)
end)

describe("a loop that never goes quiet", function()
  it("d:settle raises saying so; d:advance still returns and logs it once", function()
    local d = T.driver()
    local dev = d:device()
    dev:run{ socket_message = function(client, msg) client:send(msg) end } -- echoes for ever
    d:eval([[
      C4:CreateTCPClient()
        :OnConnect(function(c) c:Write("ping") c:ReadUpTo(100) end)
        :OnRead(function(c, data) c:Write(data) c:ReadUpTo(100) end)
        :Connect("127.0.0.1", ...)
    ]], dev.local_port)
    local ok, err = pcall(d.settle, d, 200)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("d:settle: still not quiet after 200 ms"), err)
    d:eval("N = 0 C4:SetTimer(1000, function() N = N + 1 end, true)")
    d:advance(10 * 1000) -- ten firings: 2 s for the first settle, then short ones
    assert.equal(10, d:eval("return N"))
    assert.truthy(d:logged("advance: still not quiet after 2000 ms"))
    dev:close()
    d:settle()
    d:destroy()
  end)
end)
