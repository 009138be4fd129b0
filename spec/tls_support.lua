-- spec/tls_support.lua — helpers of spec/tls_spec.lua: certificates, the
-- tls_echo fixture with its files in the sandbox, TLS spec clients and
-- `openssl s_client` run in the background while the driver's loop is served.
local c4emu = require "c4emu"
local S = require "support"
local bit = require "bit"
local assert = require "luassert"

local BUILD = os.getenv("BUILD") or "build"
local CERTS = os.getenv("C4EMU_CERTS") or (BUILD .. "/certs")
local FIXTURE = "fixtures/drivers/tls_echo"
local PASS = "c4emu-test"
-- The files a driver may be given (client-side files are read by the spec).
local DRIVER_FILES = { "ca.pem", "chain.pem", "server.pem", "server.key", "server.enc.key",
  "server.p12", "client.pem", "other.key", "rogue-ca.pem" }

-- option and verify bits as drivers write them
local OP = { WORKAROUNDS = 0x01, NO_COMPRESSION = 0x02, NO_SSLv2 = 0x04, NO_SSLv3 = 0x08,
  NO_TLSv1 = 0x10, NO_TLSv1_1 = 0x20, NO_TLSv1_2 = 0x40, NO_TLSv1_3 = 0x80 }
local VERIFY = { NONE = 0x01, PEER = 0x02, FAIL_IF_NO_PEER_CERT = 0x04, CLIENT_ONCE = 0x08 }
-- Every TLS version on: workarounds, no SSLv2/v3 and nothing else.
local ALL_TLS = bit.bor(OP.WORKAROUNDS, OP.NO_SSLv2, OP.NO_SSLv3)

---------------------------------------------------------------------------
-- files

local read, write = S.read, S.write_file

local function cert(name) return CERTS .. "/" .. name end

-- Shell commands run without the sanitizer preload of `make asan` (meant for
-- c4emu.so: a leak report from cp or openssl would change their exit code).
local NOSAN = "unset LD_PRELOAD; "

local function run(cmd)
  local r = os.execute(NOSAN .. cmd)
  assert(r == 0 or r == true, "failed: " .. cmd)
end

local function sh(cmd)
  local p = io.popen(NOSAN .. cmd .. " 2>&1")
  local out = p:read("*a")
  p:close()
  return (out:gsub("%s+$", ""))
end

local function install_certs(dir)
  for _, f in ipairs(DRIVER_FILES) do write(dir .. "/" .. f, read(cert(f))) end
end

---------------------------------------------------------------------------
-- the driver

local function sandbox(d) return d:eval("return C4:GetSandboxDir()") end

-- Loads the fixture, copies the certificates into its sandbox, runs init.
local function load(opts)
  local d = c4emu.load(FIXTURE, opts)
  install_certs(sandbox(d))
  d:init()
  return d
end

local events = S.events
local function wait_events(d, n, kind, i, v) return S.wait_events(d, n, kind, i, v, 5000) end

local function online(d) return #events(d, "conn", 3, "ONLINE") end

-- C4:CreateTLSServer(...) in the driver; asserts success, returns the port.
local function create(d, ...) return S.create_server(d, "CreateTLSServer", ...) end

local function serve(d, verify, chain, ...)
  return create(d, 0, "\n", 0, verify or VERIFY.NONE, "", "server.pem", "server.key", nil,
    chain, ...)
end

-- A failing C4:CreateTLSServer(...): returns its message.
local function refused(d, ...)
  local ok, err = d:eval("return C4:CreateTLSServer(...)", ...)
  assert.is_false(ok)
  assert.equal("string", type(err))
  return err
end

-- The last log line matching pattern (nil if none).
local function last_log(d, pattern, level)
  local hit
  for _, l in ipairs(d:logs()) do
    if (not level or l.level == level) and l.text:find(pattern) then hit = l.text end
  end
  return hit
end

-- d:logged as one value (false when nothing matched), for assert.truthy.
local function logged(d, pattern, level) return d:logged(pattern, level) or false end

local raised = S.raised

---------------------------------------------------------------------------
-- clients

-- A TLS spec client that checks the server against the test CA; extra
-- fields go into opts.tls.
local function client(d, port, extra)
  local tls = { ca = cert("ca.pem") }
  for k, v in pairs(extra or {}) do tls[k] = v end
  return d:connect(port, { tls = tls })
end

local function with_cert(name, extra)
  local t = { cert = cert(name .. ".pem"), key = cert(name .. ".key") }
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

local function echo(c, line)
  c:send(line)
  return c:receive_until("\n", 3000)
end

-- The reason a client's connection was refused: d:connect raising, or (TLS
-- 1.3, where the client finishes first) the connection closing right after.
local function refusal(d, port, extra)
  local ok, c = pcall(client, d, port, extra)
  if not ok then return tostring(c) end
  local ok2, err = pcall(function() return c:receive_some(3000) end)
  assert.is_false(ok2, "the server accepted the client")
  return (c:error() or "") .. " " .. tostring(err)
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs `openssl s_client` against port in the background, input piped,
-- bounded by `timeout`, while the driver's loop is served.  -quiet (which
-- also means -ign_eof: it waits for the server to close, hence the "quit"
-- line) unless `verbose`.  Returns the exit code, stdout and stderr.
local function s_client(d, port, args, input, verbose)
  local secs = 10
  local base = os.tmpname()
  local cmd = ("(printf '%%s' %s | timeout %d openssl s_client -connect 127.0.0.1:%d %s %s" ..
    " >%s.out 2>%s.err; echo $? >%s.rc) &"):format(q(input or ""), secs, port,
    verbose and "" or "-quiet", args or "", base, base, base)
  os.execute(NOSAN .. cmd)
  local rc
  for _ = 1, (secs + 5) * 50 do
    local f = io.open(base .. ".rc")
    if f then
      rc = tonumber(f:read("*a"))
      f:close()
      if rc then break end
    end
    d:serve(20)
  end
  local out, err = read(base .. ".out"), read(base .. ".err")
  os.remove(base .. ".rc"); os.remove(base .. ".out"); os.remove(base .. ".err"); os.remove(base)
  d:serve(20)
  return rc, out, err
end

local CA_ARGS = "-CAfile " .. cert("ca.pem") .. " -verify_return_error"

return {
  read = read,
  write = write,
  cert = cert,
  run = run,
  sh = sh,
  install_certs = install_certs,
  sandbox = sandbox,
  load = load,
  events = events,
  wait_events = wait_events,
  online = online,
  create = create,
  serve = serve,
  refused = refused,
  last_log = last_log,
  logged = logged,
  raised = raised,
  client = client,
  with_cert = with_cert,
  echo = echo,
  refusal = refusal,
  s_client = s_client,
  BUILD = BUILD,
  FIXTURE = FIXTURE,
  PASS = PASS,
  OP = OP,
  VERIFY = VERIFY,
  ALL_TLS = ALL_TLS,
  CA_ARGS = CA_ARGS,
}
