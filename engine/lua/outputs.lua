-- outputs.lua: the declarations of what a run writes: output { ... } (a list, one row per
-- entity that passes `where`, in `order`) and metrics { ... } (one row per group). Checked and
-- recorded in job.outputs; lists.lua and metrics.lua fill them.
local E = require("defector.errors")
local H = require("defector.handles")
local fmt = string.format

local M = {}

local function check(job, cond, msg, level, fix) return E.check(job, cond, msg, (level or 2) + 1, fix) end

-- Claims an output file name for a declaration (output, metrics, changes, calls, report...): a
-- plain name (no folder, not hidden) ending as the pattern `ending` says when given, written by
-- no other declaration; `bad` is the message when the name is not such a name.
function M.claim_file(job, file, bad, ending)
  check(job, type(file) == "string" and file:match("^[%w_%-%.]+$") and not file:match("^%.") and (not ending or file:match(ending .. "$")),
    bad, 3)
  check(job, not job.out_files[file], "two outputs write '" .. file .. "'", 3)
  job.out_files[file] = true
end

local function file_name(job, file, what)
  M.claim_file(job, file, what .. ": 'file' must be a plain file name like \"risk_list.csv\"")
end

-- Options for spreadsheets (see sheets.lua): the CSV's byte order mark, separator, decimal
-- comma and formula guard; fixed decimals per column; for a list, split_by and unassigned.
local KNOWN = { file = true, where = true, order = true, columns = true, group_by = true, decimals = true, bom = true,
  separator = true, decimal_comma = true, formula_guard = true, split_by = true, unassigned = true, mask = true }

local function sheet_options(job, spec, o, what)
  for k in pairs(spec) do
    check(job, KNOWN[k] and (k ~= "group_by" or o.kind == "metrics") and ((k ~= "split_by" and k ~= "unassigned" and k ~= "mask") or o.kind == "list"),
      what .. ": unknown option '" .. tostring(k) .. "'", 3,
      "the options are file, where, order, columns" .. (o.kind == "metrics" and ", group_by" or ", split_by, unassigned, mask") ..
      ", decimals, bom, separator, decimal_comma, formula_guard (docs/rules.md, Outputs for spreadsheets)")
  end
  o.xlsx = spec.file:match("%.xlsx$") ~= nil
  local csv_opts = spec.bom ~= nil or spec.separator ~= nil or spec.decimal_comma ~= nil or spec.formula_guard ~= nil
  check(job, not (o.xlsx and csv_opts), what .. ": bom, separator, decimal_comma and formula_guard are options of a CSV file, not of a workbook", 3)
  for _, k in ipairs({ "bom", "decimal_comma", "formula_guard" }) do
    check(job, spec[k] == nil or type(spec[k]) == "boolean", what .. ": " .. k .. " must be true or false", 3)
  end
  local sep = spec.separator or ","
  check(job, sep == "," or sep == ";" or sep == "\t", what .. ': separator must be ",", ";" or "\\t"', 3)
  check(job, not (spec.decimal_comma and sep == ","), what .. ': decimal_comma needs separator = ";" (or "\\t"): with "," every number would need quotes', 3)
  o.sep, o.bom, o.decimal_comma = sep, spec.bom == true, spec.decimal_comma == true
  o.guard = spec.formula_guard ~= false
  o.decimals = {}
  check(job, spec.decimals == nil or type(spec.decimals) == "table", what .. ": decimals must be a table like { revenue_at_risk = 2 }", 3)
  for col, places in pairs(spec.decimals or {}) do
    check(job, type(col) == "string" and type(places) == "number" and places == math.floor(places) and places >= 0 and places <= 6,
      what .. ": decimals gives each column a number of decimals from 0 to 6, like { revenue_at_risk = 2 }", 3)
    o.decimals[col] = places
  end
  check(job, spec.split_by == nil or type(spec.split_by) == "string", what .. ": split_by must name one field, like \"owner\"", 3)
  check(job, spec.unassigned == nil or (type(spec.unassigned) == "string" and spec.unassigned ~= ""),
    what .. ": unassigned must be a name, like \"unassigned\"", 3)
  check(job, spec.unassigned == nil or spec.split_by ~= nil, what .. ": unassigned names the list of the rows without a split_by value; give split_by too", 3)
  o.split_by, o.unassigned = spec.split_by, spec.unassigned or "unassigned"
  o.typed = o.xlsx or o.split_by ~= nil
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
  -- personal data (docs/operations.md): mask = { "name" } writes *** for every value of those
  -- columns that is not empty (a column left out of columns is not written at all)
  check(job, spec.mask == nil or type(spec.mask) == "table", what .. ": mask must list column names, like { \"name\" }", 2)
  local mask = {}
  for _, m in ipairs(spec.mask or {}) do
    local found = false
    for _, c in ipairs(cols) do found = found or c.name == m end
    check(job, found, what .. ": mask names '" .. tostring(m) .. "', which is not one of its columns", 2,
      "name a column of this output (its header), or leave the column out of columns to drop it")
    check(job, m ~= "rank", what .. ": rank cannot be masked", 2)
    mask[m] = true
  end
  for _, k in ipairs(order) do
    check(job, k.field ~= "rank", what .. ": cannot order by rank (rank is the position in the order)", 2)
  end
  local o = { kind = "list", file = spec.file, where = spec.where, columns = cols, order = order, mask = mask, line = E.line(job, 2) }
  sheet_options(job, spec, o, what)
  job.outputs[#job.outputs + 1] = o
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
  local o = { kind = "metrics", file = spec.file, where = spec.where, group_by = groups,
    columns = cols, order = parse_order(job, spec.order or groups, what), line = E.line(job, 2) }
  sheet_options(job, spec, o, what)
  job.outputs[#job.outputs + 1] = o
end

-- workbook { file = "x.xlsx", sheets = { "risk_list.csv", { "Segments", "metrics_segment.csv" } } }:
-- outputs gathered as the sheets of one workbook (resolved in check_fields: an output may be
-- declared after the workbook).
local function api_workbook(job, spec)
  check(job, type(spec) == "table", "workbook { file = \"name.xlsx\", sheets = { \"output.csv\", ... } } expects a table", 2)
  file_name(job, spec.file, "workbook")
  local what = "workbook " .. spec.file
  check(job, spec.file:match("%.xlsx$"), what .. ": the file name must end in .xlsx", 2)
  for k in pairs(spec) do check(job, k == "file" or k == "sheets", what .. ": unknown option '" .. tostring(k) .. "'", 2, "the options are file and sheets") end
  check(job, type(spec.sheets) == "table" and #spec.sheets > 0, what .. ": sheets must list outputs, like { \"risk_list.csv\", { \"Segments\", \"metrics_segment.csv\" } }", 2)
  local sheets = {}
  for i, x in ipairs(spec.sheets) do
    if type(x) == "string" then sheets[i] = { file = x }
    else
      check(job, type(x) == "table" and type(x[1]) == "string" and type(x[2]) == "string",
        what .. ": sheet " .. i .. " must be an output's file name or { \"sheet name\", \"output file\" [, decimals = {...}] }", 2)
      check(job, x.decimals == nil or type(x.decimals) == "table", what .. ": a sheet's decimals must be a table like { revenue_at_risk = 2 }", 2)
      for col, places in pairs(x.decimals or {}) do
        check(job, type(col) == "string" and type(places) == "number" and places == math.floor(places) and places >= 0 and places <= 6,
          what .. ": decimals gives each column a number of decimals from 0 to 6, like { revenue_at_risk = 2 }", 2)
      end
      sheets[i] = { name = x[1], file = x[2], decimals = x.decimals }
    end
  end
  job.books = job.books or {}
  job.books[#job.books + 1] = { file = spec.file, sheets = sheets, line = E.line(job, 2) }
end

function M.api(job)
  return {
    output = function(spec) return api_output(job, spec) end,
    metrics = function(spec) return api_metrics(job, spec) end,
    workbook = function(spec) return api_workbook(job, spec) end,
  }
end

-- The workbooks: each sheet names an output; .xlsx outputs are workbooks of their own.
local function check_books(job)
  local by_file = {}
  for _, o in ipairs(job.outputs) do by_file[o.file] = o end
  local books = {}
  for _, o in ipairs(job.outputs) do
    if o.xlsx then books[#books + 1] = { file = o.file, line = o.line, sheets = { { output = o, file = o.file, name = (o.file:gsub("%.xlsx$", "")) } } } end
  end
  for _, b in ipairs(job.books or {}) do
    for _, sh in ipairs(b.sheets) do
      local o = by_file[sh.file]
      if not o then
        E.record(job, E.at(job, b.line), fmt("workbook %s: no output writes '%s'", b.file, sh.file), "name the file of an output { ... } or metrics { ... } of the rule file")
      elseif o.xlsx then
        E.record(job, E.at(job, b.line), fmt("workbook %s: '%s' is a workbook itself", b.file, sh.file), "name it .csv to gather it as a sheet")
      else
        o.typed = true
        sh.output = o
        sh.name = sh.name or (sh.file:gsub("%.[^.]*$", ""))
      end
    end
    books[#books + 1] = b
  end
  job.all_books = books
end

-- After the rule file ran: every field an output names must exist.
function M.check_fields(job)
  check_books(job)
  local suggest = require("defector.suggest")
  local known = {}
  for name in pairs(job.fields) do known[#known + 1] = name end
  table.sort(known)
  for _, o in ipairs(job.outputs) do
    local what = o.kind == "list" and "output " .. o.file or o.kind .. " " .. o.file
    local function field(f)
      if not job.fields[f] then
        local s = suggest.closest(f, known)
        E.record(job, E.at(job, o.line), fmt("%s: '%s' is not a column, feature or value of the rule file", what, f),
          s and fmt("did you mean '%s'?", s) or "use a name the rule file declares, or declare it with feature(...) or value(...)")
      end
    end
    for _, f in ipairs(o.check_names or {}) do field(f) end -- calls { } (calls.lua)
    for _, c in ipairs(o.columns) do
      if type(c.field) == "string" and not c.special then field(c.field) end
      if c.group then field(c.group) end
      if c.agg and c.agg.field then field(c.agg.field) end
    end
    for _, g in ipairs(o.group_by or {}) do field(g) end
    if o.split_by then field(o.split_by) end
    for col in pairs(o.decimals or {}) do
      local ok = false
      for _, c in ipairs(o.columns) do if c.name == col then ok = true end end
      if not ok then E.record(job, E.at(job, o.line), fmt("%s: decimals names '%s', which is not one of its columns", what, col), "name a column of this output") end
    end
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
