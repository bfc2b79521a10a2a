-- entity.lua: the entities of a block as rules see them. The generated code (compile.lua)
-- evaluates a block of entities a field at a time: each field is a column (an array over the
-- block's entities, 1 .. n) filled by one loop. Rules get `c`, an empty read-only view of the
-- entity the loop is at (cur.i): a read of c.name comes from its column if that column was
-- computed for this block already, from the table itself for a text column (most entities
-- never need their name), from the rules that fired for reason_codes and reasons; a field
-- not yet computed is an error (the dependency order makes that impossible for reads written
-- as c.name; this check catches the rest), never another entity's value.
local bind = require("defector.bind")
local numbers = require("defector.numbers")
local fmt, concat = string.format, table.concat

local M = {}

M.MASK_RULES = 52 -- rules whose fired flags fit a number's bits exactly

-- The text of rule r's reason for the entity c.
function M.reason_text(r, c)
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
      elseif type(v) == "number" then p = numbers.text(v)
      else p = tostring(v) end
    end
    out[i] = p
  end
  return concat(out)
end

local function read_only(k)
  error("rules cannot change the entity: '" .. tostring(k) .. "' is read-only", 2)
end

local function array(n)
  local t = {}
  for i = 1, n do t[i] = false end
  return t
end

-- The block's columns for every field the generated code computes or reads.
local function columns(job, E, size)
  for _, col in ipairs(job.entity.columns) do
    if col.type ~= "text" then E.col[col.name] = array(size) end
  end
  for _, S in ipairs(job.scans or {}) do
    for _, f in ipairs(S.feats) do E.col[f.name] = array(size) end
  end
  for _, n in ipairs(job.nodes) do
    if n.kind ~= "rule" then E.col[n.name] = array(size) end
  end
  E.col.points = E.col.points or array(size) -- reset per block even when no node computes it (history.prune)
  for k = 1, #job.rules do E.fired[k] = array(size) end
  -- the rules that fired as one number (rule k adds 2^(k-1)), while that is exact
  if #job.rules <= M.MASK_RULES then E.mask = array(size) end
  E.override = array(size)
end

-- The entity record for a job, for blocks of up to `size` entities:
--   E.col[name], E.done[name] (the block number its column holds), E.blk {no, blo, n},
--   E.cur {i}, E.fired[k] (rule k fired, by entity), E.mask (the rules that fired, as bits of
--   a number, for at most MASK_RULES rules), E.override (by entity), E.c (the view).
function M.new(job, size)
  local E = { col = {}, done = {}, blk = { no = 0, blo = 0, n = 0 }, cur = { i = 1 }, fired = {}, lazy = {} }
  columns(job, E, size)
  local col, done, blk, cur, lazy, fields = E.col, E.done, E.blk, E.cur, E.lazy, job.fields
  for _, cl in ipairs(job.entity.columns) do
    local v = job.views and job.views[job.entity.name][cl.name]
    if cl.type == "text" and v then lazy[cl.name] = function(row) return bind.text_at(v, row) end end
  end
  local function reasons(sep, text)
    if done.points ~= blk.no then
      require("defector.errors").raise(job, "reason_codes and reasons are known only once every rule ran for the entity: a rule cannot read them", 3)
    end
    return M.reasons(job, E, sep, text)
  end
  lazy.reason_codes = function() return reasons(";", false) end
  lazy.reasons = function() return reasons("; ", true) end
  E.c = setmetatable({}, {
    __index = function(_, k)
      local cl = col[k]
      if cl ~= nil then
        if done[k] ~= blk.no then
          error(fmt("read c.%s before it was computed for this entity: the engine orders the computation by the names it sees written c.%s in each function; write c.%s instead of c[...], or pass c to helpers directly",
            k, k, k), 2)
        end
        return cl[cur.i]
      end
      local l = lazy[k]
      if l then return l(blk.blo + cur.i - 1) end
      if fields[k] then return nil end
      error("unknown field '" .. tostring(k) .. "': not a column, feature or value declared in the rule file", 2)
    end,
    __newindex = function(_, k) read_only(k) end,
    __metatable = false,
  })
  return E
end

-- The row (in the entity table) of the entity being evaluated.
function M.row(E) return E.blk.blo + E.cur.i - 1 end

-- The codes (sep ";") or reasons (sep "; ", text) of the rules that fired for the entity.
function M.reasons(job, E, sep, text)
  local parts, rules, i = {}, job.rules, E.cur.i
  for k = 1, #rules do
    if E.fired[k][i] then parts[#parts + 1] = text and M.reason_text(rules[k], E.c) or rules[k].code end
  end
  local ov = E.override[i]
  if ov then parts[#parts + 1] = text and ("override: " .. ov.reason) or "override" end
  return concat(parts, sep)
end

return M
