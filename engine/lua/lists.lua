-- lists.lua: output { ... } tables: one row per entity that passes `where`, in `order`. As an
-- entity is scored its row is rendered to CSV by the C writer (into memory, with a place left
-- for the rank) and only its sort keys stay in Lua; once every entity is scored (and the
-- parts merged) the rows are ordered and written, numbered by rank.
local E = require("defector.errors")
local ffi = require("ffi")
local dates = require("defector.dates")
local H = require("defector.handles")
local numbers = require("defector.numbers")
local entity = require("defector.entity")
local fmt, concat = string.format, table.concat
local huge = math.huge

local M = {}

-- Fields whose numbers are dates (shown as YYYY-MM-DD): date columns of the entity, and
-- latest/earliest/min/max of a history's date column.
function M.is_date(job, name)
  if job.entity.columns[name] == "date" then return true end
  if job.date_values and job.date_values[name] then return true end -- due_date (actions.lua)
  for _, f in ipairs(job.features) do
    if f.name == name and H.is(f.def, H.AGG) and f.def.column and f.def.t.columns[f.def.column] == "date"
      and f.def.kind ~= "sum" and f.def.kind ~= "count_distinct" and f.def.kind ~= "active_months" then return true end
  end
  return false
end

-- A cell of a Lua value: nil, a number (or date), true/false, text, an exact int64 cdata;
-- anything else (a table, a function...) has no stable text and is refused, naming the output
-- and column (`cell`, "list.csv, column x") and the line that makes the value (`where`).
function M.writer(api, job)
  local ctx = api.ctx
  return function(f, v, is_date, cell, where, places)
    if v == nil then api.empty(ctx, f)
    elseif type(v) == "number" then
      if v ~= v or v == huge or v == -huge then -- never "NaN" or "Infinity" in a cell
        E.throw({ where = where or job.file, message = fmt("output %s: the value is %s (a division by zero, or a model outside its range); return nil for no value",
          cell or "?", v ~= v and "not a number" or "infinite") })
      end
      if is_date then local s = dates.text(v); api.date(ctx, f, v, s, #s)
      elseif places then
        -- fixed decimals pad (49.9 -> 49.90), never round: a value with more is refused
        if v == v and numbers.round(v, places) ~= v then
          E.throw({ where = where or job.file, message = fmt("output %s: %s has more decimals than the %d of decimals = { ... }; round it in the rule file (round(x, %d)) or allow more decimals",
            cell or "?", numbers.text(v), places, places) })
        end
        api.fixed(ctx, f, v, places)
      else api.number(ctx, f, v) end
    elseif type(v) == "boolean" then
      local s = v and "true" or "false"
      api.plain(ctx, f, s, #s)
    elseif type(v) == "string" then
      api.text(ctx, f, v, #v)
    elseif type(v) == "cdata" and E.show(v) ~= "cdata" then -- an exact int64 (a metric sum past 2^53)
      local s = E.show(v):gsub("[LU]+$", "")
      api.plain(ctx, f, s, #s)
    else
      E.throw({ where = where or job.file, message = fmt("output %s: the value is a %s, which has no text to write; give the field text, a number, a date or true/false",
        cell or "?", type(v)) })
    end
  end
end

function M.header(api, f, cols)
  for _, col in ipairs(cols) do api.text(api.ctx, f, col.name, #col.name) end
  api.end_row(api.ctx, f)
end

-- The writer of output o: its file, with its CSV options; or, for an output that goes to a
-- workbook or is split (o.typed), a writer keeping typed rows for sheets.lua.
function M.open(api, o)
  local f
  if o.typed then f = api.capture(api.ctx)
  elseif o.history then f = api.open_history(api.ctx, o.file) -- the night's snapshot (history.lua)
  else f = api.open(api.ctx, o.file) end
  if f < 0 then E.throw({ where = o.file, message = "cannot open the output file" }) end
  api.configure(api.ctx, f, o.sep:byte(), o.decimal_comma and 1 or 0, o.guard and 1 or 0, o.bom and 1 or 0, o.typed and 1 or 0)
  return f
end

-- job.lists: the list outputs, their files opened (a part's writers only capture rows).
function M.setup(job, api, part)
  job.lists = {}
  -- a field shown in a reason: as entity.reason_text shows it
  job.reason_value = function(v)
    if v == nil then return "" end
    if type(v) == "number" then return numbers.text(v) end
    return tostring(v)
  end
  job.reason_of = function(k, c) return entity.reason_text(job.rules[k], c) end
  job.reasons_buffer = require("string.buffer").new()
  for _, o in ipairs(job.outputs) do
    if o.kind == "list" then
      local f = M.open(api, o)
      if not part then M.header(api, f, o.columns) end
      local L = { o = o, f = f, m = 0, keys = {}, text_keys = {}, label = "output " .. o.file, split = o.split_by and {},
                  ent = job.shard and {} } -- a shard: each row's entity (shards.lua)
      for k = 1, #o.order do L.keys[k] = {} end
      job.lists[#job.lists + 1] = L
    end
  end
end

-- Whether (rule k, counting from 1) is set in fired mask m.
local function has_bit(m, k) return math.floor(m / 2 ^ (k - 1)) % 2 == 1 end

-- The plan of the reasons (text) or codes of the rules in fired mask m: {literal, slot, ...},
-- each literal followed by the slot of the field whose value comes next (0: none).
local function plan_of(job, m, text, slots)
  local out, lit, first = {}, "", true
  for k, r in ipairs(job.rules) do
    if has_bit(m, k) then
      if not first then lit = lit .. (text and "; " or ";") end
      first = false
      if not text then lit = lit .. r.code
      else
        for i, p in ipairs(r.parts) do
          if i % 2 == 1 then lit = lit .. p
          else out[#out + 1], out[#out + 2], lit = lit, slots[p], "" end
        end
      end
    end
  end
  out[#out + 1], out[#out + 2] = lit, 0
  return out
end

-- The fields the reason templates show, numbered (the slots of the plans).
local function reason_slots(job)
  if job.reason_slots then return job.reason_slots end
  local slots = { n = 0 }
  for _, r in ipairs(job.rules) do
    for i, p in ipairs(r.parts or {}) do
      if i % 2 == 0 and not slots[p] then slots.n = slots.n + 1; slots[p] = slots.n; slots[slots.n] = p end
    end
  end
  job.reason_slots = slots
  return slots
end

-- Reasons by plan: the rules that fired are one number (entity.lua's mask), and the texts of
-- each combination are planned once (a branch per rule per entity made a tree of traces).
-- Not for a reason given as a function or with overrides (their text is not in the mask).
local function plannable(g, job, text)
  if not g.mask or job.overrides then return false end
  for _, r in ipairs(job.rules) do if text and not r.parts then return false end end
  return true
end

local function planned_reasons(g, job, text)
  local slots = reason_slots(job)
  local cache = {}
  local function make(m) local p = plan_of(job, m, text, slots); cache[m] = p; return p end
  g.add("    do local pl = MISC[%d][FM[_df_i]]; if pl == nil then pl = MISC[%d](FM[_df_i]) end", g.bind("misc", cache), g.bind("misc", make))
  g.add("    RB:reset()")
  g.add("    for _df_j = 1, #pl, 2 do")
  g.add("      RB:put(pl[_df_j])")
  if text and slots.n > 0 then
    local rv = g.bind("misc", job.reason_value)
    g.add("      local sl = pl[_df_j + 1]")
    for i = 1, slots.n do
      g.add("      %s sl == %d then RB:put(MISC[%d](%s))", i == 1 and "if" or "elseif", i, rv, g.value(slots[i]))
    end
    g.add("      end")
  end
  g.add("    end end")
end

-- The reason codes (";") or reasons ("; ") of the loop's entity into the string buffer RB:
-- the rules that fired, in rule order, each a literal or its template filled from the columns.
local function reasons_into_buffer(g, job, text)
  if plannable(g, job, text) then return planned_reasons(g, job, text) end
  g.add("    RB:reset()")
  local sep = text and "; " or ";"
  for k, r in ipairs(job.rules) do
    local pieces = {}
    if not text then pieces[1] = fmt("%q", r.code)
    elseif type(r.reason) == "function" then pieces[1] = fmt("MISC[%d](%d, c)", g.bind("misc", job.reason_of), k)
    else
      for i, p in ipairs(r.parts) do
        if i % 2 == 1 then if p ~= "" then pieces[#pieces + 1] = fmt("%q", p) end
        else pieces[#pieces + 1] = fmt("MISC[%d](%s)", g.bind("misc", job.reason_value), g.value(p)) end
      end
    end
    if #pieces == 0 then pieces[1] = '""' end
    g.add("    if FIRED[%d][_df_i] then if #RB > 0 then RB:put(%q) end; RB:put(%s) end", k, sep, concat(pieces, ", "))
  end
  if job.overrides then
    g.add("    if OVR[_df_i] then if #RB > 0 then RB:put(%q) end; RB:put(%s) end", sep,
      text and '"override: ", OVR[_df_i].reason' or '"override"')
  end
end

-- Writes field f of the loop's entity as a cell of list file `file`.
local function write_field(g, job, L, f, places)
  if f == "reason_codes" or f == "reasons" then
    reasons_into_buffer(g, job, f == "reasons")
    return g.add("    A.text(A.ctx, %d, RB:ref())", L.f)
  end
  local text = g.text_columns[f]
  if text and not places then
    local v = g.bind("view", text)
    return g.add("    A.text_at(A.ctx, %d, VIEW[%d].offs, VIEW[%d].arena, blo + _df_i - 1)", L.f, v, v)
  end
  local line = job.field_line[f]
  g.add("    W(%d, %s, %s, %q, %q, %s)", L.f, g.value(f), tostring(M.is_date(job, f)), L.o.file .. ", column " .. f,
    job.file .. (type(line) == "number" and (":" .. line) or ""), tostring(places))
end

-- An expression for the value of a list's field f, for a sort key.
local function key_expr(g, job, f)
  if f == "reason_codes" or f == "reasons" then
    reasons_into_buffer(g, job, f == "reasons")
    return "RB:tostring()"
  end
  return g.value(f)
end

-- The generated code for list L (see compile.lua): a loop writing the rows of the block's
-- entities that pass `where`, and keeping their sort keys.
function M.emit(g, job, L, l)
  local o = L.o
  local compile = require("defector.compile")
  local pre = fmt("local L, W, A, RB = MISC[%d], MISC[%d], MISC[%d], MISC[%d]", g.bind("misc", L), g.bind("misc", job.write_value),
    g.bind("misc", job.api), g.bind("misc", job.reasons_buffer))
  compile.loop(g, L.label, function()
    compile.open_where(g, o.where)
    g.add("    A.row_begin(A.ctx, %d)", L.f)
    for _, col in ipairs(o.columns) do
      if col.on_list then -- the snapshot's on_list: the risk list's where (true: it has none)
        if col.on_list == true then g.add("    _df_s = true")
        else
          g.add("    _df_s = nil")
          compile.call(g, col.on_list, "_df_s")
        end
        g.add("    A.plain(A.ctx, %d, _df_s and \"true\" or \"false\", _df_s and 4 or 5)", L.f)
      elseif col.field == "rank" then g.add("    A.row_split(A.ctx, %d)", L.f)
      elseif o.mask and o.mask[col.name] then -- masked: *** for a value, empty stays empty
        g.add("    _df_s = nil")
        if type(col.field) == "function" then compile.call(g, col.field, "_df_s")
        else g.add("    _df_s = %s", g.value(col.field)) end
        g.add("    if _df_s == nil or _df_s == '' then A.empty(A.ctx, %d) else A.text(A.ctx, %d, '***', 3) end", L.f, L.f)
      elseif type(col.field) == "function" then
        g.add("    _df_s = nil")
        compile.call(g, col.field, "_df_s")
        g.add("    W(%d, _df_s, false, %q, nil, %s)", L.f, o.file .. ", column " .. col.name, tostring(o.decimals[col.name]))
      else
        write_field(g, job, L, col.field, o.decimals[col.name])
      end
    end
    g.add("    A.row_end(A.ctx, %d)", L.f)
    g.add("    local m = L.m + 1; L.m = m")
    if L.ent then g.add("    L.ent[m] = blo + _df_i - 1") end
    if o.split_by then g.add("    L.split[m] = %s", key_expr(g, job, o.split_by)) end
    for k, key in ipairs(o.order) do
      -- a text column sorts by its row: its bytes are compared where the keys before it tie
      -- (no string made per row)
      local view = g.text_columns[key.field]
      if view then L.text_keys[k] = view end
      g.add("    L.keys[%d][m] = %s", k, view and "blo + _df_i - 1" or key_expr(g, job, key.field))
    end
    g.add("    end")
  end, pre)
end

-- Bands and stages sort in their declared order.
function M.enum_rank(job, field)
  local list = field == "band" and job.bands or (field == "stage" and job.stages) or nil
  if not list then return nil end
  local r = {}
  for i, b in ipairs(list) do r[b[1]] = i end
  return r
end

-- -1, 0, 1: the texts of rows a and b of text view v, byte by byte (as Lua compares strings)
local function cmp_rows(v, a, b)
  local offs, p = v.offs, ffi.cast("const uint8_t*", v.arena)
  local oa, ob = tonumber(offs[a]), tonumber(offs[b])
  local la, lb = tonumber(offs[a + 1]) - oa, tonumber(offs[b + 1]) - ob
  for i = 0, (la < lb and la or lb) - 1 do
    local x, y = p[oa + i], p[ob + i]
    if x ~= y then return x < y and -1 or 1 end
  end
  if la == lb then return 0 end
  return la < lb and -1 or 1
end

-- -1, 0, 1; empty values last
function M.cmp_values(a, b, rank)
  if a == b then return 0 end
  if a == nil then return 1 end
  if b == nil then return -1 end
  if rank then a, b = rank[a] or huge, rank[b] or huge end
  if type(a) == "boolean" then a = a and 1 or 0 end
  if type(b) == "boolean" then b = b and 1 or 0 end
  if type(a) ~= type(b) then a, b = E.show(a), E.show(b) end
  if a < b then return -1 elseif a > b then return 1 end
  return 0
end

-- Orders and writes every list; returns {file = rows}.
function M.finish(job, api, counts)
  for _, L in ipairs(job.lists) do
    local o, m, keys = L.o, L.m, L.keys
    local ranks = {}
    for k, key in ipairs(o.order) do ranks[k] = M.enum_rank(job, key.field) end
    local idx = {}
    for i = 1, m do idx[i] = i end
    local text_keys = L.text_keys
    if #o.order > 0 then table.sort(idx, function(x, y)
      for k, key in ipairs(o.order) do
        local v = text_keys[k]
        local r = v and cmp_rows(v, keys[k][x], keys[k][y]) or M.cmp_values(keys[k][x], keys[k][y], ranks[k])
        if r ~= 0 then if key.desc then return r > 0 end return r < 0 end
      end
      return x < y
    end) end -- no order (the history snapshot): entity order
    if o.typed then
      L.sorted = idx -- sheets.lua writes it (split, as sheets, as a CSV file)
    else
      local arr = ffi.new("uint32_t[?]", m > 0 and m or 1)
      for i = 1, m do arr[i - 1] = idx[i] - 1 end
      if api.write_rows(api.ctx, L.f, arr, m) ~= 0 then
        E.throw({ where = o.file, message = "cannot write the output file (out of memory?)" })
      end
      counts[o.file] = m
    end
  end
end

return M
