-- report.lua: report { ... }: the page people read in the morning (report.html): headline
-- figures, charts and tables of the run's own outputs, in one self-contained HTML file (inline
-- CSS and SVG, no script, nothing fetched). The declaration is checked like an output's: each
-- section names an output of the rule file and its columns. At the end of a run, once every CSV
-- output is written, each section's output is read back from its staged file (api.read_back),
-- so that the page shows the very cells of the CSV files (the same values, the same rounding);
-- charts.lua draws them. A section marked optional names an output that not every run writes
-- (one made by the engine, or only when there is a history): it is left out when it is missing.
local E = require("defector.errors")
local ffi = require("ffi")
local charts = require("defector.charts")
local fmt, concat = string.format, table.concat

local M = {}

-- The kinds of section and the options each takes (beside its kind, title, from, optional).
local KINDS = {
  figures = { columns = true, labels = true, percent = true },
  bars = { x = true, y = true, series = true, percent = true, reverse = true },
  funnel = { x = true, y = true, percent = true, reverse = true },
  line = { x = true, y = true, percent = true },
  table = { columns = true, rows = true },
  top = { by = true, columns = true, rows = true },
}
local KIND_NAMES = { "figures", "bars", "funnel", "line", "table", "top" }
local NEEDS = { bars = { "x", "y" }, funnel = { "x", "y" }, line = { "x", "y" }, top = { "by" } }
M.MAX_CHART_ROWS, M.MAX_TABLE_ROWS = 200, 1000

local function check(job, cond, msg, fix) return E.check(job, cond, msg, 4, fix) end

local function string_list(job, v, what)
  check(job, v == nil or type(v) == "table", what .. " must list column names, like { \"customers\", \"at_risk\" }")
  for _, c in ipairs(v or {}) do check(job, type(c) == "string", what .. " must list column names, like { \"customers\", \"at_risk\" }") end
  return v
end

local function section(job, what, i, s)
  check(job, type(s) == "table" and type(s[1]) == "string", fmt("%s: section %d must be a table like { \"bars\", \"Title\", from = \"metrics.csv\", x = ..., y = ... }", what, i))
  local kind = s[1]
  check(job, KINDS[kind], fmt("%s: section %d: unknown kind '%s'", what, i, kind), "the kinds are " .. concat(KIND_NAMES, ", ") ..
    (require("defector.suggest").closest(kind, KIND_NAMES) and fmt(" (did you mean '%s'?)", require("defector.suggest").closest(kind, KIND_NAMES)) or ""))
  check(job, type(s[2]) == "string" and s[2] ~= "", fmt("%s: section %d (%s) needs a title as its second entry, like { \"%s\", \"Customers per stage\", ... }", what, i, kind, kind))
  local where = fmt("%s, section '%s'", what, s[2])
  check(job, type(s.from) == "string" and s.from:match("^[%w_%-%.]+$") and not s.from:match("^%."), where .. ": from must name an output file, like from = \"metrics_stage.csv\"")
  for k in pairs(s) do
    check(job, k == 1 or k == 2 or k == "from" or k == "optional" or KINDS[kind][k], fmt("%s: unknown option '%s' for %s", where, tostring(k), kind),
      "a " .. kind .. " section takes from, optional" .. (next(KINDS[kind]) and ", " or "") .. concat((function()
        local t = {}
        for o in pairs(KINDS[kind]) do t[#t + 1] = o end
        table.sort(t)
        return t
      end)(), ", "))
  end
  for _, k in ipairs(NEEDS[kind] or {}) do check(job, type(s[k]) == "string", fmt("%s: %s needs %s = \"a column\"", where, kind, k)) end
  for _, k in ipairs({ "x", "y", "series", "by" }) do check(job, s[k] == nil or type(s[k]) == "string", fmt("%s: %s must name one column", where, k)) end
  check(job, s.optional == nil or type(s.optional) == "boolean", where .. ": optional must be true or false")
  check(job, s.reverse == nil or type(s.reverse) == "boolean", where .. ": reverse must be true or false")
  check(job, s.rows == nil or (type(s.rows) == "number" and s.rows >= 1 and s.rows == math.floor(s.rows) and s.rows <= M.MAX_TABLE_ROWS),
    fmt("%s: rows must be a whole number from 1 to %d", where, M.MAX_TABLE_ROWS))
  check(job, s.labels == nil or type(s.labels) == "table", where .. ": labels must be a table like { at_risk = \"at risk\" }")
  for k, v in pairs(s.labels or {}) do check(job, type(k) == "string" and type(v) == "string", where .. ": labels must be a table like { at_risk = \"at risk\" }") end
  local percent = s.percent
  if kind == "figures" then percent = string_list(job, percent, where .. ": percent")
  else check(job, percent == nil or type(percent) == "boolean", where .. ": percent must be true or false") end
  local out = { kind = kind, title = s[2], from = s.from, optional = s.optional == true, columns = string_list(job, s.columns, where .. ": columns"),
    x = s.x, y = s.y, series = s.series, by = s.by, rows = s.rows, labels = s.labels or {}, reverse = s.reverse == true, where = where }
  if kind == "figures" then
    out.percent = {}
    for _, c in ipairs(percent or {}) do out.percent[c] = true end
  else out.percent = percent == true end
  return out
end

-- report { file = "report.html", title = "...", sections = { { kind, title, from = ..., ... }, ... } }
local function api_report(job, spec)
  check(job, type(spec) == "table", "report { file = \"report.html\", title = ..., sections = { ... } } expects a table")
  require("defector.outputs").claim_file(job, spec.file, "report: 'file' must be a plain file name ending in .html, like \"report.html\"", "%.html?")
  local what = "report " .. spec.file
  for k in pairs(spec) do check(job, k == "file" or k == "title" or k == "sections", what .. ": unknown option '" .. tostring(k) .. "'", "the options are file, title and sections") end
  check(job, spec.title == nil or type(spec.title) == "string", what .. ": title must be text")
  check(job, type(spec.sections) == "table" and #spec.sections > 0, what .. ": sections must list what the page shows, like { { \"funnel\", \"Customers per stage\", from = \"metrics_stage.csv\", x = \"stage\", y = \"customers\" } }")
  local sections = {}
  for i, s in ipairs(spec.sections) do sections[i] = section(job, what, i, s) end
  job.reports = job.reports or {}
  job.reports[#job.reports + 1] = { file = spec.file, title = spec.title or "Report", sections = sections, line = E.line(job, 2), what = what }
end

function M.api(job)
  return { report = function(spec) return api_report(job, spec) end }
end

-- The columns a section names.
local function named_columns(s)
  local t = {}
  for _, k in ipairs({ "x", "y", "series", "by" }) do if s[k] then t[#t + 1] = s[k] end end
  for _, c in ipairs(s.columns or {}) do t[#t + 1] = c end
  for c in pairs(s.kind == "figures" and s.percent or {}) do t[#t + 1] = c end
  for c in pairs(s.labels) do t[#t + 1] = c end
  table.sort(t)
  return t
end

-- After the rule file ran: every section names a CSV output of the rule file (not a workbook,
-- not split) and columns it has; figures take a metrics table of one row.
function M.check(job)
  local suggest = require("defector.suggest")
  local by_file, files = {}, {}
  for _, o in ipairs(job.outputs) do by_file[o.file] = o; files[#files + 1] = o.file end
  table.sort(files)
  -- the tables over nights (changes, trend, churn) are written by the engine after the scoring,
  -- and the report after them: their files are known, their columns checked when read
  local later = {}
  if job.changes then later[job.changes.file or ""] = true; later[job.changes.flows or ""] = true end
  for _, t in ipairs(job.trends or {}) do later[t.file] = true end
  if job.churn then later[job.churn.file] = true end
  for _, r in ipairs(job.reports or {}) do
    local at = E.at(job, r.line)
    for _, s in ipairs(r.sections) do
      local o = by_file[s.from]
      if not o and not s.optional and not later[s.from] then -- a table over nights: checked when read
        local close = suggest.closest(s.from, files)
        E.record(job, at, fmt("%s: no output writes '%s'", s.where, s.from),
          close and fmt("did you mean '%s'? (or mark the section optional = true when another part of the engine writes it)", close) or "name the file of an output { } or metrics { } of the rule file")
      elseif o and o.xlsx then
        E.record(job, at, fmt("%s: '%s' is a workbook; a report reads CSV outputs", s.where, s.from), "declare the output as .csv and gather it in workbook { } to have both")
      elseif o and o.split_by then
        E.record(job, at, fmt("%s: '%s' is split by %s into several files", s.where, s.from, o.split_by), fmt("name an output that is not split; a top section shows the first rows per %s: by = \"%s\"", o.split_by, o.split_by))
      elseif o then
        local names, known = {}, {}
        for _, c in ipairs(o.columns) do names[c.name] = true; known[#known + 1] = c.name end
        for _, c in ipairs(named_columns(s)) do
          if not names[c] then
            local close = suggest.closest(c, known)
            E.record(job, at, fmt("%s: '%s' is not a column of %s", s.where, c, s.from), close and fmt("did you mean '%s'?", close) or ("its columns are " .. concat(known, ", ")))
          end
        end
        if s.kind == "figures" and (o.kind ~= "metrics" or #o.group_by > 0) then
          E.record(job, at, fmt("%s: figures show the one row of a metrics table without group_by; %s has a row per %s", s.where, s.from, o.kind == "list" and "customer" or concat(o.group_by, ", ")),
            "chart it with bars, or show it as a table")
        end
      end
    end
  end
end

---------------------------------------------------------------------------------------------
-- Reading the outputs back.

-- Calls fn(cells, i) for each record of CSV text (i = 0: the header), fields separated by sep,
-- quoted as output.c writes them.
local function each_record(text, sep, fn)
  local i, n, idx = 1, #text, 0
  if text:sub(1, 3) == "\239\187\191" then i = 4 end
  local stop, sepb = "[" .. sep .. "\n]", sep:byte()
  local row, after_sep = {}, false
  local function emit()
    local go = fn(row, idx)
    idx, row, after_sep = idx + 1, {}, false
    return go ~= false
  end
  while i <= n do
    local cell
    if text:byte(i) == 34 then -- a quoted field: "" is a quote
      local parts, j = {}, i + 1
      while true do
        local q = text:find('"', j, true)
        if not q then q = n + 1 end
        parts[#parts + 1] = text:sub(j, q - 1)
        if q <= n and text:byte(q + 1) == 34 then parts[#parts + 1] = '"'; j = q + 2
        else i = q + 1; break end
      end
      cell = concat(parts)
    else
      local j = text:find(stop, i) or n + 1
      cell, i = text:sub(i, j - 1), j
    end
    row[#row + 1] = cell
    local c = text:byte(i)
    if c == sepb then i, after_sep = i + 1, true
    else
      i = i + 1 -- the line feed
      if not emit() then return end
    end
  end
  if after_sep then row[#row + 1] = ""; emit() end
end

-- Output file's text as written so far, or nil when the run has not written it.
local function read_back(api, file)
  local data, len = ffi.new("const char*[1]"), ffi.new("size_t[1]")
  local rc = api.read_back(api.ctx, file, data, len)
  if rc == 1 then return nil end
  if rc ~= 0 then E.throw({ where = file, message = "cannot read the output back for the report" }) end
  local s = ffi.string(data[0], len[0])
  api.read_back(api.ctx, "", data, len) -- frees the C copy
  return s
end

-- A source: { file, header = {names}, col = {name -> index}, rows = {{cells}}, n, sep, dec,
-- groups (top: rows per value of `by`) }.
local function load(job, api, r, s, cache)
  local key = s.from .. "\0" .. (s.kind == "top" and s.by or "")
  if cache[key] ~= nil then return cache[key] end
  local text = read_back(api, s.from)
  if not text then
    if not s.optional then E.throw({ where = job.file .. ":" .. (r.line or 0), message = fmt("%s: %s was not written by this run", s.where, s.from) }) end
    cache[key] = false
    return false
  end
  local o
  for _, x in ipairs(job.outputs) do if x.file == s.from then o = x end end
  local src = { file = s.from, rows = {}, n = 0, sep = o and o.sep or ",", dec = (o and o.decimal_comma) and "," or "." }
  local by_i, groups, order = nil, {}, {}
  each_record(text, src.sep, function(cells, i)
    if i == 0 then
      src.header, src.col = cells, {}
      for k, name in ipairs(cells) do src.col[name] = k end
      by_i = s.kind == "top" and src.col[s.by]
      return
    end
    src.n = i
    if s.kind == "top" then -- only the first rows of each group are kept
      if not by_i then return false end
      local g = cells[by_i] or ""
      local grp = groups[g]
      if not grp then grp = { value = g, rows = {}, n = 0 }; groups[g] = grp; order[#order + 1] = grp end
      grp.n = grp.n + 1
      if #grp.rows < (s.rows or 5) then grp.rows[#grp.rows + 1] = { cells = cells, row = i } end
    elseif i <= M.MAX_TABLE_ROWS then
      src.rows[i] = cells
    end
  end)
  if s.kind == "top" then
    table.sort(order, function(a, b) if (a.value == "") ~= (b.value == "") then return b.value == "" end return a.value < b.value end)
    src.groups = order
  end
  cache[key] = src
  return src
end

-- Columns a section names that the file lacks (an optional output is checked here, at run time).
local function check_columns(job, r, s, src)
  for _, c in ipairs(named_columns(s)) do
    if not src.col[c] then
      E.throw({ where = job.file .. ":" .. (r.line or 0), message = fmt("%s: '%s' is not a column of %s (its columns: %s)", s.where, c, s.from, concat(src.header, ", ")) })
    end
  end
end

---------------------------------------------------------------------------------------------
-- The page.

local esc = charts.esc

-- The columns a table or top section shows: those listed, or all.
local function shown(s, src)
  local cols = {}
  for i, c in ipairs(s.columns or src.header) do cols[i] = { name = c, i = src.col[c] } end
  return cols
end

local function table_html(src, cols, rows, cls)
  local b = { fmt('<div class="table-wrap"><table class="%s" data-source="%s"><thead><tr>', cls or "data", esc(src.file)) }
  local numeric = {}
  for k, c in ipairs(cols) do
    numeric[k] = true
    for _, r in ipairs(rows) do
      local v = r.cells[c.i]
      if v ~= "" and not charts.number(v, src.dec) then numeric[k] = false end
    end
    b[#b + 1] = fmt('<th scope="col"%s data-column="%s">%s</th>', numeric[k] and ' class="n"' or "", esc(c.name), esc(c.name))
  end
  b[#b + 1] = "</tr></thead><tbody>"
  for _, r in ipairs(rows) do
    b[#b + 1] = fmt('<tr data-row="%d">', r.row)
    for k, c in ipairs(cols) do
      b[#b + 1] = fmt('<td%s data-column="%s">%s</td>', numeric[k] and ' class="n"' or "", esc(c.name), esc(r.cells[c.i] or ""))
    end
    b[#b + 1] = "</tr>"
  end
  b[#b + 1] = "</tbody></table></div>"
  return concat(b)
end

local function all_rows(src, limit)
  local rows = {}
  for i = 1, math.min(src.n, limit or M.MAX_TABLE_ROWS) do rows[i] = { cells = src.rows[i], row = i } end
  return rows
end

local function label_of(s, c) return s.labels[c] or (c:gsub("_", " ")) end

local function figures_html(job, s, src)
  if src.n ~= 1 then
    E.throw({ where = job.file, message = fmt("%s: figures show the one row of a table; %s has %d rows", s.where, s.from, src.n), fix = "chart it with bars, or show it as a table" })
  end
  local row = src.rows[1]
  local b = { fmt('<div class="figures" data-source="%s">', esc(src.file)) }
  for _, c in ipairs(s.columns or src.header) do
    local v = row[src.col[c]] or ""
    b[#b + 1] = fmt('<div class="figure" data-row="1" data-column="%s" data-value="%s"><span class="v">%s</span><span class="l">%s</span></div>',
      esc(c), esc(v), esc(charts.display(v, src.dec, s.percent[c])), esc(label_of(s, c)))
  end
  b[#b + 1] = "</div>"
  return concat(b)
end

local function top_html(s, src)
  local cols, b = shown(s, src), {}
  for _, g in ipairs(src.groups) do
    local name = g.value ~= "" and g.value or ("no " .. s.by)
    b[#b + 1] = fmt('<div class="group" data-group="%s"><h3>%s <span class="muted">the first %d of %d</span></h3>', esc(g.value), esc(name), #g.rows, g.n)
    b[#b + 1] = table_html(src, cols, g.rows, "data top")
    b[#b + 1] = "</div>"
  end
  if #src.groups == 0 then b[1] = '<p class="muted">No rows.</p>' end
  return concat(b)
end

-- A chart's points: { row, x, y (the cell), v (its number or nil), series }.
local function chart_points(job, s, src)
  if src.n > M.MAX_CHART_ROWS then
    E.throw({ where = job.file, message = fmt("%s: %s has %d rows, more than the %d a chart shows", s.where, s.from, src.n, M.MAX_CHART_ROWS), fix = "chart a metrics table, or show the rows with a table section" })
  end
  local pts = {}
  for i = 1, src.n do
    local cells = src.rows[i]
    local y = cells[src.col[s.y]] or ""
    local v = charts.number(y, src.dec)
    if y ~= "" and not v then
      E.throw({ where = job.file, message = fmt("%s: column %s of %s holds '%s' (row %d), not a number", s.where, s.y, s.from, y, i), fix = "chart a column of numbers" })
    end
    pts[#pts + 1] = { row = i, x = cells[src.col[s.x]] or "", y = y, v = v, series = s.series and (cells[src.col[s.series]] or "") or nil }
  end
  if s.reverse then
    local r = {}
    for i = #pts, 1, -1 do r[#r + 1] = pts[i] end
    pts = r
  end
  return pts
end

local function band_colors(job, s)
  if s.series ~= "band" or not job.bands then return nil end
  local t = {}
  for i, b in ipairs(job.bands) do t[b[1]] = i end
  return t
end

local function section_html(job, r, s, src, id)
  local wide = s.kind == "table" or s.kind == "top"
  local b = { fmt('<section class="card%s" id="%s" aria-labelledby="%s-h"%s><h2 id="%s-h">%s</h2>', wide and " wide" or "", id, id,
    s.by and fmt(' data-by="%s"', esc(s.by)) or "", id, esc(s.title)) }
  if s.kind == "figures" then
    b[#b + 1] = figures_html(job, s, src)
  elseif s.kind == "table" then
    local rows = all_rows(src, s.rows)
    b[#b + 1] = table_html(src, shown(s, src), rows)
    if #rows < src.n then b[#b + 1] = fmt('<p class="muted">The first %d of %d rows; all of them are in %s.</p>', #rows, src.n, esc(src.file)) end
  elseif s.kind == "top" then
    b[#b + 1] = top_html(s, src)
  else
    local spec = { id = id, title = s.title, source = src.file, x = s.x, y = s.y, series = s.series, percent = s.percent, dec = src.dec,
      points = chart_points(job, s, src), series_rank = band_colors(job, s) }
    b[#b + 1] = "<figure>" .. charts[s.kind](spec)
    b[#b + 1] = fmt("<figcaption>%s by %s%s.</figcaption></figure>", esc(s.y), esc(s.x), s.series and (" and " .. esc(s.series)) or "")
    local cols = { { name = s.x, i = src.col[s.x] } }
    if s.series then cols[2] = { name = s.series, i = src.col[s.series] } end
    cols[#cols + 1] = { name = s.y, i = src.col[s.y] }
    b[#b + 1] = "<details><summary>The numbers</summary>" .. table_html(src, cols, all_rows(src)) .. "</details>"
  end
  b[#b + 1] = fmt('<p class="source">Source: %s</p></section>', esc(src.file))
  return concat(b)
end

local function page(job, r, body)
  local rules = job.file:match("([^/\\]+)$") or job.file
  local n = job.views and job.views[job.entity.name] and job.views[job.entity.name].n or 0
  return concat({
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
    fmt("<title>%s, %s</title>\n", esc(r.title), esc(job.as_of_text)),
    "<style>\n", charts.CSS, "</style>\n</head>\n<body>\n",
    fmt('<header><h1>%s</h1><p class="meta">As of <strong>%s</strong> · %s %s scored · rule file %s</p></header>\n',
      esc(r.title), esc(job.as_of_text), charts.display(tostring(n), "."), esc(job.entity.name), esc(rules)),
    "<main>\n", body, "</main>\n",
    fmt('<footer><p>Made by defector from %s as of %s. Every number on this page is a cell of the CSV file named under it, written by the same run.</p></footer>\n', esc(rules), esc(job.as_of_text)),
    "</body>\n</html>\n" })
end

-- Writes every report; after the CSV outputs (lists, metrics, sheets) are written.
function M.finish(job, api, counts)
  for _, r in ipairs(job.reports or {}) do
    local cache, body, shown_n = {}, {}, 0
    for k, s in ipairs(r.sections) do
      local src = load(job, api, r, s, cache)
      if src then
        check_columns(job, r, s, src)
        shown_n = shown_n + 1
        body[#body + 1] = section_html(job, r, s, src, "s" .. k) .. "\n"
      end
    end
    local text = page(job, r, concat(body))
    local f = api.open(api.ctx, r.file)
    if f < 0 then E.throw({ where = r.file, message = "cannot open the output file" }) end
    api.raw(api.ctx, f, text, #text)
    counts[r.file] = shown_n
  end
end

return M
