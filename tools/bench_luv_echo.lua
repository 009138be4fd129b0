-- bench_luv_echo.lua — the luv line-echo server of tools/bench_echo.sh, on
-- stock lua5.1 with Debian's lua-luv: the same work as the CreateServer echo
-- driver (split "\n"-terminated lines, write each back), written the usual
-- luv way.  TCP_NODELAY as c4emu sets it.
--
--   lua5.1 tools/bench_luv_echo.lua [--upper] [PORT]   prints "port N" on stdout
--   --upper: each line goes back string.upper'd, as the echo drivers do with
--   their Upper property.
local uv = require "luv"
local upper = arg[1] == "--upper"
if upper then table.remove(arg, 1) end

-- A write to a client that has just gone raises SIGPIPE, whose default action
-- ends the process before the benchmark reads its CPU time: catch it (libuv's
-- handler replaces the default), as c4emu and the C peer do.
local sigpipe = uv.new_signal()
sigpipe:start("sigpipe", function() end)

local server = uv.new_tcp()
assert(server:bind("127.0.0.1", tonumber(arg[1]) or 0))
assert(server:listen(511, function(err)
  assert(not err, err)
  local client = uv.new_tcp()
  server:accept(client)
  client:nodelay(true)
  local part = ""
  client:read_start(function(rerr, chunk)
    if rerr or not chunk then
      client:close()
      return
    end
    if part ~= "" then
      chunk = part .. chunk
      part = ""
    end
    local pos = 1
    while true do
      local nl = chunk:find("\n", pos, true)
      if not nl then
        part = chunk:sub(pos)
        break
      end
      local line = chunk:sub(pos, nl)
      client:write(upper and line:upper() or line)
      pos = nl + 1
    end
  end)
end))
print("port " .. server:getsockname().port)
io.stdout:flush()
uv.run()
