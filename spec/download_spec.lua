-- spec/download_spec.lua — C4:url():DownloadFile(url, subdir, filename,
-- headers) against the spec-side d:http_device (c4api/url/README.md).
-- Settled with d:settle(): the url family's busy probe holds it while the
-- transfer runs, so no wall-clock waits.
local S = require "support"
local open = S.loader(after_each)

local function setup_driver()
  local d = open("minimal", { clock = "virtual" })
  d:init()
  return d, d:eval("return C4:GetSandboxDir()")
end

-- Starts a download with DOWNLOAD(...) and a recording OnDone; returns what
-- the driver's callbacks saw once settled.
local function download(d, ...)
  d:eval([[
    SEEN = { calls = {} }
    local t = C4:url()
    for _, name in ipairs({ "OnHeaders", "OnBodyChunk", "OnBody" }) do
      t[name](t, function() SEEN.calls[#SEEN.calls + 1] = name end)
    end
    t:OnDone(function(t, responses, code, msg)
      SEEN.done = { code = code, msg = msg, responses = responses }
      local f = io.open(C4:GetSandboxDir() .. "/" .. (FILE or ""), "rb")
      SEEN.file_in_ondone = f ~= nil
      if f then f:close() end
    end)
    SEEN.returned = select("#", t:DownloadFile(...))
    SEEN.ticket = t:TicketId()]], ...)
  d:settle()
  return d:eval("return SEEN")
end

describe("C4LuaUrl:DownloadFile", function()
  it("streams the body into the sandbox; only OnDone runs, with code and headers, no body", function()
    local d, sandbox = setup_driver()
    local api = d:http_device{ routes = {
      ["GET /fw.bin"] = function() return 200, { ["Content-Type"] = "application/octet-stream" }, "\0\1firmware\255" end } }
    d:eval("FILE = 'fw.bin'")
    local seen = download(d, api.url .. "/fw.bin", "SANDBOX", "fw.bin", { ["X-Token"] = "t1" })
    assert.equal(0, seen.returned)             -- the page: returns nothing
    assert.is_true(seen.ticket > 0)
    assert.same({}, seen.calls)                -- OnHeaders, OnBodyChunk, OnBody: not called
    assert.equal(0, seen.done.code)
    assert.is_nil(seen.done.msg)
    assert.equal(1, #seen.done.responses)
    assert.equal(200, seen.done.responses[1].code)
    assert.equal("application/octet-stream", seen.done.responses[1].headers["Content-Type"])
    assert.is_nil(seen.done.responses[1].body)
    assert.is_true(seen.file_in_ondone)        -- the file is in place when OnDone runs
    assert.equal("\0\1firmware\255", S.read(sandbox .. "/fw.bin"))
    assert.equal(1, #api:requests())
    api:close()
    assert.equal(0, d:handles())
  end)

  it("has no 4 MiB limit (that is Get's): 5 MiB arrive whole", function()
    local d, sandbox = setup_driver()
    local big = ("0123456789abcdef"):rep(5 * 65536)
    local api = d:http_device{ routes = { ["GET /big"] = function() return 200, {}, big end } }
    local seen = download(d, api.url .. "/big", "SANDBOX", "big.bin")
    assert.equal(0, seen.done.code)
    local got = S.read(sandbox .. "/big.bin")
    assert.equal(#big, #got)
    assert.is_true(got == big)
  end)

  it("takes the page example's (url, filename) and [A4]'s (url, filename, subdir)", function()
    local d, sandbox = setup_driver()
    local api = d:http_device{ routes = { ["*"] = function(req) return 200, {}, req.path end } }
    assert.equal(0, download(d, api.url .. "/one", "one.txt").done.code)
    assert.equal(0, download(d, api.url .. "/two", "two.txt", "SANDBOX").done.code)
    assert.equal("/one", S.read(sandbox .. "/one.txt"))
    assert.equal("/two", S.read(sandbox .. "/two.txt"))
  end)

  it("leaves no file when the server answers an error (fail_on_error), and keeps an older one", function()
    local d, sandbox = setup_driver()
    S.write_file(sandbox .. "/keep.txt", "older")
    local api = d:http_device{ routes = { ["GET /missing"] = function() return 404, {}, "nope" end } }
    local seen = download(d, api.url .. "/missing", "SANDBOX", "keep.txt")
    assert.equal(22, seen.done.code)
    assert.matches("404", seen.done.msg)
    assert.equal("older", S.read(sandbox .. "/keep.txt"))
    local left = S.sh("ls -A '" .. sandbox .. "'")
    assert.equal("keep.txt\n", left)           -- no temporary file left behind
  end)

  it("a cancelled download calls OnDone with -1 and leaves nothing", function()
    local d, sandbox = setup_driver()
    local api
    api = d:http_device{ routes = { ["GET /slow"] = function() return api.later(5000, 200, {}, "late") end } }
    d:eval([[
      CANCEL = C4:url():OnDone(function(t, r, code, msg) DONE = { code, msg } end)
      CANCEL:DownloadFile(...)]], api.url .. "/slow", "SANDBOX", "slow.txt")
    d:settle()
    d:eval("CANCEL:Cancel()")
    assert.same({ -1, "Transfer aborted" }, d:eval("return DONE"))
    d:advance(6000)
    assert.equal("", S.sh("ls -A '" .. sandbox .. "'"))
  end)

  it("writes only in the sandbox: other aliases and escaping names raise", function()
    local d = setup_driver()
    assert.matches("path alias 'C4Z': c4emu writes downloads to the SANDBOX alias only %(the package folder is read%-only%)",
      S.raised(d.eval, d, "C4:url():DownloadFile('http://127.0.0.1:1/x', 'C4Z', 'x')"))
    assert.matches("unknown path alias 'NOWHERE'",
      S.raised(d.eval, d, "C4:url():DownloadFile('http://127.0.0.1:1/x', 'NOWHERE', 'x')"))
    assert.matches("refused: '%.%.' may not appear in a path",
      S.raised(d.eval, d, "C4:url():DownloadFile('http://127.0.0.1:1/x', 'SANDBOX', 'a/../../x')"))
    assert.matches("refused: drivers may only use files in their sandbox",
      S.raised(d.eval, d, "C4:url():DownloadFile('http://127.0.0.1:1/x', 'SANDBOX', '/etc/x')"))
    assert.matches("bad argument #1 to 'DownloadFile' %(string expected, got no value%)",
      S.raised(d.eval, d, "C4:url():DownloadFile()"))
    assert.equal(0, d:handles())
  end)

  it("is not there before OS 3.3.1 (its page)", function()
    local d = open("minimal", { os = "3.3.0" })
    d:init()
    assert.matches("C4LuaUrl:DownloadFile is not available on OS 3%.3%.0 %(added in OS 3%.3%.1%)",
      S.raised(d.eval, d, "C4:url():DownloadFile('http://127.0.0.1:1/x', 'x')"))
  end)

  it("cannot reuse an object, and C4:DownloadFile (the prose's name) reads nil with a note", function()
    local d = setup_driver()
    local api = d:http_device{ routes = { ["*"] = function() return 200, {}, "x" end } }
    d:eval("T = C4:url() T:DownloadFile(...)", api.url .. "/a", "a.txt")
    d:settle()
    assert.matches("can only be called before a transfer was started", S.raised(d.eval, d, "T:DownloadFile('x', 'b.txt')"))
    assert.is_nil(d:eval("return C4.DownloadFile"))
    local notes = d:notes()
    assert.matches("C4:DownloadFile is not a method on a controller .*C4:url%(%):DownloadFile%(url, subdir, filename, headers%)",
      notes[#notes].text)
  end)
end)
