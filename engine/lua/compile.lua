-- compile.lua: the rule file as one generated Lua function over a block of entities. For
-- entity rows blo .. blo + n - 1 it fills a column per field (entity.lua), one loop per field,
-- in dependency order (job.nodes): the entity's columns, its history aggregates (computed by
-- the C scans), then features, rules (fired flags, points), score, band, stage and values; in
-- a run the outputs' rows and metric groups follow (lists.lua, metrics.lua). Each loop pastes
-- the rule file's function in (inline.lua), its reads of c.name turned into reads of the
-- columns: a loop is small and calls nothing, which LuaJIT compiles well (one long function
-- per entity made a tree of thousands of traces). A function that cannot be pasted is called
-- with c. explain runs the same code generated with `trace`: each rule is called with a view
-- that records what it reads. DEFECTOR_DUMP_CODE=1 prints the generated code on stderr.
local scan = require("defector.scan")
local bind = require("defector.bind")
local inline = require("defector.inline")
local entity = require("defector.entity")
local fmt, concat = string.format, table.concat

local M = {}

local MAX_ALIASES = 150 -- locals per loop for the columns it reads (Lua allows 200 per function)

-- A code generator: lines, the values the code binds (K, in arrays: few upvalues), the map
-- from its lines to the rule file's (for messages), and the columns the current loop reads.
function M.gen(job)
  local g = { job = job, lines = {}, K = { fn = {}, lbl = {}, ptr = {}, dict = {}, view = {}, res = {}, misc = {}, up = {} },
              linemap = {}, labels = 0, reads = {}, text_columns = {} }
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
  -- the expression reading field `name` of the loop's entity from its column, or nil (read
  -- it through c: text columns, reason_codes and reasons are made when read)
  function g.field(name)
    if not job.columns[name] then return nil end
    g.reads[name] = true
    return "_df_c_" .. name .. "[_df_i]"
  end
  -- starts a new step: the code is cut into functions, one per field or output, each called
  -- once per block (one function for all of it would exceed Lua's limits on locals for a rule
  -- file with thousands of features)
  function g.step()
    if g.in_step then g.add("end") end
    g.nsteps = (g.nsteps or 0) + 1
    g.add("STEPS[%d] = function(blo, n, BN)", g.nsteps)
    g.add("  local _df_w, _df_s")
    g.in_step = true
  end
  -- an expression for field `name` (a text column read from its table)
  function g.value(name)
    local text = g.text_columns[name]
    if text then return fmt("TEXT(VIEW[%d], blo + _df_i - 1)", g.bind("view", text)) end
    return g.field(name) or ("c." .. name)
  end
  return g
end

local HEADER = [[
local K = ...
local c, CUR, BLK, COL, DONE, FIRED, FM, OVR, FC, watch = K.c, K.cur, K.blk, K.col, K.done, K.fired, K.fmask, K.ovr, K.fc, K.watch
local FN, LBL, PTR, DICT, VIEW, RES, MISC, UP = K.fn, K.lbl, K.ptr, K.dict, K.view, K.res, K.misc, K.up
local tonumber, type, pcall = K.tonumber, K.type, K.pcall
local NA_I64, NA_DATE, SCALE = K.NA_I64, K.NA_DATE, K.SCALE
local TEXT, BAD_WHEN, BAD_SCORE, RULE_FAILED, OVERRIDE, TV = K.text, K.bad_when, K.bad_score, K.rule_failed, K.override_of, K.tv
]]

-- The rule file's line of what a label names (rule, feature, output...), for the watchdog's
-- messages; 0 when unknown.
function M.label_line(job, label)
  if not job.label_lines then
    local m = {}
    for _, n in ipairs(job.nodes or {}) do if n.label and n.line then m[n.label] = n.line end end
    for _, o in ipairs(job.outputs or {}) do
      if o.file and o.line then m[(o.kind == "list" and "output " or "metrics ") .. o.file] = o.line end
    end
    job.label_lines = m
  end
  return job.label_lines[label] or (label:match("^stage ") and job.stages_line) or 0
end

-- One loop over the block's entities: body() emits its statements (the entity is _df_i); the
-- columns it reads are bound to locals before the loop.
function M.loop(g, label, body, pre, post)
  local outer_lines, outer_map, outer_reads = g.lines, g.linemap, g.reads
  g.lines, g.linemap, g.reads = {}, {}, {}
  body()
  local lines, map, reads = g.lines, g.linemap, g.reads
  g.lines, g.linemap, g.reads = outer_lines, outer_map, outer_reads
  local names = {}
  for name in pairs(reads) do names[#names + 1] = name end
  table.sort(names)
  -- a local per column read, up to MAX_ALIASES; the others are looked up in COL
  for k = MAX_ALIASES + 1, #names do
    local pat, name = "_df_c_" .. names[k] .. "%[", names[k]
    for j, line in ipairs(lines) do lines[j] = line:gsub(pat, 'COL["' .. name .. '"][') end
    names[k] = nil
  end
  g.add("  watch.what = LBL[%d]; watch.line = %d", g.bind("lbl", label), M.label_line(g.job, label))
  g.add("  do")
  if pre then g.add("  " .. pre) end
  for _, name in ipairs(names) do g.add("  local _df_c_%s = COL[%q]", name, name) end
  -- CUR.i, the entity the view c stands for, only where c itself is used (calls, failures);
  -- a block that fails is evaluated again an entity at a time, with CUR.i = 1
  local text = table.concat(lines, "\n")
  local cur = (text:find("FN%[") or text:find("TV%(") or text:find("pcall") or text:find("%f[%w_]c%f[^%w_]")) and "CUR.i = _df_i; " or ""
  g.add("  for _df_i = 1, n do %swatch.row = blo + _df_i - 1", cur)
  local base = #g.lines
  for k, line in ipairs(lines) do
    g.lines[base + k] = line
    if map[k] then g.linemap[base + k] = map[k] end
  end
  g.add("  end")
  if post then g.add("  " .. post) end
  g.add("  end")
end

-- Opens the block of the entities for which where(c) holds (everyone without a where): the
-- caller adds its lines, then g.add("    end").
function M.open_where(g, where)
  if not where then return g.add("    do") end
  g.add("    _df_w = nil")
  M.call(g, where, "_df_w")
  g.add("    if _df_w then")
end

-- The value fn(c) into variable out: fn pasted in when inline.lua can, called otherwise.
function M.call(g, fn, out, no_inline)
  local job = g.job
  g.labels = g.labels + 1
  local opts = { source = job.source, tokens = job.tokens, out = out, entity = "c", label = "_df_done" .. g.labels, file = job.file,
                 field = g.field, upvalue = function(f, i) return fmt("UP[%d]", g.bind("up", { f, i })) end }
  local body = not no_inline and not g.no_inline and not os.getenv("DEFECTOR_NO_INLINE") and inline.body(fn, opts)
  job.tokens = opts.tokens
  if not body then
    g.add("    %s = FN[%d](c)", out, g.bind("fn", fn))
    return
  end
  local first = #g.lines + 1
  local text = "    do " .. body.head .. " " .. body.text .. " end ::_df_done" .. g.labels .. "::"
  local k = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    g.lines[#g.lines + 1] = line
    g.linemap[first + k] = body.first + k
    k = k + 1
  end
end

-- A column filled by a loop whose body computes into _df_w.
local function fill(g, name, label, body)
  M.loop(g, label, function()
    g.reads[name] = true
    body()
    g.add("    _df_c_%s[_df_i] = _df_w", name)
  end)
  g.add("  DONE[%q] = BN", name)
end

local READ = {
  int = "local x = tonumber(P[blo + _df_i - 1]); if x == NA_I64 then x = nil end",
  decimal = "local x = tonumber(P[blo + _df_i - 1]); if x == NA_I64 then x = nil else x = x / SCALE end",
  date = "local x = P[blo + _df_i - 1]; if x == NA_DATE then x = nil end",
  category = "local x = D[P[blo + _df_i - 1]]",
}

local function entity_columns(g, job)
  for _, col in ipairs(job.entity.columns) do
    local v = job.views[job.entity.name][col.name]
    if col.type ~= "text" then
      g.step()
      g.add("  do local X, P, D = COL[%q], PTR[%d], DICT[%d]", col.name, g.bind("ptr", v.ptr), v.dict and g.bind("dict", v.dict) or 0)
      g.add("  for _df_i = 1, n do %s; X[_df_i] = x end end", READ[col.type])
      g.add("  DONE[%q] = BN", col.name)
    end
  end
end

local RESULT = {
  number = "local x = R[o]",
  boolean = "local x = R[o] ~= 0",
  maybe_number = "local x = R[o]; if x ~= x then x = nil end",
  category = "local x = R[o]; if x ~= x then x = nil else x = D[x] end",
  text = "local x = R[o]; if x ~= x then x = nil else x = TEXT(V, x) end",
}

local function aggregates(g, job)
  for _, S in ipairs(job.scans) do
    local r, na = g.bind("res", S.res), #S.feats
    for k, f in ipairs(S.feats) do
      local kind, extra = scan.result_kind(S, k)
      local d = kind == "category" and g.bind("dict", extra) or 0
      local v = kind == "text" and g.bind("view", extra) or 0
      g.step()
      g.add("  do local X, R, D, V = COL[%q], RES[%d], DICT[%d], VIEW[%d]", f.name, r, d, v)
      g.add("  for _df_i = 1, n do local o = (_df_i - 1) * %d + %d; %s; X[_df_i] = x end end", na, k - 1, RESULT[kind])
      g.add("  DONE[%q] = BN", f.name)
    end
  end
end

local function emit_rule(g, job, n, opts)
  local r = n.rule
  local k = r.index
  M.loop(g, n.label, function()
    if opts.skip then
      g.add("    do local ok; ok, _df_w = pcall(FN[%d], %s); if not ok then RULE_FAILED(%d, _df_w); _df_w = false end end",
        g.bind("fn", r.when), opts.trace and fmt("TV(%d)", k) or "c", k)
    elseif opts.trace then
      g.add("    _df_w = FN[%d](TV(%d))", g.bind("fn", r.when), k)
    else
      g.add("    _df_w = nil")
      M.call(g, r.when, "_df_w")
    end
    g.reads.points = true
    g.add("    if _df_w == true then F[_df_i] = true; _df_c_points[_df_i] = _df_c_points[_df_i] + %s; fired = fired + 1%s",
      fmt("%.17g", r.points), g.mask and fmt("; FM[_df_i] = FM[_df_i] + %.17g", 2 ^ (k - 1)) or "")
    g.add("    elseif _df_w == false or _df_w == nil then F[_df_i] = false else BAD_WHEN(%d, _df_w) end", k)
  end, fmt("local F, fired = FIRED[%d], 0", k), fmt("FC[%d] = FC[%d] + fired", k, k))
end

local function emit_points(g, job)
  if job.overrides then
    M.loop(g, "points", function()
      g.reads.points = true
      g.add("    _df_c_points[_df_i] = OVERRIDE(_df_i, blo + _df_i - 1, _df_c_points[_df_i])")
    end)
  end
  g.add("  DONE.points = BN")
end

local function emit_band(g, job)
  fill(g, "band", "band", function()
    local score = g.field("score")
    local parts = {}
    for bi, b in ipairs(job.bands or {}) do
      parts[#parts + 1] = fmt("%sif %s >= %.17g then _df_w = %q", bi == 1 and "" or "else", score, b[2], b[1])
    end
    g.add("    _df_w = nil")
    if #parts > 0 then g.add("    " .. concat(parts, " ") .. " end") end
    if job.overrides then g.add("    if OVR[_df_i] and OVR[_df_i].band then _df_w = OVR[_df_i].band end") end
  end)
end

local function emit_stage(g, job)
  fill(g, "stage", "stage", function()
    g.add("    _df_s = nil")
    local depth = 0
    for _, st in ipairs(job.stages or {}) do
      if st[2] then
        g.add("    watch.what = LBL[%d]", g.bind("lbl", "stage " .. st[1]))
        g.add("    _df_w = nil")
        M.call(g, st[2], "_df_w")
        g.add("    if _df_w then _df_s = %q else", st[1])
        depth = depth + 1
      else
        g.add("    _df_s = %q", st[1])
        break
      end
    end
    if depth > 0 then g.add("    " .. ("end "):rep(depth)) end
    g.add("    _df_w = _df_s")
  end)
end

local function emit_node(g, job, n, opts)
  if n.kind == "rule" then return emit_rule(g, job, n, opts) end
  if n.kind == "feature" or n.kind == "value" then
    return fill(g, n.name, n.label, function()
      g.add("    _df_w = nil")
      M.call(g, n.fn, "_df_w")
    end)
  end
  if n.kind == "points" then return emit_points(g, job) end
  if n.kind == "score" then
    return fill(g, "score", "score", function()
      if n.fn then g.add("    _df_w = nil"); M.call(g, n.fn, "_df_w") else g.add("    _df_w = %s", g.field("points")) end
      g.add("    if type(_df_w) ~= 'number' then BAD_SCORE(_df_w) end")
    end)
  end
  if n.kind == "band" then return emit_band(g, job) end
  if n.kind == "stage" then return emit_stage(g, job) end
  error("internal: unknown node kind " .. tostring(n.kind))
end

-- The generated function for job: fn(blo, n) evaluates entity rows blo .. blo + n - 1. opts:
-- trace (explain), skip (--on-rule-error skip), outputs (lists and metrics, for a run); K holds
-- what the caller provides: c, cur, blk, col, done, fired, ovr, fc, watch, bad_when,
-- bad_score, rule_failed, override_of, tv. no_inline: every function called, none pasted in (the
-- second try when the code with them pasted in is more than LuaJIT compiles: a loop body past
-- its jump range, "control structure too long", or too many locals).
function M.build(job, opts, K, no_inline)
  local g = M.gen(job)
  g.no_inline = no_inline
  for k, v in pairs(K) do g.K[k] = v end
  g.K.NA_I64, g.K.NA_DATE, g.K.SCALE, g.K.text = bind.NA_I64, bind.NA_DATE, bind.SCALE, bind.text_at
  g.K.tonumber, g.K.type, g.K.pcall = tonumber, type, pcall
  for line in HEADER:gmatch("([^\n]*)\n") do g.add(line) end
  g.add("local STEPS = {}")
  entity_columns(g, job)
  aggregates(g, job)
  g.step()
  g.mask = #job.rules <= entity.MASK_RULES
  g.add("  do local P = COL.points; for _df_i = 1, n do P[_df_i] = 0; OVR[_df_i] = false%s end end", g.mask and "; FM[_df_i] = 0" or "")
  for _, nd in ipairs(job.nodes) do g.step(); emit_node(g, job, nd, opts) end
  if opts.outputs then
    for l, L in ipairs(job.lists) do g.step(); require("defector.lists").emit(g, job, L, l) end
    for m, Mt in ipairs(job.mets) do g.step(); require("defector.metrics").emit(g, job, Mt, m) end
    for _, C in ipairs(job.calls or {}) do g.step(); require("defector.calls").emit(g, job, C) end
    for _, sr in ipairs(job.save_rates or {}) do g.step(); require("defector.calls").emit_save_rate(g, job, sr) end
  end
  g.add("end")
  g.add("return function(blo, n)")
  g.add("  local BN = BLK.no + 1; BLK.no = BN; BLK.blo = blo; BLK.n = n; CUR.i = 1")
  -- straight calls, not a loop over STEPS: each step's loop keeps its own trace and the
  -- code between two steps is one short trace (a loop calling a different step each time
  -- would be traced once per step, and again and again)
  for k = 1, g.nsteps do g.add("  STEPS[%d](blo, n, BN)", k) end
  g.add("  watch.what = nil")
  g.add("end")
  -- the upvalues pasted code reads: their values now
  for i, ref in ipairs(g.K.up) do g.K.up[i] = select(2, debug.getupvalue(ref[1], ref[2])) end
  local code = concat(g.lines, "\n")
  if os.getenv("DEFECTOR_DUMP_CODE") then io.stderr:write(code, "\n") end
  job.gen_name = "generated" -- short: Lua cuts long chunk names in messages
  job.linemap = g.linemap
  local chunk, err = load(code, "=" .. job.gen_name, "t", job.rule_env)
  if not chunk and not no_inline then return M.build(job, opts, K, true) end
  if not chunk then error("internal: the generated code does not compile: " .. err .. "\n" .. code) end
  return chunk(g.K), code
end

return M
