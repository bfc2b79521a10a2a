-- intervals.lua: the filters of an interval table (a history declared with date = its start and
-- ends = its end or expiry date: products, contracts), relative to the as-of date:
--   active = true           the interval has not ended: ends empty (open) or on/after AS_OF
--   active = false          it ended: ends before AS_OF (lapsed)
--   ends_within = { 30, 90 } it ends from AS_OF + 30 to AS_OF + 90 days, both included
--                           (ends_within = 90 is { 0, 90 })
--   ended_last_days = 90    it ended in the 90 days before AS_OF: AS_OF - 90 <= ends < AS_OF
-- Rows starting after AS_OF are not loaded (as for any history), so an interval that has not
-- begun is never active. Declaration checks here; test() gives scan.lua its C tests.
local E = require("defector.errors")
local numbers = require("defector.numbers")
local fmt = string.format

local M = {}

M.KEYS = { active = true, ends_within = true, ended_last_days = true }

local function check(job, cond, msg, level) return E.check(job, cond, msg, level + 1) end

local function days(x) return type(x) == "number" and x == math.floor(x) and x >= -100000 and x <= 100000 end

-- The checked value of filter key k on history t.
function M.check(job, what, t, k, v, level)
  check(job, t.ends, fmt("%s: %s needs an interval table: declare the history with date = \"<start column>\", ends = \"<end column>\"",
    what, k), level + 1)
  if k == "active" then
    check(job, type(v) == "boolean", what .. ": active must be true (not ended) or false (ended)", level + 1)
    return v
  elseif k == "ends_within" then
    if type(v) == "number" then v = { 0, v } end
    check(job, type(v) == "table" and days(v[1]) and days(v[2]) and v[1] <= v[2],
      what .. ": ends_within must be a number of days or { from, to } days after AS_OF, e.g. { 30, 90 }", level + 1)
    return { v[1], v[2] }
  end
  check(job, days(v) and v >= 0, what .. ": ended_last_days must be a whole number of days", level + 1)
  return v
end

-- Calls add(test, column) for the C tests of aggregate a's interval filters; mask(fn, column)
-- for a function test.
function M.tests(job, a, add, mask)
  local iv, col, as_of = a.interval, a.t.ends, job.as_of
  if not iv then return end
  local function cmp(op, x) add({ op = op, exact = 1, i = numbers.I64(x) }, col) end
  if iv.active == true then mask(function(v) return v == nil or v >= as_of end, col)
  elseif iv.active == false then cmp("<", as_of) end
  if iv.ends_within then cmp(">=", as_of + iv.ends_within[1]); cmp("<=", as_of + iv.ends_within[2]) end
  if iv.ended_last_days then cmp(">=", as_of - iv.ended_last_days); cmp("<", as_of) end
end

return M
