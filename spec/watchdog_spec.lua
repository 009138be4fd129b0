-- The watchdog, the memory cap and check --timeout (issue 15): runaway code
-- in every kind of callback is stopped with an error that names the
-- callback, and the driver goes on serving.  Limits are short (watchdog 150
-- ms) so the suite stays quick; what is asserted is the error and that the
-- driver still answers, never how long anything took.
local c4emu = require "c4emu"
local S = require "support"

local runaway = S.folder("runaway")

local function load(mode, opts)
  opts = opts or {}
  opts.properties = {Mode = mode or "none"}
  if opts.watchdog == nil then opts.watchdog = 150 end
  return c4emu.load(runaway, opts)
end

-- The one recorded error; asserts there is exactly one.
local function only_error(d)
  local errs = d:errors()
  assert.equal(1, #errs, "errors: " .. #errs)
  return errs[1]
end

local function still_serves(d)
  assert.equal("pong", d:command("PING"))
end

describe("the watchdog stops a runaway", function()
  for _, case in ipairs{{"chunk", "driver chunk"}, {"init", "OnDriverInit"},
                        {"lateinit", "OnDriverLateInit"}} do
    it("driver " .. case[2] .. ", and the lifecycle goes on", function()
      local d = load(case[1])
      d:init()
      local e = only_error(d)
      assert.equal(case[2], e.where)
      assert.matches("driver.lua:%d+: watchdog: " .. case[2] .. " ran longer than 150 ms", e.message)
      assert.matches("stack traceback:", e.traceback)
      assert.matches("driver.lua:%d+: in function 'spin'", e.traceback)
      assert.equal("running", d:phase())
      if case[1] == "chunk" then -- stopped before ExecuteCommand was defined
        assert.equal(2, d:eval("return 1 + 1"))
      else
        still_serves(d)
      end
      d:destroy()
      if case[1] ~= "chunk" then assert.truthy(d:logged("^runaway destroyed$")) end
    end)
  end

  it("ExecuteCommand: raised in the spec, recorded, the driver serves on", function()
    local d = load()
    d:init()
    local err = S.raised(d.command, d, "SPIN")
    assert.matches("watchdog: ExecuteCommand ran longer than 150 ms", err)
    still_serves(d)
    d:destroy()
  end)

  it("that catches the watchdog's error with pcall and loops on", function()
    local d = load()
    d:init()
    assert.matches("watchdog: ExecuteCommand", S.raised(d.command, d, "STUBBORN"))
    still_serves(d)
    d:destroy()
  end)

  it("inside a coroutine, one made inside the callback or one made at load", function()
    local d = load()
    d:init()
    assert.matches("watchdog: ExecuteCommand", S.raised(d.command, d, "SPIN_IN_COROUTINE"))
    -- resume() catches the error; the callback still counts as stopped
    assert.matches("the driver caught the error", S.raised(d.command, d, "RESUME_OLD"))
    still_serves(d)
    d:destroy()
  end)

  it("a timer callback", function()
    local d = load()
    d:init()
    d:command("TIMER")
    d:advance(20)
    local e = only_error(d)
    assert.matches("watchdog: " .. e.where:gsub("%p", "%%%0") .. " ran longer than 150 ms", e.message)
    still_serves(d)
    d:destroy()
  end)

  -- A socket callback: the command makes a server (its port in the global
  -- port_var), a client sends a line, the callback spins.
  local function socket_callback(command, port_var)
    local d = load()
    d:init()
    d:command(command)
    d:run_until(function() return d:eval("return " .. port_var) end, 3000)
    local c = d:connect(d:eval("return " .. port_var))
    c:send("x\n")
    d:run_until(function() return #d:unseen_errors() > 0 end, 5000)
    local e = only_error(d)
    still_serves(d)
    c:close()
    d:destroy()
    return e
  end

  it("OnServerDataIn", function()
    local e = socket_callback("SERVER", "SERVER_PORT")
    assert.equal("OnServerDataIn", e.where)
    assert.matches("watchdog: OnServerDataIn ran longer than 150 ms", e.message)
  end)

  it("a C4LuaTcpClient OnRead callback", function()
    local e = socket_callback("TCP", "TCP_PORT")
    assert.matches("OnRead", e.where)
    assert.matches("watchdog: .*OnRead.* ran longer than 150 ms", e.message)
  end)

  it("is off with watchdog = 0 (the hook is not even installed)", function()
    local d = load("none", {watchdog = 0})
    d:init()
    -- a long but finite loop that a 1 ms watchdog would stop
    assert.equal(3e6, d:eval("local n = 0 for i = 1, 3e6 do n = n + 1 end return n"))
    d:destroy()
  end)

  it("refuses a bad watchdog value", function()
    assert.matches("watchdog must be 0", S.raised(c4emu.load, runaway, {watchdog = -1}))
  end)
end)

describe("the stack and the memory cap", function()
  it("a Lua recursion that overflows the stack: an error, the driver serves on", function()
    local d = load()
    d:init()
    assert.matches("stack overflow", S.raised(d.command, d, "DEEP"))
    still_serves(d)
    d:destroy()
  end)

  it("a recursion through the C stack (__index): an error, the driver serves on", function()
    local d = load()
    d:init()
    assert.matches("C stack overflow", S.raised(d.command, d, "CDEEP"))
    still_serves(d)
    d:destroy()
  end)

  it("unbounded allocation: an error naming the cap, memory given back", function()
    local d = load("none", {memory = 32 * 1024 * 1024, watchdog = 0})
    d:init()
    local err = S.raised(d.command, d, "HOG")
    assert.matches("memory cap: ExecuteCommand needed more than the 32 MB the driver may hold", err)
    local now = d:memory()
    assert.is_true(now < 32 * 1024 * 1024, "held after the error: " .. now)
    still_serves(d)
    d:destroy()
  end)

  it("a cap in bytes that is not whole megabytes is named in bytes", function()
    local d = load("none", {memory = 20e6, watchdog = 0})
    d:init()
    assert.matches("more than the 20000000 bytes", S.raised(d.command, d, "HOG"))
    d:destroy()
  end)
end)

describe("c4emu check and run with a runaway driver", function()
  it("check: a loop in OnDriverLateInit is stopped by the watchdog, exit 1", function()
    local out, code = S.cli("check " .. runaway .. " --prop Mode=lateinit --watchdog 300")
    assert.equal(1, code, out)
    assert.matches("error%s+in OnDriverLateInit: driver.lua:%d+: watchdog: OnDriverLateInit " ..
                   "ran longer than 300 ms", out)
  end)

  it("check --timeout: with the watchdog off, the version fails when the run does not finish", function()
    local out, code = S.cli("check " .. runaway .. " --prop Mode=lateinit --watchdog 0 --timeout 1")
    assert.equal(1, code, out)
    assert.matches("timeout%s+the run did not finish within 1 s", out)
    assert.matches("timeout: the run did not finish within 1 s %(OnDriverLateInit stopped", out)
  end)

  it("check refuses bad values", function()
    local out, code = S.cli("check " .. runaway .. " --timeout soon")
    assert.equal(2, code)
    assert.matches("%-%-timeout wants seconds", out)
    out, code = S.cli("run " .. runaway .. " --timeout 3")
    assert.equal(2, code)
    assert.matches("%-%-timeout is an option of c4emu check only", out)
    out, code = S.cli("run " .. runaway .. " --memory lots")
    assert.equal(2, code)
    assert.matches("%-%-memory wants megabytes", out)
  end)

  it("run: SIGTERM stops a runaway OnDriverLateInit (watchdog off); OnDriverDestroyed runs", function()
    local log = os.tmpname()
    local p = io.popen(("%s/c4emu run %s --prop Mode=lateinit --watchdog 0 </dev/null >%s 2>&1 & echo $!")
      :format(S.build, runaway, log))
    local pid = p:read("*l")
    p:close()
    -- wait until it is inside OnDriverLateInit, then signal and wait for the exit
    local rc = os.execute(([[
      for i in $(seq 300); do grep -q 'OnDriverLateInit()' %s && break; sleep 0.05; done
      sleep 0.2; kill -TERM %s
      for i in $(seq 300); do kill -0 %s 2>/dev/null || exit 0; sleep 0.05; done
      kill -KILL %s; exit 1]]):format(log, pid, pid, pid))
    local f = io.open(log)
    local out = f:read("*a")
    f:close()
    os.remove(log)
    assert.equal(0, rc, "c4emu did not exit after SIGTERM:\n" .. out)
    assert.matches("interrupted by SIGTERM: OnDriverLateInit stopped after %d+ ms", out)
    assert.matches("runaway destroyed", out)
    assert.matches("stopped; 1 driver error", out)
  end)

  it("run --once exits 1 when the driver raised, 0 when it did not", function()
    local out, code = S.cli("run " .. runaway .. " --once --prop Mode=init --watchdog 100")
    assert.equal(1, code, out)
    out, code = S.cli("run " .. runaway .. " --once")
    assert.equal(0, code, out)
  end)
end)
