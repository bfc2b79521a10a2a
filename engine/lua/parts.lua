-- parts.lua: entities scored in parallel parts, one Lua state per thread. A worker's state
-- hands its part to the main state as plain values (luabridge.c copies them between states;
-- an int64 cannot cross, so it travels as two 32-bit halves): list sort keys, metric groups
-- with their exact accumulators, rule counts. The main state merges the parts in entity order,
-- so the outputs are the bytes one state would write.
local bit = require("bit")
local metrics = require("defector.metrics")
local I64 = require("defector.numbers").I64

local M = {}

function M.pack(job, S)
  local part = { lists = {}, mets = {}, fire = S.fire_counts, errors = S.error_counts, error_rows = S.error_rows,
                 overrides = S.override_count }
  part.error_ent = S.error_ent
  for l, L in ipairs(job.lists) do part.lists[l] = { m = L.m, keys = L.keys, split = L.split, ent = L.ent } end
  for m, Mt in ipairs(job.mets) do
    local groups = {}
    for gi, grp in ipairs(Mt.order) do
      local big = {}
      for slot, v in pairs(grp.big) do big[slot] = { tonumber(bit.arshift(v, 32)), tonumber(bit.band(v, 0xffffffffLL)) } end
      groups[gi] = { keys = grp.keys, n = grp.n, acc = grp.acc, big = big, wrap = grp.wrap, cnt = grp.cnt, micro = grp.micro,
                     vals = grp.vals, first = grp.first }
    end
    part.mets[m] = groups
  end
  part.calls = require("defector.calls").pack(job)
  return part
end

local function merge_group(Mt, g)
  local vals = {}
  for i, f in ipairs(Mt.o.group_by) do vals[i] = g.keys[f] end
  local grp = metrics.find(Mt, vals)
  if g.first and (grp.first == nil or g.first < grp.first) then grp.first = g.first end
  grp.n = grp.n + g.n
  for slot, v in pairs(g.acc) do
    if slot > 0 and Mt.o.columns[slot].agg.kind == "count" then grp.acc[slot] = grp.acc[slot] + v
    else metrics.add_exact(Mt, grp, slot, v) end
  end
  for slot, b in pairs(g.big) do metrics.add_big(grp, slot, I64(b[1]) * 4294967296LL + b[2]) end
  for slot, w in pairs(g.wrap) do grp.wrap[slot] = (grp.wrap[slot] or 0) + w end
  for ci, k in pairs(g.cnt) do grp.cnt[ci] = grp.cnt[ci] + k end
  for ci in pairs(g.micro) do grp.micro[ci] = true end
  for ci, l in pairs(g.vals or {}) do -- median, percentile: the values gathered (sorted when used)
    local dst = grp.vals[ci]
    for i = 1, #l do dst[#dst + 1] = l[i] end
  end
end

M.merge_group = merge_group -- the merge of shards (shards.lua)

function M.merge(job, S, p)
  for l, L in ipairs(job.lists) do
    local pl, m = p.lists[l], L.m
    for k = 1, #L.keys do
      local dst, src = L.keys[k], pl.keys[k] or {}
      for j = 1, pl.m do dst[m + j] = src[j] end
    end
    if L.split then
      local dst, src = L.split, pl.split or {}
      for j = 1, pl.m do dst[m + j] = src[j] end
    end
    if L.ent then
      local dst, src = L.ent, pl.ent or {}
      for j = 1, pl.m do dst[m + j] = src[j] end
    end
    L.m = m + pl.m
  end
  for mi, Mt in ipairs(job.mets) do
    for _, g in ipairs(p.mets[mi]) do merge_group(Mt, g) end
  end
  require("defector.calls").merge(job, p.calls)
  for k = 1, #job.rules do
    S.fire_counts[k] = S.fire_counts[k] + p.fire[k]
    S.error_counts[k] = S.error_counts[k] + p.errors[k]
  end
  S.error_rows = S.error_rows + p.error_rows
  if S.error_ent then for _, r in ipairs(p.error_ent or {}) do S.error_ent[#S.error_ent + 1] = r end end
  S.override_count = S.override_count + p.overrides
end

return M
