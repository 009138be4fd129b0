-- spec/support.lua — small helpers shared by the specs.
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

return M
