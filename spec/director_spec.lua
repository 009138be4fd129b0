-- The Director a driver lives in (c4api/director/): the emulated project
-- (devices, rooms, proxies, controller), variables, events, device and
-- project facts, property attributes and UI, C4:ParseXml, and `c4emu check`
-- failing on APIs c4emu does not provide.
local c4emu = require "c4emu"
local S = require "support"

local open = S.loader(after_each)

local function director(opts)
  local d = open("director", opts)
  d:init()
  return d
end

describe("the project", function()
  it("has fixed defaults: device 100 named by driver.xml, its proxies 101.., room 5", function()
    local d = director()
    assert.equal(100, d:eval("return C4:GetDeviceID()"))
    assert.same({101, 102}, d:eval("return {C4:GetProxyDevices()}"))
    assert.equal(5, d:eval("return C4:RoomGetId()"))
    assert.equal("Pool Controller", d:eval("return C4:GetDeviceDisplayName(100)"))
    assert.equal("Living Room", d:eval("return C4:ListGetDeviceName(5)"))
    assert.equal("Pool Light", d:eval("return C4:ListGetDeviceName(102)"))
    assert.equal("127.0.0.1", d:eval("return C4:GetControllerNetworkAddress()"))
    assert.equal("127.0.0.1", d:eval("return C4:GetMyNetworkAddress()"))
    assert.equal("000FFF0C4E01", d:eval("return C4:GetUniqueMAC()"))
    assert.equal("director.c4z", d:eval("return C4:GetDriverFileName()"))
    local p = d:project()
    assert.equal("c4emu", p.controller.name)
    assert.equal(3, #p.devices)
    assert.is_true(p.devices[1].hosted)
    assert.equal("pool", p.devices[2].proxy)
    assert.equal(100, p.devices[3].parent)
  end)

  it("takes device=, controller= and devices= from c4emu.load", function()
    local d = director({
      device = {id = 42, name = "Spa", room = "Garden"},
      controller = {ip = "10.0.0.5", mac = "000FFF123456", name = "EA-5"},
      devices = {
        {id = 300, name = "Thermostat", room = "Garden", c4i = "thermostatV2.c4i", proxy = "thermostatV2",
         variables = {[1000] = "72", MODE = "HEAT"}},
        {name = "Kitchen Light", room = "Kitchen", c4i = "light_v2.c4i"},
      },
    })
    assert.equal(42, d:eval("return C4:GetDeviceID()"))
    assert.same({43, 44}, d:eval("return {C4:GetProxyDevices()}"))
    assert.equal("Garden", d:eval("return C4:ListGetDeviceName(C4:RoomGetId())"))
    assert.equal(5, d:eval("return C4:RoomGetId()"))
    assert.equal("10.0.0.5", d:eval("return C4:GetControllerNetworkAddress()"))
    assert.equal("000FFF123456", d:eval("return C4:GetUniqueMAC()"))
    assert.equal("72", d:eval("return C4:GetVariable(300, 1000)"))
    assert.equal("HEAT", d:eval("return C4:GetDeviceVariable(300, 1001)"))
    assert.same({[300] = "Thermostat"}, d:eval("return C4:GetDevicesByC4iName('thermostatV2.c4i')"))
    assert.same({[44] = "Pool Light", [200] = "Kitchen Light"},
                d:eval("return C4:GetDevicesByC4iName('light_v2.c4i')"))
    -- Rooms answer to roomdevice.c4i; the Kitchen got the next free id.
    assert.same({[5] = "Garden", [6] = "Kitchen"}, d:eval("return C4:GetDevicesByC4iName('roomdevice.c4i')"))
  end)

  it("takes --device-id, --device-name, --room, --controller-ip and --controller-mac on the CLI", function()
    local out, code = S.cli("run " .. S.folder("director") .. " --once --device-id 77 --device-name Spa"
                            .. " --room Den --controller-ip 10.1.2.3 --controller-mac 000FFF00AA11")
    assert.equal(0, code, out)
    assert.matches("device 77 'Spa' in Den at 10%.1%.2%.3 000FFF00AA11", out)
    out, code = S.cli("run " .. S.folder("director") .. " --once")
    assert.matches("device 100 'Pool Controller' in Living Room at 127%.0%.0%.1 000FFF0C4E01", out)
    out, code = S.cli("run " .. S.folder("director") .. " --device-id x")
    assert.equal(2, code)
    assert.matches("%-%-device%-id wants a positive integer, not 'x'", out)
    out, code = S.cli("check " .. S.folder("director") .. " --controller-ip nope")
    assert.equal(2, code)
    assert.matches("%-%-controller%-ip wants an IPv4 or IPv6 address", out)
  end)

  it("refuses malformed declarations with the field named", function()
    assert.matches("device.id must be a positive integer",
                   S.raised(c4emu.load, S.folder("director"), {device = {id = -1}}))
    assert.matches("devices%[1%] must be a table",
                   S.raised(c4emu.load, S.folder("director"), {devices = {"x"}}))
    assert.matches("controller.ip must be a string",
                   S.raised(c4emu.load, S.folder("director"), {controller = {ip = {}}}))
    assert.matches("devices%[1%].variables: names and values",
                   S.raised(c4emu.load, S.folder("director"), {devices = {{variables = {X = {}}}}}))
  end)

  it("gives another id to a device that declares one twice, and says so", function()
    local d = director({devices = {{id = 100, name = "Clash"}}})
    assert.equal("Pool Controller", d:eval("return C4:ListGetDeviceName(100)"))
    assert.equal("Clash", d:eval("return C4:ListGetDeviceName(1000)"))
    assert.truthy(d:logged("id 100 is used twice"))
    -- The driver's own id clashing with its room's: the driver moves.
    local e = director({device = {id = 5}})
    assert.equal(1000, e:eval("return C4:GetDeviceID()"))
    assert.same({1001, 1002}, e:eval("return {C4:GetProxyDevices()}"))
  end)
end)

describe("variables", function()
  it("a driver that adds 20 variables and fires events on commands", function()
    local d = director()
    local vars = d:variables()
    for i = 1, 20 do
      local v = vars["VAR_" .. i]
      assert.same({id = 1000 + i, value = tostring(i * 10), type = "NUMBER", readonly = false, hidden = false}, v)
    end
    assert.same({id = 1022, value = "idle", type = "STRING", readonly = true, hidden = false}, vars.STATUS)
    assert.is_true(vars.SECRET.hidden)
    d:advance(1500)
    d:command("PUMP_ON")
    d:advance(250)
    d:command("PUMP_OFF")
    assert.equal("0", d:variables().PUMP.value)
    assert.same({{id = 1, name = "Pump On", device = 100, time = 1500},
                 {id = 2, name = "Pump Off", device = 100, time = 1750}}, d:events())
  end)

  it("a lookup that finds nothing returns one nil, so tonumber()/tostring() of it do not raise", function()
    local d = director()
    assert.same({1, "nil", "nil"}, d:eval([[local n = select("#", C4:GetVariable(C4:GetDeviceID(), 4242))
      return {n, tostring(C4:GetVariable(C4:GetDeviceID(), 4242)), tostring(tonumber(C4:GetDeviceVariable(987654, 1000)))}]]))
    assert.same({1, 1, 1, 1, 1, 1}, d:eval([[return {select("#", C4:GetDeviceVariables(987654)),
      select("#", C4:GetDriverConfigInfo("no_such_tag")), select("#", C4:GetCapability("no_such_cap")),
      select("#", C4:GetDeviceData(987654)), select("#", C4:GetDeviceData(C4:GetDeviceID(), "no_such_tag")),
      select("#", C4:SetTimer(1000, function() end):Cancel())}]]))
  end)

  it("AddVariable returns true, id; ids from 1001 skip taken ones; duplicates give false", function()
    local d = director()
    local r = d:eval([[
      local out = {}
      out[1] = {C4:AddVariable(1500, "Foo", "STRING")}
      out[2] = {C4:AddVariable("NEW", "Baz", "STRING")}
      out[3] = {C4:AddVariable("NEW", "again", "STRING")}
      out[4] = {C4:AddVariable(1500, "again", "STRING")}
      out[5] = {C4:AddVariable("1500", "x", "STRING")}
      out[6] = {C4:AddVariable("T", "x", "NOT_A_TYPE")}
      return out]])
    assert.same({true, 1500}, r[1])
    assert.same({true, 1024}, r[2])   -- 1001..1023 are the fixture's
    assert.same({false}, r[3])
    assert.same({false}, r[4])
    assert.same({false}, r[5])        -- the name "1500" is taken by id 1500
    assert.same({false}, r[6])
    assert.truthy(d:logged("'NOT_A_TYPE' is not a variable type"))
    assert.equal("Foo", d:eval("return Variables['1500']"))
  end)

  it("mirrors values in Variables; SetVariable does not call OnVariableChanged", function()
    local d = director()
    assert.equal("10", d:eval("return Variables.VAR_1"))
    d:eval("C4:SetVariable('VAR_1', 99); C4:SetVariable(1002, true)")
    assert.equal("99", d:eval("return Variables.VAR_1"))
    assert.equal("1", d:variables().VAR_2.value)
    assert.same({}, d:eval("return CHANGED"))
    d:eval("C4:DeleteVariable('VAR_3')")
    assert.is_nil(d:variables().VAR_3)
    assert.is_nil(d:eval("return Variables.VAR_3"))
    d:eval("C4:SetVariable('NOPE', 'x')")
    assert.truthy(d:logged("the driver has no variable 'NOPE'"))
  end)

  it("d:set_variable sets as programming would: OnVariableChanged; read-only refused", function()
    local d = director()
    d:set_variable("VAR_4", "7")
    d:set_variable(1005, 8)
    assert.same({"VAR_4=7", "VAR_5=8"}, d:eval("return CHANGED"))
    assert.matches("variable 'STATUS' is read%-only", S.raised(d.set_variable, d, "STATUS", "x"))
    assert.equal("idle", d:variables().STATUS.value)
    assert.matches("no variable 'NOPE'", S.raised(d.set_variable, d, "NOPE", "x"))
    -- The driver itself may set its read-only variable.
    d:eval("C4:SetVariable('STATUS', 'busy')")
    assert.equal("busy", d:variables().STATUS.value)
  end)

  it("reads other devices' variables; unknown ids give nil", function()
    local d = director({devices = {{id = 300, variables = {[1000] = "72"}}, {id = 301}}})
    assert.same({[1000] = {name = "1000", value = "72"}}, d:eval("return C4:GetDeviceVariables(300)"))
    assert.same({}, d:eval("return C4:GetDeviceVariables(301)"))
    assert.is_nil(d:eval("return C4:GetDeviceVariables(999)"))
    assert.is_nil(d:eval("return C4:GetVariable(300, 1)"))
    assert.is_nil(d:eval("return C4:GetVariable(999, 1000)"))
    assert.equal("10", d:eval("return C4:GetVariable(100, 1001)"))
    d:eval("C4:SetDeviceVariable(300, 1000, 68)")
    assert.equal("68", d:device_variable(300, 1000))
    -- Through SetDeviceVariable on its own device the driver changes its own
    -- variable: no OnVariableChanged, and read-only does not stop it.
    d:eval("C4:SetDeviceVariable(100, 1022, 'own')")
    assert.equal("own", d:variables().STATUS.value)
    assert.same({}, d:eval("return CHANGED"))
    -- d:set_device_variable on the hosted driver is programming: the callback runs.
    d:set_device_variable(100, 1001, "5")
    assert.same({"VAR_1=5"}, d:eval("return CHANGED"))
    assert.matches("read%-only", S.raised(d.set_device_variable, d, 100, 1022, "x"))
    assert.matches("no device 999", S.raised(d.set_device_variable, d, 999, 1, "x"))
  end)

  it("listeners get the value at once (next turn) and on every change", function()
    local d = director({devices = {{id = 300, variables = {[1000] = "72"}}}})
    d:command("WATCH", {DEVICE = "300", VAR = "1000"})
    assert.same({}, d:eval("return WATCHED"))  -- a message: not inside the call
    d:advance(0)
    assert.same({"300/1000=72"}, d:eval("return WATCHED"))
    d:set_device_variable(300, 1000, "70")
    d:advance(0)
    assert.same({"300/1000=72", "300/1000=70"}, d:eval("return WATCHED"))
    d:command("UNWATCH", {DEVICE = "300", VAR = "1000"})
    d:set_device_variable(300, 1000, "65")
    d:advance(0)
    assert.equal(2, #d:eval("return WATCHED"))
    d:command("WATCH", {DEVICE = "300", VAR = "9"})
    assert.truthy(d:logged("device 300 has no variable 9"))
    d:command("WATCH", {DEVICE = "300", VAR = "1000"})
    d:eval("C4:UnregisterAllVariableListeners()")
    d:set_device_variable(300, 1000, "60")
    d:advance(0)
    assert.equal("300/1000=65", d:eval("return WATCHED[#WATCHED]"))  -- the value at registration
  end)

  it("listeners hear the driver's own SetVariable too", function()
    local d = director()
    d:command("WATCH", {DEVICE = "100", VAR = "1001"})
    d:eval("C4:SetVariable('VAR_1', 'new')")
    d:advance(0)
    assert.same({"100/1001=10", "100/1001=new"}, d:eval("return WATCHED"))
  end)

  -- s4-fixes: the pages say both callbacks run when a variable changes value.
  it("the same value is no change: no OnWatchedVariableChanged, no OnVariableChanged", function()
    local d = director({devices = {{id = 300, variables = {[1000] = "72"}}}})
    -- a driver that watches its own variable and sets it from the callback
    d:eval([[SEEN = {}
      function OnWatchedVariableChanged(dev, var, value)
        SEEN[#SEEN + 1] = dev .. "/" .. var .. "=" .. value
        if dev == 100 then C4:SetVariable("VAR_1", "on") end
      end
      C4:RegisterVariableListener(100, 1001)
      C4:RegisterVariableListener(300, 1000)]])
    d:settle(3000)
    assert.same({"100/1001=10", "300/1000=72", "100/1001=on"}, d:eval("return SEEN"))
    d:set_device_variable(300, 1000, "72")
    d:eval("C4:SetVariable('VAR_1', 'on')")
    d:settle(3000)
    assert.equal(3, #d:eval("return SEEN"))
    d:set_variable("VAR_2", "20")            -- programming, the value it has
    assert.same({}, d:eval("return CHANGED"))
    d:set_variable("VAR_2", "21")
    assert.same({"VAR_2=21"}, d:eval("return CHANGED"))
  end)

  it("raises in Lua's words on wrong argument types", function()
    local d = director()
    assert.matches("bad argument #1 to 'AddVariable'", S.raised(d.eval, d, "C4:AddVariable({}, 'x', 'STRING')"))
    assert.matches("bad argument #3 to 'AddVariable' %(string expected, got no value%)",
                   S.raised(d.eval, d, "C4:AddVariable('A', 'x')"))
    assert.matches("bad argument #2 to 'SetVariable'", S.raised(d.eval, d, "C4:SetVariable('VAR_1', {})"))
    assert.matches("bad argument #1 to 'GetVariable' %(id must be a positive integer%)",
                   S.raised(d.eval, d, "C4:GetVariable(-1, 2)"))
    assert.matches("bad argument #2 to 'RegisterVariableListener'",
                   S.raised(d.eval, d, "C4:RegisterVariableListener(1, 'x')"))
  end)
end)

describe("events", function()
  it("fires driver.xml and added events; an unknown event warns and fires nothing", function()
    local d = director()
    d:command("DYNAMIC")
    d:command("BOGUS")
    assert.same({{id = 3, name = "Dynamic", device = 100, time = 0}}, d:events())
    assert.truthy(d:logged('no event "No Such Event"'))
    assert.is_true(d:eval("return C4:AddEvent(3, 'Renamed', 'x')"))
    d:eval("C4:FireEventByID(3); C4:DeleteEvent(3); C4:FireEventByID(3)")
    assert.equal("Renamed", d:events()[2].name)
    assert.equal(2, #d:events())
    assert.truthy(d:logged("no event 3"))
  end)

  it("delivers system events to drivers that registered", function()
    local d = director()
    assert.equal(6, d:eval("return C4SystemEvents.OnPIP"))
    assert.equal(0, d:system_event("OnPIP", "before"))
    d:command("SYSTEM")
    assert.equal(1, d:system_event("OnPIP", "refresh"))
    assert.equal(0, d:system_event("OnDeviceOnline", "x"))
    assert.same({"refresh"}, d:eval("return SYSTEM"))
    d:eval("C4:UnregisterAllSystemEvents()")
    assert.equal(0, d:system_event(6, "again"))
    assert.matches("not in C4SystemEvents", S.raised(d.system_event, d, "OnNothing"))
  end)

  it("delivers device events to drivers that registered", function()
    local d = director({devices = {{id = 300}}})
    d:command("DEVICE_EVENTS", {DEVICE = "300", EVENT = "4"})
    assert.equal(1, d:device_event(300, 4))
    assert.equal(0, d:device_event(300, 5))
    assert.same({"300:4"}, d:eval("return DEVICE_EVENTS"))
    -- A driver registered on the firing device hears FireEvent.
    d:command("DEVICE_EVENTS", {DEVICE = "100", EVENT = "1"})
    d:command("PUMP_ON")
    d:command("PUMP_OFF")
    assert.same({"300:4", "100:1"}, d:eval("return DEVICE_EVENTS"))
  end)

  it("unregisters one system or device event, or all of them", function()
    local d = director({devices = {{id = 300}}})
    d:eval([[C4:RegisterSystemEvent(6, 0); C4:RegisterSystemEvent(48, 300)
             C4:RegisterDeviceEvent(300, 1); C4:RegisterDeviceEvent(300, 2)]])
    assert.equal(1, d:system_event("OnDeviceOnline", "on", 300))
    assert.equal(0, d:system_event("OnDeviceOnline", "on", 301))  -- registered for 300 only
    d:eval("C4:UnregisterSystemEvent(6, 0)")
    assert.equal(0, d:system_event("OnPIP"))
    assert.equal(1, d:system_event(48))
    d:eval("C4:UnregisterDeviceEvent(300, 1)")
    assert.equal(0, d:device_event(300, 1))
    assert.equal(1, d:device_event(300, 2))
    d:eval("C4:UnregisterAllDeviceEvents()")
    assert.equal(0, d:device_event(300, 2))
  end)

  it("is missing before OS 2.8.0, as the version table says", function()
    local d = director({os = "2.5.0"})
    assert.is_nil(d:eval("return C4.FireEvent"))
    assert.is_nil(d:eval("return C4.RegisterDeviceEvent"))
    assert.equal("function", d:eval("return type(C4.AddVariable)"))
    assert.is_nil(d:eval("return C4.UpdatePropertyList"))  -- 2.7.0
    assert.is_nil(d:eval("return C4.GetDevices"))          -- 2.10.0
    assert.is_nil(d:eval("return C4.SendUIRequest"))       -- 2.9.0
  end)
end)

describe("device and project facts", function()
  it("GetDeviceData gives the XML inside <devicedata>, or inside a tag two levels down", function()
    local d = director()
    assert.equal("7", d:eval("return C4:GetDeviceData(100, 'version')"))
    assert.equal("Off,On", d:eval("return C4:GetDeviceData(100, 'pool_pumpmodes')"))
    assert.equal("<pool_pumpmodes>Off,On</pool_pumpmodes><temp_max>104</temp_max>",
                 d:eval("return C4:GetDeviceData(100, 'capabilities')"))
    assert.matches("^<copyright>c4emu fixture</copyright>", d:eval("return C4:GetDeviceData(100)"))
    assert.is_nil(d:eval("return C4:GetDeviceData(100, 'nothing')"))
    assert.is_nil(d:eval("return C4:GetDeviceData(999)"))
  end)

  it("GetDevices lists devices with rooms, proxies and protocols; filters by names, ids, locations", function()
    local d = director({devices = {{id = 300, name = "Lamp", room = "Kitchen", c4i = "light_v2.c4i"}}})
    local all = d:eval("return C4:GetDevices()")
    assert.same({driverFileName = "director.c4z", deviceName = "Pool Controller", roomId = "5",
                 roomName = "Living Room",
                 proxies = {[101] = {driverFileName = "pool.c4i", deviceName = "Pool"},
                            [102] = {driverFileName = "light_v2.c4i", deviceName = "Pool Light"}}}, all[100])
    assert.same({[100] = {driverFileName = "director.c4z", deviceName = "Pool Controller"}}, all[102].protocol)
    local lights = d:eval("return C4:GetDevices({C4iNames = 'LIGHT_V2.c4i, other.c4i'})")
    assert.truthy(lights[102] and lights[300])
    assert.is_nil(lights[100])
    local byid = d:eval("return C4:GetDevices({DeviceIds = '300,101'})")
    assert.truthy(byid[300] and byid[101])
    local kitchen = d:eval("return C4:GetDevices({}, '6')")
    assert.truthy(kitchen[300])
    assert.is_nil(kitchen[100])
    assert.same({}, d:eval("return C4:GetDevices({DeviceIds = '999'})"))
    assert.truthy(d:eval("return C4:GetDevices({}, '4')")[100]) -- the floor holds every room
    assert.matches("bad argument #1 to 'GetDevices' %(C4iNames must be a comma%-separated string",
                   S.raised(d.eval, d, "C4:GetDevices({C4iNames = {}})"))
  end)

  it("GetProxyDevicesById / ByName and GetDevicesByC4iName", function()
    local d = director()
    assert.same({101, 102}, d:eval("return {C4:GetProxyDevicesById(100)}"))
    assert.same({}, d:eval("return {C4:GetProxyDevicesById(999)}"))
    assert.same({[102] = "Pool Light"}, d:eval("return C4:GetProxyDevicesByName('light_v2')"))
    assert.is_nil(d:eval("return C4:GetProxyDevicesByName('nothing.c4i')"))
    assert.same({[100] = "Pool Controller"}, d:eval("return C4:GetDevicesByC4iName(C4:GetDriverFileName())"))
    assert.is_nil(d:eval("return C4:ListGetDeviceName(999)"))
  end)

  it("name lookups answer nil for a number no device can have (typed ids become -1)", function()
    local d = c4emu.load(S.folder("name_lookup"))
    d:init()
    assert.equal("not found", d:property("Watched Name"))   -- "" → -1
    d:set_property("Watched Device", "100")
    assert.equal("Name Lookup", d:property("Watched Name"))
    for _, typed in ipairs({"0", "-5", "2.5", "kitchen", "999"}) do
      d:set_property("Watched Device", typed)
      assert.equal("not found", d:property("Watched Name"))
    end
    assert.same({}, d:errors())
    assert.equal(1, d:eval("return select('#', C4:GetDeviceDisplayName(-1))"))
    assert.is_nil(d:eval("return C4:ListGetDeviceName(0)"))
    assert.matches("bad argument #1 to 'GetDeviceDisplayName' %(number expected, got table%)",
                   S.raised(d.eval, d, "C4:GetDeviceDisplayName({})"))
    d:destroy()
  end)

  it("GetProjectItems gives the project as XML that ParseXml reads back", function()
    local d = director()
    local rooms = d:eval([[
      local tree = C4:ParseXml(C4:GetProjectItems())
      local found = {}
      local function walk(n)
        if n.Name == "item" then
          local kind, name
          for _, c in ipairs(n.ChildNodes) do
            if c.Name == "type" then kind = c.Value elseif c.Name == "name" then name = c.Value end
          end
          found[#found + 1] = kind .. ":" .. name
        end
        for _, c in ipairs(n.ChildNodes) do walk(c) end
      end
      walk(tree)
      return {tree.Name, found}]])
    assert.equal("systemitems", rooms[1])
    assert.same({"1:Project", "2:Site", "3:Building", "4:Main Floor", "8:Living Room",
                 "6:Pool Controller", "7:Pool", "7:Pool Light"}, rooms[2])
    local locs = d:eval("return C4:GetProjectItems('LOCATIONS', 'LIMIT_DEVICE_DATA', 'NO_ROOT_TAGS')")
    assert.matches("^<item><id>1</id>", locs)
    assert.is_nil(locs:find("Pool Controller", 1, true))
    local devs = d:eval("return C4:GetProjectItems('DEVICES', 'PROXIES')")
    assert.matches("^<systemitems><item><id>100</id>", devs)
    assert.matches("<config_data_file>director.c4z</config_data_file>", devs)
  end)

  it("lets a driver build its address before CreateServer, and serves", function()
    local d = open("director_server", {controller = {ip = "127.0.0.1"}})
    d:init()
    d:run_until(function() return d:eval("return URL") ~= nil end, 3000)
    local url = d:eval("return URL")
    assert.matches("^http://127%.0%.0%.1:%d+/$", url)
    local c = d:connect(tonumber(url:match(":(%d+)/")))
    c:send("hi\n")
    assert.equal("at 127.0.0.1: hi\n", c:receive_until("\n"))
    c:close()
  end)
end)

describe("properties and UI", function()
  it("SetPropertyAttribs hides and shows; unknown properties warn", function()
    local d = director()
    assert.is_false(d:property_attribs("Label").hidden)
    d:eval("C4:SetPropertyAttribs('Label', 1)")
    assert.is_true(d:property_attribs("Label").hidden)
    d:eval("C4:SetPropertyAttribs('Label', 0)")
    assert.is_false(d:property_attribs("Label").hidden)
    d:eval("C4:SetPropertyAttribs('Nope', 1)")
    assert.truthy(d:logged('declares no property "Nope"'))
    assert.is_nil(d:property_attribs("Nope"))
  end)

  it("UpdatePropertyList changes LIST / DYNAMIC_LIST lists, and only those", function()
    local d = director()
    assert.equal("Low,High", d:property_attribs("Speed").list)
    d:eval("C4:UpdatePropertyList('Mode', 'Auto,Manual,Off', 'Manual')")
    assert.same({hidden = false, type = "DYNAMIC_LIST", list = "Auto,Manual,Off"}, d:property_attribs("Mode"))
    assert.equal("Manual", d:property("Mode"))
    d:eval("C4:UpdatePropertyList('Mode', 'A,B', 'C')")
    assert.equal("A,B", d:property_attribs("Mode").list)
    assert.equal("Manual", d:property("Mode"))
    assert.truthy(d:logged('"C" is not in the new list of "Mode"'))
    d:eval("C4:UpdatePropertyList('Label', 'x,y', 'x')")
    assert.truthy(d:logged('property "Label" is STRING, not a LIST or DYNAMIC_LIST'))
    assert.equal("pool", d:property("Label"))
  end)

  it("records SendDataToUI and answers SendUIRequest from UIRequest", function()
    local d = director()
    d:eval("C4:SendDataToUI('<x>1</x>'); C4:SendDataToUI('CMD', {B = 2, A = 'one'})")
    assert.same({"<x>1</x>", "CMD A=one B=2"}, d:ui_sent())
    assert.equal("<speed>3</speed>", d:eval("return C4:SendUIRequest(101, 'GET_SPEED', {FACTOR = 3})"))
    assert.equal("", d:eval("return C4:SendUIRequest(999, 'GET_SPEED', {})"))
    assert.matches("bad argument #3 to 'SendUIRequest'", S.raised(d.eval, d, "C4:SendUIRequest(101, 'X')"))
  end)

  it("d:ui_request and d:test_condition call the entry points", function()
    local d = director()
    assert.equal("<speed>5</speed>", d:ui_request("GET_SPEED", {FACTOR = "5"}))
    assert.is_false(d:test_condition("PUMP_IS_ON"))
    d:command("PUMP_ON")
    assert.is_true(d:test_condition("PUMP_IS_ON", {}))
    local m = open("minimal")
    m:init()
    assert.matches("no UIRequest function", S.raised(m.ui_request, m, "X"))
  end)
end)

describe("C4:ParseXml", function()
  it("gives {Name, Attributes, ChildNodes, Value}", function()
    local d = director()
    local t = d:eval([[return C4:ParseXml('<args>\n  <arg name="A">1 &amp; 2</arg><arg name="B"> x </arg>\n</args>')]])
    assert.same({Name = "args", Attributes = {}, Value = "", ChildNodes = {
      {Name = "arg", Attributes = {name = "A"}, ChildNodes = {}, Value = "1 & 2"},
      {Name = "arg", Attributes = {name = "B"}, ChildNodes = {}, Value = " x "},
    }}, t)
  end)

  it("returns nil and the reason for bad XML, and never crashes", function()
    local d = director()
    local r = d:eval("return {C4:ParseXml('<a><b></a>')}")
    assert.is_nil(r[1])
    assert.matches("^ParseXml: line 1, column 9: mismatched tag", r[2])
    assert.is_nil(d:eval("return C4:ParseXml('')"))
    local deep = string.rep("<a>", 300) .. string.rep("</a>", 300)
    assert.matches("nested deeper than 256", d:eval("return select(2, C4:ParseXml(...))", deep))
    assert.matches("bad argument #1 to 'ParseXml'", S.raised(d.eval, d, "C4:ParseXml()"))
    -- Entity expansion ("billion laughs") is refused, not expanded.
    local bomb = '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaa">'
    local prev = "a"
    for i = 1, 9 do
      local name = "e" .. i
      bomb = bomb .. '<!ENTITY ' .. name .. ' "' .. string.rep("&" .. prev .. ";", 10) .. '">'
      prev = name
    end
    bomb = bomb .. ']><l>&' .. prev .. ';</l>'
    local r2 = d:eval("return {C4:ParseXml(...)}", bomb)
    assert.is_nil(r2[1])
    assert.matches("^ParseXml: line", r2[2])
  end)
end)

describe("c4emu check and APIs c4emu does not provide", function()
  it("fails with not-provided, naming the API and the count of reads", function()
    local out, code = S.cli("check " .. S.folder("not_provided") .. " --os 4.0.0 --junit "
                            .. S.build .. "/not_provided.xml")
    assert.equal(1, code, out)
    assert.matches("not%-provided C4:MediaGetAllAlbums is not provided by c4emu", out)
    assert.matches("read 3 times", out)
    local f = assert(io.open(S.build .. "/not_provided.xml"))
    local xml = f:read("*a")
    f:close()
    assert.matches('failures="1"', xml)
    assert.matches("not%-provided: C4:MediaGetAllAlbums", xml)
  end)

  it("shows the note in d:notes() with its count", function()
    local d = open("not_provided")
    d:init()
    local notes = d:notes()
    assert.equal(1, #notes)
    assert.same({kind = "not-provided", level = "error", count = 3,
                 text = "C4:MediaGetAllAlbums is not provided by c4emu (not emulated, or not a DriverWorks API): it reads as nil"},
                notes[1])
  end)

  it("keeps missing-api for APIs the chosen OS lacks", function()
    local d = director({os = "2.8.0"})
    d:eval("return C4.GetDevices")
    assert.equal("missing-api", d:notes()[1].kind)
  end)
end)
