-- history.lua: what a rule file says about the run history (docs/history.md): snapshot { ... }
-- (what the night's customers.csv.gz keeps beside key, score, band, stage, on_list and
-- reason_codes; which field means defected; which list is the risk list) and changes { ... }
-- (the changes-since-the-previous-night tables, computed in C by changes.c). With --history the
-- snapshot is one more list output, written into the night folder (open_history) in entity
-- order; info() tells C what it needs (the metrics tables, bands, stages, the declarations).
local E = require("defector.errors")
local fmt = string.format

local M = {}

local function check(job, cond, msg, level, fix) return E.check(job, cond, msg, (level or 2) + 1, fix) end

-- Every option of a declaration's table is one of names (what: the declaration, for messages).
local function known(job, spec, what, names)
  local ok = {}
  for _, n in ipairs(names) do ok[n] = true end
  for k in pairs(spec) do
    check(job, ok[k], what .. ": unknown option '" .. tostring(k) .. "'", 3, "the options are " .. table.concat(names, ", ") .. " (docs/history.md)")
  end
end

local function plain_file(job, file, what)
  require("defector.outputs").claim_file(job, file, what .. " must be a plain file name ending in .csv, like \"changes.csv\"", "%.csv")
end

local function api_snapshot(job, spec)
  check(job, type(spec) == "table", "snapshot { keep = { ... }, defected = \"...\", list = \"...\" } expects a table", 2)
  check(job, job.snapshot == nil, "snapshot is declared twice", 2)
  known(job, spec, "snapshot", { "keep", "defected", "list", "revenue" })
  check(job, spec.keep == nil or type(spec.keep) == "table", "snapshot: keep must list field names, like { \"revenue_at_risk\" }", 2)
  for i, f in ipairs(spec.keep or {}) do
    check(job, type(f) == "string", fmt("snapshot: keep entry %d must be a field name", i), 2)
  end
  for _, k in ipairs({ "defected", "list", "revenue" }) do
    check(job, spec[k] == nil or type(spec[k]) == "string", "snapshot: " .. k .. " must be a name (text)", 2)
  end
  job.snapshot = { keep = spec.keep or {}, defected = spec.defected, list = spec.list, revenue = spec.revenue, line = E.line(job, 2) }
end

local function api_changes(job, spec)
  check(job, type(spec) == "table", "changes { file = \"changes.csv\", flows = \"flows.csv\" } expects a table", 2)
  check(job, job.changes == nil, "changes is declared twice", 2)
  known(job, spec, "changes", { "file", "flows", "min_score_change" })
  plain_file(job, spec.file, "changes: 'file'")
  if spec.flows ~= nil then plain_file(job, spec.flows, "changes: 'flows'") end
  local m = spec.min_score_change
  check(job, m == nil or (type(m) == "number" and m > 0), "changes: min_score_change must be a number above 0 (points of score)", 2)
  job.changes = { file = spec.file, flows = spec.flows, min_score_change = m, line = E.line(job, 2) }
end

local function nights_of(job, spec, what)
  local n = spec.nights or 12
  check(job, type(n) == "number" and n == math.floor(n) and n >= 1 and n <= 3660, what .. ": nights must be a whole number from 1 to 3660", 3)
  return n
end

-- trend { file = "trend_stage.csv", metrics = "metrics_stage.csv", nights = 30 }
local function api_trend(job, spec)
  check(job, type(spec) == "table", "trend { file = ..., metrics = ..., nights = N } expects a table", 2)
  known(job, spec, "trend", { "file", "metrics", "nights" })
  plain_file(job, spec.file, "trend: 'file'")
  check(job, type(spec.metrics) == "string", "trend: metrics must name the file of a metrics { } table of the rule file", 2)
  job.trends = job.trends or {}
  job.trends[#job.trends + 1] = { file = spec.file, metrics = spec.metrics, nights = nights_of(job, spec, "trend"), line = E.line(job, 2) }
end

-- churn { file = "churn.csv", nights = 12 }: churn and revenue retention per period between nights
local function api_churn(job, spec)
  check(job, type(spec) == "table", "churn { file = ..., nights = N } expects a table", 2)
  check(job, job.churn == nil, "churn is declared twice", 2)
  known(job, spec, "churn", { "file", "nights" })
  plain_file(job, spec.file, "churn: 'file'")
  job.churn = { file = spec.file, nights = nights_of(job, spec, "churn"), line = E.line(job, 2) }
end

-- backtest { outcome = "defected", eligible = "not_defected", k = { 100, 1000 } }: what
-- `defector backtest` compares the scores with (docs/history.md, Backtest)
local function api_backtest(job, spec)
  check(job, type(spec) == "table", "backtest { outcome = \"...\", eligible = \"...\", k = { ... } } expects a table", 2)
  check(job, job.backtest == nil, "backtest is declared twice", 2)
  known(job, spec, "backtest", { "outcome", "eligible", "k" })
  check(job, type(spec.outcome) == "string", "backtest: outcome must name a true/false field, e.g. outcome = \"defected\"", 2)
  check(job, spec.eligible == nil or type(spec.eligible) == "string", "backtest: eligible must name a true/false field", 2)
  check(job, spec.k == nil or type(spec.k) == "table", "backtest: k must list list sizes, e.g. k = { 100, 1000 }", 2)
  local ks = {}
  for i, k in ipairs(spec.k or {}) do
    check(job, type(k) == "number" and k == math.floor(k) and k >= 1, fmt("backtest: k entry %d must be a whole number of customers, 1 or more", i), 2)
    ks[i] = k
  end
  job.backtest = { outcome = spec.outcome, eligible = spec.eligible, k = ks, line = E.line(job, 2) }
end

function M.api(job)
  return {
    backtest = function(spec) return api_backtest(job, spec) end,
    snapshot = function(spec) return api_snapshot(job, spec) end,
    changes = function(spec) return api_changes(job, spec) end,
    trend = function(spec) return api_trend(job, spec) end,
    churn = function(spec) return api_churn(job, spec) end,
  }
end

-- After the rule file ran: the fields snapshot {} names exist, its list is a list output.
function M.check(job)
  for _, t in ipairs(job.trends or {}) do
    local ok = false
    for _, o in ipairs(job.outputs) do if o.kind == "metrics" and o.file == t.metrics and not o.typed and not o.xlsx then ok = true end end
    if not ok then E.record(job, E.at(job, t.line), fmt("trend %s: metrics names '%s', which is not a metrics { } table of the rule file written as a CSV file", t.file, t.metrics), "name the file of a metrics { ... } table") end
  end
  if job.churn and not (job.snapshot and job.snapshot.defected) then
    E.record(job, E.at(job, job.churn.line), "churn: the snapshot does not say which field means defected", "add snapshot { defected = \"...\", revenue = \"...\" } (docs/history.md)")
  end
  local b = job.backtest
  for _, k in ipairs({ "outcome", "eligible" }) do
    if b and b[k] and not job.fields[b[k]] then E.record(job, E.at(job, b.line), fmt("backtest: %s names '%s', which is not a column, feature or value of the rule file", k, b[k]), "name a declared true/false field") end
  end
  local s = job.snapshot
  if not s then return end
  local at = E.at(job, s.line)
  for _, f in ipairs(s.keep) do
    if not job.fields[f] then E.record(job, at, fmt("snapshot: keep names '%s', which is not a column, feature or value of the rule file", f), "name a declared field") end
  end
  for _, k in ipairs({ "defected", "revenue" }) do
    if s[k] and not job.fields[s[k]] then E.record(job, at, fmt("snapshot: %s names '%s', which is not a column, feature or value of the rule file", k, s[k]), "name a declared field") end
  end
  if s.list then
    local found = false
    for _, o in ipairs(job.outputs) do if o.kind == "list" and o.file == s.list then found = true end end
    if not found then E.record(job, at, fmt("snapshot: list names '%s', which is not an output { } of the rule file", s.list), "name the file of the risk list's output { ... }") end
  end
end

-- The risk list: the output snapshot { list } names, else the first list output (nil: none).
local function risk_list(job)
  local want = job.snapshot and job.snapshot.list
  for _, o in ipairs(job.outputs) do
    if o.kind == "list" and not o.history and (want == nil or o.file == want) then return o end
  end
  return nil
end

-- The snapshot's columns: key, score, band, stage, on_list, reason_codes, the kept fields
-- (the defected and revenue fields too, when not kept already), each once.
local function columns(job)
  local cols, seen = {}, {}
  local function add(name, c) if not seen[name] then seen[name] = true; cols[#cols + 1] = c or { name = name, field = name } end end
  add(job.entity.key)
  if job.pruned then -- an outcome date of the backtest
    add(job.backtest.outcome)
    if job.backtest.eligible then add(job.backtest.eligible) end
    return cols
  end
  for _, f in ipairs({ "score", "band", "stage" }) do add(f) end
  local L = risk_list(job)
  add("on_list", { name = "on_list", on_list = L and L.where or true })
  add("reason_codes")
  if job.bound_dates then -- a backtest's as-of date: what its figures read, no more
    local b = job.backtest or {}
    if b.outcome then add(b.outcome) end
    if b.eligible then add(b.eligible) end
    return cols
  end
  local s = job.snapshot or { keep = {} }
  for _, f in ipairs(s.keep) do add(f) end
  require("defector.calls").snapshot_columns(job, add) -- on_<calls list>, next_action, action_rule, owner
  if s.defected then add(s.defected) end
  if s.revenue then add(s.revenue) end
  local b = job.backtest or {}
  if b.outcome then add(b.outcome) end
  if b.eligible then add(b.eligible) end
  return cols
end

-- The backtest's outcome dates: only what the outcome and eligible fields read is computed
-- (for the reference job, one aggregate instead of every feature and rule). Follows the reads
-- of each node (depend.lua's, and the aggregates its functions read); a dynamic read c[...]
-- cannot be followed, and then nothing is left out. The snapshot is then key, outcome, eligible.
function M.prune(job)
  local b = job.backtest
  if not b then return end
  local B = require("defector.bytecode")
  local by_name, want, stack = {}, {}, {}
  for _, n in ipairs(job.nodes) do by_name[n.name] = n end
  local function need(name) if not want[name] then want[name] = true; stack[#stack + 1] = name end end
  need(b.outcome)
  if b.eligible then need(b.eligible) end
  while #stack > 0 do
    local n = by_name[table.remove(stack)]
    if n then
      if n.dynamic then return end
      for r in pairs(n.reads) do need(r) end
      local fns = { n.fn }
      if n.kind == "stage" then for _, st in ipairs(job.stages or {}) do fns[#fns + 1] = st[2] end end
      for _, fn in pairs(fns) do for r in pairs(B.access(job, fn).reads) do need(r) end end
    end
  end
  for _, f in ipairs(job.features) do -- days_from = { "first_purchase", ... }: its date too (transactions.lua)
    local rel = want[f.name] and type(f.def) == "table" and f.def.rel
    if rel then want[rel.field] = true end
  end
  local nodes, features = {}, {}
  for _, n in ipairs(job.nodes) do if want[n.name] then nodes[#nodes + 1] = n end end
  for _, f in ipairs(job.features) do if want[f.name] then features[#features + 1] = f end end
  job.nodes, job.features, job.pruned = nodes, features, true
end

-- With --history: the snapshot as one more list output (no order: entity order).
function M.add_snapshot(job)
  for _, o in ipairs(job.outputs) do if o.history then return end end
  job.outputs[#job.outputs + 1] = { kind = "list", history = true, file = "customers.csv.gz", columns = columns(job),
    order = {}, sep = ",", bom = false, decimal_comma = false, guard = false, decimals = {}, line = 0 }
end

local function names(list)
  local r = {}
  for i, b in ipairs(list or {}) do r[i] = b[1] end
  return r
end

-- What C needs after the run (luascore.c read_history).
function M.info(job)
  local mets = {}
  for _, o in ipairs(job.outputs) do
    if o.kind == "metrics" and not o.typed and not o.xlsx then mets[#mets + 1] = o.file end
  end
  local c, s = job.changes or {}, job.snapshot or {}
  local trends = {}
  for i, t in ipairs(job.trends or {}) do trends[i] = { t.file, t.metrics, t.nights } end
  local b = job.backtest or {}
  return { key = job.entity.key, metrics = mets, bands = names(job.bands), stages = names(job.stages),
           defected = s.defected, revenue = s.revenue, changes = c.file, flows = c.flows, min_score_change = c.min_score_change,
           churn = job.churn and job.churn.file, churn_nights = job.churn and job.churn.nights, trends = trends,
           outcome = b.outcome, eligible = b.eligible, k = b.k }
end

return M
