-- depend.lua: the order in which an entity's values are computed. Every feature, rule, the
-- points, score, band, stage and every value is a node; a node depends on the nodes whose
-- names its function reads (bytecode.lua). The nodes are put in dependency order (the
-- declaration order wherever the dependencies allow), whatever order the rule file declares
-- them in; a cycle, a read of a name that is never defined, a write to the entity, an unknown
-- global and a function that can end without a value are refused with their lines (both lines
-- for a cycle). Columns and history aggregates are known before any node runs.
local B = require("defector.bytecode")
local E = require("defector.errors")
local suggest = require("defector.suggest")
local fmt, concat = string.format, table.concat

local M = {}

local function node(kind, name, fn, line, label, extra)
  local n = { kind = kind, name = name, fn = fn, line = line, label = label, deps = {}, reads = {} }
  for k, v in pairs(extra or {}) do n[k] = v end
  return n
end

-- The nodes in declaration order: function features, rules, points, score, band, stage, values.
local function collect(job)
  local list = {}
  for _, f in ipairs(job.features) do
    if type(f.def) == "function" then list[#list + 1] = node("feature", f.name, f.def, f.line, "feature " .. f.name) end
  end
  for _, r in ipairs(job.rules) do list[#list + 1] = node("rule", "#rule " .. r.code, r.when, r.line, "rule " .. r.code, { rule = r }) end
  list[#list + 1] = node("points", "points", nil, nil, "points")
  list[#list + 1] = node("score", "score", job.score, job.score_line, "score")
  list[#list + 1] = node("band", "band", nil, job.bands_line, "band")
  list[#list + 1] = node("stage", "stage", nil, job.stages_line, "stage")
  for _, v in ipairs(job.values) do list[#list + 1] = node("value", v.name, v.fn, v.line, "value " .. v.name, { value = v }) end
  return list
end

local function known_names(job)
  local l = {}
  for name in pairs(job.fields) do l[#l + 1] = name end
  table.sort(l)
  return l
end

-- Reports what a per-entity function does wrong; returns its reads. A filter's function gets a
-- value, not the entity (value_fn): only its globals and returns are checked.
local function inspect(job, fn, what, want_value, value_fn)
  local acc = value_fn and { reads = {}, writes = {}, globals = B.access(job, fn).globals, sets = B.access(job, fn).sets }
    or B.access(job, fn)
  for name, line in pairs(acc.writes) do
    E.record(job, E.at(job, line), fmt("rules cannot change the entity: %s sets c.%s", what, name),
      "compute a new value with feature(...) or value(...) instead")
  end
  for name, line in pairs(acc.globals) do
    if job.env and rawget(job.env, name) == nil then
      E.record(job, E.at(job, line), fmt("unknown name '%s' in %s", name, what), require("defector.wording").unknown_name_fix(name, job.env))
    end
  end
  for name, line in pairs(acc.sets) do
    E.record(job, E.at(job, line), fmt("cannot set global '%s' in %s", name, what), "write 'local " .. name .. " = ...'")
  end
  if want_value and B.user_info(job, fn) then
    local line = B.falls_through(fn, job.env)
    if line then
      E.record(job, E.at(job, line), fmt("%s can end without returning a value", what),
        want_value == "bool" and "end every path with a return, e.g. return false"
        or "end every path with a return; write return nil where no value is meant")
    end
  end
  return acc
end

local function check_read(job, name, line, what, known)
  if job.fields[name] then
    if name == "rank" then
      E.record(job, E.at(job, line), fmt("%s reads c.rank, which is only known when a list is written", what), "order the list instead")
      return false
    end
    return true
  end
  local s = suggest.closest(name, known)
  E.record(job, E.at(job, line), fmt("%s reads c.%s, which is never defined: not a column, feature or value", what, name),
    s and fmt("did you mean '%s'?", s) or "declare it with feature(...) or value(...), or add the column to the table")
  return false
end

-- The deps of each node from what its functions read.
local function link(job, nodes, by_name)
  local known = known_names(job)
  local rules = {}
  for _, n in ipairs(nodes) do if n.kind == "rule" then rules[#rules + 1] = n.name end end
  local function reads_of(n, fn, what, want)
    local acc = inspect(job, fn, what, want)
    n.dynamic = n.dynamic or acc.dynamic
    for name, line in pairs(acc.reads) do
      -- reason_codes and reasons are made from the rules that fired: they come with the points
      if name == "reason_codes" or name == "reasons" then
        n.alias = n.alias or {}
        n.alias.points = name
        name = "points"
      end
      -- a field reading itself is a cycle of one
      if check_read(job, name, line, what, known) and by_name[name] then
        n.reads[name] = n.reads[name] or line
      end
    end
  end
  for _, n in ipairs(nodes) do
    if n.kind == "feature" or n.kind == "value" then reads_of(n, n.fn, n.label, "value")
    elseif n.kind == "rule" then reads_of(n, n.fn, n.label, "bool")
    elseif n.kind == "points" then for _, r in ipairs(rules) do n.reads[r] = 0 end
    elseif n.kind == "score" then
      if n.fn then reads_of(n, n.fn, "score", "value") else n.reads.points = 0 end
    elseif n.kind == "band" then n.reads.score = 0
    elseif n.kind == "stage" then
      for _, st in ipairs(job.stages or {}) do
        if st[2] then reads_of(n, st[2], "stage " .. st[1], "bool") end
      end
    end
  end
end

-- A cycle among the nodes not yet placed: a message naming each step and its line, and the
-- nodes on it.
local function cycle_message(job, left, by_name)
  local start
  for _, n in ipairs(left) do start = start or n end
  local path, at, seen = {}, start, {}
  while not seen[at] do
    seen[at] = #path + 1
    path[#path + 1] = at
    local nxt
    for name in pairs(at.reads) do
      local d = by_name[name]
      if d and not d.placed and (not nxt or d.order < nxt.order) then nxt = d end
    end
    at = nxt
  end
  local steps, nodes = {}, {}
  for i = seen[at], #path do
    local n = path[i]
    local nx = path[i + 1] or at
    local target = nx.kind == "rule" and nx.label or (n.alias and n.alias[nx.name]) or nx.name
    local step
    if n.kind == "points" then step = "points are the sum of the points of every rule, " .. target .. " among them"
    elseif n.kind == "band" then step = fmt("the band%s is found from %s", n.line and fmt(" (line %d)", n.line) or "", target)
    else step = fmt("%s%s reads %s", n.label, n.line and fmt(" (line %d)", n.line) or "", target) end
    steps[#steps + 1] = step
    nodes[#nodes + 1] = n
  end
  return concat(steps, "; "), at, nodes
end

-- Kahn's algorithm: the first node (in declaration order) whose dependencies are placed, each
-- time; nodes that read in ways the bytecode cannot follow go last among those ready. Each
-- cycle is recorded and its nodes set aside, so that every cycle is reported.
local function sort_nodes(job, nodes, by_name)
  for i, n in ipairs(nodes) do n.order = (n.dynamic and 1e6 or 0) + i end
  local out, left = {}, {}
  for _, n in ipairs(nodes) do left[#left + 1] = n end
  while #left > 0 do
    local pick, pi
    for i, n in ipairs(left) do
      local ready = true
      for name in pairs(n.reads) do
        local d = by_name[name]
        if d and not d.placed then ready = false break end
      end
      if ready and (not pick or n.order < pick.order) then pick, pi = n, i end
    end
    if pick then
      pick.placed = true
      out[#out + 1] = pick
      table.remove(left, pi)
    else
      local msg, at, cycle = cycle_message(job, left, by_name)
      E.record(job, E.at(job, at.line), "these values depend on each other: " .. msg,
        "a value cannot depend on itself; compute one of them from other fields")
      for _, n in ipairs(cycle) do n.placed = true; out[#out + 1] = n end
      local rest = {}
      for _, n in ipairs(left) do if not n.placed then rest[#rest + 1] = n end end
      left = rest
    end
  end
  return out
end

-- The functions run after every node (outputs, reasons, metric filters): only their reads are
-- checked.
local function check_late(job)
  local known = known_names(job)
  local function late(fn, what, want, value_fn)
    if type(fn) ~= "function" then return end
    local acc = inspect(job, fn, what, want, value_fn)
    for name, line in pairs(acc.reads) do check_read(job, name, line, what, known) end
  end
  for _, r in ipairs(job.rules) do
    if type(r.reason) == "function" then late(r.reason, "the reason of rule " .. r.code, "value") end
    for i = 2, #(r.parts or {}), 2 do
      local name = r.parts[i]
      if not job.fields[name] then
        local s = suggest.closest(name, known)
        E.record(job, E.at(job, r.line), fmt("the reason of rule %s shows {%s}, which is not a feature or column", r.code, name),
          s and fmt("did you mean {%s}?", s) or "use a declared name")
      end
    end
  end
  for _, o in ipairs(job.outputs) do
    local what = (o.kind == "list" and "output " or "metrics ") .. o.file
    late(o.where, what .. " (where)", "bool")
    for _, c in ipairs(o.columns) do
      if type(c.field) == "function" then late(c.field, what .. " column " .. c.name, "value") end
      if c.agg then late(c.agg.where, what .. " column " .. c.name, "bool") end
    end
  end
  for _, f in ipairs(job.features) do
    if type(f.def) ~= "function" then
      for _, e in ipairs(f.def.filters) do if e.fn then late(e.fn, "the filter of feature " .. f.name, "value", true) end end
    end
  end
end

-- job.nodes: the nodes in the order they are computed for each entity.
function M.order(job)
  local nodes = collect(job)
  local by_name = {}
  for _, n in ipairs(nodes) do by_name[n.name] = n end
  link(job, nodes, by_name)
  check_late(job)
  job.nodes = sort_nodes(job, nodes, by_name)
  return job.nodes
end

return M
