-- shards.lua: run --shard I/N and defector merge (docs/scale-out.md). A shard scores the
-- entities whose key hashes to it (shards.c gives it their rows in the whole entity table:
-- job.shard.perm) and, instead of writing outputs, packs its partial result: per list the rows'
-- sort keys and entities, per metrics table its groups with their exact accumulators (a median's
-- values too) and first entity, the call lists' rows, the rule counts and the entities of its rule_errors.csv rows. The rows themselves stay
-- rendered in C, which writes them beside (shards.c). The merge puts every shard's rows back in
-- the order of the whole entity table, creates the metric groups in the order of their first
-- entity, and then runs the very finish of a run (run.lua): the outputs are the bytes one
-- machine writes.
local ffi = require("ffi")
local buffer = require("string.buffer")
local E = require("defector.errors")
local parts = require("defector.parts")
local lists = require("defector.lists")
local run = require("defector.run")
local calls = require("defector.calls")

local M = {}

local FORMAT = 1 -- the partial's Lua part; shards.c checks the file's own version

ffi.cdef [[
typedef struct df_merge {
  void *ctx;
  int (*append)(void *ctx, int f, const uint16_t *seq, uint64_t n);
  uint64_t entities;
  int32_t shards;
} df_merge;
]]

-- The committed nights of the run history before tonight (dates), the shards' and the merge's.
local function nights_of(job, dir)
  local list, why = require("defector.native").history_nights(dir, job.as_of)
  if not list then E.throw({ where = dir, message = "cannot read the run history: " .. tostring(why) }) end
  return table.concat(list, ",")
end

-- The text of row r of a text view (a list's text sort key is a row of its column in a run).
local function text_of(view, r)
  local a, b = tonumber(view.offs[r]), tonumber(view.offs[r + 1])
  return ffi.string(view.arena + a, b - a)
end

-- After a shard scored its entities (run.finish): the partial, as a string, in the stats.
function M.pack(job, S, t0)
  local perm = job.shard.perm
  local p = parts.pack(job, S)
  for l, L in ipairs(job.lists) do
    local pl = p.lists[l]
    for i = 1, pl.m do pl.ent[i] = perm[pl.ent[i]] end
    for k, view in pairs(L.text_keys) do
      local keys = pl.keys[k]
      for i = 1, pl.m do keys[i] = text_of(view, keys[i]) end
    end
  end
  for _, groups in ipairs(p.mets) do
    for _, g in ipairs(groups) do g.first = perm[g.first] end
  end
  for i, r in ipairs(p.error_ent or {}) do p.error_ent[i] = perm[r] end
  -- the rule file's warnings (a filter's value that matches no row: the dictionaries are the
  -- whole base's, so every shard has a run's): the merge writes them, once
  p.warnings = {}
  for i, w in ipairs(job.warnings) do p.warnings[i] = { where = w.where, message = w.message, fix = w.fix } end
  p.beside = job.beside_read or {} -- the files beside the rule file (lookups, overrides, a model's params)
  p.nights = job.history_dir and nights_of(job, job.history_dir) or nil -- the history the shard read
  for i, rows in ipairs(p.calls or {}) do -- calls { }: each row's entity, in the whole table
    for _, r in ipairs(rows) do r._e = perm[r._e] end
  end
  local t1 = job.api.now()
  local stats = run.stats(job, S, t0, t1, t1, {})
  stats.partial = buffer.encode({ format = FORMAT, part = p })
  return stats
end

local function append(mg, f, seq, n, what)
  local rc = mg.append(mg.ctx, f, seq, n)
  if rc == -1 then E.throw({ where = what, message = "out of memory merging the shards' rows" }) end
  if rc ~= 0 then
    E.throw({ where = what, message = "internal error: the shards' rows do not match their partial results; please report this" })
  end
end

-- A list's rows of every shard in the order of the whole entity table (each entity is in one
-- shard, on each list at most once): its keys and split values, and which shard each row is from.
local function merge_list(mg, L, l, ps, own)
  local total = tonumber(mg.entities)
  ffi.fill(own, 2 * (total > 0 and total or 1), 0xff)
  local m = 0
  for s, p in ipairs(ps) do
    local pl = p.lists[l]
    for i = 1, pl.m do own[pl.ent[i]] = s - 1 end
    m = m + pl.m
  end
  local seq = ffi.new("uint16_t[?]", m > 0 and m or 1)
  local cur, nk, j = {}, #L.o.order, 0
  for s = 1, #ps do cur[s] = 0 end
  for g = 0, total - 1 do
    local s = own[g]
    if s ~= 0xffff then
      local pl = ps[s + 1].lists[l]
      local i = cur[s + 1] + 1
      cur[s + 1] = i
      seq[j] = s
      j = j + 1
      for k = 1, nk do L.keys[k][j] = pl.keys[k][i] end
      if L.split then L.split[j] = pl.split[i] end
    end
  end
  if j ~= m then E.throw({ where = L.o.file, message = "internal error: two shards hold a row of the same entity (were the partials made from the same data?)" }) end
  L.m = m
  append(mg, L.f, seq, m, L.o.file)
end

-- rule_errors.csv: rows in entity order (an entity may have several, all from its shard).
local function merge_errors(mg, S, ps)
  local n, cur = 0, {}
  for s, p in ipairs(ps) do n = n + #p.error_ent; cur[s] = 1 end
  local seq = ffi.new("uint16_t[?]", n > 0 and n or 1)
  for j = 0, n - 1 do
    local best, bs
    for s, p in ipairs(ps) do
      local e = p.error_ent[cur[s]]
      if e and (best == nil or e < best) then best, bs = e, s end
    end
    seq[j] = bs - 1
    cur[bs] = cur[bs] + 1
  end
  S.error_rows = n
  append(mg, S.errors_file, seq, n, "rule_errors.csv")
end

local function refuse(what, message, fix) E.throw({ where = what, message = message, fix = fix, usage = true }) end

-- The shards read what the merge reads: the files beside the rule file, the run history's nights.
local function same_inputs(job, ps, opts)
  local mine = job.beside_read or {}
  local here = opts.history_dir and nights_of(job, opts.history_dir) or nil
  for s, p in ipairs(ps) do
    local shard = "shard " .. (s - 1)
    for file, text in pairs(p.beside or {}) do
      if mine[file] ~= text then
        refuse(shard, "it read another " .. file .. " beside the rule file than the merge reads now (changed while the shards ran?)",
          "run the shards again with the files as they are now")
      end
    end
    for file in pairs(mine) do
      if not (p.beside or {})[file] then refuse(shard, "it did not read " .. file .. ", which the merge reads", "run the shards again") end
    end
    if p.nights ~= here then
      refuse(shard, "its run history (--history) holds other nights than the merge's: " .. (p.nights == "" and "none" or "another list")
        .. " against " .. (here == "" and "none" or "the merge's"),
        "give the shards and the merge the same --history folder (shared between the machines)")
    end
  end
end

local function warning_text(w) return tostring(w.where) .. "\0" .. tostring(w.message) .. "\0" .. tostring(w.fix) end

-- The rule file's warnings: every shard's are a run's (the same declarations, dictionaries of
-- the whole base); they replace the merge's own, which are their first ones.
local function merge_warnings(job, ps)
  local first = ps[1].warnings or {}
  for s = 2, #ps do
    local w = ps[s].warnings or {}
    local same = #w == #first
    for i = 1, same and #w or 0 do same = same and warning_text(w[i]) == warning_text(first[i]) end
    if not same then
      E.throw({ where = "shard " .. (s - 1), message = "internal error: the shards' warnings differ (shard 0 has " .. #first .. ", this one " .. #w .. "); please report this" })
    end
  end
  job.warnings = {}
  for i, w in ipairs(first) do job.warnings[i] = w end
end

-- defector merge: blobs are the shards' partials in shard order (shards.c checked that they are
-- the N shards of one job); the outputs are written by run.finish, as a run writes them.
function M.merge(job, api, mptr, blobs, opts)
  local mg = ffi.cast("df_merge*", mptr)
  local t0 = api.now()
  job.api = api
  job.write_value = lists.writer(api, job)
  job.report_later = opts.report_later
  job.views = { [job.entity.name] = { n = tonumber(mg.entities) } } -- what the stats and the report count
  local S = run.setup_outputs(job, api, { skip_rule_errors = opts.skip_rule_errors, history = opts.history,
                                          history_dir = opts.history_dir })
  local ps = {}
  for s = 1, #blobs do
    local d = buffer.decode(blobs[s])
    if type(d) ~= "table" or d.format ~= FORMAT then
      E.throw({ where = "shard " .. (s - 1), message = "its partial was written by another version of defector; run the shards and the merge with the same one" })
    end
    ps[s] = d.part
    blobs[s] = nil
  end
  same_inputs(job, ps, opts)
  merge_warnings(job, ps)
  local total = tonumber(mg.entities)
  local own = ffi.new("uint16_t[?]", total > 0 and total or 1)
  for l, L in ipairs(job.lists) do merge_list(mg, L, l, ps, own) end
  if S.errors_file then merge_errors(mg, S, ps) end
  for mi, Mt in ipairs(job.mets) do
    -- groups created in the order a run first meets them: by their first entity
    local all = {}
    for _, p in ipairs(ps) do for _, g in ipairs(p.mets[mi]) do all[#all + 1] = g end end
    table.sort(all, function(a, b) return a.first < b.first end)
    for _, g in ipairs(all) do parts.merge_group(Mt, g) end
  end
  -- calls { } and save_rate { }: the shards' rows (each with its entity in the whole table: the
  -- lists are sorted in the finish, ties in entity order) and tonight's status of those listed
  for _, p in ipairs(ps) do calls.merge(job, p.calls) end
  for _, p in ipairs(ps) do
    for k = 1, #job.rules do
      S.fire_counts[k] = S.fire_counts[k] + p.fire[k]
      S.error_counts[k] = S.error_counts[k] + p.errors[k]
    end
    S.override_count = S.override_count + p.overrides
  end
  require("defector.models").given_only(job) -- a model's parameters: given to every shard
  return run.finish(job, S, {}, t0)
end

return M
