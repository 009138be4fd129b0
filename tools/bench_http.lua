-- bench_http.lua — run by tools/bench_http.sh: one in-process d:http_device
-- serving 1 KiB, measured from C4:url() inside the driver, from curl in a
-- shell loop and from a libcurl C loop (all against the same server, in this
-- one run), then 100 concurrent C4:url() transfers.
local c4emu = require "c4emu"
local N, CLIENT, DRIVER = tonumber(arg[1]), arg[2], arg[3]
local d = c4emu.load(DRIVER, { clock = "real" })
d:init()
local body = string.rep("k", 1024)
local api = d:http_device{ routes = { ["GET /kb"] = function() return 200, {}, body end } }
local url = api.url .. "/kb"

-- Serves the loop until fn() is true.
local function serve_until(fn)
  while not fn() do
    d:serve(1)
    local errs = d:errors()
    if #errs > 0 then error("driver error: " .. tostring(errs[1].message)) end
  end
end

-- 1. C4:url(): each OnDone starts the next GET.
d:eval([[
  local url, n = ...
  LEFT, BYTES = n, 0
  function NextGet()
    C4:url():OnDone(function(t, r, code)
      if code ~= 0 then error("GET failed: " .. tostring(code)) end
      BYTES = BYTES + #r[#r].body
      LEFT = LEFT - 1
      if LEFT > 0 then NextGet() end
    end):Get(url)
  end]], url, N)
local t0 = os.clock()
local w0 = d:eval("return C4:GetTickCount()")
d:eval("NextGet()")
serve_until(function() return d:eval("return LEFT") == 0 end)
local c4_s = (d:eval("return C4:GetTickCount()") - w0) / 1000
local c4_cpu = os.clock() - t0

-- Runs a shell command in the background while the loop serves the device.
local function beside(cmd)
  local out = os.tmpname()
  os.execute("( (" .. cmd .. ") > " .. out .. " 2>&1; echo done > " .. out .. ".done ) &")
  local w = d:eval("return C4:GetTickCount()")
  serve_until(function()
    local f = io.open(out .. ".done")
    if f then f:close() return true end
    return false
  end)
  local secs = (d:eval("return C4:GetTickCount()") - w) / 1000
  local f = io.open(out)
  local text = f:read("*a")
  f:close()
  os.remove(out)
  os.remove(out .. ".done")
  return secs, text
end

local c_s, c_out = beside(CLIENT .. " " .. url .. " " .. N)
local c_inner = tonumber(c_out:match("^%d+ ([%d.]+)")) or c_s
local sh_n = math.max(1, math.floor(N / 10))
local sh_s = beside("i=0; while [ $i -lt " .. sh_n .. " ]; do curl -s -o /dev/null " .. url ..
                    " || exit 1; i=$((i+1)); done")

-- 3. 100 concurrent C4:url() transfers (max_host_connections 1, then 5).
local function concurrent(conns)
  d:eval([[
    local url, conns = ...
    C4:urlSetOption("max_host_connections", conns)
    CLEFT = 100
    for i = 1, 100 do
      C4:url():OnDone(function(t, r, code)
        if code ~= 0 then error("GET failed: " .. tostring(code)) end
        CLEFT = CLEFT - 1
      end):Get(url)
    end]], url, conns)
  local w = d:eval("return C4:GetTickCount()")
  serve_until(function() return d:eval("return CLEFT") == 0 end)
  return (d:eval("return C4:GetTickCount()") - w) / 1000
end
local conc1 = concurrent(1)
local conc5 = concurrent(5)

print(("sequential 1 KiB GETs from an in-process http_device (%d requests)"):format(N))
print(("  c4emu C4:url()        %8.0f req/s  (%.3f s, %.3f s CPU incl. server)"):format(N / c4_s, c4_s, c4_cpu))
print(("  libcurl C loop        %8.0f req/s  (%.3f s; server in the c4emu process)"):format(N / c_inner, c_inner))
print(("  curl in a shell loop  %8.0f req/s  (%d requests, %.3f s)"):format(sh_n / sh_s, sh_n, sh_s))
print(("  C4:url / C loop       %8.2f x"):format((N / c4_s) / (N / c_inner)))
print("100 concurrent C4:url() GETs")
print(("  max_host_connections 1  %.3f s  (%.0f req/s)"):format(conc1, 100 / conc1))
print(("  max_host_connections 5  %.3f s  (%.0f req/s)"):format(conc5, 100 / conc5))
assert(#api:requests() == N + N + sh_n + 200, "every request reached the device")
d:destroy()
