-- spec/luaworld_spec.lua — what the controller gives a driver besides C4:
-- `require "json"`, lpack's string.pack/unpack, the crypto helpers
-- (Encrypt, Decrypt, PBKDF2, GetSupportedCiphers/Digests, TEA) and the
-- refusal of precompiled Lua.
local c4emu = require "c4emu"
local support = require "support"

local function load(name, opts)
  local d = c4emu.load(support.folder(name), opts or { clock = "virtual" })
  d:init()
  return d
end

describe("require 'json'", function()
  local d
  before_each(function() d = load("json_pack") end)
  after_each(function() d:destroy() end)

  it("gives a module a driver can call with '.' and ':'", function()
    assert.same({ hello = "world" }, d:eval("return LAST"))
    assert.equal('{"a":[1,2,3]}', d:eval([[local json = require "json"
      return json.encode((json.decode('{"a":[1,2,3]}')))]]))
    assert.equal(5, d:eval([[local JSON = require "json" return JSON:decode('[5]')[1] ]]))
    assert.equal('{"x":1}', d:eval([[local JSON = require "json" return JSON:encode({x = 1})]]))
  end)

  it("returns nil and a message for bad JSON, as dkjson does", function()
    local v, pos, err = d:eval([[return require("json").decode('{"a":')]])
    assert.is_nil(v)
    assert.is_number(pos)
    assert.is_string(err)
  end)

  it("is the same module on every require, and a package's own json.lua wins", function()
    assert.is_true(d:eval([[return require "json" == require "json"]]))
    local own = c4emu.load(support.folder("json_own"), { clock = "virtual" })
    assert.equal("the package's own", own:eval([[return require("json").whose]]))
    own:destroy()
  end)

  it("frames JSON with string.pack round-trip", function()
    local op, value, nextpos = d:eval([[return ReadFrame(MakeFrame(2, {v = 42}))]])
    assert.equal(2, op)
    assert.same({ v = 42 }, value)
    assert.equal(5 + #'{"v":42}' + 1, nextpos)
  end)
end)

describe("require 'json' for its effect (global json, JSON_LIBRARY_CHUNK)", function()
  local d
  before_each(function() d = load("json_chunk") end)
  after_each(function() d:destroy() end)

  it("leaves a global json whose chunk compiles to a :decode/:encode object", function()
    assert.same({ power = "on", level = 40, second = "b" }, d:eval("return SEEN"))
    assert.equal('{"answer":42}', d:eval("return TEXT"))
    assert.is_true(d:eval([[return json == require "json"]]))
  end)

  it("raises from :decode on bad JSON and decodes null to nil", function()
    local ok, err = d:eval([[return pcall(function() return Codec:decode('{"a":') end)]])
    assert.is_false(ok)
    assert.matches("JSON:decode", err)
    assert.is_nil(d:eval([[return Codec:decode('{"a":null}').a]]))
  end)

  it("pretty-prints with :encode_pretty", function()
    assert.same({ x = 1 }, d:eval([[return json.decode(Codec:encode_pretty({ x = 1 }))]]))
    assert.matches("\n", d:eval([[return Codec:encode_pretty({ x = { 1 } })]]))
  end)
end)

describe("lpack", function()
  local d
  before_each(function() d = load("minimal") end)
  after_each(function() d:destroy() end)

  it("unpacks Fundamentals' example: 'l' is 4 bytes", function()
    local pos, b, l = d:eval([[return string.unpack("\022\001\002\003\004", "b>l")]])
    assert.equal(6, pos)
    assert.equal(22, b)
    assert.equal(16909060, l)
  end)

  it("packs known byte strings for every integer letter and both byte orders", function()
    local hex = function(fmt, ...)
      return d:eval("return C4:Encode(string.pack(...), 'HEX')", fmt, ...)
    end
    assert.equal("ff", hex("b", 255))
    assert.equal("ff", hex("c", -1))
    assert.equal("0102", hex(">H", 258))
    assert.equal("0201", hex("<H", 258))
    assert.equal("feff", hex("<h", -2))
    assert.equal("01020304", hex(">i", 16909060))
    assert.equal("04030201", hex("<I", 16909060))
    assert.equal("ffffffff", hex(">l", -1))
    assert.equal("ffffffff", hex(">L", 4294967295))
    assert.equal("3f800000", hex(">f", 1))
    assert.equal("3ff0000000000000", hex(">d", 1))
    assert.equal("3ff0000000000000", hex(">n", 1))
    assert.equal("616200", hex("z", "ab"))
    assert.equal("026162", hex("p", "ab"))
    assert.equal("00026162", hex(">P", "ab"))
    assert.equal("000000026162", hex(">a", "ab"))
    assert.equal("6162", hex("A", "ab"))
    assert.equal("0102", hex("b2", 1, 2))        -- a count repeats the item
    assert.equal("0102", hex("b b,", 1, 2))      -- spaces and commas are ignored
  end)

  it("unpacks strings, counts and an init position", function()
    local r = { d:eval([[return string.unpack("ab\0cd\2xyz", "zA2b")]]) }
    assert.same({ 7, "ab", "cd", 2 }, r)
    r = { d:eval([[return string.unpack("\2xy\0\1z", ">pP")]]) }
    assert.same({ 7, "xy", "z" }, r)
    r = { d:eval([[return string.unpack("..\1\2", ">H", 3)]]) }
    assert.same({ 5, 258 }, r)
    r = { d:eval([[return string.unpack("\255\255", "<h")]]) }
    assert.same({ 3, -1 }, r)
  end)

  it("stops quietly where the data runs out, as lpack does", function()
    local r = { d:eval([[return string.unpack("\1\2", "bI")]]) }
    assert.same({ 2, 1 }, r)
    r = { d:eval([[return string.unpack("\5ab", "p")]]) }
    assert.same({ 1 }, r)
  end)

  it("refuses invalid formats with a clear error", function()
    local err = support.raised(d.eval, d, [[return string.pack("bQ", 1, 2)]])
    assert.matches("invalid format letter 'Q' at position 2", err)
    err = support.raised(d.eval, d, [[return string.unpack("x", "j")]])
    assert.matches("string.unpack: invalid format letter 'j'", err)
    err = support.raised(d.eval, d, [[return string.pack("b", "x")]])
    assert.matches("bad argument #2 to 'pack'", err)
    err = support.raised(d.eval, d, [[return string.pack("p", string.rep("x", 300))]])
    assert.matches("string too long for format 'p'", err)
    err = support.raised(d.eval, d, [[return string.pack("i", 1/0)]])
    assert.matches("out of range", err)
  end)
end)

describe("crypto helpers", function()
  local d
  before_each(function() d = load("minimal") end)
  after_each(function() d:destroy() end)

  it("reproduces the reference's AES-256-CBC test vector", function()
    assert.equal("HMQ9QXyBFUBnTAXBl2zi6k6abipQYQjpc37B0nA3WaxK9vBNrqKKAEzIglxWkA46", d:eval([[
      return C4:Encrypt('AES-256-CBC', 'Super Secret Key', 'IV For C4',
        'Hello World, this is London calling',
        {return_encoding = 'BASE64', key_encoding = 'NONE', iv_encoding = 'NONE',
         data_encoding = 'NONE', padding = true})]]))
    assert.equal("Hello World, this is London calling", d:eval([[
      return C4:Decrypt('AES-256-CBC', 'Super Secret Key', 'IV For C4',
        'HMQ9QXyBFUBnTAXBl2zi6k6abipQYQjpc37B0nA3WaxK9vBNrqKKAEzIglxWkA46',
        {data_encoding = 'BASE64'})]]))
  end)

  it("refuses long keys, unknown ciphers and unpadded odd lengths with nil, err", function()
    local r, err = d:eval([[return C4:Encrypt('AES-128-CBC', string.rep('k', 17), '', 'x')]])
    assert.is_nil(r)
    assert.matches("key is 17 bytes", err)
    r, err = d:eval([[return C4:Encrypt('NOPE-CBC', 'k', '', 'x')]])
    assert.is_nil(r)
    assert.matches("unsupported cipher", err)
    r, err = d:eval([[return C4:Encrypt('AES-128-CBC', 'k', '', 'abc', {padding = false})]])
    assert.is_nil(r)
    assert.is_string(err)
    r, err = d:eval([[return C4:Decrypt('AES-128-CBC', 'k', '', string.rep('x', 16))]])
    assert.is_nil(r)
    assert.matches("Decrypt failed", err)
  end)

  it("computes the PBKDF2 page's example", function()
    assert.equal("12675672222506b342f05c0406f43e2af944bcb4ba592bf45e1c7cebad0fcdee", d:eval([[
      return C4:PBKDF2('SHA256', 'My Voice Is My Passport', 'NaCl is one of many', 100000, 32,
                       {return_encoding = 'HEX', salt_encoding = 'NONE'})]]))
    local r, err = d:eval([[return C4:PBKDF2('SHA256', 'p', 's', 0, 32)]])
    assert.is_nil(r)
    assert.matches("iterations", err)
  end)

  it("lists ciphers and digests in the documented shape", function()
    local c = d:eval([[return C4:GetSupportedCiphers()['AES-256-CBC'] ]])
    assert.same({ BlockSize = 16, KeyLength = 32, IVLength = 16 }, c)
    assert.same({ Size = 32 }, d:eval([[return C4:GetSupportedDigests()['SHA256'] ]]))
  end)

  it("drops the low-level ciphers on OS 4.0.0 only", function()
    assert.is_nil(d:eval([[return C4:GetSupportedCiphers()['BF-CBC'] ]]))
    local r, err = d:eval([[return C4:Encrypt('BF-CBC', 'k', '', 'x')]])
    assert.is_nil(r)
    assert.matches("unsupported cipher", err)
    local old = load("minimal", { clock = "virtual", os = "3.3.1" })
    assert.is_table(old:eval([[return C4:GetSupportedCiphers()['BF-CBC'] ]]))
    assert.equal("secret", old:eval([[
      return C4:Decrypt('BF-CBC', 'k', 'iv', C4:Encrypt('BF-CBC', 'k', 'iv', 'secret'))]]))
    old:destroy()
  end)

  it("XXTEA: the published all-zero vector, round trips and alignment errors", function()
    -- key 0, words {0, 0} -> {0x053704AB, 0x575D8C80}, little-endian words
    assert.equal("ab043705808c5d57", d:eval([[
      return C4:Encode(C4:TEAEncrypt(string.rep('\0', 8), ''), 'HEX')]]))
    assert.equal("twelve bytes", d:eval([[
      return C4:TEADecrypt(C4:TEAEncrypt('twelve bytes', 'key'), 'key')]]))
    local r, err = d:eval([[return C4:TEAEncrypt('abcde', 'k')]])
    assert.is_nil(r)
    assert.matches("multiple of 4", err)
  end)
end)
