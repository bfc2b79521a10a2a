-- entity.lua: the entity being scored, as rules see it. `cr` holds this entity's values (set
-- by the generated code with rawset); rules get `c`, an empty read-only view whose reads fall
-- through to cr. A read of a name cr lacks lands in cr's __index: text columns are read from
-- the column then (most entities never need their name), reason_codes and reasons are made
-- from the rules that fired, a declared value that is empty is nil, and a value not yet
-- computed for this entity is an error (the dependency order makes that impossible for reads
-- written as c.name; this check catches the rest), never the previous entity's value.
local bind = require("defector.bind")
local numbers = require("defector.numbers")
local fmt, concat = string.format, table.concat

local M = {}

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

-- The entity record for a job: E.cr, E.c, E.cur ({row, override, rules_at}), E.nilat, E.fired.
function M.new(job)
  local E = { cr = {}, cur = { row = -1, rules_at = -2 }, nilat = {}, fired = {}, lazy = {} }
  local cr, cur, nilat, lazy, fields = E.cr, E.cur, E.nilat, E.lazy, job.fields
  for _, col in ipairs(job.entity.columns) do
    local v = job.views and job.views[job.entity.name][col.name]
    if col.type == "text" and v then lazy[col.name] = function(i) return bind.text_at(v, i) end end
  end
  local computed = {}
  for _, n in ipairs(job.nodes) do if n.kind ~= "rule" then computed[n.name] = n end end
  E.computed = computed
  local function reasons(sep, text)
    if cur.rules_at ~= cur.row then error("reason_codes and reasons are known only once every rule ran for the entity", 3) end
    return M.reasons(job, E, sep, text)
  end
  lazy.reason_codes = function() return reasons(";", false) end
  lazy.reasons = function() return reasons("; ", true) end
  setmetatable(cr, {
    __index = function(_, k)
      local l = lazy[k]
      if l then return l(cur.row) end
      if computed[k] then
        if nilat[k] == cur.row then return nil end
        error(fmt("read c.%s before it was computed for this entity: the engine orders the computation by the names it sees written c.%s in each function; write c.%s instead of c[...], or pass c to helpers directly",
          k, k, k), 2)
      end
      if fields[k] then return nil end
      error("unknown field '" .. tostring(k) .. "': not a column, feature or value declared in the rule file", 2)
    end,
    __newindex = function(_, k) read_only(k) end,
    __metatable = false,
  })
  E.c = setmetatable({}, { __index = cr, __newindex = function(_, k) read_only(k) end, __metatable = false })
  return E
end

-- The codes (sep ";") or reasons (sep "; ", text) of the rules that fired for the entity.
function M.reasons(job, E, sep, text)
  local parts, rules, fired = {}, job.rules, E.fired
  for k = 1, #rules do
    if fired[k] then parts[#parts + 1] = text and M.reason_text(rules[k], E.c) or rules[k].code end
  end
  local ov = E.cur.override
  if ov then parts[#parts + 1] = text and ("override: " .. ov.reason) or "override" end
  return concat(parts, sep)
end

return M
