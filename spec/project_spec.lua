-- Projects of several drivers (emulator/emu_world.c, emu_module_project.c):
-- one loop, one clock, messages between drivers following the bindings.
local c4emu = require "c4emu"
local S = require "support"

local opened = {}
after_each(function()
  for _, p in ipairs(opened) do pcall(p.destroy, p) end
  opened = {}
end)

local function project(src, opts)
  local p = c4emu.project(src or "fixtures/projects/hall.lua", opts)
  opened[#opened + 1] = p
  return p
end

describe("c4emu.project", function()
  it("starts what a controller starts once the drivers run: an auto_connect binding with an address connects", function()
    -- the netbind_tcp fixture on a free port (its driver.xml names port 23)
    local d0 = c4emu.load(S.folder("minimal"))
    local probe = d0:device{}
    local port = probe.local_port
    probe:close()
    d0:destroy()
    local dir = S.scratch("project_netbind_" .. port)
    os.execute("cp -r " .. S.folder("netbind_tcp") .. "/. '" .. dir .. "'")
    S.write_file(dir .. "/driver.xml", (S.read(dir .. "/driver.xml"):gsub("<number>23</number>",
                                                                       "<number>" .. port .. "</number>")))
    local p = project({drivers = {tv = {path = dir}, keypad = {path = "fixtures/drivers/keypad"}}})
    local tv = p.drivers.tv
    local dev = tv:device{port = port, mode = "end", end_char = "\r"}
    local lines = {}
    dev:run{socket_message = function(c, line) lines[#lines + 1] = line; c:send("OK " .. line .. "\r") end}
    tv:set_binding_address(6001, "127.0.0.1") -- as the project gives it, before the drivers start
    p:init()
    p.drivers.keypad:settle() -- any driver's settle steps every driver's devices
    local status
    for _, c in ipairs(tv:net_connections()) do if c.binding == 6001 then status = c.status end end
    assert.equal("ONLINE", status)
    assert.same({"POWER?"}, lines)
    dev:close()
  end)

  it("SendToDevice to a proxy's id reaches the driver behind it as ReceivedFromProxy on the proxy's binding", function()
    local p = project()
    p:init()
    local keypad, light = p.drivers.keypad, p.drivers.light
    local proxy = light:eval("return C4:GetProxyDevices()")
    keypad:eval("C4:SendToDevice(" .. proxy .. ", 'SET_LEVEL', {LEVEL = 40})")
    assert.equal(0, light:eval("return LEVEL"))          -- on a turn of its own, not inside the call
    p:settle()
    assert.equal(40, light:eval("return LEVEL"))
    keypad:eval("C4:SendToDevice(" .. proxy .. ", 'OFF', {})")
    p:settle()
    assert.equal(0, light:eval("return LEVEL"))
    assert.same({}, light:errors())
  end)

  it("a RenameDevice by one driver is seen by every driver of the project", function()
    local p = project()
    p:init()
    local keypad, light = p.drivers.keypad, p.drivers.light
    keypad:eval("C4:RenameDevice(110, 'Light Relay')")
    keypad:eval("C4:RenameDevice(111, 'Porch Light')") -- the light's proxy: its name in Composer
    assert.equal("Light Relay", light:eval("return C4:GetDeviceDisplayName(C4:GetDeviceID())"))
    assert.equal("Porch Light", light:eval("return C4:GetDeviceDisplayName(C4:GetProxyDevices())"))
    assert.equal("Porch Light", keypad:eval("return C4:ListGetDeviceName(111)"))
    assert.same({[111] = light:eval("return C4:RoomGetId()")},
                light:eval("return C4:GetDevicesByName('Porch Light')"))
  end)

  it("hosts every driver with its own device id; each p.drivers.x is an ordinary d", function()
    local p = project()
    p:init()
    local keypad, light = p.drivers.keypad, p.drivers.light
    assert.equal(100, keypad:eval("return C4:GetDeviceID()"))
    assert.equal(110, light:eval("return C4:GetDeviceID()"))
    assert.equal("Hall", light:eval("return C4:ListGetDeviceName(C4:RoomGetId())"))
    assert.equal("light", keypad:eval("return C4:ListGetDeviceName(110)"))
    assert.equal("running", light:phase())
  end)

  it("is one project model: one id space, shared rooms, every Director call about the whole project", function()
    local p = project({
      drivers = {
        keypad = {path = "fixtures/drivers/keypad", room = "Hall"},
        light = {path = "fixtures/drivers/proxy_light", room = "Kitchen"},
        observer = {path = "fixtures/drivers/minimal"},
      },
      bindings = {{"keypad", 1, "light", 2}},
    })
    p:init()
    local k, l, o = p.drivers.keypad, p.drivers.light, p.drivers.observer
    -- the light is 110, its proxy 111; the observer 120 in the first room
    assert.same({111}, {l:eval("return C4:GetProxyDevices()")})
    assert.same({111}, {k:eval("return C4:GetProxyDevicesById(110)")})
    assert.equal("Hall Light", o:eval("return C4:GetDeviceDisplayName(111)"))
    assert.equal("light", o:eval("return C4:GetDeviceDisplayName(110)"))
    assert.equal("observer", k:eval("return C4:ListGetDeviceName(120)"))
    assert.equal(5, k:eval("return C4:RoomGetId()"))
    assert.equal(6, l:eval("return C4:RoomGetId()"))
    assert.equal(5, o:eval("return C4:RoomGetId()"))
    assert.equal("Kitchen", k:eval("return C4:ListGetDeviceName(6)"))
    assert.same({[111] = "Hall Light"}, o:eval("return C4:GetDevicesByC4iName('light_v2.c4i')"))
    assert.same({[5] = "Hall", [6] = "Kitchen"}, o:eval("return C4:GetDevicesByC4iName('roomdevice.c4i')"))
    local kitchen = o:eval("return C4:GetDevices(nil, '6')")
    assert.same({110, 111}, (function() local t = {} for id in pairs(kitchen) do t[#t + 1] = id end
                                         table.sort(t) return t end)())
    assert.equal("proxy_light.c4z", kitchen[110].driverFileName)
    -- GetProjectItems: the same project whoever asks, the light's proxy inside it
    local items = o:eval("return C4:GetProjectItems('ALL')")
    assert.matches("<id>110</id><name>light</name><type>6</type>.-<subitems><item><id>111</id>" ..
                   "<name>Hall Light</name><type>7</type>", items)
    assert.matches("<id>6</id><name>Kitchen</name><type>8</type>", items)
    assert.equal(items, k:eval("return C4:GetProjectItems('ALL')"))
    assert.equal(items, l:eval("return C4:GetProjectItems('ALL')"))
    -- another hosted driver's driver.xml
    assert.matches("light_v2", o:eval("return C4:GetDeviceData(110, 'proxies')"))
    -- a binding between two others, asked by the third
    assert.same({[100] = "keypad"}, o:eval("return C4:GetBoundConsumerDevices(110, 2)"))
    assert.equal(110, o:eval("return C4:GetBoundProviderDevice(100, 1)"))
    local by = o:eval("return C4:GetBindingsByDevice(100)")
    assert.equal(100, by.deviceid)
    assert.equal(1, by.bindings[1].bindingid)
    assert.same({{deviceid = 110, bindingid = 2}}, by.bindings[1].connections)
    -- one model: d:project() is the same in every driver
    assert.same(k:project(), o:project())
    assert.same(k:project(), l:project())
    assert.equal(4, #k:project().devices)
  end)

  it("keeps the others' devices once one driver of the project is destroyed", function()
    local p = project()
    p:init()
    p.drivers.light:destroy()
    assert.equal("light", p.drivers.keypad:eval("return C4:GetDeviceDisplayName(110)"))
    assert.equal("Hall Light", p.drivers.keypad:eval("return C4:GetDeviceDisplayName(111)"))
    p.drivers.keypad:command("PRESS", {})
    p.drivers.keypad:settle()
    assert.same({}, p.drivers.keypad:errors())
    assert.equal(3, #p.drivers.keypad:project().devices)
  end)

  it("makes the project's bindings between Init and LateInit, OnBindingChanged on both sides", function()
    local p = project()
    p:init()
    assert.same({{1, "BUTTON_LINK", true, 110, 2}}, p.drivers.keypad:eval("return BOUND"))
    assert.same({{2, "BUTTON_LINK", true, 100, 1}}, p.drivers.light:eval("return BINDINGS"))
    assert.equal(110, p.drivers.keypad:eval("return LIGHT"))  -- read in OnDriverLateInit
    assert.same({[100] = "keypad"}, p.drivers.light:eval("return C4:GetBoundConsumerDevices(0, 2)"))
  end)

  it("a command to one reaches the other through the binding, and the answer comes back", function()
    local p = project()
    p:init()
    local keypad, light = p.drivers.keypad, p.drivers.light
    p:advance(1000)
    keypad:command("PRESS", {})
    p:settle()
    assert.same({{binding = 1, command = "TOGGLE", params = {BUTTON = "1"}, kind = "COMMAND",
                  time = 1000}}, keypad:proxy_messages())
    local m = light:proxy_messages()
    assert.same({"CLOSE", "LIGHT_LEVEL_CHANGED", "LED_STATE"}, {m[1].command, m[2].command, m[3].command})
    assert.same({STATE = "ON"}, m[3].params)
    assert.equal(2, m[3].binding)
    assert.equal(100, light:eval("return LEVEL"))
    assert.equal("ON", keypad:eval("return LED"))
    keypad:command("PRESS", {})
    p:settle()
    assert.equal("OFF", keypad:eval("return LED"))
  end)

  it("delivers each message on a turn of its own, not inside the sender's call", function()
    local p = project()
    p:init()
    p.drivers.keypad:command("PRESS", {})
    assert.equal(0, p.drivers.light:eval("return LEVEL"))
    p:advance(0)
    assert.equal(100, p.drivers.light:eval("return LEVEL"))
  end)

  it("SendToDevice reaches the other driver's ExecuteCommand", function()
    local p = project()
    p:init()
    p.drivers.keypad:command("DIM", {LEVEL = "30"})
    p:settle()
    assert.equal(30, p.drivers.light:eval("return LEVEL"))
    assert.same({{device = 110, command = "SET_LEVEL", params = {LEVEL = "30"}, time = 0}},
                p.drivers.keypad:device_messages())
  end)

  it("bounds a cycle of drivers sending to each other forever", function()
    local p = project()
    p:init()
    p.drivers.keypad:command("ECHO", {})
    p:settle()
    local n = #p.drivers.keypad:proxy_messages() + #p.drivers.light:proxy_messages()
    assert.is_true(n > 10 and n < 200, "messages: " .. n)
    assert.truthy(p.drivers.keypad:logged("a send cycle") or p.drivers.light:logged("a send cycle"))
    -- inside an advance too
    p.drivers.keypad:command("ECHO", {})
    p:advance(10)
    -- and the project still answers
    p.drivers.keypad:command("PRESS", {})
    p:settle()
    assert.equal("ON", p.drivers.keypad:eval("return LED"))
  end)

  -- s4-fixes: SendToProxy(id, cmd, "<a string>") reaches the bound driver as that string.
  it("a string param reaches the bound driver's ReceivedFromProxy as the string", function()
    local p = project()
    p:init()
    p.drivers.keypad:eval([[GOT = {}
      function ReceivedFromProxy(id, cmd, params)
        GOT[#GOT + 1] = {id = id, cmd = cmd, kind = type(params),
                         value = type(params) == "table" and next(params) or params}
      end]])
    p.drivers.light:eval([[C4:SendToProxy(2, "TEXT", "<text>ARMED</text>", "NOTIFY")
      C4:SendToProxy(2, "NUM", 213)
      C4:SendToProxy(2, "EMPTY", "")]])
    p:settle()
    assert.same({
      {id = 1, cmd = "TEXT", kind = "string", value = "<text>ARMED</text>"},
      {id = 1, cmd = "NUM", kind = "string", value = "213"},
      {id = 1, cmd = "EMPTY", kind = "table", value = {}},
    }, p.drivers.keypad:eval("return GOT"))
  end)

  it("p:unbind and p:bind at run time fire OnBindingChanged on both sides", function()
    local p = project()
    p:init()
    p:unbind("keypad", 1, "light", 2)
    assert.same({1, "BUTTON_LINK", false, 110, 2}, p.drivers.keypad:eval("return BOUND[2]"))
    assert.same({2, "BUTTON_LINK", false, 100, 1}, p.drivers.light:eval("return BINDINGS[2]"))
    p.drivers.keypad:command("PRESS", {})
    p:settle()
    assert.equal(0, p.drivers.light:eval("return LEVEL"))
    p:bind("keypad", 1, "light", 2)
    assert.equal(3, #p.drivers.keypad:eval("return BOUND"))
    assert.matches("no driver 'tv'", S.raised(p.bind, p, "tv", 1, "light", 2))
    assert.matches("must be a consumer", S.raised(p.bind, p, "light", 2, "keypad", 1))
  end)

  it("shares one clock: timers of every driver fire in order", function()
    local p = project()
    p:init()
    p.drivers.keypad:eval([[C4:SetTimer(300, function() ORDER = (ORDER or "") .. "k" end)]])
    p.drivers.light:eval([[C4:SetTimer(200, function() C4:SendToProxy(5001, "T", {}) end)]])
    p:advance(250)
    assert.equal(250, p.drivers.keypad:now())
    assert.equal(1, #p.drivers.light:proxy_messages(5001))
    assert.is_nil(p.drivers.keypad:eval("return ORDER"))
    p:advance(100)
    assert.equal("k", p.drivers.keypad:eval("return ORDER"))
  end)

  it("p:settle waits for the network between drivers: one serves, the other resolves and connects", function()
    local p = project("fixtures/projects/pair.lua")
    p:init()
    p:settle()
    local client, server = p.drivers.client, p.drivers.server
    assert.equal(110, client:eval("return SERVER"))
    assert.equal("HELLO", client:eval("return REPLY"))
    assert.equal("HELLO", client:variables().REPLY.value)
    assert.equal(1, server:eval("return LINES"))
    assert.same({}, client:errors())
    assert.same({}, server:errors())
    -- again at run time: a new greeting, a new connection, one settle
    client:eval([[Properties["Greeting"] = "again"
                  OnWatchedVariableChanged(SERVER, 1001, C4:GetDeviceVariable(SERVER, 1001))]])
    p:settle()
    assert.equal("AGAIN", client:eval("return REPLY"))
    assert.equal(2, server:eval("return LINES"))
  end)

  it("d:settle of one driver of a project waits for the others' I/O too", function()
    local p = project("fixtures/projects/pair.lua")
    p:init()
    p:settle()
    local client, server = p.drivers.client, p.drivers.server
    client:eval([[Properties["Greeting"] = "once more"
                  OnWatchedVariableChanged(SERVER, 1001, C4:GetDeviceVariable(SERVER, 1001))]])
    server:settle()    -- the client's resolve and connect are in flight: not quiet yet
    assert.equal("ONCE MORE", client:eval("return REPLY"))
  end)

  it("refuses a project that does not parse, names a missing driver, or binds unknown ids", function()
    local dir = S.scratch("project_bad")
    S.write_file(dir .. "/syntax.lua", "return { drivers = ")
    assert.matches("c4emu.project: .*syntax.lua", S.raised(c4emu.project, dir .. "/syntax.lua"))
    assert.matches("driver 'x'", S.raised(c4emu.project, {drivers = {x = {path = "no/such/driver"}}}))
    assert.matches("drivers.x.path must be a string", S.raised(c4emu.project, {drivers = {x = {}}}))
    assert.matches("opts.devices is per driver", S.raised(c4emu.project, "fixtures/projects/hall.lua",
                   {devices = {}}))
    assert.matches("has no binding 9", S.raised(c4emu.project, {
      drivers = {a = {path = "fixtures/drivers/keypad"}, b = {path = "fixtures/drivers/proxy_light"}},
      bindings = {{"a", 9, "b", 2}}}))
    assert.matches("no driver 'c'", S.raised(c4emu.project, {
      drivers = {a = {path = "fixtures/drivers/keypad"}}, bindings = {{"a", 1, "c", 2}}}))
    collectgarbage()
  end)
end)

describe("SendUIRequest between the drivers of a project", function()
  local function ui_project()
    local p = project("fixtures/projects/ui_request.lua")
    p:init()
    return p, p.drivers.client, p.drivers.server
  end

  it("calls the other driver's UIRequest at once; its XML answer is the result (the page's example)", function()
    local p, client, server = ui_project()
    assert.equal(100, client:eval("return C4:GetDeviceID()"))
    assert.same({111}, {server:eval("return C4:GetProxyDevices()")})
    local answer = client:eval([[
      return C4:SendUIRequest(111, "GET_MY_DRIVER_DATA", {PARAM_X = 1024, PARAM_Y = 768})]])
    assert.equal("<driver_data><value_x>10240</value_x><value_y>7680</value_y></driver_data>", answer)
    -- by the device id too; the params cross as strings
    client:command("ASK", {TARGET = "110"})
    assert.equal(answer, client:eval("return ANSWER"))
    assert.same({"GET_MY_DRIVER_DATA PARAM_X=string:1024 PARAM_Y=string:768",
                 "GET_MY_DRIVER_DATA FROM=string:100 ON=string:true PARAM_X=string:1024 PARAM_Y=string:768"},
                server:eval("return REQUESTS"))
    assert.same({}, client:errors())
    assert.same({}, server:errors())
  end)

  it("nests: the answering driver may ask the sender in turn", function()
    local p, client, server = ui_project()
    client:command("ASK", {TARGET = "111", REQUEST = "ASK_BACK"})
    assert.equal("<back><who>100</who></back>", client:eval("return ANSWER"))
  end)

  it("answers \"\" for a non-text answer, an error in UIRequest, a driver gone, and bounds a cycle", function()
    local p, client, server = ui_project()
    assert.equal("", client:eval("return C4:SendUIRequest(110, 'TABLE', {})"))
    assert.truthy(client:logged("UIRequest answered a table, not text"))
    -- params that cannot cross are dropped with a warning, the rest arrive
    assert.matches("^<driver_data><value_x>70</value_x>", client:eval([[
      return C4:SendUIRequest(110, "GET_MY_DRIVER_DATA", {PARAM_X = 7, F = print, [{}] = 1, [true] = 2})]]))
    assert.truthy(client:logged("SendUIRequest: parameter of type string %(value function%) is not sent"))
    assert.truthy(client:logged("SendUIRequest: parameter of type table %(value number%) is not sent"))
    assert.equal("GET_MY_DRIVER_DATA PARAM_X=string:7", server:eval("return REQUESTS[#REQUESTS]"))
    assert.equal("", client:eval("return C4:SendUIRequest(110, 'FAIL', {})"))
    assert.equal(1, #server:errors())
    assert.same({}, client:errors())
    client:command("ASK", {TARGET = "111", REQUEST = "LOOP"})
    assert.equal("", client:eval("return ANSWER"))
    assert.truthy(client:logged("a request cycle") or server:logged("a request cycle"))
    server:destroy()
    assert.equal("", client:eval("return C4:SendUIRequest(110, 'GET_MY_DRIVER_DATA', {})"))
    assert.same({}, client:errors())
  end)
end)

describe("the controller's folders in a project", function()
  it("MEDIA and LOGGING are one folder each for every driver of the project, SANDBOX one per driver", function()
    local p = project()
    p:init()
    local keypad, light = p.drivers.keypad, p.drivers.light
    assert.is_true(keypad:eval([[
      local h = C4:FileOpen("/media/shared.txt") C4:FileWriteString(h, "from the keypad") C4:FileClose(h)
      return C4:FileCreateDir("LOGGING", "keypad")]]))
    assert.equal("from the keypad", light:eval([[
      C4:FileSetDir("MEDIA")
      local h = C4:FileOpen("shared.txt") C4:FileSetPos(h, 0)
      local s = C4:FileRead(h, 100) C4:FileClose(h) return s]]))
    assert.is_true(light:eval("return C4:FileSetDir('LOGGING', 'keypad')"))
    assert.is_not.equal(keypad:eval("return C4:GetSandboxDir()"), light:eval("return C4:GetSandboxDir()"))
    -- a driver that goes leaves them to the others; the project removes them
    local media = light:eval("return C4:FileGetDir()"):gsub("/[^/]*$", "")
    keypad:destroy()
    assert.is_true(light:eval("return C4:FileExists('/media/shared.txt')"))
    p:destroy()
    assert.equal(0, os.execute("test -d '" .. media .. "'"))
    -- ... when the project itself goes (its drivers and its world collected)
    p, keypad, light, opened = nil, nil, nil, {}
    collectgarbage() collectgarbage()
    assert.is_not.equal(0, os.execute("test -e '" .. media .. "'"))
  end)
end)

describe("c4emu run|check project.lua", function()
  it("runs every driver on one loop: the keypad's press reaches the light and the LED answer comes back", function()
    local out, code = S.cli("run --once fixtures/projects/hall_demo.lua")
    assert.equal(0, code, out)
    assert.matches("%[light%] TOGGLE from device 100: level 100", out)
    assert.matches("%[keypad%] button 1 LED ON", out)
    assert.matches("OnDriverLateInit%(DIT_STARTUP%)", out)
  end)

  it("refuses, in one line with exit 2, a file that does not parse, a missing driver, unknown ids", function()
    local dir = S.scratch("project_cli")
    S.write_file(dir .. "/syntax.lua", "return { drivers = ")
    S.cli_refuses("run --once " .. dir .. "/syntax.lua", "syntax.lua:1:")
    S.write_file(dir .. "/missing.lua", [[return { drivers = { tv = { path = "no/such" } } }]])
    local out = S.cli_refuses("run --once " .. dir .. "/missing.lua", "driver 'tv'")
    assert.equal(1, select(2, out:gsub("\n", "")), out)
    S.write_file(dir .. "/ids.lua", ([[return { drivers = { a = { path = "%s/fixtures/drivers/keypad" },
      b = { path = "%s/fixtures/drivers/proxy_light" } }, bindings = { { "a", 1, "b", 9 } } }]]):format(
      os.getenv("PWD"), os.getenv("PWD")))
    S.cli_refuses("run --once " .. dir .. "/ids.lua", "bindings%[1%]: the provider has no binding 9")
    S.write_file(dir .. "/who.lua", [[return { drivers = { a = { path = "x" } }, bindings = { { "a", 1, "zz", 2 } } }]])
    S.cli_refuses("check " .. dir .. "/who.lua", "no driver 'zz'")
  end)

  it("shuts every driver down cleanly on SIGTERM", function()
    local p = io.popen("timeout --preserve-status -s TERM 0.5 " .. S.build ..
      "/c4emu run fixtures/projects/hall.lua </dev/null 2>&1; echo \"exit=$?\"")
    local out = p:read("*a")
    p:close()
    assert.matches("shutting the project down", out)
    assert.matches("project stopped; 0 driver errors", out)
    assert.matches("exit=0", out)
  end)

  it("checks every driver of the project", function()
    local out, code = S.cli("check fixtures/projects/hall.lua")
    assert.equal(0, code, out)
    assert.matches("== keypad", out)
    assert.matches("== light", out)
  end)

  it("checks the project as one world: a driver that asks another is checked with it there", function()
    local out, code = S.cli("check fixtures/projects/ui_check.lua --os 3.3.1,4.0.0")
    assert.equal(1, code, out)
    -- the client's start-up request was answered (alone it would raise), on each version
    local client = out:match("== client.-result: (%a+)")
    assert.equal("clean", client, out)
    -- its command a second later reached the server, whose error is reported under it
    local server = out:match("== server(.-)result: [^\n]*")
    assert.is_not_nil(server, out)
    assert.equal(2, select(2, server:gsub("broken on purpose by a command from another driver", "")), out)
    assert.matches("OS 3.3.1   1 problem", server, 1, true)
    -- one JUnit file per driver
    local dir = S.scratch("ui_check_junit")
    out, code = S.cli("check fixtures/projects/hall.lua --junit " .. dir .. "/r.xml")
    assert.equal(0, code, out)
    assert.truthy(S.read_file(dir .. "/r-keypad.xml"))
    assert.truthy(S.read_file(dir .. "/r-light.xml"))
  end)
end)

describe("variables and events across drivers", function()
  it("RegisterVariableListener on another driver's variable: OnWatchedVariableChanged, next turn", function()
    local p = project()
    p:init()
    local keypad, light = p.drivers.keypad, p.drivers.light
    p:settle()
    assert.same({{110, 1001, "0"}}, keypad:eval("return WATCHED"))   -- the value at once
    assert.equal("0", keypad:eval("return C4:GetVariable(110, 1001)"))
    keypad:command("PRESS", {})
    p:settle()
    assert.same({110, 1001, "100"}, keypad:eval("return WATCHED[2]"))
    assert.equal("100", keypad:eval("return C4:GetDeviceVariable(110, 1001)"))
    assert.equal("100", keypad:eval("return C4:GetDeviceVariables(110)[1001].value"))
    -- SetDeviceVariable from the keypad is "from outside" for the light
    light:eval([[function OnVariableChanged(name) CHANGED = name end]])
    keypad:eval([[C4:SetDeviceVariable(110, 1001, "55")]])
    assert.equal("LEVEL", light:eval("return CHANGED"))
    assert.equal("55", light:eval("return Variables.LEVEL"))
  end)

  it("RegisterDeviceEvent on another driver's event: OnDeviceEvent when it fires", function()
    local p = project()
    p:init()
    p.drivers.keypad:command("PRESS", {})
    p:settle()
    assert.equal(1, p.drivers.keypad:eval("return EVENTS"))
    p.drivers.keypad:eval([[C4:UnregisterDeviceEvent(110, 1)]])
    p.drivers.keypad:command("PRESS", {})
    p:settle()
    assert.equal(1, p.drivers.keypad:eval("return EVENTS"))
  end)

  it("a driver that goes first leaves no listener behind in the others", function()
    local p = project()
    p:init()
    p.drivers.keypad:free()
    p.drivers.light:from_proxy(2, "TOGGLE", {})
    p.drivers.light:settle()
    assert.equal(100, p.drivers.light:eval("return LEVEL"))
  end)
end)
