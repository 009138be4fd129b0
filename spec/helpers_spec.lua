-- spec/helpers_spec.lua — the helper family inside a hosted driver: C4:Hash,
-- HMAC, Base64, Encode/Decode, JSON, XmlEscapeString, UUID, and the globals
-- c4json, hexdump and tohex.  The C unit tests (spec/unit/test_helpers.c)
-- cover the edge cases; this checks the pieces through the real C4 table.
local c4emu = require "c4emu"

local FIXTURE = "fixtures/drivers/minimal"

describe("helpers", function()
  local d

  before_each(function()
    d = c4emu.load(FIXTURE, { clock = "virtual" })
    d:init()
  end)

  after_each(function()
    d:destroy()
  end)

  it("hashes the reference's test vector, HEX by default", function()
    local want = "3fa83003c1c41282cac40d71b680d85f981f1517e5ac4941bd871955aeecbfec"
    assert.equal(want, d:eval("return C4:Hash('SHA256', 'Hello World, this is London calling')"))
    local got, err = d:eval([[
      return C4:Hash('SHA256', 'Hello World, this is London calling',
                     {return_encoding = 'HEX', data_encoding = 'NONE'})
    ]])
    assert.equal(want, got)
    assert.is_nil(err)
  end)

  it("computes HMAC-SHA256 (RFC 4231 case 2)", function()
    assert.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      d:eval("return C4:HMAC('SHA256', 'Jefe', 'what do ya want for nothing?')"))
  end)

  it("returns nil and a message for an unknown digest", function()
    local r, err = d:eval("return C4:Hash('NOPE42', 'x')")
    assert.is_nil(r)
    assert.matches("unknown digest", err)
  end)

  it("round-trips binary data through Base64", function()
    local bytes = "\0\1\2\255\254\0" .. string.rep("x", 100)
    assert.equal("AAEC//4A", d:eval("return C4:Base64Encode(...)", "\0\1\2\255\254\0"))
    assert.equal(bytes, d:eval("return C4:Base64Decode(C4:Base64Encode(...))", bytes))
    local r, err = d:eval("return C4:Base64Decode('@@@@')")
    assert.is_nil(r)
    assert.is_string(err)
  end)

  it("encodes and decodes NONE, HEX and BASE64", function()
    assert.equal("68690a", d:eval("return C4:Encode('hi\\n', 'HEX')"))
    assert.equal("aGk=", d:eval("return C4:Encode('hi', 'base64')"))
    assert.equal("hi", d:eval("return C4:Decode('6869', 'HEX')"))
    assert.equal("hi", d:eval("return C4:Decode('hi', 'NONE')"))
    local r, err = d:eval("return C4:Decode('xyz', 'HEX')")
    assert.is_nil(r)
    assert.is_string(err)
  end)

  it("encodes JSON the C4 way and decodes it back", function()
    assert.equal('{"1":"One","2":"Two"}', d:eval("return C4:JsonEncode({'One', 'Two'})"))
    assert.equal('["One","Two"]', d:eval("return C4:JsonEncode({'One', 'Two'}, false, true)"))
    assert.equal('{":string:":"Bar"}', d:eval("return C4:JsonEncode('Bar')"))
    assert.equal('{\n\t"Biz" : "Baz",\n\t"Qux" : "Norf"\n}',
      d:eval("return C4:JsonEncode({Qux = 'Norf', Biz = 'Baz'}, true)"))
    assert.same({ "One", { Two = "Two" } }, d:eval([[
      return C4:JsonDecode(C4:JsonEncode({'One', {Two = 'Two'}}, false, false, true))
    ]]))
    assert.same({ Contents = { "Asia", "Africa" } },
      d:eval([[return C4:JsonDecode('{"Contents":["Asia","Africa"]}')]]))
    local r, err = d:eval("return C4:JsonEncode({f = print})")
    assert.is_nil(r)
    assert.matches("cannot encode function", err)
    r, err = d:eval("return C4:JsonDecode('{bad')")
    assert.is_nil(r)
    assert.is_string(err)
  end)

  it("gives c4json.null when asked, an empty table otherwise", function()
    assert.same({ "userdata", true, "table" }, { d:eval([[
      local v = C4:JsonDecode('{"a":null}', true)
      return type(c4json.null), v.a == c4json.null, type(C4:JsonDecode('{"a":null}').a)
    ]]) })
    assert.equal('{"a":null}', d:eval("return C4:JsonEncode({a = c4json.null})"))
  end)

  it("escapes only &, < and > in XmlEscapeString", function()
    assert.equal("a&amp;b&lt;c&gt;\"'", d:eval([[return C4:XmlEscapeString("a&b<c>\"'")]]))
  end)

  it("makes random and nil UUIDs", function()
    local u = d:eval("return C4:UUID('RANDOM')")
    assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", u)
    assert.equal(36, #u)
    assert.equal("00000000-0000-0000-0000-000000000000", d:eval("return C4:UUID('NIL')"))
  end)

  it("turns hex text into bytes with tohex", function()
    assert.equal("\223\128\112", d:eval("return tohex('DF 80 70')"))
    assert.equal("\223\128\112", d:eval("return tohex('df8070')"))
    local ok, err = d:eval("return pcall(function() local x = tohex('zz') end)")
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'tohex'", err, 1, true)
  end)

  it("logs a hex dump, one line per 16 bytes", function()
    d:eval("hexdump('Hello\\0World, this is London calling')")
    local lines = {}
    for _, l in ipairs(d:logs()) do
      if l.text:find("^%x%x%x%x%x%x%x%x  ") then lines[#lines + 1] = l end
    end
    assert.equal(3, #lines)
    assert.equal("INFO", lines[1].level)
    assert.equal("00000000  48 65 6c 6c 6f 00 57 6f  72 6c 64 2c 20 74 68 69  |Hello.World, thi|",
      lines[1].text)
    assert.equal("00000020  69 6e 67" .. string.rep(" ", 40) .. "  |ing|", lines[3].text)
  end)

  it("raises Lua's own argument errors through the C4 table", function()
    local ok, err = d:eval("return pcall(function() local r = C4:Hash(nil, 'x') end)")
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'Hash' (string expected, got nil)", err, 1, true)
  end)
end)
