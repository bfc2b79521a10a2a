-- explain.lua: why one entity has its score: every feature with its value, every rule fired
-- (with its reason) or how far it was from firing (read from the rule's condition: c.x OP
-- number, c.x OP c.y, between(c.x, lo, hi), a bare c.x; for other shapes, the fields it
-- looked at), an override, then points, score, band, stage and the values; as text or JSON.
-- The entity was scored by the same generated code as a run (compile.lua, with `trace`).
local dates = require("defector.dates")
local numbers = require("defector.numbers")
local entity = require("defector.entity")
local lists = require("defector.lists")
local fmt, concat = string.format, table.concat

local M = {}

local function json_value(v)
  if v == nil then return "null" end
  if type(v) == "boolean" then return tostring(v) end
  if type(v) == "number" then return numbers.text(v) end
  return '"' .. tostring(v):gsub('[%c"\\]', function(ch)
    local map = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
    return map[ch] or fmt("\\u%04x", ch:byte())
  end) .. '"'
end

local FLIP = { ["<"] = ">", [">"] = "<", ["<="] = ">=", [">="] = "<=", ["=="] = "==", ["~="] = "~=" }

-- The comparisons a rule's condition makes, read from its source.
local function conditions_of(job, fn)
  local info = debug.getinfo(fn, "S")
  if not info or info.linedefined < 1 then return {} end
  local lines = {}
  for l = info.linedefined, info.lastlinedefined do lines[#lines + 1] = job.lines[l] or "" end
  local src = concat(lines, " ")
  src = src:match("return%s+(.-)%s+end[%s%)]*$") or src:match("return%s+(.*)") or ""
  local conds, used = {}, {}
  for f, lo, hi in src:gmatch("between%(%s*c%.([%w_]+)%s*,%s*(%-?[%d%.]+)%s*,%s*(%-?[%d%.]+)%s*%)") do
    conds[#conds + 1] = { kind = "between", f = f, lo = tonumber(lo), hi = tonumber(hi) }; used[f] = true
  end
  for f, op, g in src:gmatch("c%.([%w_]+)%s*([<>=~]=?)%s*c%.([%w_]+)") do
    conds[#conds + 1] = { kind = "fields", f = f, op = op, g = g }; used[f] = true; used[g] = true
  end
  for f, op, x in src:gmatch("c%.([%w_]+)%s*([<>=~]=?)%s*(%-?[%d%.]+)") do
    if op ~= "=" then conds[#conds + 1] = { kind = "cmp", f = f, op = op, x = tonumber(x) }; used[f] = true end
  end
  for x, op, f in src:gmatch("(%-?[%d%.]+)%s*([<>=~]=?)%s*c%.([%w_]+)") do
    if op ~= "=" then conds[#conds + 1] = { kind = "cmp", f = f, op = FLIP[op], x = tonumber(x) }; used[f] = true end
  end
  for f in src:gmatch("c%.([%w_]+)") do
    if not used[f] then conds[#conds + 1] = { kind = "bool", f = f }; used[f] = true end
  end
  return conds
end

local function holds(v, op, x)
  if v == nil or x == nil or type(v) ~= type(x) then return false end
  if op == "<" then return v < x elseif op == ">" then return v > x
  elseif op == "<=" then return v <= x elseif op == ">=" then return v >= x
  elseif op == "==" then return v == x else return v ~= x end
end

local function why_not(job, r, c, trace, show)
  local why = {}
  for _, cd in ipairs(conditions_of(job, r.when)) do
    local v = c[cd.f]
    if cd.kind == "between" and not (v ~= nil and v >= cd.lo and v <= cd.hi) then
      why[#why + 1] = fmt("%s = %s, fires at %s to %s", cd.f, show(cd.f, v), numbers.text(cd.lo), numbers.text(cd.hi))
    elseif cd.kind == "cmp" and not holds(v, cd.op, cd.x) then
      why[#why + 1] = fmt("%s = %s, fires at %s %s", cd.f, show(cd.f, v), cd.op, numbers.text(cd.x))
    elseif cd.kind == "fields" and not holds(v, cd.op, c[cd.g]) then
      why[#why + 1] = fmt("%s = %s, %s = %s, fires when %s %s %s", cd.f, show(cd.f, v), cd.g, show(cd.g, c[cd.g]), cd.f, cd.op, cd.g)
    elseif cd.kind == "bool" and not v then
      why[#why + 1] = fmt("%s = %s", cd.f, show(cd.f, v))
    end
  end
  if #why == 0 then -- the condition's shape is not one we read: show what it looked at
    local done = {}
    for _, f in ipairs(trace or {}) do
      if not done[f] then done[f] = true; why[#why + 1] = fmt("%s = %s", f, show(f, c[f])) end
    end
  end
  return concat(why, "; ")
end

local function as_json(job, id, c, J, show_date)
  local parts = { '{"key": ' .. json_value(job.entity.key) .. ', "entity": ' .. json_value(id), '"features": {' }
  local fs = {}
  for _, f in ipairs(J.features) do
    fs[#fs + 1] = json_value(f.name) .. ": " .. json_value(type(f.value) == "number" and show_date(f.name) and dates.text(f.value) or f.value)
  end
  parts[2] = parts[2] .. concat(fs, ", ") .. "}"
  local rs = {}
  for _, r in ipairs(J.rules) do
    rs[#rs + 1] = fmt('{"code": %s, "points": %s, "fired": %s, %s}', json_value(r.code), json_value(r.points), tostring(r.fired),
      r.fired and ('"reason": ' .. json_value(r.reason)) or ('"why_not": ' .. json_value(r.why_not)))
  end
  parts[3] = '"rules": [' .. concat(rs, ", ") .. "]"
  parts[4] = fmt('"points": %s, "score": %s, "band": %s, "stage": %s', json_value(c.points), json_value(c.score), json_value(c.band), json_value(c.stage))
  local vs = {}
  for _, v in ipairs(job.values) do
    local x = c[v.name]
    vs[#vs + 1] = json_value(v.name) .. ": " .. json_value(type(x) == "number" and show_date(v.name) and dates.text(x) or x)
  end
  parts[5] = '"values": {' .. concat(vs, ", ") .. "}"
  return concat(parts, ", ") .. "}\n"
end

-- A sequence aggregate in words: "voicemail -> callback, hours, within 24, last 90 days: missed".
local function sequence_text(a)
  local function side(entries)
    local l = {}
    for _, e in ipairs(entries) do
      if e.kind == "in" then
        local vs = {}
        for i, x in ipairs(e.values) do vs[i] = tostring(x) end
        l[#l + 1] = (#entries > 1 and (e.col .. " = ") or "") .. concat(vs, "|")
      else l[#l + 1] = e.col .. " " .. e.kind end
    end
    return #l > 0 and concat(l, ", ") or "any row"
  end
  return fmt("%s -> %s, %s%s%s: %s", side(a.from), side(a.to), a.unit, a.within and (", within " .. numbers.text(a.within)) or "",
    a.last_days and fmt(", last %d days", a.last_days) or "", a.result)
end

-- The report for the entity just scored (job.ent), with the rules' traces.
function M.report(job, trace, id, json)
  local E = job.ent
  local c, i = E.c, E.cur.i
  local ov = E.override[i]
  local fired = {}
  for k = 1, #job.rules do fired[k] = E.fired[k][i] end
  local function is_date(name) return lists.is_date(job, name) end
  local function show(name, v)
    if v == nil then return "(none)" end
    if type(v) == "number" and is_date(name) then return dates.text(v) end
    if type(v) == "number" then return numbers.text(v) end
    return tostring(v)
  end
  local out, J = {}, { features = {}, rules = {} }
  local function add(...) out[#out + 1] = fmt(...) end
  add("%s %s (as of %s)", job.entity.key, id, dates.text(job.as_of))
  add("")
  add("features")
  local width = 0
  for _, f in ipairs(job.features) do if #f.name > width then width = #f.name end end
  for _, f in ipairs(job.features) do
    local seq = type(f.def) == "table" and f.def.kind == "sequence" and f.def -- time_to_next: what it measures
    add("  %-" .. width .. "s  %s%s", f.name, show(f.name, c[f.name]), seq and ("   (" .. sequence_text(seq) .. ")") or "")
    J.features[#J.features + 1] = { name = f.name, value = c[f.name] }
  end
  add("")
  add("rules")
  for k, r in ipairs(job.rules) do
    local jr = { code = r.code, points = r.points, fired = fired[k] }
    if fired[k] then
      jr.reason = entity.reason_text(r, c)
      add("  FIRED  +%-4s %s: %s", numbers.text(r.points), r.code, jr.reason)
    else
      jr.why_not = why_not(job, r, c, trace[k], show)
      add("  -      %-5s %s: %s", numbers.text(r.points), r.code, jr.why_not)
    end
    J.rules[#J.rules + 1] = jr
  end
  if ov then
    add("  OVERRIDE %s%s: %s%s", ov.points and fmt("%+g points", ov.points) or "", ov.band and ((ov.points and ", " or "") .. "band " .. ov.band) or "",
      ov.reason, ov.expires ~= "" and (" (until " .. ov.expires .. ")") or "")
  end
  add("")
  add("points %s, score %s, band %s, stage %s", show("points", c.points), show("score", c.score), show("band", c.band), show("stage", c.stage))
  for _, v in ipairs(job.values) do add("  %s = %s", v.name, show(v.name, c[v.name])) end
  if job.fields.next_action == "value" and c.next_action ~= nil then -- actions.lua
    add("action %s, due %s (rule %s)", show("next_action", c.next_action), show("due_date", c.due_date), show("action_rule", c.action_rule))
  end
  if not json then return concat(out, "\n") .. "\n" end
  return as_json(job, id, c, J, is_date)
end

-- What a test case compares: score, points, band, stage, fired rules, every feature and value.
function M.result(job)
  local E = job.ent
  local c = E.c
  local codes, vals, reasons = {}, {}, {}
  for k, r in ipairs(job.rules) do
    if E.fired[k][E.cur.i] then codes[#codes + 1] = r.code; reasons[r.code] = entity.reason_text(r, c) end
  end
  for _, col in ipairs(job.entity.columns) do vals[col.name] = c[col.name] end
  for _, f in ipairs(job.features) do vals[f.name] = c[f.name] end
  for _, v in ipairs(job.values) do vals[v.name] = c[v.name] end
  return { score = c.score, points = c.points, band = c.band, stage = c.stage, rules = codes, fields = vals, reasons = reasons }
end

return M
