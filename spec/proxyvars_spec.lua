-- A light proxy's variables (c4api/director/c4_proxyvars.c): the proxy
-- learns them from the driver's notifications, and drivers read them with
-- C4:GetVariable(proxyId, id) as a public WLED driver does (1000, 1001, 1006).
local S = require "support"

local open = S.loader(after_each)

local function light()
  local d = open("light_color")
  d:init()
  return d
end

describe("a light proxy's variables", function()
  it("exist from the start with the documented ids", function()
    local d = light()
    assert.equal("0", d:eval("return C4:GetVariable(101, 1000)"))
    assert.equal("0", d:eval("return C4:GetVariable(101, 1001)"))
    assert.equal("100", d:eval("return C4:GetVariable(101, 1006)"))
    assert.equal("100", d:eval("return C4:GetDeviceVariable(101, 1007)"))
    local vars = d:eval("return C4:GetDeviceVariables(101)")
    assert.equal("LIGHT_LEVEL", vars[1001].name)
    assert.equal("LIGHT_STATE", vars[1000].name)
    assert.equal("PRESET_LEVEL", vars[1006].name)
    -- WLED's toggle: tonumber(C4:GetVariable(ProxyID, 1000)) ~= 0
    assert.equal(0, d:eval("return tonumber(C4:GetVariable(C4:GetProxyDevicesById(C4:GetDeviceID()), 1000))"))
  end)

  it("follow LIGHT_BRIGHTNESS_CHANGED, LIGHT_LEVEL(_CHANGED) and the rate and preset notifies", function()
    local d = light()
    d:from_proxy(5001, "SET_BRIGHTNESS_TARGET", {LIGHT_BRIGHTNESS_TARGET = "42.4"})
    assert.equal("42", d:eval("return C4:GetVariable(101, 1001)"))
    assert.equal("1", d:eval("return C4:GetVariable(101, 1000)"))
    d:eval("C4:SendToProxy(5001, 'LIGHT_LEVEL_CHANGED', 0)")
    assert.equal("0", d:eval("return C4:GetVariable(101, 1001)"))
    assert.equal("0", d:eval("return C4:GetVariable(101, 1000)"))
    d:eval("C4:SendToProxy(5001, 'LIGHT_LEVEL', {LEVEL = 150})")
    assert.equal("100", d:eval("return C4:GetVariable(101, 1001)"))
    d:eval([[
      C4:SendToProxy(5001, 'CLICK_RATE_UP', {RATE = 750})
      C4:SendToProxy(5001, 'CLICK_RATE_DOWN', {RATE = 1500})
      C4:SendToProxy(5001, 'HOLD_RATE_UP', {RATE = 3000})
      C4:SendToProxy(5001, 'PRESET_LEVEL', {BRIGHTNESS = 80})
      C4:SendToProxy(5001, 'MAX_ON', {BRIGHTNESS = 95})
      C4:SendToProxy(5001, 'MIN_ON', {BRIGHTNESS = 5})
      C4:SendToProxy(5001, 'COLD_START_LEVEL', {BRIGHTNESS = 30})
      C4:SendToProxy(5001, 'COLD_START_TIME', {BRIGHTNESS = 200})
    ]])
    assert.same({"750", "1500", "3000", "80", "95", "5", "30", "200"}, d:eval([[
      local t = {}
      for _, id in ipairs({1002, 1003, 1004, 1006, 1007, 1008, 1009, 1010}) do
        t[#t + 1] = C4:GetVariable(101, id)
      end
      return t
    ]]))
  end)

  it("learn from NOTIFY only, and keep their value on a bad number", function()
    local d = light()
    d:eval("C4:SendToProxy(5001, 'LIGHT_BRIGHTNESS_CHANGED', {LIGHT_BRIGHTNESS_CURRENT = 60}, 'COMMAND')")
    assert.equal("0", d:eval("return C4:GetVariable(101, 1001)"))
    d:eval("C4:SendToProxy(5001, 'LIGHT_BRIGHTNESS_CHANGED', {LIGHT_BRIGHTNESS_CURRENT = 'bright'})")
    assert.equal("0", d:eval("return C4:GetVariable(101, 1001)"))
    assert.is_truthy(d:logged("the proxy wants a number in LIGHT_BRIGHTNESS_CURRENT"))
  end)

  it("tell listeners on the next turn, as any variable change does", function()
    local d = light()
    d:eval([[
      WATCHED = {}
      function OnWatchedVariableChanged(dev, var, value) WATCHED[#WATCHED + 1] = dev .. "/" .. var .. "=" .. value end
      C4:RegisterVariableListener(101, 1001)
    ]])
    d:advance(0)
    d:eval("SetLevel(25)")
    assert.same({"101/1001=0"}, d:eval("return WATCHED"))
    d:advance(0)
    assert.same({"101/1001=0", "101/1001=25"}, d:eval("return WATCHED"))
  end)

  it("are read-only to other drivers and programming", function()
    local d = light()
    d:eval("C4:SetDeviceVariable(101, 1001, '77')")
    assert.equal("0", d:eval("return C4:GetVariable(101, 1001)"))
    assert.is_truthy(d:logged("read%-only"))
  end)

  it("are not invented for proxies a spec declares (their variables are the spec's)", function()
    local d = open("light_color", {devices = {{id = 300, name = "Other", proxy = "light_v2",
                                               variables = {[1001] = "12"}}}})
    d:init()
    assert.equal("12", d:eval("return C4:GetVariable(300, 1001)"))
    assert.is_nil(d:eval("return C4:GetVariable(300, 1000)"))
  end)
end)
