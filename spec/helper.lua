-- spec/helper.lua — loaded by busted before every spec file (see .busted).
--
-- After each test, for every driver the specs loaded:
--   * a driver error that no spec read with d:errors() fails the test;
--   * a destroyed driver must have closed every native handle; it is then
--     freed.  Drivers still alive (shared through setup/lazy_setup) are left
--     to their owner.
local busted = require "busted"
local c4emu = require "c4emu"

busted.after_each(function()
  local problems = {}
  for _, d in ipairs(c4emu.drivers()) do
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
  if #problems > 0 then error(table.concat(problems, "\n"), 0) end
end)
