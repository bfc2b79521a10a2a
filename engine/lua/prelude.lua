-- prelude.lua: the engine's Lua side. Embedded in the binary and run once per Lua state.
--
-- It gives rule files their API (entity, history, feature, rule, score, bands, stages, value,
-- output, metrics and the helpers), runs the rule file in a sandbox that holds only that API
-- and the safe parts of the standard library, and then drives the per-customer loop inside
-- LuaJIT over zero-copy FFI views of the C columns: history aggregates are compiled into one
-- generated scan per history table, so a customer's events are read once whatever the
-- number of features. Outputs are filled in the same pass (rows kept for lists, accumulators
-- for metric tables) and written through the C writers, which own quoting and atomicity.
--
-- Contract with luabridge.c: this chunk returns M with
--   M.declare(source, chunkname, as_of, as_of_text) -> plan   (tables and columns to load)
--   M.run(data, api)                                  -> stats
-- Errors raised for the user are tables {where=..., message=...}; anything else is a bug.

local ffi = require("ffi")
local bit = require("bit")
local floor, abs, huge = math.floor, math.abs, math.huge
local fmt, concat, sort = string.format, table.concat, table.sort
local type, pairs, ipairs, tostring, tonumber, select = type, pairs, ipairs, tostring, tonumber, select
local setmetatable, rawget, rawset, error, pcall = setmetatable, rawget, rawset, error, pcall

ffi.cdef(require("defector.cdef"))

local M = {}
local NA_I64 = tonumber(ffi.cast("int64_t", -9223372036854775807LL - 1))
local NA_DATE = -2147483648
local SCALE = 1e6

--------------------------------------------------------------------------------------------
-- Errors for the user: where (rule file:line) + message.

local RULES_FILE = "rules"

-- The line (and file) of the user's file being run: the nearest frame, from `level` up, whose
-- chunk is a file ("@path"; the engine's own chunks are named "=...").
local function rule_line(level)
  for l = (level or 2) + 1, 40 do
    local info = debug.getinfo(l, "Sl")
    if not info then break end
    if info.source:sub(1, 1) == "@" and info.source:sub(1, 12) ~= "@engine/lua/" and info.currentline > 0 then return info.currentline, info.source:sub(2) end
  end
  return nil
end

-- Lua shortens a long chunk name in error messages to "...<end of the path>" (LUA_IDSIZE):
-- the user's files are remembered so that such a location is given back with its full path.
local KNOWN_FILES = {}
local function full_where(where)
  if type(where) ~= "string" or where:sub(1, 3) ~= "..." then return where end
  local tail, line = where:match("^%.%.%.(.-):(%d+)$")
  if not tail then return where end
  local best
  for f in pairs(KNOWN_FILES) do
    if f:sub(-#tail) == tail and (not best or f < best) then best = f end
  end
  return best and (best .. ":" .. line) or where
end

local function user_error(message, level)
  -- level: stack level of the rule file's call (2 = the caller of the API function)
  local line, file = rule_line((level or 2))
  error({ where = line and (file .. ":" .. line) or RULES_FILE, message = message }, 0)
end

-- defector check collects findings instead of stopping at the first error.
local FINDINGS = nil

local function raise_or_record(obj)
  if FINDINGS then FINDINGS[#FINDINGS + 1] = obj return end
  error(obj, 0)
end

local function check(cond, message, level)
  if not cond then user_error(message, (level or 2) + 1) end
end

--------------------------------------------------------------------------------------------
-- Dates: days since 1970-01-01.

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
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

local function parse_date(s)
  if type(s) ~= "string" then return nil end
  local y, m, d = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then return nil end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m < 1 or m > 12 or d < 1 then return nil end
  local days = days_from_civil(y, m, d)
  local y2, m2, d2 = civil_from_days(days)
  if y2 ~= y or m2 ~= m or d2 ~= d then return nil end
  return days
end

local function date_text(days)
  if days == nil then return nil end
  local y, m, d = civil_from_days(days)
  return fmt("%04d-%02d-%02d", y, m, d)
end

--------------------------------------------------------------------------------------------
-- Exact decimal helpers.

local POW10 = {}
for i = 0, 22 do POW10[i] = 10 ^ i end

-- round half away from zero of x to `places` decimals. x is first taken to the decimal it
-- stands for at 15 significant digits (as a spreadsheet does), so that 0.015 computed as
-- 0.01499999... still rounds to 0.02; the rounding itself is done on integers.
local function round(x, places)
  if x == nil then return nil end
  places = places or 0
  if x ~= x or x == huge or x == -huge then return x end
  local ax = abs(x)
  if ax == 0 then return 0 end
  local e = floor(math.log10(ax))
  local g = 14 - e -- decimals kept by a 15-significant-digit grid
  if g > 22 then g = 22 end
  if g <= places then
    if places - g > 0 then return x end
    local p = POW10[places]
    local r = floor(ax * p + 0.5) / p
    return x < 0 and -r or r
  end
  local n
  if g >= 0 then n = floor(ax * POW10[g] + 0.5) else n = floor(ax / POW10[-g] + 0.5) end
  local d = POW10[g - places]
  local q = floor(n / d)
  local r = n - q * d
  if 2 * r >= d then q = q + 1 end
  local v = q / POW10[places]
  return x < 0 and -v or v
end

local I64 = ffi.typeof("int64_t")

-- a / b rounded half away from zero, on 64-bit integers
local function rha64(a, b)
  if b < 0 then a, b = -a, -b end
  if a >= 0 then return (2 * a + b) / (2 * b) end
  return -((-2 * a + b) / (2 * b))
end

-- ratio(a, b, places): a / b rounded half away from zero to `places` decimals, exact for
-- integers a and b; nil when b is 0 or either is nil.
local function ratio(a, b, places)
  if a == nil or b == nil or b == 0 then return nil end
  places = places or 4
  if a == floor(a) and b == floor(b) then
    local q = rha64(I64(a) * I64(POW10[places]), I64(b))
    return tonumber(q) / POW10[places]
  end
  return round(a / b, places)
end

-- A reason template "renewal due in {days_to_renewal} days" split once into its parts:
-- odd entries are literal text, even entries field names.
local function compile_reason(text)
  local parts, pos = {}, 1
  for a, name, b in text:gmatch("(){([%w_]+)}()") do
    parts[#parts + 1] = text:sub(pos, a - 1)
    parts[#parts + 1] = name
    pos = b
  end
  parts[#parts + 1] = text:sub(pos)
  return parts
end

local function number_text(v)
  if v == floor(v) and abs(v) < 1e15 then return fmt("%d", v) end
  local s = fmt("%.15g", v)
  return s
end

--------------------------------------------------------------------------------------------
-- Declarations: what the rule file says. Collected into `decl` while the file runs.

local decl
local PENDING -- M.run's finish step while workers score the other parts

local function new_decl()
  return {
    tables = {}, by_name = {}, entity = nil,
    features = {}, feature_names = {},
    rules = {}, rule_codes = {},
    score = nil, bands = nil, stages = nil,
    values = {}, fields = {},
    outputs = {}, out_files = {},
  }
end

-- What the API hands to rule files (table declarations, filters, aggregates) is an opaque,
-- read-only handle: the engine keeps the object itself in SEALED, out of the rule file's reach.
-- getmetatable(handle) still answers its kind (TABLE, PRED, AGG, MAGG) for the engine's checks.
local TABLE = {}
local SEALED = setmetatable({}, { __mode = "k" })
local function seal(obj, kind, readonly_msg, name)
  local h = setmetatable({}, {
    __index = function(_, k) user_error(fmt("%s is read-only: rule files cannot read or change its field '%s'", name, tostring(k)), 2) end,
    __newindex = function() user_error(readonly_msg, 2) end,
    __metatable = kind, __tostring = function() return name end,
  })
  SEALED[h] = obj
  return h
end
-- the object behind handle h when h is one of kind's handles, else nil
local function unseal(h, kind)
  local obj = type(h) == "table" and SEALED[h]
  return obj and getmetatable(obj) == kind and obj or nil
end

local VALID_TYPES = { int = true, decimal = true, date = true, category = true, text = true }

local function declare_field(name, kind, level)
  check(type(name) == "string" and name:match("^[%a_][%w_]*$"),
    "a name must be a word of letters, digits and _ (got " .. tostring(name) .. ")", level + 1)
  check(not decl.fields[name], "'" .. name .. "' is declared twice (as a " .. (decl.fields[name] or "") ..
    " and as a " .. kind .. "); use another name", level + 1)
  decl.fields[name] = kind
end

local function declare_table(kind, spec, level)
  check(type(spec) == "table", kind .. " { file = ..., key = ..., columns = { ... } } expects a table", level + 1)
  check(type(spec.file) == "string", kind .. ": 'file' must name the input file, e.g. file = \"customers.csv.gz\"", level + 1)
  check(spec.file:match("^[%w_%-%.%*%?]+$") and not spec.file:match("^%."),
    kind .. ": 'file' must be a file name in the --data folder, without a folder or '..' (got \"" .. spec.file ..
    "\"), e.g. file = \"customers.csv.gz\" or \"events-*.csv.gz\"", level + 1)
  check(spec.name == nil or (type(spec.name) == "string" and spec.name:match("^[%a_][%w_]*$")),
    kind .. ": 'name' must be a word of letters, digits and _", level + 1)
  check(type(spec.key) == "string", kind .. ": 'key' must name the key column, e.g. key = \"customer_id\"", level + 1)
  check(type(spec.columns) == "table", kind .. ": 'columns' must list the columns to read with their types", level + 1)
  -- "customers.csv.gz" -> customers; an export in parts "events-*.csv.gz" -> events
  local name = spec.name or (spec.file:match("^([^%.]+)") or ""):gsub("[-_]?[%*%?].*$", "")
  check(name:match("^[%a_][%w_]*$"), fmt("%s: no table name can be made from the file name \"%s\"; add name = \"...\"", kind, spec.file), level + 1)
  check(not decl.by_name[name], "a table named '" .. name .. "' is declared twice", level + 1)
  local t = { kind = kind, name = name, file = spec.file, key = spec.key, date = spec.date, columns = {},
              line = rule_line(level) }
  local names = {}
  for cname in pairs(spec.columns) do names[#names + 1] = cname end
  sort(names)
  for _, cname in ipairs(names) do
    local ctype = spec.columns[cname]
    check(type(cname) == "string", kind .. ": column names must be strings", level + 1)
    check(VALID_TYPES[ctype], fmt("%s: column '%s' has type %s; use one of int, decimal, date, category, text",
      kind, cname, tostring(ctype)), level + 1)
    t.columns[#t.columns + 1] = { name = cname, type = ctype }
    t.columns[cname] = ctype
  end
  -- required = { "signup_date", ... }: a row with one of these empty is bad input (rejected
  -- with file, line and column), not a customer the rules would have to guard against
  check(spec.required == nil or type(spec.required) == "table", kind .. ": 'required' must list column names, e.g. required = { \"signup_date\" }", level + 1)
  local required = {}
  for _, cname in ipairs(spec.required or {}) do
    if type(cname) == "string" and t.columns[cname] then required[cname] = true
    else -- the table is still declared: check goes on without a cascade of findings
      raise_or_record({ where = RULES_FILE .. ":" .. (t.line or 0), message = fmt("%s: required column '%s' is not one of its columns", kind, tostring(cname)),
                        fix = "declare it in columns, or remove it from required" })
    end
  end
  for _, c in ipairs(t.columns) do c.required = required[c.name] or nil end
  if kind == "entity" then
    check(decl.entity == nil, "only one entity table can be declared", level + 1)
    if not t.columns[spec.key] then
      t.columns[#t.columns + 1] = { name = spec.key, type = "text" }
      t.columns[spec.key] = "text"
    end
    check(t.columns[spec.key] == "text", "entity: the key column must be text", level + 1)
    decl.entity = t
    for _, c in ipairs(t.columns) do declare_field(c.name, "column", level + 1) end
  else
    check(spec.date == nil or t.columns[spec.date] == "date",
      "history: 'date' must name one of its columns of type date", level + 1)
  end
  decl.tables[#decl.tables + 1] = t
  decl.by_name[name] = t
  return seal(setmetatable(t, TABLE), TABLE, "table declarations are read-only", kind .. " " .. name)
end

-- Filters on history rows: { column = literal | {literals} | predicate | function, last_days = N }
local PRED = {}
local function pred(kind, a, b)
  return seal(setmetatable({ kind = kind, a = a, b = b }, PRED), PRED, "a filter such as " .. kind .. " is read-only", kind)
end

-- History aggregates used as features.
local AGG = {}

local function history_spec(h, level)
  -- h is the handle returned by history{}
  local t = unseal(h, TABLE)
  check(t and t.kind == "history", "the first argument must be a history table, e.g. events", level + 1)
  return t
end

local function make_agg(kind, h, column, filter, tie, level)
  local t = history_spec(h, level + 1)
  filter = filter or {}
  check(type(filter) == "table" and getmetatable(filter) == nil, kind .. ": the filter must be a table like { event_type = \"complaint\", last_days = 90 }", level + 1)
  -- a copy: the rule file keeps its table and may change it later, the aggregate must not change
  local copy = {}
  for k, v in pairs(filter) do
    local p = unseal(v, PRED)
    if p then v = p
    elseif type(v) == "table" then
      check(getmetatable(v) == nil, fmt("%s: the filter on '%s' must be a value, a list of values, a predicate such as above(3), or a function", kind, tostring(k)), level + 1)
      local l = {}
      for i, x in ipairs(v) do l[i] = x end
      v = l
    end
    copy[k] = v
  end
  filter = copy
  if column ~= nil then
    check(t.columns[column], fmt("%s: '%s' is not a column of %s (its columns: %s)", kind, tostring(column), t.name,
      concat((function() local l = {} for _, c in ipairs(t.columns) do l[#l + 1] = c.name end return l end)(), ", ")), level + 1)
  end
  for k, v in pairs(filter) do
    if k == "last_days" then
      check(type(v) == "number" and v >= 0, "last_days must be a number of days", level + 1)
      check(t.date, "last_days needs the history's date column: add date = \"...\" to its declaration", level + 1)
    else
      check(type(k) == "string" and t.columns[k], fmt("%s: filter on '%s', which is not a column of %s", kind, tostring(k), t.name), level + 1)
      check(t.columns[k] ~= "text" or type(v) == "function",
        fmt("%s: column '%s' is free text; filter on a category column (declare it as category) or with a function", kind, k), level + 1)
    end
  end
  return seal(setmetatable({ kind = kind, t = t, column = column, filter = filter, tie = tie }, AGG), AGG,
    "an aggregate such as " .. kind .. "(...) is read-only", kind .. "(" .. t.name .. ")")
end

--------------------------------------------------------------------------------------------
-- The API rule files see.

local function api_entity(spec) return declare_table("entity", spec, 2) end
local function api_history(spec) return declare_table("history", spec, 2) end

local function api_feature(name, def)
  declare_field(name, "feature", 2)
  if type(def) == "table" then def = unseal(def, AGG) or def end
  check(type(def) == "function" or getmetatable(def) == AGG,
    "feature '" .. tostring(name) .. "': give a function(c) ... end or a history aggregate such as count(events, {...})", 2)
  decl.features[#decl.features + 1] = { name = name, def = def, line = rule_line(1) }
end

local function api_rule(spec)
  check(type(spec) == "table", "rule { \"code\", points = N, when = function(c) ... end, reason = \"...\" }", 2)
  local code = spec[1] or spec.code
  check(type(code) == "string" and code:match("^[%w_%-%.]+$"), "a rule needs a code: a word like \"renewal_due\" as its first item", 2)
  check(not decl.rule_codes[code], "rule code '" .. code .. "' is used twice; codes must be unique", 2)
  check(type(spec.points) == "number", "rule " .. code .. ": points must be a number", 2)
  check(type(spec.when) == "function", "rule " .. code .. ": 'when' must be a function(c) returning true when the rule fires", 2)
  check(spec.reason == nil or type(spec.reason) == "string" or type(spec.reason) == "function",
    "rule " .. code .. ": reason must be text (may hold {feature} placeholders) or a function(c)", 2)
  local r = { code = code, points = spec.points, when = spec.when, reason = spec.reason or code,
              index = #decl.rules + 1, line = rule_line(1) }
  if type(r.reason) == "string" then r.parts = compile_reason(r.reason) end
  decl.rules[#decl.rules + 1] = r
  decl.rule_codes[code] = r
end

local function api_score(fn)
  check(type(fn) == "function", "score(function(c) return math.min(100, c.points) end) expects a function", 2)
  check(decl.score == nil, "score is declared twice", 2)
  decl.score = fn
end

local function api_bands(list)
  check(type(list) == "table" and #list > 0, "bands { {\"high\", 60}, {\"medium\", 30}, {\"low\", 0} } expects a list", 2)
  check(decl.bands == nil, "bands are declared twice", 2)
  local prev = huge
  for i, b in ipairs(list) do
    check(type(b) == "table" and type(b[1]) == "string" and type(b[2]) == "number",
      "band " .. i .. ": write it as {\"name\", minimum score}", 2)
    check(b[2] < prev, "bands must be listed from the highest minimum score to the lowest", 2)
    prev = b[2]
  end
  decl.bands = list
  decl.bands_line = rule_line(1)
end

local function api_stages(list)
  check(type(list) == "table" and #list > 0, "stages { {\"name\", function(c) ... end}, ..., {\"default\"} } expects a list", 2)
  check(decl.stages == nil, "stages are declared twice", 2)
  for i, s in ipairs(list) do
    check(type(s) == "table" and type(s[1]) == "string", "stage " .. i .. ": write it as {\"name\", function(c) ... end}", 2)
    check(s[2] == nil or type(s[2]) == "function", "stage " .. s[1] .. ": the condition must be a function(c)", 2)
  end
  decl.stages = list
  decl.stages_line = rule_line(1)
end

local function api_value(name, fn)
  declare_field(name, "value", 2)
  check(type(fn) == "function", "value '" .. name .. "' expects a function(c)", 2)
  decl.values[#decl.values + 1] = { name = name, fn = fn }
end

local function check_file_name(file, what)
  check(type(file) == "string" and file:match("^[%w_%-%.]+$") and not file:match("^%."),
    what .. ": 'file' must be a plain file name like \"risk_list.csv\"", 3)
  check(not decl.out_files[file], "two outputs write '" .. file .. "'", 3)
  decl.out_files[file] = true
end

local function parse_order(order, what)
  local keys = {}
  for i, o in ipairs(order or {}) do
    check(type(o) == "string", what .. ": order entries are field names, optionally followed by ' desc'", 3)
    local f, dir = o:match("^%s*([%w_]+)%s*(%a*)%s*$")
    check(f and (dir == "" or dir == "asc" or dir == "desc"), what .. ": cannot read order entry '" .. o .. "'", 3)
    keys[i] = { field = f, desc = dir == "desc" }
  end
  return keys
end

local function api_output(spec)
  check(type(spec) == "table", "output { file = ..., where = ..., order = {...}, columns = {...} } expects a table", 2)
  check_file_name(spec.file, "output")
  check(spec.where == nil or type(spec.where) == "function", "output " .. spec.file .. ": 'where' must be a function(c)", 2)
  check(type(spec.columns) == "table" and #spec.columns > 0, "output " .. spec.file .. ": 'columns' must list the fields to write", 2)
  local cols = {}
  for i, c in ipairs(spec.columns) do
    if type(c) == "string" then cols[i] = { name = c, field = c }
    else
      check(type(c) == "table" and type(c[1]) == "string" and (type(c[2]) == "string" or type(c[2]) == "function"),
        "output " .. spec.file .. ": column " .. i .. " must be a field name or {\"header\", field name or function(c)}", 2)
      cols[i] = { name = c[1], field = c[2] }
    end
  end
  decl.outputs[#decl.outputs + 1] = { kind = "list", file = spec.file, where = spec.where, columns = cols,
    order = parse_order(spec.order, "output " .. spec.file), line = rule_line(1) }
end

-- Metric aggregates (over customers), distinct from history aggregates by their arguments.
local MAGG = {}
local function magg(kind, field, places, where)
  return seal(setmetatable({ kind = kind, field = field, places = places, where = where }, MAGG), MAGG,
    "a metric such as " .. kind .. "(...) is read-only", kind .. "(...)")
end

local function api_metrics(spec)
  check(type(spec) == "table", "metrics { file = ..., group_by = {...}, columns = {...} } expects a table", 2)
  check_file_name(spec.file, "metrics")
  check(spec.where == nil or type(spec.where) == "function", "metrics " .. spec.file .. ": 'where' must be a function(c)", 2)
  local group_by = spec.group_by or {}
  check(type(group_by) == "table", "metrics " .. spec.file .. ": group_by must list field names", 2)
  local cols, gset = {}, {}
  for _, g in ipairs(group_by) do gset[g] = true end
  for i, c in ipairs(spec.columns or {}) do
    if type(c) == "string" then
      check(gset[c], "metrics " .. spec.file .. ": column '" .. c .. "' is not in group_by; give it an aggregate like {\"" .. c .. "\", sum(\"" .. c .. "\")}", 2)
      cols[i] = { name = c, group = c }
    else
      check(type(c) == "table" and type(c[1]) == "string" and (getmetatable(c[2]) == MAGG or type(c[2]) == "function"),
        "metrics " .. spec.file .. ": column " .. i .. " must be a group_by field or {\"name\", count() | sum(...) | avg(...) | function(row)}", 2)
      cols[i] = { name = c[1], agg = unseal(c[2], MAGG), fn = type(c[2]) == "function" and c[2] or nil }
    end
  end
  check(#cols > 0, "metrics " .. spec.file .. ": 'columns' must list what to write", 2)
  decl.outputs[#decl.outputs + 1] = { kind = "metrics", file = spec.file, where = spec.where, group_by = group_by,
    columns = cols, order = parse_order(spec.order or group_by, "metrics " .. spec.file), line = rule_line(1) }
end

local function api_count(a, b)
  if unseal(a, TABLE) then return make_agg("count", a, nil, b, nil, 2) end
  check(a == nil or type(a) == "function", "count() counts customers; count(function(c) ... end) those for which it is true; count(events, {...}) counts history rows", 2)
  return magg("count", nil, nil, a)
end
local function api_any(h, filter) return make_agg("any", h, nil, filter, nil, 2) end
local function api_sum(a, b, c, d)
  if unseal(a, TABLE) then return make_agg("sum", a, b, c, nil, 2) end
  check(type(a) == "string", "sum(\"field\" [, places [, where]]) or sum(events, \"column\", {...})", 2)
  return magg("sum", a, b, c)
end
local function api_avg(field, places, where)
  check(type(field) == "string", "avg(\"field\", places [, where])", 2)
  return magg("avg", field, places or 2, where)
end
local function api_min(h, column, filter) return make_agg("min", h, column, filter, nil, 2) end
local function api_max(h, column, filter) return make_agg("max", h, column, filter, nil, 2) end
local function api_latest(h, column, filter, tie)
  check(tie == nil or tie == "lowest" or tie == "highest", "latest: ties must be \"lowest\" or \"highest\" (or left out: the first in the file)", 2)
  return make_agg("latest", h, column, filter, tie, 2)
end
local function api_earliest(h, column, filter, tie)
  check(tie == nil or tie == "lowest" or tie == "highest", "earliest: ties must be \"lowest\" or \"highest\"", 2)
  return make_agg("earliest", h, column, filter, tie, 2)
end

local function api_between(x, lo, hi)
  if x == nil then return false end
  return x >= lo and x <= hi
end

local function api_date(s)
  local d = parse_date(s)
  check(d, "date(\"YYYY-MM-DD\") expects a valid date, got " .. tostring(s), 2)
  return d
end

local function api_quarter(d)
  if d == nil then return nil end
  local y, m = civil_from_days(d)
  return fmt("%04d-Q%d", y, floor((m - 1) / 3) + 1)
end

local function api_month(d)
  if d == nil then return nil end
  local y, m = civil_from_days(d)
  return fmt("%04d-%02d", y, m)
end

local function api_year(d)
  if d == nil then return nil end
  return (civil_from_days(d))
end

-- A read-only view of a library table holding only the names listed.
local function pick(lib, names, libname)
  local t = setmetatable({}, {
    __index = function(_, k) user_error("'" .. libname .. "." .. tostring(k) .. "' is not available to rule files", 2) end,
  })
  for name in names:gmatch("%S+") do rawset(t, name, lib[name]) end
  -- the view's misses fall through to t (a plain table, fast), and t's misses to the error
  return setmetatable({}, {
    __index = t,
    __newindex = function(_, k) user_error("'" .. libname .. "' is read-only: cannot set " .. libname .. "." .. tostring(k), 2) end,
    __metatable = false,
  })
end

-- String methods ("x"):upper() go through the string metatable, which is shared with the engine:
-- point it at the safe subset (no string.dump) and lock it.
local SAFE_STRING = pick(string, "byte char find format gmatch gsub len lower match rep reverse sub upper", "string")
do
  local smt = debug.getmetatable("")
  smt.__index = SAFE_STRING
  smt.__metatable = false
end


-- Small CSV files beside the rule file (lookup tables, overrides): read whole, RFC 4180.
local function parse_csv(text, name)
  if text:sub(1, 3) == "\239\187\191" then text = text:sub(4) end
  local rows, row, field, i, n, line = {}, {}, {}, 1, #text, 1
  local function end_field() row[#row + 1] = concat(field); field = {} end
  local function end_row() end_field(); rows[#rows + 1] = row; row = {} end
  while i <= n do
    local ch = text:sub(i, i)
    if ch == '"' and #field == 0 then
      local j = i + 1
      while true do
        local q = text:find('"', j, true)
        if not q then error({ where = name .. ":" .. line, message = "unterminated quoted field" }, 0) end
        local part = text:sub(j, q - 1)
        local _, nl = part:gsub("\n", "")
        line = line + nl
        field[#field + 1] = part
        if text:sub(q + 1, q + 1) == '"' then field[#field + 1] = '"'; j = q + 2 else i = q + 1; break end
      end
    elseif ch == "," then end_field(); i = i + 1
    elseif ch == "\r" and text:sub(i + 1, i + 1) == "\n" then end_row(); i = i + 2; line = line + 1
    elseif ch == "\n" then end_row(); i = i + 1; line = line + 1
    else
      local j = text:find('[,\r\n]', i) or n + 1
      field[#field + 1] = text:sub(i, j - 1)
      i = j
    end
  end
  if #field > 0 or #row > 0 then end_row() end
  local out = {}
  for _, r in ipairs(rows) do if not (#r == 1 and r[1] == "") then out[#out + 1] = r end end
  return out
end

local function read_beside_rules(file, what, level)
  check(type(file) == "string" and file:match("^[%w_%-%.]+$") and not file:match("^%."),
    what .. ": 'file' must be a plain file name beside the rule file, e.g. \"thresholds.csv\"", level + 1)
  local dir = RULES_FILE:match("^(.*)/[^/]*$") or "."
  local path = dir .. "/" .. file
  local f = io.open(path, "rb")
  check(f, what .. ": cannot read " .. path .. " (it must be in the same folder as the rule file)", level + 1)
  local text = f:read("*a")
  f:close()
  return parse_csv(text, path), path
end

local function typed(v)
  if v == "" then return nil end
  local x = tonumber(v)
  if x and v:match("^[%+%-]?%d*%.?%d+$") then return x end
  return v
end

local function read_only(t, what)
  return setmetatable({}, { __index = t, __newindex = function() user_error(what .. " is read-only", 2) end,
    __metatable = false, __len = function() return #t end })
end

-- lookup { file = "thresholds.csv", key = "segment" } -> rows by key (numbers where the text is one);
-- without key, the list of rows.
local function api_lookup(spec)
  check(type(spec) == "table", "lookup { file = \"thresholds.csv\", key = \"segment\" } expects a table", 2)
  local rows, path = read_beside_rules(spec.file, "lookup", 2)
  check(#rows >= 1, "lookup: " .. path .. " is empty: it needs a header line", 2)
  local header = rows[1]
  local out = {}
  local keycol
  if spec.key then
    for i, h in ipairs(header) do if h == spec.key then keycol = i end end
    check(keycol, "lookup: " .. path .. " has no column '" .. tostring(spec.key) .. "' (its columns: " .. concat(header, ", ") .. ")", 2)
  end
  for r = 2, #rows do
    local t = {}
    for i, h in ipairs(header) do t[h] = typed(rows[r][i] or "") end
    t = read_only(t, "a lookup row")
    if keycol then
      local k = rows[r][keycol]
      check(out[k] == nil, fmt("lookup: %s: key '%s' appears twice (line %d)", path, k, r), 2)
      out[k] = t
    else
      out[#out + 1] = t
    end
  end
  return read_only(out, "a lookup table")
end

-- overrides { file = "overrides.csv", key = "customer_id" }: columns key, band and/or points,
-- reason, expires_on. Applied after the rules; an expired row is ignored and reported.
local function api_overrides(spec)
  check(type(spec) == "table", "overrides { file = \"overrides.csv\", key = \"customer_id\" } expects a table", 2)
  check(decl.overrides == nil, "overrides are declared twice", 2)
  local key = spec.key or (decl.entity and decl.entity.key) or "customer_id"
  local rows, path = read_beside_rules(spec.file, "overrides", 2)
  check(#rows >= 1, "overrides: " .. path .. " is empty: it needs a header line", 2)
  local col = {}
  for i, h in ipairs(rows[1]) do col[h] = i end
  check(col[key], "overrides: " .. path .. " has no column '" .. key .. "'", 2)
  check(col.band or col.points, "overrides: " .. path .. " needs a column band or points", 2)
  check(col.reason, "overrides: " .. path .. " needs a column reason (it is shown with the customer)", 2)
  local map, expired, applied_rows = {}, {}, 0
  for r = 2, #rows do
    local row = rows[r]
    local function get_(name) return col[name] and row[col[name]] or "" end
    local id, band, points, reason, expires = get_(key), get_("band"), get_("points"), get_("reason"), get_("expires_on")
    local where = path .. ":" .. r
    check(id ~= "", "overrides: " .. where .. ": empty " .. key, 2)
    check(band ~= "" or points ~= "", "overrides: " .. where .. ": give a band or points", 2)
    check(points == "" or tonumber(points), "overrides: " .. where .. ": points '" .. points .. "' is not a number", 2)
    local exp = expires ~= "" and parse_date(expires) or nil
    check(expires == "" or exp, "overrides: " .. where .. ": expires_on '" .. expires .. "' is not a date YYYY-MM-DD", 2)
    check(map[id] == nil, "overrides: " .. where .. ": " .. id .. " has two overrides", 2)
    if exp and exp < decl.as_of then
      expired[#expired + 1] = { id = id, expires = expires, line = r }
    else
      map[id] = { band = band ~= "" and band or nil, points = tonumber(points), reason = reason, expires = expires, line = r }
      applied_rows = applied_rows + 1
    end
  end
  decl.overrides = { map = map, expired = expired, path = path, rows = applied_rows, line = rule_line(1) }
end

-- Tables that per-customer functions reach through locals declared outside them (filled when
-- the rule file is declared, see check_per_customer): table.insert/remove/sort refuse them, the
-- way a direct assignment into them is refused, so that nothing is kept between customers.
local OUTER = setmetatable({}, { __mode = "k" })
local function guarded(fn, fname)
  return function(t, ...)
    local name = OUTER[t]
    if name then
      user_error(fmt("table.%s changes '%s', which is declared outside the function: rules see one customer at a time, and customers are scored in parallel parts, so a value kept from one customer to the next would depend on --threads; compute it from the customer (c) alone, or count with a metrics table",
        fname, name), 2)
    end
    return fn(t, ...)
  end
end
local RULE_TABLE = pick({ concat = table.concat, insert = guarded(table.insert, "insert"),
                          remove = guarded(table.remove, "remove"), sort = guarded(table.sort, "sort") },
                        "concat insert remove sort", "table")

local function build_env(as_of, as_of_text)
  local env = {
    -- declarations
    entity = api_entity, history = api_history, feature = api_feature, rule = api_rule,
    score = api_score, bands = api_bands, stages = api_stages, value = api_value,
    output = api_output, metrics = api_metrics, lookup = api_lookup, overrides = api_overrides,
    -- aggregates
    count = api_count, any = api_any, sum = api_sum, avg = api_avg, min = api_min, max = api_max,
    latest = api_latest, earliest = api_earliest,
    -- filter predicates
    above = function(x) return pred("above", x) end, below = function(x) return pred("below", x) end,
    at_least = function(x) return pred("at_least", x) end, at_most = function(x) return pred("at_most", x) end,
    present = pred("present"), empty = pred("empty"),
    -- helpers
    between = api_between, round = round, ratio = ratio, date = api_date, date_text = date_text,
    quarter = api_quarter, month = api_month, year = api_year,
    AS_OF = as_of, AS_OF_TEXT = as_of_text,
    -- safe standard library
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, select = select,
    tonumber = tonumber, tostring = tostring, type = type, unpack = unpack, pcall = pcall,
    rawequal = rawequal, rawget = rawget, rawlen = rawlen,
    string = SAFE_STRING,
    table = RULE_TABLE,
    math = pick(math, "abs ceil floor fmod huge log log10 max min modf pi pow sqrt exp", "math"),
  }
  setmetatable(env, {
    __index = function(_, k)
      user_error("unknown name '" .. tostring(k) .. "': not part of the rule API (see docs/rules.md)", 2)
    end,
    __metatable = false,
  })
  -- the rule file's globals are an empty proxy, so that every assignment, also to a name the
  -- API already has (AS_OF = 0, round = ...), is refused; reads go through to env (a table, so
  -- the JIT compiles them as plain lookups)
  return setmetatable({}, {
    __index = env,
    __newindex = function(_, k)
      if rawget(env, k) ~= nil then
        user_error("cannot set global '" .. tostring(k) .. "': it is part of the rule API and read-only; use a local of another name", 2)
      end
      user_error("cannot set global '" .. tostring(k) .. "': rule files cannot create globals; use 'local " .. tostring(k) .. " = ...'", 2)
    end,
    __metatable = false,
  }), env
end

local function plan_of(d)
  local tables = {}
  for i, t in ipairs(d.tables) do
    local cols = {}
    for j, c in ipairs(t.columns) do cols[j] = { name = c.name, type = c.type, required = c.required } end
    tables[i] = { name = t.name, file = t.file, kind = t.kind, key = t.key, date = t.date, columns = cols }
  end
  return { tables = tables }
end

-- Customers are scored in parallel parts (one Lua state per thread), so a function run per
-- customer must not carry values from one customer to the next: assigning to a local declared
-- outside it (n = n + 1), or storing into a table it reaches that way (seen[c.segment] = true),
-- would give results that depend on --threads. Found in the functions' bytecode (and in the
-- rule file's functions they call): returns the line and the name.
local jutil = require("jit.util")
local BCNAMES
local function bc_name(op)
  if BCNAMES == nil then
    local ok, vmdef = pcall(require, "jit.vmdef")
    BCNAMES = ok and vmdef.bcnames or false
  end
  return BCNAMES and (BCNAMES:sub(op * 6 + 1, op * 6 + 6):gsub(" +$", "")) or nil
end

-- fn's jit.util info when fn comes from the user's file (chunk "@path"; the engine's are "=...")
local function rule_file_function(fn)
  local info = jutil.funcinfo(fn)
  if info and type(info.source) == "string" and info.source:sub(1, 1) == "@" and info.source:sub(1, 12) ~= "@engine/lua/" then return info end
  return nil
end

local function shared_write(fn, seen)
  if seen[fn] then return nil end
  seen[fn] = true
  local info = rule_file_function(fn)
  if not info then return nil end
  local band, rshift = bit.band, bit.rshift
  local from_uv = {} -- register -> name of the outside local it was loaded from
  local pc = 1
  while true do
    local ins, m = jutil.funcbc(fn, pc)
    if not ins then break end
    local name = bc_name(band(ins, 0xff))
    if not name then return nil end
    local a, b = band(rshift(ins, 8), 0xff), band(rshift(ins, 24), 0xff)
    local line = jutil.funcinfo(fn, pc).currentline
    if name:sub(1, 4) == "USET" then
      return line, jutil.funcuvname(fn, a)
    elseif (name == "TSETV" or name == "TSETS" or name == "TSETB" or name == "TSETR") and from_uv[b] then
      return line, from_uv[b]
    elseif name == "TSETM" and from_uv[a - 1] then
      return line, from_uv[a - 1]
    end
    local derived = name:sub(1, 4) == "TGET" and from_uv[b] -- t.list where t is outside
    local ma = band(m, 7)
    if ma == 1 then from_uv[a] = nil -- A is written
    elseif ma == 2 or ma == 4 then -- a call's results (and the like) land in A and up
      for r in pairs(from_uv) do if r >= a then from_uv[r] = nil end end
    end
    if name == "UGET" then from_uv[a] = jutil.funcuvname(fn, rshift(ins, 16)) end
    if derived then from_uv[a] = derived end
    pc = pc + 1
  end
  for i = 1, info.upvalues or 0 do
    local _, v = debug.getupvalue(fn, i)
    if type(v) == "function" then
      local l, n = shared_write(v, seen)
      if l then return l, n end
    end
  end
  return nil
end

-- Marks the tables fn reaches through its upvalues (and the rule file's functions it calls),
-- and the tables inside them, in OUTER with the local's name, and keeps a copy of each in SNAP:
-- a change the bytecode scan cannot see (a helper changing a table it is given) is found by
-- comparing them once the customers are scored. Engine handles are left alone.
local SNAP = setmetatable({}, { __mode = "k" })
local function mark_outer(fn, seen)
  if seen[fn] then return end
  seen[fn] = true
  local info = rule_file_function(fn)
  if not info then return end
  local function mark(t, name, depth)
    if seen[t] or SEALED[t] or getmetatable(t) ~= nil or depth > 8 then return end
    seen[t] = true
    OUTER[t] = name
    local copy = {}
    for k, v in next, t do copy[k] = v end
    SNAP[t] = copy
    for _, v in next, t do
      if type(v) == "table" then mark(v, name, depth + 1)
      elseif type(v) == "function" then mark_outer(v, seen) end
    end
  end
  for i = 1, info.upvalues or 0 do
    local name, v = debug.getupvalue(fn, i)
    if type(v) == "table" then mark(v, name, 0)
    elseif type(v) == "function" then mark_outer(v, seen) end
  end
end

-- The name of an outer table that differs from its copy, if any.
local function outer_changed()
  for t, copy in pairs(SNAP) do
    for k, v in next, t do
      local was = copy[k]
      if was ~= v and not (v ~= v and was ~= was) then return OUTER[t] end
    end
    for k in next, copy do
      if rawget(t, k) == nil then return OUTER[t] end
    end
  end
  return nil
end

local function check_per_customer(d)
  local seen, marked = {}, {}
  local function one(fn, what)
    if type(fn) ~= "function" then return end
    mark_outer(fn, marked)
    local line, name = shared_write(fn, seen)
    if line then
      raise_or_record({ where = RULES_FILE .. ":" .. line,
        message = fmt("%s changes '%s', which is declared outside it: rules see one customer at a time, and customers are scored in parallel parts, so a value kept from one customer to the next would depend on --threads",
          what, tostring(name)),
        fix = "compute it from the customer (c) alone; to count customers, use a metrics table" })
    end
  end
  for _, f in ipairs(d.features) do
    if type(f.def) == "function" then one(f.def, "feature " .. f.name)
    elseif getmetatable(f.def) == AGG then
      for _, v in pairs(f.def.filter) do one(v, "the filter of feature " .. f.name) end
    end
  end
  for _, r in ipairs(d.rules) do one(r.when, "rule " .. r.code); one(r.reason, "the reason of rule " .. r.code) end
  one(d.score, "score")
  for _, st in ipairs(d.stages or {}) do one(st[2], "stage " .. tostring(st[1])) end
  for _, v in ipairs(d.values) do one(v.fn, "value " .. v.name) end
  for _, o in ipairs(d.outputs) do
    one(o.where, o.kind .. " " .. o.file .. " (where)")
    for _, c in ipairs(o.columns) do
      one(c.field, o.kind .. " " .. o.file .. " column " .. tostring(c.name))
      if c.agg then one(c.agg.where, o.kind .. " " .. o.file .. " column " .. tostring(c.name)) end
    end
  end
  -- functions reached through outer tables (H.add(c)) are checked too
  local more = {}
  for x in pairs(marked) do if type(x) == "function" and not seen[x] then more[#more + 1] = x end end
  for _, fn in ipairs(more) do one(fn, "function " .. tostring(jutil.funcinfo(fn).linedefined and ("defined at line " .. jutil.funcinfo(fn).linedefined) or "")) end
end

local function finish_declarations(d)
  if not d.entity then raise_or_record({ where = RULES_FILE, message = "the rule file declares no entity table", fix = "add entity { file = ..., key = ..., columns = {...} }" }) end
  if #d.outputs == 0 then raise_or_record({ where = RULES_FILE, message = "the rule file declares no output", fix = "add output { ... } or metrics { ... }" }) end
  check_per_customer(d)
  d.fields.points = d.fields.points or "builtin"
  d.fields.score = d.fields.score or "builtin"
  d.fields.band = "builtin"
  d.fields.stage = "builtin"
  d.fields.reason_codes = "builtin"
  d.fields.reasons = "builtin"
  d.fields.rank = "builtin"
  if d.overrides then
    local known_band = {}
    for _, b in ipairs(d.bands or {}) do known_band[b[1]] = true end
    for id, ov in pairs(d.overrides.map) do
      if ov.band and not known_band[ov.band] then
        raise_or_record({ where = d.overrides.path .. ":" .. ov.line, message = fmt("override for %s forces band '%s', which the rule file does not declare", id, ov.band),
                          fix = "use one of the bands declared with bands { ... }" })
      end
    end
  end
  for _, o in ipairs(d.outputs) do
    local function known(f, what)
      if not d.fields[f] then
        raise_or_record({ where = RULES_FILE .. ":" .. o.line, message = fmt("%s %s: '%s' is not a column, feature or value of the rule file", o.kind == "list" and "output" or "metrics", o.file, f),
                          fix = "use a name the rule file declares, or declare it with feature(...) or value(...)", name = f })
      end
    end
    for _, c in ipairs(o.columns) do
      if type(c.field) == "string" then known(c.field) end
      if c.group then known(c.group) end
      if c.agg and c.agg.field then known(c.agg.field) end
    end
    for _, g in ipairs(o.group_by or {}) do known(g) end
    for _, k in ipairs(o.order) do
      if o.kind == "metrics" then
        local ok = false
        for _, c in ipairs(o.columns) do if c.name == k.field then ok = true end end
        if not ok then raise_or_record({ where = RULES_FILE .. ":" .. o.line, message = fmt("metrics %s: order by '%s', which is not one of its columns", o.file, k.field), fix = "order by one of the table's column names" }) end
      else
        known(k.field)
      end
    end
  end
end

-- Loads and runs a user's file (rule file, test file) in env; errors become {where, message}.
local function run_user_chunk(source, chunkname, env)
  KNOWN_FILES[chunkname] = true
  local chunk, err = load(source, "@" .. chunkname, "t", env)
  if not chunk then
    local line, msg = tostring(err):match("^[^:]*:(%d+): (.*)$")
    error({ where = line and (chunkname .. ":" .. line) or chunkname, message = "syntax error: " .. (msg or tostring(err)) }, 0)
  end
  local ok, e = pcall(chunk)
  if not ok then
    if type(e) == "table" then error(e, 0) end
    local where, msg = tostring(e):match("^([^:]+:%d+): (.*)$")
    error({ where = full_where(where) or chunkname, message = msg or tostring(e) }, 0)
  end
end

local SOURCE_LINES = {}

function M.declare(source, chunkname, as_of, as_of_text)
  RULES_FILE = chunkname
  SOURCE_LINES = {}
  for line in (source .. "\n"):gmatch("([^\n]*)\n") do SOURCE_LINES[#SOURCE_LINES + 1] = line end
  decl = new_decl()
  decl.as_of = as_of
  local env = build_env(as_of, as_of_text)
  run_user_chunk(source, chunkname, env)
  finish_declarations(decl)
  return plan_of(decl)
end

--------------------------------------------------------------------------------------------
-- Binding the loaded columns: FFI views over the C arrays (no copy).

local CT = {
  int = "int64_t*", decimal = "int64_t*", date = "int32_t*", category = "uint32_t*",
}

local function bind_column(c)
  local v = { type = c.type, dict = c.dict }
  if c.type == "text" then
    v.offs = ffi.cast("uint64_t*", c.offs)
    v.arena = ffi.cast("const char*", c.arena)
  else
    v.ptr = ffi.cast(CT[c.type], c.ptr)
  end
  if c.type == "category" then
    v.code_of = {}
    for code = 0, #c.dict do v.code_of[c.dict[code]] = code end
  end
  return v
end

-- The Lua value of row i of a bound column.
local function reader(v)
  local p = v.ptr
  if v.type == "int" then
    return function(i) local x = tonumber(p[i]); if x == NA_I64 then return nil end return x end
  elseif v.type == "decimal" then
    return function(i) local x = tonumber(p[i]); if x == NA_I64 then return nil end return x / SCALE end
  elseif v.type == "date" then
    return function(i) local x = p[i]; if x == NA_DATE then return nil end return x end
  elseif v.type == "category" then
    local dict = v.dict
    return function(i) return dict[p[i]] end
  else
    local offs, arena = v.offs, v.arena
    return function(i) local a = offs[i]; return ffi.string(arena + a, offs[i + 1] - a) end
  end
end

--------------------------------------------------------------------------------------------
-- Code generation: one scan function per history table computing all its aggregates.

local function lit(x)
  if type(x) == "number" then return fmt("%.17g", x) end
  return fmt("%q", x)
end

-- Expression (Lua source) testing value expression `v` of a column of type ctype against a
-- filter entry; `up` collects upvalues (functions, sets) the expression needs.
local function filter_expr(var, ctype, bound, spec, up)
  local function upv(x)
    up[#up + 1] = x
    return "U[" .. #up .. "]"
  end
  local isnum = ctype == "int" or ctype == "decimal" or ctype == "date"
  local present = ctype == "category" and (var .. " ~= 0") or (var .. " ~= nil")
  if type(spec) == "function" then
    return upv(spec) .. "(" .. (ctype == "category" and ("D_" .. var .. "[" .. var .. "]") or var) .. ")"
  end
  if getmetatable(spec) == PRED then
    if spec.kind == "present" then return present end
    if spec.kind == "empty" then return "not (" .. present .. ")" end
    local op = ({ above = ">", below = "<", at_least = ">=", at_most = "<=" })[spec.kind]
    return "(" .. present .. " and " .. var .. " " .. op .. " " .. lit(spec.a) .. ")"
  end
  local list = type(spec) == "table" and spec or { spec }
  local parts = {}
  for _, x in ipairs(list) do
    if ctype == "category" then
      local code = bound.code_of[x]
      if code then parts[#parts + 1] = var .. " == " .. code end
    elseif isnum then
      parts[#parts + 1] = var .. " == " .. lit(x)
    end
  end
  if #parts == 0 then return "false" end
  return "(" .. concat(parts, " or ") .. ")"
end

-- Returns fn(lo, hi, c): scans history rows [lo, hi) and stores each aggregate into c.
local function compile_scan(t, aggs, names, bound, as_of)
  local up = {}
  local uses = {}
  local src = {}
  local function add(s) src[#src + 1] = s end
  for _, a in ipairs(aggs) do
    if a.column then uses[a.column] = true end
    for k in pairs(a.filter) do if k ~= "last_days" then uses[k] = true end end
    if (a.kind == "latest" or a.kind == "earliest") or a.filter.last_days then uses[t.date] = true end
  end
  local cols, var = {}, {}
  for name in pairs(uses) do cols[#cols + 1] = name end
  sort(cols)
  add("local COLS, DICTS, U, NA_I64, NA_DATE, SCALE, tonumber, rawset = ...")
  for i, name in ipairs(cols) do
    var[name] = "v" .. i
    add(fmt("local P_v%d = COLS[%d]", i, i))
    if bound[name].type == "category" then add(fmt("local D_v%d = DICTS[%d]", i, i)) end
  end
  add("return function(lo, hi, c)")
  for k, a in ipairs(aggs) do
    if a.kind == "count" or a.kind == "sum" then add(fmt("  local a%d = 0", k))
    elseif a.kind == "any" then add(fmt("  local a%d = false", k))
    else add(fmt("  local a%d, d%d = nil, nil", k, k)) end
  end
  add("  for j = lo, hi - 1 do")
  for _, name in ipairs(cols) do
    local ty, v = bound[name].type, var[name]
    if ty == "int" then add(fmt("    local %s = tonumber(P_%s[j]); if %s == NA_I64 then %s = nil end", v, v, v, v))
    elseif ty == "decimal" then add(fmt("    local %s = tonumber(P_%s[j]); if %s == NA_I64 then %s = nil else %s = %s / SCALE end", v, v, v, v, v, v))
    elseif ty == "date" then add(fmt("    local %s = P_%s[j]; if %s == NA_DATE then %s = nil end", v, v, v, v))
    elseif ty == "category" then add(fmt("    local %s = P_%s[j]", v, v))
    end
  end
  local dv = t.date and var[t.date]
  for k, a in ipairs(aggs) do
    -- cheap and selective tests first: category matches, then the window, then the rest
    local conds, first = {}, {}
    for fk, spec in pairs(a.filter) do
      local e
      if fk == "last_days" then
        e = fmt("%s > %s", dv, lit(as_of - spec))
        first[e] = 2
      else
        e = filter_expr(var[fk], bound[fk].type, bound[fk], spec, up)
        first[e] = (bound[fk].type == "category" and type(spec) ~= "function" and getmetatable(spec) ~= PRED) and 1 or 3
      end
      conds[#conds + 1] = e
    end
    sort(conds, function(x, y)
      if first[x] ~= first[y] then return first[x] < first[y] end
      return x < y
    end)
    local col = a.column
    if col and a.kind ~= "count" and a.kind ~= "any" then
      conds[#conds + 1] = bound[col].type == "category" and (var[col] .. " ~= 0") or (var[col] .. " ~= nil")
    end
    local cond = #conds > 0 and concat(conds, " and ") or "true"
    local v = col and (bound[col].type == "category" and ("D_" .. var[col] .. "[" .. var[col] .. "]") or var[col]) or nil
    local body
    if a.kind == "count" then body = fmt("a%d = a%d + 1", k, k)
    elseif a.kind == "any" then body = fmt("a%d = true", k)
    elseif a.kind == "sum" then body = fmt("a%d = a%d + %s", k, k, v)
    elseif a.kind == "min" then body = fmt("if a%d == nil or %s < a%d then a%d = %s end", k, v, k, k, v)
    elseif a.kind == "max" then body = fmt("if a%d == nil or %s > a%d then a%d = %s end", k, v, k, k, v)
    else
      local better = a.kind == "latest" and ">" or "<"
      local tie = a.tie == "lowest" and fmt(" or (%s == d%d and %s < a%d)", dv, k, v, k)
               or a.tie == "highest" and fmt(" or (%s == d%d and %s > a%d)", dv, k, v, k) or ""
      body = fmt("if d%d == nil or %s %s d%d%s then d%d = %s; a%d = %s end", k, dv, better, k, tie, k, dv, k, v)
    end
    add(fmt("    if %s then %s end", cond, body))
  end
  add("  end")
  for k = 1, #aggs do add(fmt("  rawset(c, %q, a%d)", names[k], k)) end
  add("end")
  local code = concat(src, "\n")
  if os.getenv("DEFECTOR_DUMP_SCAN") then io.stderr:write(code, "\n") end
  local fn, err = load(code, "=scan " .. t.name, "t", {})
  if not fn then error("internal: generated scan does not compile: " .. err .. "\n" .. code) end
  local colv, dicts = {}, {}
  for i, name in ipairs(cols) do
    colv[i] = bound[name].ptr
    dicts[i] = bound[name].dict
  end
  return fn(colv, dicts, up, NA_I64, NA_DATE, SCALE, tonumber, rawset), code
end

--------------------------------------------------------------------------------------------
-- Running the job.

local function reason_text(r, c)
  local reason = r.reason
  if type(reason) == "function" then
    local s = reason(c)
    return s == nil and r.code or tostring(s)
  end
  local parts = r.parts
  if #parts == 1 then return parts[1] end
  local out = {}
  for i = 1, #parts do
    local p = parts[i]
    if i % 2 == 0 then
      local v = c[p]
      if v == nil then p = ""
      elseif type(v) == "number" then p = number_text(v)
      else p = tostring(v) end
    end
    out[i] = p
  end
  return concat(out)
end

function M.run(data, api_ptr, opts)
  opts = opts or {}
  local api = ffi.cast("df_api*", api_ptr)
  local ctx = api.ctx
  local watch = api.watch
  for _, r in ipairs(decl.rules) do r.wcode = "rule " .. r.code end -- kept alive by decl for the watchdog
  local d = decl
  local A = data.as_of
  local ent = d.entity
  local edata = data.tables[ent.name]
  local n = edata.n
  local t0 = api.now()

  -- views of the entity columns
  local ebound, ereaders, eager, lazy = {}, {}, {}, {}
  for _, c in ipairs(ent.columns) do
    ebound[c.name] = bind_column(edata.cols[c.name])
    ereaders[c.name] = reader(ebound[c.name])
    if c.type == "text" then lazy[c.name] = ereaders[c.name] else eager[#eager + 1] = { c.name, ereaders[c.name] } end
  end
  local key_of = ereaders[ent.key]

  -- history scans
  local scans = {}
  for _, t in ipairs(d.tables) do
    if t.kind == "history" then
      local aggs, names = {}, {}
      for _, f in ipairs(d.features) do
        if getmetatable(f.def) == AGG and f.def.t == t then
          aggs[#aggs + 1] = f.def
          names[#names + 1] = f.name
        end
      end
      if #aggs > 0 then
        local hd = data.tables[t.name]
        local bound = {}
        for _, c in ipairs(t.columns) do bound[c.name] = bind_column(hd.cols[c.name]) end
        local fn = compile_scan(t, aggs, names, bound, A)
        scans[#scans + 1] = { fn = fn, offs = ffi.cast("uint64_t*", hd.offsets) }
      end
    end
  end
  local fnfeats = {}
  for _, f in ipairs(d.features) do
    if type(f.def) == "function" then fnfeats[#fnfeats + 1] = f end
    f.label = "feature " .. f.name
  end
  for _, v in ipairs(d.values) do v.label = "value " .. v.name end
  local stage_labels = {}
  for s, st in ipairs(d.stages or {}) do stage_labels[s] = "stage " .. st[1] end

  -- the customer being scored
  local row, cur_rule, cur_what = 0, nil, nil
  -- cr holds the customer's values (set with rawset by the engine); rules see c, a read-only
  -- view whose misses fall through to cr (a plain table, fast) and cr's misses to lazy text
  -- columns or an "unknown field" error.
  local cr = {}
  local fields = d.fields
  setmetatable(cr, {
    __index = function(_, k)
      local l = lazy[k]
      if l then return l(row) end
      if fields[k] then return nil end
      error("unknown field '" .. tostring(k) .. "': not a column, feature or value declared in the rule file", 2)
    end,
    __newindex = function(_, k)
      error("rules cannot change the customer: '" .. tostring(k) .. "' is read-only", 2)
    end,
    __metatable = false,
  })
  local c = setmetatable({}, {
    __index = cr,
    __newindex = function(_, k)
      error("rules cannot change the customer: '" .. tostring(k) .. "' is read-only", 2)
    end,
    __metatable = false,
  })
  local fired = {}
  local rules, nrules = d.rules, #d.rules
  local score_fn = d.score or function(cc) return cc.points end
  local bands, stages, values = d.bands, d.stages, d.values
  local fire_counts = {}
  for k = 1, nrules do fire_counts[k] = 0 end

  -- outputs: list rows and metric accumulators
  local outs = d.outputs
  local lists, mets = {}, {}
  for oi, o in ipairs(outs) do
    if o.kind == "list" then lists[#lists + 1] = { o = o, label = "output " .. o.file }
    else mets[#mets + 1] = { o = o, groups = {}, order = {}, label = "metrics " .. o.file } end
  end

  local function get(k)
    local v = rawget(cr, k)
    if v == nil then v = c[k] end
    return v
  end
  local overrides = d.overrides and d.overrides.map
  local cur_override, override_count = nil, 0
  local function reasons_of(sep, text)
    local parts = {}
    for k = 1, nrules do
      if fired[k] then parts[#parts + 1] = text and reason_text(rules[k], c) or rules[k].code end
    end
    if cur_override then parts[#parts + 1] = text and ("override: " .. cur_override.reason) or "override" end
    return concat(parts, sep)
  end
  local function field_value(f)
    if type(f) == "function" then return f(c) end
    if f == "reason_codes" then return reasons_of(";", false) end
    if f == "reasons" then return reasons_of("; ", true) end
    return get(f)
  end

  -- ordering and writing values
  local function enum_rank(field)
    if field == "band" and bands then
      local r = {}
      for i, b in ipairs(bands) do r[b[1]] = i end
      return r
    end
    if field == "stage" and stages then
      local r = {}
      for i, s in ipairs(stages) do r[s[1]] = i end
      return r
    end
  end
  local function cmp_values(a, b, rank)
    if a == b then return 0 end
    if a == nil then return 1 end -- empty values last
    if b == nil then return -1 end
    if rank then a, b = rank[a] or huge, rank[b] or huge end
    if type(a) == "boolean" then a = a and 1 or 0 end
    if type(b) == "boolean" then b = b and 1 or 0 end
    if type(a) ~= type(b) then a, b = tostring(a), tostring(b) end
    if a < b then return -1 elseif a > b then return 1 end
    return 0
  end
  local function sorter(order, get_of)
    local ranks = {}
    for i, k in ipairs(order) do ranks[i] = enum_rank(k.field) end
    return function(x, y)
      for i, k in ipairs(order) do
        local r = cmp_values(get_of(x, k.field), get_of(y, k.field), ranks[i])
        if r ~= 0 then
          if k.desc then return r > 0 end
          return r < 0
        end
      end
      return x.__row < y.__row
    end
  end

  local function write_value(f, v, is_date)
    if v == nil then api.empty(ctx, f)
    elseif type(v) == "number" then
      if is_date then local s = date_text(v); api.plain(ctx, f, s, #s)
      else api.number(ctx, f, v) end
    elseif type(v) == "boolean" then
      local s = v and "true" or "false"
      api.plain(ctx, f, s, #s)
    else
      local s = tostring(v)
      api.text(ctx, f, s, #s)
    end
  end
  local function is_date_field(name)
    return ent.columns[name] == "date" or (function()
      for _, f in ipairs(d.features) do
        if f.name == name and getmetatable(f.def) == AGG and (f.def.kind == "latest" or f.def.kind == "earliest" or f.def.kind == "min" or f.def.kind == "max")
          and f.def.column == f.def.t.date then return true end
      end
      return false
    end)()
  end
  local function header(f, cols)
    for _, col in ipairs(cols) do api.text(ctx, f, col.name, #col.name) end
    api.end_row(ctx, f)
  end
  -- A list output's rows are rendered to CSV by the C writer as the customer is scored (into
  -- memory); only the sort keys stay in Lua. After the loop the rows are ordered and copied out.
  if opts.explain then lists, mets = {}, {} end
  for _, L in ipairs(lists) do
    local o = L.o
    L.f = api.open(ctx, o.file)
    if L.f < 0 then error({ where = o.file, message = "cannot open the output file" }, 0) end
    if not opts.part then header(L.f, o.columns) end
    L.dates = {}
    for ci, col in ipairs(o.columns) do L.dates[ci] = type(col.field) == "string" and is_date_field(col.field) end
    L.keys = {}
    for k, key in ipairs(o.order) do
      if key.field == "rank" then
        error({ where = RULES_FILE .. ":" .. o.line, message = "output " .. o.file .. ": cannot order by rank (rank is the position in the order)" }, 0)
      end
      L.keys[k] = {}
    end
    L.m = 0
  end

  local function take_list(L)
    local o = L.o
    cur_what = L.label
    if o.where and not o.where(c) then return end
    local f, cols, dates = L.f, o.columns, L.dates
    api.row_begin(ctx, f)
    for ci = 1, #cols do
      local col = cols[ci]
      if col.field == "rank" then api.row_split(ctx, f)
      else write_value(f, field_value(col.field), dates[ci]) end
    end
    api.row_end(ctx, f)
    local m = L.m + 1
    L.m = m
    local order, keys = o.order, L.keys
    for k = 1, #order do keys[k][m] = field_value(order[k].field) end
  end

  local NIL = {} -- stands for a nil group value in the group tree
  -- keys: the group's values (a merged part's group), else the current customer's
  local function new_group(Mt, keys)
    local o = Mt.o
    local grp = { keys = {}, acc = {}, big = {}, wrap = {}, cnt = {}, micro = {}, n = 0 }
    for _, g in ipairs(o.group_by) do
      if keys then grp.keys[g] = keys[g] else grp.keys[g] = get(g) end
    end
    for ci, col in ipairs(o.columns) do
      if col.agg then
        grp.acc[ci] = 0
        grp.cnt[ci] = 0
      end
    end
    Mt.order[#Mt.order + 1] = grp
    return grp
  end

  -- Sums are exact whole numbers (of units, of 10^-places, or of millionths): added in a double
  -- while that is exact (below 2^52), the rest carried in an int64 (grp.big), so that no value
  -- is boxed per customer and the total does not depend on the order of the additions.
  local EXACT = 4503599627370496 -- 2^52
  local LIMIT = 9.2e18              -- int64
  local function too_big(Mt, ci)
    local col = Mt.o.columns[ci]
    error({ where = RULES_FILE .. ":" .. Mt.o.line, message = fmt("metrics %s, column %s: the sum grew past what can be kept exact (9.2e18 of its smallest unit%s); sum with fewer decimals, e.g. sum(\"%s\", 2), or in a larger unit",
      Mt.o.file, col.name, col.agg.places and "" or ", millionths for a sum of fractions", tostring(col.agg.field)) }, 0)
  end
  -- Slot ci holds a column's sum (in units, or 10^-places); slot -ci the millionths of the
  -- fractions of a sum without places. The int64 carry wraps like the hardware does and the
  -- wraps are counted (grp.wrap), so that only the final total is checked for overflow: the
  -- outcome does not depend on the order of the additions nor on the parts.
  local function add_big(grp, slot, y)
    local b = grp.big[slot] or I64(0)
    local nb = b + y
    if y > 0 and nb < b then grp.wrap[slot] = (grp.wrap[slot] or 0) + 1
    elseif y < 0 and nb > b then grp.wrap[slot] = (grp.wrap[slot] or 0) - 1 end
    grp.big[slot] = nb
  end
  local function add_exact(Mt, grp, slot, x)
    local s = (grp.acc[slot] or 0) + x
    if s < EXACT and s > -EXACT then grp.acc[slot] = s
    else
      if abs(x) >= LIMIT then too_big(Mt, abs(slot)) end -- one value past an int64
      add_big(grp, slot, I64(grp.acc[slot] or 0) + I64(x))
      grp.acc[slot] = 0
    end
  end
  -- the exact total of a slot (int64), or an error when it does not fit in one
  local function total(Mt, grp, slot)
    local b = grp.big[slot]
    if not b then return I64(grp.acc[slot] or 0) end
    add_big(grp, slot, I64(grp.acc[slot] or 0))
    grp.acc[slot] = 0
    if (grp.wrap[slot] or 0) ~= 0 then too_big(Mt, abs(slot)) end
    return grp.big[slot]
  end

  -- The group of the current customer (keys = nil) or of a merged part's group (its keys): a
  -- tree keyed by each group_by value in turn, no allocation once seen.
  local function find_group(Mt, keys)
    local node, gb = Mt.groups, Mt.o.group_by
    local ng = #gb
    if ng == 0 then
      local grp = node[1]
      if not grp then grp = new_group(Mt, keys); node[1] = grp end
      return grp
    end
    for i = 1, ng do
      local v
      if keys then v = keys[gb[i]] else v = get(gb[i]) end
      if v == nil then v = NIL end
      local nxt = node[v]
      if nxt == nil then
        nxt = i == ng and new_group(Mt, keys) or {}
        node[v] = nxt
      end
      node = nxt
    end
    return node
  end

  local function take_metric(Mt)
    local o = Mt.o
    cur_what = Mt.label
    if o.where and not o.where(c) then return end
    local grp = find_group(Mt, nil)
    grp.n = grp.n + 1
    local acc, cnt = grp.acc, grp.cnt
    for ci, col in ipairs(o.columns) do
      local a = col.agg
      if a and (a.where == nil or a.where(c)) then
        if a.kind == "count" then acc[ci] = acc[ci] + 1
        else
          local v = get(a.field)
          if v ~= nil then
            if type(v) == "boolean" then v = v and 1 or 0 end
            cnt[ci] = cnt[ci] + 1
            if a.kind == "avg" then
              add_exact(Mt, grp, ci, round(v * SCALE))
            elseif a.places then
              add_exact(Mt, grp, ci, round(v * POW10[a.places]))
            elseif v == floor(v) then
              add_exact(Mt, grp, ci, v) -- whole numbers as they are
            else
              grp.micro[ci] = true -- fractions in millionths, apart
              add_exact(Mt, grp, -ci, round(v * SCALE))
            end
          end
        end
      end
    end
  end

  local progress_every = 65536

  -- The fields a rule reads, with this customer's values: run it again on a recording view.
  local function values_seen(r)
    local seen, done, parts = {}, {}, {}
    local view = setmetatable({}, { __index = function(_, f) seen[#seen + 1] = f; return c[f] end })
    pcall(r.when, view)
    for _, f in ipairs(seen) do
      if not done[f] and fields[f] then
        done[f] = true
        local v = c[f]
        parts[#parts + 1] = f .. " = " .. (v == nil and "nil" or type(v) == "number" and number_text(v) or tostring(v))
      end
    end
    return concat(parts, ", ")
  end

  -- --on-rule-error skip: a rule that fails counts as not fired for this customer, the failure is
  -- counted per rule and listed in rule_errors.csv
  local skip_errors = opts.skip_rule_errors
  local error_counts, errors_file, error_rows = {}, nil, 0
  for k = 1, nrules do error_counts[k] = 0 end
  if skip_errors and not opts.explain then
    errors_file = api.open(ctx, "rule_errors.csv")
    if errors_file < 0 then error({ where = "rule_errors.csv", message = "cannot open the output file" }, 0) end
    if not opts.part then
      for _, h in ipairs({ "customer_id", "rule", "where", "error", "values" }) do api.plain(ctx, errors_file, h, #h) end
      api.end_row(ctx, errors_file)
    end
  end
  local function rule_failed(k, r, e)
    error_counts[k] = error_counts[k] + 1
    if not errors_file then return end
    local msg = tostring(type(e) == "table" and e.message or e)
    local where, rest = msg:match("^([^:\n]+:%d+): (.*)$")
    local cells = { key_of(row), r.code, full_where(where) or (RULES_FILE .. ":" .. r.line), rest or msg, values_seen(r) }
    -- captured like a list's rows: the rows of every part are written in customer order at the end
    api.row_begin(ctx, errors_file)
    for _, x in ipairs(cells) do api.text(ctx, errors_file, x, #x) end
    api.row_end(ctx, errors_file)
    error_rows = error_rows + 1
  end

  -- Everything the rule file computes for customer i, into cr. With trace (explain), each
  -- rule's 'when' sees a view that records the fields it reads.
  local function evaluate(i, trace)
    row = i
    watch.row = i
    for e = 1, #eager do local p = eager[e]; rawset(cr, p[1], p[2](i)) end
    cur_rule, cur_what = nil, "history aggregates"
    for s = 1, #scans do
      local sc = scans[s]
      sc.fn(tonumber(sc.offs[i]), tonumber(sc.offs[i + 1]), cr)
    end
    for k = 1, #fnfeats do
      local f = fnfeats[k]
      cur_what = f.label
      rawset(cr, f.name, f.def(c))
    end
    local points = 0
    for k = 1, nrules do
      local r = rules[k]
      cur_rule, cur_what = r, nil
      watch.what = r.wcode
      local view = c
      if trace then
        local seen = {}
        trace[k] = seen
        view = setmetatable({}, { __index = function(_, f) seen[#seen + 1] = f; return c[f] end,
                                  __newindex = function(_, f) error("rules cannot change the customer: '" .. tostring(f) .. "' is read-only", 2) end })
      end
      local yes
      if skip_errors then
        local ok, e = pcall(r.when, view)
        if ok then yes = e else rule_failed(k, r, e); yes = false end
      else
        yes = r.when(view)
      end
      if yes == true then
        fired[k] = true
        points = points + r.points
        fire_counts[k] = fire_counts[k] + 1
      elseif yes == false or yes == nil then
        fired[k] = false
      else
        error(fmt("%s:%d: 'when' returned %s %s; it must return true or false (e.g. a comparison like c.complaints_90 >= 2)",
          RULES_FILE, r.line, type(yes), tostring(yes)), 0)
      end
    end
    cur_rule = nil
    watch.what = nil
    cur_override = nil
    if overrides then
      local ov = overrides[key_of(i)]
      if ov then
        cur_override = ov
        points = points + (ov.points or 0)
        override_count = override_count + 1
      end
    end
    rawset(cr, "points", points)
    cur_what = "score"
    local score = score_fn(c)
    if type(score) ~= "number" then
      error(fmt("%s: score must return a number, it returned %s", RULES_FILE, tostring(score)), 0)
    end
    rawset(cr, "score", score)
    local band
    if bands then
      for b = 1, #bands do if score >= bands[b][2] then band = bands[b][1]; break end end
    end
    if cur_override and cur_override.band then band = cur_override.band end
    rawset(cr, "band", band)
    local stage
    if stages then
      for s = 1, #stages do
        local st = stages[s]
        cur_what = stage_labels[s]
        if st[2] == nil or st[2](c) then stage = st[1]; break end
      end
    end
    rawset(cr, "stage", stage)
    for v = 1, #values do
      local val = values[v]
      cur_what = val.label
      rawset(cr, val.name, val.fn(c))
    end
  end

  -- customers lo .. hi - 1: all of them, or this state's part when several states score
  local lo, hi = opts.lo or 0, opts.hi or n
  local pscale = n / math.max(1, hi - lo)
  -- a part stops when an earlier part has failed: that failure is the one reported, as one
  -- state would have stopped there (a later part's failure does not stop earlier parts)
  local part_index = opts.part_index or 0
  local first_failed = api.first_failed
  local function score_all()
    for i = lo, hi - 1 do
      if i % 1024 == 0 and first_failed ~= nil and first_failed[0] < part_index then
        error({ where = RULES_FILE, message = "stopped: an earlier part of the customers failed", cancelled = true }, 0)
      end
      evaluate(i)
      for l = 1, #lists do take_list(lists[l]) end
      for m = 1, #mets do take_metric(mets[m]) end
      if i % progress_every == 0 then api.progress(ctx, (i - lo) * pscale, n) end
    end
    watch.row = -1
  end

  local function on_error(e)
    if type(e) == "table" then
      -- an API refusal inside a rule or feature: say which, and for which customer
      local ctxs = cur_rule and ("rule " .. cur_rule.code) or (cur_what and not cur_what:match("^metrics") and not cur_what:match("^output") and cur_what)
      if ctxs and not e.customer then
        local id = key_of(row)
        return { where = tostring(e.where) .. ": " .. ctxs, message = fmt("%s (customer %s)", tostring(e.message), id), customer = id }
      end
      return e
    end
    local msg = tostring(e)
    local where, rest = msg:match("^([^:\n]+:%d+): (.*)$")
    local id = key_of(row)
    local ctxs = cur_rule and ("rule " .. cur_rule.code) or (cur_what or "")
    local vals = cur_rule and values_seen(cur_rule) or ""
    return { where = (full_where(where) or RULES_FILE) .. (ctxs ~= "" and (": " .. ctxs) or ""),
             message = fmt("%s (customer %s%s)", rest or msg, id, vals ~= "" and ("; it looked at " .. vals) or ""), customer = id }
  end

  if opts.explain then
    local trace = {}
    local ok, err = xpcall(function() evaluate(opts.explain - 1, trace) end, on_error)
    if not ok then error(err, 0) end
    if opts.result then
      local codes, vals = {}, {}
      for k, r in ipairs(d.rules) do if fired[k] then codes[#codes + 1] = r.code end end
      for _, f in ipairs(d.features) do vals[f.name] = c[f.name] end
      for _, v in ipairs(d.values) do vals[v.name] = c[v.name] end
      return { result = { score = c.score, points = c.points, band = c.band, stage = c.stage, rules = codes, fields = vals,
                          reasons = (function() local t = {} for k, r in ipairs(d.rules) do if fired[k] then t[r.code] = reason_text(r, c) end end return t end)() } }
    end
    return { explain = M.explain_report(d, c, fired, trace, key_of(opts.explain - 1), is_date_field, opts.json, A, cur_override) }
  end

  -- DEFECTOR_LUA_PROFILE=FILE: LuaJIT's sampling profiler over the scoring loop (for tuning)
  local prof = os.getenv("DEFECTOR_LUA_PROFILE")
  if prof then require("jit.p").start("Fl", prof) end
  local ok, err = xpcall(score_all, on_error)
  if prof then require("jit.p").stop() end
  if not ok then
    watch.row = -1 -- not scoring any more: the watchdog must not take this for a rule that hangs
    error(err, 0)
  end
  if not opts.explain then
    local changed = outer_changed()
    if changed then
      error({ where = RULES_FILE, message = fmt("the rule file changed '%s', a table declared outside its functions, while customers were scored: rules see one customer at a time, and customers are scored in parallel parts, so the results would depend on --threads; compute from the customer (c) alone, or count with a metrics table", changed) }, 0)
    end
  end

  -- a worker's part: what the main state needs to merge (plain values: a state's int64 cdata
  -- cannot cross to another state, so they travel as two 32-bit halves)
  if opts.part then
    local part = { lists = {}, mets = {}, fire = fire_counts, errors = error_counts, error_rows = error_rows,
                   overrides = override_count }
    for l, L in ipairs(lists) do part.lists[l] = { m = L.m, keys = L.keys } end
    for m, Mt in ipairs(mets) do
      local groups = {}
      for gi, grp in ipairs(Mt.order) do
        local big = {}
        for slot, v in pairs(grp.big) do big[slot] = { tonumber(bit.arshift(v, 32)), tonumber(bit.band(v, 0xffffffffLL)) } end
        groups[gi] = { keys = grp.keys, n = grp.n, acc = grp.acc, big = big, wrap = grp.wrap, cnt = grp.cnt, micro = grp.micro }
      end
      part.mets[m] = groups
    end
    return part
  end

  local function merge_part(p)
    for l, L in ipairs(lists) do
      local pl, m = p.lists[l], L.m
      for k = 1, #L.keys do
        local dst, src = L.keys[k], pl.keys[k] or {}
        for j = 1, pl.m do dst[m + j] = src[j] end
      end
      L.m = m + pl.m
    end
    for mi, Mt in ipairs(mets) do
      for _, g in ipairs(p.mets[mi]) do
        local grp = find_group(Mt, g.keys)
        grp.n = grp.n + g.n
        for slot, v in pairs(g.acc) do
          if slot > 0 and Mt.o.columns[slot].agg.kind == "count" then grp.acc[slot] = grp.acc[slot] + v
          else add_exact(Mt, grp, slot, v) end
        end
        for slot, b in pairs(g.big) do add_big(grp, slot, I64(b[1]) * 4294967296LL + b[2]) end
        for slot, w in pairs(g.wrap) do grp.wrap[slot] = (grp.wrap[slot] or 0) + w end
        for ci, k in pairs(g.cnt) do grp.cnt[ci] = grp.cnt[ci] + k end
        for ci in pairs(g.micro) do grp.micro[ci] = true end
      end
    end
    for k = 1, nrules do
      fire_counts[k] = fire_counts[k] + p.fire[k]
      error_counts[k] = error_counts[k] + p.errors[k]
    end
    error_rows = error_rows + p.error_rows
    override_count = override_count + p.overrides
  end

  local function finish(parts)
    for _, p in ipairs(parts) do merge_part(p) end
    if errors_file then
      local arr = ffi.new("uint32_t[?]", error_rows > 0 and error_rows or 1)
      for i = 0, error_rows - 1 do arr[i] = i end
      if api.write_rows(ctx, errors_file, arr, error_rows) ~= 0 then
        error({ where = "rule_errors.csv", message = "cannot write the output file (out of memory?)" }, 0)
      end
    end
    local t1 = api.now()

    local counts = {}
    for _, L in ipairs(lists) do
      local o, m, keys = L.o, L.m, L.keys
      local ranks = {}
      for k, key in ipairs(o.order) do ranks[k] = enum_rank(key.field) end
      local idx = {}
      for i = 1, m do idx[i] = i end
      sort(idx, function(x, y)
        for k, key in ipairs(o.order) do
          local r = cmp_values(keys[k][x], keys[k][y], ranks[k])
          if r ~= 0 then
            if key.desc then return r > 0 end
            return r < 0
          end
        end
        return x < y
      end)
      local arr = ffi.new("uint32_t[?]", m > 0 and m or 1)
      for i = 1, m do arr[i - 1] = idx[i] - 1 end
      if api.write_rows(ctx, L.f, arr, m) ~= 0 then
        error({ where = o.file, message = "cannot write the output file (out of memory?)" }, 0)
      end
      counts[o.file] = m
    end
    for _, Mt in ipairs(mets) do
      local o = Mt.o
      local f = api.open(ctx, o.file)
      if f < 0 then error({ where = o.file, message = "cannot open the output file" }, 0) end
      local rows = {}
      if #o.group_by == 0 and #Mt.order == 0 then
        new_group(Mt) -- one row over no customers: aggregates of nothing
      end
      for gi, grp in ipairs(Mt.order) do
        local r = { __row = gi }
        for ci, col in ipairs(o.columns) do
          if col.group then r[col.name] = grp.keys[col.group]
          elseif col.agg then
            local a = col.agg
            if a.kind == "count" then r[col.name] = grp.acc[ci]
            else
              local acc = total(Mt, grp, ci)
              if a.kind == "avg" then
                local cnt = grp.cnt[ci]
                if cnt == 0 then r[col.name] = nil
                else
                  if abs(tonumber(acc)) * POW10[a.places] >= LIMIT then too_big(Mt, ci) end
                  r[col.name] = tonumber(rha64(acc * POW10[a.places], I64(cnt) * SCALE)) / POW10[a.places]
                end
              elseif a.places then r[col.name] = tonumber(acc) / POW10[a.places]
              elseif grp.micro[ci] then
                local m = total(Mt, grp, -ci)
                if abs(tonumber(acc) * SCALE + tonumber(m)) >= LIMIT then too_big(Mt, ci) end
                r[col.name] = tonumber(acc * SCALE + m) / SCALE
              else r[col.name] = tonumber(acc) end
            end
          end
        end
        for ci, col in ipairs(o.columns) do
          if col.fn then
            cur_what = "metrics " .. o.file .. " column " .. col.name
            local okf, v = pcall(col.fn, r)
            if not okf then
              error({ where = RULES_FILE .. ":" .. o.line, message = fmt("metrics %s, column %s: %s", o.file, col.name, tostring(v)) }, 0)
            end
            r[col.name] = v
          end
        end
        rows[#rows + 1] = r
      end
      local group_rank = {}
      for _, g in ipairs(o.group_by) do group_rank[g] = enum_rank(g) end
      sort(rows, sorter(o.order, function(r, k) return r[k] end))
      header(f, o.columns)
      for _, r in ipairs(rows) do
        for _, col in ipairs(o.columns) do write_value(f, r[col.name], col.group and is_date_field(col.group)) end
        api.end_row(ctx, f)
      end
      counts[o.file] = #rows
    end
    local t2 = api.now()
    local rule_counts = {}
    for k = 1, nrules do rule_counts[k] = { rules[k].code, fire_counts[k], error_counts[k] } end
    local ov_report = nil
    if d.overrides then
      local ex = {}
      for _, e in ipairs(d.overrides.expired) do ex[#ex + 1] = fmt("%s (expired %s, line %d)", e.id, e.expires, e.line) end
      ov_report = { file = d.overrides.path, applied = override_count, active = d.overrides.rows, expired = #d.overrides.expired, expired_list = concat(ex, ", ") }
    end
    return { customers = n, score_seconds = t1 - t0, write_seconds = t2 - t1, rules = rule_counts, overrides = ov_report }
  end

  -- with workers, the main state's part is done: C waits for the workers, appends their
  -- captured rows, and calls M.finish with their parts, in customer order
  if opts.defer then
    PENDING = finish
    return nil
  end
  return finish({})
end

function M.finish(parts)
  local f = PENDING
  PENDING = nil
  return f(parts)
end

--------------------------------------------------------------------------------------------
-- explain: one customer, every feature, every rule (fired or how far from firing), the result.

local function json_value(v)
  if v == nil then return "null" end
  if type(v) == "boolean" then return tostring(v) end
  if type(v) == "number" then return number_text(v) end
  return '"' .. tostring(v):gsub('[%c"\\]', function(ch)
    local map = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
    return map[ch] or fmt("\\u%04x", ch:byte())
  end) .. '"'
end

-- The comparisons a rule's condition makes, read from its source: c.x OP number, number OP c.x,
-- c.x OP c.y, between(c.x, lo, hi), and bare c.x tests.
local FLIP = { ["<"] = ">", [">"] = "<", ["<="] = ">=", [">="] = "<=", ["=="] = "==", ["~="] = "~=" }
local function conditions_of(fn)
  local info = debug.getinfo(fn, "S")
  if not info or info.linedefined < 1 then return {} end
  local lines = {}
  for l = info.linedefined, info.lastlinedefined do lines[#lines + 1] = SOURCE_LINES[l] or "" end
  local src = concat(lines, " ")
  src = src:match("return%s+(.-)%s+end[%s%)]*$") or src:match("return%s+(.*)") or ""
  local conds, used = {}, {}
  for f, lo, hi in src:gmatch("between%(%s*c%.([%w_]+)%s*,%s*(%-?[%d%.]+)%s*,%s*(%-?[%d%.]+)%s*%)") do
    conds[#conds + 1] = { kind = "between", f = f, lo = tonumber(lo), hi = tonumber(hi) }; used[f] = true
  end
  for f, op, g in src:gmatch("c%.([%w_]+)%s*([<>=~]=?)%s*c%.([%w_]+)") do
    conds[#conds + 1] = { kind = "fields", f = f, op = op, g = g }; used[f] = true; used[g] = true
  end
  for f, op, x in src:gmatch("c%.([%w_]+)%s*([<>=~]=?)%s*(%-?[%d%.]+)") do
    if op ~= "=" then conds[#conds + 1] = { kind = "cmp", f = f, op = op, x = tonumber(x) }; used[f] = true end
  end
  for x, op, f in src:gmatch("(%-?[%d%.]+)%s*([<>=~]=?)%s*c%.([%w_]+)") do
    if op ~= "=" then conds[#conds + 1] = { kind = "cmp", f = f, op = FLIP[op], x = tonumber(x) }; used[f] = true end
  end
  for f in src:gmatch("c%.([%w_]+)") do
    if not used[f] then conds[#conds + 1] = { kind = "bool", f = f }; used[f] = true end
  end
  return conds
end

local function holds(v, op, x)
  if v == nil or x == nil or type(v) ~= type(x) then return false end
  if op == "<" then return v < x elseif op == ">" then return v > x
  elseif op == "<=" then return v <= x elseif op == ">=" then return v >= x
  elseif op == "==" then return v == x else return v ~= x end
end

function M.explain_report(d, c, fired, trace, id, is_date, as_json, as_of, ov)
  local function show(name, v)
    if v == nil then return "(none)" end
    if type(v) == "number" and is_date(name) then return date_text(v) end
    if type(v) == "number" then return number_text(v) end
    return tostring(v)
  end
  local out, J = {}, { features = {}, rules = {} }
  local function add(...) out[#out + 1] = fmt(...) end
  add("customer %s (as of %s)", id, date_text(as_of))
  add("")
  add("features")
  local width = 0
  for _, f in ipairs(d.features) do if #f.name > width then width = #f.name end end
  for _, f in ipairs(d.features) do
    add("  %-" .. width .. "s  %s", f.name, show(f.name, c[f.name]))
    J.features[#J.features + 1] = { name = f.name, value = c[f.name] }
  end
  add("")
  add("rules")
  for k, r in ipairs(d.rules) do
    local jr = { code = r.code, points = r.points, fired = fired[k] }
    if fired[k] then
      local reason = reason_text(r, c)
      add("  FIRED  +%-4s %s: %s", number_text(r.points), r.code, reason)
      jr.reason = reason
    else
      local why = {}
      for _, cd in ipairs(conditions_of(r.when)) do
        local v = c[cd.f]
        if cd.kind == "between" and not api_between(v, cd.lo, cd.hi) then
          why[#why + 1] = fmt("%s = %s, fires at %s to %s", cd.f, show(cd.f, v), number_text(cd.lo), number_text(cd.hi))
        elseif cd.kind == "cmp" and not holds(v, cd.op, cd.x) then
          why[#why + 1] = fmt("%s = %s, fires at %s %s", cd.f, show(cd.f, v), cd.op, number_text(cd.x))
        elseif cd.kind == "fields" and not holds(v, cd.op, c[cd.g]) then
          why[#why + 1] = fmt("%s = %s, %s = %s, fires when %s %s %s", cd.f, show(cd.f, v), cd.g, show(cd.g, c[cd.g]), cd.f, cd.op, cd.g)
        elseif cd.kind == "bool" and not v then
          why[#why + 1] = fmt("%s = %s", cd.f, show(cd.f, v))
        end
      end
      if #why == 0 then -- the condition's shape is not one we read: show what it looked at
        local seen, done = trace[k] or {}, {}
        for _, f in ipairs(seen) do
          if not done[f] then done[f] = true; why[#why + 1] = fmt("%s = %s", f, show(f, c[f])) end
        end
      end
      add("  -      %-5s %s: %s", number_text(r.points), r.code, concat(why, "; "))
      jr.why_not = concat(why, "; ")
    end
    J.rules[#J.rules + 1] = jr
  end
  if ov then
    add("  OVERRIDE %s%s: %s%s", ov.points and fmt("%+g points", ov.points) or "", ov.band and ((ov.points and ", " or "") .. "band " .. ov.band) or "",
      ov.reason, ov.expires ~= "" and (" (until " .. ov.expires .. ")") or "")
  end
  add("")
  add("points %s, score %s, band %s, stage %s", show("points", c.points), show("score", c.score), show("band", c.band), show("stage", c.stage))
  for _, v in ipairs(d.values) do add("  %s = %s", v.name, show(v.name, c[v.name])) end
  if not as_json then return concat(out, "\n") .. "\n" end
  local parts = { '{"customer": ' .. json_value(id), '"features": {' }
  local fs = {}
  for _, f in ipairs(J.features) do fs[#fs + 1] = json_value(f.name) .. ": " .. json_value(type(f.value) == "number" and is_date(f.name) and date_text(f.value) or f.value) end
  parts[2] = parts[2] .. concat(fs, ", ") .. "}"
  local rs = {}
  for _, r in ipairs(J.rules) do
    rs[#rs + 1] = fmt('{"code": %s, "points": %s, "fired": %s, %s}', json_value(r.code), json_value(r.points), tostring(r.fired),
      r.fired and ('"reason": ' .. json_value(r.reason)) or ('"why_not": ' .. json_value(r.why_not)))
  end
  parts[3] = '"rules": [' .. concat(rs, ", ") .. "]"
  parts[4] = fmt('"points": %s, "score": %s, "band": %s, "stage": %s', json_value(c.points), json_value(c.score), json_value(c.band), json_value(c.stage))
  local vs = {}
  for _, v in ipairs(d.values) do vs[#vs + 1] = json_value(v.name) .. ": " .. json_value(c[v.name]) end
  parts[5] = '"values": {' .. concat(vs, ", ") .. "}"
  return concat(parts, ", ") .. "}\n"
end

--------------------------------------------------------------------------------------------
-- defector test: rule test cases written by business users.
--
--   case { "renewal in 60 days", as_of = "2026-11-01",
--          customer = { customer_id = "A1", signup_date = "2024-01-01", renewal_date = "2026-12-31" },
--          events = { { event_date = "2026-10-31", event_type = "login" } },
--          expect = { score = 20, band = "low", stage = "pre_renewal", rules = { "renewal_due" } } }

local CASES, CASES_FILE

function M.load_cases(source, chunkname)
  CASES, CASES_FILE = {}, chunkname
  local env = setmetatable({
    case = function(t)
      check(type(t) == "table", "case { \"name\", customer = {...}, expect = {...} } expects a table", 2)
      local name = t[1] or t.name
      check(type(name) == "string", "a case needs a name as its first item", 2)
      check(type(t.customer) == "table", "case '" .. name .. "': 'customer' must give the customer's columns", 2)
      check(type(t.expect) == "table", "case '" .. name .. "': 'expect' must give the expected score, band, stage, rules or fields", 2)
      check(t.as_of == nil or parse_date(t.as_of), "case '" .. name .. "': as_of must be a date \"YYYY-MM-DD\"", 2)
      t.name = name
      t.line = rule_line(1)
      CASES[#CASES + 1] = t
    end,
    pairs = pairs, ipairs = ipairs, tostring = tostring, tonumber = tonumber, type = type, select = select,
    unpack = unpack, string = SAFE_STRING, table = pick(table, "concat insert remove sort", "table"),
    math = pick(math, "abs ceil floor fmod huge max min modf", "math"),
  }, {
    __index = function(_, k) user_error("unknown name '" .. tostring(k) .. "' in a test file: write case { ... }", 2) end,
    __newindex = function(_, k) user_error("cannot set global '" .. tostring(k) .. "' in a test file; use local", 2) end,
  })
  run_user_chunk(source, chunkname, env)
  local out = {}
  for i, t in ipairs(CASES) do out[i] = { name = t.name, as_of = t.as_of or "", line = t.line } end
  return out
end

local function csv_cell(v)
  if v == nil then return "" end
  if type(v) == "number" then v = number_text(v) end
  v = tostring(v)
  if v:find('[,"\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

-- The CSV text of each input file for case i: the declared columns, the case's values.
function M.case_files(i)
  local t = CASES[i]
  local files = {}
  for _, tb in ipairs(decl.tables) do
    local cols = {}
    for _, c in ipairs(tb.columns) do cols[#cols + 1] = c.name end
    if tb.kind == "history" and not tb.columns[tb.key] then cols[#cols + 1] = tb.key end
    local lines = { concat(cols, ",") }
    local rows
    if tb.kind == "entity" then
      rows = { t.customer }
      if t.customer[tb.key] == nil then t.customer[tb.key] = "test-customer" end
    else
      rows = t[tb.name] or {}
      if type(rows) ~= "table" then error({ where = RULES_FILE, message = "case '" .. t.name .. "': " .. tb.name .. " must be a list of rows" }, 0) end
    end
    for _, r in ipairs(rows) do
      local cells = {}
      for k, name in ipairs(cols) do
        local v = r[name]
        if tb.kind == "history" and name == tb.key and v == nil then v = t.customer[decl.entity.key] end
        cells[k] = csv_cell(v)
      end
      lines[#lines + 1] = concat(cells, ",")
    end
    for k in pairs(t) do
      if type(k) == "string" and k ~= "name" and k ~= "customer" and k ~= "expect" and k ~= "as_of" and k ~= "line" and not decl.by_name[k] then
        error({ where = CASES_FILE .. ":" .. t.line, message = "case '" .. t.name .. "': '" .. k .. "' is not a table of the rule file (its tables: " ..
          (function() local l = {} for _, x in ipairs(decl.tables) do l[#l + 1] = x.name end return concat(l, ", ") end)() .. ")" }, 0)
      end
    end
    files[#files + 1] = { file = tb.file, text = concat(lines, "\n") .. "\n" }
  end
  return files, tostring(t.customer[decl.entity.key])
end

local function list_text(l)
  return "{" .. concat(l, ", ") .. "}"
end

-- Compares case i's expectations with a result from M.run(..., {result = true}).
function M.case_check(i, res)
  local t, e = CASES[i], CASES[i].expect
  local bad = {}
  local function cmp(what, want, got)
    if want ~= nil and want ~= got then
      bad[#bad + 1] = fmt("%s: expected %s, got %s", what, tostring(want), tostring(got))
    end
  end
  cmp("score", e.score, res.score)
  cmp("points", e.points, res.points)
  cmp("band", e.band, res.band)
  cmp("stage", e.stage, res.stage)
  if e.rules ~= nil then
    if list_text(e.rules) ~= list_text(res.rules) then
      bad[#bad + 1] = fmt("rules: expected %s, got %s", list_text(e.rules), list_text(res.rules))
    end
  end
  local keys = {}
  for k in pairs(e) do keys[#keys + 1] = k end
  sort(keys)
  for _, k in ipairs(keys) do
    local v = e[k]
    if k ~= "score" and k ~= "points" and k ~= "band" and k ~= "stage" and k ~= "rules" and k ~= "reasons" then
      local got = res.fields[k]
      if type(v) == "string" and type(got) == "number" and parse_date(v) then v = parse_date(v) end
      if got ~= v then bad[#bad + 1] = fmt("%s: expected %s, got %s", k, tostring(v), tostring(got)) end
    end
  end
  local codes = {}
  for code in pairs(e.reasons or {}) do codes[#codes + 1] = code end
  sort(codes)
  for _, code in ipairs(codes) do cmp("reason of " .. code, e.reasons[code], res.reasons[code]) end
  return #bad == 0, concat(bad, "; ")
end

--------------------------------------------------------------------------------------------
-- defector check: every problem of a rule file at once, each "file:line: what — how to fix".

local function distance(a, b)
  local la, lb = #a, #b
  if math.abs(la - lb) > 3 then return 99 end
  local prev = {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    local cur = { [0] = i }
    for j = 1, lb do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[lb]
end

local function suggest(name, candidates)
  local best, bd = nil, 3
  for _, c in ipairs(candidates) do
    local dd = distance(name, c)
    if dd < bd then best, bd = c, dd end
  end
  return best
end

local function line_of(where)
  return tonumber(tostring(where):match(":(%d+)$") or tostring(where):match(":(%d+):")) or 0
end

-- headers: { [file] = { names... } } for the files found in --data (may be empty)
function M.check(source, chunkname, as_of, as_of_text, headers)
  RULES_FILE = chunkname
  SOURCE_LINES = {}
  for line in (source .. "\n"):gmatch("([^\n]*)\n") do SOURCE_LINES[#SOURCE_LINES + 1] = line end
  decl = new_decl()
  decl.as_of = as_of
  FINDINGS = {}
  local findings = FINDINGS
  local function add(where, severity, message, fix)
    findings[#findings + 1] = { where = where, severity = severity, message = message, fix = fix }
  end
  local _, env = build_env(as_of, as_of_text)
  -- lenient: an API call that fails is recorded and the file goes on; an unknown name is
  -- recorded and stands for a function that does nothing
  local lenient = {}
  for k, v in pairs(env) do
    if type(v) == "function" and k ~= "round" and k ~= "ratio" and k ~= "between" then
      lenient[k] = function(...)
        local info = debug.getinfo(2, "l")
        local res = { pcall(v, ...) }
        if res[1] then return unpack(res, 2) end
        local e = res[2]
        if type(e) == "table" then
          if not tostring(e.where):find(":%d+$") and info and info.currentline > 0 then
            e.where = chunkname .. ":" .. info.currentline
          end
          findings[#findings + 1] = e
        else
          local where, msg = tostring(e):match("^([^:]+:%d+): (.*)$")
          add(full_where(where) or chunkname, "error", msg or tostring(e))
        end
        return nil
      end
    else
      lenient[k] = v
    end
  end
  setmetatable(lenient, {
    __index = function(_, k)
      local info = debug.getinfo(2, "Sl")
      local cands = {}
      for name in pairs(lenient) do cands[#cands + 1] = name end
      sort(cands)
      local s = suggest(tostring(k), cands)
      add(chunkname .. ":" .. (info and info.currentline or 0), "error", "unknown name '" .. tostring(k) .. "'",
        s and ("did you mean '" .. s .. "'?") or "see docs/rules.md for the rule API")
      return function() end
    end,
  })
  -- an empty proxy, so that assigning to a name the API has is found too
  local lenient_env = setmetatable({}, {
    __index = lenient,
    __newindex = function(_, k)
      local info = debug.getinfo(2, "Sl")
      add(chunkname .. ":" .. (info and info.currentline or 0), "error", "cannot set global '" .. tostring(k) .. "'",
        rawget(env, k) ~= nil and "it is part of the rule API; use a local of another name" or ("write 'local " .. tostring(k) .. " = ...'"))
    end,
  })
  KNOWN_FILES[chunkname] = true
  local chunk, err = load(source, "@" .. chunkname, "t", lenient_env)
  if not chunk then
    local line, msg = tostring(err):match("^[^:]*:(%d+): (.*)$")
    add(chunkname .. ":" .. (line or 0), "error", "syntax error: " .. (msg or tostring(err)), "fix the Lua syntax on that line")
  else
    local ok, e = pcall(chunk)
    if not ok then
      if type(e) == "table" then findings[#findings + 1] = e
      else
        local where, msg = tostring(e):match("^([^:]+:%d+): (.*)$")
        add(full_where(where) or chunkname, "error", msg or tostring(e), "the rest of the file was not checked")
      end
    end
    pcall(finish_declarations, decl)
    local d = decl
    -- names used as c.name in functions must be declared
    local known = {}
    for name in pairs(d.fields) do known[#known + 1] = name end
    sort(known)
    for ln, text in ipairs(SOURCE_LINES) do
      local code = text:gsub("%-%-.*$", "")
      for name in code:gmatch("%f[%w_]c%.([%a_][%w_]*)") do
        if not d.fields[name] then
          local s = suggest(name, known)
          add(chunkname .. ":" .. ln, "error", "unknown field '" .. name .. "': not a column, feature or value",
            s and ("did you mean '" .. s .. "'?") or "declare it with feature(...) or value(...), or add the column to the table")
        end
      end
      for name in code:gmatch("{([%w_]+)}") do
        if code:find("reason") and not d.fields[name] then
          add(chunkname .. ":" .. ln, "error", "the reason shows {" .. name .. "}, which is not a feature or column",
            (suggest(name, known) and ("did you mean {" .. suggest(name, known) .. "}?")) or "use a declared name")
        end
      end
    end
    -- bands: listed from the highest minimum down; a lowest minimum above 0 leaves a gap
    if d.bands then
      local lowest = d.bands[#d.bands][2]
      if lowest > 0 then
        add(chunkname .. ":" .. (d.bands_line or 0), "warning", fmt("scores below %s fall in no band", number_text(lowest)),
          fmt("add a last band with minimum 0, e.g. { \"low\", 0 }"))
      end
      local seen = {}
      for _, b in ipairs(d.bands) do
        if seen[b[1]] then add(chunkname .. ":" .. (d.bands_line or 0), "error", "band '" .. b[1] .. "' is listed twice", "give each band its own name") end
        seen[b[1]] = true
      end
    end
    -- stages: a stage after one without a condition can never be reached
    if d.stages then
      local catch_all, seen = nil, {}
      for _, st in ipairs(d.stages) do
        if catch_all then
          add(chunkname .. ":" .. (d.stages_line or 0), "error", "stage '" .. st[1] .. "' can never be reached: stage '" .. catch_all .. "' before it has no condition",
            "move '" .. catch_all .. "' to the end of the stages")
        end
        if seen[st[1]] then add(chunkname .. ":" .. (d.stages_line or 0), "error", "stage '" .. st[1] .. "' is listed twice", "give each stage its own name") end
        seen[st[1]] = true
        if st[2] == nil then catch_all = catch_all or st[1] end
      end
      if not catch_all then
        add(chunkname .. ":" .. (d.stages_line or 0), "warning", "customers that meet no stage's condition get no stage", "end the stages with a default, e.g. { \"active\" }")
      end
    end
    -- columns against the files' headers
    for _, t in ipairs(d.tables) do
      local h = headers and headers[t.file]
      if h then
        local have = {}
        for _, name in ipairs(h) do have[name] = true end
        local wanted = {}
        for _, c in ipairs(t.columns) do wanted[#wanted + 1] = c.name end
        if not have[t.key] and t.columns[t.key] == nil then wanted[#wanted + 1] = t.key end
        for _, name in ipairs(wanted) do
          if not have[name] then
            local s = suggest(name, h)
            local at = t.line or 0 -- the line that names the column, if it is near the declaration
            for ln = at, math.min(at + 40, #SOURCE_LINES) do
              if SOURCE_LINES[ln]:find("%f[%w_]" .. name .. "%s*=") then at = ln break end
            end
            add(chunkname .. ":" .. at, "error", fmt("%s has no column '%s'", t.file, name),
              s and fmt("the header has '%s': did you mean it?", s) or ("the header has: " .. concat(h, ", ")))
          end
        end
      elseif headers then
        add(chunkname .. ":" .. (t.line or 0), "warning", fmt("%s is not in the data folder, its columns were not checked", t.file),
          "give --data the folder that holds it")
      end
    end
  end
  FINDINGS = nil
  -- one line per finding, sorted by line
  local seen, out = {}, {}
  for _, f in ipairs(findings) do
    local where = f.where or chunkname
    if not where:find(":%d+") then where = where end
    local text = fmt("%s: %s: %s%s", where, f.severity or "error", f.message, f.fix and (" — " .. f.fix) or "")
    if not seen[text] then
      seen[text] = true
      out[#out + 1] = { line = line_of(where), text = text, error = (f.severity or "error") == "error" }
    end
  end
  sort(out, function(a, b) if a.line ~= b.line then return a.line < b.line end return a.text < b.text end)
  local lines, errors, warnings = {}, 0, 0
  for _, f in ipairs(out) do
    lines[#lines + 1] = f.text
    if f.error then errors = errors + 1 else warnings = warnings + 1 end
  end
  return concat(lines, "\n") .. (#lines > 0 and "\n" or ""), errors, warnings
end

return M
