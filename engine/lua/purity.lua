-- purity.lua: rules see one entity at a time, and entities are scored in parallel parts (one
-- Lua state per thread), so a function run per entity must not keep anything from one entity
-- to the next: assigning to a local declared outside it (n = n + 1), or storing into a table it
-- reaches that way (seen[c.segment] = true), would make the results depend on --threads.
--   * found in the bytecode of the functions (and of the rule file's helpers they reach),
--     before anything is read: M.check;
--   * table.insert/remove/sort refuse the tables reached that way (job.outer): M.guarded;
--   * a helper changing a table it is given is found by comparing those tables with a copy
--     taken at declaration, once the entities are scored: M.changed.
local B = require("defector.bytecode")
local E = require("defector.errors")
local fmt = string.format

local M = {}

local WHY = "rules see one entity at a time, and entities are scored in parallel parts, so a value kept from one entity to the next would depend on --threads"
M.WHY = WHY

local TSET = { TSETV = true, TSETS = true, TSETB = true, TSETR = true }

-- The line and name of a write into an outside local or a table reached through one, in fn or
-- the user's functions it holds as upvalues.
local function shared_write(job, fn, seen)
  if seen[fn] or not B.user_info(job, fn) then return nil end
  seen[fn] = true
  local from_uv = {} -- register -> name of the outside local it was loaded from
  for _, ins in ipairs(B.decode(fn)) do
    local op, a, b = ins.op, ins.a, ins.b
    if op:sub(1, 4) == "USET" then return ins.line, require("jit.util").funcuvname(fn, a) end
    if TSET[op] and from_uv[b] then return ins.line, from_uv[b] end
    if op == "TSETM" and from_uv[a - 1] then return ins.line, from_uv[a - 1] end
    local derived = op:sub(1, 4) == "TGET" and from_uv[b] -- t.list where t is outside
    if ins.ma == 1 then from_uv[a] = nil
    elseif ins.ma == 2 or ins.ma == 4 then
      for r in pairs(from_uv) do if r >= a then from_uv[r] = nil end end
    end
    if op == "UGET" then from_uv[a] = require("jit.util").funcuvname(fn, ins.d) end
    if derived then from_uv[a] = derived end
  end
  for i = 1, B.user_info(job, fn).upvalues or 0 do
    local _, v = debug.getupvalue(fn, i)
    if type(v) == "function" then
      local l, n = shared_write(job, v, seen)
      if l then return l, n end
    end
  end
  return nil
end

-- Marks the tables fn reaches through its upvalues (and the user's functions it calls), and the
-- tables inside them, in job.outer with the local's name, and keeps a copy of each in job.snap.
-- Engine handles and lookup tables (tables with a metatable) are left alone.
local function mark_outer(job, fn, seen)
  if seen[fn] or not B.user_info(job, fn) then return end
  seen[fn] = true
  local function mark(t, name, depth)
    if seen[t] or job.sealed[t] or getmetatable(t) ~= nil or depth > 8 then return end
    seen[t] = true
    job.outer[t] = name
    local copy = {}
    for k, v in next, t do copy[k] = v end
    job.snap[t] = copy
    for _, v in next, t do
      if type(v) == "table" then mark(v, name, depth + 1)
      elseif type(v) == "function" then mark_outer(job, v, seen) end
    end
  end
  for i = 1, B.user_info(job, fn).upvalues or 0 do
    local name, v = debug.getupvalue(fn, i)
    if type(v) == "table" then mark(v, name, 0)
    elseif type(v) == "function" then mark_outer(job, v, seen) end
  end
end

-- Every function the rule file runs per entity, with what it is for messages.
function M.per_entity(job)
  local list = {}
  local function add(fn, what) if type(fn) == "function" then list[#list + 1] = { fn = fn, what = what } end end
  for _, f in ipairs(job.features) do
    if type(f.def) == "function" then add(f.def, "feature " .. f.name)
    else for _, e in ipairs(f.def.filters) do add(e.fn, "the filter of feature " .. f.name) end end
  end
  for _, r in ipairs(job.rules) do add(r.when, "rule " .. r.code); add(r.reason, "the reason of rule " .. r.code) end
  add(job.score, "score")
  for _, st in ipairs(job.stages or {}) do add(st[2], "stage " .. tostring(st[1])) end
  for _, v in ipairs(job.values) do add(v.fn, "value " .. v.name) end
  for _, o in ipairs(job.outputs) do
    add(o.where, o.kind .. " " .. o.file .. " (where)")
    for _, c in ipairs(o.columns) do
      if type(c.field) == "function" then add(c.field, o.kind .. " " .. o.file .. " column " .. tostring(c.name)) end
      if c.agg then add(c.agg.where, o.kind .. " " .. o.file .. " column " .. tostring(c.name)) end
    end
  end
  return list
end

-- Refuses (or, in check, records) functions that keep values across entities.
function M.check(job)
  local seen, marked = {}, {}
  local function one(fn, what)
    mark_outer(job, fn, marked)
    local line, name = shared_write(job, fn, seen)
    if line then
      E.record(job, E.at(job, line), fmt("%s changes '%s', which is declared outside it: %s", what, tostring(name), WHY),
        "compute it from the entity (c) alone; to count entities, use a metrics table")
    end
  end
  for _, f in ipairs(M.per_entity(job)) do one(f.fn, f.what) end
  -- functions reached through outer tables (H.add(c)) are checked too
  local more = {}
  for x in pairs(marked) do if type(x) == "function" and not seen[x] then more[#more + 1] = x end end
  table.sort(more, function(x, y) return B.user_info(job, x).linedefined < B.user_info(job, y).linedefined end)
  for _, fn in ipairs(more) do one(fn, "function defined at line " .. B.user_info(job, fn).linedefined) end
end

-- table.insert/remove/sort for rule files: refused on a table declared outside the function.
function M.guarded(job, fn, fname)
  return function(t, ...)
    local name = job.outer[t]
    if name then
      E.raise(job, fmt("table.%s changes '%s', which is declared outside the function: %s; compute it from the entity (c) alone, or count with a metrics table",
        fname, name, WHY), 2)
    end
    return fn(t, ...)
  end
end

-- The name of an outer table that differs from its copy, if any.
function M.changed(job)
  for t, copy in pairs(job.snap) do
    for k, v in next, t do
      local was = copy[k]
      if was ~= v and not (v ~= v and was ~= was) then return job.outer[t] end
    end
    for k in next, copy do
      if rawget(t, k) == nil then return job.outer[t] end
    end
  end
  return nil
end

return M
