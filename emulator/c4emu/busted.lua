-- c4emu.busted — the busted helper for specs that load drivers with c4emu.
--
-- In a project's .busted:   helper = "c4emu.busted"
--
-- After each test (and after that test's own after_each hooks), for every
-- driver the specs loaded:
--   * driver errors that no spec read with d:errors() (a timer callback that
--     raised 'kaboom', say) fail the test;
--   * a destroyed driver must have closed every native handle (it is then
--     freed);
--   * a driver the test loaded (in the test, or in a before_each) must have
--     been destroyed by then; it is destroyed and freed after the report;
--   * an error in a fake device's notifier or a c4emu.spawn coroutine that
--     no spec call raised fails the test too.
-- The test fails by its own name, and the message lists the problems.
-- Drivers loaded in setup()/lazy_setup() belong to their describe block:
-- they are checked for errors and open handles after every test, and should
-- be destroyed in teardown().
--
-- With C4EMU_REPORT_TIMERS set, timers still armed at the end of a test are
-- listed on stderr (a report, not a failure).
--
-- How: busted settles a test's status before its after_each hooks run, so
-- this helper holds back the test's "end" event until its own after_each
-- (registered at the root, so it runs last) has looked at the drivers, then
-- publishes it — as a failure of that test when something was found.
local busted = require "busted"
local c4emu = require "c4emu"

-- `require "busted"` gives the public API; the event functions sit on the
-- core object behind it (busted 2.x keeps it as an upvalue of the API's
-- __index).  Without it the problems still fail the run, reported as an
-- after_each error that names the test.
local core
do
  local mt = getmetatable(busted)
  local index = mt and mt.__index
  for i = 1, type(index) == "function" and 16 or 0 do
    local name, value = debug.getupvalue(index, i)
    if name == nil then break end
    if name == "busted" and type(value) == "table" and value.safe_publish then core = value end
  end
end

local M = {
  -- false: a driver a test loaded may outlive the test (c4emu's own suite
  -- shares drivers between tests this way).
  require_destroy = true,
}

-- Changes the checks: require("c4emu.busted").configure{require_destroy = false}.
function M.configure(opts)
  for k, v in pairs(opts) do
    if M[k] == nil or type(M[k]) == "function" then error("c4emu.busted: unknown setting '" .. tostring(k) .. "'", 2) end
    M[k] = v
  end
  return M
end

local before = setmetatable({}, { __mode = "k" }) -- drivers alive when the test began
local held                                        -- the held-back "test end" event

local function live_set()
  local set = setmetatable({}, { __mode = "k" })
  for _, d in ipairs(c4emu.drivers()) do set[d] = true end
  return set
end

-- The problems of one driver after a test; frees it once it is dead.
local function check_driver(d, problems, loaded_by_test)
  local name = tostring(d)
  if os.getenv("C4EMU_REPORT_TIMERS") and d:phase() ~= "dead" then
    for _, t in ipairs(d:timers()) do
      io.stderr:write(("c4emu: %s: %s timer still armed, due at %d ms, period %d ms\n")
        :format(name, t.kind, t.due, t.period))
    end
  end
  local destroyed_here = false
  if loaded_by_test and M.require_destroy and d:phase() ~= "dead" then
    problems[#problems + 1] = name .. ": loaded by this test and never destroyed (call d:destroy())"
    d:destroy()
    destroyed_here = true
  end
  for _, e in ipairs(d:unseen_errors()) do
    problems[#problems + 1] = name .. ": driver error that no spec read with d:errors(): " .. e
  end
  d:errors() -- reported once
  if d:phase() == "dead" then
    local open, kinds = d:handles()
    if open ~= 0 and not destroyed_here then
      local list = {}
      for k, n in pairs(kinds) do
        if n ~= 0 then list[#list + 1] = k .. "=" .. n end
      end
      table.sort(list)
      problems[#problems + 1] = name .. ": handles left open after d:destroy(): " .. table.concat(list, ", ")
    end
    d:free()
  end
end

local publish = core and core.safe_publish

-- Publishes the held "end" of a test: a failure naming the problems, or as it was.
local function release(problems)
  local h = held
  held = nil
  if not h then return end
  local status = h.status
  if problems and #problems > 0 then
    local message = "c4emu: " .. table.concat(problems, "\n")
    if status == "success" then
      status = "failure"
      core.publish({ "failure", "it" }, h.element, h.parent, message, h.element.trace)
    else
      io.stderr:write(h.element.name .. ": " .. message .. "\n")
    end
  end
  publish(h.descriptor, h.channel, h.element, h.parent, status, unpack(h.extra, 1, h.nextra))
end

local function hold(descriptor, channel, element, ...)
  if descriptor == "test" and channel[1] == "test" and channel[2] == "end" then
    release() -- a test whose after_each never reached ours: publish it as it was
    local parent, status = ...
    held = { descriptor = descriptor, channel = channel, element = element, parent = parent,
             status = status, extra = { select(3, ...) }, nextra = math.max(select("#", ...) - 2, 0) }
    return true
  end
  if descriptor == "test" and channel[1] == "test" and channel[2] == "start" then release() end
  return publish(descriptor, channel, element, ...)
end
if core then core.safe_publish = hold end

busted.before_each(function()
  before = live_set()
end)

busted.after_each(function()
  local problems = {}
  for _, d in ipairs(c4emu.drivers()) do
    check_driver(d, problems, not before[d])
  end
  -- Errors of device notifiers and spawned coroutines that no spec call
  -- raised; coroutines still blocked are dropped.
  if c4emu.spawn_errors then
    for _, e in ipairs(c4emu.spawn_errors()) do
      problems[#problems + 1] = "error in a device notifier or spawned coroutine that no spec call raised: " .. e
    end
    c4emu.spawn_reset()
  end
  if core then
    release(problems)
  elseif #problems > 0 then
    error("c4emu: " .. table.concat(problems, "\n"), 0)
  end
end)

if core then
  core.subscribe({ "suite", "end" }, function()
    release()
    return nil, true
  end, { priority = 1 })
end

return M
