-- spec/support.lua — small helpers shared by the specs.
local assert = require "luassert"
local M = {}

M.build = os.getenv("BUILD") or "build"

-- Path of a fixture driver folder.
function M.folder(name) return "fixtures/drivers/" .. name end

-- Path of the .c4z the build packed from fixtures/drivers/<name>/.
function M.c4z(name) return M.build .. "/fixtures/" .. name .. ".c4z" end

-- Runs a shell command; returns its combined output and exit code.
function M.sh(cmd)
  local p = io.popen("(" .. cmd .. ") 2>&1; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("exit=(%d+)%s*$"))
  return (out:gsub("exit=%d+%s*$", "")), code
end

-- Runs the c4emu CLI (env: "NAME=value ..." before it); returns its
-- combined output and exit code.
function M.cli(args, env)
  return M.sh((env and env .. " " or "") .. M.build .. "/c4emu " .. args)
end

-- Runs the CLI, asserts it refused with exit code 2 and a message matching
-- pattern; returns the output.
function M.cli_refuses(args, pattern)
  local out, code = M.cli(args)
  assert.equal(2, code, out)
  assert.matches(pattern, out)
  return out
end

-- The whole of a file; nil if it cannot be opened.
function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

function M.write_file(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- A loader for a spec file: open(name, opts) loads fixtures/drivers/<name>
-- and the driver is destroyed after the test (pcall: a no-op once the test
-- destroyed or freed it), so the helper can check its handles.
function M.loader(after_each)
  local c4emu = require "c4emu"
  local opened = {}
  -- A spec file may hand over its own after_each (busted's lives in the
  -- file's environment); else the one busted exports.
  after_each = after_each or require("busted").after_each
  after_each(function()
    for _, d in ipairs(opened) do pcall(d.destroy, d) end
    opened = {}
  end)
  return function(name, opts)
    local d = c4emu.load(M.folder(name), opts)
    opened[#opened + 1] = d
    return d
  end
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
  -- nil: CreateServer before OS 3.3.1 returns nothing (issue 16); else true
  assert.is_true(ok ~= false, err)
  local list = d:servers()
  return list[#list].port
end


-- The error raised by f(...), as text.
function M.raised(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

-- Whole-file read and write (binary).
-- The whole of a file; raises when it cannot be read.
function M.read(path) return (assert(M.read_file(path), path .. ": cannot read")) end

-- A fresh, empty folder under the build tree for files a test makes.
function M.scratch(name)
  local dir = M.build .. "/scratch/" .. name
  os.execute("rm -rf '" .. dir .. "' && mkdir -p '" .. dir .. "'")
  return dir
end

-- s4-fixes: how many of the driver's log lines contain `text` (plain).
function M.count_logged(d, text)
  local n = 0
  for _, l in ipairs(d:logs()) do
    if l.text:find(text, 1, true) then n = n + 1 end
  end
  return n
end

return M
