-- models.lua: customer models in the rule file (docs/rules.md, "Customer models"): bgnbd { ... }
-- declares a BG/NBD purchase model (and, with spend, a Gamma-Gamma spend model) over a
-- history's purchase rows. Its fields are per-customer values used like features (frequency,
-- recency, age, p_alive, expected_purchases(t), expected_spend, clv { ... }). prepare() runs in
-- every Lua state before scoring: the inputs of every customer (C, models.c, over the rows the
-- filter keeps: scan.filter_rows), then the fit over all of them, whole-base figures; every state
-- computes the same numbers from the same data, so the outputs do not depend on --threads.
-- finish() writes the fit (fit = "file.csv"), which params = "file.csv" reads back.
local ffi = require("ffi")
local E = require("defector.errors")
local H = require("defector.handles")
local dates = require("defector.dates")
local entity = require("defector.entity")
local fmt = string.format

local M = {}

local UNIT_DAYS = { days = 1, weeks = 7 }
local PER_MONTH = { days = 30, weeks = 4.345 } -- lifetimes' customer_lifetime_value factors
local BG, GG = { "r", "alpha", "a", "b" }, { "p", "q", "v" }
local CHUNK = 65536 -- entities per call of the C summary

local function check(job, cond, msg, level, fix) return E.check(job, cond, msg, (level or 2) + 1, fix) end

-- params = { r = ..., ... } or the name of a fit file beside the rule file: the numbers, checked.
local function read_params(job, spec, names, what, level, unit)
  local src, out = spec, {}
  if type(spec) == "string" then
    local rows, path = require("defector.lookups").read_beside(job, spec, what, level + 1)
    src = {}
    for i = 2, #rows do if rows[i][1] then src[rows[i][1]] = tonumber(rows[i][2]) or rows[i][2] end end
    -- parameters are rates per unit: a fit in weeks given to a model in days would be 7 times off
    check(job, src.unit == nil or src.unit == unit, fmt("%s: %s was fitted with unit = \"%s\", this model has unit = \"%s\"", what, path, tostring(src.unit), tostring(unit)),
      level + 1, "give the model the fit's unit, or fit it again in this unit")
    for _, k in ipairs(names) do
      check(job, src[k], fmt("%s: %s has no row '%s' (a fit file written by fit = \"...\" has one per parameter)", what, path, k), level + 1)
    end
  end
  check(job, type(src) == "table", fmt("%s: give { %s = ... } or the name of a fit file, e.g. \"bgnbd_fit.csv\"", what, table.concat(names, " = ..., ")), level + 1)
  for _, k in ipairs(names) do
    local v = src[k]
    check(job, type(v) == "number" and v > 0 and v < math.huge, fmt("%s: '%s' must be a positive number (got %s)", what, k, tostring(v)), level + 1)
    out[k] = v
  end
  return out
end

local function check_filter(job, filter, level)
  check(job, filter == nil or (type(filter) == "table" and getmetatable(filter) == nil),
    "bgnbd: filter must be a table like { event_type = \"purchase\" }", level + 1)
  for k, v in pairs(filter or {}) do
    check(job, k ~= "last_days", "bgnbd: last_days does not apply to a model: its window is the calibration (calibration_end)", level + 1)
    check(job, type(v) ~= "function", fmt("bgnbd: the filter on '%s' is a function: a model's filter takes values, lists and predicates such as above(0)", tostring(k)), level + 1)
  end
end

local function declare(job, spec, level)
  check(job, type(spec) == "table", "bgnbd { history = events, filter = {...}, unit = \"weeks\" }", level + 1)
  local t = H.unseal(job, spec.history, H.TABLE)
  check(job, t and t.kind == "history" and t.date, "bgnbd: history must be a history table with a date column, e.g. history = events", level + 1)
  check(job, UNIT_DAYS[spec.unit], fmt("bgnbd: unit must be \"days\" or \"weeks\" (got %s): the unit of recency, age, t in expected_purchases(t) and of the parameters", tostring(spec.unit)), level + 1)
  check_filter(job, spec.filter, level)
  local m = { t = t, unit = spec.unit, line = E.line(job, level + 1), fit_file = spec.fit, index = #job.models + 1 }
  m.count = H.unseal(job, require("defector.aggregates").api(job).count(spec.history, spec.filter or {}), H.AGG)
  if spec.calibration_end ~= nil then
    m.cal_end = type(spec.calibration_end) == "string" and dates.parse(spec.calibration_end) or spec.calibration_end
    check(job, type(m.cal_end) == "number" and m.cal_end == math.floor(m.cal_end), "bgnbd: calibration_end must be a date \"YYYY-MM-DD\"", level + 1)
    check(job, m.cal_end <= job.as_of, fmt("bgnbd: calibration_end %s is after AS_OF %s", dates.text(m.cal_end), dates.text(job.as_of)), level + 1)
  end
  if spec.spend ~= nil then
    local ty = t.columns[spec.spend]
    check(job, ty == "int" or ty == "decimal", fmt("bgnbd: spend must name an int or decimal column of %s (got %s)", t.name, tostring(spec.spend)), level + 1)
    m.spend = spec.spend
  end
  if spec.params ~= nil then m.given = read_params(job, spec.params, BG, "bgnbd: params", level + 1, m.unit) end
  local sp = spec.spend_params or (type(spec.params) == "string" and m.spend and spec.params) or nil
  if sp ~= nil then
    check(job, m.spend, "bgnbd: spend_params needs spend = \"column\"", level + 1)
    m.given_spend = read_params(job, sp, GG, "bgnbd: spend_params", level + 1, m.unit)
  end
  check(job, m.fit_file == nil or (type(m.fit_file) == "string" and m.fit_file:match("^[%w_%-%.]+%.csv$")),
    "bgnbd: fit must be a file name ending in .csv, e.g. fit = \"bgnbd_fit.csv\"", level + 1)
  return m
end

-- The value functions of model m (a function(c) each, read like a feature).
local function fields(job, m)
  local function row() return entity.row(job.ent) end
  local function in_model(i) return m.x[i] >= 0 end
  local function need_spend(what)
    check(job, m.spend, fmt("bgnbd: %s needs spend = \"column\" in the model's declaration", what), 3)
  end
  local f = {}
  f.frequency = function() local i = row(); if in_model(i) then return m.x[i] end end
  f.recency = function() local i = row(); if in_model(i) then return m.tx[i] end end
  f.age = function() local i = row(); if in_model(i) then return m.T[i] end end
  f.holdout = function() return m.hold[row()] end
  f.p_alive = function() local i = row(); if in_model(i) then return job.api.models.p_alive(m.p, m.x[i], m.tx[i], m.T[i]) end end
  f.spend = function() local i = row(); local s = m.sp and m.sp[i]; if s and s == s then return s end end
  f.expected_purchases = function(t)
    check(job, type(t) == "number" and t >= 0, "expected_purchases(t): t is a number of the model's units (e.g. 52 weeks)", 2)
    return function() local i = row(); if in_model(i) then return job.api.models.expected(m.p, m.x[i], m.tx[i], m.T[i], t) end end
  end
  f.expected_new = function(t)
    check(job, type(t) == "number" and t >= 0, "expected_new(t): t is a number of the model's units", 2)
    return function() return job.api.models.expected_new(m.p, t) end
  end
  f.prob_purchases = function(n, t)
    check(job, type(n) == "number" and n >= 0 and n % 1 == 0 and type(t) == "number" and t >= 0,
      "prob_purchases(n, t): n a whole number of purchases, t a number of the model's units", 2)
    return function() return job.api.models.prob_n(m.p, t, n) end
  end
  local function spend_of(i) return job.api.models.gg_spend(m.g, m.x[i], m.sp[i]) end
  f.clv = function(o)
    need_spend("clv")
    o = o or {}
    check(job, type(o) == "table" and (o.months == nil or (type(o.months) == "number" and o.months >= 1 and o.months % 1 == 0))
      and (o.discount == nil or (type(o.discount) == "number" and o.discount > -1)),
      "clv { months = 12, discount = 0.01 }: whole months, a monthly discount rate", 2)
    local months, disc = o.months or 12, o.discount or 0.01
    return function()
      local i = row()
      if in_model(i) then return job.api.models.clv(m.p, m.x[i], m.tx[i], m.T[i], spend_of(i), months, PER_MONTH[m.unit], disc) end
    end
  end
  local es = function() local i = row(); if in_model(i) then return spend_of(i) end end
  local proxy = setmetatable({}, {
    __index = function(_, k)
      if k == "expected_spend" then need_spend("expected_spend"); return es end
      if k == "spend" then need_spend("spend") end
      local v = f[k]
      if v == nil then E.raise(job, fmt("bgnbd: a model has no field '%s' (it has frequency, recency, age, holdout, spend, p_alive, expected_purchases(t), expected_spend, clv { ... }, expected_new(t), prob_purchases(n, t))", tostring(k)), 2) end
      return v
    end,
    __newindex = function() E.raise(job, "a model declared with bgnbd { ... } is read-only", 2) end,
    __metatable = false,
  })
  return proxy
end

function M.api(job)
  job.models = job.models or {}
  return {
    bgnbd = function(spec)
      local m = declare(job, spec, 2)
      job.models[#job.models + 1] = m
      return fields(job, m)
    end,
  }
end

-- The C summary of every entity's purchase rows into m's arrays.
local function summarise(job, api, m, n)
  local views = job.views[m.t.name]
  local S = require("defector.scan").filter_rows(job, api, { def = m.count, name = "bgnbd", line = m.line })
  local spec = ffi.new("df_rfm_spec")
  spec.offsets, spec.dates = views.offsets, views[m.t.date].ptr
  if m.spend then
    local v = views[m.spend]
    spec.amounts, spec.amount_scale = v.ptr, v.type == "decimal" and 1e6 or 1
  end
  spec.cal_end, spec.as_of = m.cal_end or job.as_of, job.as_of
  m.x, m.first, m.last, m.hold = ffi.new("int32_t[?]", n + 1), ffi.new("int32_t[?]", n + 1), ffi.new("int32_t[?]", n + 1), ffi.new("int32_t[?]", n + 1)
  m.sp = m.spend and ffi.new("double[?]", n + 1) or nil
  local out, buf, cap = ffi.new("df_rfm_out"), nil, 0
  for lo = 0, n - 1, CHUNK do
    local hi = math.min(n, lo + CHUNK)
    local rows = tonumber(views.offsets[hi] - views.offsets[lo])
    if rows > cap then cap = math.max(rows, 2 * cap); buf = ffi.new("uint32_t[?]", cap) end
    local k = S.rows(lo, hi, buf)
    out.x, out.first, out.last, out.holdout = m.x + lo, m.first + lo, m.last + lo, m.hold + lo
    out.spend = m.sp and m.sp + lo or nil
    local r = tonumber(api.models.rfm(spec, lo, hi, buf, k, out))
    if r < 0 then error("out of memory summarising the purchases of a model", 0) end
    if r > 0 then
      E.throw({ where = E.at(job, m.line), entity = lo + r - 1,
        message = fmt("bgnbd: a purchase row of %s has an empty %s: the spend model cannot tell its value", m.t.file, m.spend),
        fix = fmt("leave such rows out with %s = present in the filter, or fill the column in the export", m.spend) })
    end
  end
end

-- recency and age in the model's unit
local function times(m, n)
  local u = UNIT_DAYS[m.unit]
  local cal = m.cal_end_used
  m.tx, m.T = ffi.new("double[?]", n + 1), ffi.new("double[?]", n + 1)
  for i = 0, n - 1 do
    if m.x[i] >= 0 then m.tx[i], m.T[i] = (m.last[i] - m.first[i]) / u, (cal - m.first[i]) / u end
  end
end

-- A parameter that went towards 0 or infinity (the optimizer stops there, "converged" or not):
-- data that cannot pin the model down (one-time buyers only, no drop-out seen).
local function at_limit(...)
  for _, v in ipairs({ ... }) do if not (v >= 1e-4 and v <= 1e5) then return true end end
  return false
end

local function fit(job, api, m, n, single)
  m.p, m.fit = ffi.new("df_bgnbd"), ffi.new("df_fit")
  if m.given then
    m.p.r, m.p.alpha, m.p.a, m.p.b = m.given.r, m.given.alpha, m.given.a, m.given.b
  else
    if single then
      E.throw({ where = E.at(job, m.line), message = "bgnbd: explain and test see one customer, and the model's parameters are a fit over all of them",
        fix = "write the fit in a run (fit = \"bgnbd_fit.csv\") and give it here: params = \"bgnbd_fit.csv\"" })
    end
    if api.models.bgnbd_fit(m.x, m.tx, m.T, n, m.p, m.fit) ~= 0 then error("out of memory fitting a model", 0) end
    if m.fit.customers == 0 then -- parameters from nothing would be the optimizer's start, not a fit
      E.throw({ where = E.at(job, m.line), message = "bgnbd: no customer has a purchase (a row of " .. m.t.name .. " that passes the filter) on or before the calibration end: there is nothing to fit",
        fix = "check that the filter's values are values the export holds (a misspelt event type matches nothing) and calibration_end, or give the parameters with params = { ... }" })
    end
    m.at_limit = at_limit(m.p.r, m.p.alpha, m.p.a, m.p.b)
    if m.fit.customers < 2 or m.fit.converged == 0 or m.at_limit then
      job.warnings[#job.warnings + 1] = { where = E.at(job, m.line),
        message = fmt("bgnbd: the fit over %d customers did not converge (r %.4g, alpha %.4g, a %.4g, b %.4g): a parameter ran towards 0 or infinity, the data may not follow the model; the values are those of that limit", tonumber(m.fit.customers), m.p.r, m.p.alpha, m.p.a, m.p.b),
        fix = "check the filter and the unit, or give the parameters with params = { ... }" }
    end
  end
  if not m.spend then return end
  m.g, m.gfit = ffi.new("df_gg"), ffi.new("df_fit")
  if m.given_spend then
    m.g.p, m.g.q, m.g.v = m.given_spend.p, m.given_spend.q, m.given_spend.v
  elseif single then
    E.throw({ where = E.at(job, m.line), message = "bgnbd: explain and test see one customer, and the spend model's parameters are a fit over all of them",
      fix = "write the fit in a run (fit = \"bgnbd_fit.csv\") and give it here: params = \"bgnbd_fit.csv\"" })
  else
    if api.models.gg_fit(m.x, m.sp, n, m.g, m.gfit) ~= 0 then error("out of memory fitting a model", 0) end
    if m.gfit.customers == 0 then -- no repeat purchase: a mean spend per customer needs one
      E.throw({ where = E.at(job, m.line), message = "bgnbd: no customer has a repeat purchase with a spend on or before the calibration end: the spend model (Gamma-Gamma) has nothing to fit",
        fix = "leave spend out, or give spend_params = { p = ..., q = ..., v = ... }" })
    end
    m.spend_at_limit = at_limit(m.g.p, m.g.q, m.g.v)
    if m.gfit.converged == 0 or m.g.q <= 1 or m.spend_at_limit then
      job.warnings[#job.warnings + 1] = { where = E.at(job, m.line),
        message = fmt("bgnbd: the spend fit over %d customers did not converge (p %.4g, q %.4g, v %.4g)%s", tonumber(m.gfit.customers), m.g.p, m.g.q, m.g.v,
          m.g.q <= 1 and ": q <= 1 leaves the mean spend undefined" or ": a parameter ran towards 0 or infinity, the data may not follow the model"),
        fix = "check the spend column and the filter, or give spend_params = { p = ..., q = ..., v = ... }" }
    end
  end
end

-- A shard (run --shard I/N) scores its own customers and a merge none: a fit there would not be
-- the whole base's, so their parameters must be given (docs/scale-out.md).
local function require_given(job, what)
  for _, m in ipairs(job.models or {}) do
    if not m.given or (m.spend and not m.given_spend) then
      E.throw({ where = E.at(job, m.line), message = "bgnbd: " .. what .. " sees part of the customers, and the model's parameters are a fit over all of them",
        fix = "fit once over the whole base (a run with fit = \"bgnbd_fit.csv\") and give that fit to every shard and the merge: params = \"bgnbd_fit.csv\" (docs/scale-out.md)" })
    end
  end
end

-- The merge of shards: the given parameters, for the fit file (finish).
function M.given_only(job)
  require_given(job, "a merge of shards")
  for _, m in ipairs(job.models or {}) do
    m.p = ffi.new("df_bgnbd")
    m.p.r, m.p.alpha, m.p.a, m.p.b = m.given.r, m.given.alpha, m.given.a, m.given.b
    m.cal_end_used = m.cal_end or job.as_of
    if m.spend then
      m.g = ffi.new("df_gg")
      m.g.p, m.g.q, m.g.v = m.given_spend.p, m.given_spend.q, m.given_spend.v
    end
  end
end

-- Before scoring, in every state: the inputs and the fit of each model.
function M.prepare(job, api, single)
  if job.shard then require_given(job, "a shard (run --shard I/N)") end
  job.api_models = api.models
  local n = job.views[job.entity.name].n
  for _, m in ipairs(job.models or {}) do
    for _, o in ipairs(job.outputs or {}) do
      if m.fit_file and o.file == m.fit_file then
        E.throw({ where = E.at(job, m.line), message = fmt("bgnbd: fit = \"%s\" is also the file of the output declared at line %d", m.fit_file, o.line or 0),
          fix = "give the fit a file name of its own, e.g. fit = \"bgnbd_fit.csv\"" })
      end
    end
    local t0 = api.now()
    m.cal_end_used = m.cal_end or job.as_of
    summarise(job, api, m, n)
    times(m, n)
    local t1 = api.now()
    fit(job, api, m, n, single)
    if os.getenv("DEFECTOR_MODEL_TIMES") then io.stderr:write(fmt("model %d: inputs %.3f s, fit %.3f s\n", m.index, t1 - t0, api.now() - t1)) end
  end
end

-- a parameter to 17 significant digits: read back by params = "file.csv", it is the same double
local function exact(v) return fmt("%.17g", v) end

local function put(api, f, name, v)
  api.text(api.ctx, f, name, #name)
  if type(v) == "number" then api.number(api.ctx, f, v) else v = tostring(v); api.text(api.ctx, f, v, #v) end
  api.end_row(api.ctx, f)
end

-- After scoring, by the state that writes the outputs: each model's fit file.
function M.finish(job, api, counts)
  for _, m in ipairs(job.models or {}) do
    if m.fit_file then
      local f = api.open(api.ctx, m.fit_file)
      if f < 0 then E.throw({ where = m.fit_file, message = "cannot open the output file" }) end
      local rows = {
        { "r", exact(m.p.r) }, { "alpha", exact(m.p.alpha) }, { "a", exact(m.p.a) }, { "b", exact(m.p.b) },
        { "source", m.given and "given" or "fitted" }, { "unit", m.unit }, { "calibration_end", dates.text(m.cal_end_used) },
      }
      if not m.given then
        for _, r in ipairs({ { "log_likelihood", m.fit.ll }, { "customers", tonumber(m.fit.customers) }, { "distinct", tonumber(m.fit.distinct) },
          { "iterations", m.fit.iterations }, { "converged", m.fit.converged ~= 0 and not m.at_limit and "true" or "false" } }) do rows[#rows + 1] = r end
      end
      if m.spend then
        for _, r in ipairs({ { "p", exact(m.g.p) }, { "q", exact(m.g.q) }, { "v", exact(m.g.v) }, { "spend_source", m.given_spend and "given" or "fitted" } }) do rows[#rows + 1] = r end
        if not m.given_spend then
          rows[#rows + 1] = { "spend_log_likelihood", m.gfit.ll }
          rows[#rows + 1] = { "spend_customers", tonumber(m.gfit.customers) }
          rows[#rows + 1] = { "spend_converged", m.gfit.converged ~= 0 and not m.spend_at_limit and m.g.q > 1 and "true" or "false" }
        end
      end
      put(api, f, "parameter", "value")
      for _, r in ipairs(rows) do put(api, f, r[1], r[2]) end
      counts[m.fit_file] = #rows
    end
  end
end

return M
