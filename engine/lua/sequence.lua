-- sequence.lua: sequence aggregates: for each row of a history that passes a `from` filter
-- (a voicemail, a complaint, a sale), the time to the next row of the same customer that passes
-- a `to` filter (the callback, the resolution, our first contact), and how many were never
-- followed within a limit. Declared with time_to_next(h, { from = {...}, to = {...}, ... });
-- computed in Lua over each customer's rows after the C scans, into a result array that
-- compile.lua reads like a scan's (scan.lua keeps both in job.scans).
--
-- Times are the history's date (days) or, with at = "<datetime column>", date and time
-- ("2026-10-01 14:30" or "2026-10-01T14:30:05"): unit = "hours" needs one.
local bind = require("defector.bind")
local dates = require("defector.dates")
local E = require("defector.errors")
local H = require("defector.handles")
local numbers = require("defector.numbers")
local fmt = string.format

local M = {}

local RESULTS = { last = true, first = true, max = true, min = true, count = true, followed = true, missed = true, open = true }
local UNITS = { days = 86400, hours = 3600, minutes = 60 }
M.RESULTS = RESULTS

local function check(job, cond, msg, level) return E.check(job, cond, msg, level + 1) end

local function entries_of(job, what, t, filter, name, filter_entry, level)
  check(job, type(filter) == "table" and getmetatable(filter) == nil,
    fmt("%s: '%s' must be a filter table like { event_type = \"voicemail\" }", what, name), level + 1)
  local l = {}
  for k, v in pairs(filter) do
    check(job, k ~= "last_days", fmt("%s: last_days goes beside from and to (it limits the 'from' rows), not inside '%s'", what, name), level + 1)
    l[#l + 1] = filter_entry(job, what, t, k, v, level + 1)
  end
  table.sort(l, function(a, b) return a.col < b.col end)
  return l
end

-- time_to_next(h, spec): the aggregate, sealed like the others (H.AGG) with kind "sequence".
function M.make(job, h, spec, filter_entry, level)
  local t = H.unseal(job, h, H.TABLE)
  check(job, t and t.kind == "history", "time_to_next: the first argument must be a history table, e.g. events", level + 1)
  local what = "time_to_next(" .. t.name .. ")"
  check(job, t.date, what .. ": needs the history's date column: add date = \"...\" to its declaration", level + 1)
  check(job, type(spec) == "table", what .. ": give { from = {...}, to = {...}, result = \"last\", unit = \"days\", within = N }", level + 1)
  for k in pairs(spec) do
    check(job, k == "from" or k == "to" or k == "at" or k == "unit" or k == "within" or k == "last_days" or k == "result",
      fmt("%s: unknown option '%s'; the options are from, to, at, unit, within, last_days, result", what, tostring(k)), level + 1)
  end
  check(job, spec.from ~= nil and spec.to ~= nil, what .. ": give both from = {...} (the first event) and to = {...} (the next one)", level + 1)
  local from = entries_of(job, what, t, spec.from, "from", filter_entry, level + 1)
  local to = entries_of(job, what, t, spec.to, "to", filter_entry, level + 1)
  local unit = spec.unit or "days"
  check(job, UNITS[unit], what .. ": unit must be \"days\", \"hours\" or \"minutes\"", level + 1)
  if spec.at ~= nil then
    check(job, t.columns[spec.at] == "datetime", fmt("%s: at = \"%s\" must name a datetime column of %s", what, tostring(spec.at), t.name), level + 1)
  end
  check(job, unit == "days" or spec.at, what .. ": unit = \"" .. unit .. "\" needs the time of day: at = \"<a datetime column>\"", level + 1)
  check(job, spec.within == nil or (type(spec.within) == "number" and spec.within >= 0),
    what .. ": within must be a number of " .. unit, level + 1)
  check(job, spec.last_days == nil or (type(spec.last_days) == "number" and spec.last_days >= 0), what .. ": last_days must be a number of days", level + 1)
  local result = spec.result or "last"
  check(job, RESULTS[result], what .. ": result must be one of last, first, max, min (a time), count, followed, missed, open (a count)", level + 1)
  check(job, spec.within ~= nil or (result ~= "open"), what .. ": result = \"open\" needs within = N", level + 1)
  local filters = {}
  for _, e in ipairs(from) do filters[#filters + 1] = e end
  for _, e in ipairs(to) do filters[#filters + 1] = e end
  local agg = { kind = "sequence", t = t, from = from, to = to, filters = filters, at = spec.at, unit = unit,
                within = spec.within, last_days = spec.last_days, result = result, line = E.line(job, level + 1) }
  return H.seal(job, agg, H.AGG, "an aggregate such as time_to_next(...) is read-only", what)
end

-- "YYYY-MM-DD HH:MM[:SS]" (or a T between) in seconds since 1970, or nil
local function parse_datetime(s)
  local d, hh, mm, rest = s:match("^(%d%d%d%d%-%d%d%-%d%d)[ T](%d%d?):(%d%d)(.*)$")
  if not d then return nil end
  local ss = 0
  if rest ~= "" then
    ss = rest:match("^:(%d%d)$")
    if not ss then return nil end
  end
  local day = dates.parse(d)
  hh, mm, ss = tonumber(hh), tonumber(mm), tonumber(ss)
  if not day or hh > 23 or mm > 59 or ss > 59 then return nil end
  return day * 86400 + hh * 3600 + mm * 60 + ss
end
M.parse_datetime = parse_datetime

local function compare(a, op, b)
  if op == ">" then return a > b elseif op == ">=" then return a >= b elseif op == "<" then return a < b end
  return a <= b
end

-- A row test from a filter's entries (all must hold), over readers by column.
local function row_test(entries, readers)
  local tests = {}
  for i, e in ipairs(entries) do
    local read = readers[e.col]
    if e.kind == "in" then
      local set = {}
      for _, x in ipairs(e.values) do set[x] = true end
      tests[i] = function(r) local v = read(r); return v ~= nil and set[v] == true end
    elseif e.kind == "cmp" then
      tests[i] = function(r) local v = read(r); return v ~= nil and v ~= "" and compare(v, e.op, e.value) end
    elseif e.kind == "present" then tests[i] = function(r) local v = read(r); return v ~= nil and v ~= "" end
    elseif e.kind == "empty" then tests[i] = function(r) local v = read(r); return v == nil or v == "" end
    else tests[i] = function(r) return e.fn(read(r)) and true or false end end
  end
  return function(r)
    for i = 1, #tests do if not tests[i](r) then return false end end
    return true
  end
end

-- One Lua scan over history t with the sequence features feats.
function M.build(job, t, feats)
  local views = job.views[t.name]
  local S = { seq = true, t = t, feats = feats, views = views, offsets = views.offsets, fns = {} }
  local readers = setmetatable({}, { __index = function(r, col) local f = bind.reader(views[col]); r[col] = f; return f end })
  S.date = readers[t.date]
  S.plans = {}
  for k, f in ipairs(feats) do
    local a = f.def
    S.plans[k] = { a = a, from = row_test(a.from, readers), to = row_test(a.to, readers), at = a.at and readers[a.at],
                   unit = UNITS[a.unit], f = f }
  end
  S.res = require("ffi").new("double[?]", require("defector.scan").BLOCK * #feats)
  return S
end

local function time_of(job, P, S, r)
  if not P.at then return S.date(r) * 86400 end
  local s = P.at(r)
  local v = parse_datetime(s)
  if v == nil then
    E.throw({ where = P.a.t.file, message = fmt("column %s: \"%s\" is not a date and time YYYY-MM-DD HH:MM[:SS] (read by feature %s, line %d)",
      P.a.at, s, P.f.name, P.f.line or 0), fix = "fix the export, or leave at out to count in days from the date column", data = true })
  end
  return v
end

-- The value of plan P for the rows lo .. hi - 1 of one entity (nil when there is none).
local function value(job, S, P, lo, hi)
  local a, as_of = P.a, job.as_of
  local froms, tos = {}, {}
  for r = lo, hi - 1 do
    local d = S.date(r)
    if d ~= nil and d <= as_of then
      local isfrom = P.from(r) and (not a.last_days or d > as_of - a.last_days)
      local isto = P.to(r)
      if isfrom or isto then
        local tm = time_of(job, P, S, r)
        if isfrom then froms[#froms + 1] = { tm, r } end
        if isto then tos[#tos + 1] = { tm, r } end
      end
    end
  end
  local function before(x, y) if x[1] ~= y[1] then return x[1] < y[1] end return x[2] < y[2] end
  table.sort(froms, before)
  table.sort(tos, before)
  local limit = a.within and a.within * P.unit
  local day_end = (as_of + 1) * 86400 -- the end of the as-of day
  local n, followed, missed, open, first, last, mx, mn = #froms, 0, 0, 0, nil, nil, nil, nil
  local j = 1
  for i, fr in ipairs(froms) do
    while tos[j] and tos[j][1] < fr[1] do j = j + 1 end
    -- the next `to` row at or after this one's time (not the row itself)
    local k = j
    while tos[k] and tos[k][2] == fr[2] do k = k + 1 end
    local gap = tos[k] and numbers.round((tos[k][1] - fr[1]) / P.unit, 6) -- at most 6 decimals, as a decimal column
    if gap and (not limit or gap * P.unit <= limit) then followed = followed + 1
    elseif limit and fr[1] + limit >= day_end then open = open + 1
    else missed = missed + 1 end
    if i == 1 then first = gap end
    if i == n then last = gap end
    if gap then
      if not mx or gap > mx then mx = gap end
      if not mn or gap < mn then mn = gap end
    end
  end
  local res = a.result
  if res == "count" then return n elseif res == "followed" then return followed
  elseif res == "missed" then return missed elseif res == "open" then return open
  elseif res == "first" then return first elseif res == "last" then return last
  elseif res == "max" then return mx end
  return mn
end

-- Entities lo .. hi - 1 (at most a block) into S.res.
function M.run(job, S, lo, hi)
  local nf, off, res, NaN = #S.feats, S.offsets, S.res, 0 / 0
  for e = lo, hi - 1 do
    local a, b = tonumber(off[e]), tonumber(off[e + 1])
    for k, P in ipairs(S.plans) do
      local ok, v = pcall(value, job, S, P, a, b)
      if not ok then
        if E.is_ours(v) then v.entity = e; error(v, 0) end
        local obj = E.from_lua(job, v)
        obj.where = obj.where .. ": the filter of feature " .. P.f.name
        obj.entity = e
        error(obj, 0)
      end
      if v == nil then v = NaN end
      res[(e - lo) * nf + k - 1] = v
    end
  end
end

function M.result_kind(S, k)
  local r = S.feats[k].def.result
  if r == "count" or r == "followed" or r == "missed" or r == "open" then return "number" end
  return "maybe_number"
end

return M
