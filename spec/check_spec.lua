-- `c4emu check` for CI (issue 15): discouraged calls warn, forbidden calls
-- and driver errors fail, --strict fails on warnings, identical findings are
-- counted, object methods are named as themselves, JUnit output is
-- well-formed XML 1.0 whatever bytes an error carries (checked with xmllint).
local S = require "support"

local read = S.read

-- xmllint's verdict on a file: true, or false and its complaint.
local function well_formed(path)
  local p = io.popen("unset LD_PRELOAD; xmllint --noout " .. path .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("*a")
  p:close()
  return out:match("rc=(%d+)") == "0", out
end

describe("c4emu check for CI", function()
  it("passes a template-style driver that calls UpdateProperty in OnDriverInit, with warnings", function()
    local out, code = S.cli("check " .. S.folder("template_init"))
    assert.equal(0, code, out)
    assert.matches("OS 4%.0%.0%s+clean %(2 warnings%)", out)
    assert.matches("result: clean", out)
    -- replayed through OnPropertyChanged three times: reported once, counted
    local n = select(2, out:gsub("warning%s+init rule: C4:UpdateProperty called during OnDriverInit", ""))
    assert.equal(1, n, out)
    assert.matches("Move the call to OnDriverLateInit %(3 times%)", out)
  end)

  it("--strict fails on those warnings", function()
    local out, code = S.cli("check " .. S.folder("template_init") .. " --strict")
    assert.equal(1, code, out)
    assert.matches("OS 4%.0%.0%s+2 problems", out)
  end)

  it("run refuses --strict (a check option)", function()
    local out, code = S.cli("run " .. S.folder("template_init") .. " --strict")
    assert.equal(2, code)
    assert.matches("%-%-strict is an option of c4emu check only", out)
  end)

  it("fails on a forbidden call in OnDriverInit, also with --init-rule warn", function()
    local out, code = S.cli("check " .. S.folder("server_init"))
    assert.equal(1, code, out)
    assert.matches("init%-rule%s+init rule: C4:CreateServer called during OnDriverInit", out)
    out, code = S.cli("check " .. S.folder("server_init") .. " --init-rule warn")
    assert.equal(1, code, out)
    assert.matches("init%-rule%s+init rule: C4:CreateServer called during OnDriverInit", out)
  end)

  it("names an object method as itself: C4LuaTcpServer:Listen, not C4:Listen", function()
    local out, code = S.cli("check " .. S.folder("tcp_init") .. " --prop 'Init Action=listen'")
    assert.equal(0, code, out)
    assert.matches("warning%s+init rule: C4LuaTcpServer:Listen called during OnDriverInit", out)
    assert.falsy(out:find("C4:Listen", 1, true), out)
    out = S.cli("check " .. S.folder("tcp_init") .. " --prop 'Init Action=connect'")
    assert.matches("C4LuaTcpClient:Connect called during OnDriverInit", out)
  end)

  it("fails on a driver error; the report shows forbidden bytes visibly", function()
    local out, code = S.cli("check " .. S.folder("bad_bytes") .. " 2>/dev/null")
    assert.equal(1, code, out)
    assert.matches("bytes: \\x1b%[31mred\\x1b%[0m \\x0c lone \\xc3 surrogate \\xed\\xa0\\x80 ff \\xff", out)
    assert.truthy(out:find("valid caf\195\169 \226\130\172", 1, true), "valid UTF-8 is kept")
  end)

  it("writes JUnit that is well-formed XML 1.0 whatever bytes the error carries", function()
    local file = os.tmpname()
    local _, code = S.cli("check " .. S.folder("bad_bytes") .. " --junit " .. file)
    assert.equal(1, code)
    local ok, why = well_formed(file)
    assert.is_true(ok, why)
    local xml = read(file)
    os.remove(file)
    assert.truthy(xml:find("\\x1b[31mred", 1, true))
    assert.truthy(xml:find("]]&gt; &amp; &lt; &gt; &quot;", 1, true))
    assert.falsy(xml:find("\27", 1, true))
  end)

  it("JUnit: a version with warnings only passes, the warnings in system-out", function()
    local file = os.tmpname()
    local _, code = S.cli("check " .. S.folder("template_init") .. " --junit " .. file)
    assert.equal(0, code)
    local ok, why = well_formed(file)
    assert.is_true(ok, why)
    local xml = read(file)
    os.remove(file)
    assert.matches('failures="0"', xml)
    assert.matches("<system%-out>warning: init rule: C4:GetDriverConfigInfo", xml)
    assert.falsy(xml:find("<failure", 1, true))
  end)

  it("reports the package loader's warnings as warnings: in the report, the JUnit file and d:notes()", function()
    local file = os.tmpname()
    local out, code = S.cli("check " .. S.folder("modules") .. " --junit " .. file .. " 2>/dev/null")
    assert.equal(0, code, out)
    assert.matches("clean %(1 warning%)", out)
    assert.matches("package +%[c4emu%] driver.xml says encryption=\"2\" but driver.lua is plain Lua text", out)
    local xml = read(file)
    os.remove(file)
    assert.matches("<system%-out>package: %[c4emu%] driver.xml says encryption", xml)
    assert.falsy(xml:find("<failure", 1, true))
    local strict_out, strict = S.cli("check " .. S.folder("modules") .. " --strict 2>/dev/null")
    assert.equal(1, strict, strict_out)
    local c4emu = require "c4emu"
    local d = c4emu.load(S.folder("modules"))
    local n = d:notes()
    d:destroy()
    assert.equal(1, #n)
    assert.same({"package", "warning"}, {n[1].kind, n[1].level})
  end)

  it("names the reason it cannot write the JUnit file", function()
    local out, code = S.cli("check " .. S.folder("template_init") .. " --junit /no/such/dir/r.xml")
    assert.equal(2, code)
    assert.matches("cannot write /no/such/dir/r.xml: No such file or directory", out)
  end)

  it("d:notes() tells warnings from errors", function()
    local c4emu = require "c4emu"
    local d = c4emu.load(S.folder("template_init"))
    d:init()
    for _, n in ipairs(d:notes()) do
      assert.equal("init-rule", n.kind)
      assert.equal("warning", n.level)
    end
    d:destroy()
  end)
end)
