-- Run by spec/coverage_spec.lua as its own busted run with C4EMU_COVERAGE
-- set (not part of the suite: the name does not end in _spec).
local c4emu = require "c4emu"
describe("a driver under C4EMU_COVERAGE", function()
  it("runs", function()
    local d = c4emu.load("fixtures/drivers/coverage")
    d:init()
    assert.equal(5, d:command("HALF"))
    -- left alive on purpose: busted ends with os.exit, no __gc runs
  end)
end)
