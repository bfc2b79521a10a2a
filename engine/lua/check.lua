-- check.lua: defector check: every problem of a rule file at once, each as
-- "file:line: error|warning: what — how to fix", without running the job. The file runs in a
-- lenient copy of the sandbox: an API call that fails is recorded and gives a stand-in value
-- (SINK) that absorbs whatever is done with it, so that one mistake is one finding, not a
-- cascade (a feature whose definition failed is still declared, so rules reading it are not
-- reported too). Then the declarations are analysed as a run would (analyse.lua), bands and
-- stages are checked, and with --data the declared columns against the files' headers and the
-- filters' category values against the values in the data.
local E = require("defector.errors")
local J = require("defector.job")
local sandbox = require("defector.sandbox")
local analyse = require("defector.analyse")
local wording = require("defector.wording")
local suggest = require("defector.suggest")
local numbers = require("defector.numbers")
local H = require("defector.handles")
local fmt, concat = string.format, table.concat

local M = {}

-- The stand-in for what a failed declaration or an unknown name would have given. Called like
-- a declaration with a name (featur("x", ...)), it declares the name, so that what reads it is
-- not reported too.
local SINK
local sink_job
SINK = setmetatable({}, {
  __index = function() return SINK end, __newindex = function() end,
  __call = function(_, name)
    if sink_job and type(name) == "string" and name:match("^[%a_][%w_]*$") and not sink_job.fields[name] then
      sink_job.fields[name] = "unknown"
    end
    return SINK
  end,
  __add = function() return SINK end, __sub = function() return SINK end, __mul = function() return SINK end,
  __div = function() return SINK end, __mod = function() return SINK end, __pow = function() return SINK end,
  __unm = function() return SINK end, __concat = function() return SINK end, __len = function() return 0 end,
  __lt = function() return false end, __le = function() return false end,
})

local function has_sink(...)
  for i = 1, select("#", ...) do
    local a = select(i, ...)
    if a == SINK then return true end
    if type(a) == "table" and getmetatable(a) == nil then
      for _, v in pairs(a) do if v == SINK then return true end end
    end
  end
  return false
end

-- A declaration that failed still declares its names, so that what uses them is not reported.
local function placeholder(job, k, a)
  if (k == "feature" or k == "value") and type(a) == "string" and not job.fields[a] then job.fields[a] = k end
  if k == "entity" then job.entity_failed = true end
  if (k == "entity" or k == "history") and type(a) == "table" and type(a.columns) == "table" and k == "entity" then
    for name in pairs(a.columns) do if type(name) == "string" then job.fields[name] = job.fields[name] or "column" end end
    if type(a.key) == "string" then job.fields[a.key] = job.fields[a.key] or "column" end
  end
end

local PLAIN = { round = true, ratio = true, between = true }

local function lenient_api(job, api)
  local lenient = {}
  for k, v in pairs(api) do
    if type(v) == "function" and not PLAIN[k] then
      lenient[k] = function(...)
        if has_sink(...) then placeholder(job, k, ...); return SINK end
        local res = { pcall(v, ...) }
        if res[1] then return unpack(res, 2, table.maxn(res)) end
        job.findings[#job.findings + 1] = E.from_lua(job, res[2])
        placeholder(job, k, ...)
        return SINK
      end
    else
      lenient[k] = v
    end
  end
  return lenient
end

local function lenient_env(job, lenient, api)
  setmetatable(lenient, {
    __index = function(_, k)
      E.record(job, E.here(job, 1), "unknown name '" .. tostring(k) .. "'", wording.unknown_name_fix(k, api))
      return SINK
    end,
  })
  return setmetatable({}, {
    __index = lenient,
    __newindex = function(_, k)
      E.record(job, E.here(job, 1), "cannot set global '" .. tostring(k) .. "'",
        rawget(api, k) ~= nil and "it is part of the rule API; use a local of another name" or ("write 'local " .. tostring(k) .. " = ...'"))
    end,
  })
end

local function check_bands_stages(job)
  if job.bands then
    local lowest = job.bands[#job.bands][2]
    if lowest > 0 then
      E.record(job, E.at(job, job.bands_line), fmt("scores below %s fall in no band", numbers.text(lowest)),
        "add a last band with minimum 0, e.g. { \"low\", 0 }", "warning")
    end
    local seen = {}
    for _, b in ipairs(job.bands) do
      if seen[b[1]] then E.record(job, E.at(job, job.bands_line), "band '" .. b[1] .. "' is listed twice", "give each band its own name") end
      seen[b[1]] = true
    end
  end
  if job.stages then
    local catch_all, seen = nil, {}
    for _, st in ipairs(job.stages) do
      if catch_all then
        E.record(job, E.at(job, job.stages_line), "stage '" .. st[1] .. "' can never be reached: stage '" .. catch_all .. "' before it has no condition",
          "move '" .. catch_all .. "' to the end of the stages")
      end
      if seen[st[1]] then E.record(job, E.at(job, job.stages_line), "stage '" .. st[1] .. "' is listed twice", "give each stage its own name") end
      seen[st[1]] = true
      if st[2] == nil then catch_all = catch_all or st[1] end
    end
    if not catch_all then
      E.record(job, E.at(job, job.stages_line), "entities that meet no stage's condition get no stage",
        "end the stages with a default, e.g. { \"active\" }", "warning")
    end
  end
end

-- the line of the rule file that names column `name` of table t (near its declaration)
local function column_line(job, t, name)
  local at = t.line or 0
  for ln = at, math.min(at + 40, #job.lines) do
    if job.lines[ln]:find("%f[%w_]" .. name .. "%s*=") then return ln end
  end
  return at
end

local function check_headers(job, headers)
  for _, t in ipairs(job.tables) do
    local h = headers[t.file]
    if h then
      local have = {}
      for _, name in ipairs(h) do have[name] = true end
      local wanted = {}
      for _, c in ipairs(t.columns) do wanted[#wanted + 1] = c.name end
      if not have[t.key] and t.columns[t.key] == nil then wanted[#wanted + 1] = t.key end
      local delim = t.dialect and t.dialect.delimiter or ","
      -- another separator than the declared one: one finding, not one per column
      local one = #h == 1 and (h[1]:match("[\t;|,]") or (h[1]:find(" ") and " "))
      if one == delim then one = nil end
      if one then
        job.unreadable = job.unreadable or {}
        job.unreadable[t.file] = true -- its values are not known either: no warnings about them
        local shown = one == "\t" and "\\t" or one
        local what = delim == "," and "comma-separated" or fmt("separated by '%s'", delim == "\t" and "\\t" or delim)
        E.record(job, E.at(job, t.line), fmt("%s is not %s: its header is one column, '%s'", t.file, what, h[1]),
          one == " " and fmt("if its columns are aligned with spaces, declare delimiter = \"spaces\" in its %s { ... }", t.kind) or
          fmt("this file is separated by '%s': declare delimiter = \"%s\" in its %s { ... }", shown, shown, t.kind))
      end
      for _, name in ipairs(one and {} or wanted) do
        if not have[name] then
          local s = suggest.closest(name, h)
          E.record(job, E.at(job, column_line(job, t, name)), fmt("%s has no column '%s'", t.file, name),
            s and fmt("the header has '%s': did you mean it?", s) or ("the header has: " .. concat(h, ", ")))
        end
      end
    else
      E.record(job, E.at(job, t.line), fmt("%s is not in the data folder, its columns were not checked", t.file),
        "give --data the folder that holds it", "warning")
    end
  end
end

-- filter values on category columns that never occur in the data (values[file][column])
local function check_values(job, values)
  for _, f in ipairs(job.features) do
    local a = H.is(f.def, H.AGG) and f.def
    local have = a and not (job.unreadable and job.unreadable[a.t.file]) and values[a.t.file]
    for _, e in ipairs(a and a.filters or {}) do
      local col = have and have[e.col]
      if col and e.kind == "in" and not a.t.column_of[e.col].set then
        local set = {}
        for _, v in ipairs(col) do set[v] = true end
        for _, x in ipairs(e.values) do
          if not set[x] then
            local s = suggest.closest(x, col)
            E.record(job, E.at(job, f.line), fmt("feature %s: %s = \"%s\" matches no row of %s: no %s there has that value",
              f.name, e.col, x, a.t.file, e.col),
              s and fmt("did you mean \"%s\"?", s) or fmt("the values there: %s", concat(col, ", ")), "warning")
          end
        end
      end
    end
  end
end

local function run_file(job, source, env)
  job.user_files[job.file] = true
  local chunk, err = load(source, "@" .. job.file, "t", env)
  if not chunk then
    local line, msg = tostring(err):match("^[^:]*:(%d+): (.*)$")
    line = tonumber(line)
    local hint = wording.syntax_hint(job.lines[line or 0], msg) or (line and line > 1 and wording.syntax_hint(job.lines[line - 1], msg))
    E.record(job, E.at(job, line), "syntax error: " .. (msg or tostring(err)), hint or "fix the Lua syntax on that line")
    return false
  end
  local ok, e = pcall(chunk)
  if not ok then
    local obj = E.from_lua(job, e)
    obj.fix = obj.fix or "the rest of the file was not checked"
    job.findings[#job.findings + 1] = obj
    return false
  end
  return true
end

local function render(job)
  local seen, out = {}, {}
  for _, f in ipairs(job.findings) do
    local where = f.where or job.file
    local text = fmt("%s: %s: %s%s", where, f.severity or "error", f.message, f.fix and (" — " .. f.fix) or "")
    if not seen[text] then
      seen[text] = true
      local line = tonumber(tostring(where):match(":(%d+)$") or tostring(where):match(":(%d+):")) or 0
      out[#out + 1] = { line = line, text = text, error = (f.severity or "error") == "error" }
    end
  end
  table.sort(out, function(a, b) if a.line ~= b.line then return a.line < b.line end return a.text < b.text end)
  local lines, errors, warnings = {}, 0, 0
  for _, f in ipairs(out) do
    lines[#lines + 1] = f.text
    if f.error then errors = errors + 1 else warnings = warnings + 1 end
  end
  return concat(lines, "\n") .. (#lines > 0 and "\n" or ""), errors, warnings
end

-- The (file, column) pairs whose values in the data check_values wants: category columns that
-- filters compare with values, when the rule file does not list the column's values; and in
-- out.files the file (or pattern) of every table, whose header check_headers wants.
function M.needs(source, chunkname, as_of, as_of_text)
  local job = J.new(chunkname, source, as_of, as_of_text)
  job.findings = {}
  sink_job = job
  local api = sandbox.api(job)
  job.env = api
  pcall(run_file, job, source, lenient_env(job, lenient_api(job, api), api))
  local out, seen = {}, {}
  for _, f in ipairs(job.features) do
    local a = H.is(f.def, H.AGG) and f.def
    for _, e in ipairs(a and a.filters or {}) do
      local key = a.t.file .. "\0" .. e.col
      if e.kind == "in" and a.t.columns[e.col] == "category" and not a.t.column_of[e.col].set and not seen[key] then
        seen[key] = true
        out[#out + 1] = { file = a.t.file, column = e.col }
      end
    end
  end
  out.files = {}
  out.dialects = {}
  for _, t in ipairs(job.tables) do
    out.files[#out.files + 1] = t.file
    out.dialects[#out.dialects + 1] = t.dialect
  end
  return out
end

-- headers: { [file] = { names... } } for the files in --data (nil without --data); values:
-- { [file] = { [column] = { distinct values } } } for the category columns filters test.
function M.run(source, chunkname, as_of, as_of_text, headers, values)
  local job = J.new(chunkname, source, as_of, as_of_text)
  job.findings = {}
  sink_job = job
  local api = sandbox.api(job)
  job.env = api
  local lenient = lenient_api(job, api)
  if run_file(job, source, lenient_env(job, lenient, api)) then
    job.env = lenient
    local ok, e = pcall(analyse.finish, job)
    if not ok then job.findings[#job.findings + 1] = E.from_lua(job, e) end
    check_bands_stages(job)
    -- operations { guards }: the tables and outputs they name (as a run checks them)
    local ok_ops, e_ops = pcall(require("defector.operations").settings, job)
    if not ok_ops then job.findings[#job.findings + 1] = E.from_lua(job, e_ops) end
    if headers then check_headers(job, headers) end
    if values then check_values(job, values) end
  end
  return render(job)
end

return M
