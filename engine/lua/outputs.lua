-- outputs.lua: the declarations of what a run writes: output { ... } (a list, one row per
-- entity that passes `where`, in `order`) and metrics { ... } (one row per group). Checked and
-- recorded in job.outputs; lists.lua and metrics.lua fill them.
local E = require("defector.errors")
local H = require("defector.handles")
local fmt = string.format

local M = {}

local function check(job, cond, msg, level, fix) return E.check(job, cond, msg, (level or 2) + 1, fix) end

local function file_name(job, file, what)
  check(job, type(file) == "string" and file:match("^[%w_%-%.]+$") and not file:match("^%."),
    what .. ": 'file' must be a plain file name like \"risk_list.csv\"", 3)
  check(job, not job.out_files[file], "two outputs write '" .. file .. "'", 3)
  job.out_files[file] = true
end

local function parse_order(job, order, what)
  check(job, order == nil or type(order) == "table", what .. ": order must list field names", 3)
  local keys = {}
  for i, o in ipairs(order or {}) do
    check(job, type(o) == "string", what .. ": order entries are field names, optionally followed by ' desc'", 3)
    local f, dir = o:match("^%s*([%w_]+)%s*(%a*)%s*$")
    check(job, f and (dir == "" or dir == "asc" or dir == "desc"), what .. ": cannot read order entry '" .. o .. "'", 3)
    keys[i] = { field = f, desc = dir == "desc" }
  end
  return keys
end

local function api_output(job, spec)
  check(job, type(spec) == "table", "output { file = ..., where = ..., order = {...}, columns = {...} } expects a table", 2)
  file_name(job, spec.file, "output")
  local what = "output " .. spec.file
  check(job, spec.where == nil or type(spec.where) == "function", what .. ": 'where' must be a function(c)", 2)
  check(job, type(spec.columns) == "table" and #spec.columns > 0, what .. ": 'columns' must list the fields to write", 2)
  local cols = {}
  for i, c in ipairs(spec.columns) do
    if type(c) == "string" then cols[i] = { name = c, field = c }
    else
      check(job, type(c) == "table" and type(c[1]) == "string" and (type(c[2]) == "string" or type(c[2]) == "function"),
        what .. ": column " .. i .. " must be a field name or {\"header\", field name or function(c)}", 2)
      cols[i] = { name = c[1], field = c[2] }
    end
  end
  local order = parse_order(job, spec.order, what)
  for _, k in ipairs(order) do
    check(job, k.field ~= "rank", what .. ": cannot order by rank (rank is the position in the order)", 2)
  end
  job.outputs[#job.outputs + 1] = { kind = "list", file = spec.file, where = spec.where, columns = cols,
    order = order, line = E.line(job, 2) }
end

local function metric_column(job, what, c, i, gset)
  if type(c) == "string" then
    check(job, gset[c], what .. ": column '" .. c .. "' is not in group_by; give it an aggregate like {\"" .. c .. "\", sum(\"" .. c .. "\")}", 3)
    return { name = c, group = c }
  end
  check(job, type(c) == "table" and type(c[1]) == "string" and (H.unseal(job, c[2], H.MAGG) or type(c[2]) == "function"),
    what .. ": column " .. i .. " must be a group_by field or {\"name\", count() | sum(...) | avg(...) | function(row)}", 3)
  return { name = c[1], agg = H.unseal(job, c[2], H.MAGG), fn = type(c[2]) == "function" and c[2] or nil }
end

local function api_metrics(job, spec)
  check(job, type(spec) == "table", "metrics { file = ..., group_by = {...}, columns = {...} } expects a table", 2)
  file_name(job, spec.file, "metrics")
  local what = "metrics " .. spec.file
  check(job, spec.where == nil or type(spec.where) == "function", what .. ": 'where' must be a function(c)", 2)
  local group_by = spec.group_by or {}
  check(job, type(group_by) == "table", what .. ": group_by must list field names", 2)
  local gset, groups = {}, {}
  for i, g in ipairs(group_by) do
    check(job, type(g) == "string", what .. ": group_by must list field names", 2)
    gset[g] = true
    groups[i] = g
  end
  check(job, type(spec.columns) == "table" and #spec.columns > 0, what .. ": 'columns' must list what to write", 2)
  local cols = {}
  for i, c in ipairs(spec.columns) do cols[i] = metric_column(job, what, c, i, gset) end
  job.outputs[#job.outputs + 1] = { kind = "metrics", file = spec.file, where = spec.where, group_by = groups,
    columns = cols, order = parse_order(job, spec.order or groups, what), line = E.line(job, 2) }
end

function M.api(job)
  return {
    output = function(spec) return api_output(job, spec) end,
    metrics = function(spec) return api_metrics(job, spec) end,
  }
end

-- After the rule file ran: every field an output names must exist.
function M.check_fields(job)
  local suggest = require("defector.suggest")
  local known = {}
  for name in pairs(job.fields) do known[#known + 1] = name end
  table.sort(known)
  for _, o in ipairs(job.outputs) do
    local what = o.kind == "list" and "output " .. o.file or "metrics " .. o.file
    local function field(f)
      if not job.fields[f] then
        local s = suggest.closest(f, known)
        E.record(job, E.at(job, o.line), fmt("%s: '%s' is not a column, feature or value of the rule file", what, f),
          s and fmt("did you mean '%s'?", s) or "use a name the rule file declares, or declare it with feature(...) or value(...)")
      end
    end
    for _, c in ipairs(o.columns) do
      if type(c.field) == "string" then field(c.field) end
      if c.group then field(c.group) end
      if c.agg and c.agg.field then field(c.agg.field) end
    end
    for _, g in ipairs(o.group_by or {}) do field(g) end
    for _, k in ipairs(o.order) do
      if o.kind == "metrics" then
        local ok = false
        for _, c in ipairs(o.columns) do if c.name == k.field then ok = true end end
        if not ok then E.record(job, E.at(job, o.line), fmt("metrics %s: order by '%s', which is not one of its columns", o.file, k.field), "order by one of the table's column names") end
      else
        field(k.field)
      end
    end
  end
end

return M
