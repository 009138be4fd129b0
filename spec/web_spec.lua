-- spec/web_spec.lua — the web console's safety: the token on every request and
-- on the WebSocket, the Origin check of upgrades, and the bound on what a slow
-- client may have queued.  Raw HTTP over luv TCP against `c4emu run --web`.
local W = require "web_support"

local DRIVER = "fixtures/drivers/web_console"

describe("web console access", function()
  local c
  lazy_setup(function() c = W.start(DRIVER) end)
  lazy_teardown(function()
    local code = c.stop()
    assert.equal(0, code)
  end)

  it("prints a URL on 127.0.0.1 with a 32-hex-digit token", function()
    assert.truthy(c.url:match("^http://127%.0%.0%.1:%d+/%?token=%x+$"))
    assert.equal(32, #c.token)
  end)

  it("serves the page, its script and its style with the token", function()
    for _, path in ipairs({ "/", "/app.js", "/app.css" }) do
      local status, head = W.get(c.port, path .. "?token=" .. c.token)
      assert.equal(200, status, path)
      assert.truthy(head:lower():find("content%-security%-policy: default%-src 'none'"))
    end
  end)

  it("refuses every request without the token, or with a wrong one: 403", function()
    for _, path in ipairs({ "/", "/app.js", "/app.css", "/nothing", "/ws" }) do
      assert.equal(403, (W.get(c.port, path)), path)
      assert.equal(403, (W.get(c.port, path .. "?token=" .. ("0"):rep(32))), path)
      assert.equal(403, (W.get(c.port, path .. "?token=" .. c.token:sub(1, 31))), path)
    end
  end)

  it("sets a cookie that stands for the token (the page's own requests)", function()
    local _, head = W.get(c.port, "/?token=" .. c.token)
    local cookie = head:match("[Ss]et%-[Cc]ookie: ([^;\r\n]+)")
    assert.equal("c4emu_token_" .. c.port .. "=" .. c.token, cookie)
    assert.truthy(head:find("HttpOnly") and head:find("SameSite=Strict"))
    assert.equal(200, (W.get(c.port, "/app.js", { "Cookie: other=1; " .. cookie })))
    assert.equal(403, (W.get(c.port, "/app.js", { "Cookie: c4emu_token_" .. c.port .. "=bad" })))
  end)

  it("answers 404 for other paths, with the token", function()
    assert.equal(404, (W.get(c.port, "/../driver.lua?token=" .. c.token)))
    assert.equal(404, (W.get(c.port, "/driver.xml?token=" .. c.token)))
  end)

  it("upgrades to a WebSocket only with the token and the page's own Origin", function()
    local own = "http://127.0.0.1:" .. c.port
    local function upgrade(path, origin)
      return (W.request(c.port, W.upgrade_lines(c.port, path, origin)))
    end
    assert.equal(403, upgrade("/ws", own))
    assert.equal(403, upgrade("/ws?token=" .. ("f"):rep(32), own))
    assert.equal(403, upgrade("/ws?token=" .. c.token, nil))
    assert.equal(403, upgrade("/ws?token=" .. c.token, "http://evil.example"))
    assert.equal(403, upgrade("/ws?token=" .. c.token, "http://127.0.0.1:" .. (c.port + 1)))
    assert.equal(101, upgrade("/ws?token=" .. c.token, own))
    c.wait_err("WebSocket from origin http://evil%.example refused")
  end)

  it("sends a new client the driver's properties and recent log (hello)", function()
    local s = W.websocket(c.port, c.token)
    W.run_until(function() return s.data:find('"t":"hello"', 1, true) ~= nil end, 10000, "hello")
    assert.truthy(s.data:find('"Volume":"40"', 1, true))
    assert.truthy(s.data:find("OnDriverLateInit", 1, true))
    s.close()
  end)
end)

describe("web console send queue", function()
  it("drops a client that stops reading, while a reading one keeps up and the driver runs on",
     function()
    local c = W.start(DRIVER, { "--quiet" })
    local reader, stuck
    finally(function()
      -- Open luv handles at exit would crash the Lua state's teardown.
      if reader then reader.close() end
      if stuck then stuck.close() end
      if not c.exit then c.stop() end
    end)
    -- The reader notes the markers it gets (also across read boundaries),
    -- keeping nothing else.
    local tail, got, marks = "", 0, {}
    reader = W.websocket(c.port, c.token)
    reader.on_data = function(d)
      got = got + #d
      tail = tail:sub(-64) .. d
      for m in tail:gmatch("<chunk %d+>") do marks[m] = true end
    end
    local function seen(marker) return marks[marker] end
    -- The stuck client reads nothing after its 101.  (Its receive buffer
    -- stays the default: one smaller than a loopback segment would make the
    -- kernel trickle the bytes it holds once the client reads again.)
    stuck = W.websocket(c.port, c.token)
    stuck.stop()
    -- 60 requests of 2000 log lines of 200 bytes (about 0.5 MB to each
    -- client per request, 27 MB in all: more than the queue bound plus what
    -- the kernel buffers).  The reader sends the next once it has the answer
    -- to the last, so it never falls behind; the stuck client does.
    for k = 1, 60 do
      local code = ('for i = 1, 2000 do print(("x"):rep(200)) end return "<chunk %d>"'):format(k)
      reader.write(W.frame('{"t":"lua","id":' .. k .. ',"code":' .. ("%q"):format(code) .. '}'))
      W.run_until(function() return seen("<chunk " .. k .. ">") end, 60000, "chunk " .. k)
    end
    assert.is_true(got > 20e6)
    c.wait_err("client dropped: send queue full", 60000)
    -- The stuck client's connection was closed by the server: once it reads,
    -- it reaches the end.
    stuck.on_data = function() end
    stuck.start()
    W.run_until(function() return stuck.closed end, 60000, "the stuck client to be closed")
    -- Exactly one client was dropped, and the console still serves.
    local _, drops = c.err():gsub("client dropped", "")
    assert.equal(1, drops)
    assert.equal(200, (W.get(c.port, "/app.css?token=" .. c.token)))
    reader.close()
    stuck.close()
    assert.equal(0, (c.stop()))
  end)
end)

describe("c4emu run --web options", function()
  local S = require "support"

  it("prints the console URL for the sample driver and stops cleanly with --once", function()
    local out, code = S.cli("run fixtures/drivers/sample --web 0 --once")
    assert.equal(0, code)
    assert.truthy(out:match("c4emu: web console at http://127%.0%.0%.1:%d+/%?token=%x+"))
  end)

  it("refuses a value that is not [ADDR:]PORT, and the option on check", function()
    for _, v in ipairs({ "nope", "70000", "-1", "1.2.3:80", "localhost:80", ":80", "127.0.0.1:" }) do
      local out, code = S.cli("run fixtures/drivers/sample --web '" .. v .. "'")
      assert.equal(2, code, v)
      assert.truthy(out:find("--web wants [ADDR:]PORT", 1, true), v)
    end
    local out, code = S.cli("check fixtures/drivers/sample --web 0")
    assert.equal(2, code)
    assert.truthy(out:find("--web is an option of c4emu run only", 1, true))
  end)

  it("says so and exits 2 when the port is taken", function()
    local c = W.start(DRIVER)
    finally(function() c.stop() end)
    local out, code = S.cli("run fixtures/drivers/sample --once --web " .. c.port)
    assert.equal(2, code)
    assert.truthy(out:find("cannot listen on 127.0.0.1:" .. c.port, 1, true))
  end)

  it("takes an IPv6 address in brackets", function()
    local out, code = S.cli("run fixtures/drivers/sample --web '[::1]:0' --once")
    assert.equal(0, code)
    assert.truthy(out:match("web console at http://%[::1%]:%d+/%?token="))
  end)
end)

describe("web console requests", function()
  local function request(s, json, marker)
    s.data = ""
    s.write(W.frame(json))
    W.run_until(function() return s.data:find(marker, 1, true) ~= nil end, 20000, marker)
    return s.data
  end

  it("says so when the driver has no ReceivedFromProxy for the proxy form", function()
    local c = W.start("fixtures/drivers/sample")
    local s
    finally(function()
      if s then s.close() end
      c.stop()
    end)
    s = W.websocket(c.port, c.token)
    local r = W.exchange(s, { t = "proxy", binding = 5001, command = "ON" })
    assert.is_false(r.ok)
    assert.equal("the driver has no ReceivedFromProxy function", r.error)
  end)

  it("advances only a virtual clock, by 1 ms to 7 days, and answers bad requests", function()
    local real = W.start(DRIVER)
    local virt = W.start(DRIVER, { "--virtual" })
    local s1, s2
    finally(function()
      if s1 then s1.close() end
      if s2 then s2.close() end
      real.stop()
      virt.stop()
    end)
    s1 = W.websocket(real.port, real.token)
    assert.truthy(request(s1, '{"t":"advance","id":1,"ms":1000}', '"of":"advance"')
                  :find("the clock is real time", 1, true))
    assert.truthy(request(s1, '{"t":"frobnicate","id":2}', '"of":"frobnicate"'):find("unknown request", 1, true))
    assert.truthy(request(s1, '{"t":"set_property","id":3,"name":"Volume"}', '"of":"set_property"')
                  :find("needs a name and a value", 1, true))
    assert.truthy(request(s1, '{"t":"command","id":4}', '"of":"command"'):find("no command given", 1, true))
    s1.write(W.frame("not json"))
    real.wait_err("a message that is not a JSON object ignored")
    s2 = W.websocket(virt.port, virt.token)
    assert.truthy(request(s2, '{"t":"advance","id":1,"ms":0}', '"of":"advance"'):find("1 ms to 7 days", 1, true))
    request(s2, '{"t":"advance","id":2,"ms":60000}', '"now":60000')
    request(s2, '{"t":"advance","id":3,"ms":500}', '"now":60500')
  end)
end)

-- One console and one WebSocket for a describe block (k.c, k.s, set up lazily).
local function console_for_block()
  local k = {}
  lazy_setup(function()
    k.c = W.start(DRIVER)
    k.s = W.websocket(k.c.port, k.c.token)
  end)
  lazy_teardown(function()
    k.s.close()
    assert.equal(0, (k.c.stop()))
  end)
  return k
end

describe("web console Lua tab", function()
  local k = console_for_block()

  -- Runs code; returns the decoded result message (and the State after it).
  local function run(code)
    local found, seen = W.exchange(k.s, { t = "lua", code = code })
    return found, seen[#seen]
  end

  it("pretty-prints tables with sorted keys, cycles, odd keys and non-data values", function()
    local r = run('local t = { b = 1, a = { 1, "two" } } t.self = t t["a key"] = true return t, nil, "x\\ny"')
    assert.is_true(r.ok)
    assert.equal(3, r.count)
    -- the terminal console's printer (emu_pretty.c): one line when it fits
    assert.truthy(r.values:match('^{\n  a = {1, "two"},\n  %["a key"%] = true,\n  b = 1,\n' ..
                                 '  self = <cycle: table 0x%x+>\n}\nnil\n"x\\ny"$'), r.values)
    local wide = run('return { alpha = ("a"):rep(40), beta = ("b"):rep(40), ["end"] = 1 }')
    assert.equal('{\n  alpha = "' .. ("a"):rep(40) .. '",\n  beta = "' .. ("b"):rep(40) ..
                 '",\n  ["end"] = 1\n}', wide.values)
    local t = run("local t = C4:SetTimer(100000, function() end) T17 = t return t")
    assert.truthy(t.values:match("^C4LuaTimer: 0x%x+$"), t.values) -- its type name, not tostring
    run("T17:Cancel()")
    local f = run("return print, {}")
    assert.truthy(f.values:match("^function: 0x%x+\n{}$"), f.values)
  end)

  it("never calls the driver's metamethods while printing", function()
    local r = run('return setmetatable({ x = 1 }, { __index = function() error("no") end,' ..
                  ' __tostring = function() error("no") end, __pairs = error })')
    assert.is_true(r.ok)
    assert.equal("{x = 1}", r.values)
    -- nor its globals: a redefined tostring or table.sort changes nothing
    local g = run("SAVED = { tostring, table.sort } tostring = error table.sort = error " ..
                  "return { b = 2, a = print }")
    assert.is_true(g.ok)
    assert.truthy(g.values:match("^{a = function: 0x%x+, b = 2}$"), g.values)
    run("tostring, table.sort = SAVED[1], SAVED[2]")
  end)

  it("shows a statement's print output and a mistake's error, not counted as the driver's", function()
    local r = run('for i = 1, 3 do print("line " .. i) end')
    assert.is_true(r.ok)
    assert.equal(0, r.count)
    assert.equal("line 1\nline 2\nline 3\n", r.output)
    local e = run("this is not lua")
    assert.is_false(e.ok)
    assert.truthy(e.error:find("console:1:", 1, true))
    local e2, state = run("error('mine')")
    assert.truthy(e2.error:find("mine", 1, true))
    assert.equal(0, state.errors)
  end)

  it("lists the driver's TCP objects in the State view", function()
    run('TS = C4:CreateTCPServer() TS:Listen("127.0.0.1", 0)')
    local cjson = require "cjson"
    local row
    W.run_until(function()
      for _, text in ipairs(W.take_messages(k.s)) do
        local m = cjson.decode(text)
        for _, sec in ipairs(m.t == "state" and m.sections or {}) do
          if sec.name == "TCP objects" and type(sec.rows[1]) == "table" then row = sec.rows[1] end
        end
      end
      return row and row.state == "listening"
    end, 20000, "the listening TCP server")
    assert.equal("C4LuaTcpServer", row.type)
    assert.truthy(row.address:match("^127%.0%.0%.1:%d+$"), row.address)
    run("TS:Close()")
  end)

  it("cuts a deep table at depth 4, a long one at 100 entries, and the text at 256 KiB", function()
    local r = run("local t = {} local c = t for i = 1, 10 do c.n = {} c = c.n end return t")
    assert.equal("{n = {n = {n = {n = {...1 entry}}}}}", r.values)
    local long = run("local t = {} for i = 1, 150 do t[i] = i end return t")
    assert.truthy(long.values:find("100, ... 50 more\n}$"), long.values)
    -- 100 x 100 strings of 100 bytes: 1 MB of text if it were all shown
    local big = run("local s = ('x'):rep(100) local t = {} for i = 1, 100 do t[i] = {} " ..
                    "for j = 1, 100 do t[i][j] = s end end return t")
    assert.truthy(#big.values < 300 * 1024, #big.values)
    assert.truthy(big.values:find("... (cut)", 1, true))
  end)
end)

describe("web console against hostile clients", function()
  it("drops a client whose message is over 1 MiB, or who sends garbage, and serves on", function()
    local c = W.start(DRIVER)
    local big, junk
    finally(function()
      if big then big.close() end
      if junk then junk.close() end
      if not c.exit then c.stop() end
    end)
    big = W.websocket(c.port, c.token)
    big.write(W.frame(('{"t":"lua","code":"' .. (" "):rep(1100000) .. '"}')))
    c.wait_err("client dropped: a message over 1 MiB")
    W.run_until(function() return big.closed end, 20000, "the big client to be closed")
    junk = W.websocket(c.port, c.token)
    junk.write(("\255\0garbage"):rep(1000))
    W.run_until(function() return junk.closed end, 20000, "the garbage client to be closed")
    assert.equal(200, (W.get(c.port, "/?token=" .. c.token)))
    local ok = W.websocket(c.port, c.token)
    W.run_until(function() return ok.data:find('"t":"hello"', 1, true) ~= nil end, 10000, "hello")
    ok.close()
    assert.equal(0, (c.stop()))
  end)
end)

-- issue 17: the Director's sections, the variable form and hidden properties.
describe("web console and the Director", function()
  local k = console_for_block()

  local function send(msg) return W.exchange(k.s, msg) end
  local function last_state(seen)
    for i = #seen, 1, -1 do if seen[i].t == "state" then return seen[i] end end
  end
  local function section(state, name)
    for _, sec in ipairs(state.sections) do if sec.name == name then return sec end end
  end
  local function row(sec, key, value)
    for _, r in ipairs(type(sec.rows) == "table" and sec.rows or {}) do
      if type(r) == "table" and r[key] == value then return r end
    end
  end

  it("lists the driver's variables, the project with its proxy and the controller", function()
    local _, seen = send({ t = "state" })
    local st = last_state(seen)
    local vars = section(st, "variables")
    assert.same({ "id", "name", "value", "type", "readonly", "hidden" }, vars.columns)
    local target = row(vars, "name", "TARGET")
    assert.same({ id = 1001, name = "TARGET", value = "20", type = "NUMBER", readonly = false, hidden = false }, target)
    assert.is_true(row(vars, "name", "FIRMWARE").readonly)
    local proj = section(st, "project")
    assert.equal(100, row(proj, "kind", "this driver").id)
    assert.equal("Living Room", row(proj, "kind", "this driver").room)
    local proxy = row(proj, "kind", "proxy")
    assert.equal("Web Console Light", proxy.name)
    assert.equal("light_v2, binding 5001, of device 100", proxy.detail)
    assert.equal("IP 127.0.0.1, MAC 000FFF0C4E01", row(proj, "kind", "controller").detail)
  end)

  it("sets a writable variable as programming does, and refuses a read-only or unknown one", function()
    local r, seen = send({ t = "set_variable", name = "TARGET", value = "23" })
    assert.is_true(r.ok)
    assert.truthy(r.output:find("OnVariableChanged TARGET = 23", 1, true), r.output)
    assert.equal("23", row(section(last_state(seen), "variables"), "name", "TARGET").value)
    r = send({ t = "set_variable", name = "1001", value = "24" }) -- by id
    assert.truthy(r.output:find("OnVariableChanged TARGET = 24", 1, true), r.output)
    r, seen = send({ t = "set_variable", name = "FIRMWARE", value = "9" })
    assert.is_false(r.ok)
    assert.equal("variable 'FIRMWARE' is read-only: programming cannot set it (only the driver itself, " ..
                 "with C4:SetVariable)", r.error)
    assert.equal("1.0", row(section(last_state(seen), "variables"), "name", "FIRMWARE").value)
    r = send({ t = "set_variable", name = "NOSUCH", value = "1" })
    assert.equal("the driver has no variable 'NOSUCH'", r.error)
    r = send({ t = "set_variable", name = "TARGET" })
    assert.equal("set_variable needs a name and a value", r.error)
  end)

  it("lists an event the driver fires, and the findings d:notes() would give", function()
    local _, seen = send({ t = "command", command = "LUA_ACTION", params = { ACTION = "Ring" } })
    local ev = row(section(last_state(seen), "events fired"), "name", "Doorbell")
    assert.equal(1, ev.id)
    assert.equal(100, ev.device)
    send({ t = "lua", code = "return C4.NoSuchApiForTheNotes, C4.NoSuchApiForTheNotes" })
    _, seen = send({ t = "state" })
    local note = row(section(last_state(seen), "notes"), "kind", "not-provided")
    assert.truthy(note.text:find("NoSuchApiForTheNotes", 1, true), note.text)
    assert.equal("error", note.level)
    assert.equal(2, note.count)
  end)

  it("lists the driver's bindings, with the proxy's", function()
    local _, seen = send({ t = "state" })
    local b = section(last_state(seen), "bindings")
    assert.same({ "id", "name", "class", "role", "bound" }, b.columns)
    -- the driver provides 5001; the proxy device (101) is bound to it
    assert.same({ id = 5001, name = "light_v2", class = "light_v2", role = "provider", bound = "101:5001" },
                row(b, "id", 5001))
  end)

  it("sends ReceivedFromProxy from the proxy form and lists the driver's SendToProxy reply", function()
    local r, seen = send({ t = "proxy", binding = 5001, command = "SET_LEVEL",
                           params = { LEVEL = "40", RATE = 250, FADE = true } })
    assert.is_true(r.ok)
    assert.truthy(r.output:find("ReceivedFromProxy 5001 SET_LEVEL FADE=true LEVEL=40 RATE=250", 1, true), r.output)
    local pm = section(last_state(seen), "proxy messages")
    assert.same({ "time_ms", "binding", "command", "kind", "params" }, pm.columns)
    local reply = row(pm, "command", "LIGHT_LEVEL")
    assert.same({ time_ms = reply.time_ms, binding = 5001, command = "LIGHT_LEVEL", kind = "NOTIFY",
                  params = "LEVEL=40 RATE=250" }, reply)
    assert.is_number(reply.time_ms)
    -- the driver's error is reported and counted; bad requests are refused
    local errors = last_state(seen).errors
    r, seen = send({ t = "proxy", binding = 5001, command = "FAIL" })
    assert.is_false(r.ok)
    assert.truthy(r.error:find("deliberate proxy failure", 1, true), r.error)
    assert.equal(errors + 1, last_state(seen).errors)
    r = send({ t = "proxy", binding = 0, command = "ON" })
    assert.equal("proxy needs a binding id (1 to 999999)", r.error)
    r = send({ t = "proxy", binding = 5001 })
    assert.equal("proxy needs a command", r.error)
    -- an undeclared binding is delivered, with the warning SendToProxy gives
    r = send({ t = "proxy", binding = 77, command = "PING" })
    assert.is_true(r.ok)
    k.c.wait_err("binding 77")
  end)

  it("sends the properties SetPropertyAttribs hides, and shows them again", function()
    local function hidden_after(action)
      local _, seen = send({ t = "command", command = "LUA_ACTION", params = { ACTION = action } })
      for _, m in ipairs(seen) do if m.t == "props" and m.hidden then return m.hidden end end
    end
    assert.same({ Gain = true }, hidden_after("HideGain"))
    assert.same({}, hidden_after("ShowGain"))
    assert.is_nil(hidden_after("ShowGain")) -- nothing changed: nothing sent
  end)
end)

describe("web console of a project run (c4emu run project.lua --web)", function()
  local cjson = require "cjson"
  it("offers the project's drivers; the chosen one is what every view shows", function()
    local c = W.start("fixtures/projects/hall.lua")
    local s
    finally(function()
      if s then s.close() end
      if not c.exit then c.stop() end
    end)
    s = W.websocket(c.port, c.token)
    local hello
    W.run_until(function()
      for _, text in ipairs(W.take_messages(s)) do
        local m = cjson.decode(text)
        if m.t == "hello" then hello = m end
      end
      return hello
    end, 10000, "hello")
    assert.equal("keypad", hello.driver)
    assert.same({"keypad", "light"}, {hello.drivers[1].name, hello.drivers[2].name})
    assert.same({100, 110}, {hello.drivers[1].device_id, hello.drivers[2].device_id})
    assert.equal(100, hello.device_id)
    assert.truthy(hello.xml:find("Press At Start", 1, true))
    local r = W.exchange(s, {t = "lua", code = "return C4:GetDeviceID()"})
    assert.is_true(r.ok)
    assert.equal("100", r.values)
    -- choose the light: its hello, its driver.xml, its log, its State
    local seen
    r, seen = W.exchange(s, {t = "driver", name = "light"})
    assert.is_true(r.ok)
    local again, state
    for _, m in ipairs(seen) do
      if m.t == "hello" then again = m end
      if m.t == "state" then state = m end
    end
    assert.equal("light", again.driver)
    assert.equal(110, again.device_id)
    assert.truthy(again.xml:find("light_v2", 1, true))
    assert.is_nil(again.xml:find("Press At Start", 1, true))
    for _, line in ipairs(again.log) do
      assert.is_nil(line[3]:find("button 1 LED", 1, true), line[3]) -- the keypad's lines stay out
    end
    local rows
    for _, sec in ipairs(state.sections) do
      if sec.name == "project" then rows = sec.rows end
    end
    local names = {}
    for _, row in ipairs(rows) do names[#names + 1] = row.kind .. ":" .. tostring(row.id) .. ":" .. row.name end
    assert.truthy(table.concat(names, ","):find("this driver:110:light", 1, true), table.concat(names, ","))
    assert.truthy(table.concat(names, ","):find("proxy:111:Hall Light", 1, true))
    assert.truthy(table.concat(names, ","):find("device:100:keypad", 1, true))
    r = W.exchange(s, {t = "lua", code = "return C4:GetDeviceID(), LEVEL"})
    assert.equal("110\n0", r.values)
    -- a command now goes to the light: its print is in its output
    r = W.exchange(s, {t = "command", command = "SET_LEVEL", params = {LEVEL = "40"}})
    assert.is_true(r.ok, r.error)
    assert.equal(40, tonumber((W.exchange(s, {t = "lua", code = "return LEVEL"})).values))
    -- an unknown driver is refused, the choice stays
    r = W.exchange(s, {t = "driver", name = "tv"})
    assert.is_false(r.ok)
    assert.equal("no such driver in the project", r.error)
    assert.equal("110", (W.exchange(s, {t = "lua", code = "return C4:GetDeviceID()"})).values)
    s.close()
    s = nil
    assert.equal(0, (c.stop()))
  end)

  it("refuses the driver request in a run of one driver", function()
    local c = W.start(DRIVER)
    local s
    finally(function()
      if s then s.close() end
      if not c.exit then c.stop() end
    end)
    s = W.websocket(c.port, c.token)
    local r = W.exchange(s, {t = "driver", name = "x"})
    assert.is_false(r.ok)
    assert.matches("one driver", r.error)
  end)
end)
