-- spec/url_spec.lua — C4:url(), the urlGet family and d:http_device.
--
-- Waiting: `wait` serves the driver's loop in small wall-clock steps and
-- never moves the emulator clock, so every virtual-time assertion is about
-- d:advance alone (deterministic on a slow machine).
local c4emu = require "c4emu"
local support = require "support"

local CERTS = support.build .. "/certs/"

local function wait(d, cond, what)
  for _ = 1, 20000 do
    if cond() then return end
    d:serve(1)
  end
  error("timed out waiting for " .. (what or "a condition"), 2)
end

local function load(opts)
  local d = c4emu.load(support.folder("minimal"), opts)
  d:init()
  return d
end

-- Runs a C4:url() transfer in the driver (setup is Lua code that ends in the
-- start method with ... as its arguments) and waits for OnDone.
local function transfer(d, setup, ...)
  d:eval([[
    DONE = nil
    local t = C4:url():OnDone(function(t, responses, code, msg)
      DONE = { code = code, msg = msg, responses = responses }
    end)
    ]] .. setup, ...)
  wait(d, function() return d:eval("return DONE ~= nil") end, "OnDone")
  return d:eval("return DONE")
end

-- A legacy call; returns {ticket, data, code, headers, err}.
local function legacy(d, call, ...)
  d:eval([[GOT = nil
    local function cb(ticket, data, code, headers, err)
      GOT = { ticket = ticket, data = data, code = code, headers = headers, err = err }
    end
    ]] .. call, ...)
  wait(d, function() return d:eval("return GOT ~= nil") end, "the url callback")
  return d:eval("return GOT")
end

-- The fixture's whole story in virtual time, settled by d:advance (which
-- waits for every HTTP exchange in the process around each timer); returns
-- a transcript of what the driver saw.
local function rest_story()
  local mode = "ok"
  local api
  local d = c4emu.load(support.folder("rest_poll"))
  api = d:http_device{ routes = {
    ["GET /status"] = function(req)
      if mode == "ok" then return 200, { ["Content-Type"] = "application/json" }, '{"on":true,"level":42}' end
      if mode == "fail" then return 500, {}, "boom" end
      return api.later(60000, 200, {}, '{"on":false}')
    end,
    ["POST /set"] = function(req) return 204 end,
  } }
  d:set_property("Device URL", api.url)
  d:init()
  local seen = {}
  local function note(what)
    seen[#seen + 1] = ("%d %s polls=%d err=%s"):format(d:now(), what, d:eval("return POLLS"),
      tostring(d:eval("return LAST_ERROR")))
  end
  d:advance(29999)
  assert.equal(0, #api:requests())
  d:advance(1)
  note("first poll")
  assert.equal(1, d:eval("return POLLS"))
  assert.same({ on = true, level = 42 }, d:eval("return STATE"))
  assert.equal("application/json", api:requests()[1].headers.accept)

  mode = "fail"
  d:advance(30000)
  note("500")
  assert.equal("HTTP 500", d:eval("return LAST_ERROR"))

  mode = "slow"
  d:advance(30000)
  assert.equal(3, #api:requests())
  d:advance(9999)
  note("waiting")
  assert.equal(2, d:eval("return POLLS"))
  d:advance(1) -- urlSetTimeout(10): 10 virtual seconds after the request
  note("timeout")
  assert.equal(3, d:eval("return POLLS"))
  assert.matches("timed out after 10000 milliseconds", d:eval("return LAST_ERROR"))

  d:command("SET", { on = "1" })
  d:settle()
  note("post")
  assert.same({ code = 204, body = "" }, d:eval("return POSTS[1]"))
  local post = api:requests()[4]
  assert.equal("POST", post.method)
  assert.equal("/set", post.path)
  assert.same({ on = true }, require("cjson").decode(post.body))
  assert.equal("application/json", post.headers["content-type"])

  mode = "ok"
  d:advance(30000)
  note("recovered")
  assert.is_nil(d:eval("return LAST_ERROR"))
  d:destroy()
  return table.concat(seen, "\n")
end

describe("a REST device polled by a driver (rest_poll fixture)", function()
  it("polls every 30 s, handles a 500 and a timeout, and posts commands, in virtual time", function()
    local first = rest_story()
    assert.matches("^30000 first poll polls=1 err=nil\n60000 500 polls=2 err=HTTP 500\n", first)
  end)

  it("tells the same story in 200 runs out of 200", function()
    local first = rest_story()
    for _ = 2, 200 do assert.equal(first, rest_story()) end
  end)
end)

describe("C4:url()", function()
  local d, api
  before_each(function()
    d = load()
    api = d:http_device{ capture_headers = { "X-Token" }, routes = {
      ["GET /json"] = function() return 200, { ["Content-Type"] = "application/json", ["X-Dup"] = "1" }, '{"a":1}' end,
      ["GET /fail"] = function() return 500, {}, "server broke" end,
      ["GET /redirect"] = function() return 302, { Location = "/json" }, "" end,
      ["* /echo"] = function(req) return 200, {}, req.method .. " " .. req.body end,
      ["GET /big"] = function() return 200, {}, string.rep("x", 4194304 + 1) end,
      ["GET /limit"] = function() return 200, {}, string.rep("y", 4194304) end,
      ["GET /reset"] = function() return api.reset(200, {}, string.rep("z", 1000), 100) end,
      ["GET /drop"] = function() return api.drop() end,
      ["GET /garbage"] = function() return api.garbage("\0\1\2 not http at all\r\n\r\n") end,
      ["GET /later"] = function() return api.later(5000, 200, {}, "late") end,
      ["GET /slow"] = function() return api.slow(100, 200, {}, string.rep("s", 200)) end,
      ["GET /cookie"] = function() return 200, { ["Set-Cookie"] = "sid=abc123; Path=/" }, "c" end,
      ["GET /raise"] = function() error("route bug") end,
      ["GET /dup"] = function() return 200, { ["X-Many"] = { "one", "two" }, ["X-One"] = "solo" }, "" end,
    } }
  end)
  after_each(function()
    if d:phase() ~= "dead" then d:destroy() end
  end)

  it("gets a body with code and headers; OnHeaders and OnBody see the same response table", function()
    local r = transfer(d, [[
      t:OnHeaders(function(t, resp) HDR = resp.code; resp.mark = "kept" end)
       :OnBody(function(t, resp) BODY = resp.body end)
       :Get(..., { ["X-Token"] = "t0k" })
      TICKET = t:TicketId()]], api.url .. "/json")
    assert.equal(0, r.code)
    assert.is_nil(r.msg)
    assert.equal(1, #r.responses)
    assert.equal(200, r.responses[1].code)
    assert.equal('{"a":1}', r.responses[1].body)
    assert.equal("application/json", r.responses[1].headers["Content-Type"])
    assert.equal("kept", r.responses[1].mark)
    assert.equal(200, d:eval("return HDR"))
    assert.equal('{"a":1}', d:eval("return BODY"))
    assert.is_true(d:eval("return TICKET") > 0)
    assert.equal(0, d:eval("return t and t:TicketId() or 0"))
    assert.equal("t0k", api:requests()[1].headers["x-token"])
  end)

  it("post, put, delete and custom send their method and body", function()
    assert.equal("POST data", transfer(d, "t:Post(..., 'data')", api.url .. "/echo").responses[1].body)
    assert.equal("PUT p", transfer(d, "t:Put(..., 'p')", api.url .. "/echo").responses[1].body)
    assert.equal("DELETE ", transfer(d, "t:Delete(...)", api.url .. "/echo").responses[1].body)
    assert.equal("PATCH q", transfer(d, "t:Custom(..., 'PATCH', 'q')", api.url .. "/echo").responses[1].body)
  end)

  it("follows redirects: one response per hop", function()
    local r = transfer(d, "t:Get(...)", api.url .. "/redirect")
    assert.equal(0, r.code)
    assert.equal(2, #r.responses)
    assert.equal(302, r.responses[1].code)
    assert.equal(200, r.responses[2].code)
    assert.equal('{"a":1}', r.responses[2].body)
  end)

  it("fails on an HTTP error by default; fail_on_error = false reads the body", function()
    local r = transfer(d, "t:Get(...)", api.url .. "/fail")
    assert.equal(22, r.code)
    assert.matches("500", r.msg)
    r = transfer(d, "t:SetOption('fail_on_error', false):Get(...)", api.url .. "/fail")
    assert.equal(0, r.code)
    assert.equal(500, r.responses[1].code)
    assert.equal("server broke", r.responses[1].body)
  end)

  it("OnBodyChunk gets the body in pieces and the response has no body key", function()
    d:eval([[CHUNKS = {} DONE = nil
      C4:url():OnBodyChunk(function(t, resp, chunk) CHUNKS[#CHUNKS + 1] = chunk end)
        :OnDone(function(t, responses, code) DONE = { code = code, responses = responses } end)
        :Get(...)]], api.url .. "/slow")
    -- api.slow sends a 64-byte piece every 100 ms of emulator time
    for _ = 1, 10 do
      d:serve(5)
      if d:eval("return DONE ~= nil") then break end
      d:advance(100)
    end
    wait(d, function() return d:eval("return DONE ~= nil") end, "OnDone")
    local r = d:eval("return DONE")
    assert.equal(0, r.code)
    assert.is_true(#d:eval("return CHUNKS") >= 4)
    assert.is_nil(r.responses[1].body)
    assert.equal(string.rep("s", 200), table.concat(d:eval("return CHUNKS")))
  end)

  it("a callback returning true aborts: OnDone gets -1", function()
    local r = transfer(d, "t:OnHeaders(function() return true end):Get(...)", api.url .. "/json")
    assert.equal(-1, r.code)
    r = transfer(d, "t:OnBody(function() return true end):Get(...)", api.url .. "/json")
    assert.equal(-1, r.code)
  end)

  it("a body of exactly 4 MiB arrives; one byte more fails with the limit", function()
    local r = transfer(d, "t:Get(...)", api.url .. "/limit")
    assert.equal(0, r.code)
    assert.equal(4194304, #r.responses[1].body)
    r = transfer(d, "t:Get(...)", api.url .. "/big")
    assert.equal(23, r.code)
    assert.matches("4194304%-byte limit", r.msg)
  end)

  it("a later answer waits for the emulator clock; the timeout option runs on it too", function()
    d:eval([[DONE = nil
      C4:url():SetOption("timeout", 3):OnDone(function(t, r, code, msg) DONE = { code = code, msg = msg } end):Get(...)]],
      api.url .. "/later")
    wait(d, function() return #api:requests() == 1 end, "the request")
    d:advance(2999)
    d:serve(20)
    assert.is_nil(d:eval("return DONE"))
    d:advance(1)
    assert.same({ code = 28, msg = "Operation timed out after 3000 milliseconds with 0 bytes received" },
      d:eval("return DONE"))
  end)

  -- s4-fixes: a public driver passes `headers` to SetOptions beside timeout;
  -- the unknown key warns once and the known ones in the same call apply.
  it("SetOptions: an unknown key warns once and the known keys of the call apply", function()
    local r = transfer(d, "t:SetOptions({ headers = { SOAPACTION = 'x' }, fail_on_error = false }):Get(...)",
      api.url .. "/fail")
    assert.same({0, 500, "server broke"}, {r.code, r.responses[1].code, r.responses[1].body})
    d:eval("C4:url():SetOptions({ headers = {} }):SetOption('headers', 1)")
    assert.equal(1, support.count_logged(d, "unknown option 'headers' ignored"))
    assert.matches("takes a boolean",
      support.raised(d.eval, d, "C4:url():SetOptions({ nope = 1, fail_on_error = {} })"))
  end)

  it("faults end in OnDone with curl's code and message", function()
    local closed = d:http_device{ routes = {} }
    local port = closed.port
    closed:close()
    local cases = {
      { "http://127.0.0.1:" .. port .. "/", 7 },      -- refused
      { api.url .. "/reset", 18 },                     -- reset mid-body
      { api.url .. "/drop", 52 },                      -- empty reply
      { api.url .. "/garbage", 1 },                    -- not HTTP (unsupported protocol / weird reply)
      { "http://[::1:bad/", 3 },                       -- malformed URL
      { "ftp://127.0.0.1/", 1 },                       -- not http(s)
    }
    for _, c in ipairs(cases) do
      local r = transfer(d, "t:Get(...)", c[1])
      assert.is_true(r.code > 0, c[1])
      if c[2] ~= 1 then assert.equal(c[2], r.code, c[1] .. ": " .. tostring(r.msg)) end
      assert.is_string(r.msg)
    end
  end)

  it("a host that does not resolve fails with code 6", function()
    local r = transfer(d, "t:Get(...)", "http://no-such-host.invalid/")
    assert.equal(6, r.code, r.msg)
  end)

  it("response_headers_duplicates gives arrays; by default the last value wins", function()
    local r = transfer(d, "t:Get(...)", api.url .. "/dup")
    assert.equal("two", r.responses[1].headers["X-Many"])
    r = transfer(d, "t:SetOption('response_headers_duplicates', true):Get(...)", api.url .. "/dup")
    assert.same({ "one", "two" }, r.responses[1].headers["X-Many"])
    assert.equal("solo", r.responses[1].headers["X-One"])
  end)

  it("cookies: off by default; cookies_enable keeps them in the jar unless cookies_save_to_jar = false", function()
    transfer(d, "t:Get(...)", api.url .. "/cookie")
    assert.same({}, d:eval("return C4:urlGetCookies()"))
    transfer(d, "t:SetOptions({ cookies_enable = true, cookies_save_to_jar = false }):Get(...)", api.url .. "/cookie")
    assert.same({}, d:eval("return C4:urlGetCookies()"))
    transfer(d, "t:SetOption('cookies_enable', true):Get(...)", api.url .. "/cookie")
    assert.equal("abc123", d:eval("return C4:urlGetCookies()")["127.0.0.1"].sid.value)
    transfer(d, "t:SetOption('cookies_enable', true):Get(...)", api.url .. "/json")
    assert.equal("sid=abc123", api:requests()[4].headers.cookie)
    transfer(d, "t:SetOptions({ cookies_enable = true, cookies_use_jar = false }):Get(...)", api.url .. "/json")
    assert.is_nil(api:requests()[5].headers.cookie)
  end)

  it("a callback that raises is recorded and the transfer still completes", function()
    local r = transfer(d, "t:OnBody(function() error('driver bug') end):Get(...)", api.url .. "/json")
    assert.equal(0, r.code)
    local errs = d:errors()
    assert.equal(1, #errs)
    assert.matches("driver bug", errs[1].message)
    assert.equal("OnBody", errs[1].where)
  end)

  it("a route that raises answers 500 and is reported by api:errors()", function()
    local r = transfer(d, "t:SetOption('fail_on_error', false):Get(...)", api.url .. "/raise")
    assert.equal(500, r.responses[1].code)
    assert.matches("route bug", api:errors()[1])
  end)

  it("Cancel: OnDone once with -1; a second Cancel does nothing; not reusable", function()
    d:eval([[N = 0
      T = C4:url():OnDone(function(t, r, code) N = N + 1; CODE = code end):Get(...)
      T:Cancel() T:Cancel()]], api.url .. "/later")
    assert.equal(1, d:eval("return N"))
    assert.equal(-1, d:eval("return CODE"))
    assert.equal(0, d:eval("return T:TicketId()"))
    assert.matches("cannot be reused", support.raised(d.eval, d, "T:Get('http://127.0.0.1/')"))
    assert.matches("before a transfer was started",
      support.raised(d.eval, d, "T:SetOption('timeout', 1)"))
  end)

  it("bad arguments raise in Lua's words", function()
    assert.matches("not an HTTP method", support.raised(d.eval, d, "C4:url():Custom('http://x/', 'BAD METHOD', '')"))
    assert.matches("takes a number", support.raised(d.eval, d, "C4:url():SetOption('timeout', 'x')"))
    assert.matches("bad argument #1 to 'Get'", support.raised(d.eval, d, "C4:url():Get(nil)"))
    assert.matches("headers", support.raised(d.eval, d, "C4:url():Get('http://x/', 5)"))
  end)

  it("destroying the driver with transfers in flight calls nothing and closes every handle", function()
    d:eval([[CALLED = false
      for i = 1, 5 do
        C4:url():OnDone(function() CALLED = true end):Get(...)
        C4:urlGet(..., nil, true, function() CALLED = true end)
      end]], api.url .. "/later")
    wait(d, function() return #api:requests() >= 1 end, "a request")
    d:destroy()
    assert.equal(0, (d:handles()))
  end)
end)

describe("C4:urlGet and friends", function()
  local d, api
  before_each(function()
    d = load()
    api = d:http_device{ routes = {
      ["* /echo"] = function(req) return 200, { ["X-Method"] = req.method }, req.body end,
      ["GET /fail"] = function() return 503, {}, "busy" end,
      ["GET /redirect"] = function() return 302, { Location = "/echo" }, "moved" end,
      ["GET /cookie"] = function() return 200, { ["Set-Cookie"] = "sid=abc123; Path=/" }, "c" end,
      ["GET /later"] = function() return api.later(60000, 200, {}, "late") end,
    } }
  end)
  after_each(function()
    if d:phase() ~= "dead" then d:destroy() end
  end)

  it("calls the callback with ticket, data, code, headers and no error", function()
    local g = legacy(d, "TICKET = C4:urlGet(..., {}, true, cb)", api.url .. "/echo")
    assert.equal(d:eval("return TICKET"), g.ticket)
    assert.equal(200, g.code)
    assert.equal("GET", g.headers["X-Method"])
    assert.is_nil(g.err)
    g = legacy(d, "local u = ... C4:urlPost(u, 'body', nil, true, cb)", api.url .. "/echo")
    assert.equal("body", g.data)
    g = legacy(d, "local u = ... C4:urlPut(u, 'p', 'X-A-Long: 1', true, cb)", api.url .. "/echo")
    assert.equal("PUT", g.headers["X-Method"])
    g = legacy(d, "C4:urlDelete(..., nil, true, cb)", api.url .. "/echo")
    assert.equal("DELETE", g.headers["X-Method"])
    g = legacy(d, "local u = ... C4:urlCustom(u, 'OPTIONS', '', nil, true, cb)", api.url .. "/echo")
    assert.equal("OPTIONS", g.headers["X-Method"])
  end)

  it("an HTTP error is a response code, not strError", function()
    local g = legacy(d, "C4:urlGet(..., nil, true, cb)", api.url .. "/fail")
    assert.equal(503, g.code)
    assert.equal("busy", g.data)
    assert.is_nil(g.err)
  end)

  it("autoRedirect false stops at the redirect", function()
    assert.equal(302, legacy(d, "C4:urlGet(..., nil, false, cb)", api.url .. "/redirect").code)
    assert.equal(200, legacy(d, "C4:urlGet(..., nil, true, cb)", api.url .. "/redirect").code)
  end)

  it("without a callback, ReceivedAsync gets the completion", function()
    d:eval([[function ReceivedAsync(ticket, data, code, headers, err) GOT = { ticket = ticket, data = data, code = code } end
      GOT = nil local u = ... TICKET = C4:urlGet(u)]], api.url .. "/echo")
    wait(d, function() return d:eval("return GOT ~= nil") end)
    assert.same({ ticket = d:eval("return TICKET"), data = "", code = 200 }, d:eval("return GOT"))
  end)

  it("a transport error arrives as strError", function()
    local g = legacy(d, "C4:urlGet(..., nil, true, cb)", "http://[::1:bad/")
    assert.is_string(g.err)
    assert.equal(0, g.code)
  end)

  it("keeps cookies per driver: urlGetCookies shows them", function()
    legacy(d, "C4:urlGet(..., nil, true, cb)", api.url .. "/cookie")
    local jar = d:eval("return C4:urlGetCookies()")
    assert.equal("abc123", jar["127.0.0.1"].sid.value)
    assert.equal("/", jar["127.0.0.1"].sid.path)
    assert.same({}, d:eval("return C4:urlGetCookies('example.com')"))
    local other = load()
    assert.same({}, other:eval("return C4:urlGetCookies()"))
    other:destroy()
  end)

  it("urlGetTickets, urlCancel and urlCancelAll", function()
    d:eval([[CALLED = false
      A = C4:urlGet(..., nil, true, function() CALLED = true end)
      B = C4:urlGet(..., nil, true, function() CALLED = true end)
      C = C4:urlGet(..., nil, true, function() CALLED = true end)]], api.url .. "/later")
    local a, b, c = d:eval("return A, B, C")
    table.sort(d:eval("return C4:urlGetTickets()"))
    assert.same({ a, b, c }, (function() local t = d:eval("return C4:urlGetTickets()") table.sort(t) return t end)())
    assert.is_true(d:eval("return C4:urlCancel(A)"))
    assert.is_false(d:eval("return C4:urlCancel(A)"))
    local all = d:eval("return C4:urlCancelAll()")
    table.sort(all)
    assert.same({ b, c }, all)
    assert.same({}, d:eval("return C4:urlGetTickets()"))
    d:advance(60000)
    d:serve(20)
    assert.is_false(d:eval("return CALLED"))
  end)

  it("urlSetTimeout sets the default timeout, on the emulator clock", function()
    d:eval("C4:urlSetTimeout(30)")
    d:eval("GOT = nil C4:urlGet(..., nil, true, function(t, data, code, h, err) GOT = err end)", api.url .. "/later")
    wait(d, function() return #api:requests() == 1 end)
    d:advance(29999)
    d:serve(10)
    assert.is_nil(d:eval("return GOT"))
    d:advance(1)
    assert.matches("timed out after 30000 milliseconds", d:eval("return GOT"))
  end)

  it("urlSetOption takes max_host_connections and pipelining and refuses other names", function()
    d:eval("C4:urlSetOption('max_host_connections', 5) C4:urlSetOption('pipelining', false)")
    assert.matches("unknown option", support.raised(d.eval, d, "C4:urlSetOption('nope', 1)"))
    assert.matches("bad argument", support.raised(d.eval, d, "C4:urlGet(5, nil, true, 'x')"))
  end)
end)

-- connect_timeout also bounds the TLS handshake; under ASan loading the
-- system CA store alone can take seconds.
describe("https", function()
  local d, api
  before_each(function()
    d = load()
    api = d:http_device{ tls = { cert = CERTS .. "server.pem", key = CERTS .. "server.key" },
      routes = { ["GET /s"] = function() return 200, {}, "secret" end } }
  end)
  after_each(function()
    if d:phase() ~= "dead" then d:destroy() end
  end)

  it("refuses the test CA's certificate against the system store", function()
    assert.equal("https://127.0.0.1:" .. api.port, api.url)
    local r = transfer(d, "t:SetOption('connect_timeout', 300):Get(...)", api.url .. "/s")
    assert.equal(60, r.code)
    assert.matches("certificate", r.msg)
  end)

  it("works with ssl_cabundle naming the test CA inside the driver's folders", function()
    local sandbox = d:eval("return C4:GetSandboxDir()")
    local src = assert(io.open(CERTS .. "ca.pem", "rb"))
    local pem = src:read("*a")
    src:close()
    local f = assert(io.open(sandbox .. "/test-ca.pem", "wb"))
    f:write(pem)
    f:close()
    local r = transfer(d, "t:SetOption('connect_timeout', 300):SetOption('ssl_cabundle', 'test-ca.pem'):Get(...)", api.url .. "/s")
    assert.equal(0, r.code, r.msg)
    assert.equal("secret", r.responses[1].body)
    r = transfer(d, "t:SetOption('connect_timeout', 300):SetOption('ssl_cacerts', {'test-ca.pem'}):Get(...)", api.url .. "/s")
    assert.equal(0, r.code, r.msg)
    os.remove(sandbox .. "/test-ca.pem")
  end)

  it("ssl_verify_peer = false accepts it; ssl_cabundle outside the driver is refused", function()
    local r = transfer(d, "t:SetOption('connect_timeout', 300):SetOptions({ ssl_verify_peer = false }):Get(...)", api.url .. "/s")
    assert.equal(0, r.code, r.msg)
    assert.matches("ssl_cabundle", "ssl_cabundle")
    assert.matches("'%.%./etc/ssl'", support.raised(d.eval, d,
      "C4:url():SetOption('ssl_cabundle', '../etc/ssl'):Get('https://127.0.0.1/')"))
  end)
end)

describe("deny_net", function()
  it("refuses everything but loopback", function()
    local d = load({ deny_net = true })
    local api = d:http_device{ routes = { ["GET /"] = function() return 200, {}, "local" end } }
    local r = transfer(d, "t:Get(...)", api.url .. "/")
    assert.equal(0, r.code)
    r = transfer(d, "t:SetOption('connect_timeout', 1):Get(...)", "http://192.0.2.1:9/")
    assert.equal(7, r.code)
    assert.matches("deny%-net", r.msg)
    d:destroy()
  end)
end)

describe("c4emu run --deny-net", function()
  it("is accepted by run and check", function()
    local out, code = support.cli("run " .. support.folder("minimal") .. " --once --deny-net")
    assert.equal(0, code, out)
    out = support.cli("--help")
    assert.matches("%-%-deny%-net", out)
  end)
end)
