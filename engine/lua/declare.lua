-- declare.lua: the declarations of a rule file that are not outputs: input tables and their
-- column types, features, rules, score, bands, stages and values. Each API function checks its
-- arguments (a mistake is raised with the rule file's line and how to fix it) and records the
-- declaration in the job; nothing is evaluated here.
local E = require("defector.errors")
local H = require("defector.handles")
local fmt, concat, sort = string.format, table.concat, table.sort

local M = {}

local TYPES = { int = true, decimal = true, date = true, category = true, text = true, datetime = true }
M.TYPES = TYPES

local function check(job, cond, msg, level, fix) return E.check(job, cond, msg, (level or 2) + 1, fix) end

-- A name a rule may read (c.name): declared once, as a column, a feature or a value.
function M.field(job, name, kind, level)
  check(job, type(name) == "string" and name:match("^[%a_][%w_]*$"),
    "a name must be a word of letters, digits and _ (got " .. tostring(name) .. ")", level + 1)
  check(job, not job.fields[name], fmt("'%s' is declared twice (as a %s and as a %s); use another name",
    name, job.fields[name] or "", kind), level + 1)
  job.fields[name] = kind
  job.field_line[name] = E.line(job, level + 1)
end

-- category { "purchase", "renewal", ... }: a category column whose values are known. A value
-- outside the list in the data is bad input; a filter on another value is a mistake.
local function api_category(job, values)
  check(job, type(values) == "table" and #values > 0,
    "category { \"a\", \"b\", ... } lists the values the column may hold", 2)
  local set, list = {}, {}
  for i, v in ipairs(values) do
    check(job, type(v) == "string", fmt("category: value %d must be text, got %s", i, tostring(v)), 2)
    check(job, not set[v], fmt("category: \"%s\" is listed twice", v), 2)
    set[v] = true
    list[i] = v
  end
  return H.seal(job, { type = "category", values = list, set = set }, H.TYPE, "a column type is read-only", "category {...}")
end

local function column_type(job, kind, cname, spec, level)
  local ty = H.unseal(job, spec, H.TYPE)
  if ty then return ty.type, ty.values, ty.set end
  check(job, TYPES[spec], fmt("%s: column '%s' has type %s; use one of int, decimal, date, datetime, category, text, or category { ... }",
    kind, tostring(cname), tostring(spec)), level + 1)
  return spec
end

-- The table name a file name gives: "customers.csv.gz" -> customers, an export in parts
-- "events-*.csv.gz" -> events, "online-retail-all.csv.gz" -> online_retail_all,
-- "Telco-Customer-Churn.csv" -> Telco_Customer_Churn (every byte that cannot be in a name
-- becomes _; a leading digit gets a _ before it).
function M.name_from_file(file)
  local base = file:gsub("[-_]?[%*%?].*$", "")
  repeat
    local before = base
    base = base:gsub("%.[Gg][Zz]$", ""):gsub("%.[CcTt][Ss][Vv]$", ""):gsub("%.[Tt][Xx][Tt]$", "")
  until base == before
  base = base:gsub("%.", "_"):gsub("[^%w_]", "_"):gsub("__+", "_"):gsub("^_+", ""):gsub("_+$", "")
  if base:match("^%d") then base = "_" .. base end
  return base
end

local function table_name(job, kind, spec, level)
  local name = spec.name or M.name_from_file(spec.file)
  check(job, name:match("^[%a_][%w_]*$"),
    fmt("%s: no table name can be made from the file name \"%s\"; add name = \"...\"", kind, spec.file), level + 1)
  check(job, not job.by_name[name], "a table named '" .. name .. "' is declared twice", level + 1)
  return name
end

local function check_spec(job, kind, spec, level)
  check(job, type(spec) == "table", kind .. " { file = ..., key = ..., columns = { ... } } expects a table", level + 1)
  check(job, type(spec.file) == "string", kind .. ": 'file' must name the input file, e.g. file = \"customers.csv.gz\"", level + 1)
  check(job, spec.file:match("^[%w_%-%.%*%?]+$") and not spec.file:match("^%."),
    kind .. ": 'file' must be a file name in the --data folder, without a folder or '..' (got \"" .. spec.file ..
    "\"), e.g. file = \"customers.csv.gz\" or \"events-*.csv.gz\"", level + 1)
  check(job, spec.name == nil or (type(spec.name) == "string" and spec.name:match("^[%a_][%w_]*$")),
    kind .. ": 'name' must be a word of letters, digits and _", level + 1)
  check(job, type(spec.key) == "string", kind .. ": 'key' must name the key column, e.g. key = \"customer_id\"", level + 1)
  check(job, type(spec.columns) == "table", kind .. ": 'columns' must list the columns to read with their types", level + 1)
  check(job, spec.required == nil or type(spec.required) == "table",
    kind .. ": 'required' must list column names, e.g. required = { \"signup_date\" }", level + 1)
end

-- The input's dialect (docs/rules.md, "Reading exports from Excel and other systems"): each
-- option checked here, so that C gets only values it can read.
local DELIMS = { [","] = true, [";"] = true, ["\t"] = true, ["|"] = true, spaces = true }
local ENCODINGS = { ["utf-8"] = true, ["utf8"] = true, ["windows-1252"] = true, ["cp1252"] = true,
                    ["latin-1"] = true, ["latin1"] = true, ["iso-8859-1"] = true }
local THOUSANDS = { ["."] = true, [","] = true, [" "] = true, ["'"] = true }

local function check_format(job, kind, f, level)
  check(job, type(f) == "string", kind .. ": 'date_format' must be text such as \"%d/%m/%Y\"", level + 1)
  local bad
  local seen = {}
  for c in f:gmatch("%%(.?)") do
    if c == "" then bad = "it ends in a lone %"
    elseif not ("dmYHMS%"):find(c, 1, true) then bad = "it uses %" .. c .. ", and only %d %m %Y %H %M %S (and %% for a %) are read"
    elseif c ~= "%" then
      if seen[c] then bad = "it names %" .. c .. " twice" end
      seen[c] = true
    end
  end
  if not bad and not (seen.d and seen.m and seen.Y) then bad = "it must hold the day %d, the month %m and the year %Y" end
  check(job, not bad, fmt("%s: date_format \"%s\": %s; e.g. \"%%d/%%m/%%Y\", \"%%m/%%d/%%Y %%H:%%M\" or \"%%Y%%m%%d\"",
    kind, f, tostring(bad)), level + 1)
end

local function dialect(job, kind, spec, level)
  local d = {}
  if spec.delimiter ~= nil then
    check(job, DELIMS[spec.delimiter], kind .. ": 'delimiter' must be one of \",\" \";\" \"\\t\" (tab) \"|\" or \"spaces\" " ..
      "(columns aligned with spaces) (got " .. tostring(spec.delimiter) .. ")", level + 1)
    d.delimiter = spec.delimiter
  end
  if spec.decimal ~= nil then
    check(job, spec.decimal == "." or spec.decimal == ",", kind .. ": 'decimal' must be \".\" or \",\" (a decimal comma)", level + 1)
    d.decimal = spec.decimal
  end
  if spec.thousands ~= nil then
    check(job, THOUSANDS[spec.thousands], kind .. ": 'thousands' must be one of \".\" \",\" \" \" \"'\"", level + 1)
    check(job, spec.thousands ~= (spec.decimal or "."), kind .. ": 'thousands' and 'decimal' must differ", level + 1)
    check(job, spec.thousands ~= (spec.delimiter == "spaces" and " " or spec.delimiter or ","), kind .. ": 'thousands' and 'delimiter' must differ (a quoted 1,234 is fine with thousands = \",\" and delimiter = \";\")", level + 1)
    d.thousands = spec.thousands
  end
  check(job, (spec.decimal or ".") ~= (spec.delimiter or ","),
    kind .. ": 'decimal' and 'delimiter' are both \",\"; an export with a decimal comma is usually separated by \";\": declare delimiter = \";\"", level + 1)
  if spec.date_format ~= nil then
    check_format(job, kind, spec.date_format, level + 1)
    check(job, spec.delimiter ~= "spaces" or not spec.date_format:find("[ \t]"),
      kind .. ": with delimiter = \"spaces\" a date cannot hold a space: its time of day would be another field", level + 1)
    d.date_format = spec.date_format
  end
  if spec.blank_is_empty ~= nil then
    check(job, type(spec.blank_is_empty) == "boolean", kind .. ": 'blank_is_empty' must be true or false", level + 1)
    d.blank_is_empty = spec.blank_is_empty
  end
  if spec.encoding ~= nil then
    check(job, type(spec.encoding) == "string" and ENCODINGS[spec.encoding:lower()],
      kind .. ": 'encoding' must be \"utf-8\", \"windows-1252\" or \"latin-1\" (got " .. tostring(spec.encoding) .. ")", level + 1)
    d.encoding = spec.encoding:lower()
  end
  return d
end

local KNOWN = { file = true, name = true, key = true, date = true, columns = true, required = true, delimiter = true,
                decimal = true, thousands = true, date_format = true, blank_is_empty = true, encoding = true,
                ends = true }

local function check_options(job, kind, spec, level)
  for k in pairs(spec) do
    check(job, KNOWN[k], fmt("%s: unknown option '%s'; the options are file, name, key, date, columns, required, " ..
      "delimiter, decimal, thousands, date_format, blank_is_empty, encoding, ends", kind, tostring(k)), level + 1)
  end
end

local function add_columns(job, kind, t, spec, level)
  local names = {}
  for cname in pairs(spec.columns) do
    check(job, type(cname) == "string", kind .. ": column names must be strings", level + 1)
    names[#names + 1] = cname
  end
  sort(names)
  for _, cname in ipairs(names) do
    local ctype, values, set = column_type(job, kind, cname, spec.columns[cname], level + 1)
    check(job, ctype ~= "datetime" or kind == "history", fmt("%s: column '%s': a datetime column can only be in a history (for time_to_next)", kind, cname), level + 1)
    t.columns[#t.columns + 1] = { name = cname, type = ctype, values = values, set = set }
    t.columns[cname] = ctype
    t.column_of[cname] = t.columns[#t.columns]
  end
  -- required = { "signup_date", ... }: a row with one of these empty is bad input
  for _, cname in ipairs(spec.required or {}) do
    local c = type(cname) == "string" and t.column_of[cname]
    if c then c.required = true
    else -- the table is still declared: check goes on without a cascade of findings
      E.record(job, E.at(job, t.line), fmt("%s: required column '%s' is not one of its columns", kind, tostring(cname)),
        "declare it in columns, or remove it from required")
    end
  end
end

local function declare_table(job, kind, spec, level)
  local from -- entity { from = lines }: the keys of a history (transactions.lua)
  if kind == "entity" and type(spec) == "table" and spec.from ~= nil then
    spec, from = require("defector.transactions").entity_spec(job, spec, level + 1)
  end
  check_spec(job, kind, spec, level + 1)
  check_options(job, kind, spec, level + 1)
  local t = { kind = kind, name = table_name(job, kind, spec, level + 1), file = spec.file, key = spec.key,
              date = spec.date, ends = spec.ends, columns = {}, column_of = {}, line = E.line(job, level + 1),
              dialect = dialect(job, kind, spec, level + 1) }
  add_columns(job, kind, t, spec, level + 1)
  t.from = from
  if kind == "entity" then
    check(job, job.entity == nil, "only one entity table can be declared", level + 1)
    if not t.columns[spec.key] then
      t.columns[#t.columns + 1] = { name = spec.key, type = "text" }
      t.columns[spec.key] = "text"
      t.column_of[spec.key] = t.columns[#t.columns]
    end
    check(job, t.columns[spec.key] == "text", "entity: the key column must be text", level + 1)
    job.entity = t
    for _, c in ipairs(t.columns) do M.field(job, c.name, "column", level + 1) end
  else
    check(job, spec.date == nil or t.columns[spec.date] == "date",
      "history: 'date' must name one of its columns of type date", level + 1)
    -- an interval table (products, contracts): date is the start, ends the end or expiry (intervals.lua)
    check(job, spec.ends == nil or (t.columns[spec.ends] == "date" and spec.date ~= nil and spec.ends ~= spec.date),
      "history: 'ends' must name a date column other than 'date' (the start), e.g. date = \"start_date\", ends = \"end_date\"", level + 1)
  end
  job.tables[#job.tables + 1] = t
  job.by_name[t.name] = t
  return H.seal(job, t, H.TABLE, "table declarations are read-only", kind .. " " .. t.name)
end

local function api_feature(job, name, def)
  M.field(job, name, "feature", 2)
  if type(def) == "table" then def = H.unseal(job, def, H.AGG) or def end
  check(job, type(def) == "function" or H.is(def, H.AGG),
    "feature '" .. tostring(name) .. "': give a function(c) ... end or a history aggregate such as count(events, {...})", 2)
  job.features[#job.features + 1] = { name = name, def = def, line = E.line(job, 2) }
end

-- A reason template "renewal due in {days_to_renewal} days" split once into its parts:
-- odd entries are literal text, even entries field names.
local function template(text)
  local parts, pos = {}, 1
  for a, name, b in text:gmatch("(){([%w_]+)}()") do
    parts[#parts + 1] = text:sub(pos, a - 1)
    parts[#parts + 1] = name
    pos = b
  end
  parts[#parts + 1] = text:sub(pos)
  return parts
end

local function api_rule(job, spec)
  check(job, type(spec) == "table", "rule { \"code\", points = N, when = function(c) ... end, reason = \"...\" }", 2)
  local code = spec[1] or spec.code
  check(job, type(code) == "string" and code:match("^[%w_%-%.]+$"), "a rule needs a code: a word like \"renewal_due\" as its first item", 2)
  check(job, not job.rule_codes[code], "rule code '" .. code .. "' is used twice; codes must be unique", 2)
  check(job, type(spec.points) == "number", "rule " .. code .. ": points must be a number", 2)
  check(job, type(spec.when) == "function", "rule " .. code .. ": 'when' must be a function(c) returning true when the rule fires", 2)
  check(job, spec.reason == nil or type(spec.reason) == "string" or type(spec.reason) == "function",
    "rule " .. code .. ": reason must be text (may hold {feature} placeholders) or a function(c)", 2)
  -- an action (call, send an offer, visit) and its due time in days: actions.lua
  check(job, spec.action == nil or (type(spec.action) == "string" and spec.action ~= ""),
    "rule " .. code .. ": action must be a name such as \"call\"", 2)
  check(job, spec.due == nil or (type(spec.due) == "number" and spec.due >= 0 and spec.due % 1 == 0 and spec.action ~= nil),
    "rule " .. code .. ": due must be a whole number of days after the as-of date, with an action (action = \"call\", due = 7)", 2)
  local r = { code = code, points = spec.points, when = spec.when, reason = spec.reason or code,
              action = spec.action, due = spec.due, index = #job.rules + 1, line = E.line(job, 2) }
  if type(r.reason) == "string" then r.parts = template(r.reason) end
  job.rules[#job.rules + 1] = r
  job.rule_codes[code] = r
end

local function api_score(job, fn)
  check(job, type(fn) == "function", "score(function(c) return math.min(100, c.points) end) expects a function", 2)
  check(job, job.score == nil, "score is declared twice", 2)
  job.score = fn
  job.score_line = E.line(job, 2)
end

local function api_bands(job, list)
  check(job, type(list) == "table" and #list > 0, "bands { {\"high\", 60}, {\"medium\", 30}, {\"low\", 0} } expects a list", 2)
  check(job, job.bands == nil, "bands are declared twice", 2)
  local prev = math.huge
  for i, b in ipairs(list) do
    check(job, type(b) == "table" and type(b[1]) == "string" and type(b[2]) == "number",
      "band " .. i .. ": write it as {\"name\", minimum score}", 2)
    check(job, b[2] < prev, "bands must be listed from the highest minimum score to the lowest", 2)
    prev = b[2]
  end
  local copy = {}
  for i, b in ipairs(list) do copy[i] = { b[1], b[2] } end
  job.bands = copy
  job.bands_line = E.line(job, 2)
end

local function api_stages(job, list)
  check(job, type(list) == "table" and #list > 0, "stages { {\"name\", function(c) ... end}, ..., {\"default\"} } expects a list", 2)
  check(job, job.stages == nil, "stages are declared twice", 2)
  local copy = {}
  for i, s in ipairs(list) do
    check(job, type(s) == "table" and type(s[1]) == "string", "stage " .. i .. ": write it as {\"name\", function(c) ... end}", 2)
    check(job, s[2] == nil or type(s[2]) == "function", "stage " .. s[1] .. ": the condition must be a function(c)", 2)
    copy[i] = { s[1], s[2] }
  end
  job.stages = copy
  job.stages_line = E.line(job, 2)
end

local function api_value(job, name, fn)
  M.field(job, name, "value", 2)
  check(job, type(fn) == "function", "value '" .. name .. "' expects a function(c)", 2)
  job.values[#job.values + 1] = { name = name, fn = fn, line = E.line(job, 2) }
end

-- The API functions of this module, bound to the job.
function M.api(job)
  return {
    entity = function(spec) return declare_table(job, "entity", spec, 2) end,
    history = function(spec) return declare_table(job, "history", spec, 2) end,
    category = function(values) return api_category(job, values) end,
    feature = function(name, def) return api_feature(job, name, def) end,
    rule = function(spec) return api_rule(job, spec) end,
    score = function(fn) return api_score(job, fn) end,
    bands = function(list) return api_bands(job, list) end,
    stages = function(list) return api_stages(job, list) end,
    value = function(name, fn) return api_value(job, name, fn) end,
  }
end

-- The tables and columns to load, for C (luabridge.c reads it).
function M.plan(job)
  local tables = {}
  for i, t in ipairs(job.tables) do
    local cols = {}
    for j, c in ipairs(t.columns) do
      -- a datetime is loaded as its text and read by sequence.lua
      cols[j] = { name = c.name, type = c.type == "datetime" and "text" or c.type, required = c.required, values = c.values }
    end
    local date = t.date
    if t.from and t.from.date then -- entity { from = h }: the keys of rows on or before the as-of date
      cols[#cols + 1], date = { name = t.from.date, type = "date" }, t.from.date
    end
    tables[i] = { name = t.name, file = t.file, kind = t.kind, key = t.key, date = date, columns = cols,
                  dialect = t.dialect, interval = t.ends ~= nil, empty_keys = (t.from or t.empty_keys) and true or nil }
  end
  return { tables = tables }
end

M.template = template
return M
