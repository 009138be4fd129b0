-- spec/file_spec.lua — the File API (C4:FileOpen ... FileCreateDir) and the
-- confined io/os functions: read and write in the sandbox, read only in the
-- package folder, nothing elsewhere.
local c4emu = require "c4emu"
local support = require "support"

-- A minimal driver, loaded and initialised afresh for each test of the
-- enclosing describe (set receives it) and destroyed after it.
local function each_minimal(set)
  local cur
  before_each(function()
    cur = c4emu.load(support.folder("minimal"), { clock = "virtual" })
    cur:init()
    set(cur)
  end)
  after_each(function() cur:destroy() end)
end

describe("File API", function()
  local d
  each_minimal(function(x) d = x end)

  it("writes, seeks, reads and closes a file in the sandbox", function()
    local h, n, pos, size, data, valid = d:eval([[
      local h = C4:FileOpen("data.bin")
      local n = C4:FileWrite(h, 4, "\0\1\2\3\4\5")
      local pos = C4:FileGetPos(h)
      C4:FileSetPos(h, 1)
      local data = C4:FileRead(h, 2)
      return h, n, pos, C4:FileGetSize(h), data, C4:FileIsValid(h)]])
    assert.is_true(h > 0)
    assert.equal(4, n)
    assert.equal(4, pos)
    assert.equal(4, size)
    assert.equal("\1\2", data)
    assert.is_true(valid)
    assert.equal(1, d:eval("return C4:FileGetOpenedHandles()[1]"))
    assert.equal("data.bin", d:eval("return C4:FileGetName(1)"))
    -- reading past the end returns what is left, then "", and FileIsValid says so
    assert.equal("\3", d:eval("return C4:FileRead(1, 10)"))
    assert.is_false(d:eval("return C4:FileIsValid(1)"))
    assert.equal("", d:eval("return C4:FileRead(1, 10)"))
    d:eval("C4:FileClose(1)")
    local open = d:handles()
    assert.equal(0, open)
  end)

  it("opens at the end of an existing file, as the FileOpen page says", function()
    local pos, all = d:eval([[
      local h = C4:FileOpen("log.txt") C4:FileWriteString(h, "one") C4:FileClose(h)
      h = C4:FileOpen("log.txt")
      local pos = C4:FileGetPos(h)
      C4:FileWriteString(h, "two")
      C4:FileSetPos(h, 0)
      local all = C4:FileRead(h, C4:FileGetSize(h))
      C4:FileClose(h)
      return pos, all]])
    assert.equal(3, pos)
    assert.equal("onetwo", all)
  end)

  it("gives the documented failure values for a closed handle, and warns", function()
    local r = { d:eval([[
      local h = C4:FileOpen("x") C4:FileClose(h)
      return C4:FileWrite(h, 1, "a"), C4:FileWriteString(h, "a"), C4:FileRead(h, 1),
             C4:FileGetPos(h), C4:FileGetSize(h), C4:FileIsValid(h), C4:FileSetPos(h, 0)]]) }
    assert.same({ -1, -1, "", -1, -1, false, false }, r)
    assert.truthy(d:logged("FileWrite%(1%): not an open file handle %(it was closed%)"))
    d:eval("C4:FileClose(1)") -- closing twice is harmless
    local err = support.raised(d.eval, d, "return C4:FileRead('one', 1)")
    assert.matches("bad argument #1 to 'FileRead'", err)
  end)

  it("lists, tests and deletes files; FileList is nil when there are none", function()
    assert.is_nil(d:eval("return C4:FileList()"))
    d:eval([[for _, n in ipairs({"b.txt", "a.txt"}) do C4:FileClose(C4:FileOpen(n)) end]])
    assert.same({ "a.txt", "b.txt" }, d:eval("return C4:FileList()"))
    assert.is_true(d:eval("return C4:FileExists('a.txt')"))
    assert.is_true(d:eval("return C4:FileDelete('a.txt')"))
    assert.is_false(d:eval("return C4:FileExists('a.txt')"))
    assert.is_true(d:eval("return C4:FileDelete('SANDBOX', 'b.txt')"))
    assert.is_nil(d:eval("return C4:FileList()"))
  end)

  it("moves between folders with FileSetDir, FileGetDir and FileCreateDir", function()
    local sandbox = d:eval("return C4:GetSandboxDir()")
    assert.equal(sandbox, d:eval("return C4:FileGetDir()"))
    assert.is_true(d:eval("return C4:FileCreateDir('SANDBOX', 'data/backup')"))
    assert.is_true(d:eval("return C4:FileSetDir('SANDBOX', 'data/backup')"))
    assert.equal(sandbox .. "/data/backup", d:eval("return C4:FileGetDir()"))
    d:eval("C4:FileClose(C4:FileOpen('in-backup.txt'))")
    assert.is_true(d:eval("return C4:FileSetDir(C4:GetSandboxDir() .. '/data')"))
    assert.is_true(d:eval("return C4:FileExists('backup/in-backup.txt')"))
    assert.is_false(d:eval("return C4:FileSetDir('/etc')"))
    assert.is_false(d:eval("return C4:FileCreateDir('BOGUS', 'x')"))
    assert.truthy(d:logged("'BOGUS' is unknown"))
  end)

  it("moves files within the sandbox with FileMove (alias, from, alias, to)", function()
    d:eval("C4:FileCreateDir('SANDBOX', 'tmp') C4:FileCreateDir('SANDBOX', 'data')")
    d:eval("C4:FileSetDir('SANDBOX', 'tmp') C4:FileClose(C4:FileOpen('tmpFile.dat'))")
    assert.is_true(d:eval("return C4:FileMove('SANDBOX', '/tmp/tmpFile.dat', 'SANDBOX', '/data/dataFile.dat')"))
    assert.is_true(d:eval("C4:FileSetDir('SANDBOX', 'data') return C4:FileExists('dataFile.dat')"))
    assert.is_true(d:eval("return C4:FileMove('SANDBOX', 'data/dataFile.dat', 'SANDBOX', 'tmp')"))
    assert.is_true(d:eval("C4:FileSetDir('SANDBOX', 'tmp') return C4:FileExists('dataFile.dat')"))
    assert.is_false(d:eval("return C4:FileMove('C4Z', 'driver.xml', 'SANDBOX', 'x.xml')"))
    assert.is_false(d:eval("return C4:FileMove('SANDBOX', 'tmp/dataFile.dat', 'SANDBOX', '../escape')"))
    local old = c4emu.load(support.folder("minimal"), { clock = "virtual", os = "3.2.0" })
    assert.is_true(old:eval("return C4.FileMove == nil and C4.FileCreateDir == nil"), "added in 3.3.0")
    assert.is_true(old:eval("return type(C4.FileOpen) == 'function'"))
    old:destroy()
  end)

  it("reads the package folder but never writes it", function()
    assert.is_true(d:eval("return C4:FileSetDir('C4Z')"))
    local h, text, w = d:eval([[
      local h = C4:FileOpen("driver.xml")
      C4:FileSetPos(h, 0)
      local text = C4:FileRead(h, 11)
      local w = C4:FileWriteString(h, "x")
      C4:FileClose(h)
      return h, text, w]])
    assert.is_true(h > 0)
    assert.equal("<devicedata", text)
    assert.equal(-1, w)
    assert.equal(-1, d:eval("return C4:FileOpen('new-file-in-package')"))
    assert.is_false(d:eval("return C4:FileDelete('driver.xml')"))
    assert.is_false(d:eval("return C4:FileCreateDir('C4Z', 'sub')"))
  end)

  it("refuses paths that escape the sandbox, with the TLS files' refusals", function()
    for _, name in ipairs({ "../x", "a/../../x", ".hidden", "/etc/passwd", "/tmp/c4emu-escape" }) do
      assert.equal(-1, d:eval("return C4:FileOpen(...)", name), name)
    end
    assert.truthy(d:logged("refused: '..' may not appear"))
    assert.truthy(d:logged("paths starting with '.' or '..' are not allowed"))
    assert.truthy(d:logged("drivers may only use files in their sandbox"))
    assert.is_false(d:eval("return C4:FileExists('/etc/passwd')"))
    assert.is_false(d:eval("return C4:FileDelete('SANDBOX', '../x')"))
  end)

  it("does not follow a symbolic link out of the sandbox", function()
    local sandbox = d:eval("return C4:GetSandboxDir()")
    assert.is_true(os.execute("ln -s /etc '" .. sandbox .. "/etc-link'") == 0)
    assert.equal(-1, d:eval("return C4:FileOpen('etc-link/hostname')"))
    assert.is_false(d:eval("return C4:FileSetDir('SANDBOX', 'etc-link')"))
  end)
end)

describe("File API path aliases MEDIA and LOGGING", function()
  local d
  each_minimal(function(x) d = x end)

  -- the folder an alias leads to, as FileSetDir and FileGetDir show it
  local function folder(alias)
    return d:eval("assert(C4:FileSetDir(...)) local dir = C4:FileGetDir() " ..
                  "C4:FileSetDir('SANDBOX') return dir", alias)
  end

  for _, alias in ipairs({ "MEDIA", "LOGGING" }) do
    it(alias .. " is a folder of its own, read and write, outside the sandbox and the package", function()
      local dir = folder(alias)
      local sandbox, pkg = d:eval("return C4:GetSandboxDir(), C4:GetC4zDir()")
      assert.is_string(dir)
      assert.is_nil(dir:find(sandbox, 1, true))
      assert.is_nil(dir:find(pkg, 1, true))
      assert.is_not.equal(folder(alias == "MEDIA" and "LOGGING" or "MEDIA"), dir)
      -- write with the File API under the alias, read back with io (the same folder)
      assert.is_true(d:eval("return C4:FileCreateDir(..., 'sub/deeper')", alias))
      assert.equal(4, d:eval([[
        assert(C4:FileSetDir(..., "sub/deeper"))
        local h = C4:FileOpen("note.txt") local n = C4:FileWriteString(h, "kept") C4:FileClose(h)
        C4:FileSetDir("SANDBOX")
        return n]], alias))
      assert.is_false(d:eval("return C4:FileExists('note.txt')")) -- not in the sandbox
      local f = assert(io.open(dir .. "/sub/deeper/note.txt"))
      assert.equal("kept", f:read("*a"))
      f:close()
      assert.same({ "note.txt" }, d:eval("return C4:FileList(..., 'sub/deeper')", alias))
      assert.equal("kept", d:eval([[
        local f = assert(io.open(... .. "/sub/deeper/note.txt")) local s = f:read("*a") f:close()
        return s]], dir))
      -- move it into the sandbox and back, then delete it under the alias
      assert.is_true(d:eval("return C4:FileMove(..., 'sub/deeper/note.txt', 'SANDBOX', 'moved.txt')", alias))
      assert.is_true(d:eval("return C4:FileExists('moved.txt')"))
      assert.is_true(d:eval("return C4:FileMove('SANDBOX', 'moved.txt', ..., 'sub')", alias))
      assert.is_true(d:eval("return C4:FileDelete(..., 'sub/moved.txt')", alias))
      assert.is_nil(io.open(dir .. "/sub/moved.txt"))
    end)

    it(alias .. " keeps the confinement: no .., no symbolic link out, no absolute path out", function()
      local dir = folder(alias)
      assert.is_false(d:eval("return C4:FileSetDir(..., '../')", alias))
      assert.is_false(d:eval("return C4:FileDelete(..., 'a/../../x')", alias))
      assert.is_false(d:eval("return C4:FileCreateDir(..., '../escape')", alias))
      assert.truthy(d:logged("'..' may not appear"))
      assert.is_true(os.execute("ln -s /etc '" .. dir .. "/etc-link'") == 0)
      assert.equal(-1, d:eval("C4:FileSetDir(...) return C4:FileOpen('etc-link/hostname')", alias))
      assert.is_false(d:eval("return C4:FileSetDir(..., 'etc-link')", alias))
      assert.is_false(d:eval("return C4:FileMove(..., 'etc-link', 'SANDBOX', 'x')", alias))
      assert.is_nil((d:eval("return io.open(...)", dir .. "/etc-link/hostname")))
      -- the folder's parent (where every run's folders are) is out of reach
      local parent = dir:match("^(.*)/[^/]+$")
      assert.equal(-1, d:eval("return C4:FileOpen(...)", parent .. "/x"))
    end)
  end

  it("leads the controller's own /media and /var/log/debug there, on every OS version", function()
    local media, logging = folder("MEDIA"), folder("LOGGING")
    assert.is_true(d:eval("return C4:FileCreateDir('MEDIA', 'wallpaper/onscreen/custom')"))
    assert.is_true(d:eval("return C4:FileSetDir('/media/wallpaper/onscreen/custom')"))
    assert.equal(media .. "/wallpaper/onscreen/custom", d:eval("return C4:FileGetDir()"))
    d:eval("C4:FileClose(C4:FileOpen('beach.jpg'))")
    assert.same({ "beach.jpg" }, d:eval("return C4:FileList()"))
    assert.equal(logging, (d:eval("C4:FileSetDir('/var/log/debug') return C4:FileGetDir()")))
    assert.is_true(d:eval([[
      local f = assert(io.open("/var/log/debug/mine.log", "a")) f:write("line\n") f:close()
      return C4:FileExists("/var/log/debug/mine.log")]]))
    local f = assert(io.open(logging .. "/mine.log"))
    assert.equal("line\n", f:read("*a"))
    f:close()
    -- a whole component only: /mediafoo is not /media, and /var/log stays out
    assert.equal(-1, d:eval("return C4:FileOpen('/mediafoo')"))
    assert.equal(-1, d:eval("return C4:FileOpen('/var/log/syslog')"))
    assert.equal(-1, d:eval("return C4:FileOpen('/media/../etc/passwd')"))
    -- before 3.3.0 (no aliases, FileSetDir with root access) the full paths work too
    local old = c4emu.load(support.folder("minimal"), { clock = "virtual", os = "3.2.0" })
    old:init()
    assert.is_true(old:eval("return C4:FileSetDir('/media')"))
    assert.matches("/media%-", old:eval("return C4:FileGetDir()"))
    old:destroy()
  end)

  it("is OS 3.3.0: before it an alias is an ordinary name", function()
    local old = c4emu.load(support.folder("minimal"), { clock = "virtual", os = "3.2.3" })
    old:init()
    assert.is_false(old:eval("return C4:FileSetDir('MEDIA')"))
    old:eval("C4:FileClose(C4:FileOpen('SANDBOX'))")
    -- FileDelete(name): the second argument is not a sub-path yet
    assert.is_true(old:eval("return C4:FileDelete('SANDBOX', 'ignored')"))
    assert.is_false(old:eval("return C4:FileExists('SANDBOX')"))
    old:destroy()
  end)

  it("a lone driver's folders are its own, and go with it", function()
    local other = c4emu.load(support.folder("minimal"), { clock = "virtual" })
    other:init()
    local dir = other:eval("C4:FileSetDir('MEDIA') return C4:FileGetDir()")
    assert.is_not.equal(folder("MEDIA"), dir)
    assert.is_true(other:eval("return C4:FileCreateDir('MEDIA', 'x')"))
    assert.equal(0, os.execute("test -d '" .. dir .. "/x'"))
    other:destroy()
    assert.is_not.equal(0, os.execute("test -e '" .. dir .. "'"))
  end)
end)

describe("io and os inside a driver", function()
  local d
  each_minimal(function(x) d = x end)

  it("io.open reads and writes the sandbox and reads the package", function()
    assert.equal("hi", d:eval([[
      local p = C4:GetSandboxDir() .. "/note.txt"
      local f = assert(io.open(p, "w")) f:write("hi") f:close()
      f = assert(io.open(p)) local s = f:read("*a") f:close()
      return s]]))
    assert.equal("<devicedata", d:eval([[
      local f = assert(io.open("driver.xml")) local s = f:read(11) f:close() return s]]))
    assert.equal("hi", d:eval([[for l in io.lines(C4:GetSandboxDir() .. "/note.txt") do return l end]]))
  end)

  it("io.open refuses outside the two folders with nil, message, EACCES", function()
    local f, msg, code = d:eval([[return io.open("/etc/passwd")]])
    assert.is_nil(f)
    assert.matches("refused", msg)
    assert.equal(13, code)
    f, msg = d:eval([[return io.open("/tmp/c4emu-should-not-exist", "w")]])
    assert.is_nil(f)
    assert.is_nil(io.open("/tmp/c4emu-should-not-exist"))
    f, msg = d:eval([[return io.open(C4:GetC4zDir() .. "driver.xml", "a")]])
    assert.is_nil(f)
    assert.matches("read%-only", msg)
    local r, m = d:eval([[return loadfile("/etc/passwd")]])
    assert.is_nil(r)
    assert.matches("refused", m)
  end)

  it("confines os.remove and os.rename and refuses os.execute", function()
    local ok, msg = d:eval([[return os.remove("/tmp/anything")]])
    assert.is_nil(ok)
    assert.matches("refused", msg)
    assert.is_true(d:eval([[
      local p = C4:GetSandboxDir() .. "/a" io.open(p, "w"):close()
      return os.rename(p, C4:GetSandboxDir() .. "/b")]]))
    local err = support.raised(d.eval, d, [[os.execute("touch /tmp/x")]])
    assert.matches("os.execute is not available", err)
  end)
end)
