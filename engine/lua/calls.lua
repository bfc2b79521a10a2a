-- calls.lua: calls { ... }, the call lists per owner: the customers that pass `where`, in
-- `order`, each owner's list capped at `cap` a day (the rest carried to the next days), with a
-- cool-down that leaves out a customer contacted recently. One CSV file, sorted by owner and
-- then by the day each customer is to be called:
--
--   calls { file = "calls.csv", where = function(c) return c.next_action ~= nil end,
--           owner = "owner", order = { "due_date", "score desc", "customer_id" }, cap = 20,
--           cooldown = { last = "last_contact", days = 14 },
--           columns = { "owner", "rank", "call_on", "customer_id", "next_action", "due_date", "late" } }
--
-- Besides the rule file's fields a column may be rank (the place in the owner's list, from
-- 1), call_on (AS_OF + the day of the list it falls on: the first `cap` customers today, the
-- next `cap` tomorrow...), carried (call_on - AS_OF, in days) and late (true when call_on is
-- after due_date). The rows are kept in Lua as the entities are scored (parts.lua merges the
-- threads' rows; the entity's row breaks ties, so the file is the same for any --threads).
--
-- With --history the night's snapshot keeps, per customer, on_<list> (on this list tonight:
-- passes `where`, not cooled down), next_action, action_rule and the owner, and the night folder
-- keeps call_on_<list>.csv.gz (each listed customer's planned call day), so that later nights
-- can leave out those called in the last N days (cooldown = { nights = N }) and measure the
-- save rate: save_rate { file = "save_rate.csv", after = 30, within = 120, still = "not_defected" }
-- counts the customers called on a day from AS_OF - within to AS_OF - after (each once, with the
-- rule, action and owner of the night that planned the call) and how many of them are still
-- customers tonight (their `still` field is true), per rule, per action and per owner.
local E = require("defector.errors")
local lists = require("defector.lists")
local nights = require("defector.nights")
local outputs = require("defector.outputs")
local numbers = require("defector.numbers")
local fmt = string.format

local M = {}

local SPECIAL = { rank = true, call_on = true, carried = true, late = true }
local KNOWN = { file = true, where = true, owner = true, order = true, cap = true, cooldown = true, columns = true, unassigned = true }

local function check(job, cond, msg, level) return E.check(job, cond, msg, (level or 2) + 1) end

local function api_calls(job, spec)
  job.calls_declared = true -- save_rate's message when this declaration is refused
  check(job, type(spec) == "table", "calls { file = ..., owner = \"owner\", cap = 20, columns = {...} } expects a table", 2)
  for k in pairs(spec) do
    check(job, KNOWN[k], "calls: unknown option '" .. tostring(k) .. "'; the options are file, where, owner, order, cap, cooldown, columns, unassigned", 2)
  end
  outputs.claim_file(job, spec.file, "calls: 'file' must be a plain file name like \"calls.csv\"", "%.csv")
  local what = "calls " .. spec.file
  check(job, spec.where == nil or type(spec.where) == "function", what .. ": 'where' must be a function(c)", 2)
  check(job, type(spec.owner) == "string", what .. ": 'owner' must name the field holding each customer's owner, like \"owner\"", 2)
  check(job, type(spec.cap) == "number" and spec.cap >= 1 and spec.cap % 1 == 0,
    what .. ": 'cap' must be a whole number of customers per owner per day, like 20", 2)
  check(job, spec.unassigned == nil or (type(spec.unassigned) == "string" and spec.unassigned ~= ""), what .. ": unassigned must be a name", 2)
  local cd = spec.cooldown
  local function whole(x) return type(x) == "number" and x >= 0 and x % 1 == 0 end
  check(job, cd == nil or (type(cd) == "table" and (cd.last == nil or (type(cd.last) == "string" and whole(cd.days)))
      and (cd.nights == nil or (whole(cd.nights) and cd.nights >= 1)) and (cd.last ~= nil or cd.nights ~= nil)),
    what .. ": cooldown = { last = \"<the date of the last contact>\", days = N, nights = M } leaves out those contacted in the last N days " ..
    "and (with --history) those listed in the last M nights", 2)
  if cd then
    for k in pairs(cd) do check(job, k == "last" or k == "days" or k == "nights", what .. ": cooldown: unknown option '" .. tostring(k) .. "'; the options are last, days, nights", 2) end
  end
  check(job, type(spec.columns) == "table" and #spec.columns > 0, what .. ": 'columns' must list the fields to write", 2)
  local cols = {}
  for i, c in ipairs(spec.columns) do
    if type(c) == "string" then cols[i] = { name = c, field = c, special = SPECIAL[c] }
    else
      check(job, type(c) == "table" and type(c[1]) == "string" and (type(c[2]) == "string" or type(c[2]) == "function"),
        what .. ": column " .. i .. " must be a field name or {\"header\", field name or function(c)}", 2)
      cols[i] = { name = c[1], field = c[2], special = type(c[2]) == "string" and SPECIAL[c[2]] }
    end
  end
  local order = {}
  for i, o in ipairs(spec.order or {}) do
    local f, dir
    if type(o) == "string" then f, dir = o:match("^%s*([%w_]+)%s*(%a*)%s*$") end
    check(job, f and (dir == "" or dir == "asc" or dir == "desc") and not SPECIAL[f], what .. ": cannot read order entry '" .. tostring(o) .. "'", 2)
    order[i] = { field = f, desc = dir == "desc" }
  end
  local stem = spec.file:gsub("%.csv$", ""):gsub("[^%w_]", "_")
  for _, other in ipairs(job.outputs) do
    check(job, other.kind ~= "calls" or other.stem ~= stem, fmt("calls: the lists %s and %s keep their history under one name (%s: on_%s, call_on_%s.csv.gz)",
      other.file, spec.file, stem, stem, stem) .. "; rename one of them", 2)
  end
  local o = { kind = "calls", file = spec.file, stem = stem, where = spec.where, columns = cols, order = order, owner = spec.owner, cap = spec.cap,
              cooldown = cd, unassigned = spec.unassigned or "unassigned", line = E.line(job, 2),
              sep = ",", guard = true, bom = false, decimal_comma = false, decimals = {} }
  -- the fields each row keeps: the written ones, the order's, owner, due_date and the cool-down's
  local need, seen = {}, {}
  local function want(f) if type(f) == "string" and not SPECIAL[f] and not seen[f] then seen[f] = true; need[#need + 1] = f end end
  for _, c in ipairs(cols) do want(c.field) end
  for _, k in ipairs(order) do want(k.field) end
  want(o.owner)
  want(job.entity and job.entity.key)
  if cd then want(cd.last) end
  o.need = need
  -- check_fields (outputs.lua) checks that these are declared
  o.check_names = need
  job.outputs[#job.outputs + 1] = o
end

local function api_save_rate(job, spec)
  check(job, type(spec) == "table", "save_rate { file = \"save_rate.csv\", after = 30, within = 120, still = \"not_defected\" } expects a table", 2)
  for k in pairs(spec) do
    check(job, k == "file" or k == "calls" or k == "after" or k == "within" or k == "still",
      "save_rate: unknown option '" .. tostring(k) .. "'; the options are file, calls, after, within, still", 2)
  end
  outputs.claim_file(job, spec.file, "save_rate: 'file' must be a plain file name like \"save_rate.csv\"", "%.csv")
  local whole = function(x) return type(x) == "number" and x >= 0 and x % 1 == 0 end
  check(job, whole(spec.after) and whole(spec.within) and spec.within >= spec.after,
    "save_rate: after (days since the listing) and within (how far back, at least after) must be whole numbers of days", 2)
  check(job, type(spec.still) == "string", "save_rate: still must name the true/false field meaning still a customer, like \"not_defected\"", 2)
  local calls
  for _, o in ipairs(job.outputs) do
    if o.kind == "calls" and (spec.calls == nil or o.file == spec.calls) then calls = calls or o end
  end
  check(job, calls, "save_rate: declare the calls { } list first" .. (spec.calls and (" (no calls { file = \"" .. tostring(spec.calls) .. "\" })") or "")
    .. (job.calls_declared and not spec.calls and " (the calls { } above was refused: mend it first)" or ""), 2)
  job.save_rates = job.save_rates or {}
  job.save_rates[#job.save_rates + 1] = { file = spec.file, calls = calls, after = spec.after, within = spec.within, still = spec.still,
    line = E.line(job, 2) }
  -- the still field is checked like an output's (outputs.lua check_fields)
  job.outputs[#job.outputs + 1] = { kind = "save_rate", file = spec.file, columns = {}, order = {}, check_names = { spec.still },
    line = E.line(job, 2), decimals = {} }
end

function M.api(job)
  return { calls = function(spec) return api_calls(job, spec) end, save_rate = function(spec) return api_save_rate(job, spec) end }
end

-- job.calls: the calls outputs, with the rows of the entities listed so far.
--
-- Who was called on a day: a night's list plans each customer's call day (call_on, written to
-- the night's call_on_<list>.csv.gz), and a night's plans hold until the next night, which plans
-- again those not called yet. So a customer was called on day D when the newest night dated D or
-- before planned it for D. A night without that file (an older defector) planned every customer
-- on its list for the night itself. Nights are looked back for at most LOOKBACK days.
local LOOKBACK = 366

-- The customers called on a day from `from` to `to` (before tonight): {key = the row of the
-- night that planned the call (on_<list>'s night row), its _day the day of the call}, the
-- earliest call of each.
local function called_on_days(job, o, from, to)
  local dir, key, col = job.history_dir, job.entity.key, "on_" .. o.stem
  local days = nights.days(dir, from, job.as_of - 1)
  if days[1] ~= from then -- no night on the window's first day: the one before may have planned into it
    local before = nights.latest(dir, from - 1, from - LOOKBACK)
    if before then table.insert(days, 1, before) end
  end
  local called = {}
  for i, d in ipairs(days) do
    local last = math.min((days[i + 1] or job.as_of) - 1, to) -- the last day this night's plans hold
    if d > to then break end
    if last >= from then
      local plan = nights.plans(dir, d, o.stem)
      local night = nights.read(dir, d, d, col, { key, "next_action", "action_rule", o.owner })[1]
      for _, row in ipairs(night and night.rows or {}) do
        local k = row[key]
        local on = k and (plan and plan[k] or (not plan and d))
        if on and on >= from and on <= last and not called[k] then row._day = on; called[k] = row end
      end
    end
  end
  return called
end

local function cooled(job, C, last, key)
  local cd = C.o.cooldown
  if not cd then return false end
  if cd.last and last and job.as_of - last < cd.days then return true end
  return C.recent[key] ~= nil
end

function M.setup(job, opts)
  job.calls = {}
  job.night_out = opts and opts.history and not job.shard -- the night is written: each list's call_on_<list>.csv.gz
  for _, o in ipairs(job.outputs) do
    if o.kind == "calls" then
      local C = { o = o, rows = {}, label = "calls " .. o.file, recent = {} }
      local n = o.cooldown and o.cooldown.nights
      if n and job.history_dir then C.recent = called_on_days(job, o, job.as_of - n, job.as_of - 1) end
      -- on the list tonight (the snapshot's on_<list>): passes where, not cooled down
      C.listed = function(c)
        if o.where and not o.where(c) then return false end
        return not cooled(job, C, o.cooldown and o.cooldown.last and c[o.cooldown.last], c[job.entity.key])
      end
      job.calls[#job.calls + 1] = C
    end
  end
  for _, sr in ipairs(job.save_rates or {}) do
    sr.status = {}
    if job.history_dir then sr.past = called_on_days(job, sr.calls, job.as_of - sr.within, job.as_of - sr.after)
    else
      sr.past = {}
      job.warnings[#job.warnings + 1] = { where = E.at(job, sr.line), message = "save_rate " .. sr.file .. ": the run keeps no history (no --history): the table is empty",
        fix = "run with --history DIR every night" }
    end
  end
end

-- The snapshot's columns for the calls lists (history.lua): add(name [, column]).
function M.snapshot_columns(job, add)
  local first = true
  for _, o in ipairs(job.outputs) do
    if o.kind == "calls" then
      add("on_" .. o.stem, { name = "on_" .. o.stem, on_list = function(c)
        for _, C in ipairs(job.calls or {}) do if C.o == o then return C.listed(c) end end
        return false
      end })
      if first then
        if job.fields.next_action == "value" then add("next_action"); add("action_rule") end
        first = false
      end
      add(o.owner)
    end
  end
end

-- The generated code for C (see compile.lua): a row of values per entity that passes `where`.
function M.emit(g, job, C)
  local o = C.o
  local compile = require("defector.compile")
  compile.loop(g, C.label, function()
    compile.open_where(g, o.where)
    g.add("    local row = { _e = blo + _df_i - 1 }")
    for _, f in ipairs(o.need) do g.add("    row[%q] = %s", f, g.value(f)) end
    for i, col in ipairs(o.columns) do
      if type(col.field) == "function" then
        g.add("    _df_s = nil")
        compile.call(g, col.field, "_df_s")
        g.add("    row[%d] = _df_s", i)
      end
    end
    g.add("    local R = CR.rows; R[#R + 1] = row")
    g.add("    end")
  end, fmt("local CR = MISC[%d]", g.bind("misc", C)))
end

-- The generated code for a save rate: tonight's `still` of the customers listed before.
function M.emit_save_rate(g, job, sr)
  local compile = require("defector.compile")
  compile.loop(g, "save_rate " .. sr.file, function()
    g.add("    local k = %s", g.value(job.entity.key))
    g.add("    if SR.past[k] then _df_s = %s; SR.status[k] = _df_s == true end", g.value(sr.still))
  end, fmt("local SR = MISC[%d]", g.bind("misc", sr)))
end

-- The night's call_on_<list>.csv.gz: each listed customer's planned call day, in the list's
-- order (the cool-down over nights and the save rate of later nights read it: called_on_days).
local function write_plans(job, api, o, kept, where)
  local file = "call_on_" .. o.stem .. ".csv.gz"
  local f = lists.open(api, { file = file, history = true, sep = ",", guard = false, bom = false, decimal_comma = false })
  lists.header(api, f, { { name = job.entity.key }, { name = "call_on" } })
  for _, r in ipairs(kept) do
    job.write_value(f, r[job.entity.key], false, file, where)
    job.write_value(f, r.call_on, true, file, where)
    api.end_row(api.ctx, f)
  end
end

-- Orders the rows, applies the cool-down and the caps, and writes the file.
local function write(job, api, C, counts)
  local o, rows, as_of = C.o, C.rows, job.as_of
  local ranks = {}
  for k, key in ipairs(o.order) do ranks[k] = lists.enum_rank(job, key.field) end
  local kept = {}
  for _, r in ipairs(rows) do
    if not cooled(job, C, o.cooldown and o.cooldown.last and r[o.cooldown.last], r[job.entity.key]) then kept[#kept + 1] = r end
  end
  C.cooled = #rows - #kept
  table.sort(kept, function(x, y)
    for k, key in ipairs(o.order) do
      local c = lists.cmp_values(x[key.field], y[key.field], ranks[k])
      if c ~= 0 then if key.desc then return c > 0 end return c < 0 end
    end
    return x._e < y._e
  end)
  -- the place of each row in its owner's list, and the day it falls on
  local n_of, owners = {}, {}
  for _, r in ipairs(kept) do
    local who = r[o.owner]
    if who == nil or who == "" then who = o.unassigned end
    if not n_of[who] then n_of[who] = 0; owners[#owners + 1] = who end
    n_of[who] = n_of[who] + 1
    r._owner, r._rank = who, n_of[who]
    r.call_on = as_of + math.floor((r._rank - 1) / o.cap)
    r.carried = r.call_on - as_of
    r.late = r.due_date ~= nil and r.call_on > r.due_date or false
  end
  table.sort(kept, function(x, y)
    if x._owner ~= y._owner then return x._owner < y._owner end
    return x._rank < y._rank
  end)
  local f = lists.open(api, o)
  lists.header(api, f, o.columns)
  local where = job.file .. ":" .. tostring(o.line)
  for _, r in ipairs(kept) do
    for i, col in ipairs(o.columns) do
      local v
      if type(col.field) == "function" then v = r[i]
      elseif col.field == "rank" then v = r._rank
      elseif col.field == o.owner then v = r._owner -- the list's owner: unassigned for none
      else v = r[col.field] end
      local is_date = col.field == "call_on" or (type(col.field) == "string" and not col.special and lists.is_date(job, col.field))
      job.write_value(f, v, is_date, o.file .. ", column " .. col.name, where)
    end
    api.end_row(api.ctx, f)
  end
  counts[o.file] = #kept
  if job.night_out then write_plans(job, api, o, kept, where) end
end

local SR_COLUMNS = { { name = "by" }, { name = "value" }, { name = "listed" }, { name = "saved" }, { name = "save_rate" } }

local function write_save_rate(job, api, sr, counts)
  local tally, keys = { rule = {}, action = {}, owner = {} }, {}
  for k in pairs(sr.past) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local row, saved = sr.past[k], sr.status[k] == true
    for by, col in pairs({ rule = "action_rule", action = "next_action", owner = sr.calls.owner }) do
      local v = row[col] or ""
      if by == "owner" and v == "" then v = sr.calls.unassigned end -- as in the calls list
      local t = tally[by][v] or { listed = 0, saved = 0 }
      tally[by][v] = t
      t.listed = t.listed + 1
      if saved then t.saved = t.saved + 1 end
    end
  end
  local f = lists.open(api, { file = sr.file, sep = ",", guard = true })
  lists.header(api, f, SR_COLUMNS)
  local n, where = 0, job.file .. ":" .. tostring(sr.line)
  for _, by in ipairs({ "rule", "action", "owner" }) do
    local vals = {}
    for v in pairs(tally[by]) do vals[#vals + 1] = v end
    table.sort(vals)
    for _, v in ipairs(vals) do
      local t = tally[by][v]
      for _, cell in ipairs({ by, v, t.listed, t.saved, numbers.ratio(t.saved, t.listed, 4) }) do
        job.write_value(f, cell, false, sr.file, where)
      end
      api.end_row(api.ctx, f)
      n = n + 1
    end
  end
  counts[sr.file] = n
end

function M.finish(job, api, counts)
  for _, C in ipairs(job.calls or {}) do write(job, api, C, counts) end
  for _, sr in ipairs(job.save_rates or {}) do write_save_rate(job, api, sr, counts) end
end

-- A part's rows (parts.lua), and their merge into the main state's.
function M.pack(job)
  local out = { status = {} }
  for i, C in ipairs(job.calls or {}) do out[i] = C.rows end
  for i, sr in ipairs(job.save_rates or {}) do out.status[i] = sr.status end
  return out
end

function M.merge(job, packed)
  packed = packed or { status = {} }
  for i, C in ipairs(job.calls or {}) do
    local dst = C.rows
    for _, r in ipairs(packed[i] or {}) do dst[#dst + 1] = r end
  end
  for i, sr in ipairs(job.save_rates or {}) do
    for k, v in pairs(packed.status[i] or {}) do sr.status[k] = v end
  end
end

return M
