-- compile.lua: the rule file as one generated Lua function per entity. For entity row i (b:
-- its place in the current scan block) it reads the entity's columns and its history
-- aggregates (computed by the C scans) into the entity record, then runs every node of
-- job.nodes in dependency order: features, rules (fired flags, points), score, band, stage,
-- values, each as straight-line code over locals with the rule file's functions called
-- directly; in a run, the outputs' rows and metric groups follow (lists.lua, metrics.lua).
-- One chunk, no loops inside: LuaJIT compiles a whole entity as one trace. explain runs the
-- same code generated with `trace`, where each rule sees a view recording what it reads.
-- DEFECTOR_DUMP_CODE=1 prints the generated code on stderr.
local scan = require("defector.scan")
local bind = require("defector.bind")
local fmt, concat = string.format, table.concat

local M = {}

-- A code generator: lines, and K, the values the code binds (in arrays, few upvalues).
function M.gen()
  local g = { lines = {}, K = { fn = {}, lbl = {}, ptr = {}, dict = {}, view = {}, res = {}, misc = {} } }
  function g.add(s, ...) g.lines[#g.lines + 1] = select("#", ...) > 0 and fmt(s, ...) or s end
  -- the index of v in K[list] (one slot per distinct value)
  function g.bind(list, v)
    local l = g.K[list]
    l.index = l.index or {}
    if l.index[v] then return l.index[v] end
    l[#l + 1] = v
    l.index[v] = #l
    return #l
  end
  return g
end

local HEADER = [[
local K = ...
local cr, c, CUR, NILAT, FIRED, FC, watch = K.cr, K.c, K.cur, K.nilat, K.fired, K.fc, K.watch
local FN, LBL, PTR, DICT, VIEW, RES, MISC = K.fn, K.lbl, K.ptr, K.dict, K.view, K.res, K.misc
local rawset, tonumber, type, pcall = rawset, tonumber, type, pcall
local NA_I64, NA_DATE, SCALE = K.NA_I64, K.NA_DATE, K.SCALE
local TEXT, BAD_WHEN, BAD_SCORE, RULE_FAILED, OVERRIDE, TV = K.text, K.bad_when, K.bad_score, K.rule_failed, K.override, K.tv
]]

local function store(g, name, expr)
  g.add("  do local x = %s; if x == nil then NILAT[%q] = i end; rawset(cr, %q, x) end", expr, name, name)
end

local function entity_columns(g, job)
  for _, col in ipairs(job.entity.columns) do
    local v = job.views[job.entity.name][col.name]
    if col.type ~= "text" then
      local p = g.bind("ptr", v.ptr)
      local read = ({
        int = "local x = tonumber(PTR[%d][i]); if x == NA_I64 then x = nil end",
        decimal = "local x = tonumber(PTR[%d][i]); if x == NA_I64 then x = nil else x = x / SCALE end",
        date = "local x = PTR[%d][i]; if x == NA_DATE then x = nil end",
        category = "local x = DICT[%d][PTR[%d][i]]",
      })[col.type]
      if col.type == "category" then read = fmt(read, g.bind("dict", v.dict), p) else read = fmt(read, p) end
      g.add("  do %s; rawset(cr, %q, x) end", read, col.name)
    end
  end
end

local function aggregates(g, job)
  for _, S in ipairs(job.scans) do
    local r, na = g.bind("res", S.res), #S.feats
    g.add("  do local R, o = RES[%d], b * %d", r, na)
    for k, f in ipairs(S.feats) do
      local kind, extra = scan.result_kind(S, k)
      local at = fmt("R[o + %d]", k - 1)
      if kind == "number" then g.add("    rawset(cr, %q, %s)", f.name, at)
      elseif kind == "boolean" then g.add("    rawset(cr, %q, %s ~= 0)", f.name, at)
      elseif kind == "maybe_number" then g.add("    do local x = %s; if x ~= x then x = nil end; rawset(cr, %q, x) end", at, f.name)
      elseif kind == "category" then
        g.add("    do local x = %s; if x ~= x then x = nil else x = DICT[%d][x] end; rawset(cr, %q, x) end", at, g.bind("dict", extra), f.name)
      else
        g.add("    do local x = %s; if x ~= x then x = nil else x = TEXT(VIEW[%d], x) end; rawset(cr, %q, x) end", at, g.bind("view", extra), f.name)
      end
    end
    g.add("  end")
  end
end

local function clear(g, job)
  for _, n in ipairs(job.nodes) do
    if n.kind ~= "rule" then g.add("  rawset(cr, %q, nil)", n.name) end
  end
end

local function emit_rule(g, job, n, opts)
  local r = n.rule
  local f, l, k = g.bind("fn", r.when), g.bind("lbl", n.label), r.index
  g.add("  watch.what = LBL[%d]", l)
  local arg = opts.trace and fmt("TV(%d)", k) or "c"
  if opts.skip then
    g.add("  do local ok, w = pcall(FN[%d], %s); if not ok then RULE_FAILED(%d, w); w = false end", f, arg, k)
  else
    g.add("  do local w = FN[%d](%s)", f, arg)
  end
  g.add("    if w == true then FIRED[%d] = true; points = points + %s; FC[%d] = FC[%d] + 1", k, fmt("%.17g", r.points), k, k)
  g.add("    elseif w == false or w == nil then FIRED[%d] = false else BAD_WHEN(%d, w) end end", k, k)
end

local function emit_band(g, job)
  local parts = {}
  for bi, b in ipairs(job.bands or {}) do
    parts[#parts + 1] = fmt("%sif score >= %.17g then band = %q", bi == 1 and "" or "else", b[2], b[1])
  end
  g.add("  do local band")
  if #parts > 0 then g.add("  " .. concat(parts, " ") .. " end") end
  if job.overrides then g.add("  if CUR.override and CUR.override.band then band = CUR.override.band end") end
  g.add("  if band == nil then NILAT.band = i end; rawset(cr, 'band', band) end")
end

local function emit_stage(g, job)
  g.add("  do local stage")
  local depth = 0
  for _, st in ipairs(job.stages or {}) do
    if st[2] then
      g.add("  watch.what = LBL[%d]", g.bind("lbl", "stage " .. st[1]))
      g.add("  if FN[%d](c) then stage = %q else", g.bind("fn", st[2]), st[1])
      depth = depth + 1
    else
      g.add("  stage = %q", st[1])
      break
    end
  end
  if depth > 0 then g.add("  " .. ("end "):rep(depth)) end
  g.add("  if stage == nil then NILAT.stage = i end; rawset(cr, 'stage', stage) end")
end

local function emit_node(g, job, n, opts)
  if n.kind == "rule" then return emit_rule(g, job, n, opts) end
  if n.kind == "feature" or n.kind == "value" then
    g.add("  watch.what = LBL[%d]", g.bind("lbl", n.label))
    return store(g, n.name, fmt("FN[%d](c)", g.bind("fn", n.fn)))
  end
  if n.kind == "points" then
    g.add("  CUR.rules_at = i")
    if job.overrides then g.add("  points = OVERRIDE(i, points)") end
    return g.add("  rawset(cr, 'points', points)")
  end
  if n.kind == "score" then
    g.add("  watch.what = LBL[%d]", g.bind("lbl", "score"))
    if n.fn then g.add("  score = FN[%d](c)", g.bind("fn", n.fn)) else g.add("  score = points") end
    return g.add("  if type(score) ~= 'number' then BAD_SCORE(score) end; rawset(cr, 'score', score)")
  end
  if n.kind == "band" then return emit_band(g, job) end
  if n.kind == "stage" then return emit_stage(g, job) end
  error("internal: unknown node kind " .. tostring(n.kind))
end

-- The generated function for job: fn(i, b). opts: trace (explain), skip (--on-rule-error
-- skip), outputs (lists and metrics, for a run); K holds what the caller provides: cr, c, cur,
-- nilat, fired, fc, watch, text, bad_when, bad_score, rule_failed, override, tv.
function M.build(job, opts, K)
  local g = M.gen()
  for k, v in pairs(K) do g.K[k] = v end
  g.K.NA_I64, g.K.NA_DATE, g.K.SCALE, g.K.text = bind.NA_I64, bind.NA_DATE, bind.SCALE, bind.text_at
  g.add(HEADER)
  g.add("return function(i, b)")
  g.add("  CUR.row = i; CUR.override = nil; watch.row = i")
  g.add("  local points, score = 0, nil")
  clear(g, job)
  entity_columns(g, job)
  aggregates(g, job)
  for _, n in ipairs(job.nodes) do emit_node(g, job, n, opts) end
  if opts.outputs then
    for l, L in ipairs(job.lists) do require("defector.lists").emit(g, job, L, l) end
    for m, Mt in ipairs(job.mets) do require("defector.metrics").emit(g, job, Mt, m) end
  end
  g.add("  watch.what = nil")
  g.add("end")
  local code = concat(g.lines, "\n")
  if os.getenv("DEFECTOR_DUMP_CODE") then io.stderr:write(code, "\n") end
  local chunk, err = load(code, "=generated " .. job.file, "t", { rawset = rawset, tonumber = tonumber, type = type, pcall = pcall })
  if not chunk then error("internal: the generated code does not compile: " .. err .. "\n" .. code) end
  return chunk(g.K), code
end

return M
