-- spec/server_load_spec.lua — load through C4:CreateServer: 200 clients each
-- send 500 delimited messages through the line-echo driver; every message
-- must come back exactly once and in order per client, and nothing more.
local c4emu = require "c4emu"

local CLIENTS, MESSAGES = 200, 500

describe("C4:CreateServer under load", function()
  it(CLIENTS .. " clients x " .. MESSAGES .. " messages, each echoed exactly once, in order", function()
    local d = c4emu.load("fixtures/drivers/server_echo")
    d:init()
    d:run_until(function() return d:eval("return PORT") end, 3000)
    local port = d:eval("return PORT")

    local clients, expected = {}, {}
    for i = 1, CLIENTS do
      clients[i] = d:connect(port)
      local lines = {}
      for m = 1, MESSAGES do lines[m] = "client " .. i .. " message " .. m .. "\n" end
      expected[i] = table.concat(lines)
    end
    d:run_until(function() return d:servers()[1].clients == CLIENTS end, 5000)

    -- Every client sends its messages in a few bursts, so payloads straddle
    -- reads; then all the echoes are read back.
    for burst = 0, 4 do
      for i = 1, CLIENTS do
        local s = expected[i]
        local from = math.floor(#s * burst / 5) + 1
        local to = math.floor(#s * (burst + 1) / 5)
        clients[i]:send(s:sub(from, to))
      end
    end
    for i = 1, CLIENTS do
      local got = clients[i]:receive(#expected[i], 15000)
      assert.equal(expected[i], got, "client " .. i)
    end
    -- nothing extra arrives
    d:serve(50)
    for i = 1, CLIENTS do
      assert.has_error(function() clients[i]:receive_some(0) end)
    end
    for i = 1, CLIENTS do clients[i]:close() end
    d:run_until(function() return d:servers()[1].clients == 0 end, 5000)
    assert.same({}, d:errors())
    d:destroy()
  end)
end)
