-- spec/pack_spec.lua — `c4emu pack`: a DriverPackager .c4zproj into a .c4z
-- (Items with name, recurse, c4zDir, exclude; squishLua with a squishy
-- file), deterministic, then `c4emu check` on the result; bad projects are
-- clear errors with exit 2.
local c4emu = require "c4emu"
local support = require "support"
local scratch, read, write = support.scratch, support.read, support.write_file

local PROJECT = "fixtures/projects/squished"




-- The entry names of a zip, from `unzip -Z1`.
local function entries(zip)
  local p = io.popen("unzip -Z1 '" .. zip .. "'")
  local list = {}
  for line in p:lines() do list[#list + 1] = line end
  p:close()
  table.sort(list)
  return list
end

describe("c4emu pack", function()
  local out

  before_each(function()
    out = scratch("pack") .. "/squished.c4z"
  end)

  it("squishes the modules into one script; check calls the result clean", function()
    local text, code = support.cli("pack " .. PROJECT .. "/squished.c4zproj -o " .. out)
    assert.equal(0, code, text)
    assert.matches("wrote .*squished.c4z %(5 files, Lua squished%)", text)
    assert.matches("OS 4.0.0%s+clean", text)
    assert.matches("result: clean", text)
    -- Items: recurse, exclude, c4zDir; the squished modules and squishy are left out
    assert.same({ "docs/notes.txt", "driver.lua", "driver.xml", "www/documentation.html",
                  "www/icons/x.txt" }, entries(out))
  end)

  it("the packed driver runs exactly as the folder did", function()
    assert.equal(0, select(2, support.cli("pack " .. PROJECT .. "/squished.c4zproj --no-check -o " .. out)))
    local results = {}
    for i, path in ipairs({ PROJECT, out }) do
      local d = c4emu.load(path, { clock = "virtual" })
      d:init()
      results[i] = d:eval("return STATE")
      d:destroy()
    end
    assert.equal("LICENSED ABC as SKC4.LicenseManager", results[1])
    assert.equal(results[1], results[2])
  end)

  it("is deterministic: the same project gives the same bytes", function()
    local other = out:gsub("squished.c4z$", "again.c4z")
    assert.equal(0, select(2, support.cli("pack " .. PROJECT .. "/squished.c4zproj --no-check -o " .. out)))
    assert.equal(0, select(2, support.cli("pack " .. PROJECT .. "/squished.c4zproj --no-check -o " .. other)))
    assert.equal(read(out), read(other))
  end)

  it("names the output after <Driver name> by default and packs without squishing", function()
    local dir = scratch("plain")
    os.execute("cp -r fixtures/drivers/modules/. '" .. dir .. "/'")
    write(dir .. "/modules.c4zproj", [[<Driver type="c4z" name="plainmods" squishLua="false"
      Encryption="true"><Items>
      <Item type="file" name="driver.xml"/><Item type="file" name="driver.lua"/>
      <Item type="file" name="util.lua"/><Item type="dir" name="SKC4"/></Items></Driver>]])
    local text, code = support.cli("pack --no-check " .. dir .. "/modules.c4zproj")
    assert.equal(0, code, text)
    assert.matches("Encryption is out of scope", text)
    assert.same({ "SKC4/LicenseManager.lua", "driver.lua", "driver.xml", "util.lua" },
      entries("plainmods.c4z"))
    local d = c4emu.load("plainmods.c4z", { clock = "virtual" })
    d:init()
    assert.equal("LICENSED ABC", d:eval("return STATE"))
    d:destroy()
    os.remove("plainmods.c4z")
  end)

  describe("refuses bad projects with exit 2", function()
    local dir
    local function project(items, attrs)
      write(dir .. "/p.c4zproj", ('<Driver type="c4z" name="p" %s><Items>%s</Items></Driver>')
        :format(attrs or "", items))
      return support.cli("pack --no-check -o " .. dir .. "/p.c4z " .. dir .. "/p.c4zproj")
    end

    before_each(function()
      dir = scratch("badproj")
      write(dir .. "/driver.xml", "<devicedata><config><script file='driver.lua'/></config></devicedata>")
      write(dir .. "/driver.lua", "x = 1")
    end)

    local cases = {
      { "a missing file", '<Item type="file" name="driver.xml"/><Item type="file" name="gone.lua"/>',
        nil, "file item 'gone.lua' does not exist" },
      { "a missing folder", '<Item type="file" name="driver.xml"/><Item type="dir" name="nodir"/>',
        nil, "dir item 'nodir' does not exist" },
      { "a name escaping the folder", '<Item type="file" name="driver.xml"/><Item type="file" name="../x.lua"/>',
        nil, "leaves the project folder" },
      { "an absolute name", '<Item type="file" name="/etc/hostname"/>', nil, "leaves the project folder" },
      { "a c4zDir escaping the archive", '<Item type="file" name="driver.xml" c4zDir="../up"/>',
        nil, "c4zDir '../up' must be a relative folder" },
      { "two files at one place", '<Item type="file" name="driver.xml"/><Item type="file" name="driver.xml"/>',
        nil, "two items put a file at 'driver.xml'" },
      { "no driver.xml", '<Item type="file" name="driver.lua"/>', nil, "no item puts driver.xml" },
      { "squishLua without squishy", '<Item type="file" name="driver.xml"/>', 'squishLua="true"',
        "needs a squishy file" },
      { "a bad Item type", '<Item type="folder" name="x"/>', nil, 'type must be "dir" or "file"' },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local text, code = project(c[2], c[3])
        assert.equal(2, code, text)
        assert.matches(c[4], text, 1, true)
      end)
    end

    it("malformed XML, a squishy naming a missing module, and a missing project", function()
      write(dir .. "/p.c4zproj", '<Driver type="c4z" name="p"><Items>')
      local text, code = support.cli("pack " .. dir .. "/p.c4zproj")
      assert.equal(2, code)
      assert.matches("p.c4zproj: line %d+, column %d+:", text)
      write(dir .. "/squishy", 'Main "driver.lua"\nModule "missing.mod"\n')
      text, code = project('<Item type="file" name="driver.xml"/><Item type="file" name="driver.lua"/>',
        'squishLua="true"')
      assert.equal(2, code)
      assert.matches("squishy Module \"missing.mod\" 'missing/mod.lua' does not exist", text, 1, true)
      text, code = support.cli("pack " .. dir .. "/none.c4zproj")
      assert.equal(2, code)
      assert.matches("none.c4zproj: No such file", text)
      text, code = support.cli("pack")
      assert.equal(2, code)
      assert.matches("usage: c4emu pack", text)
    end)
  end)
end)
