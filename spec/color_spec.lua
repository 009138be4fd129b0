-- The Light V2 conversion commands (c4api/color/): C4:ColorXYtoRGB,
-- ColorRGBtoXY, ColorXYtoHSV, ColorHSVtoXY, ColorHSVtoRGB, ColorRGBtoHSV,
-- ColorXYtoCCT, ColorCCTtoXY — known points, round trips, gamut clamping,
-- the gamut argument by OS version, and argument errors.
local S = require "support"

local open = S.loader(after_each)

local function driver(os)
  local d = open("minimal", os and {os = os} or nil)
  d:init()
  return d
end

-- The results of C4:<fn>(...) in the driver, as a list.
local function call(d, fn, ...)
  return d:eval("return {C4:" .. fn .. "(...)}", ...)
end

local function near(expected, actual, tol, what)
  assert(math.abs(expected - actual) <= tol,
    ("%s: expected %s within %s, got %s"):format(what or "value", expected, tol, actual))
end

describe("xy and RGB", function()
  it("map the sRGB primaries and white to their CIE 1931 chromaticities", function()
    local d = driver()
    local points = {
      {{255, 0, 0}, {0.64, 0.33}}, {{0, 255, 0}, {0.30, 0.60}}, {{0, 0, 255}, {0.15, 0.06}},
      {{255, 255, 255}, {0.3127, 0.3290}},
    }
    for _, p in ipairs(points) do
      local xy = call(d, "ColorRGBtoXY", p[1][1], p[1][2], p[1][3])
      near(p[2][1], xy[1], 1e-4, "x of " .. table.concat(p[1], ","))
      near(p[2][2], xy[2], 1e-4, "y of " .. table.concat(p[1], ","))
      assert.same(p[1], call(d, "ColorXYtoRGB", p[2][1], p[2][2]))
    end
  end)

  it("give the colour at full brightness: the largest channel is the scale", function()
    local d = driver()
    local red, dim = call(d, "ColorRGBtoXY", 255, 0, 0), call(d, "ColorRGBtoXY", 100, 0, 0)
    near(red[1], dim[1], 1e-12)
    near(red[2], dim[2], 1e-12)
    local grey = call(d, "ColorRGBtoXY", 60, 60, 60)
    assert.same({255, 255, 255}, call(d, "ColorXYtoRGB", grey[1], grey[2]))
    local orange = call(d, "ColorRGBtoXY", 255, 128, 0)
    local rgb = call(d, "ColorXYtoRGB", orange[1], orange[2])
    assert.same({255, 128, 0}, rgb)
    -- a scale of 1 gives fractions, any other scale whole numbers
    local frac = call(d, "ColorXYtoRGB", orange[1], orange[2], 1)
    near(1, frac[1], 1e-9)
    near(128 / 255, frac[2], 1e-3)
    assert.same({100, 0, 0}, call(d, "ColorXYtoRGB", 0.64, 0.33, 100))
  end)

  it("round-trip: xy → RGB → xy within 1e-6, RGB → xy → RGB within one step", function()
    local d = driver()
    for _, p in ipairs({{0.3127, 0.329}, {0.4, 0.4}, {0.25, 0.3}, {0.5, 0.35}, {0.2, 0.15}}) do
      local rgb = call(d, "ColorXYtoRGB", p[1], p[2], 1)
      local xy = call(d, "ColorRGBtoXY", rgb[1], rgb[2], rgb[3], 1)
      near(p[1], xy[1], 1e-6, "x")
      near(p[2], xy[2], 1e-6, "y")
    end
    for _, c in ipairs({{255, 128, 0}, {12, 200, 255}, {255, 255, 1}, {90, 255, 90}}) do
      local xy = call(d, "ColorRGBtoXY", c[1], c[2], c[3])
      local back = call(d, "ColorXYtoRGB", xy[1], xy[2])
      for k = 1, 3 do near(c[k], back[k], 1, "channel " .. k) end
    end
  end)

  it("clamp a point outside the gamut to the nearest point of its triangle", function()
    local d = driver()
    -- beyond the red corner: red itself
    assert.same({255, 0, 0}, call(d, "ColorXYtoRGB", 0.8, 0.2))
    -- beyond the green-blue edge (left of it): a colour on that edge, red 0
    local rgb = call(d, "ColorXYtoRGB", 0.05, 0.4)
    assert.equal(0, rgb[1])
    local xy = call(d, "ColorRGBtoXY", rgb[1], rgb[2], rgb[3])
    -- the clamped point is nearer than any primary and lies on the edge
    local gx, gy, bx, by = 0.30, 0.60, 0.15, 0.06
    local cross = (gx - bx) * (xy[2] - by) - (gy - by) * (xy[1] - bx)
    near(0, cross, 2e-3, "distance from the green-blue edge")
    -- far outside [0, 1] stays finite
    local far = call(d, "ColorXYtoRGB", 40, -30)
    for k = 1, 3 do assert.is_true(far[k] >= 0 and far[k] <= 255) end
  end)

  it("accept numbers as strings (proxy params arrive as strings)", function()
    local d = driver()
    assert.same(call(d, "ColorXYtoRGB", 0.3, 0.3), call(d, "ColorXYtoRGB", "0.3", "0.3"))
    -- a light driver converting the proxy's SET_COLOR_TARGET
    local l = open("light_color")
    l:init()
    l:from_proxy(5001, "SET_COLOR_TARGET", {LIGHT_COLOR_TARGET_X = "0.64", LIGHT_COLOR_TARGET_Y = "0.33"})
    assert.same({255, 0, 0}, l:eval("return RGB"))
  end)
end)

describe("HSV", function()
  it("is hue 0..360, saturation and value 0..100", function()
    local d = driver()
    local red = call(d, "ColorHSVtoXY", 0, 100, 100)
    near(0.64, red[1], 1e-4)
    near(0.33, red[2], 1e-4)
    assert.same({255, 0, 0}, call(d, "ColorHSVtoRGB", 0, 100, 100))
    assert.same({0, 255, 0}, call(d, "ColorHSVtoRGB", 120, 100, 100))
    assert.same({120, 100, 100}, call(d, "ColorRGBtoHSV", 0, 255, 0))
    local green = call(d, "ColorXYtoHSV", 0.30, 0.60)
    near(120, green[1], 1e-3)
    near(100, green[2], 1e-3)
    assert.equal(100, green[3])
    -- no saturation, or no value: the white point
    local white = call(d, "ColorHSVtoXY", 200, 0, 100)
    near(0.3127, white[1], 1e-4)
    local black = call(d, "ColorHSVtoXY", 200, 100, 0)
    near(0.3290, black[2], 1e-4)
    -- hue wraps; a scale of 1 gives fractions
    assert.same(call(d, "ColorHSVtoRGB", 30, 50, 50), call(d, "ColorHSVtoRGB", 390, 50, 50))
    assert.same({1, 0, 0}, call(d, "ColorHSVtoRGB", 0, 100, 100, 1))
  end)

  it("round-trips HSV → xy → HSV at full value", function()
    local d = driver()
    for _, c in ipairs({{10, 80}, {75, 40}, {200, 100}, {300, 65}}) do
      local xy = call(d, "ColorHSVtoXY", c[1], c[2], 100)
      local hsv = call(d, "ColorXYtoHSV", xy[1], xy[2])
      near(c[1], hsv[1], 0.01, "hue")
      near(c[2], hsv[2], 0.01, "saturation")
      near(100, hsv[3], 1e-9, "value")
    end
  end)
end)

describe("CCT", function()
  it("puts D65 at about 6500 K and illuminant A at about 2850 K", function()
    local d = driver()
    assert.equal(6500, d:eval("return C4:ColorXYtoCCT(0.3127, 0.3290)"))
    near(2850, d:eval("return C4:ColorXYtoCCT(0.44757, 0.40745)"), 10, "A")
    near(5000, d:eval("return C4:ColorXYtoCCT(0.3457, 0.3585)"), 10, "D50")
    local xy = call(d, "ColorCCTtoXY", 6504)
    near(0.3135, xy[1], 5e-4)
    near(0.3237, xy[2], 5e-4)
  end)

  it("round-trips kelvin → xy → kelvin exactly in steps of 10 K", function()
    local d = driver()
    local bad = d:eval([[
      local bad = {}
      for k = 1000, 25000, 10 do
        local got = C4:ColorXYtoCCT(C4:ColorCCTtoXY(k))
        if got ~= k then bad[#bad + 1] = k .. "->" .. got end
      end
      return bad
    ]])
    assert.same({}, bad)
    -- whole kelvin rounded down to a multiple of 10
    assert.equal(2700, d:eval("return C4:ColorXYtoCCT(C4:ColorCCTtoXY(2707))"))
  end)

  it("answers for any xy, and clamps kelvin to 1000..25000", function()
    local d = driver()
    assert.equal(25000, d:eval("return C4:ColorXYtoCCT(0.15, 0.06)"))
    assert.equal(1000, d:eval("return C4:ColorXYtoCCT(0.7, 0.3)"))
    assert.same(call(d, "ColorCCTtoXY", 1000), call(d, "ColorCCTtoXY", 10))
    assert.same(call(d, "ColorCCTtoXY", 25000), call(d, "ColorCCTtoXY", 90000))
    assert.is_number(d:eval("return C4:ColorXYtoCCT(-5, 9)"))
  end)
end)

describe("the gamut argument", function()
  it("takes rec2020 and custom primaries with an optional white point", function()
    local d = driver()
    local g = call(d, "ColorRGBtoXY", 0, 255, 0, "rec2020")
    near(0.170, g[1], 1e-4)
    near(0.797, g[2], 1e-4)
    assert.same(g, call(d, "ColorRGBtoXY", 0, 255, 0, 255, "REC2020"))
    assert.same({0, 255, 0}, call(d, "ColorXYtoRGB", 0.170, 0.797, 255, "rec2020"))
    -- a bulb's gamut (Philips' "gamut C")
    local prims = "0.6915,0.3083,0.17,0.7,0.1532,0.0475"
    local r = call(d, "ColorRGBtoXY", 255, 0, 0, "custom", prims)
    near(0.6915, r[1], 1e-9)
    near(0.3083, r[2], 1e-9)
    local w = call(d, "ColorRGBtoXY", 255, 255, 255, 255, "custom", prims, "0.3457, 0.3585")
    near(0.3457, w[1], 1e-9)
    near(0.3585, w[2], 1e-9)
    local hsv = call(d, "ColorXYtoHSV", 0.17, 0.7, "custom", prims)
    near(120, hsv[1], 1e-6)
    local xy = call(d, "ColorHSVtoXY", 240, 100, 100, "custom", prims)
    near(0.1532, xy[1], 1e-9)
    near(0.0475, xy[2], 1e-9)
    -- the page's example primaries leave D65 outside their triangle: no gamut
    assert.matches("bad argument #6 to 'ColorRGBtoXY' %(the custom primaries make no gamut",
      S.raised(d.eval, d, "C4:ColorRGBtoXY(0, 100, 100, 255, 'custom', '0.7,0.25,0.25,0.75,0.1,0.5')"))
  end)

  it("follows the OS version: none before 3.3.0, no gamut before 3.3.1, custom from 3.4.0", function()
    local old = driver("3.2.3")
    assert.is_nil(old:eval("return C4.ColorXYtoRGB"))
    assert.is_nil(old:eval("return C4.ColorXYtoCCT"))
    local v330 = driver("3.3.0")
    assert.same(call(v330, "ColorRGBtoXY", 0, 255, 0), call(v330, "ColorRGBtoXY", 0, 255, 0, "rec2020"))
    assert.is_truthy(v330:logged("gamut argument arrived with OS 3.3.1"))
    local v331 = driver("3.3.1")
    assert.matches("bad argument #4 to 'ColorRGBtoXY' %(unknown gamut 'custom'.*needs OS 3.4.0",
      S.raised(v331.eval, v331, "C4:ColorRGBtoXY(1, 2, 3, 'custom', '0.7,0.25,0.25,0.75,0.1,0.5')"))
    local g = call(v331, "ColorRGBtoXY", 0, 255, 0, "rec2020")
    near(0.170, g[1], 1e-4)
  end)
end)

describe("bad arguments", function()
  it("raise in Lua's words, naming the argument", function()
    local d = driver()
    local cases = {
      {"C4:ColorXYtoRGB(0.3)", "bad argument #2 to 'ColorXYtoRGB' %(number expected, got no value%)"},
      {"C4:ColorXYtoRGB('red', 0.3)", "bad argument #1 to 'ColorXYtoRGB' %(number expected, got string%)"},
      {"C4:ColorCCTtoXY(0/0)", "bad argument #1 to 'ColorCCTtoXY' %(finite number expected%)"},
      {"C4:ColorXYtoCCT(0.3, 1/0)", "bad argument #2 to 'ColorXYtoCCT' %(finite number expected%)"},
      {"C4:ColorRGBtoXY(1, 2, 3, 0)", "bad argument #4 to 'ColorRGBtoXY' %(rgbScale must be a positive number%)"},
      {"C4:ColorXYtoRGB(0.3, 0.3, 255, 'p3')", "bad argument #4 to 'ColorXYtoRGB' %(unknown gamut 'p3'"},
      {"C4:ColorXYtoRGB(0.3, 0.3, 'custom')", "bad argument #4 to 'ColorXYtoRGB' %(the custom gamut's primaries"},
      {"C4:ColorXYtoRGB(0.3, 0.3, 'custom', '1,2,3')", "bad argument #4 to 'ColorXYtoRGB' %(the custom gamut's primaries"},
      {"C4:ColorXYtoRGB(0.3, 0.3, 'custom', '0.1,0.1,0.2,0.2,0.3,0.3')", "the custom primaries make no gamut"},
      {"C4:ColorXYtoRGB(0.3, 0.3, 'custom', '0.7,0.25,0.25,0.75,0.1,0.5', 'D65')",
       "bad argument #5 to 'ColorXYtoRGB' %(the custom gamut's white point"},
      {"C4:ColorHSVtoXY(0, 100)", "bad argument #3 to 'ColorHSVtoXY' %(number expected, got no value%)"},
      {"C4:ColorXYtoHSV(0.3, 0.3, {})", "bad argument #3 to 'ColorXYtoHSV' %(string expected, got table%)"},
    }
    for _, c in ipairs(cases) do assert.matches(c[2], S.raised(d.eval, d, c[1])) end
    -- the driver carries on
    assert.same({255, 0, 0}, call(d, "ColorXYtoRGB", 0.64, 0.33))
  end)
end)
