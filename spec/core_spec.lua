-- spec/core_spec.lua — C4:CallAsync, C4:GetHostname, C4:ToStringLocaleC,
-- C4:PersistDeleteAll and the reflash lock (c4api/core/, README.md there).
local c4emu = require "c4emu"
local S = require "support"
local open = S.loader(after_each)

describe("C4:CallAsync", function()
  it("runs fn after the calling code, on the next turn, in call order, without moving the clock", function()
    local d = open("minimal", { clock = "virtual" })
    d:init()
    local ok, n = d:eval([[
      ORDER = {}
      local ok = C4:CallAsync(function() ORDER[#ORDER + 1] = "first" end)
      C4:CallAsync(function() ORDER[#ORDER + 1] = "second" end)
      ORDER[#ORDER + 1] = "caller"
      return ok, #ORDER]])
    assert.is_true(ok)      -- the [A4] stub: a boolean
    assert.equal(1, n)      -- nothing ran inside the call
    d:settle()
    assert.same({ "caller", "first", "second" }, d:eval("return ORDER"))
    assert.equal(0, d:now())
  end)

  it("runs on the next turn with the real clock too (d:settle waits for it)", function()
    local d = open("minimal")
    d:init()
    d:eval("C4:CallAsync(function() REAL = true end)")
    assert.is_nil(d:eval("return REAL"))
    d:settle()
    assert.is_true(d:eval("return REAL"))
  end)

  it("runs a call made from inside an async fn on a later turn, so it cannot starve the loop", function()
    local d = open("minimal", { clock = "virtual" })
    d:init()
    d:eval([[
      COUNT = 0
      local function again() COUNT = COUNT + 1 if COUNT < 5 then C4:CallAsync(again) end end
      C4:CallAsync(again)]])
    d:advance(0)
    assert.equal(5, d:eval("return COUNT"))
    assert.equal(0, d:handles())
  end)

  it("runs before a timer due later, after one already due", function()
    local d = open("minimal", { clock = "virtual" })
    d:init()
    d:eval([[
      ORDER = {}
      C4:SetTimer(10, function() ORDER[#ORDER + 1] = "timer" end)
      C4:CallAsync(function() ORDER[#ORDER + 1] = "async" end)]])
    d:advance(10)
    assert.same({ "async", "timer" }, d:eval("return ORDER"))
  end)

  it("records an error in fn as a callback's and goes on with the next", function()
    local d = open("minimal", { clock = "virtual" })
    d:init()
    d:eval([[
      C4:CallAsync(function() error("async boom") end)
      C4:CallAsync(function() AFTER = true end)]])
    d:settle()
    local errors = d:errors()
    assert.equal(1, #errors)
    assert.equal("CallAsync callback", errors[1].where)
    assert.matches("async boom", errors[1].message)
    assert.is_true(d:eval("return AFTER"))
    assert.equal("running", d:phase())
  end)

  it("refuses a non-function in Lua's words", function()
    local d = open("minimal", { clock = "virtual" })
    d:init()
    assert.matches("bad argument #1 to 'CallAsync' %(function expected, got no value%)",
      S.raised(d.eval, d, "C4:CallAsync()"))
    assert.matches("bad argument #1 to 'CallAsync' %(function expected, got string%)",
      S.raised(d.eval, d, "C4:CallAsync('x')"))
  end)

  it("warns in OnDriverInit (the safe-usage table: NO) and runs fn after OnDriverLateInit", function()
    local d = open("core_async", { clock = "virtual" })
    d:init()
    d:settle()
    assert.same({ "init", "init done", "late init", "async from init" }, d:eval("return LOG"))
    assert.truthy(d:logged("init rule: C4:CallAsync called during OnDriverInit"))
  end)

  it("drops calls still pending when the driver is destroyed", function()
    local d = open("minimal", { clock = "virtual" })
    d:init()
    d:eval("C4:CallAsync(function() RAN = true end)")
    assert.equal(1, d:handles())
    d:destroy()
    assert.equal(0, d:handles())
  end)
end)

describe("C4:GetHostname", function()
  it("is the emulated controller's name, made a host name", function()
    local d = open("minimal")
    assert.equal("c4emu", d:eval("return C4:GetHostname()"))
    local named = open("minimal", { controller = { name = "Main Controller.home" } })
    assert.equal("Main-Controller-home", named:eval("return C4:GetHostname()"))
  end)

  it("exists from OS 3.3.1 (its page)", function()
    local d = open("minimal", { os = "3.3.0" })
    assert.is_nil(d:eval("return C4.GetHostname"))
    local notes = d:notes()
    assert.matches("C4:GetHostname is not available on OS 3.3.0 %(added in OS 3.3.1%)", notes[1].text)
  end)
end)

describe("C4:ToStringLocaleC", function()
  it("formats as tostring does, with a decimal point", function()
    local d = open("minimal")
    assert.same({ "0.1", "3", "-2.5", "1e+20", "72.123456789012", "0" },
      d:eval([[return { C4:ToStringLocaleC(0.1), C4:ToStringLocaleC(3), C4:ToStringLocaleC(-2.5),
        C4:ToStringLocaleC(1e20), C4:ToStringLocaleC(72.1234567890123), C4:ToStringLocaleC(0) }]]))
    assert.equal("1.5", d:eval("return C4:ToStringLocaleC('1.5')"))  -- a numeric string, as Lua converts
    assert.matches("bad argument #1 to 'ToStringLocaleC' %(number expected, got table%)",
      S.raised(d.eval, d, "C4:ToStringLocaleC({})"))
  end)
end)

describe("C4:PersistDeleteAll", function()
  it("deletes every PersistSetValue value and leaves PersistData alone", function()
    local d = open("minimal")
    d:init()
    local before, a, b, kept = d:eval([[
      PersistData = PersistData or {}
      PersistData.mine = "kept"
      C4:PersistSetValue("a", 1)
      C4:PersistSetValue("b", { x = 2 })
      local before = C4:PersistGetValue("a")
      local r = { C4:PersistDeleteAll() }
      assert(#r == 0, "PersistDeleteAll returns nothing")
      return before, C4:PersistGetValue("a"), C4:PersistGetValue("b"), PersistData.mine]])
    assert.equal(1, before)
    assert.is_nil(a)
    assert.is_nil(b)
    assert.equal("kept", kept)
    d:eval("C4:PersistSetValue('c', 'after')")
    assert.equal("after", d:eval("return C4:PersistGetValue('c')"))
  end)

  it("exists from OS 2.10.0", function()
    assert.is_nil(open("minimal", { os = "2.9.0" }):eval("return C4.PersistDeleteAll"))
  end)
end)

describe("the reflash lock", function()
  local function lock_driver()
    local d = open("core_async", { clock = "virtual" })
    d:init()
    d:settle()
    d:eval("LOG = {}")
    return d
  end

  it("is granted on the next turn, never inside RequestReflashLock", function()
    local d = lock_driver()
    d:advance(1000)
    d:eval("C4:RequestReflashLock()")
    assert.same({}, d:eval("return LOG"))
    assert.equal("granting", d:reflash_lock().state)
    d:settle()
    assert.same({ "granted 1000" }, d:eval("return LOG"))
    assert.same({ state = "held", expires = 61000, revoked = 0 }, d:reflash_lock())
  end)

  it("is revoked about a minute after the grant unless kept", function()
    local d = lock_driver()
    d:eval("C4:RequestReflashLock()")
    d:advance(59999)
    assert.same({ "granted 0" }, d:eval("return LOG"))
    d:advance(1)
    assert.same({ "granted 0", "revoked 60000" }, d:eval("return LOG"))
    assert.same({ state = "free", revoked = 1 }, d:reflash_lock())
  end)

  it("stays while KeepReflashLock renews it", function()
    local d = lock_driver()
    d:eval("C4:RequestReflashLock()")
    d:settle()
    for _ = 1, 5 do
      d:advance(50000)
      d:eval("C4:KeepReflashLock()")
    end
    assert.same({ state = "held", expires = 310000, revoked = 0 }, d:reflash_lock())
    d:eval("C4:ReleaseReflashLock()")
    d:advance(120000)
    assert.same({ "granted 0" }, d:eval("return LOG"))  -- released: no OnReflashLockRevoked
    assert.equal("free", d:reflash_lock().state)
  end)

  it("warns on KeepReflashLock without the lock, and a release of nothing is harmless", function()
    local d = lock_driver()
    d:eval("C4:KeepReflashLock() C4:ReleaseReflashLock()")
    assert.truthy(d:logged("C4:KeepReflashLock: this driver does not hold the reflash lock %(not requested%)"))
    d:settle()
    assert.same({}, d:eval("return LOG"))
  end)

  it("a release before the grant withdraws the request", function()
    local d = lock_driver()
    d:eval("C4:RequestReflashLock() C4:ReleaseReflashLock()")
    d:advance(1000)
    assert.same({}, d:eval("return LOG"))
    assert.equal("free", d:reflash_lock().state)
  end)

  it("can be taken away by the spec, as Director does for another driver", function()
    local d = lock_driver()
    assert.is_false(d:reflash_lock_revoke())
    d:eval("C4:RequestReflashLock()")
    d:advance(500)
    assert.is_true(d:reflash_lock_revoke())
    assert.same({ "granted 0", "revoked 500" }, d:eval("return LOG"))
    d:advance(120000)
    assert.equal(2, #d:eval("return LOG"))  -- the timeout was cancelled with it
  end)

  it("is one per project: a second driver waits for the first, requests served in order", function()
    local p = c4emu.project({ drivers = {
      a = { path = S.folder("core_async") }, b = { path = S.folder("core_async") } } },
      { clock = "virtual" })
    local ok, err = xpcall(function()
      p:init()
      p:settle()
      local a, b = p.drivers.a, p.drivers.b
      a:eval("LOG = {} C4:RequestReflashLock()")
      b:eval("LOG = {} C4:RequestReflashLock()")
      p:settle()
      assert.same({ "granted 0" }, a:eval("return LOG"))
      assert.same({}, b:eval("return LOG"))
      assert.equal("requested", b:reflash_lock().state)
      p:advance(1000)
      a:eval("C4:ReleaseReflashLock()")
      p:settle()
      assert.same({ "granted 1000" }, b:eval("return LOG"))
      -- b does not keep it: revoked a minute later; a asked again meanwhile and gets it then
      a:eval("C4:RequestReflashLock()")
      p:advance(60000)
      assert.same({ "granted 1000", "revoked 61000" }, b:eval("return LOG"))
      assert.same({ "granted 0", "granted 61000" }, a:eval("return LOG"))
      -- destroying the holder hands the lock on
      b:eval("C4:RequestReflashLock()")
      a:destroy()
      b:settle()
      assert.equal("held", b:reflash_lock().state)
    end, debug.traceback)
    pcall(p.destroy, p)
    assert(ok, err)
  end)

  it("refuses nothing but warns in OnDriverInit, as the safe-usage table says NO", function()
    local d = open("minimal", { clock = "virtual" })
    d:eval("function OnDriverInit() C4:RequestReflashLock() end")
    d:init()
    assert.truthy(d:logged("init rule: C4:RequestReflashLock called during OnDriverInit"))
  end)
end)
