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
local E = require("defector.errors")
local lists = require("defector.lists")
local fmt = string.format

local M = {}

local SPECIAL = { rank = true, call_on = true, carried = true, late = true }
local KNOWN = { file = true, where = true, owner = true, order = true, cap = true, cooldown = true, columns = true, unassigned = true }

local function check(job, cond, msg, level) return E.check(job, cond, msg, (level or 2) + 1) end

local function api_calls(job, spec)
  check(job, type(spec) == "table", "calls { file = ..., owner = \"owner\", cap = 20, columns = {...} } expects a table", 2)
  for k in pairs(spec) do
    check(job, KNOWN[k], "calls: unknown option '" .. tostring(k) .. "'; the options are file, where, owner, order, cap, cooldown, columns, unassigned", 2)
  end
  check(job, type(spec.file) == "string" and spec.file:match("^[%w_%-%.]+%.csv$") and not spec.file:match("^%."),
    "calls: 'file' must be a plain file name like \"calls.csv\"", 2)
  check(job, not job.out_files[spec.file], "two outputs write '" .. spec.file .. "'", 2)
  job.out_files[spec.file] = true
  local what = "calls " .. spec.file
  check(job, spec.where == nil or type(spec.where) == "function", what .. ": 'where' must be a function(c)", 2)
  check(job, type(spec.owner) == "string", what .. ": 'owner' must name the field holding each customer's owner, like \"owner\"", 2)
  check(job, type(spec.cap) == "number" and spec.cap >= 1 and spec.cap % 1 == 0,
    what .. ": 'cap' must be a whole number of customers per owner per day, like 20", 2)
  check(job, spec.unassigned == nil or (type(spec.unassigned) == "string" and spec.unassigned ~= ""), what .. ": unassigned must be a name", 2)
  local cd = spec.cooldown
  check(job, cd == nil or (type(cd) == "table" and type(cd.last) == "string" and type(cd.days) == "number" and cd.days >= 0 and cd.days % 1 == 0),
    what .. ": cooldown = { last = \"<the date of the last contact>\", days = N } leaves out those contacted in the last N days", 2)
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
  local o = { kind = "calls", file = spec.file, where = spec.where, columns = cols, order = order, owner = spec.owner, cap = spec.cap,
              cooldown = cd, unassigned = spec.unassigned or "unassigned", line = E.line(job, 2),
              sep = ",", guard = true, bom = false, decimal_comma = false, decimals = {} }
  -- the fields each row keeps: the written ones, the order's, owner, due_date and the cool-down's
  local need, seen = {}, {}
  local function want(f) if type(f) == "string" and not SPECIAL[f] and not seen[f] then seen[f] = true; need[#need + 1] = f end end
  for _, c in ipairs(cols) do want(c.field) end
  for _, k in ipairs(order) do want(k.field) end
  want(o.owner)
  if cd then want(cd.last) end
  o.need = need
  -- check_fields (outputs.lua) checks that these are declared
  o.check_names = need
  job.outputs[#job.outputs + 1] = o
end

function M.api(job) return { calls = function(spec) return api_calls(job, spec) end } end

-- job.calls: the calls outputs, with the rows of the entities listed so far.
function M.setup(job)
  job.calls = {}
  for _, o in ipairs(job.outputs) do
    if o.kind == "calls" then job.calls[#job.calls + 1] = { o = o, rows = {}, label = "calls " .. o.file } end
  end
end

-- The generated code for C (see compile.lua): a row of values per entity that passes `where`.
function M.emit(g, job, C)
  local o = C.o
  local compile = require("defector.compile")
  compile.loop(g, C.label, function()
    if o.where then
      g.add("    _df_w = nil")
      compile.call(g, o.where, "_df_w")
      g.add("    if _df_w then")
    else
      g.add("    do")
    end
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

-- Orders the rows, applies the cool-down and the caps, and writes the file.
local function write(job, api, C, counts)
  local o, rows, as_of = C.o, C.rows, job.as_of
  local ranks = {}
  for k, key in ipairs(o.order) do ranks[k] = lists.enum_rank(job, key.field) end
  local kept = {}
  for _, r in ipairs(rows) do
    local last = o.cooldown and r[o.cooldown.last]
    if not (last and as_of - last < o.cooldown.days) then kept[#kept + 1] = r end
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
      else v = r[col.field] end
      local is_date = col.field == "call_on" or (type(col.field) == "string" and not col.special and lists.is_date(job, col.field))
      job.write_value(f, v, is_date, o.file .. ", column " .. col.name, where)
    end
    api.end_row(api.ctx, f)
  end
  counts[o.file] = #kept
end

function M.finish(job, api, counts)
  for _, C in ipairs(job.calls or {}) do write(job, api, C, counts) end
end

-- A part's rows (parts.lua), and their merge into the main state's.
function M.pack(job)
  local out = {}
  for i, C in ipairs(job.calls or {}) do out[i] = C.rows end
  return out
end

function M.merge(job, packed)
  for i, C in ipairs(job.calls or {}) do
    local dst = C.rows
    for _, r in ipairs(packed and packed[i] or {}) do dst[#dst + 1] = r end
  end
end

return M
