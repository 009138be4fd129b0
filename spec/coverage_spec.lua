-- Coverage of driver code (issue 15): a line hook in each driver state
-- records which lines of the driver's own files ran; LCOV (genhtml renders
-- it) and luacov's stats format.  fixtures/drivers/coverage names the lines.
local c4emu = require "c4emu"
local S = require "support"

local fixture = S.folder("coverage")

local read = S.read

-- LCOV text → {file = {line = hits}}, and the LF/LH of each file.
local function parse_lcov(text)
  local files, totals, cur = {}, {}, nil
  for line in text:gmatch("[^\n]+") do
    local sf = line:match("^SF:(.*)$")
    if sf then cur = sf; files[cur] = {}; totals[cur] = {} end
    local l, h = line:match("^DA:(%d+),(%d+)$")
    if l then files[cur][tonumber(l)] = tonumber(h) end
    local lf = line:match("^LF:(%d+)$")
    if lf then totals[cur].found = tonumber(lf) end
    local lh = line:match("^LH:(%d+)$")
    if lh then totals[cur].hit = tonumber(lh) end
  end
  return files, totals
end

-- luacov's stats file, read the way luacov's stats.load reads it.
local function parse_luacov(path)
  local data, f = {}, assert(io.open(path))
  while true do
    local n = f:read("*n")
    if not n then break end
    assert.equal(":", f:read(1))
    local name = f:read("*l")
    data[name] = {max = n}
    for i = 1, n do
      local hits = f:read("*n")
      assert.is_number(hits)
      assert.equal(" ", f:read(1))
      if hits > 0 then data[name][i] = hits end
    end
  end
  f:close()
  return data
end

describe("coverage", function()
  it("d:coverage(): the lines of the driver's own files that ran, package-relative", function()
    local d = c4emu.load(fixture, {coverage = true})
    d:init()
    local cov = d:coverage()
    assert.truthy(cov["driver.lua"][5], "OnDriverInit's body ran")
    assert.is_nil(cov["driver.lua"][9], "NeverCalled did not run")
    assert.is_nil(cov["driver.lua"][14], "ExecuteCommand did not run yet")
    assert.truthy(cov["lib/util.lua"][5], "util.double ran")
    assert.is_nil(cov["lib/util.lua"][9])
    assert.equal(5, d:command("HALF"))
    cov = d:coverage()
    assert.equal(1, cov["driver.lua"][14])
    assert.equal(1, cov["lib/util.lua"][9])
    -- console lines and d:eval are not the driver's files
    d:eval("local x = 1\nreturn x")
    for name in pairs(d:coverage()) do assert.truthy(name == "driver.lua" or name == "lib/util.lua", name) end
    d:destroy()
  end)

  it("counts the same for the packed .c4z", function()
    local d = c4emu.load(S.c4z("coverage"), {coverage = true})
    d:init()
    assert.truthy(d:coverage()["lib/util.lua"][5])
    d:destroy()
  end)

  it("is off unless asked for", function()
    if os.getenv("C4EMU_COVERAGE") then return end -- the environment turns it on everywhere
    local d = c4emu.load(fixture)
    d:init()
    assert.same({}, d:coverage())
    d:destroy()
  end)

  it("check --coverage writes LCOV with unrun lines at 0, and genhtml renders it", function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)
    local out, code = S.cli("check " .. fixture .. " --coverage " .. dir .. "/lcov.info")
    assert.equal(0, code, out)
    local files, totals = parse_lcov(read(dir .. "/lcov.info"))
    assert.equal(0, files["driver.lua"][9], "NeverCalled's line is executable, not run")
    assert.truthy(files["driver.lua"][5] > 0)
    assert.is_nil(files["driver.lua"][1], "a comment is not an executable line")
    assert.equal(0, files["lib/util.lua"][9])
    local n = 0
    for _ in pairs(files["driver.lua"]) do n = n + 1 end
    assert.equal(n, totals["driver.lua"].found)
    -- genhtml reads the sources from the package folder
    local rc = os.execute(("unset LD_PRELOAD; cd %s && genhtml -q %s/lcov.info -o %s/html >%s/genhtml.log 2>&1")
      :format(fixture, dir, dir, dir))
    assert.equal(0, rc, read(dir .. "/genhtml.log"))
    assert.truthy(read(dir .. "/html/index.html"):find("lib", 1, true))
    os.execute("rm -rf " .. dir)
  end)

  it("check --coverage FILE.out writes luacov's stats format", function()
    local file = os.tmpname() .. ".out"
    local out, code = S.cli("check " .. fixture .. " --coverage " .. file)
    assert.equal(0, code, out)
    local data = parse_luacov(file)
    os.remove(file)
    assert.truthy(data["driver.lua"][5])
    assert.is_nil(data["driver.lua"][9])
    assert.truthy(data["lib/util.lua"][5])
  end)

  it("check --coverage names the reason it cannot write", function()
    local out, code = S.cli("check " .. fixture .. " --coverage /no/such/dir/lcov.info")
    assert.equal(2, code)
    assert.matches("cannot write /no/such/dir/lcov.info: No such file or directory", out)
  end)

  it("C4EMU_COVERAGE=FILE collects across a whole busted run (drivers left alive too)", function()
    local file = os.tmpname() .. ".info"
    local rc = os.execute(("C4EMU_COVERAGE=%s busted --pattern=probe spec/coverage_probe.lua >/dev/null 2>&1")
      :format(file))
    assert.equal(0, rc)
    local files = parse_lcov(read(file))
    os.remove(file)
    assert.equal(1, files["lib/util.lua"][9], "util.half ran once")
    assert.equal(0, files["driver.lua"][9])
  end)
end)
