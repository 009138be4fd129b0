#!/usr/bin/env lua5.1
-- tools/bench_netbind.lua — request/reply round trips through a network
-- binding (SendToNetwork → d:device → ReceivedFromNetwork, framed by a CR
-- delimiter) beside the same exchange through C4:CreateTCPClient
-- (Write → device → ReadUntil("\r") → OnRead), in one run, same device,
-- same driver loop.  Aim: the binding at ≥ 0.9× the TCP client's rate.
--
--   BUILD=build lua5.1 tools/bench_netbind.lua      (from the repository root)
--   N=20000 RUNS=3 ...                              round trips per run, runs
--
-- Each round trip starts from the driver's callback for the previous reply,
-- so the figure is latency-bound (loop turns), not throughput-bound.  Best
-- of RUNS for each.  Figures are printed, not asserted.
local build = os.getenv("BUILD") or "build"
package.cpath = build .. "/?.so;" .. package.cpath
local c4emu = require "c4emu"
local ok, system = pcall(require, "system")
local now = ok and system.monotime or os.clock

local N = tonumber(os.getenv("N") or "20000")
local RUNS = tonumber(os.getenv("RUNS") or "3")

local function device(d)
  local dev = d:device{mode = "end", end_char = "\r"}
  dev:run{socket_message = function(c, line) c:send("R" .. line .. "\r") end}
  return dev
end

local function netbind(d, port)
  d:eval([[
    local N, port = ...
    DONE = 0
    function ReceivedFromNetwork(b, p, data)
      DONE = DONE + 1
      if DONE < N then C4:SendToNetwork(6001, port, "Q" .. DONE .. "\r") end
    end
    function OnConnectionStatusChanged(b, p, s)
      if s == "ONLINE" then T0 = true C4:SendToNetwork(6001, port, "Q0\r") end
    end
    C4:CreateNetworkConnection(6001, "127.0.0.1")
    C4:NetPortOptions(6001, port, "TCP", {DELIMITER = "0d"})
  ]], N, port)
  local t0 = now()
  d:eval("C4:NetConnect(6001, ...)", port)
  d:run_until(function() return d:eval("return DONE") >= N end, 600000)
  return now() - t0
end

local function tcpclient(d, port)
  d:eval([[
    local N, port = ...
    DONE = 0
    CL = C4:CreateTCPClient()
      :OnConnect(function(c) c:Write("Q0\r") c:ReadUntil("\r") end)
      :OnRead(function(c, data)
        DONE = DONE + 1
        if DONE < N then c:Write("Q" .. DONE .. "\r") c:ReadUntil("\r") end
      end)
  ]], N, port)
  local t0 = now()
  d:eval("CL:Connect('127.0.0.1', ...)", port)
  d:run_until(function() return d:eval("return DONE") >= N end, 600000)
  return now() - t0
end

local function best(fn)
  local b = math.huge
  for _ = 1, RUNS do
    local d = c4emu.load("fixtures/drivers/minimal", {clock = "real", init_rule = "off"})
    d:init()
    local dev = device(d)
    local dt = fn(d, dev.local_port)
    dev:close()
    d:destroy()
    d:free()
    if dt < b then b = dt end
  end
  return b
end

-- interleaved, so both see the same machine load
local t_tcp, t_net = math.huge, math.huge
for _ = 1, RUNS do
  t_tcp = math.min(t_tcp, best(tcpclient))
  t_net = math.min(t_net, best(netbind))
end
local r_tcp, r_net = N / t_tcp, N / t_net
print(string.format("round trips, %d per run, best of %d x %d:", N, RUNS, RUNS))
print(string.format("  C4:CreateTCPClient  %8.0f /s  (%.3f s)", r_tcp, t_tcp))
print(string.format("  network binding     %8.0f /s  (%.3f s)", r_net, t_net))
print(string.format("  binding / client    %8.2f x   [aim: >= 0.9]", r_net / r_tcp))
