-- spec/support.lua — small helpers shared by the specs.
local assert = require "luassert"
local M = {}

M.build = os.getenv("BUILD") or "build"

-- Path of a fixture driver folder.
function M.folder(name) return "fixtures/drivers/" .. name end

-- Path of the .c4z the build packed from fixtures/drivers/<name>/.
function M.c4z(name) return M.build .. "/fixtures/" .. name .. ".c4z" end

-- Runs the c4emu CLI; returns its combined output and exit code.
function M.cli(args)
  local p = io.popen(M.build .. "/c4emu " .. args .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("exit=(%d+)%s*$"))
  return out:gsub("exit=%d+%s*$", ""), code
end

-- The names of the calls a lifecycle fixture recorded, in order.
function M.call_names(d)
  return d:eval("local t = {} for i, c in ipairs(CALLS) do t[i] = c.name end return t")
end

-- The server fixtures (server_record, tls_echo) record every callback; the
-- driver's Events(kind, i, v) lists those of a kind whose i-th argument is v.
function M.events(d, kind, i, v)
  return d:eval("return Events(...)", kind, i, v)
end

-- Waits (serving the loop) until at least n events match; returns them.
function M.wait_events(d, n, kind, i, v, timeout_ms)
  d:run_until(function() return #M.events(d, kind, i, v) >= n end, timeout_ms or 3000)
  return M.events(d, kind, i, v)
end

-- Calls C4:<api>(...) in the driver, asserts it returned true, and returns
-- the port of the server it made (the last in d:servers()).
function M.create_server(d, api, ...)
  local ok, err = d:eval("return C4:" .. api .. "(...)", ...)
  assert.is_true(ok, err)
  local list = d:servers()
  return list[#list].port
end

-- The error raised by f(...), as text.
function M.raised(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

-- issue 15: the whole text of a file (it must exist).
function M.read(path)
  local f = assert(io.open(path))
  local s = f:read("*a")
  f:close()
  return s
end

return M
