-- The console of `c4emu run` (issue 15), driven through a pseudo-terminal
-- (spec/pty_drive.py): readline editing and history, multi-line chunks,
-- pretty-printed results on stdout, runaway lines stopped, Ctrl-C, Ctrl-D,
-- :commands, log lines printed above the prompt.  Each step waits for
-- output, never for time.
local S = require "support"

local home = os.tmpname()
os.remove(home)
os.execute("mkdir -p " .. home)

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs c4emu run DRIVER ARGS on a pty with the steps; returns the
-- transcript (escape sequences and CRs removed) and the exit status.
local function console(steps, args, driver)
  local parts = {}
  for _, s in ipairs(steps) do parts[#parts + 1] = q(s) end
  -- python3 runs without the sanitizer preload of `make asan` (c4emu links it itself)
  local cmd = ("unset LD_PRELOAD; HOME=%s python3 spec/pty_drive.py %s -- %s/c4emu run %s %s"):format(
    home, table.concat(parts, " "), S.build, driver or S.folder("console"), args or "")
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  local clean = out:gsub("\27%[[%d;?]*[%a~]", ""):gsub("\r", "")
  return clean, clean:match("exit=(%S+)%s*$")
end

local function has(out, text) assert.truthy(out:find(text, 1, true), "expected '" .. text .. "' in:\n" .. out) end

describe("the console", function()
  it("bare expressions, =expr, statements, multi-line chunks", function()
    local out, code = console({"expect:lua> ", "send:1 + 1\n", "expect:\n2\n",
      "send:=('a'):rep(3)\n", "expect:aaa",
      "send:function twice(x)\n", "expect:>> ", "send:  return x * 2\n", "expect:>> ", "send:end\n",
      "expect:lua> ", "send:twice(21)\n", "expect:42",
      "send:local t = {} for i = 1, 3 do t[i] = i end\n", "expect:lua> ",
      "send:x = \n", "expect:>> ", "send:7\n", "send:=x\n", "expect:\n7\n",
      "expect:lua> ", "send:\\x04"})
    assert.equal("0", code, out)
    has(out, "console fixture destroyed") -- Ctrl-D: OnDriverDestroyed first
  end)

  it("pretty-prints nested tables with sorted keys, quoted strings, a depth limit and cycles", function()
    local out = console({"expect:lua> ",
      "send:{1, s = '\\\\n', [true] = 1, nested = {a = {b = {c = {d = 1}}}}}\n",
      "expect:}\n",
      "send:t = {} t.me = t\n", "send:=t\n", "expect:cycle",
      "send:=nil, false, 'plain'\n", "expect:plain", "expect:lua> ", "send:\\x04"})
    has(out, '{1, nested = {a = {b = {c = {...1 entry}}}}, s = "\\n", [true] = 1}')
    has(out, "{me = <cycle: table")
    has(out, "nil\tfalse\tplain")
  end)

  it("breaks a table that does not fit on one line into one entry per line", function()
    local out = console({"expect:lua> ",
      "send:=string.rep('x', 40), {alpha = string.rep('a', 30), beta = string.rep('b', 30), gamma = 3}\n",
      "expect:gamma", "expect:lua> ", "send:\\x04"})
    has(out, '{\n  alpha = "' .. ("a"):rep(30) .. '",\n  beta = "' .. ("b"):rep(30) .. '",\n  gamma = 3\n}')
  end)

  it("prints results on stdout even with -q (the log is quiet)", function()
    local out = console({"expect:lua> ", "send:print('from the log') return 6 * 7\n", "expect:42",
      "expect:lua> ", "send:\\x04"}, "-q")
    assert.falsy(out:find("INFO  from the log", 1, true), out)
  end)

  it("stops `while true do end` with the watchdog and gives the prompt back", function()
    local out, code = console({"expect:lua> ", "send:while true do end\n",
      "expect:watchdog: console line ran longer than 300 ms", "expect:lua> ",
      "send:=1 + 2\n", "expect:\n3\n", "expect:lua> ", "send:\\x04"}, "--watchdog 300")
    assert.equal("0", code, out)
    has(out, "stack traceback:")
  end)

  it("Ctrl-C stops running code (watchdog off), discards a typed line, ends on an empty prompt", function()
    local out, code = console({"expect:lua> ", "send:print('spinning') while true do end\n",
      "expect:spinning", "signal:INT", "expect:interrupted by SIGINT: console line stopped",
      "expect:lua> ", "send:half a line", "expect:half a line", "send:\\x03", "expect:\\^C",
      "send:=5\n", "expect:\n5\n", "send:\\x03", "expect:shutting down"}, "--watchdog 0")
    assert.equal("0", code, out)
    has(out, "console fixture destroyed")
  end)

  it("refuses bytecode and survives binary garbage", function()
    local out = console({"expect:lua> ", "send:\\x1b[200~\\x1bLuaQ\\x00\\x01\\x1b[201~\n",
      "expect:bytecode", "send:\\x01\\x02)) ((\n", "expect:console:1:", "send:=8\n",
      "expect:\n8\n", "expect:lua> ", "send:\\x04"})
    has(out, "precompiled chunks (bytecode) are not accepted")
  end)

  it("keeps history in ~/.c4emu_history; the up arrow brings a line back", function()
    os.remove(home .. "/.c4emu_history")
    local out = console({"expect:lua> ", "send:=40 + 2\n", "expect:42", "send:\\x1b[A\n",
      "expect:=40 \\+ 2\n42", "expect:lua> ", "send:\\x04"})
    local f = assert(io.open(home .. "/.c4emu_history"))
    local hist = f:read("*a")
    f:close()
    assert.truthy(hist:find("=40 + 2", 1, true), hist)
    local n = select(2, out:gsub("\n42\n", ""))
    assert.equal(2, n, out)
  end)

  it("prints log lines above the prompt and redraws what was typed", function()
    -- after the half-typed line is echoed, a tick's log line comes, then the
    -- prompt with the half-typed line again (that expect is the assertion)
    local out, code = console({"expect:lua> ", "send::cmd TICK ms=200\n", "expect:ticking",
      "send:=COU", "expect:=COU", "expect:tick [0-9]+[^\n]*\nlua> =COU", "send:NT\n",
      "expect:\n[0-9]+\n", "expect:lua> ", "send:\\x04"})
    assert.equal("0", code, out)
    assert.truthy(out:find("tick %d+[^\n]*\nlua> =COU"), out)
  end)

  it(":props, :prop, :cmd, :action, :timers, :servers, :help and unknown commands", function()
    local out = console({"expect:lua> ", "send::prop Greeting hi there\n", "expect:property Greeting = hi there",
      "send::props\n", "expect:Greeting = \"hi there\"",
      "send::cmd SET level=5 room=den\n", "expect:command SET level=5,room=den",
      "send::action Reset\n", "expect:did Reset",
      "send::timers\n", "expect:no timers", "send::cmd TICK ms=60000\n", "expect:ticking",
      "send::timers\n", "expect:SetTimer .* every 60000 ms",
      "send:C4:CreateServer(0, '\\\\n')\n", "expect:lua> ", "send::servers\n", "expect:tcp  port",
      "send::help\n", "expect::action NAME", "send::nope\n", "expect:unknown command ':nope'",
      "send::cmd\n", "expect::cmd NAME", "expect:lua> ", "send:\\x04"})
    has(out, "action Reset")
  end)

  -- s3-apis-a
  it(":condition asks TestCondition as programming does and prints the answer", function()
    local out, code = console({"expect:lua> ", "send::condition LIGHT_IS_ON\n", "expect:\nfalse\n",
      "send:SetLevel(30)\n", "expect:lua> ",
      "send::condition LEVEL_IS VALUE=30 LOGIC=EQUAL\n", "expect:\ntrue\n",
      "send::condition\n", "expect::condition NAME", "expect:lua> ", "send:\\x04"},
      nil, S.folder("light_color"))
    assert.equal("0", code, out)
    has(out, "true")
  end)

  it("is not opened when stdin is not a terminal", function()
    local out, code = S.cli("run " .. S.folder("console") .. " --once </dev/null")
    assert.equal(0, code, out)
    assert.falsy(out:find("lua> ", 1, true))
  end)
end)

describe("the console of a project run (c4emu run project.lua)", function()
  it("runs input in the driver :driver chooses, named in the prompt; the commands act on it", function()
    local out, code = console({"expect:keypad lua> ", "send:C4:GetDeviceID()\n", "expect:\n100\n",
      "send::driver\n", "expect:%* keypad +device 100", "expect:light +device 110",
      "send::driver light\n", "expect:light lua> ", "send:C4:GetDeviceID(), LEVEL\n", "expect:110\t0",
      "send::cmd SET_LEVEL LEVEL=30\n", "expect:light lua> ", "send:=LEVEL\n", "expect:\n30\n",
      "send::props\n", "expect:light lua> ",
      "send:if true then\n", "expect:light >> ", "send:X = 1 end\n", "expect:light lua> ",
      "send::driver tv\n", "expect:no driver 'tv' in the project",
      "send::driver keypad\n", "expect:keypad lua> ", "send::cmd PRESS\n",
      "expect:TOGGLE from device 100: level 0", "expect:LED OFF", "send:=LED\n", "expect:\nOFF\n",
      "expect:keypad lua> ", "send:\\x04"}, nil, "fixtures/projects/hall.lua")
    assert.equal("0", code, out)
    has(out, "Lua console below (:driver NAME picks the driver")
    has(out, "project stopped; 0 driver errors")
  end)

  it("says :driver is for a project when the run has one driver", function()
    local out = console({"expect:lua> ", "send::driver light\n", "expect:for a project run",
      "expect:lua> ", "send:\\x04"})
    has(out, ":driver is for a project run")
  end)
end)
