-- spec/unzip_spec.lua — C4:Unzip(zipfile, filespec, destination) and
-- C4:FileFreeSpace() (c4api/file/c4_unzip.c; c4api/file/README.md).
-- Archives are made with build/pack-c4z (--raw writes hostile names).
local S = require "support"
local open = S.loader(after_each)

local pack = S.build .. "/pack-c4z"

-- A driver, its sandbox, and a scratch folder for the files packed.
local function setup_driver(opts)
  local d = open("minimal", opts)
  d:init()
  return d, d:eval("return C4:GetSandboxDir()"), S.scratch("unzip")
end

local function zip_of(out, files)
  local dir = S.scratch("unzip-src")
  local args = {}
  for i = 1, #files, 2 do
    local src = dir .. "/f" .. i
    S.write_file(src, files[i + 1])
    args[#args + 1] = "'" .. files[i] .. "' '" .. src .. "'"
  end
  local out_text, code = S.sh(pack .. " --raw '" .. out .. "' " .. table.concat(args, " "))
  assert.equal(0, code, out_text)
end

local function unzip(d, ...)
  return d:eval("return C4:Unzip(...)", ...)
end

describe("C4:Unzip", function()
  it("extracts every file for '*', creating the archive's folders, in archive order", function()
    local d, sandbox = setup_driver()
    zip_of(sandbox .. "/pkg.zip", { "driver.xml", "<devicedata/>", "www/icons/a.png", "PNG",
      "lua/x.lua", "return 1" })
    local ok, fileset, errors = unzip(d, "pkg.zip", "*", "out")
    assert.is_true(ok)
    assert.same({ "driver.xml", "www/icons/a.png", "lua/x.lua" }, fileset)
    assert.same({}, errors)
    assert.equal("PNG", S.read(sandbox .. "/out/www/icons/a.png"))
    assert.equal("return 1", d:eval("local f = io.open(C4:GetSandboxDir() .. '/out/lua/x.lua') "
      .. "local s = f:read('*a') f:close() return s"))
  end)

  it("takes only the files filespec matches, '/' included ('*.lua' finds lua/x.lua)", function()
    local d, sandbox = setup_driver()
    zip_of(sandbox .. "/pkg.zip", { "driver.lua", "a", "www/x.gif", "b", "lua/x.lua", "c" })
    local ok, fileset, errors = unzip(d, "pkg.zip", "*.lua", "out")
    assert.is_true(ok)
    assert.same({ "driver.lua", "lua/x.lua" }, fileset)
    assert.same({}, errors)
    assert.is_nil(S.read_file(sandbox .. "/out/www/x.gif"))
    -- nothing matches: true, nothing extracted
    assert.same({ true, {}, {} }, { unzip(d, "pkg.zip", "*.txt", "out") })
  end)

  it("overwrites a file extracted before, and accepts absolute sandbox paths", function()
    local d, sandbox = setup_driver()
    S.write_file(sandbox .. "/old.txt", "old")
    zip_of(sandbox .. "/pkg.zip", { "old.txt", "new" })
    local ok = unzip(d, sandbox .. "/pkg.zip", "*", sandbox)
    assert.is_true(ok)
    assert.equal("new", S.read(sandbox .. "/old.txt"))
  end)

  it("says when the zip file does not exist, keyed by the name given (the page's example 4)", function()
    local d = setup_driver()
    assert.same({ false, {}, { ["Bogus.c4z"] = "The specified zip file does not exist" } },
      { unzip(d, "Bogus.c4z", "*", "out") })
    assert.same({ false, {}, { ["no/such/dir/x.zip"] = "The specified zip file does not exist" } },
      { unzip(d, "no/such/dir/x.zip", "*", "out") })
  end)

  it("says when the file is no zip archive (garbage, empty), and writes nothing", function()
    local d, sandbox = setup_driver()
    S.write_file(sandbox .. "/bad.zip", ("not a zip at all "):rep(100))
    S.write_file(sandbox .. "/empty.zip", "")
    for _, name in ipairs({ "bad.zip", "empty.zip" }) do
      local ok, fileset, errors = unzip(d, name, "*", "out")
      assert.is_false(ok)
      assert.same({}, fileset)
      assert.matches("^The specified file is not a zip archive: ", errors[name])
    end
    assert.is_nil(S.read_file(sandbox .. "/out"))
  end)

  it("refuses zip-slip entries ('..', absolute, backslash) one by one and extracts the rest", function()
    local d, sandbox = setup_driver()
    zip_of(sandbox .. "/slip.zip", { "../evil.lua", "x", "/tmp/c4emu-unzip-evil", "x",
      "a/../../evil2.lua", "x", "lua\\evil.lua", "x", "ok.txt", "fine" })
    local ok, fileset, errors = unzip(d, "slip.zip", "*", "out")
    assert.is_false(ok)
    assert.same({ "ok.txt" }, fileset)
    assert.matches("entry refused: it contains a '%.%.' component", errors["../evil.lua"])
    assert.matches("entry refused: it contains a '%.%.' component", errors["a/../../evil2.lua"])
    assert.matches("entry refused: it is an absolute path", errors["/tmp/c4emu-unzip-evil"])
    assert.matches("entry refused: it contains a backslash", errors["lua\\evil.lua"])
    assert.is_nil(S.read_file(sandbox .. "/evil.lua"))
    assert.is_nil(S.read_file(sandbox .. "/../evil.lua"))
    assert.is_nil(S.read_file("/tmp/c4emu-unzip-evil"))
  end)

  it("refuses symbolic-link entries, and never follows a link already in the sandbox", function()
    local d, sandbox = setup_driver()
    local outside_zip = "../../../../" .. S.build .. "/fixtures/bad/symlink.c4z"
    local _, _, refused = unzip(d, outside_zip, "*", "x")  -- the path rule: outside the sandbox
    assert.matches("refused: paths starting with '%.' or '%.%.' are not allowed", refused[outside_zip])
    os.execute("cp " .. S.build .. "/fixtures/bad/symlink.c4z '" .. sandbox .. "/link.zip'")
    local ok, fileset, errs = unzip(d, "link.zip", "*", "out")
    assert.is_false(ok)
    assert.same({ "driver.xml" }, fileset)
    assert.equal("entry refused: symbolic links are not extracted; entries must stay inside the destination",
      errs["driver.lua"])
    -- a link in the destination that points out of the sandbox leads nowhere
    local outside = S.scratch("unzip-outside")
    os.execute("mkdir -p '" .. sandbox .. "/out2' && ln -s '" .. outside .. "' '" .. sandbox .. "/out2/link'")
    zip_of(sandbox .. "/through.zip", { "link/pwned.txt", "x", "keep.txt", "y" })
    ok, fileset, errs = unzip(d, "through.zip", "*", "out2")
    assert.is_false(ok)
    assert.same({ "keep.txt" }, fileset)
    assert.matches("^Could not open file \"out2/link/pwned.txt\": ", errs["link/pwned.txt"])
    assert.is_nil(S.read_file(outside .. "/pwned.txt"))
  end)

  it("stops an entry that inflates past what its header declares, leaving no part of it", function()
    local d, sandbox = setup_driver()
    os.execute("cp " .. S.build .. "/fixtures/bad/liar.c4z '" .. sandbox .. "/liar.zip'")
    local ok, fileset, errors = unzip(d, "liar.zip", "*", "out")
    assert.is_false(ok)
    local name, msg = next(errors)
    assert.matches("inflates past the 1000 bytes its header declares", msg)
    assert.is_nil(S.read_file(sandbox .. "/out/" .. name))
    assert.is_table(fileset)
  end)

  it("writes only in the sandbox: a destination in the package folder is refused", function()
    local d, sandbox = setup_driver()
    zip_of(sandbox .. "/pkg.zip", { "a.txt", "a" })
    local c4z = d:eval("return C4:GetC4zDir()")
    local ok, fileset, errors = unzip(d, "pkg.zip", "*", c4z .. "unpacked")
    assert.is_false(ok)
    assert.same({}, fileset)
    assert.matches("the destination must be in the sandbox", errors[c4z .. "unpacked"])
    ok, _, errors = unzip(d, "pkg.zip", "*", "/tmp")
    assert.is_false(ok)
    assert.matches("refused: drivers may only use files in their sandbox", errors["/tmp"])
  end)

  it("extracts into MEDIA and LOGGING too, by the controller's paths (s4-files)", function()
    local d, sandbox = setup_driver()
    zip_of(sandbox .. "/pkg.zip", { "w/a.jpg", "JPG" })
    local ok, fileset, errors = unzip(d, "pkg.zip", "*", "/media/wallpaper")
    assert.is_true(ok)
    assert.same({ "w/a.jpg" }, fileset)
    assert.is_true(d:eval("return C4:FileExists('/media/wallpaper/w/a.jpg')"))
    local media = d:eval("C4:FileSetDir('MEDIA') local m = C4:FileGetDir() C4:FileSetDir('SANDBOX') return m")
    assert.equal("JPG", S.read(media .. "/wallpaper/w/a.jpg"))
    ok = unzip(d, "pkg.zip", "*", "/var/log/debug/x")
    assert.is_true(ok)
    assert.is_true(d:eval("return C4:FileExists('/var/log/debug/x/w/a.jpg')"))
    assert.is_false(d:eval("return C4:FileExists('w/a.jpg')")) -- not in the sandbox
  end)

  it("raises on wrong argument types, in Lua's words", function()
    local d = setup_driver()
    assert.matches("bad argument #2 to 'Unzip' %(string expected, got no value%)",
      S.raised(d.eval, d, "C4:Unzip('a.zip')"))
    assert.matches("bad argument #3 to 'Unzip' %(string expected, got table%)",
      S.raised(d.eval, d, "C4:Unzip('a.zip', '*', {})"))
  end)

  it("is C4:Unzip from OS 3.3.0; C4:UnZip (the page's heading) reads nil, with a note", function()
    local d = setup_driver()
    assert.is_nil(d:eval("return C4.UnZip"))
    local notes = d:notes()
    assert.equal("not-provided", notes[1].kind)
    assert.matches("C4:UnZip is not a method on a controller .*C4:Unzip%(zipfile, filespec, destination%)",
      notes[1].text)
    assert.is_nil(open("minimal", { os = "3.2.3" }):eval("return C4.Unzip"))
  end)
end)

describe("C4:FileFreeSpace", function()
  it("gives the bytes free on the sandbox's file system", function()
    local d, sandbox = setup_driver()
    local free = d:eval("return C4:FileFreeSpace()")
    local df = S.sh("df -P -B1 '" .. sandbox .. "' | awk 'NR==2 {print $4}'")
    assert.is_true(free > 0 and free == math.floor(free))
    -- other jobs write meanwhile: the same figure within 256 MiB
    assert.is_true(math.abs(free - tonumber(df)) < 256 * 1024 * 1024, free .. " vs " .. df)
  end)
end)
