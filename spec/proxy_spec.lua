-- Proxies and bindings (c4api/director/c4_proxy.c, c4_bindings.c):
-- C4:SendToProxy and its record, ReceivedFromProxy from a spec, bindings from
-- driver.xml and at run time, OnBindingChanged, GetBound*, GetBindingsByDevice.
local S = require "support"

local open = S.loader(after_each)

local function light(opts)
  local d = open("proxy_light", opts or {devices = {{id = 300, name = "Relay Pack"}}})
  d:init()
  return d
end

describe("C4:SendToProxy", function()
  it("records every message with binding, command, params, kind and time, in order", function()
    local d = light()
    d:advance(250)
    assert.equal("handled ON", d:from_proxy(5001, "ON", {}))
    local m = d:proxy_messages()
    assert.equal(2, #m)
    assert.same({binding = 1, command = "CLOSE", params = {}, kind = "COMMAND", time = 250}, m[1])
    assert.same({binding = 5001, command = "LIGHT_LEVEL_CHANGED", params = {LEVEL = "100"},
                 kind = "NOTIFY", time = 250}, m[2])
    assert.same({m[2]}, d:proxy_messages(5001))
    assert.same({}, d:proxy_messages(7))
  end)

  it("passes the proxy's params to ReceivedFromProxy", function()
    local d = light()
    d:from_proxy(5001, "SET_LEVEL", {LEVEL = "40"})
    assert.equal(40, d:eval("return LEVEL"))
    assert.same({LEVEL = "40"}, d:proxy_messages(5001)[1].params)
  end)

  it("takes the kind from the 4th argument, and the (id, cmd, strParam) form", function()
    local d = light()
    d:eval([[C4:SendToProxy(5001, "DISPLAY_TEXT", "<text>ARMED</text>")
             C4:SendToProxy(5001, "X", {}, "COMMAND")
             C4:SendToProxy(1, "Y", {}, "notify")
             C4:SendToProxy(5001, "Z", 213, "NOTIFY")]])
    local m = d:proxy_messages()
    assert.same({"<text>ARMED</text>", "NOTIFY"}, {m[1].params, m[1].kind})
    assert.equal("COMMAND", m[2].kind)
    assert.equal("NOTIFY", m[3].kind)
    assert.equal("213", m[4].params)
  end)

  it("drops empty values unless allowEmptyValues, and sends numbers and booleans as strings", function()
    local d = light()
    d:eval([[C4:SendToProxy(5001, "A", {MODES = "", N = 3, B = true})
             C4:SendToProxy(5001, "B", {MODES = ""}, "NOTIFY", true)]])
    local m = d:proxy_messages()
    assert.same({N = "3", B = "true"}, m[1].params)
    assert.same({MODES = ""}, m[2].params)
  end)

  -- s4-fixes: the page's string examples, "" paired with allowEmptyValues.
  it("the string form: an empty string is sent only with allowEmptyValues, as an empty value", function()
    local d = light()
    d:eval([[C4:SendToProxy(5001, "ALLOWED_FAN_MODES_CHANGED", "", "NOTIFY", true)
             C4:SendToProxy(5001, "ALLOWED_FAN_MODES_CHANGED", "", "NOTIFY")
             C4:SendToProxy(1, "SERIAL_DATA", "SGVsbG8=", "NOTIFY")]])
    local m = d:proxy_messages()
    assert.same({"", "NOTIFY"}, {m[1].params, m[1].kind})
    assert.same({}, m[2].params)
    assert.same({"SGVsbG8=", "NOTIFY"}, {m[3].params, m[3].kind})
  end)

  it("refuses a missing params table and a bad kind, naming the argument", function()
    local d = light()
    local err = S.raised(d.eval, d, [[C4:SendToProxy(5001, "ON")]])
    assert.matches("table expected, got no value", err)
    assert.matches("SendToProxy", err)
    err = S.raised(d.eval, d, [[C4:SendToProxy(5001, "ON", {}, "LOUD")]])
    assert.matches('"COMMAND" or "NOTIFY"', err)
    assert.matches("bad argument", S.raised(d.eval, d, [[C4:SendToProxy("x", "ON", {})]]))
    assert.same({}, d:proxy_messages())
  end)

  it("warns once, naming it, about a binding driver.xml does not declare (and still sends)", function()
    local d = light()
    d:eval([[C4:SendToProxy(5009, "A", {}) C4:SendToProxy(5009, "B", {})]])
    assert.equal(2, #d:proxy_messages(5009))
    assert.truthy(d:logged("SendToProxy: binding 5009 is not declared"))
    local n = 0
    for _, l in ipairs(d:logs()) do
      if l.text:find("binding 5009 is not declared", 1, true) then n = n + 1 end
    end
    assert.equal(1, n)
  end)

  it("is discouraged in OnDriverInit (init rule)", function()
    local d = open("proxy_light")
    d:eval([[function OnDriverInit() C4:SendToProxy(5001, "A", {}) end]])
    d:init()
    local found = false
    for _, n in ipairs(d:notes()) do
      if n.text:find("SendToProxy") then found = true end
    end
    assert.is_true(found)
  end)
end)

describe("C4:SendToDevice", function()
  it("to the driver's room records the command without an unknown-device warning", function()
    local d = open("room_command")
    d:init()
    d:settle()
    local room = d:eval("return C4:RoomGetId()")
    local m = d:device_messages()
    assert.equal(1, #m)
    assert.same({room, "SET_DEVICE_HIDDEN_STATE"}, {m[1].device, m[1].command})
    assert.equal("OrderedWatchList", m[1].params.PROXY_GROUP)
    assert.is_falsy((d:logged("is not in the project", "WARN")))
    d:eval("C4:SendToDevice(987654, 'X', {})")
    assert.truthy(d:logged("device 987654 is not in the project", "WARN"))
  end)
end)

describe("bindings", function()
  it("come from driver.xml <connections> and <proxies>; the proxy is bound on 5001", function()
    local d = light()
    local b = d:bindings()
    assert.equal(3, #b)
    assert.same({id = 5001, name = "LIGHT", class = "LIGHT_V2", type = 2, provider = true,
                 dynamic = false, hidden = false, bound = {{device = 101, binding = 5001}}}, b[1])
    assert.same({1, "RELAY", false, true}, {b[2].id, b[2].class, b[2].provider, #b[2].bound == 0})
    assert.same({[101] = "Hall Light"}, d:eval("return C4:GetBoundConsumerDevices(0, 5001)"))
    assert.equal(100, d:eval("return C4:GetBoundProviderDevice(101, 5001)"))
    assert.equal(0, d:eval("return C4:GetBoundProviderDevice(0, 1)"))
    assert.is_nil(d:eval("return C4:GetBoundConsumerDevices(0, 2)"))
  end)

  it("d:bind and d:unbind fire OnBindingChanged(id, class, bound, device, binding)", function()
    local d = light()
    d:bind(1, 300, 7)
    assert.equal(300, d:eval("return C4:GetBoundProviderDevice(0, 1)"))
    assert.equal(300, d:eval("return C4:GetBoundProviderDevice(101, 1)"))
    d:unbind(1, 300, 7)
    assert.equal(0, d:eval("return C4:GetBoundProviderDevice(0, 1)"))
    assert.same({{1, "RELAY", true, 300, 7}, {1, "RELAY", false, 300, 7}}, d:eval("return BINDINGS"))
    -- a provider binding takes several consumers
    d:bind(2, 300, 11)
    d:bind(2, 101, 12)
    assert.same({[300] = "Relay Pack", [101] = "Hall Light"},
                d:eval("return C4:GetBoundConsumerDevices(0, 2)"))
  end)

  it("refuses a binding between ids that do not exist, and a consumer bound twice", function()
    local d = light()
    assert.matches("binding 77 is not declared", S.raised(d.bind, d, 77, 300, 1))
    assert.matches("device 999 is not in the project", S.raised(d.bind, d, 1, 999, 1))
    d:bind(1, 300, 7)
    assert.matches("already bound", S.raised(d.bind, d, 1, 300, 8))
    assert.matches("is not bound", S.raised(d.unbind, d, 1, 300, 8))
  end)

  it("AddDynamicBinding and RemoveDynamicBinding change them at run time", function()
    local d = light()
    d:eval([[C4:AddDynamicBinding(301, "CONTROL", false, "Zone 1", "CONTACT_SENSOR", false, false)]])
    local b = d:bindings()
    assert.same({301, "Zone 1", "CONTACT_SENSOR", false, true, 1}, {b[4].id, b[4].name, b[4].class,
                b[4].provider, b[4].dynamic, b[4].type})
    d:bind(301, 300, 1)
    d:eval([[C4:RemoveDynamicBinding(301)]])
    assert.equal(3, #d:bindings())
    assert.same({301, "CONTACT_SENSOR", false, 300, 1}, d:eval("return BINDINGS[2]"))
    -- a driver.xml binding is not replaced; an unknown one to remove warns
    d:eval([[C4:AddDynamicBinding(1, "CONTROL", true, "X", "Y") C4:RemoveDynamicBinding(1)
             C4:RemoveDynamicBinding(999)]])
    assert.truthy(d:logged("binding 1 is declared in driver.xml"))
    assert.truthy(d:logged("RemoveDynamicBinding: 999 is not a dynamic binding"))
    assert.equal("Relay", d:bindings()[2].name)
    assert.matches('"CONTROL" or "PROXY"',
                   S.raised(d.eval, d, [[C4:AddDynamicBinding(5, "AV", true, "n", "c")]]))
  end)

  it("GetBindingsByDevice lists a device's bindings with their connections", function()
    local d = light()
    d:bind(1, 300, 7)
    local t = d:eval("return C4:GetBindingsByDevice(0)")
    assert.equal(100, t.deviceid)
    assert.equal(3, #t.bindings)
    local relay = t.bindings[2]
    assert.same({1, "Relay", false, "RELAY"}, {relay.bindingid, relay.name, relay.provider,
                relay.bindingclasses[1].class})
    assert.same({{deviceid = 300, bindingid = 7}}, relay.connections)
    assert.is_nil(d:eval("return C4:GetBindingsByDevice(12345)"))
  end)
end)

describe("the console's :proxy", function()
  it("calls ReceivedFromProxy(binding, command, {KEY = value}) as the proxy would", function()
    local p = io.popen("(printf ':proxy 5001 SET_LEVEL LEVEL=40\\n= LEVEL\\n:proxy nope\\n'; sleep 1) | " ..
      "timeout -s TERM 2 script -qfec '" .. S.build .. "/c4emu run " .. S.folder("proxy_light") ..
      "' /dev/null 2>&1")
    local out = p:read("*a"):gsub("\27%[[%d;]*m", "")
    p:close()
    assert.matches("lua> = LEVEL[^\n]*\n[^\n]*40", out)   -- the console prints results on stdout
    assert.matches("console: :proxy BINDING COMMAND", out)
  end)
end)


-- In the web console's State view (its own spec file, so that web_support's
-- luv is required from a second spec file: spec/web_support.lua pins it).
describe("the web console's State view", function()
  it("lists the driver's bindings and what they are bound to", function()
    local W = require "web_support"
    local cjson = require "cjson"
    local c = W.start(S.folder("proxy_light"))
    local s = W.websocket(c.port, c.token)
    local rows
    W.run_until(function()
      for _, text in ipairs(W.take_messages(s)) do
        local m = cjson.decode(text)
        for _, sec in ipairs(m.t == "state" and m.sections or {}) do
          if sec.name == "bindings" then rows = sec.rows end
        end
      end
      return rows
    end, 20000, "the bindings section")
    s.close()
    assert.equal(0, (c.stop()))
    assert.same({id = 5001, name = "LIGHT", class = "LIGHT_V2", role = "provider", bound = "101:5001"}, rows[1])
    assert.same({id = 1, name = "Relay", class = "RELAY", role = "consumer", bound = ""}, rows[2])
  end)
end)
