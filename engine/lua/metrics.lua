-- metrics.lua: metrics { ... } tables: one row per group of entities. As an entity is scored
-- the generated code (emit) finds its group (a tree keyed by each group_by value in turn) and
-- adds to the group's accumulators. Sums are exact whole numbers (units, 10^-places, or
-- millionths): added in a double while that is exact (below 2^52), carried in an int64 beyond
-- (the carry wraps like the hardware and the wraps are counted, so only the final total is
-- checked for overflow), so that a total depends neither on the order of the entities nor on
-- the parts they were scored in. finish() computes the rows, their function columns, orders
-- and writes them.
local E = require("defector.errors")
local ffi = require("ffi")
local numbers = require("defector.numbers")
local lists = require("defector.lists")
local quantile = require("defector.quantile")
local fmt = string.format
local floor, abs = math.floor, math.abs
local I64, POW10, rha64, round = numbers.I64, numbers.POW10, numbers.rha64, numbers.round

local M = {}

local EXACT = 4503599627370496 -- 2^52
local LIMIT = 9.2e18            -- int64
local SCALE = 1e6
local NIL = {}                  -- stands for an empty group value in the group tree
M.NIL = NIL

local function too_big(Mt, ci)
  local col = Mt.o.columns[ci]
  E.throw({ where = Mt.job.file .. ":" .. Mt.o.line, message = fmt("metrics %s, column %s: the sum grew past what can be kept exact (9.2e18 of its smallest unit%s); sum with fewer decimals, e.g. sum(\"%s\", 2), or in a larger unit",
    Mt.o.file, col.name, col.agg.places and "" or ", millionths for a sum of fractions", tostring(col.agg.field)) })
end

-- Slot ci holds column ci's sum; slot -ci the millionths of the fractions of a sum without places.
function M.add_big(grp, slot, y)
  local b = grp.big[slot] or I64(0)
  local nb = b + y
  if y > 0 and nb < b then grp.wrap[slot] = (grp.wrap[slot] or 0) + 1
  elseif y < 0 and nb > b then grp.wrap[slot] = (grp.wrap[slot] or 0) - 1 end
  grp.big[slot] = nb
end

function M.add_exact(Mt, grp, slot, x)
  local s = (grp.acc[slot] or 0) + x
  if s < EXACT and s > -EXACT then grp.acc[slot] = s
  else
    if abs(x) >= LIMIT then too_big(Mt, abs(slot)) end -- one value past an int64
    M.add_big(grp, slot, I64(grp.acc[slot] or 0) + I64(x))
    grp.acc[slot] = 0
  end
end

-- the exact total of a slot (int64), or an error when it does not fit in one
local function total(Mt, grp, slot)
  local b = grp.big[slot]
  if not b then return I64(grp.acc[slot] or 0) end
  M.add_big(grp, slot, I64(grp.acc[slot] or 0))
  grp.acc[slot] = 0
  if (grp.wrap[slot] or 0) ~= 0 then too_big(Mt, abs(slot)) end
  return grp.big[slot]
end

-- adds value v (of the entity) to column ci's sum or average
function M.add_value(Mt, grp, ci, a, v)
  if v == nil then return end
  if type(v) == "boolean" then v = v and 1 or 0 end
  if a.kind == "quantile" then -- every value kept: quantile.lua
    if type(v) ~= "number" then
      E.throw({ where = Mt.job.file .. ":" .. Mt.o.line, message = fmt("metrics %s, column %s: %s(\"%s\") takes numbers; a value is %s %q",
        Mt.o.file, Mt.o.columns[ci].name, a.name, a.field, type(v), tostring(v)) })
    end
    local l = grp.vals[ci]
    l[#l + 1] = v
    return
  end
  grp.cnt[ci] = grp.cnt[ci] + 1
  if a.kind == "avg" then M.add_exact(Mt, grp, ci, numbers.scaled(v, 6))
  elseif a.places then M.add_exact(Mt, grp, ci, numbers.scaled(v, a.places))
  elseif v == floor(v) then M.add_exact(Mt, grp, ci, v) -- whole numbers as they are
  else
    grp.micro[ci] = true -- fractions in millionths, apart
    M.add_exact(Mt, grp, -ci, round(v * SCALE))
  end
end

-- keys: the group's values by field (nil: taken later)
function M.new_group(Mt, keys)
  local grp = { keys = keys or {}, acc = {}, big = {}, wrap = {}, cnt = {}, micro = {}, vals = {}, n = 0 }
  for ci, col in ipairs(Mt.o.columns) do
    if col.agg then grp.acc[ci] = 0; grp.cnt[ci] = 0 end
    if col.agg and col.agg.kind == "quantile" then grp.vals[ci] = {} end
  end
  Mt.order[#Mt.order + 1] = grp
  return grp
end

-- The group of values v[1..n] (in group_by order), made when first seen.
function M.find(Mt, v)
  local node, gb = Mt.groups, Mt.o.group_by
  local ng = #gb
  if ng == 0 then
    local grp = node[1]
    if not grp then grp = M.new_group(Mt); node[1] = grp end
    return grp
  end
  for i = 1, ng do
    local x = v[i]
    if x == nil then x = NIL end
    local nxt = node[x]
    if nxt == nil then
      if i == ng then
        local keys = {}
        for k = 1, ng do keys[gb[k]] = v[k] end
        nxt = M.new_group(Mt, keys)
      else nxt = {} end
      node[x] = nxt
    end
    node = nxt
  end
  return node
end

-- A finder taking the group values as arguments (no table per entity), for up to 3 fields.
local function finder(Mt)
  local ng, buf = #Mt.o.group_by, {}
  local groups = Mt.groups
  if ng == 0 then return function() return groups[1] or M.find(Mt, buf) end end
  if ng == 1 then
    return function(a)
      local g = groups[a == nil and NIL or a]
      if g then return g end
      buf[1] = a
      return M.find(Mt, buf)
    end
  end
  return function(a, b, c3)
    local n1 = groups[a == nil and NIL or a]
    local n2 = n1 and n1[b == nil and NIL or b]
    local g = n2
    if ng == 3 then g = n2 and n2[c3 == nil and NIL or c3] end
    if g and ng <= 3 then return g end
    buf[1], buf[2], buf[3] = a, b, c3
    return M.find(Mt, buf)
  end
end

-- job.mets: the metrics tables.
function M.setup(job)
  job.mets = {}
  for _, o in ipairs(job.outputs) do
    if o.kind == "metrics" then
      local Mt = { o = o, job = job, groups = {}, order = {}, label = "metrics " .. o.file }
      Mt.find_args = #o.group_by <= 3 and finder(Mt) or nil
      job.mets[#job.mets + 1] = Mt
    end
  end
end

-- The generated code for metrics table Mt (see compile.lua): a loop adding each of the
-- block's entities that pass `where` to its group.
function M.emit(g, job, Mt, m)
  local o = Mt.o
  local compile = require("defector.compile")
  local pre = fmt("local MT, ADD, FIND = MISC[%d], MISC[%d], MISC[%d]", g.bind("misc", Mt), g.bind("misc", M.add_value),
    g.bind("misc", Mt.find_args or M.find))
  compile.loop(g, Mt.label, function()
    compile.open_where(g, o.where)
    local args = {}
    for i, f in ipairs(o.group_by) do args[i] = g.value(f) end
    if Mt.find_args then g.add("    local grp = FIND(%s)", table.concat(args, ", "))
    else g.add("    local grp = FIND(MT, { %s })", table.concat(args, ", ")) end
    if job.shard then g.add("    if grp.first == nil then grp.first = blo + _df_i - 1 end") end -- shards.lua
    g.add("    grp.n = grp.n + 1")
    g.add("    local acc = grp.acc")
    for ci, col in ipairs(o.columns) do
      local a = col.agg
      if a then
        compile.open_where(g, a.where)
        if a.kind == "count" then g.add("    acc[%d] = acc[%d] + 1", ci, ci)
        else g.add("    ADD(MT, grp, %d, MISC[%d], %s)", ci, g.bind("misc", a), g.value(a.field)) end
        g.add("    end")
      end
    end
    g.add("    end")
  end, pre)
end

-- The value of aggregate column ci for group grp.
local function column_value(Mt, grp, ci, a)
  if a.kind == "count" then return grp.acc[ci] end
  if a.kind == "quantile" then return quantile.of(grp.vals[ci], a.p, a.places) end
  local acc = total(Mt, grp, ci)
  if a.kind == "avg" then
    local cnt = grp.cnt[ci]
    if cnt == 0 then return nil end
    if abs(tonumber(acc)) * POW10[a.places] >= LIMIT then too_big(Mt, ci) end
    return tonumber(rha64(acc * POW10[a.places], I64(cnt) * SCALE)) / POW10[a.places]
  end
  if a.places then return tonumber(acc) / POW10[a.places] end
  if grp.micro[ci] then
    local mi = total(Mt, grp, -ci)
    if abs(tonumber(acc) * SCALE + tonumber(mi)) >= LIMIT then too_big(Mt, ci) end
    return tonumber(acc * SCALE + mi) / SCALE
  end
  -- a whole sum past 2^53 stays the exact int64 it is (a double would round it)
  if acc >= 9007199254740992LL or acc <= -9007199254740992LL then return acc end
  return tonumber(acc)
end

-- A metrics column's function runs under the budgets: the watch names it and its line, and
-- each call is a new unit of the time budget (a value of its own, below the C side's); the
-- watch is idle again after it: the engine's work between is not the rule file's.
local unit = -1e9
local function watch_fn(job, Mt, col)
  local watch = job.api.watch
  Mt.fn_labels = Mt.fn_labels or {}
  Mt.fn_labels[col.name] = Mt.fn_labels[col.name] or fmt("metrics %s, column %s", Mt.o.file, col.name)
  watch.what = Mt.fn_labels[col.name] -- anchored in Mt while it runs
  watch.file = nil
  watch.line = debug.getinfo(col.fn, "S").linedefined
  unit = unit - 1
  watch.row = unit
end

local function rows_of(job, Mt)
  local o, rows = Mt.o, {}
  if #o.group_by == 0 and #Mt.order == 0 then M.new_group(Mt) end -- one row over no entities
  for gi, grp in ipairs(Mt.order) do
    local r = { __row = gi }
    for ci, col in ipairs(o.columns) do
      if col.group then r[col.name] = grp.keys[col.group]
      elseif col.agg then r[col.name] = column_value(Mt, grp, ci, col.agg) end
    end
    for _, col in ipairs(o.columns) do
      if col.fn then
        watch_fn(job, Mt, col)
        local ok, v = pcall(col.fn, r)
        job.api.watch.row = -1
        if not ok then
          E.throw({ where = job.file .. ":" .. o.line, message = fmt("metrics %s, column %s: %s", o.file, col.name, E.is_ours(v) and v.message or E.user_text(v)) })
        end
        r[col.name] = v
      end
    end
    rows[#rows + 1] = r
  end
  return rows
end

local function sorter(job, order)
  local ranks = {}
  for i, k in ipairs(order) do ranks[i] = lists.enum_rank(job, k.field) end
  return function(x, y)
    for i, k in ipairs(order) do
      local r = lists.cmp_values(x[k.field], y[k.field], ranks[i])
      if r ~= 0 then if k.desc then return r > 0 end return r < 0 end
    end
    return x.__row < y.__row
  end
end

-- Writes every metrics table; adds {file = rows} to counts.
function M.finish(job, api, counts)
  for _, Mt in ipairs(job.mets) do
    local o = Mt.o
    local f = lists.open(api, o)
    local rows = rows_of(job, Mt)
    table.sort(rows, sorter(job, o.order))
    lists.header(api, f, o.columns)
    for _, r in ipairs(rows) do
      for _, col in ipairs(o.columns) do job.write_value(f, r[col.name], col.group and lists.is_date(job, col.group), o.file .. ", column " .. col.name, job.file .. ":" .. o.line, o.decimals[col.name]) end
      api.end_row(api.ctx, f)
    end
    Mt.f, Mt.nrows = f, #rows -- a typed table: sheets.lua writes it
    if not o.typed then counts[o.file] = #rows end
  end
end

return M
