-- scan.lua: the history aggregates of a rule file as C scans (engine/scan.c). For each history
-- table the features that aggregate it become one df_scan_spec: its columns, one aggregate
-- per feature, and the tests of each aggregate's filter. Filters on a category column are
-- decided here once per distinct value (a table by code); a function filter on another column
-- is called from here only on the rows that pass the aggregate's other tests (C lists them),
-- and its answers go to C as a mask. Block by block, C fills a result array that compile.lua's
-- generated code reads (result_kind says how).
local ffi = require("ffi")
local bind = require("defector.bind")
local numbers = require("defector.numbers")
local H = require("defector.handles")
local E = require("defector.errors")
local intervals = require("defector.intervals")
local sequence = require("defector.sequence")
local fmt, concat = string.format, table.concat

local M = {}

M.BLOCK = 256 -- entities per scan block

local KIND = { count = 0, any = 1, sum = 2, min = 3, max = 4, latest = 5, earliest = 6,
               count_distinct = 7, most_frequent = 8, active_months = 9 }
local CTYPE = { int = 0, decimal = 1, date = 2, category = 3, text = 4 }
local OP = { set = 0, mask = 1, present = 2, empty = 3, [">"] = 4, [">="] = 5, ["<"] = 6, ["<="] = 7, ["in"] = 8, rel = 9 }
local TIE = { lowest = 1, highest = 2 }

-- x in micro-units as an int64 when x has at most 6 decimals, else nil
local function micro(x)
  if x ~= x or x >= 9223372036854.775 or x <= -9223372036854.775 then return nil end -- past an int64 of micro-units
  local s = fmt("%.6f", x)
  if tonumber(s) ~= x then return nil end
  local sign, int, frac = s:match("^(%-?)(%d+)%.(%d+)$")
  local v = numbers.I64(tonumber(int)) * 1000000 + tonumber(frac)
  return sign == "-" and -v or v
end
M.micro = micro

-- A number literal as the raw value of a column of type ty: int64, or nil when it cannot be one.
local function raw(ty, x)
  if ty == "decimal" then return micro(x) end
  if x ~= math.floor(x) or math.abs(x) >= 2 ^ 63 then return nil end
  return numbers.I64(x)
end

local function compare(a, op, b)
  if op == ">" then return a > b elseif op == ">=" then return a >= b elseif op == "<" then return a < b end
  return a <= b
end

-- Category filters: a table by code.
local function category_set(job, S, feature, v, e)
  local set = ffi.new("uint8_t[?]", v.ncodes)
  local pass
  if e.kind == "in" then
    local want = {}
    for _, x in ipairs(e.values) do
      want[x] = true
      local col = S.t.column_of[e.col]
      if v.code_of[x] == nil and not col.set then
        local near = require("defector.suggest").closest(x, v.dict_list or (function()
          local l = {}
          for code = 1, v.ncodes - 1 do l[#l + 1] = v.dict[code] end
          v.dict_list = l
          return l end)())
        job.warnings[#job.warnings + 1] = { where = E.at(job, feature.line),
          message = fmt("feature %s: %s = \"%s\" matches no row of %s: no %s there has that value", feature.name, e.col, x, S.t.file, e.col),
          fix = near and fmt("did you mean \"%s\"? (or declare the column's values with category { ... })", near)
            or "check the spelling against the data, or declare the column's values with category { ... }" }
      end
    end
    pass = function(text) return want[text] == true end
  elseif e.kind == "present" then pass = function(text) return text ~= "" end
  elseif e.kind == "empty" then pass = function(text) return text == "" end
  elseif e.kind == "cmp" then pass = function(text) return text ~= "" and compare(text, e.op, e.value) end
  else
    pass = function(text)
      local ok, r = pcall(e.fn, text)
      if not ok then
        local obj = E.from_lua(job, r)
        E.throw({ where = obj.where .. ": the filter of feature " .. feature.name, message = fmt("%s (for %s \"%s\")", obj.message, e.col, text) })
      end
      return r and true or false
    end
  end
  for code = 0, v.ncodes - 1 do if pass(v.dict[code]) then set[code] = 1 end end
  S.keep[#S.keep + 1] = set
  return { op = OP.set, set = set }
end

-- Filters on int, decimal, date and text columns.
local function value_test(S, ty, e)
  if e.kind == "present" or e.kind == "empty" then return { op = OP[e.kind] } end
  if ty == "text" then
    local list = e.kind == "in" and e.values or { e.value }
    local texts, lens = ffi.new("const char*[?]", #list), ffi.new("int32_t[?]", #list)
    for i, x in ipairs(list) do texts[i - 1], lens[i - 1] = x, #x; S.keep[#S.keep + 1] = x end
    S.keep[#S.keep + 1] = texts; S.keep[#S.keep + 1] = lens
    return { op = OP[e.kind == "in" and "in" or e.op], texts = texts, lens = lens, n = #list }
  end
  if e.kind == "in" then
    local l = {}
    for _, x in ipairs(e.values) do l[#l + 1] = raw(ty, x) end
    local arr = ffi.new("int64_t[?]", math.max(#l, 1))
    for i, x in ipairs(l) do arr[i - 1] = x end
    S.keep[#S.keep + 1] = arr
    return { op = OP["in"], list = arr, n = #l }
  end
  local r = raw(ty, e.value)
  if r then return { op = OP[e.op], exact = 1, i = r } end
  return { op = OP[e.op], exact = 0, x = ty == "decimal" and e.value * 1e6 or e.value }
end

-- A function filter on a non-category column: called from Lua on the candidate rows.
local function mask_test(S, v, e, feature)
  local read = bind.reader(v)
  S.fns[#S.fns + 1] = { fn = e.fn, read = read, feature = feature, col = e.col }
  return { op = OP.mask, fn = #S.fns - 1 }
end

local function tests_of(job, S, k, f)
  local a, t = f.def, S.t
  local out = {}
  local function add(test, colname) test.agg, test.col = k, S.col(colname); out[#out + 1] = test end
  if a.window then add({ op = OP[">"], exact = 1, i = numbers.I64(job.as_of - a.window) }, t.date) end
  if a.rel then add({ op = OP.rel, base = S.anchor(a.rel.field), lo_days = a.rel.lo, hi_days = a.rel.hi }, t.date) end
  -- backtest: the rows after the as-of date are loaded (for the outcome): each aggregate reads
  -- only the rows dated on or before it
  if job.bound_dates and t.date then add({ op = OP["<="], exact = 1, i = numbers.I64(job.as_of) }, t.date) end
  if a.column and a.kind ~= "count" and a.kind ~= "any" then add({ op = OP.present }, a.column) end
  if a.column2 then add({ op = OP.present }, a.column2) end
  if a.kind == "latest" or a.kind == "earliest" then add({ op = OP.present }, t.date) end
  intervals.tests(job, a, function(test, colname) test.op = OP[test.op]; add(test, colname) end,
    function(fn, colname) add(mask_test(S, S.views[colname], { fn = fn, col = colname }, f), colname) end)
  for _, e in ipairs(a.filters) do
    local v = S.views[e.col]
    if v.type == "category" then add(category_set(job, S, f, v, e), e.col)
    elseif e.kind == "fn" then add(mask_test(S, v, e, f), e.col)
    else add(value_test(S, v.type, e), e.col) end
  end
  return out
end

local function fill_spec(S, tests)
  local cols = ffi.new("df_scan_col[?]", #S.cols)
  for i, v in ipairs(S.cols) do
    local c = cols[i - 1]
    c.type = CTYPE[v.type]
    if v.type == "text" then c.data, c.offs = v.arena, v.offs else c.data = v.ptr end
    if v.type == "category" then
      local order = {}
      for code = 0, v.ncodes - 1 do order[#order + 1] = code end
      table.sort(order, function(x, y) return v.dict[x] < v.dict[y] end)
      local rank = ffi.new("int32_t[?]", v.ncodes)
      for r, code in ipairs(order) do rank[code] = r end
      c.rank, c.ncodes = rank, v.ncodes
      S.keep[#S.keep + 1] = rank
    end
  end
  local aggs = ffi.new("df_scan_agg[?]", #S.feats)
  for k, f in ipairs(S.feats) do
    local a = f.def
    aggs[k - 1].kind, aggs[k - 1].tie = KIND[a.kind], TIE[a.tie] or 0
    aggs[k - 1].col = a.column and S.col(a.column) or -1
    aggs[k - 1].col2 = a.column2 and S.col(a.column2) or -1
  end
  local tarr = ffi.new("df_scan_test[?]", math.max(#tests, 1))
  for i, t in ipairs(tests) do
    local d = tarr[i - 1]
    for key, val in pairs(t) do d[key] = val end
  end
  S.keep[#S.keep + 1] = cols; S.keep[#S.keep + 1] = aggs; S.keep[#S.keep + 1] = tarr
  local spec = ffi.new("df_scan_spec")
  spec.offsets, spec.date_col = S.offsets, S.t.date and S.colidx[S.t.date] or -1
  spec.ncols, spec.naggs, spec.ntests, spec.nmasks = #S.cols, #S.feats, #tests, #S.fns
  spec.cols, spec.aggs, spec.tests = cols, aggs, tarr
  S.keep[#S.keep + 1] = spec
  return spec
end

-- The dates a days_from window counts from, per entity of the block (transactions.lua): an
-- entity column, or the result of an aggregate of an earlier scan of the same block.
local function fill_anchors(job, S, lo, hi)
  for _, A in ipairs(S.anchor_list) do
    local arr = A.arr
    if A.ptr then
      for i = 0, hi - lo - 1 do arr[i] = A.ptr[lo + i] end
    else
      local res, na, k = A.scan.res, #A.scan.feats, A.k - 1
      for i = 0, hi - lo - 1 do
        local x = res[i * na + k]
        arr[i] = x == x and x or bind.NA_DATE
      end
    end
  end
end

-- Where the result of feature f is: its scan and index.
local function result_of(job, f)
  for _, S in ipairs(job.scans) do
    for k, g in ipairs(S.feats) do if g == f then return S, k end end
  end
end

-- A scan of history t's aggregates feats, before its start: its columns and tests.
local function new_scan(job, t, feats)
  local tr = require("defector.transactions")
  local views = job.views[t.name]
  local S = { t = t, feats = feats, views = views, offsets = views.offsets, cols = {}, colidx = {}, fns = {}, keep = {},
              anchors = {}, anchor_list = {} }
  function S.anchor(field)
    local A = S.anchors[field]
    if not A then
      A = { arr = ffi.new("int32_t[?]", M.BLOCK) }
      local f = tr.anchor_of(job, t, field)
      if f == "entity" then A.ptr = job.views[job.entity.name][field].ptr else A.scan, A.k = result_of(job, f) end
      assert(A.ptr or A.scan, "internal: the date of a days_from window is not computed first")
      S.anchors[field] = A
      S.anchor_list[#S.anchor_list + 1] = A
    end
    return A.arr
  end
  function S.col(name)
    if not S.colidx[name] then S.cols[#S.cols + 1] = views[name]; S.colidx[name] = #S.cols - 1 end
    return S.colidx[name]
  end
  if t.date then S.col(t.date) end
  local tests = {}
  for k, f in ipairs(feats) do
    for _, test in ipairs(tests_of(job, S, k - 1, f)) do tests[#tests + 1] = test end
  end
  return S, tests
end

-- Starts scan S in C (its handle) with its tests.
local function start(S, api, tests)
  local err = ffi.new("char[256]")
  S.handle = api.scan_new(fill_spec(S, tests), err, 256)
  if S.handle == nil then
    local why = ffi.string(err)
    if why:find("^out of memory") then error("out of memory scanning a history", 0) end -- the run's, exit 7
    error("internal: " .. why)
  end
  ffi.gc(S.handle, api.scan_free)
  S.api = api
end

-- The rows that pass the filter of aggregate feature f (models.lua): a scan of f alone with a
-- function filter on the date that C never calls: its candidates are the rows the filter keeps.
-- S.rows(lo, hi, buf) writes those of entities lo .. hi - 1 (offsets from the first row of lo)
-- and returns how many. f's filter has no function filter of its own.
function M.filter_rows(job, api, f)
  local S, tests = new_scan(job, f.def.t, { f })
  S.fns[1] = {}
  tests[#tests + 1] = { agg = 0, op = OP.mask, fn = 0, col = S.col(f.def.t.date) }
  start(S, api, tests)
  function S.rows(lo, hi, buf)
    local n = tonumber(api.scan_candidates(S.handle, lo, hi, 0, buf))
    if n < 0 then error("out of memory scanning a history", 0) end
    return n
  end
  return S
end

-- The scan of history t's aggregates feats.
local function build_scan(job, api, t, feats)
  local S, tests = new_scan(job, t, feats)
  start(S, api, tests)
  S.res = ffi.new("double[?]", M.BLOCK * #feats)
  S.bad = ffi.new("int32_t[2]")
  S.masks = ffi.new("const uint8_t*[?]", math.max(#S.fns, 1))
  S.cap = 0
  return S
end

-- One scan per history table that has aggregates: job.scans; a second one after it for the
-- aggregates with a days_from window, whose dates come from the first (or the entity).
function M.build(job, api)
  job.scans = {}
  for _, t in ipairs(job.tables) do
    local plain, rel, seqs = {}, {}, {}
    for _, f in ipairs(job.features) do
      if H.is(f.def, H.AGG) and f.def.t == t then
        local l = f.def.kind == "sequence" and seqs or f.def.rel and rel or plain
        l[#l + 1] = f
      end
    end
    if #seqs > 0 then job.scans[#job.scans + 1] = sequence.build(job, t, seqs) end -- computed in Lua
    for _, feats in ipairs({ plain, rel }) do
      if #feats > 0 then job.scans[#job.scans + 1] = build_scan(job, api, t, feats) end
    end
  end
  return job.scans
end

-- The answers of the function filters for the rows of entities lo .. hi - 1.
local function fill_masks(job, S, lo, hi)
  local base = tonumber(S.offsets[lo])
  local n = tonumber(S.offsets[hi]) - base
  if n > S.cap or not S.maskbuf then
    S.cap = math.max(n, 2 * S.cap, 4096)
    S.cand = ffi.new("uint32_t[?]", S.cap)
    S.maskbuf = {}
    for m = 1, #S.fns do S.maskbuf[m] = ffi.new("uint8_t[?]", S.cap); S.masks[m - 1] = S.maskbuf[m] end
  end
  for m, F in ipairs(S.fns) do
    local mask, cand, fn, read = S.maskbuf[m], S.cand, F.fn, F.read
    ffi.fill(mask, n)
    local count = tonumber(S.api.scan_candidates(S.handle, lo, hi, m - 1, cand))
    if count < 0 then error("out of memory scanning a history", 0) end
    local r = 0
    local ok, e = pcall(function()
      while r < count do
        local j = cand[r]
        if fn(read(base + j)) then mask[j] = 1 end
        r = r + 1
      end
    end)
    if not ok then
      local row, ent = base + cand[r], lo
      while tonumber(S.offsets[ent + 1]) <= row do ent = ent + 1 end
      local obj = E.from_lua(job, e)
      obj.where = obj.where .. ": the filter of feature " .. F.feature.name
      obj.entity = ent
      error(obj, 0)
    end
  end
end

-- Scans entities lo .. hi - 1 (at most BLOCK) into S.res.
function M.run(job, S, lo, hi)
  if S.seq then return sequence.run(job, S, lo, hi) end
  if S.anchor_list[1] then fill_anchors(job, S, lo, hi) end
  if #S.fns > 0 then fill_masks(job, S, lo, hi) end
  if S.api.scan_run(S.handle, lo, hi, S.masks, S.res, S.bad) ~= 0 then
    if S.bad[0] < 0 then error("out of memory scanning a history", 0) end
    local f = S.feats[S.bad[0] + 1]
    E.throw({ where = E.at(job, f.line), entity = lo + S.bad[1],
            message = fmt("feature %s: the sum of %s grew past what can be kept exact (9.2e18 of its smallest unit)", f.name,
              f.def.column2 and fmt("%s x %s", f.def.column, f.def.column2) or f.def.column) })
  end
end

-- How compile.lua turns aggregate k's result into a Lua value.
function M.result_kind(S, k)
  if S.seq then return sequence.result_kind(S, k) end
  local a = S.feats[k].def
  if a.kind == "count" or a.kind == "sum" or a.kind == "count_distinct" then return "number" end
  if a.kind == "active_months" then return "maybe_number" end
  if a.kind == "any" then return "boolean" end
  local ty = S.views[a.column].type
  if ty == "category" then return "category", S.views[a.column].dict end
  if ty == "text" then return "text", S.views[a.column] end
  return "maybe_number"
end

return M
