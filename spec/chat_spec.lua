-- The seed's chat server (c4-CreateTCPServer.md), unmodified in
-- fixtures/drivers/chat: it starts its server from the driver chunk with
-- server:start(5, "*", 0, ...), which the init rule does not cover.  Six
-- clients: five are welcomed, the sixth refused; names are checked for
-- duplicates; messages are broadcast and echoed; quit says goodbye and frees
-- the seat; disconnects are announced; after ten minutes of virtual time the
-- server shuts down and closes everyone.
local c4emu = require "c4emu"
local S = require "support"

-- The next non-empty line (the seed writes some messages with a doubled CRLF).
local function line(c)
  while true do
    local l = c:receive_until("\r\n")
    if l ~= "\r\n" then return l end
  end
end

-- The lines a client has received so far and the closing, if any (non-blocking).
local function nothing_more(c)
  local ok, got = pcall(c.receive_some, c, 50)
  while ok and got:gsub("\r\n", "") == "" do ok, got = pcall(c.receive_some, c, 50) end
  return not ok
end

describe("the seed's chat server", function()
  it("welcomes five, refuses the sixth, chats, and shuts down after 10 minutes", function()
    local d = c4emu.load(S.folder("chat"))
    finally(function() pcall(d.destroy, d) end)
    d:init()
    local listening = d:run_until(function() return d:logged("^Server listening on") end)
    local port = tonumber(listening:match("^Server listening on 127%.0%.0%.1:(%d+)%. Will stop in 10 minutes!$"))
    assert.is_number(port, listening)
    assert.truthy(d:logged("^Server C4LuaTcpServer .* resolved listening address$"))
    assert.truthy(d:logged("^Available endpoints: %[1%] ip=127%.0%.0%.1:0$"))
    assert.truthy(d:logged("chose endpoint 127%.0%.0%.1:0, listening on 127%.0%.0%.1:" .. port .. "$"))

    -- Five are welcomed and asked their names; the sixth is refused.
    local c = {}
    for i = 1, 5 do
      c[i] = d:connect(port)
      assert.equal("Welcome! Please enter your name:\r\n", line(c[i]))
    end
    local sixth = d:connect(port)
    assert.equal("Sorry, I only allow 5 concurrent connections!\r\n", line(sixth))
    assert.is_true(sixth:is_closed(1000))

    -- Names: an empty one is asked again, a taken one (any case) refused.
    c[1]:send("Alice\r\n")
    assert.equal("Thank you, Alice! Type 'quit' to disconnect.\r\n", line(c[1]))
    c[2]:send("\r\n")
    assert.equal("Please enter your name:\r\n", line(c[2]))
    c[2]:send("ALICE\r\n")
    assert.equal("Choose a different name, please:\r\n", line(c[2]))
    c[2]:send("Bob\r\n")
    assert.equal("Thank you, Bob! Type 'quit' to disconnect.\r\n", line(c[2]))
    assert.equal("Bob joined!\r\n", line(c[1]))
    local names = { [3] = "Carol", [4] = "Dave", [5] = "Eve" }
    for i = 3, 5 do
      local name = names[i]
      c[i]:send(name .. "\r\n")
      assert.equal("Thank you, " .. name .. "! Type 'quit' to disconnect.\r\n", line(c[i]))
      for j = 1, i - 1 do assert.equal(name .. " joined!\r\n", line(c[j])) end
    end

    -- A message goes to the others and is echoed to its sender.
    c[1]:send("hello everyone\r\n")
    assert.equal("You wrote: hello everyone\r\n", line(c[1]))
    for i = 2, 5 do assert.equal("Alice wrote: hello everyone\r\n", line(c[i])) end

    -- quit: goodbye, the connection closes, the others hear of it, the seat is free.
    c[2]:send("quit\r\n")
    assert.equal("Goodbye, Bob!\r\n", line(c[2]))
    assert.is_true(c[2]:is_closed(1000))
    for _, i in ipairs({ 1, 3, 4, 5 }) do assert.equal("Bob disconnected!\r\n", line(c[i])) end
    local seventh = d:connect(port)
    assert.equal("Welcome! Please enter your name:\r\n", line(seventh))
    seventh:send("Frank\r\n")
    assert.equal("Thank you, Frank! Type 'quit' to disconnect.\r\n", line(seventh))
    for _, i in ipairs({ 1, 3, 4, 5 }) do assert.equal("Frank joined!\r\n", line(c[i])) end

    -- A client that leaves mid-line: its last words (no CRLF) are still
    -- delivered and broadcast, then its departure is announced.
    c[3]:send("see you")
    c[3]:close()
    for _, cl in ipairs({ c[1], c[4], c[5], seventh }) do
      assert.equal("Carol wrote: see you\r\n", line(cl))
      assert.equal("Carol disconnected!\r\n", line(cl))
    end

    -- Ten minutes after it started listening, the server shuts down.
    local timers = d:timers()
    assert.equal(1, #timers)
    assert.equal(0, timers[1].period)
    assert.is_true(timers[1].due >= 600000)
    d:advance(timers[1].due - d:now() - 1)
    for _, cl in ipairs({ c[1], c[4], c[5], seventh }) do assert.is_false(cl:is_closed(20)) end
    d:advance(1)
    assert.truthy(d:logged("^Stopping server and disconnecting clients now%.$"))
    for _, cl in ipairs({ c[1], c[4], c[5], seventh }) do
      assert.equal("Server is shutting down!\r\n", line(cl))
      assert.is_true(cl:is_closed(1000))
      assert.is_true(nothing_more(cl))
    end
    for _, name in ipairs({ "Alice", "Dave", "Eve", "Frank" }) do
      assert.truthy(d:logged("^Disconnecting 127%.0%.0%.1:%d+: name: " .. name .. "$"))
    end
    d:run_until(function() return (d:handles()) == 0 end) -- listener and clients all closed
    assert.has_error(function() d:connect(port) end)
    assert.same({}, d:errors())
    d:destroy()
    assert.equal(0, (d:handles()))
  end)

  it("prints each client's graceful disconnect and every write completion", function()
    local d = c4emu.load(S.folder("chat"))
    finally(function() pcall(d.destroy, d) end)
    d:init()
    local port = tonumber(d:run_until(function() return d:logged("^Server listening on") end)
                         :match(":(%d+)%."))
    local cl = d:connect(port)
    assert.equal("Welcome! Please enter your name:\r\n", line(cl))
    d:run_until(function() return d:logged("Data was sent%.$") end)
    cl:send("Zed\r\nquit\r\n")
    assert.equal("Thank you, Zed! Type 'quit' to disconnect.\r\n", line(cl))
    assert.equal("Goodbye, Zed!\r\n", line(cl))
    d:run_until(function() return d:logged("Disconnected gracefully%.$") end)
    assert.same({}, d:errors())
  end)
end)
