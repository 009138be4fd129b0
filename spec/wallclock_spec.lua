-- The emulator's wall clock: os.time(), os.date() and os.clock() in the
-- driver follow the emulator clock from a start epoch ({epoch = ...},
-- --epoch), and log lines carry that time in virtual mode.  Also: c4emu.load
-- refuses options it does not know.
local c4emu = require "c4emu"
local S = require "support"

local JAN1 = 1767225600 -- 2026-01-01T00:00:00Z

local load = S.loader()
local function open(opts) return load("minimal", opts) end

describe("the driver's wall clock in virtual time", function()
  it("os.time() starts at the epoch and 30 virtual minutes move it by 1800", function()
    local d = open({ epoch = "2026-01-01T00:00:00Z" })
    assert.equal(JAN1, d:eval("return os.time()"))
    d:advance(30 * 60 * 1000)
    assert.equal(JAN1 + 1800, d:eval("return os.time()"))
    d:advance(999)
    assert.equal(JAN1 + 1800, d:eval("return os.time()"), "whole seconds, floored")
    d:advance(1)
    assert.equal(JAN1 + 1801, d:eval("return os.time()"))
  end)

  it("os.date() follows it in every form", function()
    local d = open({ epoch = "2026-01-01T00:00:00Z" })
    d:advance((24 * 3600 + 30 * 60 + 5) * 1000)
    local t = JAN1 + 24 * 3600 + 1805
    assert.equal("2026-01-02T00:30:05Z", d:eval("return os.date('!%Y-%m-%dT%H:%M:%SZ')"))
    assert.same(os.date("!*t", t), d:eval("return os.date('!*t')"))
    assert.same(os.date("*t", t), d:eval("return os.date('*t')"))
    assert.equal(os.date("%c", t), d:eval("return os.date()"))
    assert.equal(os.date("%H:%M", t), d:eval("return os.date('%H:%M')"))
    assert.equal(os.date("!%c", t), d:eval("return os.date('!%c', nil)"))
  end)

  it("leaves os.date(fmt, t) and os.time(table) as Lua has them", function()
    local d = open({ epoch = "2026-01-01T00:00:00Z" })
    d:advance(5000)
    assert.equal("1970-01-02", d:eval("return os.date('!%Y-%m-%d', 86400)"))
    local tt = { year = 2030, month = 6, day = 1, hour = 12 }
    assert.equal(os.time(tt), d:eval("return os.time(...)", tt))
    assert.equal(JAN1 + 5, d:eval("return os.time(os.date('*t'))"))
  end)

  it("os.clock() is the emulator clock in seconds since load", function()
    local d = open({ epoch = "2026-01-01T00:00:00Z" })
    assert.equal(0, d:eval("return os.clock()"))
    d:advance(1500)
    assert.equal(1.5, d:eval("return os.clock()"))
    d:advance(30 * 60 * 1000)
    assert.equal(1801.5, d:eval("return os.clock()"))
  end)

  it("C4:GetTime() reads the same clock", function()
    local d = open({ epoch = "2026-01-01T00:00:00Z" })
    d:advance(1234)
    assert.equal(JAN1 * 1000 + 1234, d:eval("return C4:GetTime()"))
  end)

  it("timer callbacks see the time they are due at", function()
    local d = open({ epoch = "2026-01-01T00:00:00Z" })
    d:eval([[
      SEEN = {}
      T = C4:SetTimer(60000, function() SEEN[#SEEN + 1] = os.date('!%H:%M:%S') end, true)
    ]])
    d:advance(3 * 60 * 1000)
    assert.same({ "00:01:00", "00:02:00", "00:03:00" }, d:eval("return SEEN"))
  end)

  it("defaults to the real time at load", function()
    local before = os.time()
    local d = open()
    local t = d:eval("return os.time()")
    assert.is_true(t >= before - 1 and t <= os.time() + 1, "near the wall clock: " .. t)
    d:advance(3600 * 1000)
    assert.equal(t + 3600, d:eval("return os.time()"))
  end)
end)

describe("the start epoch", function()
  local function epoch_of(e)
    return open({ epoch = e }):eval("return C4:GetTime()")
  end

  it("takes ISO 8601 with Z or an offset, a bare date, or seconds", function()
    assert.equal(JAN1 * 1000, epoch_of("2026-01-01T00:00:00Z"))
    assert.equal(JAN1 * 1000 + 250, epoch_of("2026-01-01T00:00:00.25Z"))
    assert.equal((JAN1 - 2 * 3600) * 1000, epoch_of("2026-01-01T00:00:00+02:00"))
    assert.equal((JAN1 + 5 * 3600 + 1800) * 1000, epoch_of("2026-01-01T00:00-05:30"))
    assert.equal(JAN1 * 1000, epoch_of("2026-01-01"))
    assert.equal(JAN1 * 1000, epoch_of(JAN1))
    assert.equal(0, epoch_of("1970-01-01T00:00:00Z"))
  end)

  it("refuses what is not a time, naming the forms it takes", function()
    for _, bad in ipairs({ "tomorrow", "2026-13-01", "2026-02-31", "2026-01-01T00:00:00",
                           "2026-01-01T25:00Z", "2026-01-01Tx", "", "2026-01-01T", "2026-01-01T0",
                           "2026-01-01T00:00+0", "2026-01-01T00:00+", "2026-01-01T00:00:00.5" }) do
      local msg = S.raised(c4emu.load, S.folder("minimal"), { epoch = bad })
      assert.matches("epoch '" .. bad:gsub("%p", "%%%0") .. "' is not a time", msg)
      assert.matches("2026%-01%-01T00:00:00Z", msg)
    end
    assert.matches("epoch must be a string or a number, not a table",
      S.raised(c4emu.load, S.folder("minimal"), { epoch = {} }))
  end)
end)

describe("c4emu.load options", function()
  it("refuses an option it does not know, naming it and the known ones", function()
    local msg = S.raised(c4emu.load, S.folder("minimal"), { clokc = "real" })
    assert.matches("unknown option 'clokc'", msg)
    for _, name in ipairs({ "os", "clock", "init_rule", "properties", "bind", "log", "epoch" }) do
      assert.matches("%f[%w_]" .. name .. "%f[^%w_]", msg:match("known: (.*)"))
    end
  end)

  it("refuses a key that is not a name", function()
    assert.matches("option names must be strings, not a number key",
      S.raised(c4emu.load, S.folder("minimal"), { "3.3.1" }))
  end)

  it("takes every known option", function()
    local d = open({ os = "3.3.1", clock = "virtual", init_rule = "warn", properties = {},
                     bind = "127.0.0.1", log = false, epoch = "2026-01-01" })
    assert.equal("3.3.1.0", d:eval("return C4:GetVersionInfo().version"))
  end)
end)

describe("the CLI's --epoch", function()
  -- Log stamps are local time: TZ=UTC makes them the epoch's own digits.
  local function cli_utc(args) return S.cli(args, "TZ=UTC") end

  it("stamps log lines with emulator time in virtual mode (check)", function()
    local out, code = cli_utc("check " .. S.folder("wallclock") .. " --epoch 2026-01-01T00:00:00Z -v")
    assert.equal(0, code)
    assert.matches("\n00:00:00%.000 INFO  started 2026%-01%-01 00:00:00", out)
    assert.matches("\n00:00:30%.000 INFO  30 s later 2026%-01%-01 00:00:30 time 1767225630", out)
  end)

  it("sets the driver's wall clock in real mode too (run)", function()
    local out, code = S.cli("run " .. S.folder("wallclock") .. " --once --epoch=2030-06-01")
    assert.equal(0, code)
    assert.matches("started 2030%-06%-01 00:00:0%d", out)
  end)

  it("refuses a bad epoch with exit code 2", function()
    S.cli_refuses("run " .. S.folder("wallclock") .. " --epoch yesterday",
      "%-%-epoch wants 2026%-01%-01T00:00:00Z")
  end)
end)
