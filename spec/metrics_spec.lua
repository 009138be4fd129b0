-- The Statsd metrics calls (c4api/core/c4_metrics.c): no page documents them;
-- drivers probe for them (`if C4.StatsdCounter then`) and c4emu provides them
-- on every version, recording each call for d:metrics().
local c4emu = require "c4emu"
local S = require "support"

describe("the Statsd metrics calls", function()
  it("are there to probe for, and each call is recorded in order for d:metrics()", function()
    local d = c4emu.load(S.folder("metrics_probe"), { os = "3.3.1" })
    d:init()
    assert.equal("sent", d:eval("return RESULT"))
    local m = d:metrics()
    assert.equal(3, #m)
    assert.same({ kind = "counter", namespace = "drivers.metrics_probe.100", key = "started",
                  value = 1, sampleRate = 0 }, m[1])
    assert.same({ kind = "gauge", namespace = "drivers.metrics_probe", key = "volume", value = 42 }, m[2])
    assert.same({ kind = "json", namespace = "drivers.metrics_probe", key = "DailyStats",
                  value = '{"a":1}' }, m[3])
    assert.truthy(d:logged("metric counter drivers.metrics_probe.100.started 1", "DEBUG"))
    d:destroy()
  end)

  it("leave a driver that probes for them clean in check", function()
    local out, code = S.cli("check " .. S.folder("metrics_probe") .. " --os 2.10.0,4.0.0 2>/dev/null")
    assert.equal(0, code, out)
    assert.falsy(out:find("not-provided", 1, true), out)
  end)

  it("keep the last 10000 calls", function()
    local d = c4emu.load(S.folder("metrics_probe"))
    d:init()
    d:eval("for i = 1, 10005 do C4:StatsdTimer('ns', 'k' .. i, i) end")
    local m = d:metrics()
    assert.equal(10000, #m)
    assert.equal("k6", m[1].key)
    assert.equal("k10005", m[#m].key)
    d:destroy()
  end)

  it("refuse what a metric cannot carry, in Lua's words", function()
    local d = c4emu.load(S.folder("metrics_probe"))
    d:init()
    local cases = {
      { "C4:StatsdCounter('ns', 'k', 'x')", "bad argument #3 to 'StatsdCounter' %(number expected, got string%)" },
      { "C4:StatsdCounter('ns', 'k', 0/0)", "bad argument #3 to 'StatsdCounter' %(value must be a finite number%)" },
      { "C4:StatsdCounter('ns', 'k', 1, 2)", "bad argument #4 to 'StatsdCounter' %(sampleRate must be from 0 to 1%)" },
      { "C4:StatsdGauge(nil, 'k', 1)", "bad argument #1 to 'StatsdGauge'" },
      { "C4:StatsdString('ns', 'k', {})", "bad argument #3 to 'StatsdString' %(string expected, got table%)" },
      { "C4.StatsdTimer('ns', 'k', 1)", "C4:StatsdTimer must be called with a colon" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(d.eval, d, c[1])
      assert.is_false(ok, c[1])
      assert.matches(c[2], tostring(err))
    end
    assert.equal(3, #d:metrics()) -- the refused calls recorded nothing
    d:destroy()
  end)
end)
