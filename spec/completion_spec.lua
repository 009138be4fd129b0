-- tools/c4emu.bash-completion (issue 15): what bash offers, read from the
-- built c4emu's --help, so it follows the option table.
local S = require "support"

local function complete(...)
  local words = {}
  for i, w in ipairs({...}) do words[i] = "'" .. w .. "'" end
  local script = ("source tools/c4emu.bash-completion; PATH=%s:$PATH; COMP_WORDS=(%s); " ..
    "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _c4emu; printf '%%s\\n' \"${COMPREPLY[@]}\"")
    :format(S.build, table.concat(words, " "))
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(script, "\n")
  f:close()
  local p = io.popen("unset LD_PRELOAD; bash " .. file)
  local out = p:read("*a")
  p:close()
  os.remove(file)
  local set = {}
  for w in out:gmatch("[^\n]+") do set[w] = true end
  return set
end

describe("bash completion", function()
  it("offers the subcommands", function()
    local c = complete("c4emu", "")
    assert.truthy(c.run and c.check and c["--help"], "got: " .. table.concat((function()
      local t = {} for k in pairs(c) do t[#t + 1] = k end return t end)(), " "))
  end)

  it("offers each subcommand's own options only", function()
    local check, run = complete("c4emu", "check", "--"), complete("c4emu", "run", "--")
    assert.truthy(check["--junit"] and check["--timeout"] and check["--strict"] and check["--watchdog"])
    assert.is_nil(check["--once"])
    assert.truthy(run["--once"] and run["--watchdog"] and run["--memory"])
    assert.is_nil(run["--junit"])
    assert.is_nil(run["--coverage"])
  end)

  it("offers OS versions, also after a comma, and init-rule modes", function()
    assert.truthy(complete("c4emu", "check", "--os", "3.3")["3.3.1"])
    assert.truthy(complete("c4emu", "check", "--os", "3.3.1,4.")["3.3.1,4.0.0"])
    assert.same({warn = true}, complete("c4emu", "run", "--init-rule", "w"))
  end)

  it("offers driver folders and .c4z files for PATH", function()
    assert.truthy(complete("c4emu", "run", "fixtures/drivers/runa")["fixtures/drivers/runaway"])
    assert.truthy(complete("c4emu", "check", S.build .. "/fixtures/cover")[S.build .. "/fixtures/coverage.c4z"])
  end)
end)
