-- main.lua: what the C side calls (luabridge.c), each a thin driver over the modules:
--   declare(source, file, as_of, as_of_text) -> plan   the tables and columns to load
--   run(data, api, opts) -> stats | part | nil          score (opts: lo, hi, part, defer,
--                                                       skip_rule_errors, explain, json, result)
--   operations() -> settings                           operations { ... } (docs/operations.md)
--   finish(parts) -> stats                              after a deferred run: merge, write
--   merge(api, merge, blobs, opts) -> stats             defector merge: the shards' partials, written
--   load_cases / case_files / case_check                defector test
--   check(source, file, as_of, as_of_text, headers, values) -> text, errors, warnings
-- A Lua state holds one job at a time (state.job); every module gets it passed.
local ffi = require("ffi")
ffi.cdef(require("defector.cdef"))
local J = require("defector.job")
local E = require("defector.errors")
local sandbox = require("defector.sandbox")
local declare = require("defector.declare")
local analyse = require("defector.analyse")
local wording = require("defector.wording")
local scan = require("defector.scan")
local run = require("defector.run")
local parts = require("defector.parts")
local explain = require("defector.explain")
local failure = require("defector.failure")
local casetest = require("defector.casetest")

local M = {}
local state = {}


function M.declare(source, chunkname, as_of, as_of_text)
  local job = J.new(chunkname, source, as_of, as_of_text)
  local api = sandbox.api(job)
  job.env = api
  job.rule_env = sandbox.env(job, api)
  E.run_chunk(job, source, chunkname, job.rule_env, function(line, msg)
    return wording.syntax_hint(job.lines[line or 0], msg) or (line and line > 1 and wording.syntax_hint(job.lines[line - 1], msg)) or nil
  end)
  analyse.finish(job)
  state.job = job
  return declare.plan(job)
end

local function on_error(job)
  return function(e)
    local ok, r = pcall(run.on_error, job, e)
    if ok then return r end
    return "internal: the error handler failed: " .. tostring(r) .. " (handling: " .. (E.is_ours(e) and tostring(e.message) or E.user_text(e)) .. ")"
  end
end

-- explain and test: entity row 0 (the loader kept only that one), scored with a trace
local function run_single(job, S, opts)
  local ok, err = xpcall(function()
    for _, sc in ipairs(job.scans) do scan.run(job, sc, 0, 1) end
    S.eval(0, 1)
  end, on_error(job))
  job.api.watch.row = -1 -- the report: the engine's work, not the entity's (no user code runs in it)
  if not ok then error(err, 0) end
  if opts.result then return { result = explain.result(job) } end
  return { explain = explain.report(job, S.trace, failure.key_of(job, 0), opts.json) }
end

function M.run(data, api_ptr, opts)
  opts = opts or {}
  local job = state.job
  local api = ffi.cast("df_api*", api_ptr)
  local single = opts.explain ~= nil
  job.report_later = opts.report_later
  -- run --shard I/N (shards.lua): the entities of the shard, to be merged with the others'
  job.shard = opts.shard_perm and { perm = ffi.cast("const uint32_t*", opts.shard_perm) } or nil
  local S = run.prepare(job, data, api, { skip_rule_errors = opts.skip_rule_errors, history = opts.history, history_dir = opts.history_dir, snapshot_only = opts.snapshot_only, outcome_only = opts.outcome_only,
    bound_dates = opts.bound_dates, part = opts.part, single = single, trace = single })
  if single then return run_single(job, S, opts) end
  local t0 = api.now()
  local lo, hi = opts.lo or 0, opts.hi or job.views[job.entity.name].n
  if os.getenv("DEFECTOR_JIT_V") then require("jit.v").start(os.getenv("DEFECTOR_JIT_V")) end -- traces, for tuning
  local prof = os.getenv("DEFECTOR_LUA_PROFILE") -- LuaJIT's sampling profiler, for tuning
  if prof then require("jit.p").start(os.getenv("DEFECTOR_LUA_PROFILE_MODE") or "Fl", prof) end
  local ok, err = xpcall(run.score, on_error(job), job, S, lo, hi, opts)
  if prof then require("jit.p").stop() end
  if not ok then
    api.watch.row = -1 -- not scoring an entity any more: the watchdog must not take this for a rule that hangs
    error(err, 0)
  end
  run.check_outer(job)
  if opts.part then return parts.pack(job, S) end
  if opts.defer then
    state.pending = function(ps) return run.finish(job, S, ps, t0) end
    return nil
  end
  return run.finish(job, S, {}, t0)
end

-- The reports, after the tables over nights (lb_report): the run left them with report_later.
function M.report(api_ptr)
  local job = state.job
  require("defector.report").finish(job, ffi.cast("df_api*", api_ptr), {})
end

-- defector merge: the shards' partial results (blobs) into the outputs of one run (shards.lua).
function M.merge(api_ptr, merge_ptr, blobs, opts)
  return require("defector.shards").merge(state.job, ffi.cast("df_api*", api_ptr), merge_ptr, blobs, opts)
end

-- operations { ... } of the declared rule file (operations.lua), for the C side.
function M.operations() return require("defector.operations").settings(state.job) end

function M.finish(ps)
  local f = state.pending
  state.pending = nil
  return f(ps)
end

-- Errors leave for C as {where, message}: the fix goes into the message; anything else is an
-- engine bug and keeps its traceback.
local function folded(f)
  local function handler(e)
    if not E.is_ours(e) then return debug.traceback(E.user_text(e), 2) end
    if e.fix then e.message, e.fix = e.message .. " — " .. e.fix, nil end
    return e
  end
  return function(...)
    local r = { xpcall(f, handler, ...) }
    if not r[1] then error(r[2], 0) end
    return unpack(r, 2, table.maxn(r))
  end
end

function M.load_cases(source, chunkname) return casetest.load(state, source, chunkname) end
function M.case_files(i) return casetest.files(state, state.job, i) end
function M.case_check(i, res) return casetest.check(state, state.job, i, res) end

function M.check(source, chunkname, as_of, as_of_text, headers, values)
  return require("defector.check").run(source, chunkname, as_of, as_of_text, headers, values)
end

function M.check_needs(source, chunkname, as_of, as_of_text)
  return require("defector.check").needs(source, chunkname, as_of, as_of_text)
end

for _, name in ipairs({ "declare", "run", "finish", "merge", "load_cases", "case_files", "case_check" }) do M[name] = folded(M[name]) end

return M
