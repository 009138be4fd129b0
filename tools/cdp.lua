-- cdp.lua — drives headless Chromium over the DevTools protocol, for the web
-- console's browser test (spec/web_browser_spec.lua).  Lua 5.1 with luv and
-- lua-cjson (Debian packages).
--
-- Chromium is started with --remote-debugging-pipe: it reads protocol
-- messages on fd 3 and writes its own on fd 4, each one JSON text ended by a
-- NUL byte, so no WebSocket client is needed here.  Every wait runs the luv
-- loop until a condition holds or a deadline passes (then it raises), so the
-- test asserts on what the page shows, never on a sleep.
--
--   local cdp = require "cdp"
--   local b = cdp.launch()                     -- a browser with one page
--   b:navigate(url)                            -- waits for the load event
--   b:eval("document.title")                  -- the value (returnByValue)
--   b:wait_for("document.querySelector('#x')") -- until truthy
--   b:screenshot("build/x.png")
--   b:close()
local uv = require "luv"
local cjson = require "cjson"

local M = {}
local Browser = {}

-- Deadline of every wait.  Generous: on a loaded 2-core machine Chromium can
-- take long to start; a wait ends as soon as its condition holds.
M.TIMEOUT_MS = tonumber(os.getenv("C4EMU_BROWSER_TIMEOUT_MS")) or 120000
Browser.__index = Browser

M.FLAGS = {
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage", "--remote-debugging-pipe", "--window-size=1280,900",
}

-- The environment without sanitizer preloads (make asan preloads them into
-- busted; Chromium must not get them).
function M.clean_env()
  local env = {}
  for k, v in pairs(uv.os_environ()) do
    if k ~= "LD_PRELOAD" and k ~= "ASAN_OPTIONS" and k ~= "UBSAN_OPTIONS" then
      env[#env + 1] = k .. "=" .. v
    end
  end
  return env
end

-- Runs the loop until pred() is true; raises `what` after timeout_ms.
function M.run_until(pred, timeout_ms, what)
  if pred() then return end
  local timed_out = false
  local t = uv.new_timer()
  -- The loop's clock is its time at its last run, which may be minutes ago
  -- (busted runs other spec files between): from there the timer would be
  -- due at once, before the I/O it waits for is read.
  uv.update_time()
  t:start(timeout_ms, 0, function() timed_out = true end)
  while not pred() and not timed_out do uv.run("once") end
  t:stop()
  t:close()
  if not pred() then error("timed out after " .. timeout_ms .. " ms waiting for " .. what, 2) end
end

function M.launch(opts)
  opts = opts or {}
  local self = setmetatable({ next_id = 1, replies = {}, events = {}, buf = "" }, Browser)
  self.profile = os.tmpname()
  os.remove(self.profile)
  assert(uv.fs_mkdir(self.profile, 493))
  local args = {}
  for _, f in ipairs(M.FLAGS) do args[#args + 1] = f end
  args[#args + 1] = "--user-data-dir=" .. self.profile
  args[#args + 1] = "about:blank"
  self.to_browser, self.from_browser = uv.new_pipe(false), uv.new_pipe(false)
  self.stderr = uv.new_pipe(false)
  self.log = {}
  local handle, pid = uv.spawn(opts.chromium or "chromium", {
    args = args, env = M.clean_env(),
    stdio = { nil, nil, self.stderr, self.to_browser, self.from_browser },
  }, function(code, signal)
    self.exited = { code = code, signal = signal }
  end)
  if not handle then error("cannot start chromium: " .. tostring(pid)) end
  self.proc, self.pid = handle, pid
  self.stderr:read_start(function(err, data)
    if data then self.log[#self.log + 1] = data end
  end)
  self.from_browser:read_start(function(err, data)
    if not data then return end
    self.buf = self.buf .. data
    while true do
      local z = self.buf:find("\0", 1, true)
      if not z then break end
      local msg = cjson.decode(self.buf:sub(1, z - 1))
      self.buf = self.buf:sub(z + 1)
      if msg.id then self.replies[msg.id] = msg
      else self.events[#self.events + 1] = msg end
    end
  end)
  -- One page, attached in flat mode: its commands carry our session id.
  local ok, err = pcall(function()
    local target = self:send("Target.createTarget", { url = "about:blank" }, true)
    local attached = self:send("Target.attachToTarget", { targetId = target.targetId, flatten = true },
                               true)
    self.session = attached.sessionId
    self:send("Page.enable")
    self:send("Runtime.enable")
    self:send("Emulation.setDeviceMetricsOverride",
              { width = 1280, height = 900, deviceScaleFactor = 1, mobile = false })
  end)
  if not ok then -- no browser left behind
    if not self.exited then self.proc:kill("sigkill") end
    self:close()
    error(err, 2)
  end
  return self
end

-- Sends a command (to the page, or the browser when `browser`) and waits for
-- its reply; raises on a protocol error.
function Browser:send(method, params, browser)
  local id = self.next_id
  self.next_id = id + 1
  local msg = { id = id, method = method, params = params or {} } -- {} encodes as an object
  if not browser then msg.sessionId = self.session end
  self.to_browser:write(cjson.encode(msg) .. "\0")
  local ok, err = pcall(M.run_until, function() return self.replies[id] ~= nil or self.exited ~= nil end,
                        M.TIMEOUT_MS, method)
  if not ok then error(err .. "; chromium said: " .. table.concat(self.log):sub(-2000), 2) end
  local r = self.replies[id]
  if not r then error("chromium exited during " .. method .. ": " .. table.concat(self.log)) end
  self.replies[id] = nil
  if r.error then error(method .. ": " .. cjson.encode(r.error), 2) end
  return r.result
end

-- Whether an event `method` arrived (after index `from`); returns it.
function Browser:event(method, from)
  for i = (from or 0) + 1, #self.events do
    if self.events[i].method == method then return self.events[i], i end
  end
end

function Browser:navigate(url)
  local mark = #self.events
  self:send("Page.navigate", { url = url })
  M.run_until(function() return self:event("Page.loadEventFired", mark) ~= nil end, M.TIMEOUT_MS,
              "the page to load")
end

-- Evaluates a JavaScript expression in the page; returns its value.
function Browser:eval(expr)
  local r = self:send("Runtime.evaluate", { expression = expr, returnByValue = true, awaitPromise = true })
  if r.exceptionDetails then
    local ex = r.exceptionDetails.exception
    error("page: " .. (ex and ex.description or r.exceptionDetails.text), 2)
  end
  return r.result.value
end

-- Polls expr every 50 ms until it is truthy; returns its value.
function Browser:wait_for(expr, timeout_ms, what)
  local value
  uv.update_time()
  local deadline = uv.now() + math.max(timeout_ms or 0, M.TIMEOUT_MS)
  while true do
    value = self:eval(expr)
    if value and value ~= cjson.null then return value end
    uv.update_time()
    if uv.now() > deadline then
      error("timed out waiting for " .. (what or expr), 2)
    end
    local t, done = uv.new_timer(), false
    t:start(50, 0, function() done = true end)
    M.run_until(function() return done end, 1000, "poll timer")
    t:close()
  end
end

-- Writes a PNG of the page to path (decoded by coreutils' base64).
function Browser:screenshot(path)
  local r = self:send("Page.captureScreenshot", { format = "png" })
  local tmp = path .. ".b64"
  local f = assert(io.open(tmp, "wb"))
  f:write(r.data)
  f:close()
  local ok = os.execute("base64 -d '" .. tmp .. "' > '" .. path .. "'")
  os.remove(tmp)
  assert(ok == 0 or ok == true, "base64 -d failed for " .. path)
end

function Browser:close()
  if not self.exited then
    pcall(function()
      self.to_browser:write(cjson.encode({ id = self.next_id, method = "Browser.close", params = {} })
                            .. "\0")
    end)
    local ok = pcall(M.run_until, function() return self.exited ~= nil end, 10000, "chromium to exit")
    if not ok then self.proc:kill("sigkill") end
    pcall(M.run_until, function() return self.exited ~= nil end, 5000, "chromium to die")
  end
  for _, h in ipairs({ self.to_browser, self.from_browser, self.stderr, self.proc }) do
    if not h:is_closing() then h:close() end
  end
  uv.run("nowait") -- the close callbacks: luv must not find them pending at exit
  os.execute("rm -rf '" .. self.profile .. "'")
end

return M
