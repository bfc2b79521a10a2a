-- quantile.lua: the median and percentiles of the metric aggregates median(...) and
-- percentile(...). One function takes all of a group's values (a median cannot be merged from
-- partial results, as sums can): a merge of shards or threads gathers the values and calls it.
--
-- Method: linear interpolation between the closest ranks, as Excel's PERCENTILE.INC and
-- numpy's default: the values sorted x[1] <= ... <= x[n], h = (n - 1) * p / 100 + 1, the result
-- x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)]), rounded half away from zero
-- to `places` decimals. The median is the 50th percentile (the mean of the two middle values
-- when n is even). Empty values are left out; no values gives an empty cell. The values are
-- sorted before use, so the result does not depend on the order they came in (--threads).
local numbers = require("defector.numbers")

local M = {}

function M.of(values, p, places)
  local n = #values
  if n == 0 then return nil end
  local x = {}
  for i = 1, n do x[i] = values[i] end
  table.sort(x)
  local h = (n - 1) * p / 100 + 1
  local lo = math.floor(h)
  local v = x[lo]
  if lo < n and h > lo then v = v + (h - lo) * (x[lo + 1] - v) end
  return numbers.round(v, places)
end

return M
