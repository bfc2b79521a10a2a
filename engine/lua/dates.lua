-- dates.lua: dates as days since 1970-01-01 (what date columns hold), to and from text.
-- Pure functions, no state; the rule API's date helpers (date, date_text, quarter, month,
-- year) are these.
local floor, fmt = math.floor, string.format

local M = {}

function M.days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

function M.civil_from_days(z)
  z = z + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local d = doy - floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m, d
end

-- "YYYY-MM-DD" -> days, or nil when s is not a valid date
function M.parse(s)
  if type(s) ~= "string" then return nil end
  local y, m, d = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then return nil end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m < 1 or m > 12 or d < 1 then return nil end
  local days = M.days_from_civil(y, m, d)
  local y2, m2, d2 = M.civil_from_days(days)
  if y2 ~= y or m2 ~= m or d2 ~= d then return nil end
  return days
end

-- The texts of dates are remembered by day: string.format is not compiled by LuaJIT, and a
-- nightly run formats the same few thousand days for every entity.
local function memo(format_of)
  local cache = {}
  return function(days)
    if days == nil then return nil end
    local s = cache[days]
    if s == nil then
      s = format_of(M.civil_from_days(days))
      cache[days] = s
    end
    return s
  end
end

M.text = memo(function(y, m, d) return fmt("%04d-%02d-%02d", y, m, d) end)
M.quarter = memo(function(y, m) return fmt("%04d-Q%d", y, floor((m - 1) / 3) + 1) end)
M.month = memo(function(y, m) return fmt("%04d-%02d", y, m) end)

function M.year(d)
  if d == nil then return nil end
  return (M.civil_from_days(d))
end

return M
