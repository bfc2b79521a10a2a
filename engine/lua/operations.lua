-- operations.lua: operations { ... }, the rule file's settings for running unattended
-- (docs/operations.md): strict mode, the time zone of the as-of date, hashed ids, the mode of the
-- files written, and the guards against the previous night. The C side reads them once the
-- declarations ran (M.settings, via main.lua); a command-line option given wins over them.
local E = require("defector.errors")
local fmt = string.format

local M = {}

local KNOWN = { strict = true, time_zone = true, hash_ids = true, file_mode = true, guards = true }
local GUARD_KEYS = { max_drop = true, max_rise = true, max_change = true }

local function check(job, cond, msg, fix) return E.check(job, cond, msg, 4, fix) end

-- One guard: figure = { max_drop = PCT, max_rise = PCT, max_change = PCT } (max_change sets both).
local function guard(job, figure, spec)
  check(job, type(figure) == "string" and (figure == "customers" or figure:match("^rows:.+") or figure:match("^list:.+")
      or figure:match("^total:.+:.+")),
    fmt("operations: guards: '%s' is not a figure", tostring(figure)),
    "the figures are customers, rows:TABLE (rows loaded from an input), list:FILE (rows of an output) and total:FILE:COLUMN (the sum of an output's column)")
  check(job, type(spec) == "table", fmt("operations: guards: %s expects a table like { max_drop = 5 }", figure))
  local g = { figure = figure }
  for k, v in pairs(spec) do
    check(job, GUARD_KEYS[k], fmt("operations: guards: %s: unknown setting '%s'", figure, tostring(k)),
      "the settings are max_drop, max_rise and max_change (percentages)")
    check(job, type(v) == "number" and v >= 0 and v < 1e9,
      fmt("operations: guards: %s: %s must be a percentage (a number from 0)", figure, k))
  end
  g.max_drop = spec.max_drop or spec.max_change
  g.max_rise = spec.max_rise or spec.max_change
  check(job, g.max_drop or g.max_rise, fmt("operations: guards: %s: give max_drop, max_rise or max_change", figure))
  return g
end

local function guards(job, spec)
  check(job, type(spec) == "table", "operations: guards expects a table like { customers = { max_drop = 5 } }")
  local list = {}
  local same = spec.same_input or "warn"
  check(job, same == "warn" or same == "fail" or same == "ignore",
    "operations: guards: same_input must be \"warn\", \"fail\" or \"ignore\"")
  for figure, g in pairs(spec) do
    if figure ~= "same_input" then list[#list + 1] = guard(job, figure, g) end
  end
  table.sort(list, function(a, b) return a.figure < b.figure end)
  return list, same
end

local function api_operations(job, spec)
  check(job, type(spec) == "table", "operations { ... } expects a table")
  check(job, not job.operations, "operations { ... } is given twice; give every setting in one")
  for k in pairs(spec) do
    check(job, KNOWN[k], fmt("operations: unknown setting '%s'", tostring(k)),
      "the settings are strict, time_zone, hash_ids, file_mode and guards (docs/operations.md)")
  end
  for _, k in ipairs({ "strict", "hash_ids" }) do
    check(job, spec[k] == nil or type(spec[k]) == "boolean", fmt("operations: %s must be true or false", k))
  end
  check(job, spec.time_zone == nil or (type(spec.time_zone) == "string" and spec.time_zone ~= ""),
    "operations: time_zone must name a zone, like \"Europe/Paris\"")
  check(job, spec.file_mode == nil or (type(spec.file_mode) == "string" and spec.file_mode:match("^0?[0-7][0-7][0-7]$")),
    "operations: file_mode must be an octal mode in quotes, like \"0640\"")
  local o = { strict = spec.strict, time_zone = spec.time_zone, hash_ids = spec.hash_ids, file_mode = spec.file_mode,
    line = E.line(job, 3) }
  if spec.guards then o.guards, o.same_input = guards(job, spec.guards) end
  job.operations = o
end

function M.api(job)
  return { operations = function(spec) return api_operations(job, spec) end }
end

-- After the declarations: the settings for C, the guards' tables and lists checked against what
-- the rule file declares.
function M.settings(job)
  local o = job.operations or {}
  for _, g in ipairs(o.guards or {}) do
    local kind, name = g.figure:match("^(%a+):(.+)$")
    if kind == "total" then
      local file, col = name:match("^(.+):([^:]+)$")
      local out
      for _, x in ipairs(job.outputs) do if x.file == file then out = x end end
      local has = false
      for _, c in ipairs(out and out.columns or {}) do has = has or c.name == col end
      if not (out and has and not out.typed) then
        E.throw({ where = E.at(job, o.line), message = fmt("operations: guards: %s: %s", g.figure,
          not out and ("no output writes " .. tostring(file)) or out.typed and (file .. " is a workbook or split in several lists: its total cannot be read back")
          or (file .. " has no column " .. col)) .. " — give an output's CSV file and one of its column headers, like total:metrics_segment.csv:revenue_at_risk" })
      end
    end
    local ok = not kind or kind == "total" or (kind == "rows" and job.by_name[name]) or (kind == "list" and job.out_files[name])
    if not ok then
      E.throw({ where = E.at(job, o.line), message = fmt("operations: guards: %s names no %s of the rule file", g.figure,
        kind == "rows" and "input table" or "output file") .. " — " ..
        (kind == "rows" and "give the table's name, like rows:events" or "give an output's file name, like list:risk_list.csv") })
    end
  end
  return { strict = o.strict, time_zone = o.time_zone, hash_ids = o.hash_ids, file_mode = o.file_mode,
    guards = o.guards or {}, same_input = o.same_input or "warn" }
end

return M
