-- transactions.lua: the rule API for transaction exports (docs/rules.md, "Transaction exports"):
-- count_distinct, most_frequent and active_months over a history's rows (declared through
-- aggregates.lua, computed in C by engine/collect.c), product("a", "b") for the sum of a
-- per-row amount, entity { from = history } (the customers are the history's keys), and
-- retention_triangle { }, a metrics table of cohorts (the month of the first purchase) by months
-- since the first purchase. Declarations only: what is computed per customer is in C, the
-- triangle is an ordinary metrics table.
local E = require("defector.errors")
local H = require("defector.handles")
local dates = require("defector.dates")
local numbers = require("defector.numbers")
local fmt = string.format

local M = {}

M.EXPR = {} -- the kind of a product("a", "b") handle

local function check(job, cond, msg, level, fix) return E.check(job, cond, msg, (level or 2) + 1, fix) end

local NUMBER = { int = true, decimal = true }

-- sum(h, product("a", "b"), filter): the two columns, checked; any other column as it is.
function M.product_columns(job, kind, t, column, level)
  local p = type(column) == "table" and H.unseal(job, column, M.EXPR)
  if not p then return column, nil end
  check(job, kind == "sum", fmt("%s(%s): product(...) is a per-row amount to add up: sum(%s, product(\"%s\", \"%s\"), {...})",
    kind, t.name, t.name, p.a, p.b), level + 1)
  for _, c in ipairs({ p.a, p.b }) do
    check(job, t.column_of[c], fmt("sum(%s): product names '%s', which is not a column of %s", t.name, c, t.name), level + 1)
    check(job, NUMBER[t.columns[c]], fmt("sum(%s): product of '%s', a %s column: both must be int or decimal", t.name, c, t.columns[c]), level + 1)
  end
  return p.a, p.b
end

-- days_from = { "first_purchase", 1, 90 }: the rows dated 1 to 90 days after the customer's
-- own date first_purchase (an entity date column, or a date aggregate of the same history:
-- checked once everything is declared, M.check).
function M.days_from(job, what, t, v, level)
  local ok = type(v) == "table" and type(v[1]) == "string" and type(v[2]) == "number" and type(v[3]) == "number"
  check(job, ok, fmt("%s: days_from = { \"field\", from, to }: the rows dated from..to days after the customer's date field, e.g. days_from = { \"first_purchase\", 1, 90 }", what), level + 1)
  check(job, v[2] % 1 == 0 and v[3] % 1 == 0 and v[2] <= v[3] and math.abs(v[2]) <= 1e6 and math.abs(v[3]) <= 1e6,
    fmt("%s: days_from = { \"%s\", %s, %s }: from and to are whole numbers of days, from <= to", what, v[1], tostring(v[2]), tostring(v[3])), level + 1)
  check(job, t.date, fmt("%s: days_from needs the history's date column: add date = \"...\" to its declaration", what), level + 1)
  return { field = v[1], lo = v[2], hi = v[3], line = E.line(job, level + 1), what = what }
end

-- The anchor of a days_from window: "entity" (an entity date column) or the aggregate feature.
local function anchor_of(job, t, field)
  if job.entity and job.entity.columns[field] == "date" then return "entity" end
  for _, f in ipairs(job.features) do
    local d = f.def
    if f.name == field and H.is(d, H.AGG) and d.t == t and not d.rel and d.column and d.t.columns[d.column] == "date"
      and (d.kind == "earliest" or d.kind == "latest" or d.kind == "min" or d.kind == "max") then return f end
  end
  return nil
end
M.anchor_of = anchor_of

-- entity { from = lines }: the customers are the keys of history `lines` (its file, key and
-- dialect); the table's spec as declare.lua reads it.
function M.entity_spec(job, spec, level)
  local h = H.unseal(job, spec.from, H.TABLE)
  check(job, h and h.kind == "history", "entity { from = ... } names a history declared above it, e.g. from = lines", level + 1)
  for k in pairs(spec) do
    check(job, k == "from" or k == "name", fmt("entity { from = %s }: '%s' is taken from the history; only name may be given", h.name, tostring(k)), level + 1,
      "its values per customer are aggregates: earliest, latest or most_frequent(" .. h.name .. ", \"column\")")
  end
  local out = { file = h.file, key = h.key, name = spec.name or "customers", columns = { [h.key] = "text" } }
  for k, v in pairs(h.dialect) do out[k] = v end
  h.empty_keys = true -- rows without a key are set aside and counted, not bad input
  return out, h
end

local function collect_api(job, kind)
  return function(h, column, filter)
    check(job, type(column) == "string" or type(column) == "table", fmt("%s(history, \"column\", {filter}): name the column", kind), 2)
    return require("defector.aggregates").make(job, kind, h, column, filter, nil, 2)
  end
end

-- The month of days d as an index (year * 12 + month - 1), and back as "YYYY-MM".
local function month_index(d) local y, m = dates.civil_from_days(d) return y * 12 + m - 1 end
local function month_of_text(s)
  local y, m = s:match("^(%d%d%d%d)%-(%d%d)$")
  return y and tonumber(y) * 12 + tonumber(m) - 1
end

-- bit k of n (a number below 2^53)
local function has_bit(n, k) return n ~= nil and math.floor(n / 2 ^ k) % 2 == 1 end
M.has_bit = has_bit

-- retention_triangle { file, first, active, cohort, periods [, where] }
local KNOWN = { file = true, first = true, active = true, cohort = true, periods = true, where = true }

local function api_triangle(job, spec)
  check(job, type(spec) == "table", "retention_triangle { file = ..., first = ..., active = ..., cohort = ..., periods = N } expects a table", 2)
  for k in pairs(spec) do
    check(job, KNOWN[k], fmt("retention_triangle: unknown option '%s'; the options are file, first, active, cohort, periods, where", tostring(k)), 2)
  end
  for _, k in ipairs({ "first", "active", "cohort" }) do
    check(job, type(spec[k]) == "string", fmt("retention_triangle: '%s' must name a field, e.g. %s", k,
      ({ first = "first = \"first_purchase\" (an earliest(...) feature)", active = "active = \"months_active\" (an active_months(...) feature)",
         cohort = "cohort = \"cohort\" (the column of the cohorts: the month of 'first')" })[k]), 2)
  end
  local P = spec.periods
  check(job, type(P) == "number" and P % 1 == 0 and P >= 1 and P <= 52, "retention_triangle: periods must be a whole number of months from 1 to 52", 2)
  local first, active = spec.first, spec.active
  job.triangles = job.triangles or {}
  job.triangles[#job.triangles + 1] = { first = first, active = active, file = spec.file, line = E.line(job, 2) }
  require("defector.declare").api(job).value(spec.cohort, function(c)
    local d = c[first]
    return d and dates.month(d)
  end)
  local as_of = month_index(job.as_of)
  local cohort = spec.cohort
  local cols = { cohort, { "customers", require("defector.aggregates").api(job).count() } }
  local count = require("defector.aggregates").api(job).count
  for k = 0, P do
    cols[#cols + 1] = { "m" .. k, count(function(c) return has_bit(c[active], k) end) }
  end
  -- a rate is empty where the cohort has not reached month k by the as-of date
  for k = 1, P do
    local name = "m" .. k
    cols[#cols + 1] = { "rate_m" .. k, function(row)
      local m0 = row[cohort] and month_of_text(row[cohort])
      if not m0 or m0 + k > as_of or row.customers == 0 then return nil end
      return numbers.ratio(row[name], row.customers, 4)
    end }
  end
  -- customers without a first purchase have no cohort: they are left out
  local where = spec.where
  check(job, where == nil or type(where) == "function", "retention_triangle: 'where' must be a function(c)", 2)
  local function counted(c) return c[first] ~= nil and (where == nil or where(c)) end
  require("defector.outputs").api(job).metrics({ file = spec.file, where = counted, group_by = { cohort }, columns = cols })
end

-- After the declarations: each triangle's first and active are the earliest date and the
-- active months of the same rows (one history, one filter), so that month 0 is the cohort's.
function M.check(job)
  for _, f in ipairs(job.features) do
    local a = H.is(f.def, H.AGG) and f.def
    if a and a.rel and not anchor_of(job, a.t, a.rel.field) then
      E.record(job, E.at(job, a.rel.line), fmt("%s: days_from counts from '%s', which is not a date of the customer: an entity date column, or a feature earliest, latest, min or max of a date column of %s (itself without days_from)",
        a.rel.what, a.rel.field, a.t.name), fmt("declare it, e.g. feature(\"%s\", earliest(%s, \"%s\", {...}))", a.rel.field, a.t.name, a.t.date))
    end
  end
  local feats = {}
  for _, f in ipairs(job.features) do feats[f.name] = f.def end
  for _, T in ipairs(job.triangles or {}) do
    local a, b = feats[T.first], feats[T.active]
    local where = E.at(job, T.line)
    if not (H.is(a, H.AGG) and a.kind == "earliest" and a.column == a.t.date) then
      E.record(job, where, fmt("retention_triangle %s: first = \"%s\" must be a feature earliest(history, \"<its date column>\", {filter})", tostring(T.file), T.first),
        "declare it, e.g. feature(\"first_purchase\", earliest(lines, \"InvoiceDate\", { Quantity = above(0) }))")
    elseif not (H.is(b, H.AGG) and b.kind == "active_months") then
      E.record(job, where, fmt("retention_triangle %s: active = \"%s\" must be a feature active_months(history, {filter})", tostring(T.file), T.active),
        "declare it with the filter of first, e.g. feature(\"months_active\", active_months(lines, { Quantity = above(0) }))")
    elseif not M.same_rows(a, b) then
      E.record(job, where, fmt("retention_triangle %s: %s and %s count different rows (another history, filter or window): month 0 would not be the cohort's month",
        tostring(T.file), T.first, T.active), "give both the same history and the same filter (a local filter table used twice)")
    end
  end
end

-- Whether two aggregates select the same rows: one table, one window, equal filter entries.
function M.same_rows(a, b)
  if a.t ~= b.t or a.window ~= b.window or #a.filters ~= #b.filters then return false end
  for i, x in ipairs(a.filters) do
    local y = b.filters[i]
    if x.col ~= y.col or x.kind ~= y.kind or x.op ~= y.op or x.value ~= y.value or x.fn ~= y.fn then return false end
    if x.kind == "in" then
      if #x.values ~= #y.values then return false end
      for j, v in ipairs(x.values) do if y.values[j] ~= v then return false end end
    end
  end
  return true
end

function M.api(job)
  return {
    count_distinct = collect_api(job, "count_distinct"),
    most_frequent = collect_api(job, "most_frequent"),
    active_months = function(h, filter)
      local t = H.unseal(job, h, H.TABLE)
      check(job, t and t.kind == "history" and t.date, "active_months(history, {filter}): the history must have a date column (date = \"...\")", 2)
      return require("defector.aggregates").make(job, "active_months", h, t.date, filter, nil, 2)
    end,
    product = function(a, b)
      check(job, type(a) == "string" and type(b) == "string", "product(\"column\", \"column\"): two int or decimal columns of the history, e.g. product(\"Quantity\", \"UnitPrice\")", 2)
      return H.seal(job, { a = a, b = b }, M.EXPR, "product(...) is read-only", fmt("product(%s, %s)", a, b))
    end,
    retention_triangle = function(spec) return api_triangle(job, spec) end,
  }
end

return M
