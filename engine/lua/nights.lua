-- nights.lua: the previous nights' snapshots read back, for calls { } (calls.lua): who was on
-- the call list on which night, with the action, rule and owner of that night. A night is a
-- committed folder HISTORY/YYYY-MM-DD (its .defector-manifest is there) holding the snapshot
-- customers.csv.gz that history.lua writes (docs/history.md); nights are looked up by date.
-- The snapshot is streamed through zlib (the engine's own) and parsed as RFC 4180; only the rows
-- on the list are kept. Beside it, call_on_<list>.csv.gz (calls.lua) holds the day each customer
-- on the list was planned to be called; a night written before that file existed has none.
local ffi = require("ffi")
local dates = require("defector.dates")

ffi.cdef [[
typedef struct gzFile_s *gzFile;
gzFile gzopen(const char *path, const char *mode);
int gzread(gzFile file, void *buf, unsigned len);
int gzclose(gzFile file);
]]

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
  while true do
    local n = ffi.C.gzread(z, buf, 65536)
    if n < 0 then ffi.C.gzclose(z); return false end
    if n == 0 then break end
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
      if ok then nights[#nights + 1] = { day = d, rows = rows or {} } end
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
  local ok = each_record(dir .. "/" .. dates.text(day) .. "/call_on_" .. stem .. ".csv.gz", function(rec)
    if not header then header = true; return end
    local f = fields(rec)
    local d = f[2] and dates.parse(f[2])
    if f[1] and d then plan[f[1]] = d end
  end)
  return ok and plan or nil
end

return M
