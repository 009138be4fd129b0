/*
 * test_helpers.c — unit tests of the helper family (c4_helpers.c, c4_json.c).
 *
 * Each test gets a bare Lua state with the standard libraries and a table C4
 * holding the family's methods as they are (no dispatch wrapper, no open():
 * the globals c4json, hexdump and tohex are covered by spec/helpers_spec.lua).
 * The checks are Lua snippets; an error in one fails the test with its text.
 */
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "unit.h"
#include "c4api.h"

/* Small assertion helpers for the snippets. */
static const char prelude[] =
  "function eq(want, got, what)\n"
  "  if want ~= got then\n"
  "    error(string.format('%s: want %q, got %q', what or 'value', tostring(want),\n"
  "                        tostring(got)), 2)\n"
  "  end\n"
  "end\n"
  "function same(a, b, path)\n"
  "  path = path or 'value'\n"
  "  if type(a) ~= 'table' or type(b) ~= 'table' then return eq(a, b, path) end\n"
  "  for k, v in pairs(a) do same(v, b[k], path .. '[' .. tostring(k) .. ']') end\n"
  "  for k in pairs(b) do\n"
  "    if a[k] == nil then error(path .. ': extra key ' .. tostring(k), 2) end\n"
  "  end\n"
  "end\n"
  /* Expects (nil, message containing `frag`). */
  "function fails(frag, v, msg, what)\n"
  "  if v ~= nil then error((what or 'call') .. ': expected nil, got ' .. tostring(v), 2) end\n"
  "  if type(msg) ~= 'string' or not msg:find(frag, 1, true) then\n"
  "    error((what or 'call') .. ': expected message with ' .. frag .. ', got ' ..\n"
  "          tostring(msg), 2)\n"
  "  end\n"
  "end\n"
  /* Expects f to raise an error containing `frag`. */
  "function raises(frag, f)\n"
  "  local ok, err = pcall(f)\n"
  "  if ok then error('expected an error with ' .. frag, 2) end\n"
  "  if not tostring(err):find(frag, 1, true) then\n"
  "    error('expected an error with ' .. frag .. ', got ' .. tostring(err), 2)\n"
  "  end\n"
  "end\n"
  "NULL = C4:JsonDecode('null', true)\n";

static int setup(void **state) {
  lua_State *L = luaL_newstate();
  assert_non_null(L);
  luaL_openlibs(L);
  lua_newtable(L);
  for (const c4_fn *f = c4_family_helpers.fns; f->name; f++) {
    lua_pushcfunction(L, f->fn);
    lua_setfield(L, -2, f->name);
  }
  lua_setglobal(L, "C4");
  if (luaL_dostring(L, prelude)) fail_msg("prelude: %s", lua_tostring(L, -1));
  *state = L;
  return 0;
}

static int teardown(void **state) {
  lua_close(*state);
  return 0;
}

static void run(void **state, const char *src) {
  lua_State *L = *state;
  if (luaL_dostring(L, src)) fail_msg("%s", lua_tostring(L, -1));
  lua_settop(L, 0);
}

static void json_objects_by_default(void **state) {
  run(state,
      "eq('{\"1\":\"a\",\"2\":\"b\"}', C4:JsonEncode({'a', 'b'}))\n"
      "eq('{\"Biz\":\"Baz\",\"Qux\":\"Norf\"}', C4:JsonEncode({Qux = 'Norf', Biz = 'Baz'}))\n"
      "eq('{}', C4:JsonEncode({}))\n"
      "eq('{\"a\":{\"b\":{}}}', C4:JsonEncode({a = {b = {}}}))\n"
      "eq('{\"n\":3,\"neg\":-7,\"x\":0.5,\"y\":-1.25}', C4:JsonEncode({n = 3, x = 0.5, neg = -7, y = -1.25}))\n"
      "eq('{\"big\":9007199254740992}', C4:JsonEncode({big = 2^53}))\n"
      "eq('{\"ms\":1700000000123}', C4:JsonEncode({ms = 1700000000123}))\n"
      "eq('{\"f\":false,\"t\":true}', C4:JsonEncode({t = true, f = false}))\n"
      "eq('{\"s\":\"q\\\\\"b\\\\\\\\n\\\\n/\"}', C4:JsonEncode({s = 'q\"b\\\\n\\n/'}))\n"
      "eq('{\"z\":\"\\\\u0000\"}', C4:JsonEncode({z = '\\0'}))\n"
      "eq('{\"a\":null}', C4:JsonEncode({a = NULL}))\n"
      "eq('{\"1.5\":1,\"2\":2}', C4:JsonEncode({[1.5] = 1, [2] = 2}))\n"
      "eq('{\"10\":10,\"2\":2}', C4:JsonEncode({[10] = 10, [2] = 2}), 'byte order of names')\n"
      "local s = {1}\n"
      "eq('{\"a\":{\"1\":1},\"b\":{\"1\":1}}', C4:JsonEncode({a = s, b = s}), 'shared, no cycle')\n");
}

static void json_encode_arrays(void **state) {
  run(state,
      "eq('[\"One\",\"Two\"]', C4:JsonEncode({'One', 'Two'}, false, true))\n"
      "eq('{\"1\":1,\"3\":3}', C4:JsonEncode({1, nil, 3}, false, true), 'hole')\n"
      "eq('{\"1\":\"a\",\"x\":1}', C4:JsonEncode({'a', x = 1}, false, true), 'mixed')\n"
      "eq('{\"Biz\":\"Baz\"}', C4:JsonEncode({Biz = 'Baz'}, false, true))\n"
      "eq('{}', C4:JsonEncode({}, false, true), 'empty')\n"
      "eq('{\"l\":[[1,2],{\"k\":[true]}]}', C4:JsonEncode({l = {{1, 2}, {k = {true}}}}, false, true))\n");
}

static void json_formatted(void **state) {
  run(state,
      "eq('{\\n\\t\"Biz\" : \"Baz\",\\n\\t\"Qux\" : \"Norf\"\\n}',\n"
      "   C4:JsonEncode({Biz = 'Baz', Qux = 'Norf'}, true))\n"
      "eq('[ \"One\", \"Two\", \"Three\", \"Four\" ]',\n"
      "   C4:JsonEncode({'One', 'Two', 'Three', 'Four'}, true, true))\n"
      "eq('{\\n\\t\"1\" : \"One\",\\n\\t\"2\" : \"Two\"\\n}', C4:JsonEncode({'One', 'Two'}, true))\n"
      "eq('{\\n\\t\"a\" : {\\n\\t\\t\"b\" : [ 1, {} ]\\n\\t},\\n\\t\"c\" : {}\\n}',\n"
      "   C4:JsonEncode({a = {b = {1, {}}}, c = {}}, true, true))\n"
      "eq('[\\n\\t{\\n\\t\\t\"k\" : 1\\n\\t},\\n\\t2\\n]', C4:JsonEncode({{k = 1}, 2}, true, true))\n"
      "local long = {}\n"
      "for i = 1, 8 do long[i] = string.rep('x', 10) end\n"
      "local out = C4:JsonEncode(long, true, true)\n"
      "eq(8, select(2, out:gsub('\\n\\t\"', '')), 'one element a line')\n"
      "same(long, C4:JsonDecode(out))\n");
}

static void json_symmetric(void **state) {
  run(state,
      "local foo = {'One', {Two = 'Two', Three = 'Three'}}\n"
      "local s = C4:JsonEncode(foo, false, false, true)\n"
      "eq('{\":index:1\":\"One\",\":index:2\":{\"Three\":\"Three\",\"Two\":\"Two\"}}', s)\n"
      "same(foo, C4:JsonDecode(s))\n"
      "eq('{\\n\\t\":index:1\" : \"One\"\\n}', C4:JsonEncode({'One'}, true, false, true))\n"
      "local mixed = {[1] = 'a', x = 'b', [2.5] = 'c', [-3] = {[7] = true}, ['4'] = 's'}\n"
      "local back = C4:JsonDecode(C4:JsonEncode(mixed, false, false, true))\n"
      "same(mixed, back)\n"
      "eq('s', back['4'], 'string key stays a string')\n"
      "eq(nil, back[4])\n"
      "eq('[1,2]', C4:JsonEncode({1, 2}, false, true, true), 'arrays need no markers')\n"
      "local plain = C4:JsonDecode(C4:JsonEncode({'One'}))\n"
      "eq('One', plain['1'], 'without symmetric keys come back as strings')\n"
      "eq(nil, plain[1])\n"
      "eq('x', C4:JsonDecode('{\":index:0x10\":\"x\"}')[':index:0x10'], 'hex is no index')\n");
}

static void json_primitives(void **state) {
  run(state,
      "eq('{\":string:\":\"Bar\"}', C4:JsonEncode('Bar'))\n"
      "eq('{\":number:\":1}', C4:JsonEncode(1))\n"
      "eq('{\":number:\":1.5}', C4:JsonEncode(1.5))\n"
      "eq('{\":boolean:\":true}', C4:JsonEncode(true))\n"
      "eq('{\":boolean:\":false}', C4:JsonEncode(false))\n"
      "eq('{\\n\\t\":string:\" : \"x\"\\n}', C4:JsonEncode('x', true))\n"
      "eq('null', C4:JsonEncode(NULL))\n"
      "eq(42, C4:JsonDecode('{\":number:\":42}'))\n"
      "eq('Bar', C4:JsonDecode(C4:JsonEncode('Bar')))\n"
      "eq(false, C4:JsonDecode(C4:JsonEncode(false)))\n"
      "eq('table', type(C4:JsonDecode('{\":number:\":\"no\"}')), 'type must match')\n"
      "eq('table', type(C4:JsonDecode('{\":number:\":1,\"b\":2}')), 'single member only')\n");
}

static void json_decode(void **state) {
  run(state,
      "local v = C4:JsonDecode('{\"Contents\":[\"Asia\",\"Africa\"],\"n\":1.5,\"o\":{\"t\":true}}')\n"
      "same({Contents = {'Asia', 'Africa'}, n = 1.5, o = {t = true}}, v)\n"
      "eq('abc', C4:JsonDecode('\"abc\"'))\n"
      "eq(42, C4:JsonDecode('42'))\n"
      "eq('\\195\\169', C4:JsonDecode('\"\\\\u00e9\"'), 'unicode escape')\n"
      /* null: an empty table by default, c4json.null on request */
      "local n = C4:JsonDecode('{\"a\":null,\"l\":[1,null,3]}')\n"
      "eq('table', type(n.a)); eq(nil, next(n.a))\n"
      "eq('table', type(n.l[2])); eq(3, n.l[3])\n"
      "eq('table', type(C4:JsonDecode('null')))\n"
      "local k = C4:JsonDecode('{\"a\":null,\"l\":[1,null,3]}', true)\n"
      "eq('userdata', type(k.a)); eq(NULL, k.a); eq(NULL, k.l[2])\n"
      "eq('{\"a\":null}', C4:JsonEncode(k.a and {a = k.a}))\n"
      /* invalid JSON: nil, msg (not an error) */
      "fails('', C4:JsonDecode('{\"a\":'))\n"
      "fails('', C4:JsonDecode(''))\n"
      "fails('', C4:JsonDecode('0x10'))\n"
      "fails('', C4:JsonDecode('[1,]'))\n"
      "fails('', C4:JsonDecode('{a:1}'))\n");
}

static void json_refused(void **state) {
  run(state,
      "fails('cannot encode function', C4:JsonEncode(print))\n"
      "fails('cannot encode function', C4:JsonEncode({f = print}))\n"
      "fails('cannot encode thread', C4:JsonEncode({coroutine.create(function() end)}))\n"
      "fails('cannot encode userdata', C4:JsonEncode(newproxy()))\n"
      "fails('cannot encode userdata', C4:JsonEncode({io.stdout}))\n"
      "fails('cannot encode nil', C4:JsonEncode(nil))\n"
      "local t = {a = {}}; t.a.back = t\n"
      "fails('contains itself', C4:JsonEncode(t))\n"
      "fails('NaN or infinity', C4:JsonEncode({x = 0/0}))\n"
      "fails('NaN or infinity', C4:JsonEncode(1/0))\n"
      "fails('NaN or infinity', C4:JsonEncode({[1/0] = 1}))\n"
      "fails('key of type boolean', C4:JsonEncode({[true] = 1}))\n"
      "local deep = {}; local d = deep\n"
      "for i = 1, 1100 do d.x = {}; d = d.x end\n"
      "fails('nested', C4:JsonEncode(deep))\n"
      "eq('string', type(C4:JsonEncode({a = 1})), 'still works after failures')\n");
}

static void base64(void **state) {
  run(state,
      "local v = {[''] = '', f = 'Zg==', fo = 'Zm8=', foo = 'Zm9v', foob = 'Zm9vYg==',\n"
      "           fooba = 'Zm9vYmE=', foobar = 'Zm9vYmFy'}\n"
      "for plain, enc in pairs(v) do\n"
      "  eq(enc, C4:Base64Encode(plain), plain)\n"
      "  eq(plain, C4:Base64Decode(enc), enc)\n"
      "end\n"
      "local all = {}\n"
      "for i = 0, 255 do all[#all + 1] = string.char(i) end\n"
      "all = table.concat(all) .. '\\0\\0'\n"
      "eq(all, C4:Base64Decode(C4:Base64Encode(all)), 'all bytes')\n"
      "eq('\\0a\\0', C4:Base64Decode(C4:Base64Encode('\\0a\\0')))\n"
      "eq('foobar', C4:Base64Decode('Zm9v\\r\\nYmFy\\n'), 'line breaks')\n"
      "eq('f', C4:Base64Decode('Zg'), 'missing padding')\n"
      "eq('fo', C4:Base64Decode('Zm8'), 'missing padding')\n"
      "fails('Base64', C4:Base64Decode('Zg=a'))\n"
      "fails('Base64', C4:Base64Decode('Z=g='))\n"
      "fails('Base64', C4:Base64Decode('@@@@'))\n"
      "fails('Base64', C4:Base64Decode('Zm9vY'))\n"
      "fails('Base64', C4:Base64Decode('Zg==='))\n");
}

static void encode_decode(void **state) {
  run(state,
      "eq('Hello', C4:Encode('Hello', 'NONE'))\n"
      "eq('48656c6c6f00ff', C4:Encode('Hello\\0\\255', 'HEX'))\n"
      "eq('SGVsbG8gd29ybGQ=', C4:Encode('Hello world', 'BASE64'))\n"
      "eq('SGVsbG8gd29ybGQ=', C4:Encode('Hello world', 'base64'), 'any case')\n"
      "eq('Hello\\0\\255', C4:Decode('48656C6C6F00FF', 'hex'))\n"
      "eq('Hello world', C4:Decode('SGVsbG8gd29ybGQ=', 'BASE64'))\n"
      "eq('as is', C4:Decode('as is', 'None'))\n"
      "fails('hex', C4:Decode('zz', 'HEX'))\n"
      "fails('odd', C4:Decode('abc', 'HEX'))\n"
      "fails('Base64', C4:Decode('!!', 'BASE64'))\n"
      "fails('unknown encoding', C4:Encode('x', 'ROT13'))\n"
      "fails('unknown encoding', C4:Decode('x', 'ROT13'))\n");
}

static void hash(void **state) {
  run(state,
      "local want = '3fa83003c1c41282cac40d71b680d85f981f1517e5ac4941bd871955aeecbfec'\n"
      "local data = 'Hello World, this is London calling'\n"
      "eq(want, C4:Hash('SHA256', data), 'default return encoding is HEX')\n"
      "eq(want, C4:Hash('SHA256', data, {return_encoding = 'HEX', data_encoding = 'NONE'}))\n"
      "eq(want, C4:Hash('sha256', data), 'digest name in any case')\n"
      "local raw = C4:Hash('SHA256', data, {return_encoding = 'NONE'})\n"
      "eq(32, #raw); eq(want, C4:Encode(raw, 'HEX'))\n"
      "eq(C4:Encode(raw, 'BASE64'), C4:Hash('SHA256', data, {return_encoding = 'BASE64'}))\n"
      "eq(want, C4:Hash('SHA256', C4:Encode(data, 'HEX'), {data_encoding = 'HEX'}))\n"
      "eq(want, C4:Hash('SHA256', C4:Encode(data, 'BASE64'), {data_encoding = 'base64'}))\n"
      "eq('d41d8cd98f00b204e9800998ecf8427e', C4:Hash('MD5', ''))\n"
      "eq('a9993e364706816aba3e25717850c26c9cd0d89d', C4:Hash('SHA1', 'abc'))\n"
      "eq('ddaf35a193617aba', C4:Hash('SHA512', 'abc'):sub(1, 16))\n"
      "eq(128, #C4:Hash('SHA512', 'abc'))\n"
      "local r, err = C4:Hash('SHA256', 'x')\n"
      "eq(nil, err, 'err is nil on success')\n"
      "fails('unknown digest', C4:Hash('NOPE42', 'x'))\n"
      "fails('return_encoding', C4:Hash('SHA256', 'x', {return_encoding = 'ROT13'}))\n"
      "fails('data_encoding', C4:Hash('SHA256', 'zz', {data_encoding = 'HEX'}))\n");
}

static void hmac(void **state) {
  run(state,
      /* RFC 4231 test case 2 */
      "local want = '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'\n"
      "eq(want, C4:HMAC('SHA256', 'Jefe', 'what do ya want for nothing?'))\n"
      "eq(want, C4:HMAC('SHA256', '4a656665', 'what do ya want for nothing?',\n"
      "                 {key_encoding = 'HEX', return_encoding = 'HEX'}))\n"
      "eq(C4:Encode(C4:Decode(want, 'HEX'), 'BASE64'),\n"
      "   C4:HMAC('SHA256', 'Jefe', 'what do ya want for nothing?', {return_encoding = 'BASE64'}))\n"
      /* the example on the HMAC page */
      "eq('6402b5430d06db90c84e91a3ed605ba12964ff29e7bbd197b54109ac72aa58ce',\n"
      "   C4:HMAC('SHA256', 'Super Secret Key', 'Hello World, this is London calling',\n"
      "           {return_encoding = 'HEX', key_encoding = 'NONE', data_encoding = 'NONE'}))\n"
      "fails('unknown digest', C4:HMAC('NOPE42', 'k', 'd'))\n"
      "fails('key_encoding', C4:HMAC('SHA256', 'k', 'd', {key_encoding = 'HEX'}))\n");
}

static void xml_escape(void **state) {
  run(state,
      "eq('a&amp;b&lt;c&gt;d\"e\\'f', C4:XmlEscapeString('a&b<c>d\"e\\'f'))\n"
      "eq('\\0&amp;\\0', C4:XmlEscapeString('\\0&\\0'))\n"
      "eq('', C4:XmlEscapeString(''))\n");
}

static void uuid(void **state) {
  run(state,
      "local pat = '^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$'\n"
      "local a, b = C4:UUID('RANDOM'), C4:UUID('random')\n"
      "assert(a:match(pat), a); assert(b:match(pat), b)\n"
      "assert(a ~= b, 'two random UUIDs differ')\n"
      "eq('00000000-0000-0000-0000-000000000000', C4:UUID('NIL'))\n"
      "fails('not supported', C4:UUID('NAME', 'x'))\n");
}

static void argument_errors(void **state) {
  /* No `return` before the calls: a tail call would lose the method name. */
  run(state,
      "raises(\"bad argument #1 to 'Hash' (string expected, got nil)\",\n"
      "       function() local r = C4:Hash(nil, 'x') end)\n"
      "raises(\"bad argument #2 to 'Hash' (string expected, got no value)\",\n"
      "       function() local r = C4:Hash('SHA256') end)\n"
      "raises(\"bad argument #3 to 'Hash' (table expected, got number)\",\n"
      "       function() local r = C4:Hash('SHA256', 'x', 5) end)\n"
      "raises(\"bad argument #3 to 'Hash' ('return_encoding' must be a string, got number)\",\n"
      "       function() local r = C4:Hash('SHA256', 'x', {return_encoding = 5}) end)\n"
      "raises(\"bad argument #3 to 'HMAC' (string expected, got no value)\",\n"
      "       function() local r = C4:HMAC('SHA256', 'k') end)\n"
      "raises(\"bad argument #1 to 'Base64Encode' (string expected, got table)\",\n"
      "       function() local r = C4:Base64Encode({}) end)\n"
      "raises(\"bad argument #1 to 'Base64Decode' (string expected, got nil)\",\n"
      "       function() local r = C4:Base64Decode(nil) end)\n"
      "raises(\"bad argument #2 to 'Encode' (string expected, got no value)\",\n"
      "       function() local r = C4:Encode('x') end)\n"
      "raises(\"bad argument #1 to 'Decode' (string expected, got boolean)\",\n"
      "       function() local r = C4:Decode(true, 'HEX') end)\n"
      "raises(\"bad argument #1 to 'JsonDecode' (string expected, got nil)\",\n"
      "       function() local r = C4:JsonDecode(nil) end)\n"
      "raises(\"bad argument #1 to 'JsonEncode' (value expected)\",\n"
      "       function() local r = C4:JsonEncode() end)\n"
      "raises(\"bad argument #1 to 'XmlEscapeString' (string expected, got table)\",\n"
      "       function() local r = C4:XmlEscapeString({}) end)\n"
      "raises(\"bad argument #1 to 'UUID' (string expected, got no value)\",\n"
      "       function() local r = C4:UUID() end)\n");
}

static const struct CMUnitTest tests[] = {
  cmocka_unit_test_setup_teardown(json_objects_by_default, setup, teardown),
  cmocka_unit_test_setup_teardown(json_encode_arrays, setup, teardown),
  cmocka_unit_test_setup_teardown(json_formatted, setup, teardown),
  cmocka_unit_test_setup_teardown(json_symmetric, setup, teardown),
  cmocka_unit_test_setup_teardown(json_primitives, setup, teardown),
  cmocka_unit_test_setup_teardown(json_decode, setup, teardown),
  cmocka_unit_test_setup_teardown(json_refused, setup, teardown),
  cmocka_unit_test_setup_teardown(base64, setup, teardown),
  cmocka_unit_test_setup_teardown(encode_decode, setup, teardown),
  cmocka_unit_test_setup_teardown(hash, setup, teardown),
  cmocka_unit_test_setup_teardown(hmac, setup, teardown),
  cmocka_unit_test_setup_teardown(xml_escape, setup, teardown),
  cmocka_unit_test_setup_teardown(uuid, setup, teardown),
  cmocka_unit_test_setup_teardown(argument_errors, setup, teardown),
};

UNIT_GROUP(helpers, tests)
