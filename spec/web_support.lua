-- spec/web_support.lua — helpers of the web console specs: a `c4emu run --web`
-- process, raw HTTP requests and WebSocket upgrades over luv TCP, and client
-- WebSocket frames.  Every wait runs the luv loop until a condition holds, with
-- a generous deadline (cdp.run_until), never a fixed sleep.
package.path = "tools/?.lua;" .. package.path
local uv = require "luv"
-- busted runs each spec file insulated: what the file required leaves
-- package.loaded when it ends, so luv's module table (which holds its
-- default loop as a userdata) is collected and the loop freed, while luv's
-- per-state context still points at it.  A later file's `require "luv"`
-- then reuses that freed loop (a crash in uv_pipe_init / uv_timer_init).
-- Pin the first module table in the registry so its loop lives as long as
-- the Lua state; a re-required luv finds the same, live loop.
do
  local reg = debug.getregistry()
  reg["c4emu.web_support.luv"] = reg["c4emu.web_support.luv"] or uv
end
local cdp = require "cdp"

local M = { run_until = cdp.run_until }
M.build = os.getenv("BUILD") or "build"

-- The environment for c4emu: as busted's, without the sanitizer preload (an
-- ASan build of c4emu carries its runtime; the options stay).
local function env()
  local e = {}
  for k, v in pairs(uv.os_environ()) do
    if k ~= "LD_PRELOAD" then e[#e + 1] = k .. "=" .. v end
  end
  return e
end

-- Starts `c4emu run <driver> --web 127.0.0.1:0 <extra...>` and waits for its
-- URL.  Returns {url=, port=, token=, base=, err=function(), stop=function()}.
function M.start(driver, extra)
  local args = { "run", driver, "--web", "127.0.0.1:0" }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  local c = { out = "", errtext = "" }
  local out, err = uv.new_pipe(false), uv.new_pipe(false)
  c.proc = uv.spawn(M.build .. "/c4emu", { args = args, env = env(), stdio = { nil, out, err } },
                    function(code, signal) c.exit = { code = code, signal = signal } end)
  assert(c.proc, "cannot start c4emu")
  out:read_start(function(_, d) if d then c.out = c.out .. d end end)
  err:read_start(function(_, d) if d then c.errtext = c.errtext .. d end end)
  local ok, why = pcall(M.run_until, function() return c.out:match("token=%x+") or c.exit end, 60000,
                        "the console URL")
  if not ok then
    c.proc:kill("sigkill")
    error(tostring(why) .. "\nc4emu's stdout: " .. c.out .. "\nc4emu's stderr: " .. c.errtext, 0)
  end
  assert(not c.exit, "c4emu exited: " .. c.errtext)
  c.url = c.out:match("(http://%S+)")
  c.port = tonumber(c.url:match(":(%d+)/"))
  c.token = c.url:match("token=(%x+)")
  c.base = "http://127.0.0.1:" .. c.port
  function c.err() return c.errtext end
  -- Waits until stderr holds `pattern` (a Lua pattern).
  function c.wait_err(pattern, timeout_ms)
    M.run_until(function() return c.errtext:find(pattern) ~= nil end, timeout_ms or 30000,
                "'" .. pattern .. "' on c4emu's stderr")
  end
  -- SIGINT, then the exit status (0: clean; ASan reports make it non-zero).
  function c.stop()
    if not c.exit then c.proc:kill("sigint") end
    M.run_until(function() return c.exit ~= nil end, 30000, "c4emu to exit")
    for _, h in ipairs({ out, err, c.proc }) do
      if not h:is_closing() then h:close() end
    end
    uv.run("nowait")
    return c.exit.code, c.exit.signal
  end
  return c
end

-- A TCP connection to 127.0.0.1:port: {write=, data=, closed=, close=}; with
-- opts.on_data (or s.on_data set later) bytes go there instead of s.data.
function M.connect(port, opts)
  local s = { data = "", closed = false, reading = true }
  s.tcp = uv.new_tcp()
  local connected, cerr = false, nil
  s.tcp:connect("127.0.0.1", port, function(e)
    cerr = e
    connected = true
  end)
  M.run_until(function() return connected end, 10000, "connect")
  assert(not cerr, cerr)
  s.on_data = opts and opts.on_data
  function s.start()
    s.tcp:read_start(function(e, d)
      if e or not d then
        s.closed = true
        return
      end
      if s.on_data then s.on_data(d) else s.data = s.data .. d end
    end)
  end
  function s.stop() s.tcp:read_stop() end
  function s.write(bytes) s.tcp:write(bytes) end
  function s.close()
    if not s.tcp:is_closing() then s.tcp:close() end
    uv.run("nowait")
  end
  s.start()
  return s
end

-- Sends one request and returns the status code and the response head.
function M.request(port, lines)
  local s = M.connect(port)
  s.write(table.concat(lines, "\r\n") .. "\r\n\r\n")
  M.run_until(function() return s.data:find("\r\n\r\n", 1, true) or s.closed end, 10000,
              "a response")
  local head = s.data:match("^(.-)\r\n\r\n") or s.data
  s.close()
  return tonumber(head:match("^HTTP/1%.%d (%d+)")), head
end

-- GET path with extra header lines.
function M.get(port, path, headers)
  local lines = { "GET " .. path .. " HTTP/1.1", "Host: 127.0.0.1:" .. port, "Connection: close" }
  for _, h in ipairs(headers or {}) do lines[#lines + 1] = h end
  return M.request(port, lines)
end

-- The lines of a WebSocket upgrade of path (RFC 6455's sample key).
function M.upgrade_lines(port, path, origin)
  local lines = {
    "GET " .. path .. " HTTP/1.1", "Host: 127.0.0.1:" .. port, "Upgrade: websocket",
    "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: c4emu-console",
  }
  if origin then lines[#lines + 1] = "Origin: " .. origin end
  return lines
end

-- One masked client text frame (mask key 0: the payload goes as it is).
function M.frame(payload)
  local n = #payload
  local len
  if n < 126 then len = string.char(0x80 + n)
  elseif n < 65536 then len = string.char(0x80 + 126, math.floor(n / 256), n % 256)
  else
    len = string.char(0x80 + 127, 0, 0, 0, 0)
    for shift = 3, 0, -1 do len = len .. string.char(math.floor(n / 256 ^ shift) % 256) end
  end
  return string.char(0x81) .. len .. "\0\0\0\0" .. payload
end

-- The complete server messages in s.data (the 101 head is skipped once),
-- each a payload string; the rest stays in s.data.  Server frames are not
-- masked; the console sends each message as one frame.
function M.take_messages(s)
  local out = {}
  if not s.upgraded then
    local e = s.data:find("\r\n\r\n", 1, true)
    if not e then return out end
    s.data = s.data:sub(e + 4)
    s.upgraded = true
  end
  while #s.data >= 2 do
    local n, head = s.data:byte(2) % 128, 2
    if n == 126 then
      if #s.data < 4 then break end
      n, head = s.data:byte(3) * 256 + s.data:byte(4), 4
    elseif n == 127 then
      if #s.data < 10 then break end
      n, head = 0, 10
      for i = 3, 10 do n = n * 256 + s.data:byte(i) end
    end
    if #s.data < head + n then break end
    out[#out + 1] = s.data:sub(head + 1, head + n)
    s.data = s.data:sub(head + n + 1)
  end
  return out
end

-- Sends msg (a table; an id is added) on the open WebSocket s; returns its
-- result and the messages read up to the State after it (the last one).  A
-- "state" request is answered by the State alone.
local exchange_id = 0
function M.exchange(s, msg)
  local cjson = require "cjson"
  exchange_id = exchange_id + 1
  local id = exchange_id
  msg.id = id
  s.write(M.frame(cjson.encode(msg)))
  local found, seen, done = msg.t == "state" or nil, {}, false
  M.run_until(function()
    for _, text in ipairs(done and {} or M.take_messages(s)) do
      local m = cjson.decode(text)
      seen[#seen + 1] = m
      if m.t == "result" and m.id == id then found = m end
      if m.t == "state" and found then done = true break end
    end
    return done
  end, 20000, "result " .. id)
  return found, seen
end

-- An open WebSocket: upgrades on s and waits for 101; returns s.
function M.websocket(port, token, opts)
  local s = M.connect(port, opts)
  s.write(table.concat(M.upgrade_lines(port, "/ws?token=" .. token, "http://127.0.0.1:" .. port),
                       "\r\n") .. "\r\n\r\n")
  if opts and opts.on_data then return s end
  M.run_until(function() return s.data:find("\r\n\r\n", 1, true) or s.closed end, 10000, "101")
  assert(s.data:match("^HTTP/1%.%d 101"), "upgrade refused: " .. s.data:sub(1, 200))
  return s
end

return M
