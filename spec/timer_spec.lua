-- Timers and the emulator's clock.
--
-- C4:SetTimer (C4LuaTimer objects), the legacy C4:AddTimer / C4:KillTimer /
-- OnTimerExpired, C4:GetTime and C4:GetTickCount, and the spec API that moves
-- time: d:advance, d:now, d:run_until, d:timers and d:stall.
--
-- Specs run in virtual time unless they say clock = "real": time stands still
-- until the spec moves it, so a day passes in milliseconds.
local c4emu = require "c4emu"
local S = require "support"

-- Every driver a test loads is destroyed after it.
local open = S.loader()

-- The timer recorder fixture, initialised.  Callbacks made with Record(name)
-- append {name=, at=, skips=} to FIRED; Names() lists the names in order.
local function recorder(opts)
  local d = open("timer_basic", opts)
  d:init()
  return d
end

local function names(d) return d:eval("return Names()") end
local function fired(d) return d:eval("return FIRED") end

-- The message of the error fn raises.
local function error_of(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("C4:SetTimer", function()
  it("calls a one-shot timer once, after the delay, with the timer it returned", function()
    local d = recorder()
    d:eval([[
      T = C4:SetTimer(1000, function(timer)
        FIRED[#FIRED + 1] = { name = "once", at = C4:GetTickCount(), same = rawequal(timer, T) }
      end)
    ]])
    d:advance(999)
    assert.same({}, fired(d))
    d:advance(1)
    assert.same({ { name = "once", at = 1000, same = true } }, fired(d))
    d:advance(60000)
    assert.equal(1, #fired(d))
  end)

  it("calls a repeating timer with (timer, skips) every period until cancelled", function()
    local d = recorder()
    d:eval([[
      SEEN = {}
      R = C4:SetTimer(250, function(timer, skips)
        SEEN[#SEEN + 1] = { at = C4:GetTickCount(), skips = skips, same = rawequal(timer, R) }
      end, true)
    ]])
    d:advance(1000)
    assert.same({
      { at = 250, skips = 0, same = true }, { at = 500, skips = 0, same = true },
      { at = 750, skips = 0, same = true }, { at = 1000, skips = 0, same = true },
    }, d:eval("return SEEN"))
    d:eval("R:Cancel()")
    d:advance(5000)
    assert.equal(4, d:eval("return #SEEN"))
  end)

  it("fires timers due at the same instant in the order they were created", function()
    local d = recorder()
    d:eval([[
      C4:SetTimer(500, Record("A every 500"), true)  -- re-armed twice before 1000
      C4:SetTimer(1000, Record("B once"))
      C4:SetTimer(1000, Record("C once"))
      C4:SetTimer(250, Record("D every 250"), true)
    ]])
    d:advance(1000)
    local at1000 = {}
    for _, f in ipairs(fired(d)) do
      if f.at == 1000 then at1000[#at1000 + 1] = f.name end
    end
    assert.same({ "A every 500", "B once", "C once", "D every 250" }, at1000)
  end)

  it("cancels with t:Cancel(), which returns nil (t = t:Cancel()) and is safe twice", function()
    local d = recorder()
    local results = d:eval([[
      local t = C4:SetTimer(100, Record("never"))
      local r1 = t:Cancel()
      local r2 = t:Cancel()
      t = t:Cancel()
      return { r1 == nil, r2 == nil, t == nil }
    ]])
    assert.same({ true, true, true }, results)
    d:advance(1000)
    assert.same({}, names(d))
    assert.equal(0, (d:handles()))
  end)

  it("lets a timer cancel itself inside its own callback", function()
    local d = recorder()
    d:eval([[
      N = 0
      C4:SetTimer(100, function(timer, skips)
        N = N + 1
        if N == 3 then
          timer:Cancel()
          timer:Cancel() -- twice, still inside the callback
        end
      end, true)
    ]])
    d:advance(10000)
    assert.equal(3, d:eval("return N"))
    assert.same({}, d:timers())
  end)

  it("cancelling a one-shot inside its own callback is harmless", function()
    local d = recorder()
    d:eval("C4:SetTimer(10, function(t) t:Cancel(); FIRED[1] = { name = 'ok' } end)")
    d:advance(10)
    assert.same({ "ok" }, names(d))
  end)

  it("arms timers from inside another timer's callback", function()
    local d = recorder()
    d:eval([[
      C4:SetTimer(100, function()
        Record("outer")()
        C4:SetTimer(50, Record("inner"))
        -- a one-shot that re-arms itself: the usual "next poll" idiom
        local n = 0
        local function again()
          n = n + 1
          Record("chain " .. n)()
          if n < 3 then C4:SetTimer(100, again) end
        end
        C4:SetTimer(100, again)
      end)
    ]])
    d:advance(1000)
    assert.same({
      { name = "outer", at = 100 }, { name = "inner", at = 150 },
      { name = "chain 1", at = 200 }, { name = "chain 2", at = 300 }, { name = "chain 3", at = 400 },
    }, fired(d))
  end)

  it("keeps firing when the driver drops every reference (garbage collection does not cancel)", function()
    local d = recorder()
    d:eval([[
      C4:SetTimer(1000, Record("orphan once"))
      C4:SetTimer(400, Record("orphan repeating"), true)
      collectgarbage(); collectgarbage()
    ]])
    d:advance(500)
    d:eval("collectgarbage(); collectgarbage()")
    d:advance(500)
    assert.same({ "orphan repeating", "orphan repeating", "orphan once" }, names(d))
  end)

  it("lets garbage collection free a timer once it can never fire again", function()
    local d = recorder()
    d:eval([[
      WEAK = setmetatable({}, { __mode = "v" })
      WEAK.fired = C4:SetTimer(10, function() end)
      WEAK.cancelled = C4:SetTimer(10, function() end, true)
      WEAK.cancelled:Cancel()
      WEAK.armed = C4:SetTimer(100000, function() end)
    ]])
    d:advance(10)
    d:eval("collectgarbage(); collectgarbage()")
    assert.same({ armed = true }, d:eval([[
      local t = {} for k in pairs(WEAK) do t[k] = true end return t
    ]]))
  end)

  it("counts armed timers as handles and releases each when it is done", function()
    local d = recorder()
    d:eval([[
      C4:SetTimer(10, function() end)
      REP = C4:SetTimer(10, function() end, true)
    ]])
    local open, kinds = d:handles()
    assert.equal(2, open)
    assert.equal(2, kinds.timer)
    d:advance(10)
    assert.equal(1, (d:handles()))
    d:eval("REP:Cancel()")
    assert.equal(0, (d:handles()))
  end)

  it("shows what it is in tostring", function()
    local d = recorder()
    local armed, done = d:eval([[
      local t = C4:SetTimer(1500, function() end, true)
      local a = tostring(t)
      t:Cancel()
      return a, tostring(t)
    ]])
    assert.matches("^C4LuaTimer %(repeating, next due at 1500 ms%)", armed)
    assert.matches("^C4LuaTimer %(cancelled%)", done)
  end)

  it("refuses wrong argument types and values in Lua's usual words", function()
    local d = recorder()
    local function err(src) return error_of(function() d:eval(src) end) end
    assert.matches("bad argument #1 to 'SetTimer' %(number expected, got string%)",
                   err("C4:SetTimer('soon', function() end)"))
    assert.matches("bad argument #1 to 'SetTimer' %(number expected, got nil%)",
                   err("C4:SetTimer(nil, function() end)"))
    assert.matches("bad argument #2 to 'SetTimer' %(function expected, got no value%)",
                   err("C4:SetTimer(100)"))
    assert.matches("bad argument #2 to 'SetTimer' %(function expected, got table%)",
                   err("C4:SetTimer(100, {})"))
    for _, bad in ipairs({ "0", "-5", "2^31", "0/0", "1/0" }) do
      assert.matches("bad argument #1 to 'SetTimer' %(delay must be above 0 and below 2%^31 ms",
                     err("C4:SetTimer(" .. bad .. ", function() end)"))
    end
    assert.equal(0, (d:handles()), "a refused call arms nothing")
    assert.matches("bad argument #1 to 'Cancel' %(C4LuaTimer expected, got no value%)",
                   err("T = C4:SetTimer(100, function() end); T.Cancel()"))
    assert.matches("bad argument #1 to 'Cancel' %(C4LuaTimer expected, got table%)",
                   err("T.Cancel({})"))
  end)

  it("accepts the edges: 2^31 - 1 ms, a numeric string, a fraction rounded up", function()
    local d = recorder()
    d:eval([[
      C4:SetTimer(2^31 - 1, Record("edge"))
      C4:SetTimer("250", Record("string"))       -- Lua's own number coercion
      C4:SetTimer(0.25, Record("fraction"))      -- rounds up to 1 ms
    ]])
    d:advance(1)
    assert.same({ { name = "fraction", at = 1 } }, fired(d))
    local dues = {}
    for _, t in ipairs(d:timers()) do dues[#dues + 1] = t.due end
    assert.same({ 250, 2 ^ 31 - 1 }, dues)
  end)

  it("records a Lua error in a callback with its traceback; a repeating timer keeps firing", function()
    local d = recorder()
    d:eval([[
      N = 0
      C4:SetTimer(100, function(timer, skips)
        N = N + 1
        if N == 2 then error("boom on call " .. N) end
      end, true)
    ]])
    d:advance(500)
    assert.equal(5, d:eval("return N"))
    local errors = d:errors()
    assert.equal(1, #errors)
    assert.equal("SetTimer callback", errors[1].where)
    assert.matches("boom on call 2", errors[1].message)
    assert.matches("stack traceback", errors[1].traceback)
    assert.truthy(d:logged("boom on call 2", "ERROR"))
  end)

  it("does not call OnTimerExpired for SetTimer timers", function()
    local d = recorder()
    d:eval("C4:SetTimer(10, function() end)")
    d:advance(10)
    assert.same({}, names(d))
  end)
end)

describe("skips: periods a repeating timer could not serve on time", function()
  it("a callback that blocks for 2.5 periods makes the next call report skips == 2 (d:stall)", function()
    local d = recorder()
    d:eval("C4:SetTimer(1000, Record('poll'), true)")
    d:stall(2500)          -- the next timer callback takes 2.5 s of virtual time
    d:advance(1000)        -- fires at 1000, returns at 3500
    assert.equal(3500, d:now())
    d:advance(500)
    -- 2000 and 3000 passed while it was busy: dropped and counted, not queued.
    assert.same({ { name = "poll", at = 1000, skips = 0 }, { name = "poll", at = 4000, skips = 2 } },
                fired(d))
    d:advance(1000)
    assert.same({ name = "poll", at = 5000, skips = 0 }, fired(d)[3])
  end)

  it("counts periods lost to another busy callback (DriverWorks' example: 250 ms timer, 600 ms busy)", function()
    local d = recorder()
    d:eval([[
      C4:SetTimer(250, Record("fast"), true)
      C4:SetTimer(100, Record("slow"))
    ]])
    d:stall(600) -- the one-shot at 100 runs until 700
    d:advance(1000)
    assert.same({
      { name = "slow", at = 100 },
      { name = "fast", at = 750, skips = 2 },
      { name = "fast", at = 1000, skips = 0 },
    }, fired(d))
  end)

  it("one-shot timers that come due while the driver is busy fire late, never dropped", function()
    local d = recorder()
    d:eval([[
      C4:SetTimer(100, Record("busy"))
      C4:SetTimer(200, Record("late"))
    ]])
    d:stall(500)
    d:advance(200)
    assert.same({ { name = "busy", at = 100 }, { name = "late", at = 600 } }, fired(d))
    assert.equal(600, d:now(), "the stall carried the clock past the advance; it never goes back")
  end)

  it("keeps 1 + skips summing to the periods elapsed, however busy the driver is", function()
    local d = recorder()
    d:eval([[
      COUNT = 0
      C4:SetTimer(250, function(t, skips) COUNT = COUNT + 1 + skips end, true)
    ]])
    for i = 1, 200 do
      d:stall((i * 37) % 900) -- a different busy time before each call
      d:advance(250)
    end
    local now, count = d:now(), d:eval("return COUNT")
    assert.equal(math.floor(now / 250), count)
  end)

  it("in real time, a callback that blocks for 2.5 periods makes the next call report skips == 2", function()
    local d = recorder({ clock = "real" })
    d:eval([[
      C4:SetTimer(200, function(timer, skips)
        FIRED[#FIRED + 1] = { at = C4:GetTickCount(), skips = skips }
        if #FIRED == 1 then -- really busy: 500 ms of wall time
          local t0 = C4:GetTickCount()
          while C4:GetTickCount() - t0 < 500 do end
        else
          timer:Cancel()
        end
      end, true)
    ]])
    d:run_until(function() return #fired(d) == 2 end, 5000)
    local f = fired(d)
    assert.equal(2, f[2].skips)
    -- On the grid: 200 (busy till ~700), 400 and 600 dropped, next at 800.
    -- A queued late firing would have come at ~700, 500 ms after the first.
    local gap = f[2].at - f[1].at
    assert.is_true(gap >= 560 and gap <= 1500, "second call " .. gap .. " ms after the first")
  end)
end)

describe("legacy timers: C4:AddTimer, C4:KillTimer, OnTimerExpired", function()
  it("AddTimer returns a numeric id and calls OnTimerExpired(id) when it expires", function()
    local d = recorder()
    local a, b = d:eval("return C4:AddTimer(2, 'SECONDS'), C4:AddTimer(1, 'SECONDS')")
    assert.is_number(a)
    assert.is_number(b)
    assert.not_equal(a, b)
    d:advance(2000)
    assert.same({ { name = "id" .. b, at = 1000 }, { name = "id" .. a, at = 2000 } }, fired(d))
    d:advance(60000)
    assert.equal(2, #fired(d), "one-shot by default")
  end)

  it("understands MILLISECONDS, SECONDS, MINUTES and HOURS, in any case", function()
    local d = recorder()
    local ids = d:eval([[
      return {
        ms = C4:AddTimer(250, "MILLISECONDS"), s = C4:AddTimer(2, "SECONDS"),
        min = C4:AddTimer(1, "MINUTES"), h = C4:AddTimer(1, "HOURS"),
        lower = C4:AddTimer(3, "seconds"), mixed = C4:AddTimer(1.5, "Minutes"),
      }
    ]])
    d:advance(3600000)
    local at = {}
    for _, f in ipairs(fired(d)) do at[f.name] = f.at end
    assert.equal(250, at["id" .. ids.ms])
    assert.equal(2000, at["id" .. ids.s])
    assert.equal(60000, at["id" .. ids.min])
    assert.equal(3600000, at["id" .. ids.h])
    assert.equal(3000, at["id" .. ids.lower])
    assert.equal(90000, at["id" .. ids.mixed])
  end)

  it("refuses unknown units and wrong arguments", function()
    local d = recorder()
    local function err(src) return error_of(function() d:eval(src) end) end
    assert.matches("bad argument #2 to 'AddTimer' %(units must be MILLISECONDS, SECONDS, MINUTES or HOURS, got 'DAYS'%)",
                   err("C4:AddTimer(1, 'DAYS')"))
    assert.matches("bad argument #2 to 'AddTimer' %(string expected, got no value%)",
                   err("C4:AddTimer(1)"))
    assert.matches("bad argument #1 to 'AddTimer' %(number expected, got string%)",
                   err("C4:AddTimer('five', 'SECONDS')"))
    assert.matches("bad argument #1 to 'AddTimer' %(interval must be above 0 and below 2%^31 ms",
                   err("C4:AddTimer(0, 'SECONDS')"))
    assert.matches("bad argument #1 to 'AddTimer' %(interval must be above 0 and below 2%^31 ms, got 3600000000000 ms",
                   err("C4:AddTimer(1000000, 'HOURS')"))
    assert.equal(0, (d:handles()))
  end)

  it("repeats when asked, until KillTimer, which returns 0 (t = C4:KillTimer(t))", function()
    local d = recorder()
    d:eval("T = C4:AddTimer(10, 'SECONDS', true)")
    d:advance(30000)
    assert.equal(3, #fired(d))
    assert.equal(0, d:eval("T = C4:KillTimer(T) return T"))
    d:advance(60000)
    assert.equal(3, #fired(d))
    assert.equal(0, (d:handles()))
  end)

  it("KillTimer stops a repeating timer from inside OnTimerExpired", function()
    local d = recorder()
    d:eval([[
      N = 0
      T = C4:AddTimer(100, "MILLISECONDS", true)
      function OnTimerExpired(id)
        N = N + 1
        if N == 2 then T = C4:KillTimer(id) end
      end
    ]])
    d:advance(1000)
    assert.equal(2, d:eval("return N"))
    assert.same({}, d:timers())
  end)

  it("KillTimer ignores ids that are unknown, spent or already killed (returns 0)", function()
    local d = recorder()
    local r = d:eval([[
      local spent = C4:AddTimer(1, "MILLISECONDS")
      local killed = C4:AddTimer(1, "SECONDS")
      C4:KillTimer(killed)
      return { spent = spent, killed = killed }
    ]])
    d:advance(1)
    assert.same({ 0, 0, 0, 0 }, d:eval(
      "local a, b = ... return { C4:KillTimer(0), C4:KillTimer(424242), C4:KillTimer(a), C4:KillTimer(b) }",
      r.spent, r.killed))
  end)

  it("KillTimer raises for an id that is not a number", function()
    local d = recorder()
    local function err(src) return error_of(function() d:eval(src) end) end
    assert.matches("bad argument #1 to 'KillTimer' %(number expected, got nil%)", err("C4:KillTimer(nil)"))
    assert.matches("bad argument #1 to 'KillTimer' %(number expected, got no value%)", err("C4:KillTimer()"))
    assert.matches("bad argument #1 to 'KillTimer' %(number expected, got string%)", err("C4:KillTimer('x')"))
    assert.matches("bad argument #1 to 'KillTimer' %(number expected, got userdata%)",
                   err("local t = C4:SetTimer(5, function() end) C4:KillTimer(t)"))
  end)

  it("works while the chunk loads, before OnDriverInit (the old deferred-init idiom)", function()
    local d = open("timer_legacy")
    assert.same({ { due = 5000, period = 0, kind = "AddTimer" } }, d:timers())
    d:init()
    assert.same({}, d:notes(), "the init rule does not cover the chunk")
    d:advance(5000)
    assert.same({ { due = 65000, period = 60000, kind = "AddTimer" } }, d:timers())
    d:advance(5 * 60000)
    assert.equal(3, d:eval("return Beats"))
    assert.equal(0, d:eval("return gHeartbeat"))
    assert.same({ 5000, 65000, 125000, 185000 }, d:eval([[
      local t = {} for i, e in ipairs(Events) do t[i] = e.at end return t
    ]]))
    assert.same({}, d:timers())
  end)

  it("warns once when a legacy timer expires and the driver has no OnTimerExpired", function()
    local d = recorder()
    d:eval("OnTimerExpired = nil; C4:AddTimer(1, 'SECONDS', true)")
    d:advance(3000)
    assert.truthy(d:logged("expired but the driver has no OnTimerExpired", "WARN"))
    local n = 0
    for _, l in ipairs(d:logs()) do
      if l.text:find("no OnTimerExpired", 1, true) then n = n + 1 end
    end
    assert.equal(1, n)
  end)
end)

describe("C4:GetTime and C4:GetTickCount read the emulator clock", function()
  it("GetTickCount is the clock in ms: still until the spec advances it", function()
    local d = recorder()
    assert.equal(0, d:eval("return C4:GetTickCount()"))
    local t0 = os.clock()
    while os.clock() - t0 < 0.02 do end -- real time passes...
    assert.equal(0, d:eval("return C4:GetTickCount()")) -- ...virtual time does not
    d:advance(1234)
    assert.equal(1234, d:eval("return C4:GetTickCount()"))
    assert.equal(1234, d:now())
  end)

  it("GetTime is ms since the Unix epoch and moves with virtual time", function()
    local d = recorder()
    local t0 = d:eval("return C4:GetTime()")
    assert.is_true(math.abs(t0 / 1000 - os.time()) < 5, "near the wall clock at load")
    d:advance(24 * 3600 * 1000)
    assert.equal(t0 + 24 * 3600 * 1000, d:eval("return C4:GetTime()"))
  end)

  it("GetTime takes units and fractional from OS 4.0.0", function()
    local d = recorder({ os = "4.0.0" })
    local v = d:eval([[
      local ms = C4:GetTime()
      return {
        ms = ms, s = C4:GetTime("s"), min = C4:GetTime("min"), minf = C4:GetTime("min", true),
        us = C4:GetTime("us"), h = C4:GetTime("h"), d = C4:GetTime("d"), w = C4:GetTime("w"),
        bogus = C4:GetTime("fortnights"),
      }
    ]])
    assert.equal(math.floor(v.ms / 1000), v.s)
    assert.equal(math.floor(v.ms / 60000), v.min)
    assert.near(v.ms / 60000, v.minf, 1e-6)
    assert.is_true(v.minf ~= v.min or v.ms % 60000 == 0, "fractional keeps the fraction")
    assert.equal(v.ms * 1000, v.us)
    assert.equal(math.floor(v.ms / 3600000), v.h)
    assert.equal(math.floor(v.ms / 86400000), v.d)
    assert.equal(math.floor(v.ms / 604800000), v.w)
    assert.equal(v.ms, v.bogus, "an invalid unit gives ms")
  end)

  it("ignores GetTime's arguments before OS 4.0.0", function()
    local d = recorder({ os = "3.3.1" })
    local ms, s = d:eval("return C4:GetTime(), C4:GetTime('s', true)")
    assert.equal(ms, s)
  end)

  it("GetTime exists from OS 3.2.3 and GetTickCount from 2.4.0", function()
    local old = recorder({ os = "3.2.0" })
    assert.is_true(old:eval("return C4.GetTime == nil and C4.GetTickCount ~= nil"))
    local older = recorder({ os = "2.1.0" })
    assert.is_true(older:eval("return C4.GetTickCount == nil"))
    local new = recorder({ os = "3.2.3" })
    assert.is_true(new:eval("return type(C4.GetTime) == 'function'"))
  end)

  it("follows the wall clock in real mode", function()
    local d = recorder({ clock = "real" })
    local a = d:eval("return C4:GetTickCount()")
    d:advance(60)
    local b = d:eval("return C4:GetTickCount()")
    assert.is_true(b - a >= 60 and b - a < 2000, "moved " .. (b - a) .. " ms")
  end)
end)

describe("the clock in specs", function()
  it("d:advance fires every timer due by now + ms in due order, the clock at each due time", function()
    local d = recorder()
    d:eval([[
      C4:SetTimer(300, function() FIRED[#FIRED + 1] = { name = "c", at = C4:GetTickCount() } end)
      C4:SetTimer(100, function() FIRED[#FIRED + 1] = { name = "a", at = C4:GetTickCount() } end)
      C4:SetTimer(200, function() FIRED[#FIRED + 1] = { name = "b", at = C4:GetTickCount() } end)
      C4:SetTimer(301, Record("d"))
    ]])
    d:advance(300)
    assert.same({ { name = "a", at = 100 }, { name = "b", at = 200 }, { name = "c", at = 300 } }, fired(d))
    assert.equal(300, d:now())
  end)

  it("advances 24 hours of a 1 s repeating timer: 86,400 calls in well under a second", function()
    local d = recorder()
    d:eval("N = 0; C4:SetTimer(1000, function() N = N + 1 end, true)")
    local t0 = os.clock()
    d:advance(24 * 3600 * 1000)
    local cpu = os.clock() - t0
    assert.equal(86400, d:eval("return N"))
    assert.equal(24 * 3600 * 1000, d:now())
    assert.same({ { due = 86401000, period = 1000, kind = "SetTimer" } }, d:timers())
    assert.is_true(cpu < 5, "took " .. cpu .. " s of CPU") -- generous: sanitizer builds too
  end)

  it("d:timers lists the armed timers in firing order: due, period, kind", function()
    local d = recorder()
    d:eval([[
      C4:SetTimer(5000, function() end)
      C4:SetTimer(1000, function() end, true)
      C4:AddTimer(2, "SECONDS", true)
      C4:AddTimer(1, "SECONDS")
    ]])
    assert.same({
      { due = 1000, period = 1000, kind = "SetTimer" },
      { due = 1000, period = 0, kind = "AddTimer" },
      { due = 2000, period = 2000, kind = "AddTimer" },
      { due = 5000, period = 0, kind = "SetTimer" },
    }, d:timers())
    d:advance(1500)
    assert.same({
      { due = 2000, period = 1000, kind = "SetTimer" },
      { due = 2000, period = 2000, kind = "AddTimer" },
      { due = 5000, period = 0, kind = "SetTimer" },
    }, d:timers())
  end)

  it("d:run_until jumps from timer to timer until the condition holds", function()
    local d = recorder()
    d:eval("C4:SetTimer(7 * 60000, Record('late'))")
    local v = d:run_until(function() return d:eval("return #FIRED") > 0 and "done" end, 10 * 60000)
    assert.equal("done", v)
    assert.equal(7 * 60000, d:now())
  end)

  it("d:run_until raises naming the timeout when the condition stays false", function()
    local d = recorder()
    d:eval("C4:SetTimer(1000, function() end, true)")
    assert.matches("d:run_until: condition still false after 5000 ms",
                   error_of(function() d:run_until(function() return false end, 5000) end))
    local d2 = recorder()
    local t0 = os.clock()
    assert.matches("condition still false after 600000 ms",
                   error_of(function() d2:run_until(function() return false end, 600000) end))
    assert.is_true(os.clock() - t0 < 1, "nothing can happen: it fails at once")
    assert.equal(600000, d2:now())
  end)

  it("d:stall costs only the next timer callback", function()
    local d = recorder()
    d:eval("C4:SetTimer(100, Record('r'), true)")
    d:stall(150)
    d:advance(400)
    local at = {}
    for i, f in ipairs(fired(d)) do at[i] = f.at .. "/" .. f.skips end
    -- 100 runs until 250: 200 is dropped; 300 and 400 are on time.
    assert.same({ "100/0", "300/1", "400/0" }, at)
  end)

  it("fires timers at wall-clock times in real mode", function()
    local d = recorder({ clock = "real" })
    d:eval("T0 = C4:GetTickCount(); C4:SetTimer(80, Record('real'))")
    d:run_until(function() return #fired(d) == 1 end, 3000)
    local late = d:eval("return FIRED[1].at - T0")
    assert.is_true(late >= 80 and late < 1000, "fired " .. late .. " ms after arming")
  end)
end)

describe("destroying a driver kills its timers", function()
  it("cancels every timer after OnDriverDestroyed: none fires after, no handle left", function()
    local d = recorder({ properties = { ["Timer In Destroy"] = "yes" } })
    d:eval([[
      KEEP = C4:SetTimer(100, Record("once"))
      C4:SetTimer(50, Record("repeating"), true)
      C4:AddTimer(1, "SECONDS", true)
    ]])
    assert.equal(3, (d:handles()))
    d:destroy() -- OnDriverDestroyed arms one more; it is cancelled too
    assert.equal(0, (d:handles()))
    assert.same({}, d:timers())
    assert.has_error(function() d:advance(1000) end, "the driver has been destroyed (d:destroy())")
  end)

  it("leaves timer objects the driver still holds dead, and freeing the driver is safe", function()
    local d = recorder()
    d:eval("KEEP = { C4:SetTimer(100, function() end), C4:SetTimer(100, function() end, true) }")
    d:destroy()
    d:free() -- lua_close runs __gc on the dead timers: nothing native is touched
  end)
end)

describe("the init rule for timers", function()
  it("warns for SetTimer, AddTimer and KillTimer in OnDriverInit, and they still work", function()
    local d = recorder({ properties = { ["Timers In Init"] = "yes" } })
    local notes = {}
    for _, n in ipairs(d:notes()) do notes[#notes + 1] = n.kind .. ": " .. n.text end
    assert.equal(3, #notes)
    assert.matches("init%-rule: init rule: C4:SetTimer called during OnDriverInit", notes[1])
    assert.matches("C4:AddTimer", notes[2])
    assert.matches("C4:KillTimer", notes[3])
    assert.matches("Move the call to OnDriverLateInit", notes[1])
    d:advance(1000)
    assert.same({ "from init" }, names(d))
  end)
end)

describe("a driver that polls every 30 s and gives up after 5 minutes", function()
  local function poller(opts)
    local d = open("timer_poll", opts)
    d:init()
    return d
  end

  it("polls 10 times and gives up at 5:00, in well under a second", function()
    local t0 = os.clock()
    local d = poller()
    assert.equal("Polling", d:property("Status"))
    d:advance(5 * 60000 - 1)
    assert.equal(9, d:eval("return Polls"))
    d:advance(1)
    -- The 10th poll and the give-up are both due at 300 s: the poll timer
    -- was created first, so it runs first.
    assert.equal(10, d:eval("return Polls"))
    assert.equal("No answer after 300 s (10 polls): gave up", d:property("Status"))
    assert.same({}, d:timers())
    d:advance(60 * 60000)
    assert.equal(10, d:eval("return Polls"))
    assert.truthy(d:logged("poll 10 at 300.0 s"))
    assert.is_true(os.clock() - t0 < 1)
  end)

  it("stops polling when the device answers", function()
    local d = poller()
    d:advance(95000)
    assert.equal(3, d:eval("return Polls"))
    d:action("DEVICE_ANSWERED")
    assert.equal("Online", d:property("Status"))
    assert.same({}, d:timers())
    d:advance(10 * 60000)
    assert.equal(3, d:eval("return Polls"))
  end)

  it("waits for the give-up with d:run_until instead of stepping time by hand", function()
    local d = poller()
    d:run_until(function() return d:property("Status") ~= "Polling" end, 10 * 60000)
    assert.equal(300000, d:now())
    assert.equal(10, d:eval("return Polls"))
  end)

  it("restarts with the new interval when PollSeconds changes", function()
    local d = poller()
    d:advance(45000)
    d:set_property("PollSeconds", "10")
    assert.same({
      { due = 55000, period = 10000, kind = "SetTimer" },
      { due = 345000, period = 0, kind = "SetTimer" },
    }, d:timers())
    d:advance(300000)
    assert.equal(30, d:eval("return Polls"))
    assert.matches("gave up", d:property("Status"))
  end)

  it("fires at real times under `c4emu run`", function()
    local cmd = "timeout -s TERM 2.6 " .. S.build .. "/c4emu run " .. S.folder("timer_poll")
                .. " --prop PollSeconds=1 --prop GiveUpSeconds=2 </dev/null 2>&1"
    local p = io.popen(cmd)
    local out = p:read("*a")
    p:close()
    local function at(pattern)
      local h, m, s = out:match("(%d%d):(%d%d):(%d%d%.%d%d%d) [^\n]*" .. pattern)
      assert.truthy(h, "no line matching '" .. pattern .. "' in:\n" .. out)
      return tonumber(h) * 3600 + tonumber(m) * 60 + tonumber(s)
    end
    local loaded = at("OnDriverLateInit")
    local p1, p2 = at("poll 1 at 1%.0 s"), at("poll 2 at 2%.0 s")
    local gave_up = at("No answer after 2 s %(2 polls%): gave up")
    assert.is_true(p1 - loaded > 0.9 and p1 - loaded < 1.5, "poll 1 at +" .. (p1 - loaded) .. " s")
    assert.is_true(p2 - p1 > 0.9 and p2 - p1 < 1.5, "poll 2 " .. (p2 - p1) .. " s after poll 1")
    assert.is_true(gave_up >= p2)
    assert.matches("stopped; 0 driver errors", out)
  end)
end)
