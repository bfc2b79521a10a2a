-- aggregates.lua: history aggregates (count, any, sum, min, max, latest, earliest over a
-- history's rows, with a filter), the filter predicates (above, below, at_least, at_most,
-- present, empty), and the metric aggregates over entities (count, sum, avg in metrics{}).
-- Declaration only: each filter is checked against its column's type here (a value the column
-- can never hold is a mistake, with "did you mean" for a category's declared values); scan.lua
-- turns them into the C scan, metrics.lua accumulates the metric ones.
local E = require("defector.errors")
local H = require("defector.handles")
local dates = require("defector.dates")
local suggest = require("defector.suggest")
local intervals = require("defector.intervals")
local sequence = require("defector.sequence")
local fmt, concat = string.format, table.concat

local M = {}

local function check(job, cond, msg, level, fix) return E.check(job, cond, msg, (level or 2) + 1, fix) end

local COMPARE = { above = ">", below = "<", at_least = ">=", at_most = "<=" }
M.COMPARE = COMPARE

local function pred(job, kind, a)
  return H.seal(job, { kind = kind, a = a }, H.PRED, "a filter such as " .. kind .. " is read-only", kind)
end

local function column_names(t)
  local l = {}
  for _, c in ipairs(t.columns) do l[#l + 1] = c.name end
  return concat(l, ", ")
end

-- A literal of a filter on column c, as the scan compares it (dates as days), or raises.
local DECIMAL_MAX = 9223372036854.775 -- what an int64 of micro-units holds
local DATE_MIN, DATE_MAX = -719162, 2932896 -- 0001-01-01 .. 9999-12-31, in days

local function literal(job, what, c, x, level, compare)
  local ty = c.type
  check(job, ty ~= "datetime", fmt("%s: '%s' is a datetime column, which time_to_next reads; filter on the history's date column instead",
    what, c.name), level + 1)
  if ty == "category" or ty == "text" then
    check(job, type(x) == "string", fmt("%s: '%s' is a %s column: compare it with text, e.g. %s = \"%s\" (got %s)",
      what, c.name, ty, c.name, tostring(x), type(x)), level + 1)
    if c.set and not c.set[x] and not compare then
      local s = suggest.closest(x, c.values)
      E.raise(job, fmt("%s: \"%s\" is not one of the values of %s (%s)", what, x, c.name, concat(c.values, ", ")),
        level + 1, s and fmt("did you mean \"%s\"?", s) or "use one of the values listed in category { ... }")
    end
    return x
  elseif ty == "date" then
    if type(x) == "string" then
      local d = dates.parse(x)
      check(job, d, fmt("%s: '%s' is a date column: give a date \"YYYY-MM-DD\" (got \"%s\")", what, c.name, x), level + 1)
      return d
    end
    check(job, type(x) == "number", fmt("%s: '%s' is a date column: give a date \"YYYY-MM-DD\" or date(...) (got %s)", what, c.name, tostring(x)), level + 1)
    check(job, x >= DATE_MIN and x <= DATE_MAX, fmt("%s: %s days is not a date between the years 1 and 9999", what, tostring(x)), level + 1)
    return x
  end
  check(job, type(x) == "number", fmt("%s: '%s' is a%s %s column: compare it with a number, e.g. %s = 0 (got %s %s)",
    what, c.name, ty == "int" and "n" or "", ty, c.name, type(x), tostring(x)), level + 1)
  return x
end

-- A value a row must equal: one the column can hold, or the filter would match nothing.
local function exact_literal(job, what, c, x, level)
  x = literal(job, what, c, x, level + 1)
  if c.type == "int" or c.type == "date" then
    check(job, x == math.floor(x), fmt("%s: '%s' holds whole numbers: %s never equals one (use above(...) or below(...) to compare)",
      what, c.name, tostring(x)), level + 1)
    check(job, c.type == "date" or (x > -2 ^ 63 and x < 2 ^ 63), fmt("%s: %s is beyond what an int column holds (9.2e18)", what, tostring(x)), level + 1)
  elseif c.type == "decimal" then
    check(job, x >= -DECIMAL_MAX and x <= DECIMAL_MAX, fmt("%s: %s is beyond what a decimal column holds (9.2e12)", what, tostring(x)), level + 1)
    check(job, tonumber(fmt("%.6f", x)) == x, fmt("%s: '%s' keeps 6 decimals: %s never equals one of its values (use above(...) or below(...) to compare)",
      what, c.name, tostring(x)), level + 1)
  end
  return x
end

-- The filter entry on column k, checked, as the scan's spec: {kind = "in", values} |
-- {kind = "cmp", op, value} | {kind = "present"} | {kind = "empty"} | {kind = "fn", fn}
local function filter_entry(job, what, t, k, v, level)
  local c = type(k) == "string" and t.column_of[k]
  if not c then
    local s = type(k) == "string" and suggest.closest(k, (function() local l = {} for _, x in ipairs(t.columns) do l[#l + 1] = x.name end return l end)())
    E.raise(job, fmt("%s: filter on '%s', which is not a column of %s (its columns: %s)", what, tostring(k), t.name, column_names(t)),
      level + 1, s and fmt("did you mean '%s'?", s) or "declare the column in the history's columns")
  end
  if type(v) == "function" then return { kind = "fn", fn = v, col = k } end
  local p = H.unseal(job, v, H.PRED)
  if p then
    if p.kind == "present" or p.kind == "empty" then return { kind = p.kind, col = k } end
    return { kind = "cmp", op = COMPARE[p.kind], value = literal(job, what .. ", " .. p.kind .. "(...)", c, p.a, level + 1, true), col = k }
  end
  if type(v) == "table" then
    check(job, getmetatable(v) == nil and #v > 0, fmt("%s: the filter on '%s' must be a value, a list of values, a predicate such as above(3), or a function", what, k), level + 1)
    local l = {}
    for i, x in ipairs(v) do l[i] = exact_literal(job, what, c, x, level + 1) end
    return { kind = "in", values = l, col = k }
  end
  return { kind = "in", values = { exact_literal(job, what, c, v, level + 1) }, col = k }
end

-- count/any/sum/min/max/latest/earliest(h, [column,] filter [, tie])
local VALUE_TYPES = {
  sum = { int = true, decimal = true },
  min = { int = true, decimal = true, date = true, category = true, text = true },
}
VALUE_TYPES.max = VALUE_TYPES.min
VALUE_TYPES.active_months = { date = true }

local function make(job, kind, h, column, filter, tie, level)
  local t = H.unseal(job, h, H.TABLE)
  check(job, t and t.kind == "history", kind .. ": the first argument must be a history table, e.g. events", level + 1)
  local what = kind .. "(" .. t.name .. ")"
  local column2 -- sum(h, product("a", "b"), ...): transactions.lua
  column, column2 = require("defector.transactions").product_columns(job, kind, t, column, level + 1)
  filter = filter or {}
  check(job, type(filter) == "table" and getmetatable(filter) == nil,
    kind .. ": the filter must be a table like { event_type = \"complaint\", last_days = 90 }", level + 1)
  check(job, kind == "count" or kind == "any" or type(column) == "string",
    fmt("%s(history, \"column\", {filter}): name the column whose values to %s", kind, kind:gsub("_", " ")), level + 1)
  if column ~= nil then
    check(job, t.column_of[column], fmt("%s: '%s' is not a column of %s (its columns: %s)", what, tostring(column), t.name, column_names(t)), level + 1)
    local ok = VALUE_TYPES[kind]
    check(job, not ok or ok[t.columns[column]], fmt("%s: cannot %s '%s', a %s column", what, kind, column, t.columns[column]), level + 1,
      kind == "sum" and "sum an int or decimal column; to count rows use count(...)" or nil)
  end
  check(job, (kind ~= "latest" and kind ~= "earliest") or t.date,
    fmt("%s: %s needs the history's date column: add date = \"...\" to its declaration", what, kind), level + 1)
  local entries, window, interval, rel = {}, nil, nil, nil
  for k, v in pairs(filter) do
    if k == "days_from" then -- a window from the customer's own date (transactions.lua)
      rel = require("defector.transactions").days_from(job, what, t, v, level + 1)
    elseif k == "last_days" then
      check(job, type(v) == "number" and v >= 0, "last_days must be a number of days", level + 1)
      check(job, t.date, "last_days needs the history's date column: add date = \"...\" to its declaration", level + 1)
      window = v
    elseif intervals.KEYS[k] then
      interval = interval or {}
      interval[k] = intervals.check(job, what, t, k, v, level + 1)
    else
      entries[#entries + 1] = filter_entry(job, what, t, k, v, level + 1)
    end
  end
  table.sort(entries, function(a, b) return a.col < b.col end)
  local agg = { kind = kind, t = t, column = column, column2 = column2, filters = entries, window = window, rel = rel, tie = tie,
                interval = interval, line = E.line(job, level + 1) }
  return H.seal(job, agg, H.AGG, "an aggregate such as " .. kind .. "(...) is read-only", what)
end

M.make = make -- transactions.lua: count_distinct, most_frequent, active_months

local function magg(job, kind, field, places, where)
  return H.seal(job, { kind = kind, field = field, places = places, where = where }, H.MAGG,
    "a metric such as " .. kind .. "(...) is read-only", kind .. "(...)")
end

local function quantile_agg(job, kind, field, p, places, where)
  check(job, type(field) == "string", kind .. "(\"field\", ...): name the field whose values to take", 3)
  check(job, places == nil or (type(places) == "number" and places >= 0 and places <= 6 and places % 1 == 0),
    kind .. ": places must be a whole number from 0 to 6", 3)
  check(job, where == nil or type(where) == "function", kind .. ": where must be a function(c)", 3)
  return H.seal(job, { kind = "quantile", name = kind, field = field, p = p, places = places or 2, where = where }, H.MAGG,
    "a metric such as " .. kind .. "(...) is read-only", kind .. "(...)")
end

local function is_table(job, x) return H.unseal(job, x, H.TABLE) ~= nil end

local function check_tie(job, kind, tie)
  check(job, tie == nil or tie == "lowest" or tie == "highest",
    kind .. ": ties must be \"lowest\" or \"highest\" (or left out: the first in the file)", 3)
end

function M.api(job)
  local api = {
    count = function(a, b)
      if is_table(job, a) then return make(job, "count", a, nil, b, nil, 2) end
      check(job, a == nil or type(a) == "function",
        "count() counts entities; count(function(c) ... end) those for which it is true; count(events, {...}) counts history rows", 2)
      return magg(job, "count", nil, nil, a)
    end,
    any = function(h, filter) return make(job, "any", h, nil, filter, nil, 2) end,
    sum = function(a, b, c)
      if is_table(job, a) then return make(job, "sum", a, b, c, nil, 2) end
      check(job, type(a) == "string", "sum(\"field\" [, places [, where]]) or sum(events, \"column\", {...})", 2)
      check(job, b == nil or (type(b) == "number" and b >= 0 and b <= 6 and b % 1 == 0), "sum: places must be a whole number from 0 to 6", 2)
      check(job, c == nil or type(c) == "function", "sum: where must be a function(c)", 2)
      return magg(job, "sum", a, b, c)
    end,
    avg = function(field, places, where)
      check(job, type(field) == "string", "avg(\"field\", places [, where])", 2)
      check(job, places == nil or (type(places) == "number" and places >= 0 and places <= 6 and places % 1 == 0), "avg: places must be a whole number from 0 to 6", 2)
      check(job, where == nil or type(where) == "function", "avg: where must be a function(c)", 2)
      return magg(job, "avg", field, places or 2, where)
    end,
    -- median("field", places [, where]), percentile("field", p, places [, where]): quantile.lua
    median = function(field, places, where) return quantile_agg(job, "median", field, 50, places, where) end,
    percentile = function(field, p, places, where)
      check(job, type(p) == "number" and p >= 0 and p <= 100, "percentile(\"field\", p, places [, where]): p must be a number from 0 to 100, e.g. 90", 2)
      check(job, p == 0 or p >= 1, "percentile(\"field\", " .. tostring(p) .. ", ...): p is a percent from 0 to 100: write 90 for the 90th percentile (" .. tostring(p) .. " would be the " .. tostring(p) .. "th, next to the minimum)", 2)
      return quantile_agg(job, "percentile", field, p, places, where)
    end,
    -- time_to_next(h, { from = {...}, to = {...}, ... }): sequence.lua
    time_to_next = function(h, spec) return sequence.make(job, h, spec, filter_entry, 2) end,
    min = function(h, column, filter) return make(job, "min", h, column, filter, nil, 2) end,
    max = function(h, column, filter) return make(job, "max", h, column, filter, nil, 2) end,
    latest = function(h, column, filter, tie) check_tie(job, "latest", tie) return make(job, "latest", h, column, filter, tie, 2) end,
    earliest = function(h, column, filter, tie) check_tie(job, "earliest", tie) return make(job, "earliest", h, column, filter, tie, 2) end,
    present = pred(job, "present"), empty = pred(job, "empty"),
  }
  for name in pairs(COMPARE) do api[name] = function(x) return pred(job, name, x) end end
  for _, k in ipairs({ "min", "max", "latest", "earliest", "sum" }) do
    local f = api[k]
    if k ~= "sum" then
      api[k] = function(h, column, ...)
        check(job, type(column) == "string", k .. "(history, \"column\", {filter}): name the column whose value you want", 2)
        return f(h, column, ...)
      end
    end
  end
  return api
end

return M
