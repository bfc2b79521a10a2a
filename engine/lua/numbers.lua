-- numbers.lua: exact decimal arithmetic for rule files and outputs: round half away from zero,
-- ratio, integer division on int64, and the plain text of a number. Pure functions.
local ffi = require("ffi")
local floor, abs, huge, fmt = math.floor, math.abs, math.huge, string.format

local M = {}

M.I64 = ffi.typeof("int64_t")
M.POW10 = {}
for i = 0, 22 do M.POW10[i] = 10 ^ i end
local POW10, I64 = M.POW10, M.I64

-- round half away from zero of x to `places` decimals. x is first taken to the decimal it
-- stands for at 15 significant digits (as a spreadsheet does), so that 0.015 computed as
-- 0.01499999... still rounds to 0.02; the rounding itself is done on integers.
function M.round(x, places)
  if x == nil then return nil end
  places = places or 0
  if type(x) ~= "number" then error(fmt("round(x, places): x must be a number, it is %s %q", type(x), tostring(x)), 2) end
  if type(places) ~= "number" or places ~= floor(places) or places < -15 or places > 15 then
    error(fmt("round(x, places): places must be a whole number from -15 to 15, it is %s", tostring(places)), 2)
  end
  if x ~= x or x == huge or x == -huge then return x end
  local ax = abs(x)
  if ax == 0 then return 0 end
  -- the common case: x * 10^places below 1e9 and not within 1e-5 of a half. Taking x to 15
  -- significant digits first moves it by less than that, so the answer is the same integer
  -- divided the same way as below.
  local p = POW10[places]
  if p then
    local y = ax * p
    if y < 1e9 then
      local q = floor(y + 0.5)
      local h = y - (q - 0.5) -- how far above the half below q
      if h > 1e-5 and h < 1 - 1e-5 then
        local v = q / p
        return x < 0 and -v or v
      end
    end
  end
  -- the general case: x's 15 significant digits as a whole number n and their exponent, then
  -- n rounded half away from zero at `places` decimals, on integers below 2^53. n is x scaled
  -- in doubles unless that product lies within 0.1 of a half (its error is below 0.07: it
  -- could round either way), or log10 missed the exponent; then printf's digits, which are exact.
  local n, g
  local e = floor(math.log10(ax))
  if e >= -8 and e <= 36 then -- 10^g exact
    g = 14 - e
    local y = g >= 0 and ax * POW10[g] or ax / POW10[-g]
    local f = y - floor(y)
    if f < 0.4 or f > 0.6 then
      n = floor(y + 0.5)
      if n < 1e14 or n >= 1e15 then n = nil end
    end
  end
  if not n then
    local lead, rest, ex = fmt("%.14e", ax):match("^(%d)%.(%d+)e([-+]%d+)$")
    n, g = tonumber(lead .. rest), 14 - tonumber(ex)
  end
  local s = places - g -- the result * 10^places is n * 10^s
  if s >= 0 then -- no digit beyond `places`: x at 15 significant digits, n * 10^-g
    local v
    if g >= 0 and g <= 22 then v = n / POW10[g]
    elseif g < 0 and g >= -22 then v = n * POW10[-g]
    else v = tonumber(fmt("%.14e", ax)) end
    return x < 0 and -v or v
  end
  local q = 0
  if s >= -16 then
    local d = POW10[-s]
    q = floor(n / d)
    local r = n - q * d
    if r < 0 then q, r = q - 1, r + d end
    if 2 * r >= d then q = q + 1 end
  end
  local v = places >= 0 and q / POW10[places] or q * POW10[-places]
  return x < 0 and -v or v
end

-- x * 10^places as a whole number, rounded like round(): the fast answer when the product is
-- already whole (a decimal column, a count), round()'s otherwise
function M.scaled(x, places)
  local y = x * POW10[places]
  if y == floor(y) and y < 1e15 and y > -1e15 then return y end
  -- within a millionth of a whole number below 1e9 (2 places of a money amount that is
  -- 0.1 off in binary): round() would take it to that number too, at more cost
  local ay = abs(y)
  if ay < 1e9 then
    local r = floor(ay + 0.5)
    if abs(ay - r) < 1e-6 then return y < 0 and -r or r end
  end
  return M.round(y, 0)
end

-- a / b rounded half away from zero, on 64-bit integers
function M.rha64(a, b)
  if b < 0 then a, b = -a, -b end
  if a >= 0 then return (2 * a + b) / (2 * b) end
  return -((-2 * a + b) / (2 * b))
end

-- ratio(a, b, places): a / b rounded half away from zero to `places` decimals, exact for
-- integers a and b; nil when b is 0 or either is nil.
function M.ratio(a, b, places)
  if a == nil or b == nil or b == 0 then return nil end
  places = places or 4
  if a == floor(a) and b == floor(b) then
    local q = M.rha64(I64(a) * I64(POW10[places]), I64(b))
    return tonumber(q) / POW10[places]
  end
  return M.round(a / b, places)
end

-- The text of a number as outputs show it: whole numbers without a point, others with at most
-- 15 significant digits.
local WHOLE = {} -- the texts of whole numbers already shown: string.format is not compiled by LuaJIT
function M.text(v)
  if v == floor(v) and abs(v) < 1e15 then
    local s = WHOLE[v]
    if not s then
      s = fmt("%d", v)
      if abs(v) < 1e6 then WHOLE[v] = s end
    end
    return s
  end
  if v ~= v or v == huge or v == -huge then return tostring(v) end
  -- at most 15 significant digits, never an exponent (as the C writer shows numbers)
  local s = fmt("%.15g", v)
  local mant, exp = s:match("^(%-?[%d%.]+)e([%+%-]%d+)$")
  if not mant then return s end
  exp = tonumber(exp)
  if exp > 0 then
    local neg, digits = mant:sub(1, 1) == "-", mant:gsub("[%-%.]", "")
    return (neg and "-" or "") .. digits .. ("0"):rep(exp + 1 - #digits)
  end
  s = fmt("%." .. math.min(30, 14 - exp) .. "f", v):gsub("0+$", ""):gsub("%.$", "")
  return s
end

return M
