-- spec/package_spec.lua — packages as drivers really ship: legacy .c4i
-- files, script code inline in driver.xml, encryption="2" beside plain
-- text, jit="1", package-relative chunk names, C4:GetC4zDir(), and the
-- refusal of precompiled Lua.
local c4emu = require "c4emu"
local support = require "support"

local C4I = "fixtures/c4i/legacy_server.c4i"

-- A fresh folder under the build tree for packages made by a test.
local function scratch(name)
  local dir = support.build .. "/scratch/" .. name
  os.execute("rm -rf '" .. dir .. "' && mkdir -p '" .. dir .. "'")
  return dir
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local MINIMAL_XML = [[<devicedata><name>x</name><config><script file="driver.lua"%s/></config></devicedata>]]

describe("legacy .c4i drivers", function()
  it("run unconverted: a timer set at load creates a server that serves", function()
    local d = c4emu.load(C4I, { clock = "virtual" })
    d:init()
    assert.is_nil(d:eval("return PORT"))
    d:advance(1000)
    d:run_until(function() return d:eval("return PORT") ~= nil end, 3000)
    local port = d:eval("return PORT")
    local c = d:connect(port)
    c:send("ping\n")
    assert.equal("echo:ping\n", c:receive_until("\n"))
    c:close()
    assert.equal("Legacy echo (.c4i)", d:eval("return C4:GetDriverConfigInfo('name')"))
    assert.equal("0", d:eval("return Properties.Port"))
    d:destroy()
  end)

  it("name the chunk after the .c4i, with the file's own line numbers", function()
    local d = c4emu.load(C4I, { clock = "virtual" })
    d:init()
    local err = support.raised(d.eval, d, "Boom()")
    assert.matches("legacy_server.c4i:41: boom on line 41", err, 1, true)
    d:destroy()
  end)

  it("the CLI runs it too (check exits 0)", function()
    local out, code = support.cli("check " .. C4I)
    assert.equal(0, code, out)
  end)

  it("refuse a truncated .c4i and a CDATA script that does not compile, exit 2", function()
    local dir = scratch("c4i")
    local text = read(C4I)
    write(dir .. "/truncated.c4i", text:sub(1, math.floor(#text / 2)))
    local out, code = support.cli("run " .. dir .. "/truncated.c4i")
    assert.equal(2, code)
    assert.matches("truncated.c4i %(legacy .c4i driver%): line %d+", out)
    write(dir .. "/bad.c4i", (text:gsub("PORT = nil", "PORT = = nil")))
    out, code = support.cli("check " .. dir .. "/bad.c4i")
    assert.equal(2, code)
    assert.matches("bad.c4i does not compile: bad.c4i:22:", out)
    write(dir .. "/noscript.c4i", "<devicedata><config><script/></config></devicedata>")
    out, code = support.cli("check " .. dir .. "/noscript.c4i")
    assert.equal(2, code)
    assert.matches("no script inside <script>", out)
  end)
end)

describe("driver.xml as source folders keep it", function()
  it("runs code written inside <script>, warns about encryption=\"2\" and notes jit=\"1\"", function()
    local d = c4emu.load(support.folder("inline_script"), { clock = "virtual" })
    d:init()
    assert.equal("ran", d:eval("return INLINE"))
    assert.is_true(d:eval("return INIT"))
    assert.truthy(d:logged('encryption="2" but driver.xml is plain Lua text'))
    assert.truthy(d:logged('asks for LuaJIT %(jit="1"%)'))
    local err = support.raised(d.eval, d, "Fail()")
    assert.matches("driver.xml:16: inline failure", err, 1, true)
    d:destroy()
  end)

  it("refuses encryption=\"2\" when the script is not Lua text, or a .encrypted file is there", function()
    local dir = scratch("encrypted")
    write(dir .. "/driver.xml", MINIMAL_XML:format(' encryption="2"'))
    write(dir .. "/driver.lua", "\48\130\1\2\6\9\42\134\72\134\247\13\1\7\3\0\0\0")
    local out, code = support.cli("check " .. dir)
    assert.equal(2, code)
    assert.matches('driver.lua is encrypted %(encryption="2" and its content is not Lua text%)', out)
    write(dir .. "/driver.lua", "x = 1")
    write(dir .. "/driver.lua.encrypted", "\48\130")
    out, code = support.cli("check " .. dir)
    assert.equal(2, code)
    assert.matches("holds driver.lua.encrypted", out)
  end)

  it("names module chunks relative to the package, also from a .c4z", function()
    for _, path in ipairs({ support.folder("modules"), support.c4z("modules") }) do
      local d = c4emu.load(path, { clock = "virtual" })
      d:init()
      assert.equal("LICENSED ABC", d:eval("return STATE"))
      local err = support.raised(d.eval, d, "Where()")
      assert.matches("SKC4/LicenseManager.lua:9: where am I", err, 1, true)
      assert.is_nil(err:find("c4emu-", 1, true), err)
      assert.truthy(d:logged('encryption="2" but driver.lua is plain Lua text'))
      d:destroy()
    end
  end)

  it("C4:GetC4zDir() ends in '/', the form drivers concatenate names to", function()
    local d = c4emu.load(support.c4z("modules"), { clock = "virtual" })
    local dir = d:eval("return C4:GetC4zDir()")
    assert.equal("/", dir:sub(-1))
    assert.is_true(d:eval("return io.open(C4:GetC4zDir() .. 'driver.lua') ~= nil"))
    d:destroy()
  end)
end)

describe("precompiled Lua", function()
  local bytecode = string.dump(function() return 42 end)

  it("is refused as the driver's script (exit 2)", function()
    local dir = scratch("bytecode_script")
    write(dir .. "/driver.xml", MINIMAL_XML:format(""))
    write(dir .. "/driver.lua", bytecode)
    local out, code = support.cli("check " .. dir)
    assert.equal(2, code)
    assert.matches("driver.lua is precompiled Lua %(bytecode%): c4emu refuses it", out)
    -- even under encryption="2" the message says what it is
    write(dir .. "/driver.xml", MINIMAL_XML:format(' encryption="2"'))
    out, code = support.cli("check " .. dir)
    assert.equal(2, code)
    assert.matches("precompiled Lua", out)
  end)

  it("is refused as a module, and by loadstring, load, loadfile and dofile", function()
    local dir = scratch("bytecode_module")
    write(dir .. "/driver.xml", MINIMAL_XML:format(""))
    write(dir .. "/driver.lua", "function OnDriverInit() end")
    write(dir .. "/compiled.lua", bytecode)
    local d = c4emu.load(dir, { clock = "virtual" })
    d:init()
    local err = support.raised(d.eval, d, "require 'compiled'")
    assert.matches("error loading module 'compiled' from file 'compiled.lua'", err, 1, true)
    assert.matches("precompiled Lua %(bytecode%) is refused", err)
    local f, msg = d:eval("return loadstring(...)", bytecode)
    assert.is_nil(f)
    assert.matches("loadstring: precompiled Lua", msg)
    f, msg = d:eval("return loadstring(string.dump(function() end))")
    assert.is_nil(f)
    f, msg = d:eval([[local s = ... local done
      return load(function() if done then return nil end done = true return s end)]], bytecode)
    assert.is_nil(f)
    assert.matches("load: precompiled Lua", msg)
    f, msg = d:eval("return loadfile('compiled.lua')")
    assert.is_nil(f)
    assert.matches("precompiled Lua", msg)
    err = support.raised(d.eval, d, "dofile('compiled.lua')")
    assert.matches("precompiled Lua", err)
    -- source still loads through all of them
    assert.equal(7, d:eval("return loadstring('return 7')()"))
    assert.equal(8, d:eval("local once return load(function() if once then return end once = 1 return 'return 8' end)()"))
    d:destroy()
  end)
end)
