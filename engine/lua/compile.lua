-- compile.lua: the rule file as one generated Lua function per entity. For entity row i (b:
-- its place in the current scan block) it reads the entity's columns and its history
-- aggregates (computed by the C scans), then runs every node of job.nodes in dependency
-- order: features, rules (fired flags, points), score, band, stage, values; in a run the
-- outputs' rows and metric groups follow (lists.lua, metrics.lua). Every field is a local of
-- the generated function; the rule file's functions are pasted in (inline.lua), their reads
-- of c.name turned into those locals, so that an entity calls no function of the rule file
-- and LuaJIT compiles it as one trace. Each value is also stored in the entity record (cr),
-- for the helpers the rule file calls with c and for the functions that could not be pasted.
-- explain runs the same code generated with `trace`: each rule is called with a view that
-- records what it reads. DEFECTOR_DUMP_CODE=1 prints the generated code on stderr.
local scan = require("defector.scan")
local bind = require("defector.bind")
local inline = require("defector.inline")
local fmt, concat = string.format, table.concat

local M = {}

-- A code generator: lines, the values the code binds (K, in arrays: few upvalues), the locals
-- that hold fields, and the map from its lines to the rule file's (for messages).
function M.gen(job)
  local g = { job = job, lines = {}, K = { fn = {}, lbl = {}, ptr = {}, dict = {}, view = {}, res = {}, misc = {}, up = {} },
              locals = {}, nlocals = 0, direct = {}, linemap = {}, labels = 0, text_columns = {} }
  for _, col in ipairs(job.entity.columns) do
    if col.type == "text" and job.views then g.text_columns[col.name] = job.views[job.entity.name][col.name] end
  end
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
  -- the expression reading field `name` straight from the entity record, or nil (read it
  -- through c: text columns, reason_codes and reasons are made when read)
  function g.field(name)
    if not g.direct[name] then return nil end
    return fmt("rawget(cr, %q)", name)
  end
  -- an expression for field `name` (a text column read from its column)
  function g.value(name)
    local text = g.text_columns[name]
    if text then return fmt("TEXT(VIEW[%d], i)", g.bind("view", text)) end
    return g.field(name) or ("c." .. name)
  end
  return g
end

local HEADER = [[
local K = ...
local cr, c, CUR, NILAT, FIRED, FC, watch = K.cr, K.c, K.cur, K.nilat, K.fired, K.fc, K.watch
local FN, LBL, PTR, DICT, VIEW, RES, MISC, UP = K.fn, K.lbl, K.ptr, K.dict, K.view, K.res, K.misc, K.up
local rawset, tonumber, type, pcall = K.rawset, K.tonumber, K.type, K.pcall
local NA_I64, NA_DATE, SCALE = K.NA_I64, K.NA_DATE, K.SCALE
local TEXT, BAD_WHEN, BAD_SCORE, RULE_FAILED, OVERRIDE, TV = K.text, K.bad_when, K.bad_score, K.rule_failed, K.override, K.tv
]]

-- The fields the code reads straight from the entity record: non-text entity columns,
-- aggregates and the computed fields. (Not in locals: a hundred live locals make every side
-- exit of the trace carry them all, and LuaJIT gives up on such side traces.)
local function declare_locals(g, job)
  local names = {}
  for _, col in ipairs(job.entity.columns) do if col.type ~= "text" then names[#names + 1] = col.name end end
  for _, S in ipairs(job.scans) do for _, f in ipairs(S.feats) do names[#names + 1] = f.name end end
  for _, n in ipairs(job.nodes) do if n.kind ~= "rule" then names[#names + 1] = n.name end end
  for _, name in ipairs(names) do g.direct[name] = true end
  g.add("  local _df_w, _df_s")
end

-- Sets field `name` from expression expr: its local (if it has one) and cr.
local function set(g, name, expr, maybe_nil)
  local var = g.locals[name]
  if var then
    g.add("  %s = %s", var, expr)
    expr = var
  else
    g.add("  _df_s = %s", expr)
    expr = "_df_s"
  end
  if maybe_nil then g.add("  if %s == nil then NILAT[%q] = i end", expr, name) end
  g.add("  rawset(cr, %q, %s)", name, expr)
end

-- The value fn(c) into variable out: fn pasted in when inline.lua can, called otherwise.
function M.call(g, fn, out, no_inline)
  local job = g.job
  g.labels = g.labels + 1
  local opts = { source = job.source, tokens = job.tokens, out = out, entity = "c", label = "_df_done" .. g.labels,
                 field = g.field, upvalue = function(f, i) return fmt("UP[%d]", g.bind("up", { f, i })) end }
  local body = not no_inline and not os.getenv("DEFECTOR_NO_INLINE") and inline.body(fn, opts)
  job.tokens = opts.tokens
  if not body then
    g.add("  %s = FN[%d](c)", out, g.bind("fn", fn))
    return
  end
  local first = #g.lines + 1
  local text = "  do " .. body.head .. " " .. body.text .. " end ::_df_done" .. g.labels .. "::"
  local k = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    g.lines[#g.lines + 1] = line
    g.linemap[first + k] = body.first + k
    k = k + 1
  end
end

local READ = {
  int = "tonumber(PTR[%d][i]); if %s == NA_I64 then %s = nil end",
  decimal = "tonumber(PTR[%d][i]); if %s == NA_I64 then %s = nil else %s = %s / SCALE end",
  date = "PTR[%d][i]; if %s == NA_DATE then %s = nil end",
}

local function entity_columns(g, job)
  for _, col in ipairs(job.entity.columns) do
    local v = job.views[job.entity.name][col.name]
    if col.type ~= "text" then
      local var = g.locals[col.name] or "_df_s"
      local p = g.bind("ptr", v.ptr)
      if col.type == "category" then
        g.add("  %s = DICT[%d][PTR[%d][i]]", var, g.bind("dict", v.dict), p)
      else
        g.add("  %s = " .. READ[col.type], var, p, var, var, var, var)
      end
      g.add("  rawset(cr, %q, %s)", col.name, var)
    end
  end
end

local function aggregates(g, job)
  for _, S in ipairs(job.scans) do
    local r, na = g.bind("res", S.res), #S.feats
    g.add("  do local R, o = RES[%d], b * %d", r, na)
    for k, f in ipairs(S.feats) do
      local kind, extra = scan.result_kind(S, k)
      local at, var = fmt("R[o + %d]", k - 1), g.locals[f.name] or "_df_s"
      if kind == "number" then g.add("    %s = %s", var, at)
      elseif kind == "boolean" then g.add("    %s = %s ~= 0", var, at)
      elseif kind == "maybe_number" then g.add("    %s = %s; if %s ~= %s then %s = nil end", var, at, var, var, var)
      elseif kind == "category" then
        g.add("    %s = %s; if %s ~= %s then %s = nil else %s = DICT[%d][%s] end", var, at, var, var, var, var, g.bind("dict", extra), var)
      else
        g.add("    %s = %s; if %s ~= %s then %s = nil else %s = TEXT(VIEW[%d], %s) end", var, at, var, var, var, var, g.bind("view", extra), var)
      end
      g.add("    rawset(cr, %q, %s)", f.name, var)
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
  local k = r.index
  g.add("  watch.what = LBL[%d]", g.bind("lbl", n.label))
  if opts.skip then
    g.add("  do local ok; ok, _df_w = pcall(FN[%d], %s); if not ok then RULE_FAILED(%d, _df_w); _df_w = false end end",
      g.bind("fn", r.when), opts.trace and fmt("TV(%d)", k) or "c", k)
  elseif opts.trace then
    g.add("  _df_w = FN[%d](TV(%d))", g.bind("fn", r.when), k)
  else
    g.add("  _df_w = nil")
    M.call(g, r.when, "_df_w")
  end
  g.add("  if _df_w == true then FIRED[%d] = true; points = points + %s; FC[%d] = FC[%d] + 1", k, fmt("%.17g", r.points), k, k)
  g.add("  elseif _df_w == false or _df_w == nil then FIRED[%d] = false else BAD_WHEN(%d, _df_w) end", k, k)
end

local function emit_band(g, job)
  local band = g.locals.band or "_df_s"
  g.add("  %s = nil", band)
  local parts = {}
  for bi, b in ipairs(job.bands or {}) do
    parts[#parts + 1] = fmt("%sif score >= %.17g then %s = %q", bi == 1 and "" or "else", b[2], band, b[1])
  end
  if #parts > 0 then g.add("  " .. concat(parts, " ") .. " end") end
  if job.overrides then g.add("  if CUR.override and CUR.override.band then %s = CUR.override.band end", band) end
  set(g, "band", band, true)
end

local function emit_stage(g, job)
  local stage = g.locals.stage or "_df_s"
  g.add("  %s = nil", stage)
  local depth = 0
  for _, st in ipairs(job.stages or {}) do
    if st[2] then
      g.add("  watch.what = LBL[%d]", g.bind("lbl", "stage " .. st[1]))
      g.add("  _df_w = nil")
      M.call(g, st[2], "_df_w")
      g.add("  if _df_w then %s = %q else", stage, st[1])
      depth = depth + 1
    else
      g.add("  %s = %q", stage, st[1])
      break
    end
  end
  if depth > 0 then g.add("  " .. ("end "):rep(depth)) end
  set(g, "stage", stage, true)
end

local function emit_node(g, job, n, opts)
  if n.kind == "rule" then return emit_rule(g, job, n, opts) end
  if n.kind == "feature" or n.kind == "value" then
    g.add("  watch.what = LBL[%d]", g.bind("lbl", n.label))
    local var = g.locals[n.name] or "_df_s"
    g.add("  %s = nil", var)
    M.call(g, n.fn, var)
    return set(g, n.name, var, true)
  end
  if n.kind == "points" then
    g.add("  CUR.rules_at = i")
    if job.overrides then g.add("  points = OVERRIDE(i, points)") end
    return set(g, "points", "points")
  end
  if n.kind == "score" then
    g.add("  watch.what = LBL[%d]", g.bind("lbl", "score"))
    if n.fn then g.add("  score = nil"); M.call(g, n.fn, "score") else g.add("  score = points") end
    g.add("  if type(score) ~= 'number' then BAD_SCORE(score) end")
    return set(g, "score", "score")
  end
  if n.kind == "band" then return emit_band(g, job) end
  if n.kind == "stage" then return emit_stage(g, job) end
  error("internal: unknown node kind " .. tostring(n.kind))
end

-- The generated function for job: fn(i, b). opts: trace (explain), skip (--on-rule-error
-- skip), outputs (lists and metrics, for a run); K holds what the caller provides: cr, c, cur,
-- nilat, fired, fc, watch, bad_when, bad_score, rule_failed, override, tv.
function M.build(job, opts, K)
  local g = M.gen(job)
  for k, v in pairs(K) do g.K[k] = v end
  g.K.NA_I64, g.K.NA_DATE, g.K.SCALE, g.K.text = bind.NA_I64, bind.NA_DATE, bind.SCALE, bind.text_at
  g.K.rawset, g.K.tonumber, g.K.type, g.K.pcall = rawset, tonumber, type, pcall
  g.add(HEADER)
  g.add("return function(i, b)")
  declare_locals(g, job)
  g.add("  CUR.row = i; CUR.override = false; watch.row = i")
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
  -- the upvalues pasted code reads: their values now
  for i, ref in ipairs(g.K.up) do g.K.up[i] = select(2, debug.getupvalue(ref[1], ref[2])) end
  local code = concat(g.lines, "\n")
  if os.getenv("DEFECTOR_DUMP_CODE") then io.stderr:write(code, "\n") end
  job.gen_name = "generated " .. job.file
  job.linemap = g.linemap
  local chunk, err = load(code, "=" .. job.gen_name, "t", job.rule_env)
  if not chunk then error("internal: the generated code does not compile: " .. err .. "\n" .. code) end
  return chunk(g.K), code
end

return M
