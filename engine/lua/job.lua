-- job.lua: the job object, the one table the Lua modules pass each other instead of sharing
-- module-level state. A job is made per Lua state and per command (run, explain, test, check)
-- from the rule file's text; each stage adds its part:
--
--   declare  (declare.lua, aggregates.lua, outputs.lua, lookups.lua, via sandbox.lua)
--     file, lines, user_files       the rule file, its lines, the user's files (for locations)
--     as_of, as_of_text             the as-of date (days) and its text
--     tables, by_name, entity       input tables as declared (entity first in `tables`)
--     fields, field_line            every name a rule may read -> its kind / declaring line
--     features, rules, rule_codes, score, bands, stages, values, outputs, out_files, overrides
--     sealed, outer, snap           handles given to the rule file; outer tables (purity.lua)
--     findings                      nil, or the list `check` collects instead of stopping
--   analyse  (purity.lua, depend.lua)
--     nodes                         what is computed per entity, in dependency order
--   run      (bind.lua, scan.lua, compile.lua, lists.lua, metrics.lua, parts.lua, run.lua)
--     data, views, scans, eval, lists, mets, stats, warnings
local M = {}

function M.new(file, source, as_of, as_of_text)
  local lines = {}
  for line in (source .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  return {
    file = file, source = source, lines = lines, user_files = { [file] = true },
    as_of = as_of, as_of_text = as_of_text,
    tables = {}, by_name = {}, entity = nil,
    fields = {}, field_line = {},
    features = {}, rules = {}, rule_codes = {},
    score = nil, bands = nil, stages = nil, values = {},
    outputs = {}, out_files = {}, overrides = nil,
    sealed = setmetatable({}, { __mode = "k" }),
    outer = setmetatable({}, { __mode = "k" }),
    snap = setmetatable({}, { __mode = "k" }),
    findings = nil, warnings = {},
  }
end

-- Builtin fields every rule file has, beside its columns, features and values.
M.BUILTIN = { "points", "score", "band", "stage", "reason_codes", "reasons", "rank" }

return M
