-- spec/tls_spec.lua — C4:CreateTLSServer through real TLS peers: the spec
-- clients (d:connect(port, { tls = ... })) and the `openssl s_client`
-- command.  Every parameter and every option / verify bit, certificates as
-- PEM text, PEM files (sandbox and package folder) and PKCS#12, passwords,
-- refused paths, client certificates, failed and slow handshakes, the
-- callbacks, load (50 clients x 100 lines) and shutdown.
--
-- Certificates come from tools/gen-certs.sh (C4EMU_CERTS, default
-- build/certs); none is committed.  A driver can only read files from its
-- package or sandbox folder, so before each test the files it needs are
-- copied into the sandbox (C4:GetSandboxDir(), fresh per driver and removed
-- with it); the package-folder tests copy the fixture into a temporary
-- folder with the certificates beside driver.lua.
--
-- The fixture is fixtures/drivers/tls_echo: it records every server callback
-- (EVENTS, with exact argument counts), echoes each payload, and answers
-- "quit\n" with "bye\n" and a close (so `s_client -ign_eof` ends).  The
-- helpers (files, the driver, clients, s_client) are in spec/tls_support.lua.
local c4emu = require "c4emu"
local bit = require "bit"
local T = require "tls_support"
local read, write, cert, run, sh = T.read, T.write, T.cert, T.run, T.sh
local install_certs, sandbox, load = T.install_certs, T.sandbox, T.load
local events, wait_events, online = T.events, T.wait_events, T.online
local create, serve, refused = T.create, T.serve, T.refused
local last_log, logged, raised = T.last_log, T.logged, T.raised
local client, with_cert, echo, refusal, s_client = T.client, T.with_cert, T.echo, T.refusal, T.s_client
local BUILD, FIXTURE, PASS, CA_ARGS = T.BUILD, T.FIXTURE, T.PASS, T.CA_ARGS
local OP, VERIFY, ALL_TLS = T.OP, T.VERIFY, T.ALL_TLS

---------------------------------------------------------------------------

describe("C4:CreateTLSServer", function()
  local d

  after_each(function()
    if d and d:phase() ~= "dead" then d:destroy() end
    d = nil
  end)

  describe("serving", function()
    before_each(function() d = load() end)

    it("returns true; ONLINE comes from the loop; d:servers() says tls", function()
      assert.same({ true, 0 },
        { d:eval("local ok = C4:CreateTLSServer(0, '\\n', 0, 1, '', 'server.pem', 'server.key'); " ..
          "return ok, #EVENTS") })
      local st = wait_events(d, 1, "status")
      local port = d:servers()[1].port
      assert.same({ port, "ONLINE", "" }, st[1].args)
      assert.same({ { port = port, protocol = "tls", clients = 0, queued = 0, pending = 0 } }, d:servers())
    end)

    it("echoes lines over TLS 1.3 with the delimiter included; the client verified the server", function()
      local port = serve(d)
      local c = client(d, port)
      assert.equal("hello\n", echo(c, "hello\n"))
      local info = c:tls_info()
      assert.equal("TLSv1.3", info.version)
      assert.equal("CN=localhost", info.peer)
      assert.is_true(info.verified)
      local data = wait_events(d, 1, "data")
      assert.equal("hello\n", data[1].args[2])
      assert.equal(1, d:servers()[1].clients)
      c:close()
      wait_events(d, 1, "conn", 3, "OFFLINE")
    end)

    it("reports ONLINE only once the handshake is done, with the callbacks of CreateServer", function()
      local port = serve(d, nil, nil, "kitchen")
      local raw = d:connect(port) -- plain TCP: never finishes a handshake
      d:serve(50)
      assert.equal(0, online(d))
      local c = client(d, port)
      c:send("a\r\nb\n")
      local data = wait_events(d, 2, "data")
      local on = events(d, "conn", 3, "ONLINE")
      assert.equal(1, #on)
      assert.equal(5, on[1].n)
      local h = on[1].args[1]
      assert.same({ h, port, "ONLINE", "127.0.0.1", "kitchen" }, on[1].args)
      assert.equal(5, data[1].n)
      assert.same({ h, "a\r\n", "127.0.0.1", c:local_port(), "kitchen" }, data[1].args)
      assert.same({ h, "b\n", "127.0.0.1", c:local_port(), "kitchen" }, data[2].args)
      assert.same({ port, "ONLINE", "kitchen" }, events(d, "status")[1].args)
      c:close()
      raw:close()
      local off = wait_events(d, 1, "conn", 3, "OFFLINE")
      assert.same({ h, port, "OFFLINE", "127.0.0.1", "kitchen" }, off[1].args)
    end)

    it("ServerSend is binary-safe and keeps order; 4 MiB arrive whole", function()
      local port = serve(d)
      d:eval("ECHO = false")
      local c = client(d, port)
      local h = wait_events(d, 1, "conn", 3, "ONLINE")[1].args[1]
      d:eval([[
        local h = ...
        local all = {}
        for i = 0, 255 do all[#all + 1] = string.char(i) end
        C4:ServerSend(h, table.concat(all))
        for i = 1, 500 do C4:ServerSend(h, i .. "\n") end
        C4:ServerSend(h, string.rep("0123456789abcdef", 262144))
      ]], h)
      local want = {}
      for i = 0, 255 do want[#want + 1] = string.char(i) end
      assert.equal(table.concat(want), c:receive(256))
      for i = 1, 500 do assert.equal(i .. "\n", c:receive_until("\n")) end
      local big = c:receive(4 * 1048576, 20000)
      assert.equal(string.rep("0123456789abcdef", 262144), big)
    end)

    it("ServerCloseClient sends what is queued, then closes (close_notify); OFFLINE follows", function()
      local port = serve(d)
      local c = client(d, port)
      local h = wait_events(d, 1, "conn", 3, "ONLINE")[1].args[1]
      d:eval("local h = ...; C4:ServerSend(h, string.rep('z', 300000) .. 'END\\n'); " ..
        "C4:ServerCloseClient(h)", h)
      assert.equal(300004, #c:receive_until("END\n", 5000))
      assert.is_true(c:is_closed(1000))
      assert.is_nil(c:error())
      wait_events(d, 1, "conn", 3, "OFFLINE")
    end)

    it("greets from OnServerConnectionStatusChanged: the handshake is done by then", function()
      local port = serve(d)
      d:eval([[ON_CONN = function(h, _, status)
        if status == "ONLINE" then C4:ServerSend(h, "welcome\n") end end]])
      local c = client(d, port)
      assert.equal("welcome\n", c:receive_until("\n"))
    end)

    it("DestroyServer closes its TLS clients (OFFLINE each), then OFFLINE for the server", function()
      local port = serve(d)
      local a, b = client(d, port), client(d, port)
      local pending = d:connect(port) -- still in its handshake: dropped quietly
      wait_events(d, 2, "conn", 3, "ONLINE")
      d:eval("C4:DestroyServer(...)", port)
      assert.same({}, d:servers())
      assert.is_true(a:is_closed(1000))
      assert.is_true(b:is_closed(1000))
      assert.is_true(pending:is_closed(1000))
      assert.is_nil(d:logged("refused", "WARN"))
      wait_events(d, 2, "conn", 3, "OFFLINE")
      assert.same({ port, "OFFLINE", "" }, wait_events(d, 1, "status", 2, "OFFLINE")[1].args)
      assert.is_false(d:eval("return C4:PortInUse(...)", port))
      d:run_until(function()
        local _, kinds = d:handles()
        return (kinds["tls-conn"] or 0) == 0 and (kinds["tls-server"] or 0) == 0
      end, 3000)
    end)

    it("TLS and plain servers of one driver side by side, told apart by identifier", function()
      local tls = serve(d, nil, nil, "secure")
      assert.is_true(d:eval("return C4:CreateServer(0, '\\n', false, 'plain')"))
      local plain = d:servers()[2].port
      local a, b = client(d, tls), d:connect(plain)
      assert.equal("s\n", echo(a, "s\n"))
      assert.equal("p\n", echo(b, "p\n"))
      local ids = {}
      for _, e in ipairs(events(d, "data")) do ids[#ids + 1] = e.args[5] end
      table.sort(ids)
      assert.same({ "plain", "secure" }, ids)
      assert.same({ "tls", "tcp" }, { d:servers()[1].protocol, d:servers()[2].protocol })
    end)
  end)

  describe("parameters", function()
    before_each(function() d = load() end)

    describe("port", function()
      it("0 picks an ephemeral port; a port in use gives false and a message", function()
        local port = serve(d)
        assert.is_true(port > 0)
        local msg = refused(d, port, "\n", 0, 1, "", "server.pem", "server.key")
        assert.matches("port " .. port, msg)
        assert.matches("in use", msg)
        assert.equal(1, #d:servers())
      end)

      it("a fixed port is listened on as given", function()
        local port = serve(d)
        d:eval("C4:DestroyServer()")
        d:serve(30)
        assert.equal(port, create(d, port, "\n", 0, 1, "", "server.pem", "server.key"))
      end)
    end)

    describe("delimiter", function()
      it("several characters: payloads split on it, delimiter included", function()
        local port = create(d, 0, "\r\n", 0, 1, "", "server.pem", "server.key")
        d:eval("ECHO = false")
        local c = client(d, port)
        c:send("one\r\ntwo\r")
        c:send("\nthree")
        local data = wait_events(d, 2, "data")
        assert.same({ "one\r\n", "two\r\n" }, { data[1].args[2], data[2].args[2] })
      end)

      it("'' and nil: data delivered as it is decrypted", function()
        for _, delim in ipairs({ "", false }) do
          d:eval("EVENTS = {}")
          local port = create(d, 0, delim or nil, 0, 1, "", "server.pem", "server.key")
          local c = client(d, port)
          c:send("no delimiter")
          assert.equal("no delimiter", c:receive(12))
          assert.equal("no delimiter", wait_events(d, 1, "data")[1].args[2])
          c:close()
        end
      end)
    end)

    describe("options", function()
      -- The OpenSSL flags an options value was mapped to, from the DEBUG line.
      local function openssl_options(v)
        create(d, 0, "\n", v, 1, "", "server.pem", "server.key")
        local line = last_log(d, "CreateTLSServer%(0%): options")
        return tonumber(line:match("→ 0x(%x+) %(OpenSSL%)"), 16), line
      end

      -- OpenSSL 3.0's values
      local SSL_OP_ALL, SSL_OP_NO_COMPRESSION, SSL_OP_NO_SSLv3 = 0x80000850, 0x00020000, 0x02000000
      local SSL_OP_NO_TLSv1, SSL_OP_NO_TLSv1_1 = 0x04000000, 0x10000000
      local SSL_OP_NO_TLSv1_2, SSL_OP_NO_TLSv1_3 = 0x08000000, 0x20000000

      it("each bit maps to OpenSSL's own flag (they differ); 0 means 0x003D", function()
        local cases = {
          { OP.WORKAROUNDS, SSL_OP_ALL },
          { OP.NO_COMPRESSION, SSL_OP_NO_COMPRESSION },
          { OP.NO_SSLv2, 0 }, -- SSL_OP_NO_SSLv2 is 0 in OpenSSL 3: SSLv2 is gone
          { OP.NO_SSLv3, SSL_OP_NO_SSLv3 },
          { OP.NO_TLSv1, SSL_OP_NO_TLSv1 },
          { OP.NO_TLSv1_1, SSL_OP_NO_TLSv1_1 },
          { OP.NO_TLSv1_2, SSL_OP_NO_TLSv1_2 },
          { OP.NO_TLSv1_3, SSL_OP_NO_TLSv1_3 },
        }
        for _, case in ipairs(cases) do
          local got, line = openssl_options(case[1])
          assert.equal(bit.tobit(case[2]), bit.tobit(got), line)
        end
        local default = bit.bor(SSL_OP_ALL, SSL_OP_NO_SSLv3, SSL_OP_NO_TLSv1, SSL_OP_NO_TLSv1_1)
        assert.equal(default, bit.tobit(openssl_options(0)))
        assert.equal(default, bit.tobit(openssl_options(0x3D)))
        assert.equal(default, bit.tobit(openssl_options(bit.bor(OP.WORKAROUNDS, OP.NO_SSLv2,
          OP.NO_SSLv3, OP.NO_TLSv1, OP.NO_TLSv1_1))))
      end)

      local versions = {
        { "TLS1", OP.NO_TLSv1, "TLSv1" },
        { "TLS1.1", OP.NO_TLSv1_1, "TLSv1.1" },
        { "TLS1.2", OP.NO_TLSv1_2, "TLSv1.2" },
        { "TLS1.3", OP.NO_TLSv1_3, "TLSv1.3" },
      }
      for _, v in ipairs(versions) do
        it(("0x%02X refuses a %s client; without it the same client gets in"):format(v[2], v[1]), function()
          local open = create(d, 0, "\n", ALL_TLS, 1, "", "server.pem", "server.key")
          local c = client(d, open, { min_version = v[1], max_version = v[1] })
          assert.equal(v[3], c:tls_info().version)
          assert.equal("x\n", echo(c, "x\n"))
          local shut = create(d, 0, "\n", bit.bor(ALL_TLS, v[2]), 1, "", "server.pem", "server.key")
          local before = online(d)
          -- refused by the server ("unsupported protocol"), or, when a lower version is still
          -- on, by the client to which the server offered that one
          assert.matches("protocol", refusal(d, shut, { min_version = v[1], max_version = v[1] }))
          d:run_until(function()
            return last_log(d, "server " .. shut .. ": connection from 127.0.0.1:%d+ refused: " ..
              "TLS: TLS handshake failed: ", "WARN")
          end, 3000)
          -- another version still works on that server
          local other = v[1] == "TLS1.3" and "TLS1.2" or "TLS1.3"
          local c2 = client(d, shut, { max_version = other, min_version = other })
          assert.equal("y\n", echo(c2, "y\n"))
          assert.equal(before + 1, online(d))
        end)
      end

      it("0 (the default 0x3D): TLS 1.2 and 1.3 clients get in, TLS 1.0 and 1.1 do not", function()
        local port = create(d, 0, "\n", 0, 1, "", "server.pem", "server.key")
        for _, v in ipairs({ "TLS1.2", "TLS1.3" }) do
          local c = client(d, port, { min_version = v, max_version = v })
          assert.equal(v:gsub("TLS", "TLSv"), c:tls_info().version)
          c:close()
        end
        for _, v in ipairs({ "TLS1", "TLS1.1" }) do
          assert.matches("protocol version", refusal(d, port, { min_version = v, max_version = v }))
        end
        -- a client that offers 1.1 up to 1.3 settles on 1.3
        assert.equal("TLSv1.3", client(d, port, { min_version = "TLS1.1" }):tls_info().version)
      end)

      it("0x01, 0x02, 0x04 and 0x08 leave TLS 1.2 and 1.3 serving", function()
        for _, o in ipairs({ OP.WORKAROUNDS, OP.NO_COMPRESSION, OP.NO_SSLv2, OP.NO_SSLv3 }) do
          local port = create(d, 0, "\n", o, 1, "", "server.pem", "server.key")
          assert.equal("a\n", echo(client(d, port, { max_version = "TLS1.2" }), "a\n"))
          assert.equal("b\n", echo(client(d, port), "b\n"))
        end
      end)

      it("all TLS versions off: every client is refused", function()
        local port = create(d, 0, "\n", 0xFF, 1, "", "server.pem", "server.key")
        assert.truthy(refusal(d, port))
        assert.equal(0, online(d))
      end)

      it("bits above 0x80 are ignored with a warning", function()
        local port = create(d, 0, "\n", 0x100, 1, "", "server.pem", "server.key")
        assert.truthy(logged(d, "options bits 0x100 are not TLS options", "WARN"))
        assert.equal("z\n", echo(client(d, port), "z\n"))
      end)
    end)

    describe("verifyMode", function()
      local NO_CERT, CA_SIGNED, ROGUE = {}, with_cert("client"), with_cert("rogue-client")
      -- TLS 1.2 makes a refusal of the client's certificate a failed d:connect
      local function v12(t)
        local r = { max_version = "TLS1.2" }
        for k, v in pairs(t) do r[k] = v end
        return r
      end

      -- Which of no certificate / a CA-signed one / a rogue one get in.
      local function who_gets_in(verify, chain)
        local port = serve(d, verify, chain)
        local got = {}
        for i, extra in ipairs({ NO_CERT, CA_SIGNED, ROGUE }) do
          local ok, c = pcall(client, d, port, v12(extra))
          got[i] = ok and echo(c, "hi\n") == "hi\n"
          if ok then c:close() end
        end
        return got
      end

      it("0x01 NONE: no certificate is asked for, so any client gets in", function()
        assert.same({ true, true, true }, who_gets_in(VERIFY.NONE, "chain.pem"))
      end)

      it("0x02 PEER: a certificate is asked for and checked against the chain; none is fine", function()
        assert.same({ true, true, false }, who_gets_in(VERIFY.PEER, "chain.pem"))
        assert.truthy(logged(d, "refused: TLS: TLS handshake failed: certificate verify failed " ..
          "%(unable to get local issuer certificate%)", "WARN"))
      end)

      it("0x02 PEER without a chain: no client certificate can be verified", function()
        assert.same({ true, false, false }, who_gets_in(VERIFY.PEER, nil))
      end)

      it("0x06 PEER + FAIL_IF_NO_PEER_CERT: a client without a certificate is refused, no ONLINE", function()
        assert.same({ false, true, false }, who_gets_in(bit.bor(VERIFY.PEER, VERIFY.FAIL_IF_NO_PEER_CERT),
          "chain.pem"))
        assert.equal(1, online(d))
        assert.truthy(logged(d, "refused: TLS: TLS handshake failed: peer did not return a certificate", "WARN"))
      end)

      it("0x06 with TLS 1.3: the refusal comes after the client's handshake; the driver sees nothing", function()
        local port = serve(d, bit.bor(VERIFY.PEER, VERIFY.FAIL_IF_NO_PEER_CERT), "chain.pem")
        assert.matches("certificate required", refusal(d, port))
        local c = client(d, port, CA_SIGNED)
        assert.equal("TLSv1.3", c:tls_info().version)
        assert.equal("ok\n", echo(c, "ok\n"))
        assert.equal(1, online(d))
      end)

      it("0x0A PEER + CLIENT_ONCE (and 0, its default) behave as PEER on the first handshake", function()
        assert.same({ true, true, false }, who_gets_in(bit.bor(VERIFY.PEER, VERIFY.CLIENT_ONCE), "chain.pem"))
        assert.same({ true, true, false }, who_gets_in(0, "chain.pem"))
        -- mapped to OpenSSL's values: PEER 0x01 | CLIENT_ONCE 0x04
        assert.truthy(logged(d, "verifyMode 0x0A → 0x5,"))
      end)

      it("0x0E: all three bits", function()
        assert.same({ false, true, false }, who_gets_in(0x0E, "chain.pem"))
        assert.truthy(logged(d, "verifyMode 0x0E → 0x7,"))
      end)

      it("0x04 without 0x02 warns and asks for nothing", function()
        assert.same({ true, true, true }, who_gets_in(VERIFY.FAIL_IF_NO_PEER_CERT, "chain.pem"))
        assert.truthy(logged(d, "without VERIFY_PEER %(0x02%)", "WARN"))
      end)

      it("a client certificate signed by the CA in chain (PEM text) is accepted; the client sees the server's chain", function()
        local port = serve(d, 0x06, read(cert("chain.pem")))
        local c = client(d, port, CA_SIGNED)
        assert.equal("ok\n", echo(c, "ok\n"))
        local rc, out, err = s_client(d, port, CA_ARGS .. " -cert " .. cert("client.pem") ..
          " -key " .. cert("client.key"), "quit\n")
        assert.equal(0, rc, err)
        assert.equal("bye\n", out)
      end)
    end)

    describe("cipherList", function()
      it("'' is the default list: a TLS 1.2 client gets a HIGH cipher", function()
        local port = create(d, 0, "\n", 0, 1, "", "server.pem", "server.key")
        local c = client(d, port, { max_version = "TLS1.2" })
        assert.matches("^ECDHE%-ECDSA%-", c:tls_info().cipher)
        assert.is_truthy(c:tls_info().cipher:find("GCM") or c:tls_info().cipher:find("CHACHA"))
        -- a NULL cipher is not in the default list
        refusal(d, port, { max_version = "TLS1.2", ciphers = "ECDHE-ECDSA-NULL-SHA:@SECLEVEL=0" })
        assert.truthy(logged(d, "refused: TLS: TLS handshake failed: no shared cipher", "WARN"))
      end)

      it("a given list is what TLS 1.2 clients may use", function()
        local port = create(d, 0, "\n", 0, 1, "ECDHE-ECDSA-AES128-SHA256", "server.pem", "server.key")
        local c = client(d, port, { max_version = "TLS1.2" })
        assert.equal("ECDHE-ECDSA-AES128-SHA256", c:tls_info().cipher)
        refusal(d, port, { max_version = "TLS1.2", ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384" })
        assert.truthy(logged(d, "refused: TLS: TLS handshake failed: no shared cipher", "WARN"))
        -- TLS 1.3 suites are not part of a cipher list (OpenSSL keeps them apart)
        assert.equal("TLSv1.3", client(d, port):tls_info().version)
      end)

      it("a list that names no cipher gives false and says so", function()
        local msg = refused(d, 0, "\n", 0, 1, "NOT-A-CIPHER", "server.pem", "server.key")
        assert.equal("cipher list 'NOT-A-CIPHER': no cipher match", msg)
        assert.same({}, d:servers())
      end)
    end)

    describe("certificate and privateKey", function()
      it("PEM text", function()
        local port = create(d, 0, "\n", 0, 1, "", read(cert("server.pem")), read(cert("server.key")))
        assert.equal("pem\n", echo(client(d, port), "pem\n"))
      end)

      it("PEM files in the sandbox folder", function()
        local port = create(d, 0, "\n", 0, 1, "", "server.pem", "server.key")
        assert.equal("sandbox\n", echo(client(d, port), "sandbox\n"))
      end)

      it("PEM files in the package folder (a sub-folder too); the package wins over the sandbox", function()
        d:destroy()
        local dir = sh("mktemp -d /tmp/c4emu-tls-pkg.XXXXXX")
        finally(function() run("rm -rf " .. dir) end)
        run("cp " .. FIXTURE .. "/* " .. dir .. "/ && mkdir " .. dir .. "/certs")
        write(dir .. "/certs/server.pem", read(cert("server.pem")))
        write(dir .. "/certs/server.key", read(cert("server.key")))
        write(dir .. "/server.pem", read(cert("server.pem")))
        d = c4emu.load(dir)
        write(sandbox(d) .. "/server.pem", "not a certificate")
        d:init()
        local port = create(d, 0, "\n", 0, 1, "", "certs/server.pem", "certs/server.key")
        assert.equal("pkg\n", echo(client(d, port), "pkg\n"))
        assert.equal("pkg\n", echo(client(d, create(d, 0, "\n", 0, 1, "", "server.pem",
          "certs/server.key")), "pkg\n"))
      end)

      it("the same files from a .c4z package", function()
        d:destroy()
        local dir = sh("mktemp -d /tmp/c4emu-tls-c4z.XXXXXX")
        finally(function() run("rm -rf " .. dir) end)
        run("mkdir " .. dir .. "/src && cp " .. FIXTURE .. "/* " .. dir .. "/src/")
        write(dir .. "/src/server.pem", read(cert("server.pem")))
        write(dir .. "/src/server.key", read(cert("server.key")))
        local out = sh(BUILD .. "/pack-c4z " .. dir .. "/src " .. dir .. "/tls.c4z")
        d = c4emu.load(dir .. "/tls.c4z")
        d:init()
        local port = create(d, 0, "\n", 0, 1, "", "server.pem", "server.key")
        assert.equal("c4z\n", echo(client(d, port), "c4z\n"), out)
      end)

      it("a certificate PEM that also holds the key needs no privateKey", function()
        write(sandbox(d) .. "/both.pem", read(cert("server.pem")) .. read(cert("server.key")))
        local port = create(d, 0, "\n", 0, 1, "", "both.pem")
        assert.equal("both\n", echo(client(d, port), "both\n"))
      end)

      it("a key that does not match the certificate: false, and it says so", function()
        assert.matches("^private key does not match the certificate",
          refused(d, 0, "\n", 0, 1, "", "server.pem", "other.key"))
      end)

      it("no key at all: false", function()
        assert.equal("private key: none given", refused(d, 0, "\n", 0, 1, "", "server.pem"))
        assert.equal("private key: none given", refused(d, 0, "\n", 0, 1, "", "server.pem", ""))
      end)

      it("an empty certificate: false", function()
        assert.equal("certificate: none given", refused(d, 0, "\n", 0, 1, "", ""))
      end)

      it("files that are missing, unreadable or not PEM: false, naming the file", function()
        assert.matches("^certificate: file 'missing.pem' not found in the driver's package or sandbox folder",
          refused(d, 0, "\n", 0, 1, "", "missing.pem", "server.key"))
        assert.matches("^private key: file 'missing.key' not found",
          refused(d, 0, "\n", 0, 1, "", "server.pem", "missing.key"))
        run("mkdir " .. sandbox(d) .. "/adir")
        assert.matches("^certificate: cannot read file 'adir': Is a directory",
          refused(d, 0, "\n", 0, 1, "", "adir", "server.key"))
        write(sandbox(d) .. "/junk.bin", "\0\1\2 not a certificate")
        assert.equal("certificate: file 'junk.bin' is neither PEM nor PKCS#12",
          refused(d, 0, "\n", 0, 1, "", "junk.bin", "server.key"))
        assert.matches("^private key: file 'junk.bin' is not PEM",
          refused(d, 0, "\n", 0, 1, "", "server.pem", "junk.bin"))
        assert.matches("^certificate: no PEM certificate in file 'server.key'",
          refused(d, 0, "\n", 0, 1, "", "server.key", "server.key"))
        assert.same({}, d:servers())
      end)

      it("paths starting with '.' or '..', absolute paths and paths that escape are refused", function()
        local sb = sandbox(d)
        local real = sh("realpath " .. cert("server.key"))
        run("ln -s " .. real .. " " .. sb .. "/link.key")
        run("mkdir " .. sb .. "/sub")
        local cases = {
          { "./server.pem", "paths starting with '.' or '..' are not allowed" },
          { "../server.pem", "paths starting with '.' or '..' are not allowed" },
          { ".hidden.pem", "paths starting with '.' or '..' are not allowed" },
          { sb .. "/server.pem", "give a path relative to the driver's package or sandbox folder" },
          { "/etc/ssl/certs/ca-certificates.crt", "give a path relative" },
          { "sub/../server.pem", "'..' may not appear in a path" },
        }
        for _, case in ipairs(cases) do
          local msg = refused(d, 0, "\n", 0, 1, "", case[1], "server.key")
          assert.equal(1, msg:find("certificate: path '" .. case[1] .. "' refused: ", 1, true), msg)
          assert.truthy(msg:find(case[2], 1, true), msg)
        end
        assert.matches("^private key: file 'link.key' not found .*%(or it leads outside them%)",
          refused(d, 0, "\n", 0, 1, "", "server.pem", "link.key"))
        assert.matches("^chain: path '%.%./chain.pem' refused",
          refused(d, 0, "\n", 0, 1, "", "server.pem", "server.key", nil, "../chain.pem"))
        assert.same({}, d:servers())
      end)
    end)

    describe("password", function()
      it("unlocks an encrypted PEM key", function()
        local port = create(d, 0, "\n", 0, 1, "", "server.pem", "server.enc.key", PASS)
        assert.equal("enc\n", echo(client(d, port), "enc\n"))
      end)

      it("wrong or missing for an encrypted key: false, and it says which", function()
        assert.matches("^private key: wrong password for the encrypted key in file 'server.enc.key'",
          refused(d, 0, "\n", 0, 1, "", "server.pem", "server.enc.key", "wrong"))
        assert.equal("private key: the key in file 'server.enc.key' is encrypted and no password was given",
          refused(d, 0, "\n", 0, 1, "", "server.pem", "server.enc.key"))
        assert.equal("private key: the key in file 'server.enc.key' is encrypted and no password was given",
          refused(d, 0, "\n", 0, 1, "", "server.pem", "server.enc.key", ""))
      end)

      it("is ignored for a key that is not encrypted", function()
        local port = create(d, 0, "\n", 0, 1, "", "server.pem", "server.key", "unused")
        assert.equal("x\n", echo(client(d, port), "x\n"))
      end)

      it("never appears in a message or a log line", function()
        local secret = "s3cret-" .. tostring(math.random(1e9))
        refused(d, 0, "\n", 0, 1, "", "server.pem", "server.enc.key", secret)
        refused(d, 0, "\n", 0, 1, "", "server.p12", nil, secret)
        create(d, 0, "\n", 0, 1, "", "server.p12", nil, PASS)
        for _, l in ipairs(d:logs()) do
          assert.is_nil(l.text:find(secret, 1, true))
          assert.is_nil(l.text:find(PASS, 1, true))
        end
      end)
    end)

    describe("PKCS#12", function()
      it("brings certificate, key and chain; privateKey is ignored", function()
        local port = create(d, 0, "\n", 0, 1, "", "server.p12", "other.key", PASS)
        local c = client(d, port)
        assert.equal("p12\n", echo(c, "p12\n"))
        assert.equal("CN=localhost", c:tls_info().peer)
      end)

      it("its chain verifies client certificates unless chain is given", function()
        local v = bit.bor(VERIFY.PEER, VERIFY.FAIL_IF_NO_PEER_CERT)
        local port = create(d, 0, "\n", 0, v, "", "server.p12", nil, PASS)
        assert.equal("ok\n", echo(client(d, port, with_cert("client")), "ok\n"))
        refusal(d, port, with_cert("rogue-client", { max_version = "TLS1.2" }))
        -- chain given: it replaces the bundle's
        local other = create(d, 0, "\n", 0, v, "", "server.p12", nil, PASS, "rogue-ca.pem")
        assert.equal("ok\n", echo(client(d, other, with_cert("rogue-client")), "ok\n"))
        refusal(d, other, with_cert("client", { max_version = "TLS1.2" }))
        assert.equal(2, online(d))
      end)

      it("wrong or missing password: false, and it says which", function()
        assert.equal("certificate: wrong password for PKCS#12 file 'server.p12'",
          refused(d, 0, "\n", 0, 1, "", "server.p12", nil, "wrong"))
        assert.equal("certificate: wrong password for PKCS#12 file 'server.p12' (no password given)",
          refused(d, 0, "\n", 0, 1, "", "server.p12"))
      end)
    end)

    describe("chain", function()
      -- s_client -showcerts lists what the server sent.
      it("PEM file and PEM text are sent to clients after the certificate", function()
        for _, chain in ipairs({ "chain.pem", read(cert("chain.pem")) }) do
          local port = serve(d, VERIFY.NONE, chain)
          local rc, out, err = s_client(d, port, CA_ARGS .. " -showcerts", "", true)
          assert.equal(0, rc, err)
          assert.matches(" 0 s:CN = localhost", out)
          assert.matches(" 1 s:CN = c4emu test CA", out)
        end
      end)

      it("without a chain only the certificate is sent", function()
        local port = serve(d, VERIFY.NONE)
        local rc, out, err = s_client(d, port, CA_ARGS .. " -showcerts", "", true)
        assert.equal(0, rc, err)
        assert.matches(" 0 s:CN = localhost", out)
        assert.is_nil(out:find(" 1 s:", 1, true))
      end)

      it("a chain with no certificate in it: false", function()
        assert.equal("chain: no PEM certificate in file 'other.key'",
          refused(d, 0, "\n", 0, 1, "", "server.pem", "server.key", nil, "other.key"))
        assert.matches("^chain: file 'nope.pem' not found",
          refused(d, 0, "\n", 0, 1, "", "server.pem", "server.key", nil, "nope.pem"))
      end)
    end)

    describe("identifier, by OS version", function()
      local function session(os_version, identifier)
        d:destroy()
        d = load({ os = os_version })
        local port = create(d, 0, "\n", 0, 1, "", "server.pem", "server.key", nil, nil, identifier)
        local c = client(d, port)
        echo(c, "hi\n")
        c:close()
        wait_events(d, 1, "conn", 3, "OFFLINE")
        return port, events(d, "status"), events(d, "conn"), events(d, "data")
      end

      it("3.3.1: the identifier comes last in all three callbacks", function()
        local port, st, conn, data = session("3.3.1", "tls-one")
        assert.same({ port, "ONLINE", "tls-one" }, st[1].args)
        assert.equal(5, conn[1].n)
        assert.equal("tls-one", conn[2].args[5])
        assert.equal(5, data[1].n)
        assert.equal("tls-one", data[1].args[5])
        assert.equal("tls-one", d:servers()[1].identifier)
      end)

      it("3.3.0: the API exists, callbacks have no identifier yet", function()
        local port, st, conn, data = session("3.3.0", "tls-one")
        assert.equal(2, st[1].n)
        assert.same({ port, "ONLINE" }, st[1].args)
        assert.equal(4, conn[1].n)
        assert.equal(4, data[1].n)
      end)

      it("nil identifier on 3.3.1 passes \"\"", function()
        local _, st, conn, data = session("3.3.1", nil)
        assert.equal("", st[1].args[3])
        assert.equal("", conn[1].args[5])
        assert.equal("", data[1].args[5])
      end)

      it("before 3.3.0 C4.CreateTLSServer is nil", function()
        d:destroy()
        d = load({ os = "3.2.3" })
        assert.is_nil(d:eval("return C4.CreateTLSServer"))
      end)
    end)
  end)

  describe("wrong arguments raise with Lua's wording", function()
    before_each(function() d = load() end)

    local T = "C4:CreateTLSServer"
    local cases = {
      { T .. "('x')", "bad argument #1 to 'CreateTLSServer' %(number expected, got string%)" },
      { T .. "()", "bad argument #1 to 'CreateTLSServer' %(number expected, got no value%)" },
      { T .. "(70000)", "bad argument #1 to 'CreateTLSServer' %(port out of range" },
      { T .. "(0, {})", "bad argument #2 to 'CreateTLSServer' %(string expected, got table%)" },
      { T .. "(0, '\\n', 'x')", "bad argument #3 to 'CreateTLSServer' %(number expected, got string%)" },
      { T .. "(0, '\\n', -1)", "bad argument #3 to 'CreateTLSServer' %(options must be a non%-negative integer" },
      { T .. "(0, '\\n', 1.5)", "bad argument #3 to 'CreateTLSServer' %(options must be a non%-negative integer" },
      { T .. "(0, '\\n', 0, 'peer')", "bad argument #4 to 'CreateTLSServer' %(number expected, got string%)" },
      { T .. "(0, '\\n', 0, -2)", "bad argument #4 to 'CreateTLSServer' %(verifyMode must be a non%-negative integer" },
      { T .. "(0, '\\n', 0, 0, {})", "bad argument #5 to 'CreateTLSServer' %(string expected, got table%)" },
      { T .. "(0, '\\n', 0, 0, '')", "bad argument #6 to 'CreateTLSServer' %(string expected, got no value%)" },
      { T .. "(0, '\\n', 0, 0, '', nil, 'server.key')", "bad argument #6 to 'CreateTLSServer' %(string expected, got nil%)" },
      { T .. "(0, '\\n', 0, 0, '', true)", "bad argument #6 to 'CreateTLSServer' %(string expected, got boolean%)" },
      { T .. "(0, '\\n', 0, 0, '', 'server.pem', {})", "bad argument #7 to 'CreateTLSServer' %(string expected, got table%)" },
      { T .. "(0, '\\n', 0, 0, '', 'server.pem', 'server.key', {})", "bad argument #8 to 'CreateTLSServer' %(string expected, got table%)" },
      { T .. "(0, '\\n', 0, 0, '', 'server.pem', 'server.key', nil, false)", "bad argument #9 to 'CreateTLSServer' %(string expected, got boolean%)" },
      { T .. "(0, '\\n', 0, 0, '', 'server.pem', 'server.key', nil, nil, {})", "bad argument #10 to 'CreateTLSServer' %(string expected, got table%)" },
      { "C4.CreateTLSServer(0)", "C4:CreateTLSServer must be called with a colon" },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        assert.matches(case[2], raised(function() d:eval(case[1]) end))
        assert.same({}, d:servers())
      end)
    end

    it("nil or left out: delimiter, options, verifyMode, cipherList, privateKey, password, chain, identifier", function()
      local port = create(d, 0, nil, nil, nil, nil, "server.p12", nil, PASS)
      local c = client(d, port)
      c:send("raw")
      assert.equal("raw", c:receive(3))
      assert.is_true(d:eval("return C4:CreateTLSServer(0, '\\n', 0, 0, '', 'server.p12', nil, ...)", PASS))
      assert.equal(2, #d:servers())
    end)
  end)

  describe("the init rule", function()
    it("CreateTLSServer in OnDriverInit raises (strict); OnDriverLateInit may create it", function()
      d = c4emu.load("fixtures/drivers/tls_init")
      install_certs(sandbox(d))
      d:init()
      local init = d:eval("return INIT_CREATE")
      assert.is_false(init[1])
      assert.matches("C4:CreateTLSServer may not be called during OnDriverInit", init[2])
      local errs = d:errors()
      assert.equal(1, #errs)
      assert.equal("OnDriverInit", errs[1].where)
      assert.is_nil(d:eval("return REACHED_END_OF_INIT"))
      assert.same({ true }, d:eval("return LATE"))
      assert.same({ { port = d:servers()[1].port, protocol = "tls", identifier = "init", clients = 0, queued = 0, pending = 0 } },
        d:servers())
    end)

    it("with init_rule = 'warn' it works in OnDriverInit", function()
      d = c4emu.load("fixtures/drivers/tls_init", { init_rule = "warn" })
      install_certs(sandbox(d))
      d:init()
      assert.same({ true, true }, d:eval("return INIT_CREATE"))
      assert.is_true(d:eval("return REACHED_END_OF_INIT"))
      assert.equal(3, #d:servers())
    end)
  end)

  describe("openssl s_client", function()
    before_each(function() d = load() end)

    it("handshakes (verifying the server) and echoes a line", function()
      local port = serve(d, nil, nil, "interop")
      local rc, out, err = s_client(d, port, CA_ARGS, "hello from s_client\nquit\n")
      assert.equal(0, rc, err)
      assert.equal("hello from s_client\nbye\n", out)
      assert.matches("verify return:1", err)
      assert.equal("hello from s_client\n", events(d, "data")[1].args[2])
      assert.equal(1, online(d))
      wait_events(d, 1, "conn", 3, "OFFLINE")
    end)

    it("TLS 1.2 with a given cipher", function()
      local port = create(d, 0, "\n", 0, 1, "ECDHE-ECDSA-CHACHA20-POLY1305", "server.pem", "server.key")
      local rc, out, err = s_client(d, port, CA_ARGS .. " -tls1_2", "twelve\nquit\n")
      assert.equal(0, rc, err)
      assert.equal("twelve\nbye\n", out)
      local rc2, _, err2 = s_client(d, port, CA_ARGS .. " -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256",
        "quit\n")
      assert.are_not.equal(0, rc2)
      assert.matches("handshake failure", err2)
    end)

    it("a TLS 1.1 client is refused by the default options, and let in when 0x20 and 0x10 are clear", function()
      local port = create(d, 0, "\n", 0, 1, "", "server.pem", "server.key")
      local args = CA_ARGS .. " -tls1_1 -cipher DEFAULT:@SECLEVEL=0"
      local rc, out, err = s_client(d, port, args, "eleven\nquit\n")
      assert.are_not.equal(0, rc)
      assert.equal("", out)
      assert.matches("alert protocol version", err)
      assert.equal(0, online(d))
      assert.truthy(logged(d, "refused: TLS: TLS handshake failed: unsupported protocol", "WARN"))
      -- the same client, with TLS 1.0 and 1.1 allowed
      local open = create(d, 0, "\n", ALL_TLS, 1, "", "server.pem", "server.key")
      rc, out, err = s_client(d, open, args, "eleven\nquit\n")
      assert.equal(0, rc, err)
      assert.equal("eleven\nbye\n", out)
    end)

    it("a TLS 1.3-only client is refused when 0x80 is set; a TLS 1.2 client still gets in", function()
      local port = create(d, 0, "\n", bit.bor(0x3D, OP.NO_TLSv1_3), 1, "", "server.pem", "server.key")
      local rc, out, err = s_client(d, port, CA_ARGS .. " -tls1_3", "thirteen\nquit\n")
      assert.are_not.equal(0, rc)
      assert.equal("", out)
      assert.matches("alert protocol version", err)
      assert.equal(0, online(d))
      rc, out, err = s_client(d, port, CA_ARGS .. " -tls1_2", "twelve\nquit\n")
      assert.equal(0, rc, err)
      assert.equal("twelve\nbye\n", out)
      assert.equal(1, online(d))
    end)

    it("client certificates: required (0x06) and given, required and missing", function()
      local port = serve(d, 0x06, "chain.pem")
      local rc, out, err = s_client(d, port, CA_ARGS .. " -cert " .. cert("client.pem") .. " -key " ..
        cert("client.key"), "mutual\nquit\n")
      assert.equal(0, rc, err)
      assert.equal("mutual\nbye\n", out)
      rc, out, err = s_client(d, port, CA_ARGS, "anonymous\nquit\n")
      assert.are_not.equal(0, rc)
      assert.equal("", out)
      assert.matches("certificate required", err)
      assert.equal(1, online(d))
      assert.truthy(logged(d, "refused: TLS: TLS handshake failed: peer did not return a certificate", "WARN"))
    end)
  end)

  describe("failed and slow handshakes", function()
    before_each(function() d = load() end)

    it("are logged with OpenSSL's reason and never disturb the other connections", function()
      local port = serve(d, bit.bor(VERIFY.PEER, VERIFY.FAIL_IF_NO_PEER_CERT), "chain.pem")
      local good = client(d, port, with_cert("client"))
      assert.equal("1\n", echo(good, "1\n"))
      -- a plain-text client
      local plain = d:connect(port)
      plain:send("GET / HTTP/1.0\r\n\r\n")
      assert.is_true(plain:is_closed(2000))
      assert.equal("2\n", echo(good, "2\n"))
      -- a rogue certificate, no certificate, an old protocol, garbage, a hello cut short
      refusal(d, port, with_cert("rogue-client", { max_version = "TLS1.2" }))
      refusal(d, port, { max_version = "TLS1.2" })
      refusal(d, port, with_cert("client", { max_version = "TLS1.1", min_version = "TLS1.1" }))
      local junk = d:connect(port)
      junk:send(string.rep("\22\3\3\0\5junk!", 50))
      assert.is_true(junk:is_closed(2000))
      local cut = d:connect(port)
      cut:send("\22\3\1\2\0\1\0\1\252\3\3")
      d:serve(30)
      cut:close()
      assert.equal("3\n", echo(good, "3\n"))
      d:serve(50)
      local refusals = {}
      for _, l in ipairs(d:logs()) do
        local why = l.text:match("^%[c4emu%] server %d+: connection from 127%.0%.0%.1:%d+ refused: (.*)$")
        if why then refusals[#refusals + 1] = why end
      end
      assert.equal(6, #refusals, table.concat(refusals, "\n"))
      assert.matches("http request", refusals[1])
      assert.matches("certificate verify failed", refusals[2])
      assert.matches("peer did not return a certificate", refusals[3])
      assert.matches("unsupported protocol", refusals[4])
      assert.matches("TLS handshake failed", refusals[5])
      assert.matches("the client closed the connection during the TLS handshake", refusals[6])
      assert.equal(1, online(d))
      assert.equal(0, #events(d, "conn", 3, "OFFLINE"))
      assert.equal(1, d:servers()[1].clients)
      local _, kinds = d:handles()
      assert.equal(1, kinds["tls-conn"])
    end)

    it("a client that never finishes its handshake is dropped after the timeout (10 s by default)", function()
      assert.equal(10000, d:set_handshake_timeout(300))
      local port = serve(d)
      local silent, trickle = d:connect(port), d:connect(port)
      trickle:send("\22\3\1")
      local good = client(d, port)
      assert.is_false(silent:is_closed(100))
      assert.is_true(silent:is_closed(3000))
      assert.is_true(trickle:is_closed(1000))
      assert.truthy(logged(d, "refused: TLS handshake not finished within 300 ms", "WARN"))
      assert.equal("still\n", echo(good, "still\n"))
      assert.equal(1, online(d))
      local _, kinds = d:handles()
      assert.equal(1, kinds["tls-conn"])
      assert.equal(300, d:set_handshake_timeout(10000))
    end)

    it("C4EMU_TLS_HANDSHAKE_MS sets the starting deadline", function()
      local p = io.popen("C4EMU_TLS_HANDSHAKE_MS=1234 lua5.1 -e \"package.cpath = '" .. BUILD ..
        "/?.so;' .. package.cpath; local d = require('c4emu').load('" .. FIXTURE .. "'); " ..
        "print(d:set_handshake_timeout(5)); d:destroy()\" 2>&1")
      local out = p:read("*a")
      p:close()
      assert.equal("1234\n", out)
    end)
  end)

  describe("load", function()
    it("50 concurrent TLS clients each echo 100 lines; nothing is lost", function()
      d = load()
      d:eval("RECORD = false")
      local port = serve(d)
      local cs = {}
      for i = 1, 50 do cs[i] = client(d, port) end
      -- with TLS 1.3 a client is done before the server: wait for the last ONLINE
      d:run_until(function() return d:servers()[1].clients == 50 end, 5000)
      local pad = string.rep("x", 60)
      for line = 1, 100 do
        for i = 1, 50 do cs[i]:send(("%d:%d:%s\n"):format(i, line, pad)) end
      end
      for i = 1, 50 do
        local got = {}
        for line = 1, 100 do got[line] = cs[i]:receive_until("\n", 10000) end
        for line = 1, 100 do assert.equal(("%d:%d:%s\n"):format(i, line, pad), got[line]) end
      end
      for i = 1, 50 do cs[i]:close() end
      d:run_until(function() return d:servers()[1].clients == 0 end, 5000)
    end)
  end)

  describe("shutdown", function()
    it("destroy closes the TLS server, its clients and handshakes in progress; no Lua after", function()
      d = load()
      local port = serve(d)
      d:eval([[
        function OnDriverDestroyed() DESTROYED = true end
        local function late() if DESTROYED then print("callback after destroy") end end
        ON_CONN, ON_DATA, ON_STATUS = late, late, late
      ]])
      local c = client(d, port)
      assert.equal("x\n", echo(c, "x\n"))
      local pending = d:connect(port)
      d:serve(20)
      local n, kinds = d:handles()
      assert.equal(1, kinds["tls-server"])
      assert.equal(2, kinds["tls-conn"])
      assert.equal(2, kinds["spec-client"])
      assert.equal(5, n)
      d:destroy()
      assert.is_nil(d:logged("callback after destroy"))
      assert.equal(0, (d:handles()))
      assert.is_true(c:is_closed())
      assert.is_true(pending:is_closed())
    end)
  end)
end)
