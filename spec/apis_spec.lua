-- `c4emu apis`: the API coverage table made from the OS-version table.
--
-- "Emulated" is derived (the C4 table, the metatables and the globals of a
-- loaded driver; the callbacks the families and the host list), so these
-- specs check the derivation against what a driver really gets, the
-- callback lists against the calls in the sources, and the README's copy
-- against the command.
local c4emu = require "c4emu"
local S = require "support"

-- Parses `c4emu apis` into {name = {kind=, since=, c4emu=, on=, note=}} and a list.
local function table_of(args)
  local out, code = S.cli("apis " .. (args or ""))
  assert.equal(0, code, out)
  local rows, list = {}, {}
  local with_os = args and args:find("--os", 1, true)
  local function trim(x) return (x:gsub("^%s+", ""):gsub("%s+$", "")) end
  for line in out:gmatch("[^\n]+") do
    -- fixed columns: name 40, kind 8, since 7, c4emu 8 [, on V 7], note
    local name, kind = trim(line:sub(1, 40)), trim(line:sub(42, 49))
    if name ~= "API" and (kind == "method" or kind == "object" or kind == "callback"
        or kind == "global") then
      local r = { kind = kind, since = trim(line:sub(51, 57)), c4emu = trim(line:sub(59, 66)) }
      if with_os then r.on, r.note = trim(line:sub(68, 74)), trim(line:sub(76))
      else r.note = trim(line:sub(68)) end
      assert.is_nil(rows[name], "one row per API: " .. name .. " is listed twice")
      rows[name] = r
      list[#list + 1] = name
    end
  end
  return rows, list, out
end

local read = S.read_file

describe("c4emu apis", function()
  local rows, list, out
  setup(function() rows, list, out = table_of() end)

  it("lists the C4 APIs, object methods, callbacks and globals with a version", function()
    assert.is_true(#list > 150, "rows: " .. #list)
    assert.same({ kind = "method", since = "2.1.0", c4emu = "yes", note = rows["C4:CreateServer"].note },
      rows["C4:CreateServer"])
    assert.equal("3.3.0", rows["C4:CreateTLSServer"].since)
    -- validation: APIs public drivers call (s3-apis-a emulates them)
    assert.same({"all", "yes"}, {rows["C4:RenameDevice"].since, rows["C4:RenameDevice"].c4emu})
    assert.same({"3.3.0", "yes"}, {rows["C4:ColorXYtoRGB"].since, rows["C4:ColorXYtoRGB"].c4emu})
    assert.equal("3.3.0", rows["C4:ColorRGBtoXY"].since)
    assert.equal("3.3.0", rows["C4:ColorXYtoCCT"].since)
    assert.same({"2.8.0", "yes"}, {rows["C4:GetDevicesByName"].since, rows["C4:GetDevicesByName"].c4emu})
    assert.same({"2.1.0", "yes"}, {rows["OnDriverRemovedFromProject"].since,
                                   rows["OnDriverRemovedFromProject"].c4emu})
    assert.equal("yes", rows["TestCondition"].c4emu)
    assert.equal("object", rows["C4LuaTcpClient:ReadUntil"].kind)
    assert.equal("callback", rows["OnServerStatusChanged"].kind)
    assert.equal("2.9.0", rows["OnServerStatusChanged"].since)
    assert.equal("global", rows["hexdump"].kind)
    assert.equal("all", rows["C4:SetTimer"].since)
    assert.matches("(%d+) of " .. #list .. " emulated", out)
    assert.matches("io%.popen removed", out)
  end)

  it("marks a C4 method emulated exactly when a loaded driver's C4 has it", function()
    local d = c4emu.load(S.folder("minimal"))
    local present = d:eval("local t = {} for k in pairs(C4) do t[k] = true end return t")
    d:destroy()
    for name in pairs(present) do
      assert.is_not_nil(rows["C4:" .. name], "C4:" .. name .. " has no row in the version table")
      assert.equal("yes", rows["C4:" .. name].c4emu, name)
    end
    for name, r in pairs(rows) do
      if r.kind == "method" then
        assert.equal(present[name:sub(4)] and "yes" or "not yet", r.c4emu, name)
      end
    end
  end)

  it("marks object methods and globals from what the driver's state holds", function()
    local d = c4emu.load(S.folder("minimal"))
    d:init()
    local has = d:eval([[
      local t = {}
      t.write = type(C4:CreateTCPClient().Write) == "function"
      t.cancel = type(C4:SetTimer(1000, function() end).Cancel) == "function"
      t.hexdump = type(hexdump) == "function"
      t.pack = string.pack ~= nil
      return t
    ]])
    d:destroy()
    assert.equal(has.write and "yes" or "not yet", rows["C4LuaTcpClient:Write"].c4emu)
    assert.equal(has.cancel and "yes" or "not yet", rows["C4LuaTimer:Cancel"].c4emu)
    assert.equal(has.hexdump and "yes" or "not yet", rows["hexdump"].c4emu)
    assert.equal(has.pack and "yes" or "not yet", rows["string.pack"].c4emu)
  end)

  it("marks a callback emulated exactly when the sources call it", function()
    -- The calls into driver globals: emu_push_global_fn, the lifecycle, ExecuteCommand.
    local called = {}
    local p = io.popen("cat emulator/*.c c4api/*.c c4api/*/*.c")
    local src = p:read("*a")
    p:close()
    for pat in ("emu_push_global_fn%([%w_%.>%-]+, \"([%w_]+)\"|emu_call_lifecycle%(ctx, \"([%w_]+)\"|"
        .. "lua_getglobal%(ctx%->L, \"([%w_]+)\""):gmatch("[^|]+") do
      for name in src:gmatch(pat) do called[name] = true end
    end
    assert.is_true(called.OnServerDataIn and called.OnDriverInit and called.ExecuteCommand)
    for name in pairs(called) do
      local r = rows[name]
      assert.is_not_nil(r, name .. " is called by c4emu but has no row in the version table")
      if r.kind == "callback" then assert.equal("yes", r.c4emu, name) end
    end
    for name, r in pairs(rows) do
      if r.kind == "callback" and r.c4emu == "yes" then
        assert.is_true(called[name] == true, name .. " is marked emulated but nothing calls it")
      end
    end
  end)

  it("names every C4 API and callback of the DriverWorks reference", function()
    local ref = read("../shared/reference/driverworks.md")
    if not ref then return pending("../shared/reference/driverworks.md is not here") end
    for name in ref:gmatch("C4:(%u[%w_]*)") do
      assert.is_not_nil(rows["C4:" .. name], "the reference names C4:" .. name)
    end
    for name in ref:gmatch("%f[%w](On%u%a+)") do
      local listed = rows[name] or rows[name .. "*"]
      for k in pairs(rows) do
        if k:match(":" .. name .. "$") then listed = true end
      end
      if name ~= "OnServerStatusChannged" then -- a typo the reference quotes (§12 #4)
        assert.is_truthy(listed, "the reference names " .. name)
      end
    end
  end)

  it("with --os says what that version has", function()
    local old = table_of("--os 2.8.0")
    assert.equal("yes", old["C4:CreateServer"].on)
    assert.equal("no", old["C4:CreateTLSServer"].on)
    assert.equal("no", old["OnServerStatusChanged"].on)
    assert.equal("yes", old["C4:SetTimer"].on)
    local new = table_of("--os 3.3.1")
    assert.equal("yes", new["C4:CreateTLSServer"].on)
  end)

  it("refuses an unknown version or option with exit code 2", function()
    S.cli_refuses("apis --os 9.9.9", "unknown OS version '9%.9%.9'")
    S.cli_refuses("apis --frobnicate", "unknown option '%-%-frobnicate'")
    S.cli_refuses("apis extra", "unexpected argument 'extra'")
  end)

  it("prints the same rows as Markdown tables, by version", function()
    local md, code = S.cli("apis --markdown")
    assert.equal(0, code)
    assert.matches("| since | emulated | not yet |", md, 1, true)
    assert.matches("\n| 2.1.0 | `CreateServer`, `DestroyServer`, `ServerCloseClient`, `ServerSend` |", md, 1, true)
    local names = {}
    for line in md:gmatch("[^\n]+") do
      if line:sub(1, 2) == "| " then
        for name in line:gmatch("`([^`]+)`") do names[#names + 1] = name end
      end
    end
    assert.equal(#list, #names)
    local old = S.cli("apis --markdown --os 2.8.0")
    assert.matches("On OS 2.8.0: ", old, 1, true)
    assert.is_nil(old:find("`CreateTLSServer`", 1, true))
  end)
end)

describe("the README's API coverage table", function()
  it("is exactly what `c4emu apis --markdown` prints (make readme-apis)", function()
    local readme = assert(read("README.md"))
    local copy = readme:match("<!%-%- c4emu apis: begin[^\n]*\n(.-)<!%-%- c4emu apis: end %-%->")
    assert.is_not_nil(copy, "README.md has no c4emu apis markers")
    local md = S.cli("apis --markdown")
    assert.is_true(copy == md, "README.md's API table is stale: run `make readme-apis`")
  end)
end)
