-- Issue 9's measure of determinism: the polling TCP-client fixture advanced
-- five virtual minutes against a d:device gives exactly 300 replies, in both
-- device designs.  tools/determinism.sh runs this file N times and counts
-- the runs whose counts were identical (C4EMU_COUNT_FILE: where each run
-- appends its counts).
local c4emu = require "c4emu"
local S = require "support"

local function record(name, n)
  local path = os.getenv("C4EMU_COUNT_FILE")
  if not path then return end
  local f = assert(io.open(path, "a"))
  f:write(name, "=", n, "\n")
  f:close()
end

local function start(d, dev)
  d:set_property("Port", dev.local_port)
  d:init()
end

describe("five virtual minutes of a 1 s poll against a d:device", function()
  it("Renoise design: 300 replies", function()
    local d = c4emu.load(S.c4z("tcp_poll"))
    local dev = d:device{ mode = "end" }
    local heard = 0
    dev:run{ socket_message = function(client, line)
      heard = heard + 1
      client:send("OK " .. line .. "\r\n")
    end }
    start(d, dev)
    d:advance(5 * 60 * 1000)
    local sent, replies = d:eval("return Sent, Replies")
    record("renoise", replies)
    assert.same({ 300, 300, 300 }, { sent, replies, heard })
    assert.equal("OK POLL 300\r\n", d:eval("return LastReply"))
    d:destroy()
  end)

  it("WINDEV design (a spawned channel): 300 replies", function()
    local d = c4emu.load(S.c4z("tcp_poll"))
    local dev = d:device{ mode = "end" }
    c4emu.spawn(function()
      assert(dev:wait_for_connection(5000))
      local ch = dev:accept()
      while true do ch:write("OK " .. ch:read(600000)) end
    end)
    start(d, dev)
    d:advance(5 * 60 * 1000)
    local sent, replies = d:eval("return Sent, Replies")
    record("windev", replies)
    assert.same({ 300, 300 }, { sent, replies })
    d:destroy()
  end)
end)
