-- run.lua: scoring every entity. prepare() binds the loaded columns, builds the history scans
-- and compiles the rule file (compile.lua); score() runs entities lo .. hi - 1 block by block
-- (C scans the block's histories, then the generated function runs per entity), stopping at
-- the first failure or, with --on-rule-error skip, counting it and writing a row of
-- rule_errors.csv. finish() merges the parts of the other states and writes the outputs.
local E = require("defector.errors")
local ffi = require("ffi")
local bind = require("defector.bind")
local scan = require("defector.scan")
local entity = require("defector.entity")
local compile = require("defector.compile")
local lists = require("defector.lists")
local metrics = require("defector.metrics")
local parts = require("defector.parts")
local purity = require("defector.purity")
local failure = require("defector.failure")
local fmt = string.format

local M = {}

-- --on-rule-error skip: a rule that fails counts as not fired for that entity; the failure is
-- counted and becomes a row of rule_errors.csv. The block's rows are kept until its end, to be
-- written in entity order (a block is evaluated a rule at a time).
local function rule_failed(job, S)
  return function(k, e)
    if e == "not enough memory" then error(e, 0) end -- the run's failure, not the rule's
    S.error_counts[k] = S.error_counts[k] + 1
    if not S.errors_file then return end
    local r = job.rules[k]
    local row, row_i = entity.row(job.ent), job.ent.blk.blo + job.ent.cur.i - 1
    local where, msg, fix, seen = failure.describe(job, e, r.when, row)
    S.pending[#S.pending + 1] = { i = job.ent.cur.i, k = k, row = row_i, cells = { failure.key_of(job, row), r.code,
      where or (job.file .. ":" .. r.line), fix and (msg .. " — " .. fix) or msg, seen } }
  end
end

local function entity_then_rule(a, b)
  if a.i ~= b.i then return a.i < b.i end
  return a.k < b.k
end

-- Writes the rule failures of the block just evaluated, in entity order (captured like a
-- list's rows: the rows of every part are written in entity order at the end).
local function flush_failures(job, S)
  if #S.pending == 0 then return end
  table.sort(S.pending, entity_then_rule)
  local api, f = job.api, S.errors_file
  for _, p in ipairs(S.pending) do
    if S.error_ent then S.error_ent[#S.error_ent + 1] = p.row end -- a shard (shards.lua)
    api.row_begin(api.ctx, f)
    for _, x in ipairs(p.cells) do api.text(api.ctx, f, x, #x) end
    api.row_end(api.ctx, f)
    S.error_rows = S.error_rows + 1
  end
  S.pending = {}
end

local function open_errors(job, S, opts)
  local api = job.api
  S.errors_file = api.open(api.ctx, "rule_errors.csv")
  if S.errors_file < 0 then E.throw({ where = "rule_errors.csv", message = "cannot open the output file" }) end
  if opts.part or job.shard then return end
  for _, h in ipairs({ job.entity.key, "rule", "where", "error", "values" }) do api.plain(api.ctx, S.errors_file, h, #h) end
  api.end_row(api.ctx, S.errors_file)
end

-- What the generated code reads and calls back (K of compile.build).
local function callbacks(job, S, EN, opts)
  local ov = job.overrides and job.overrides.map
  local key_view = job.views[job.entity.name][job.entity.key]
  return {
    c = EN.c, cur = EN.cur, blk = EN.blk, col = EN.col, done = EN.done, fired = EN.fired, fmask = EN.mask or {}, ovr = EN.override,
    fc = S.fire_counts, watch = job.api.watch,
    bad_when = function(k, w)
      local r = job.rules[k]
      E.throw({ where = fmt("%s:%d", job.file, r.line),
              message = fmt("'when' returned %s %s; it must return true or false (e.g. a comparison like c.complaints_90 >= 2)", type(w), E.show(w)) })
    end,
    bad_score = function(s)
      E.throw({ where = job.score_line and fmt("%s:%d", job.file, job.score_line) or job.file,
              message = fmt("score must return a number, it returned %s", E.show(s)) })
    end,
    rule_failed = rule_failed(job, S),
    override_of = function(i, row, points)
      local o = ov[bind.text_at(key_view, row)]
      EN.override[i] = o or false
      if not o then return points end
      S.override_count = S.override_count + 1
      return points + (o.points or 0)
    end,
    tv = function(k)
      local seen = {}
      S.trace[k] = seen
      return setmetatable({}, { __index = function(_, f) seen[#seen + 1] = f; return EN.c[f] end,
        __newindex = function(_, f) error("rules cannot change the entity: '" .. tostring(f) .. "' is read-only", 2) end })
    end,
  }
end

-- The run's state S and its output files, opened in the order the merge of shards opens them
-- too (shards.lua: a shard's files are numbered alike).
function M.setup_outputs(job, api, opts)
  local S = { fire_counts = {}, error_counts = {}, error_rows = 0, override_count = 0, trace = {}, opts = opts, pending = {},
              error_ent = job.shard and {} or nil }
  for k = 1, #job.rules do S.fire_counts[k], S.error_counts[k] = 0, 0 end
  if opts.skip_rule_errors and not opts.single then open_errors(job, S, opts) end
  local outputs = not opts.single
  job.history_dir = opts.history_dir -- calls { }: the previous nights (calls.lua)
  job.bound_dates = opts.bound_dates -- a backtest (scan.lua; the snapshot's columns, history.lua)
  if outputs and opts.outcome_only then require("defector.history").prune(job) end
  if outputs and opts.history then require("defector.history").add_snapshot(job) end
  if outputs and opts.snapshot_only then -- backtest and diff: the snapshot alone
    local keep = {}
    for _, o in ipairs(job.outputs) do if o.history then keep[#keep + 1] = o end end
    job.outputs, job.all_books, job.reports = keep, {}, {} -- no workbook, no report
  end
  if outputs then lists.setup(job, api, opts.part or job.shard ~= nil); metrics.setup(job); require("defector.calls").setup(job, opts) end
  return S
end

-- Binds, builds and compiles; returns the run's state S.
function M.prepare(job, data, api, opts)
  bind.tables(job, data)
  job.api = api
  job.write_value = lists.writer(api, job)
  local S = M.setup_outputs(job, api, opts)
  local outputs = not opts.single
  scan.build(job, api)
  require("defector.models").prepare(job, api, opts.single) -- whole-base fits, before any value reads them
  job.ent = entity.new(job, scan.BLOCK)
  job.columns = job.ent.col
  S.eval = compile.build(job, { trace = opts.trace, skip = opts.skip_rule_errors and not opts.single, outputs = outputs },
    callbacks(job, S, job.ent, opts))
  return S
end

local function label_fn(job, label)
  if not label then return nil end
  for _, n in ipairs(job.nodes) do if n.label == label then return n.fn end end
  for _, st in ipairs(job.stages or {}) do if label == "stage " .. st[1] then return st[2] end end
  for _, o in ipairs(job.outputs) do
    if label == (o.kind == "list" and "output " or "metrics ") .. o.file then return o.where end
  end
  return nil
end

-- The handler of a failure while scoring: the error for the user.
function M.on_error(job, e)
  local watch = job.api.watch
  local label = failure.label(watch)
  if E.is_ours(e) and e.cancelled then return e end
  local row = E.is_ours(e) and e.entity or entity.row(job.ent)
  return failure.error(job, e, label, label_fn(job, label), row)
end

-- Scans and evaluates entities blo .. blo + n - 1.
local function block(job, S, blo, n)
  for _, sc in ipairs(job.scans) do scan.run(job, sc, blo, blo + n) end
  S.eval(blo, n)
  flush_failures(job, S)
end

-- A block failed: the same entities one at a time, so that the failure reported is the
-- first in entity order (a block is evaluated a field at a time), as one entity after the
-- other would have found it.
local function first_failure(job, S, blo, n, e)
  for j = 0, n - 1 do
    S.pending = {}
    local ok, e2 = pcall(block, job, S, blo + j, 1)
    if not ok then error(e2, 0) end
  end
  error(e, 0)
end

-- Scores entities lo .. hi - 1, block by block.
function M.score(job, S, lo, hi, opts)
  local api, B = job.api, scan.BLOCK
  local n = job.views[job.entity.name].n
  local pscale = n / math.max(1, hi - lo)
  local first_failed, part_index = api.first_failed, opts.part_index or 0
  for blo = lo, hi - 1, B do
    local bn = math.min(B, hi - blo)
    -- a part stops when an earlier part has failed: that failure is the one reported
    if first_failed ~= nil and first_failed[0] < part_index then
      E.throw({ where = job.file, message = "stopped: an earlier part of the entities failed", cancelled = true })
    end
    local ok, e = pcall(block, job, S, blo, bn)
    if not ok then
      if bn > 1 and not (E.is_ours(e) and e.cancelled) then first_failure(job, S, blo, bn, e) end
      error(e, 0)
    end
    if blo % 65536 < B then api.progress(api.ctx, (blo - lo) * pscale, n) end
  end
  api.watch.row = -1 -- the outputs are the engine's work (metrics functions mark themselves)
end

-- After scoring: a table declared outside the functions must not have changed.
function M.check_outer(job)
  local changed = purity.changed(job)
  if changed then
    E.throw({ where = job.file, message = fmt("the rule file changed '%s', a table declared outside its functions, while entities were scored: %s; compute from the entity (c) alone, or count with a metrics table",
      changed, purity.WHY) })
  end
end

function M.stats(job, S, t0, t1, t2, counts)
  local rule_counts = {}
  for k, r in ipairs(job.rules) do rule_counts[k] = { r.code, S.fire_counts[k], S.error_counts[k] } end
  local ov_report
  if job.overrides then
    local ex = {}
    for _, e in ipairs(job.overrides.expired) do ex[#ex + 1] = fmt("%s (expired %s, line %d)", e.id, e.expires, e.line) end
    ov_report = { file = job.overrides.path, applied = S.override_count, active = job.overrides.rows,
                  expired = #job.overrides.expired, expired_list = table.concat(ex, ", ") }
  end
  local warnings = {}
  for i, w in ipairs(job.warnings) do warnings[i] = fmt("%s: %s%s", w.where, w.message, w.fix and (" — " .. w.fix) or "") end
  return { customers = job.views[job.entity.name].n, score_seconds = t1 - t0, write_seconds = t2 - t1,
           rules = rule_counts, overrides = ov_report, warnings = warnings, counts = counts,
           history = require("defector.history").info(job) }
end

-- Merges the other states' parts and writes the outputs.
function M.finish(job, S, other_parts, t0)
  local api = job.api
  for _, p in ipairs(other_parts) do parts.merge(job, S, p) end
  if job.shard then return require("defector.shards").pack(job, S, t0) end -- a shard: its partial result
  if S.errors_file then
    local arr = ffi.new("uint32_t[?]", S.error_rows > 0 and S.error_rows or 1)
    for i = 0, S.error_rows - 1 do arr[i] = i end
    if api.write_rows(api.ctx, S.errors_file, arr, S.error_rows) ~= 0 then
      E.throw({ where = "rule_errors.csv", message = "cannot write the output file (out of memory?)" })
    end
  end
  local t1 = api.now()
  local counts = {}
  lists.finish(job, api, counts)
  metrics.finish(job, api, counts)
  require("defector.calls").finish(job, api, counts)
  require("defector.models").finish(job, api, counts)
  require("defector.sheets").finish(job, api, counts)
  -- last: it reads the CSV files back (a run writes it later, after the tables over nights: lb_report)
  if not job.report_later then require("defector.report").finish(job, api, counts) end
  return M.stats(job, S, t0, t1, api.now(), counts)
end

return M
