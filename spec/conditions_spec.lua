-- TestCondition(name, tParams) as programming asks it (c4api/director/
-- c4_conditions.c): d:test_condition and the console's :condition, and
-- OnDriverRemovedFromProject before OnDriverDestroyed on d:remove().
local S = require "support"

local open = S.loader(after_each)

local function light()
  local d = open("light_color")
  d:init()
  return d
end

describe("d:test_condition", function()
  it("returns the driver's boolean for a SIMPLE conditional", function()
    local d = light()
    assert.is_false(d:test_condition("LIGHT_IS_ON"))
    d:eval("SetLevel(40)")
    assert.is_true(d:test_condition("LIGHT_IS_ON"))
    assert.same({}, d:eval("return SEEN[1].params"))
  end)

  it("passes VALUE and LOGIC as strings, as programming's macro values", function()
    local d = light()
    d:eval("SetLevel(40)")
    assert.is_true(d:test_condition("LEVEL_IS", {VALUE = 40, LOGIC = "EQUAL"}))
    assert.is_true(d:test_condition("LEVEL_IS", {VALUE = "50", LOGIC = "LESS_THAN"}))
    assert.is_false(d:test_condition("LEVEL_IS", {VALUE = "50", LOGIC = "GREATER_THAN_OR_EQUAL"}))
    assert.same({VALUE = "40", LOGIC = "EQUAL"}, d:eval("return SEEN[1].params"))
  end)

  it("warns for an undeclared name, missing or unknown LOGIC, and a non-boolean answer", function()
    local d = light()
    assert.is_false(d:test_condition("NO_SUCH"))
    assert.is_truthy(d:logged("driver.xml declares no conditional 'NO_SUCH'"))
    d:test_condition("LEVEL_IS", {VALUE = "1", LOGIC = "ABOUT"})
    assert.is_truthy(d:logged("a NUMBER conditional gets VALUE and LOGIC"))
    assert.is_true(d:test_condition("ANSWERS_YES"))
    assert.is_truthy(d:logged("returned a string, not a boolean: taken as true"))
  end)

  it("counts an error in TestCondition as the driver's, and raises without the function", function()
    local d = light()
    assert.matches("driver error in TestCondition%('RAISES'%)", S.raised(d.test_condition, d, "RAISES"))
    local errors = d:errors()
    assert.equal(1, #errors)
    assert.matches("no such state", errors[1].message or errors[1].text or tostring(errors[1]))
    local m = open("minimal")
    m:init()
    assert.matches("no TestCondition function", S.raised(m.test_condition, m, "X"))
    assert.matches("table expected, got string", S.raised(d.test_condition, d, "X", "params"))
  end)
end)

describe("d:remove()", function()
  it("calls OnDriverRemovedFromProject, then OnDriverDestroyed, then closes everything", function()
    local d = light()
    d:remove()
    assert.equal("dead", d:phase())
    local order = {}
    for _, l in ipairs(d:logs()) do
      if l.text:find("removed from the project", 1, true) then order[#order + 1] = "removed" end
      if l.text:find("destroyed", 1, true) and not l.text:find("[c4emu]", 1, true) then
        order[#order + 1] = "destroyed"
      end
    end
    assert.same({"removed", "destroyed"}, order)
    -- its last words to the proxy went out before it was destroyed
    local last = d:proxy_messages(5001)
    assert.equal("ONLINE_CHANGED", last[#last].command)
    d:remove() -- a second time: nothing
  end)

  -- s4-fixes: the sockets closed before the loop ever sent what it wrote.
  it("delivers what OnDriverRemovedFromProject writes before the sockets close", function()
    local d = open("minimal")
    local dev = d:device{mode = "end", end_char = "\n"}
    local lines = {}
    dev:run{socket_message = function(c, line)
      lines[#lines + 1] = #line > 20 and ("#" .. #line) or line
    end}
    d:init()
    d:eval([[CL = C4:CreateTCPClient():OnConnect(function(c) c:Write("HELLO\n") end)
               :Connect("127.0.0.1", ...)
      function OnDriverRemovedFromProject()
        CL:Write(string.rep("x", 3000000) .. "\n")   -- more than the kernel takes at once
        CL:Write("BYE\n")
      end]], dev.local_port)
    d:settle()
    assert.same({"HELLO"}, lines)
    d:remove()
    assert.equal("dead", d:phase())
    assert.same({"HELLO", "#3000000", "BYE"}, lines)
  end)

  it("gives a peer that does not read until the close deadline, then closes with a warning", function()
    local d = open("minimal")
    d:init()
    d:set_close_deadline(300)
    d:eval([[function OnServerDataIn(h) H = h end
      function OnDriverRemovedFromProject() C4:ServerSend(H, string.rep("x", 3000000)) end]])
    local port = S.create_server(d, "CreateServer", 0, "\n")
    local c = d:connect(port)
    c:send("hi\n")
    d:settle()
    assert.is_number(d:eval("return H"))
    c:pause()
    d:remove()
    assert.equal("dead", d:phase())
    assert.truthy(d:logged("removed from the project: still not quiet after 300 ms", "WARN"))
  end)

  it("does not call OnDriverRemovedFromProject before OS 2.1.0, nor on d:destroy()", function()
    local old = open("light_color", {os = "1.6.0"})
    old:init()
    old:remove()
    assert.is_falsy((old:logged("removed from the project")))
    assert.is_truthy(old:logged("destroyed"))
    local d = light()
    d:destroy()
    assert.is_falsy((d:logged("removed from the project")))
  end)
end)
