-- The examples of emulator/README-devices.md run as specs: each ```lua block
-- whose first line is "-- example: NAME" is read from the file and run, so
-- the README cannot drift from what c4emu does.
local c4emu = require "c4emu"

local function examples()
  local f = assert(io.open("emulator/README-devices.md"))
  local text = f:read("*a")
  f:close()
  local list = {}
  for code in text:gmatch("```lua\n(.-)```") do
    local name = code:match("^%-%- example: (%w+)")
    if name then list[#list + 1] = { name = name, code = code } end
  end
  return list
end

describe("emulator/README-devices.md", function()
  local list = examples()

  it("has the Renoise and the WINDEV example", function()
    local names = {}
    for _, e in ipairs(list) do names[#names + 1] = e.name end
    assert.same({ "renoise", "windev" }, names)
  end)

  for _, e in ipairs(list) do
    it("example " .. e.name .. " runs", function()
      local chunk = assert(loadstring(e.code, "=README-devices.md " .. e.name))
      chunk() -- each example asserts what it shows
    end)
  end
end)
