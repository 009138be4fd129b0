-- spec/web_browser_spec.lua — the web console in a real browser: headless
-- Chromium (Debian's) driven over the DevTools protocol (tools/cdp.lua)
-- against `c4emu run fixtures/drivers/web_console --web 127.0.0.1:0`.
-- Every step waits for what the page shows; one screenshot of each view goes
-- to $BUILD/web-<view>.png for a person to look at.
local W = require "web_support"
local cdp = require "cdp"
local cjson = require "cjson"

local function js(s) return cjson.encode(s) end -- a JavaScript string literal

-- Inside a test: a console for driver and a browser on its page, both closed
-- when the test ends.
local function open_page(driver, extra)
  local c = W.start(driver, extra)
  local b
  finally(function()
    if b then b:close() end
    if not c.exit then c.stop() end
  end)
  b = cdp.launch()
  b:navigate(c.url)
  return c, b
end

describe("web console in Chromium", function()
  local c, b
  lazy_setup(function()
    c = W.start("fixtures/drivers/web_console")
    b = cdp.launch()
    b:navigate(c.url)
  end)
  lazy_teardown(function()
    if b then b:close() end
    if c then assert.equal(0, (c.stop())) end
  end)

  local function tab(view)
    b:eval(("document.querySelector('#tabs button[data-view=%s]').click()"):format(view))
    b:wait_for(("document.querySelector('#view-%s').classList.contains('active')"):format(view))
  end
  local function shot(view) b:screenshot(W.build .. "/web-" .. view .. ".png") end
  local function log_has(text)
    return b:wait_for(("[...document.querySelectorAll('#log .line')].some(l => l.textContent.includes(%s))")
                      :format(js(text)), nil, "log line '" .. text .. "'")
  end
  local function prop_value(name)
    return b:eval(("document.querySelector('[data-prop=%s]').value"):format(js(name)))
  end

  it("loads, connects, and lists every property of driver.xml with its type", function()
    b:wait_for("document.querySelector('#conn').textContent === 'connected'", nil, "connected")
    b:wait_for("document.querySelectorAll('[data-prop]').length === 6", nil, "six properties")
    assert.equal("Web Console Fixture", b:eval("document.querySelector('#driver-name').textContent"))
    -- LIST as a select of its items, ranged numbers with bounds, a masked
    -- password, a read-only field.
    assert.same({ "Off", "Eco", "Comfort" },
                b:eval("[...document.querySelector('[data-prop=Mode]').options].map(o => o.value)"))
    assert.equal("Eco", prop_value("Mode"))
    assert.equal("0", b:eval("document.querySelector('[data-prop=Volume]').min"))
    assert.equal("100", b:eval("document.querySelector('[data-prop=Volume]').max"))
    assert.equal("-6", b:eval("document.querySelector('[data-prop=Gain]').min"))
    assert.equal("password", b:eval("document.querySelector('[data-prop=Password]').type"))
    assert.equal("secret", prop_value("Password"))
    assert.is_true(b:eval("document.querySelector('[data-prop=Status]').disabled"))
    shot("properties")
  end)

  it("edits a property as Composer does: OnPropertyChanged in the log, UpdateProperty live", function()
    b:eval([[(() => { const i = document.querySelector('[data-prop=Volume]');
      i.value = '77'; i.dispatchEvent(new Event('change')); })()]])
    b:wait_for("document.querySelector('[data-prop=Status]').value === 'changed Volume'", nil,
               "Status updated by UpdateProperty")
    tab("log")
    log_has("OnPropertyChanged Volume = 77")
    -- An out-of-range value is refused in the page and never sent.
    tab("properties")
    b:eval([[(() => { const i = document.querySelector('[data-prop=Volume]');
      i.value = '500'; i.dispatchEvent(new Event('input')); i.dispatchEvent(new Event('change')); })()]])
    assert.is_true(b:eval("document.querySelector('[data-prop=Volume]').classList.contains('invalid')"))
    b:eval("document.querySelector('[data-prop=Mode]').value = 'Comfort';" ..
           "document.querySelector('[data-prop=Mode]').dispatchEvent(new Event('change'))")
    tab("log")
    log_has("OnPropertyChanged Mode = Comfort")
    assert.is_false(b:eval("[...document.querySelectorAll('#log .line')].some(l => l.textContent.includes('Volume = 500'))"))
  end)

  it("presses an action (LUA_ACTION) and sends a command with parameters", function()
    tab("actions")
    b:wait_for("document.querySelector('[data-action=SayHello]')")
    b:eval("document.querySelector('[data-action=SayHello]').click()")
    b:wait_for("document.querySelector('#action-result').textContent.includes('Hello from the action, #1')",
               nil, "the action's output")
    b:wait_for("document.querySelector('[data-prop=Status]').value === 'hello #1'", nil,
               "Status after the action")
    b:eval([[(() => { const card = document.querySelector('[data-command=SET_LEVEL]').parentNode;
      card.querySelector('[data-param=Level]').value = '7';
      card.querySelector('[data-param=Zone]').value = 'Den';
      document.querySelector('[data-command=SET_LEVEL]').click(); })()]])
    b:wait_for("document.querySelector('#action-result').textContent.includes('SET_LEVEL Den = 7')",
               nil, "the command's output")
    -- A driver error in ExecuteCommand shows in the result and the log.
    b:eval("document.querySelector('[data-action=Fail]').click()")
    b:wait_for("document.querySelector('#action-result').textContent.includes('deliberate failure')",
               nil, "the action's error")
    shot("actions")
  end)

  it("runs Lua in the driver's state and pretty-prints the result and print output", function()
    tab("lua")
    local code = 'print("from the Lua tab")\nreturn { hellos = HELLOS, level = LEVELS.Den, list = { 1, 2 } }'
    b:eval(("document.querySelector('#lua-code').value = %s; document.querySelector('#lua-run').click()")
           :format(js(code)))
    local out = b:wait_for("(() => { const v = document.querySelector('#lua-out .values'); return v && v.textContent })()",
                           nil, "the Lua result")
    assert.equal('{hellos = 1, level = 7, list = {1, 2}}', out)
    assert.truthy(b:eval("document.querySelector('#lua-out .output').textContent"):find("from the Lua tab", 1, true))
    -- A mistake shows as an error beside its code.
    b:eval("document.querySelector('#lua-code').value = 'return nosuch.field'; document.querySelector('#lua-run').click()")
    local err = b:wait_for("(() => { const e = document.querySelector('#lua-out .error'); return e && e.textContent })()",
                           nil, "the Lua error")
    assert.truthy(err:find("nosuch", 1, true))
    shot("lua")
  end)

  it("shows a log line live, as the driver logs it, and filters by level and text", function()
    tab("log")
    -- A line the page did not cause: a TCP client of the driver's server.
    local port = b:wait_for("(() => { const t = document.querySelector('[data-section=servers] tbody td'); return t && t.textContent })()",
                            nil, "the server's port in the State view")
    local s = W.connect(tonumber(port))
    s.write("ping from outside\n")
    log_has("received: ping from outside")
    assert.is_true(b:eval("[...document.querySelectorAll('#log .line.ERROR')].some(l => l.textContent.includes('deliberate failure'))"))
    -- The connection is listed in the State view meanwhile.
    local sel = "document.querySelector('[data-section=\"server connections\"] tbody td:nth-child(3)')"
    local peer = b:wait_for("(() => { const t = " .. sel .. "; return t && t.textContent })()", nil,
                            "the connection in the State view")
    assert.truthy(peer:match("^127%.0%.0%.1:%d+$"), peer)
    s.close()
    b:eval("document.querySelector('#log-filter').value = 'ping'; document.querySelector('#log-filter').dispatchEvent(new Event('input'))")
    assert.equal(1, b:eval("document.querySelectorAll('#log .line').length"))
    b:eval("document.querySelector('#log-filter').value = ''; document.querySelector('#log-level').value = '1';" ..
           "document.querySelector('#log-level').dispatchEvent(new Event('change'))")
    assert.equal(0, b:eval("[...document.querySelectorAll('#log .line')].filter(l => l.classList.contains('INFO')).length"))
    b:eval("document.querySelector('#log-level').value = '2'; document.querySelector('#log-level').dispatchEvent(new Event('change'))")
    shot("log")
  end)

  it("shows timers, handles, servers and the clock in the State view", function()
    tab("state")
    b:wait_for("document.querySelector('[data-section=timers] tbody td')", nil, "the timer row")
    assert.equal("SetTimer", b:eval("document.querySelector('[data-section=timers] tbody td').textContent"))
    assert.truthy(b:eval("document.querySelector('#clock').textContent"):find("real time", 1, true))
    assert.is_true(b:eval("document.querySelector('#advance').classList.contains('hidden')"))
    shot("state")
  end)

  -- issue 17: the Director in the State view and the Properties view.
  local function cell(section, row_text, col)
    return ("(() => { const r = [...document.querySelectorAll('[data-section=\"%s\"] tbody tr')]" ..
            ".find(r => r.textContent.includes(%s)); return r && r.children[%d].textContent })()")
           :format(section, js(row_text), col)
  end

  it("lists the driver's variables, the project and its proxies in the State view", function()
    tab("state")
    -- columns: id, name, value, type, readonly, hidden
    assert.equal("20", b:wait_for(cell("variables", "TARGET", 2), nil, "TARGET in the variables section"))
    assert.equal("1001", b:eval(cell("variables", "TARGET", 0)))
    assert.equal("NUMBER", b:eval(cell("variables", "TARGET", 3)))
    assert.equal("true", b:eval(cell("variables", "FIRMWARE", 4)))
    -- columns: kind, id, name, room, detail
    assert.equal("100", b:eval(cell("project", "this driver", 1)))
    assert.equal("Living Room", b:eval(cell("project", "this driver", 3)))
    assert.equal("Web Console Light", b:eval(cell("project", "light_v2", 2)))
    assert.truthy(b:eval(cell("project", "controller", 4)):find("IP 127.0.0.1, MAC 000FFF0C4E01", 1, true))
  end)

  it("sets a variable as programming does: OnVariableChanged in the log; read-only refused", function()
    tab("state")
    b:wait_for("[...document.querySelectorAll('#var-name option')].some(o => o.value === 'TARGET')", nil,
               "TARGET in the variable form")
    b:eval("document.querySelector('#var-name').value = 'TARGET'; document.querySelector('#var-value').value = '23';" ..
           "document.querySelector('#var-set').click()")
    b:wait_for("document.querySelector('#var-result').textContent.includes('OnVariableChanged TARGET = 23')", nil,
               "the form's result")
    b:wait_for(("%s === '23'"):format(cell("variables", "TARGET", 2)), nil, "TARGET = 23 in the section")
    b:eval("document.querySelector('#var-name').value = 'FIRMWARE'; document.querySelector('#var-value').value = '9';" ..
           "document.querySelector('#var-set').click()")
    b:wait_for("document.querySelector('#var-result').textContent.includes('read-only')", nil, "the refusal")
    assert.is_true(b:eval("document.querySelector('#var-result').classList.contains('error')"))
    assert.equal("1.0", b:eval(cell("variables", "FIRMWARE", 2)))
    shot("state-director")
    tab("log")
    log_has("OnVariableChanged TARGET = 23")
    assert.is_false(b:eval("[...document.querySelectorAll('#log .line')].some(l => l.textContent.includes('OnVariableChanged FIRMWARE'))"))
  end)

  it("sends ReceivedFromProxy from the proxy form: the driver's print in the log, its reply listed", function()
    tab("state")
    -- bindings columns: id, name, class, role, bound
    assert.equal("light_v2", b:wait_for(cell("bindings", "5001", 2), nil, "5001 in the bindings section"))
    assert.equal("provider", b:eval(cell("bindings", "5001", 3)))
    assert.equal("101:5001", b:eval(cell("bindings", "5001", 4)))
    b:wait_for("[...document.querySelectorAll('#proxy-binding option')].some(o => o.value === '5001')", nil,
               "5001 in the proxy form")
    b:eval("document.querySelector('#proxy-binding').value = '5001';" ..
           "document.querySelector('#proxy-command').value = 'SET_LEVEL';" ..
           "document.querySelector('#proxy-params').value = 'LEVEL=65\\nRATE=300';" ..
           "document.querySelector('#proxy-send').click()")
    b:wait_for("document.querySelector('#proxy-result').textContent.includes('ReceivedFromProxy 5001 SET_LEVEL LEVEL=65 RATE=300')",
               nil, "the form's result")
    -- proxy messages columns: time_ms, binding, command, kind, params
    assert.equal("LEVEL=65 RATE=300", b:wait_for(cell("proxy messages", "LIGHT_LEVEL", 4), nil,
                                                "the driver's SendToProxy reply"))
    assert.equal("5001", b:eval(cell("proxy messages", "LIGHT_LEVEL", 1)))
    assert.equal("NOTIFY", b:eval(cell("proxy messages", "LIGHT_LEVEL", 3)))
    b:eval("document.querySelector('[data-section=\"proxy messages\"]').scrollIntoView({ block: 'center' })")
    shot("state-proxy")
    tab("log")
    log_has("ReceivedFromProxy 5001 SET_LEVEL LEVEL=65 RATE=300")
  end)

  it("shows an event the driver fires, and hides a property the driver hides", function()
    tab("actions")
    b:eval("document.querySelector('[data-action=Ring]').click()")
    tab("state")
    -- columns: time_ms, id, name, device
    assert.equal("1", b:wait_for(cell("events fired", "Doorbell", 1), nil, "the Doorbell event"))
    assert.equal("100", b:eval(cell("events fired", "Doorbell", 3)))
    local shown = "!document.querySelector('[data-prop-row=Gain]').classList.contains('hidden')"
    assert.is_true(b:eval(shown))
    tab("actions")
    b:eval("document.querySelector('[data-action=HideGain]').click()")
    tab("properties")
    b:wait_for("document.querySelector('[data-prop-row=Gain]').offsetParent === null", nil, "Gain hidden")
    assert.is_true(b:eval("document.querySelector('[data-prop-row=Volume]').offsetParent !== null"))
    shot("properties-hidden")
    tab("actions")
    b:eval("document.querySelector('[data-action=ShowGain]').click()")
    tab("properties")
    b:wait_for(shown, nil, "Gain shown again")
  end)

  it("refuses the page's files to a request without the token", function()
    local status = b:eval("fetch('/app.js', { credentials: 'omit' }).then(r => r.status)")
    assert.equal(403, status)
    assert.equal(200, b:eval("fetch('/app.js').then(r => r.status)")) -- with the cookie
  end)
end)

describe("web console in Chromium, the sample driver", function()
  it("shows its properties and presses its action", function()
    local c, b = open_page("fixtures/drivers/sample")
    b:wait_for("document.querySelectorAll('[data-prop]').length === 2", nil, "two properties")
    assert.equal("Hello from c4emu", b:eval("document.querySelector('[data-prop=Greeting]').value"))
    b:eval("document.querySelector('[data-action=Announce]').click()")
    b:wait_for("document.querySelector('#action-result').textContent.includes('announced the greeting to 0 clients')",
               nil, "the action's output")
    assert.equal(0, (c.stop()))
  end)
end)

describe("web console in Chromium, virtual clock", function()
  it("advances the clock from the State view and fires the driver's timer", function()
    local c, b = open_page("fixtures/drivers/web_console", { "--virtual" })
    b:eval("document.querySelector('#tabs button[data-view=state]').click()")
    b:wait_for("!document.querySelector('#advance').classList.contains('hidden')", nil, "advance buttons")
    assert.truthy(b:eval("document.querySelector('#clock').textContent"):find("clock: 0.000 s (virtual clock)", 1, true))
    b:eval("document.querySelector('#advance button[data-ms=\"60000\"]').click()")
    b:wait_for("document.querySelector('#clock').textContent.includes('clock: 60.000 s')", nil, "the clock at 60 s")
    -- The repeating timer fired once at 60 s and is due again at 120 s.
    b:wait_for("document.querySelector('[data-section=timers] tbody td:nth-child(3)').textContent === '120000'",
               nil, "the timer re-armed")
    b:screenshot(W.build .. "/web-state-virtual.png")
    b:eval("document.querySelector('#tabs button[data-view=log]').click()")
    b:wait_for("[...document.querySelectorAll('#log .line')].some(l => l.textContent.endsWith('tick'))", nil,
               "the timer's line")
    assert.equal(0, (c.stop()))
  end)
end)

describe("web console in Chromium, a project of several drivers", function()
  it("picks the driver every view shows: properties, Lua, log, State", function()
    local c, b = open_page("fixtures/projects/hall.lua", { "--virtual" })
    b:wait_for("document.querySelector('#conn').textContent === 'connected'", nil, "connected")
    b:wait_for("!document.querySelector('#driver-pick-label').hidden", nil, "the driver picker")
    assert.same({ "keypad", "light" }, b:eval("[...document.querySelector('#driver-pick').options].map(o => o.value)"))
    assert.equal("keypad", b:eval("document.querySelector('#driver-pick').value"))
    b:wait_for("document.querySelector('[data-prop=\"Press At Start\"]')", nil, "the keypad's property")
    assert.truthy(b:eval("document.querySelector('#driver-info').textContent"):find("device 100", 1, true))
    b:screenshot(W.build .. "/web-project-keypad.png")
    -- choose the light
    b:eval([[(() => { const s = document.querySelector('#driver-pick');
      s.value = 'light'; s.dispatchEvent(new Event('change')); })()]])
    b:wait_for("document.querySelector('#driver-info').textContent.includes('device 110')", nil, "the light's views")
    assert.equal("light", b:eval("document.querySelector('#driver-pick').value"))
    b:wait_for("document.querySelector('#props .empty')", nil, "the light has no properties")
    assert.is_true(b:eval("!document.querySelector('[data-prop=\"Press At Start\"]')"))
    -- the Lua tab runs in the light
    b:eval("document.querySelector('#tabs button[data-view=lua]').click()")
    b:eval("document.querySelector('#lua-code').value = 'print(\"from the light\") return C4:GetDeviceID()';" ..
           "document.querySelector('#lua-run').click()")
    local out = b:wait_for("(() => { const v = document.querySelector('#lua-out .values'); return v && v.textContent })()",
                           nil, "the Lua result")
    assert.equal("110", out)
    -- the log is the light's: its line is there, the keypad's start-up lines are not
    b:eval("document.querySelector('#tabs button[data-view=log]').click()")
    b:wait_for("[...document.querySelectorAll('#log .line')].some(l => l.textContent.includes('from the light'))",
               nil, "the light's print")
    assert.is_false(b:eval("[...document.querySelectorAll('#log .line')].some(l => l.textContent.includes('[keypad]'))"))
    -- State: the one project (the light, its proxy, the keypad), the one clock
    b:eval("document.querySelector('#tabs button[data-view=state]').click()")
    b:wait_for("[...document.querySelectorAll('[data-section=project] tbody tr')].some(r => r.textContent.includes('Hall Light'))",
               nil, "the light's proxy in the project")
    local rows = b:eval("[...document.querySelectorAll('[data-section=project] tbody tr')].map(r => r.textContent).join('|')")
    assert.truthy(rows:find("this driver110light", 1, true), rows)
    assert.truthy(rows:find("device100keypad", 1, true), rows)
    b:wait_for("!document.querySelector('#advance').classList.contains('hidden')", nil, "advance buttons")
    b:eval("document.querySelector('#advance button[data-ms=\"1000\"]').click()")
    b:wait_for("document.querySelector('#clock').textContent.includes('clock: 1.000 s')", nil, "the clock at 1 s")
    b:screenshot(W.build .. "/web-project-light.png")
    -- and back: the keypad's clock moved too
    b:eval([[(() => { const s = document.querySelector('#driver-pick');
      s.value = 'keypad'; s.dispatchEvent(new Event('change')); })()]])
    b:wait_for("document.querySelector('#driver-info').textContent.includes('device 100')", nil, "the keypad's views")
    b:eval("document.querySelector('#tabs button[data-view=lua]').click()")
    b:eval("document.querySelector('#lua-out').textContent = '';" ..
           "document.querySelector('#lua-code').value = 'return C4:GetDeviceID(), C4:GetTime() >= 0';" ..
           "document.querySelector('#lua-run').click()")
    out = b:wait_for("(() => { const v = document.querySelector('#lua-out .values'); return v && v.textContent })()",
                     nil, "the keypad's Lua result")
    assert.equal("100\ntrue", out)
    assert.equal(0, (c.stop()))
  end)
end)
