-- nights.lua: the previous nights' snapshots read back, for calls { } (calls.lua): who was on
-- the call list on which night, with the action, rule and owner of that night. A night is a
-- committed folder HISTORY/YYYY-MM-DD (its .defector-manifest is there) holding the snapshot
-- customers.csv.gz that history.lua writes (docs/history.md); nights are looked up by date.
-- The snapshot is streamed through zlib (the engine's own) and parsed as RFC 4180; only the rows
-- on the list are kept. Beside it, call_on_<list>.csv.gz (calls.lua) holds the day each customer
-- on the list was planned to be called; a night written before that file existed has none.
local ffi = require("ffi")
local dates = require("defector.dates")
local E = require("defector.errors")

ffi.cdef [[
typedef struct gzFile_s *gzFile;
gzFile gzopen(const char *path, const char *mode);
int gzread(gzFile file, void *buf, unsigned len);
int gzclose(gzFile file);
const char *gzerror(gzFile file, int *errnum);
int gzdirect(gzFile file);
]]

-- A night's file that is there but not whole: never read in part (the cool-down and the save
-- rate would count from part of a list); exit 3, as for a damaged snapshot (snapfile.c).
local function damaged(path, why)
  E.throw({ where = path, message = "this file of the run history is damaged (" .. why .. ")", input = true,
    fix = "run that night again (defector run ... --as-of its date --history DIR), or remove its folder from the history" })
end

local M = {}

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- The fields of one record (its text, without the line end): RFC 4180 quoting.
local function fields(line)
  if not line:find('"', 1, true) then
    local out, pos = {}, 1
    while true do
      local e = line:find(",", pos, true)
      out[#out + 1] = line:sub(pos, (e or #line + 1) - 1)
      if not e then return out end
      pos = e + 1
    end
  end
  local out, pos, n = {}, 1, #line
  while pos <= n + 1 do
    if line:sub(pos, pos) == '"' then
      local buf, p = {}, pos + 1
      while true do
        local q = line:find('"', p, true)
        if not q then buf[#buf + 1] = line:sub(p); p = n + 1; break end
        buf[#buf + 1] = line:sub(p, q - 1)
        if line:sub(q + 1, q + 1) == '"' then buf[#buf + 1] = '"'; p = q + 2 else p = q + 1; break end
      end
      out[#out + 1] = table.concat(buf)
      pos = p + 1 -- past the comma
    else
      local e = line:find(",", pos, true)
      out[#out + 1] = line:sub(pos, (e or n + 1) - 1)
      pos = (e or n + 1) + 1
    end
  end
  return out
end

-- Calls each(record text) for every record of gzip file path, streamed (a record with a
-- quoted field over lines is one record); false when the file cannot be read.
local function each_record(path, each)
  local z = ffi.C.gzopen(path, "rb")
  if z == nil then return false end
  local buf, rest, pending = ffi.new("char[?]", 65536), "", nil
  local function line_of(l)
    if l:byte(-1) == 13 then l = l:sub(1, -2) end
    if pending then l = pending .. "\n" .. l; pending = nil end
    if l:find('"', 1, true) then
      local _, quotes = l:gsub('"', "")
      if quotes % 2 == 1 then pending = l; return end
    end
    each(l)
  end
  local errnum = ffi.new("int[1]")
  while true do
    local n = ffi.C.gzread(z, buf, 65536)
    if n <= 0 then
      ffi.C.gzerror(z, errnum)
      if n < 0 or errnum[0] ~= 0 then ffi.C.gzclose(z); damaged(path, "not whole gzip") end
      break
    end
    if ffi.C.gzdirect(z) ~= 0 then ffi.C.gzclose(z); damaged(path, "not gzip") end
    local text = rest .. ffi.string(buf, n)
    local pos = 1
    while true do
      local e = text:find("\n", pos, true)
      if not e then break end
      line_of(text:sub(pos, e - 1))
      pos = e + 1
    end
    rest = text:sub(pos)
  end
  ffi.C.gzclose(z)
  if rest ~= "" then line_of(rest) end
  if pending then damaged(path, "a quoted field is not closed") end
  return true
end

-- The committed nights dated from `from` to `to` (days, both included), oldest first:
-- { {day = d, rows = { {column = text, ...}, ... }} } holding, of the rows whose column `flag`
-- is "true", the columns listed in `columns` (most rows are not wanted: their flag is found
-- without splitting them).
function M.read(dir, from, to, flag, columns)
  local keep = {}
  for _, c in ipairs(columns) do keep[c] = true end
  local nights = {}
  if not dir then return nights end
  for d = from, to do
    local night = dir .. "/" .. dates.text(d)
    if exists(night .. "/.defector-manifest") then
      local header, rows, at
      local ok = each_record(night .. "/customers.csv.gz", function(rec)
        if not header then
          header = fields(rec)
          for j, name in ipairs(header) do if name == flag then at = j end end
          return
        end
        if not at then return end
        if not rec:find('"', 1, true) then -- the flag's field found without splitting the record
          local pos = 1
          for _ = 2, at do
            pos = rec:find(",", pos, true)
            if not pos then return end
            pos = pos + 1
          end
          if rec:sub(pos, pos + 4) ~= "true," and rec:sub(pos) ~= "true" then return end
        end
        local f = fields(rec)
        if f[at] ~= "true" then return end
        local row = {}
        for j, name in ipairs(header) do if keep[name] then row[name] = f[j] end end
        rows = rows or {}
        rows[#rows + 1] = row
      end)
      if not ok then damaged(night .. "/customers.csv.gz", "missing, though the night was committed") end
      nights[#nights + 1] = { day = d, rows = rows or {} }
    end
  end
  return nights
end

-- The committed nights dated from `from` to `to`, oldest first: their days.
function M.days(dir, from, to)
  local out = {}
  if not dir then return out end
  for d = from, to do
    if exists(dir .. "/" .. dates.text(d) .. "/.defector-manifest") then out[#out + 1] = d end
  end
  return out
end

-- The newest committed night dated from `from` back to `to` (from >= to), or nil.
function M.latest(dir, from, to)
  if not dir then return nil end
  for d = from, to, -1 do
    if exists(dir .. "/" .. dates.text(d) .. "/.defector-manifest") then return d end
  end
  return nil
end

-- The planned call days of night `day`'s list `stem` (call_on_<stem>.csv.gz: key, call_on):
-- {key = day}, or nil when the night has no such file (written by an older defector).
function M.plans(dir, day, stem)
  local plan, header = {}, nil
  local night, name = dir .. "/" .. dates.text(day), "call_on_" .. stem .. ".csv.gz"
  local path = night .. "/" .. name
  local ok = each_record(path, function(rec)
    if not header then header = true; return end
    local f = fields(rec)
    local d = #f == 2 and dates.parse(f[2])
    if not d then damaged(path, "a row that is not a customer and a date") end
    plan[f[1]] = d
  end)
  if ok then return plan end
  -- none: a night written before the file existed, unless its manifest says it wrote one
  local m = io.open(night .. "/.defector-manifest", "rb")
  local listed = m and m:read("*a"):find("\n" .. name .. "\n", 1, true)
  if m then m:close() end
  if listed then damaged(path, "missing, though the night wrote it") end
  return nil
end

return M
