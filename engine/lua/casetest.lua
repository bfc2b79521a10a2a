-- casetest.lua: rule test cases written by business users (defector test):
--
--   case { "renewal in 60 days", as_of = "2026-11-01",
--          customer = { customer_id = "A1", signup_date = "2024-01-01", renewal_date = "2026-12-31" },
--          events = { { event_date = "2026-10-31", event_type = "login" } },
--          expect = { score = 20, band = "low", stage = "pre_renewal", rules = { "renewal_due" },
--                     last_nps = empty } }
--
-- A case's rows become the input files (the real loader reads them); its expectations are
-- compared with what the same generated code as a run computes. `empty` expects no value (a
-- field set to nil in a Lua table is not there at all, so `= nil` would check nothing and is
-- refused); a column that is not declared in a row is refused too.
local E = require("defector.errors")
local dates = require("defector.dates")
local numbers = require("defector.numbers")
local suggest = require("defector.suggest")
local sandbox = require("defector.sandbox")
local fmt, concat = string.format, table.concat

local M = {}

local EMPTY = setmetatable({}, { __tostring = function() return "empty" end, __metatable = false })
local RESERVED = { name = true, expect = true, as_of = true, line = true, [1] = true }

-- `x = nil` inside an `expect = { ... }` of the test file: {name, line} each
local function nil_expectations(source)
  local toks = require("defector.inline").tokens(source)
  local out, depth, inside = {}, 0, nil
  for k, t in ipairs(toks) do
    if inside then
      if t.text == "{" then depth = depth + 1
      elseif t.text == "}" then depth = depth - 1; if depth == 0 then inside = nil end
      elseif depth == 1 and t.kind == "name" and toks[k + 1] and toks[k + 1].text == "=" and toks[k + 2] and toks[k + 2].text == "nil" then
        out[#out + 1] = { name = t.text, line = t.line }
      end
    elseif t.text == "expect" and toks[k + 1] and toks[k + 1].text == "=" and toks[k + 2] and toks[k + 2].text == "{" then
      inside, depth = true, 0
    end
  end
  return out
end

-- The cases of a test file: {name, as_of, line} each; the cases themselves stay in `state`.
function M.load(state, source, chunkname)
  local job = { file = chunkname, user_files = { [chunkname] = true } }
  local cases, lines = {}, {}
  for line in (source .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local env = setmetatable({
    case = function(t)
      E.check(job, type(t) == "table", "case { \"name\", customer = {...}, expect = {...} } expects a table", 2)
      local name = t[1] or t.name
      E.check(job, type(name) == "string", "a case needs a name as its first item", 2)
      E.check(job, type(t.expect) == "table", "case '" .. name .. "': 'expect' must give the expected score, band, stage, rules or fields", 2)
      E.check(job, t.as_of == nil or dates.parse(t.as_of), "case '" .. name .. "': as_of must be a date \"YYYY-MM-DD\"", 2)
      t.name, t.line = name, E.line(job, 2)
      cases[#cases + 1] = t
    end,
    empty = EMPTY,
    pairs = pairs, ipairs = ipairs, tostring = tostring, tonumber = tonumber, type = type, select = select, unpack = unpack,
    string = sandbox.pick(job, string, "byte char find format gmatch gsub len lower match rep reverse sub upper", "string"),
    table = sandbox.pick(job, table, "concat insert remove sort", "table"),
    math = sandbox.pick(job, math, "abs ceil floor fmod huge max min modf", "math"),
  }, {
    __index = function(_, k) E.raise(job, "unknown name '" .. tostring(k) .. "' in a test file: write case { ... }", 2) end,
    __newindex = function(_, k) E.raise(job, "cannot set global '" .. tostring(k) .. "' in a test file; use local", 2) end,
  })
  E.run_chunk(job, source, chunkname, env)
  for _, bad in ipairs(nil_expectations(source)) do
    local name = "?"
    for _, t in ipairs(cases) do if t.line <= bad.line then name = t.name end end
    E.throw({ where = chunkname .. ":" .. bad.line, message = fmt("case '%s': %s = nil checks nothing (a Lua table does not keep a nil)", name, bad.name),
            fix = fmt("write %s = empty to expect no value", bad.name) })
  end
  state.cases, state.cases_file = cases, chunkname
  local out = {}
  for i, t in ipairs(cases) do out[i] = { name = t.name, as_of = t.as_of or "", line = t.line } end
  return out
end

local function csv_cell(v)
  if v == nil or v == EMPTY then return "" end
  if type(v) == "number" then v = numbers.text(v) end
  v = tostring(v)
  if v:find('[,"\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

local function unknown_columns(state, t, tb, row, where)
  local names = {}
  for _, c in ipairs(tb.columns) do names[#names + 1] = c.name end
  for k in pairs(row) do
    if not tb.column_of[k] and k ~= tb.key then
      local s = suggest.closest(tostring(k), names)
      E.throw({ where = where, message = fmt("case '%s': '%s' is not a column of %s (its columns: %s)", t.name, tostring(k), tb.name, concat(names, ", ")),
              fix = s and fmt("did you mean '%s'?", s) or "declare it in the rule file, or remove it from the case" })
    end
  end
end

local function rows_of(state, job, t, tb)
  local where = state.cases_file .. ":" .. t.line
  if tb.kind == "entity" then
    local row = t[tb.name] or t.customer or t.entity
    if type(row) ~= "table" then
      E.throw({ where = where, message = fmt("case '%s': give the entity's columns as %s = { ... }", t.name, tb.name) })
    end
    return { row }
  end
  local rows = t[tb.name] or {}
  if type(rows) ~= "table" then E.throw({ where = where, message = "case '" .. t.name .. "': " .. tb.name .. " must be a list of rows" }) end
  return rows
end

-- The CSV text of each input file for case i: the declared columns, the case's values.
function M.files(state, job, i)
  local t = state.cases[i]
  local where = state.cases_file .. ":" .. t.line
  for k in pairs(t) do
    if not RESERVED[k] and k ~= "customer" and k ~= "entity" and k ~= "last" and not job.by_name[k] then
      local l = {}
      for _, x in ipairs(job.tables) do l[#l + 1] = x.name end
      E.throw({ where = where, message = "case '" .. t.name .. "': '" .. tostring(k) .. "' is not a table of the rule file (its tables: " .. concat(l, ", ") .. ")" })
    end
  end
  local erow = rows_of(state, job, t, job.entity)[1]
  if erow[job.entity.key] == nil then erow[job.entity.key] = "test-entity" end
  local files = {}
  for _, tb in ipairs(job.tables) do
    local cols = {}
    for _, c in ipairs(tb.columns) do cols[#cols + 1] = c.name end
    if tb.kind == "history" and not tb.columns[tb.key] then cols[#cols + 1] = tb.key end
    local lines = { concat(cols, ",") }
    for _, r in ipairs(rows_of(state, job, t, tb)) do
      unknown_columns(state, t, tb, r, where)
      local cells = {}
      for k, name in ipairs(cols) do
        local v = r[name]
        if tb.kind == "history" and name == tb.key and v == nil then v = erow[job.entity.key] end
        cells[k] = csv_cell(v)
      end
      lines[#lines + 1] = concat(cells, ",")
    end
    -- entity { from = h }: its customers are read from h's file, written for h
    if not tb.from then files[#files + 1] = { file = tb.file:gsub("[%*%?]", "1"), text = concat(lines, "\n") .. "\n" } end
  end
  return files, tostring(erow[job.entity.key])
end

local function list_text(l) return "{" .. concat(l, ", ") .. "}" end

local function show(v)
  if v == EMPTY or v == nil then return "empty" end
  if type(v) == "string" then return fmt("%q", v) end
  return tostring(v)
end

-- Compares case i's expectations with a result (explain.result): ok, "what differs".
function M.check(state, job, i, res)
  local t, e = state.cases[i], state.cases[i].expect
  local bad = {}
  local function cmp(what, want, got)
    if want == nil then return end
    if want == EMPTY then want = nil end
    if type(want) == "string" and type(got) == "number" and dates.parse(want) then want = dates.parse(want) end
    if want ~= got then bad[#bad + 1] = fmt("%s: expected %s, got %s", what, show(want), show(got)) end
  end
  cmp("score", e.score, res.score)
  cmp("points", e.points, res.points)
  cmp("band", e.band, res.band)
  cmp("stage", e.stage, res.stage)
  if e.rules ~= nil and list_text(e.rules) ~= list_text(res.rules) then
    bad[#bad + 1] = fmt("rules: expected %s, got %s", list_text(e.rules), list_text(res.rules))
  end
  local keys = {}
  for k in pairs(e) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    if k ~= "score" and k ~= "points" and k ~= "band" and k ~= "stage" and k ~= "rules" and k ~= "reasons" then
      if not job.fields[k] then
        local known = {}
        for n in pairs(job.fields) do known[#known + 1] = n end
        table.sort(known)
        local s = suggest.closest(tostring(k), known)
        E.throw({ where = state.cases_file .. ":" .. t.line,
                message = fmt("case '%s': expect names '%s', which is not a feature, value or column of the rule file", t.name, tostring(k)),
                fix = s and fmt("did you mean '%s'?", s) or nil })
      end
      cmp(k, e[k], res.fields[k])
    end
  end
  local codes = {}
  for code in pairs(e.reasons or {}) do codes[#codes + 1] = code end
  table.sort(codes)
  for _, code in ipairs(codes) do cmp("reason of " .. code, e.reasons[code], res.reasons[code]) end
  return #bad == 0, concat(bad, "; ")
end

return M
