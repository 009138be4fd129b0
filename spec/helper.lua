-- spec/helper.lua — loaded by busted before every spec file (see .busted).
--
-- After each test, for every driver the specs loaded:
--   * a driver error that no spec read with d:errors() fails the test;
--   * a destroyed driver must have closed every native handle; it is then
--     freed.  Drivers still alive (shared through setup/lazy_setup) are left
--     to their owner.
-- With C4EMU_REPORT_TIMERS set, timers still armed at the end of a test are
-- listed on stderr (a report, not a failure: shared drivers may keep timers).
local busted = require "busted"
local c4emu = require "c4emu"

busted.after_each(function()
  local problems = {}
  local report_timers = os.getenv("C4EMU_REPORT_TIMERS")
  for _, d in ipairs(c4emu.drivers()) do
    if report_timers and d:phase() ~= "dead" then
      for _, t in ipairs(d:timers()) do
        io.stderr:write(("c4emu: %s: %s timer still armed, due at %d ms, period %d ms\n")
          :format(tostring(d), t.kind, t.due, t.period))
      end
    end
    for _, e in ipairs(d:unseen_errors()) do
      problems[#problems + 1] = "unexpected driver error: " .. e
    end
    d:errors() -- reported once
    if d:phase() == "dead" then
      local open, kinds = d:handles()
      if open ~= 0 then
        local list = {}
        for k, n in pairs(kinds) do
          if n ~= 0 then list[#list + 1] = k .. "=" .. n end
        end
        problems[#problems + 1] = "handles left open after destroy: " .. table.concat(list, ", ")
      end
      d:free()
    end
  end
  -- issue 9: errors of device notifiers and spawned coroutines that no spec
  -- call raised; coroutines still blocked are dropped.
  for _, e in ipairs(c4emu.spawn_errors()) do problems[#problems + 1] = "unreported: " .. e end
  c4emu.spawn_reset()
  if #problems > 0 then error(table.concat(problems, "\n"), 0) end
end)
