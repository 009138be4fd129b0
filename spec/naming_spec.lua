-- Devices by name (c4api/director/c4_naming.c): C4:RenameDevice changes the
-- project model that every other call reads; C4:GetDevicesByName finds ids.
local S = require "support"

local open = S.loader(after_each)

describe("C4:RenameDevice", function()
  it("renames in the project: display name, GetDeviceData name, GetProjectItems, d:project()", function()
    local d = open("light_color")
    d:init()
    assert.equal("Kitchen Strip", d:eval("return C4:GetDeviceDisplayName(101)"))
    d:eval("C4:RenameDevice(101, 'Counter Strip')")
    assert.equal("Counter Strip", d:eval("return C4:GetDeviceDisplayName(101)"))
    assert.equal("Counter Strip", d:eval("return C4:ListGetDeviceName(101)"))
    assert.equal("Counter Strip", d:eval("return C4:GetDeviceData(101, 'name')"))
    assert.matches("<id>101</id><name>Counter Strip</name>", d:eval("return C4:GetProjectItems()"))
    assert.equal("Counter Strip", d:project().devices[2].name)
    -- the driver's own device too, by its device id
    d:eval("C4:RenameDevice(C4:GetDeviceID(), 'Strip Controller')")
    assert.equal("Strip Controller", d:eval("return C4:GetDeviceData(100, 'name')"))
    assert.same({[101] = 5}, d:eval("return C4:GetDevicesByName('Counter Strip')"))
  end)

  it("renames a device of the project that is not the driver's", function()
    local d = open("light_color", {devices = {{id = 300, name = "Fan", room = "Den"}}})
    d:init()
    d:eval("C4:RenameDevice(300, 'Ceiling Fan')")
    assert.equal("Ceiling Fan", d:eval("return C4:GetDeviceDisplayName(300)"))
  end)

  it("does nothing in OnDriverInit (\"It will not work in onDriverInit\"), works in OnDriverLateInit", function()
    local d = open("light_color")
    d:eval("RENAME_IN_INIT = true")
    d:init()
    assert.equal("Kitchen Strip", d:eval("return C4:GetDeviceDisplayName(101)"))
    assert.is_truthy(d:logged("does nothing in OnDriverInit"))
    local rule = false
    for _, n in ipairs(d:notes()) do
      if n.kind == "init-rule" and n.text:find("C4:RenameDevice called during OnDriverInit", 1, true) then
        rule = true
      end
    end
    assert.is_true(rule, "the init rule notes the call")
    local late = open("light_color")
    late:eval("RENAME_IN_LATE = true")
    late:init()
    assert.equal("Renamed Late", late:eval("return C4:GetDeviceDisplayName(101)"))
  end)

  it("warns and changes nothing for an unknown id, a room or an empty name; raises for bad types", function()
    local d = open("light_color")
    d:init()
    d:eval("C4:RenameDevice(999, 'X'); C4:RenameDevice(5, 'Kitchen'); C4:RenameDevice(101, '')")
    assert.is_truthy(d:logged("999 is not a device of the project"))
    assert.is_truthy(d:logged("%(it is a room%)"))
    assert.is_truthy(d:logged("a device needs a name"))
    assert.equal("Kitchen Strip", d:eval("return C4:GetDeviceDisplayName(101)"))
    assert.equal("Living Room", d:eval("return C4:ListGetDeviceName(5)"))
    assert.matches("bad argument #1 to 'RenameDevice'", S.raised(d.eval, d, "C4:RenameDevice('x', 'y')"))
    assert.matches("bad argument #2 to 'RenameDevice' %(string expected, got no value%)",
      S.raised(d.eval, d, "C4:RenameDevice(101)"))
  end)
end)

describe("C4:GetDevicesByName", function()
  it("gives {[id] = roomId}, proxies standing for their protocol device, {} for no match", function()
    local d = open("light_color", {devices = {{id = 300, name = "Fan", room = "Den"},
                                              {id = 301, name = "Fan", room = "Garage"}}})
    d:init()
    -- the driver's device has a proxy: its name finds the proxy's id
    assert.same({}, d:eval("return C4:GetDevicesByName('Strip Light')"))
    assert.same({[101] = 5}, d:eval("return C4:GetDevicesByName('Kitchen Strip')"))
    local den = d:eval("return C4:RoomGetId()") -- 5; Den and Garage come after
    assert.equal(5, den)
    local fans = d:eval("return C4:GetDevicesByName('Fan')")
    assert.is_number(fans[300])
    assert.is_number(fans[301])
    assert.same({[300] = fans[300]}, d:eval("return C4:GetDevicesByName('Fan', 'Den')"))
    assert.same({}, d:eval("return C4:GetDevicesByName('Fan', 'Attic')"))
    assert.same({}, d:eval("return C4:GetDevicesByName('Nothing')"))
    assert.matches("bad argument #1 to 'GetDevicesByName'", S.raised(d.eval, d, "C4:GetDevicesByName()"))
  end)

  it("is missing before OS 2.8.0", function()
    local d = open("light_color", {os = "2.5.0"})
    assert.is_nil(d:eval("return C4.GetDevicesByName"))
  end)
end)
