-- bind.lua: the loaded columns as Lua sees them: zero-copy FFI views over the C arrays
-- (luabridge.c hands over their pointers as light userdata) and readers that turn a row into a
-- Lua value: nil for an empty int, decimal or date; decimals in units; dates in days;
-- categories and texts as strings ("" when empty).
local ffi = require("ffi")

local M = {}

M.NA_I64 = tonumber(ffi.cast("int64_t", -9223372036854775807LL - 1))
M.NA_DATE = -2147483648
M.SCALE = 1e6

local CT = { int = "int64_t*", decimal = "int64_t*", date = "int32_t*", category = "uint32_t*" }

-- A view of one column: {type, ptr (or offs and arena for text), dict and code_of (category), raw}
function M.column(c)
  local v = { type = c.type, dict = c.dict, raw = c }
  if c.type == "text" then
    v.offs = ffi.cast("uint64_t*", c.offs)
    v.arena = ffi.cast("const char*", c.arena)
  else
    v.ptr = ffi.cast(CT[c.type], c.ptr)
  end
  if c.type == "category" then
    v.code_of = {}
    for code = 0, #c.dict do v.code_of[c.dict[code]] = code end
    v.ncodes = #c.dict + 1
  end
  return v
end

function M.text_at(v, i)
  local a = v.offs[i]
  return ffi.string(v.arena + a, v.offs[i + 1] - a)
end

-- The Lua value of row i of a view.
function M.reader(v)
  local p, NA_I64, NA_DATE, SCALE = v.ptr, M.NA_I64, M.NA_DATE, M.SCALE
  if v.type == "int" then
    return function(i) local x = tonumber(p[i]); if x == NA_I64 then return nil end return x end
  elseif v.type == "decimal" then
    return function(i) local x = tonumber(p[i]); if x == NA_I64 then return nil end return x / SCALE end
  elseif v.type == "date" then
    return function(i) local x = p[i]; if x == NA_DATE then return nil end return x end
  elseif v.type == "category" then
    local dict = v.dict
    return function(i) return dict[p[i]] end
  end
  return function(i) return M.text_at(v, i) end
end

-- job.views[table name][column name] for every declared column of every table.
function M.tables(job, data)
  job.data = data
  job.views = {}
  for _, t in ipairs(job.tables) do
    local td = data.tables[t.name]
    local views = { n = td.n, offsets = td.offsets and ffi.cast("uint64_t*", td.offsets) }
    for _, c in ipairs(t.columns) do
      if td.cols[c.name] then views[c.name] = M.column(td.cols[c.name]) end
    end
    job.views[t.name] = views
  end
end

return M
