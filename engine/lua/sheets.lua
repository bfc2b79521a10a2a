-- sheets.lua: the outputs that are not written as they are scored: those gathered in a
-- workbook (workbook { ... } or a file named .xlsx) and those split by a field's values
-- (split_by). Their rows were kept as typed cells (lists.lua, metrics.lua); here, once every
-- list is sorted, each is cut into its lists (one per value of split_by, in byte order of the
-- values, then the rows without a value under `unassigned`; each keeps the output's order and
-- numbers its rank from 1), and each list is written as a CSV file (with the output's options)
-- and as the sheets of the workbooks that name the output, in their declared order.
local E = require("defector.errors")
local ffi = require("ffi")
local numbers = require("defector.numbers")
local dates = require("defector.dates")
local fmt = string.format

local M = {}

local MAX_SPLIT_FILES = 1000

-- A value of split_by as text, as a cell shows it ("" when it has none).
local function label(v, is_date)
  if v == nil then return "" end
  if type(v) == "number" then return is_date and dates.text(v) or numbers.text(v) end
  return tostring(v)
end

-- Keeps a name unique: "name", "name-2", "name-3"... compared without case (Windows and macOS
-- folders, and spreadsheets, do not tell "Ann" from "ann").
local function unique(used, name, suffix, cut)
  local k, try = 1, name
  while used[try:lower()] do
    k = k + 1
    local tail = (suffix or "-") .. k
    try = cut(name, tail)
  end
  used[try:lower()] = true
  return try
end

-- The first n bytes of s, not cutting a UTF-8 character.
local function utf8_cut(s, n)
  if #s <= n then return s end
  while n > 0 and s:byte(n + 1) and s:byte(n + 1) >= 0x80 and s:byte(n + 1) < 0xC0 do n = n - 1 end
  return s:sub(1, n)
end

-- A value as part of a file name: letters, digits, '_' and '-' (and any non-ASCII letter) kept,
-- everything else (/, \, ., spaces, control characters...) an '_'; at most 80 bytes.
local function file_part(v)
  local s = v:gsub("[^%w_%-\128-\255]", "_")
  return utf8_cut(s, 80)
end

-- A value as a sheet name: none of []:*?/\ , no ' at either end, at most 31 characters.
local function sheet_part(v)
  local s = v:gsub("[%[%]:%*%?/\\%c]", "_"):gsub("^'+", ""):gsub("'+$", "")
  if s == "" then s = "_" end
  local chars, i = 0, 1
  while i <= #s do
    chars = chars + 1
    if chars > 31 then return s:sub(1, i - 1) end
    local b = s:byte(i)
    i = i + (b < 0x80 and 1 or b < 0xE0 and 2 or b < 0xF0 and 3 or 4)
  end
  return s
end

local function sheet_cut(name, tail) return utf8_cut(sheet_part(name), 31 - #tail) .. tail end

-- The lists of output o: { { value = text or nil, order = {rows, from 1}, n } }; an unsplit
-- output is one list.
local function lists_of(job, src)
  local o, idx = src.o, src.sorted
  local is_date = o.split_by and require("defector.lists").is_date(job, o.split_by)
  if not o.split_by then return { { order = idx } } end
  local by, values = {}, {}
  local unassigned = { order = {}, unassigned = true }
  for _, i in ipairs(idx) do
    local v = label(src.split[i], is_date)
    local l = unassigned
    if v ~= "" then
      l = by[v]
      if not l then l = { value = v, order = {} }; by[v] = l; values[#values + 1] = v end
    end
    l.order[#l.order + 1] = i
  end
  table.sort(values)
  local out = {}
  for k, v in ipairs(values) do out[k] = by[v] end
  if #unassigned.order > 0 then out[#out + 1] = unassigned end
  return out
end

local function c_order(order)
  local arr = ffi.new("uint32_t[?]", #order > 0 and #order or 1)
  for i, r in ipairs(order) do arr[i - 1] = r - 1 end
  return arr
end

-- The CSV files of a split output: "calls.csv" split by owner gives calls-<owner>.csv, and
-- calls-unassigned.csv for the rows without one.
local function split_files(o, ls)
  local stem, ext = o.file:match("^(.-)(%.[^.]*)$")
  if not stem then stem, ext = o.file, "" end
  local used = {}
  local function cut(name, tail) return name .. tail end
  for _, l in ipairs(ls) do if l.unassigned then l.file = unique(used, stem .. "-" .. file_part(o.unassigned), nil, cut) .. ext end end
  for _, l in ipairs(ls) do if not l.unassigned then l.file = unique(used, stem .. "-" .. file_part(l.value), nil, cut) .. ext end end
end

local function write_csv(api, o, src_f, ls, counts)
  if o.split_by then
    if #ls > MAX_SPLIT_FILES then
      E.throw({ where = o.file, message = fmt("split_by %s gives %d lists, more than the %d files one output may split into; split by a field with fewer values, or write a workbook (one sheet per value)",
        o.split_by, #ls, MAX_SPLIT_FILES) })
    end
    split_files(o, ls)
  else
    ls[1].file = o.file
  end
  for _, l in ipairs(ls) do
    local f = api.open(api.ctx, l.file)
    if f < 0 then E.throw({ where = l.file, message = "cannot open the output file" }) end
    api.configure(api.ctx, f, o.sep:byte(), o.decimal_comma and 1 or 0, o.guard and 1 or 0, o.bom and 1 or 0, 0)
    if api.emit(api.ctx, src_f, f, c_order(l.order), #l.order) ~= 0 then
      E.throw({ where = l.file, message = "cannot write the output file (out of memory?)" })
    end
    counts[l.file] = #l.order
  end
end

-- The band column of output o (0-based, -1: none) and the bands, riskiest first.
local function bands_of(job, o)
  for i, c in ipairs(o.columns) do
    if c.field == "band" and job.bands then
      local names = {}
      for k, b in ipairs(job.bands) do names[k] = b[1] end
      return i - 1, table.concat(names, "\n")
    end
  end
  return -1, ""
end

-- Every typed output: { o, f, lists }.
local function sources(job)
  local out = {}
  for _, L in ipairs(job.lists) do
    if L.o.typed then out[L.o.file] = { o = L.o, f = L.f, sorted = L.sorted, split = L.split } end
  end
  for _, Mt in ipairs(job.mets) do
    if Mt.o.typed then
      local order = {}
      for i = 1, Mt.nrows do order[i] = i end
      out[Mt.o.file] = { o = Mt.o, f = Mt.f, sorted = order }
    end
  end
  for _, s in pairs(out) do s.lists = lists_of(job, s) end
  return out
end

local function write_book(job, api, b, srcs, counts)
  local id = api.book(api.ctx, b.file)
  if id < 0 then E.throw({ where = b.file, message = "cannot open the workbook" }) end
  -- the names declared come first: a sheet made from a value of split_by gets " 2" on a collision
  local used, declared, rows = { run = true }, {}, 0
  for _, sh in ipairs(b.sheets) do
    if not sh.output.split_by then
      local key = sh.name:lower()
      if used[key] then
        E.throw({ where = job.file .. ":" .. (b.line or sh.output.line), message = fmt("workbook %s: two sheets are named '%s'", b.file, sh.name) .. " — give one another name: { \"name\", \"" .. sh.file .. "\" }" })
      end
      used[key], declared[sh] = true, true
    end
  end
  for _, sh in ipairs(b.sheets) do
    local s = srcs[sh.output.file]
    assert(declared[sh] or s.o.split_by)
    local band_col, bands = bands_of(job, s.o)
    local places = {}
    for i, c in ipairs(s.o.columns) do
      local p = (sh.decimals or {})[c.name] or s.o.decimals[c.name]
      places[i] = p and tostring(p) or " "
    end
    places = table.concat(places)
    for _, l in ipairs(s.lists) do
      local name = sh.name -- as declared: a name a workbook refuses is an error (workbook.c)
      if s.o.split_by then name = unique(used, sheet_part(l.unassigned and s.o.unassigned or l.value), " ", sheet_cut) end
      if api.sheet(api.ctx, id, s.f, name, c_order(l.order), #l.order, band_col, bands, places) ~= 0 then
        E.throw({ where = b.file, message = "cannot write sheet " .. name })
      end
      rows = rows + #l.order
    end
  end
  counts[b.file] = rows
end

function M.finish(job, api, counts)
  local srcs = sources(job)
  for _, o in ipairs(job.outputs) do
    local s = srcs[o.file]
    if s and not o.xlsx then write_csv(api, o, s.f, s.lists, counts) end
  end
  for _, b in ipairs(job.all_books or {}) do write_book(job, api, b, srcs, counts) end
end

return M
