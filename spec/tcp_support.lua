-- spec/tcp_support.lua — helpers shared by the object-style TCP specs
-- (tcpserver_spec, tcpclient_spec, chat_spec).
--
-- In the driver, rec(...) appends one line (its arguments, tostring'd and
-- space-separated) to EV; the spec reads EV with events(d) and waits for a
-- line with wait_for(d, pattern).
local c4emu = require "c4emu"
local S = require "support"

local M = {}

local RECORDER = [[
  EV = {}
  function rec(...)
    local t = {}
    for i = 1, select("#", ...) do t[i] = tostring((select(i, ...))) end
    EV[#EV + 1] = table.concat(t, " ")
  end
]]

-- The minimal fixture, initialised, with the recorder; destroyed after the test.
function M.driver(opts)
  local d = c4emu.load(S.folder("minimal"), opts)
  d:init()
  d:eval(RECORDER)
  getfenv(2).finally(function() pcall(d.destroy, d) end) -- busted's, in the test's environment
  return d
end

function M.events(d) return d:eval("return EV") end

-- The first recorded line matching pattern, serving the loop until there is one.
function M.wait_for(d, pattern, timeout)
  return d:run_until(function()
    for _, l in ipairs(d:eval("return EV")) do
      if l:find(pattern) then return l end
    end
  end, timeout or 3000)
end

-- Whether a line matching pattern was recorded (no waiting).
function M.seen(d, pattern)
  for _, l in ipairs(d:eval("return EV")) do
    if l:find(pattern) then return true end
  end
  return false
end

-- Recorded lines matching pattern.
function M.count(d, pattern)
  local n = 0
  for _, l in ipairs(d:eval("return EV")) do
    if l:find(pattern) then n = n + 1 end
  end
  return n
end

-- A server in global `name` (default SRV) listening on an ephemeral loopback
-- port; OnAccept calls the global ACCEPT(server, client) if the test defined
-- one.  Returns the port.
function M.listen(d, name)
  name = name or "SRV"
  d:eval([[
    local name = ...
    _G[name] = C4:CreateTCPServer()
      :OnListen(function(srv, ep) _G[name .. "_PORT"] = srv:GetLocalAddress().port end)
      :OnError(function(srv, code, msg, op) rec(name, "error", code, msg, op) end)
      :OnAccept(function(srv, cli)
        rec(name, "accept")
        if ACCEPT then ACCEPT(srv, cli) end
      end)
      :Listen("127.0.0.1", 0)
  ]], name)
  return d:run_until(function() return d:eval("return _G[...]", name .. "_PORT") end, 3000)
end

-- A server whose OnAccept runs accept_src (a Lua function expression taking
-- (srv, cli)), a spec client connected to it, and the accept seen.
function M.serve(d, accept_src)
  d:eval("ACCEPT = " .. accept_src)
  local port = M.listen(d)
  local c = d:connect(port)
  M.wait_for(d, "SRV accept")
  return c, port
end

-- The message of the error fn raises.
function M.error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return tostring(err)
end

-- The driver's open handles of one kind.
function M.handles(d, kind)
  local _, kinds = d:handles()
  return kinds[kind] or 0
end

-- True once connecting to port is refused (nothing listens there any more).
function M.refused(d, port)
  local ok = pcall(d.connect, d, port)
  return not ok
end

return M
