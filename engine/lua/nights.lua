-- nights.lua: the previous nights' snapshots read back, for calls { } (calls.lua): who was on
-- the call list on which night, with the action, rule and owner of that night. A night is a
-- committed folder HISTORY/YYYY-MM-DD (its .defector-manifest is there) holding the snapshot
-- customers.csv.gz that history.lua writes (docs/history.md); nights are looked up by date.
-- The snapshot is read whole through zlib (the engine's own) and parsed as RFC 4180.
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

local function read_gz(path)
  local z = ffi.C.gzopen(path, "rb")
  if z == nil then return nil end
  local buf, parts = ffi.new("char[?]", 65536), {}
  while true do
    local n = ffi.C.gzread(z, buf, 65536)
    if n < 0 then ffi.C.gzclose(z); return nil end
    if n == 0 then break end
    parts[#parts + 1] = ffi.string(buf, n)
  end
  ffi.C.gzclose(z)
  return table.concat(parts)
end

-- The records of CSV text s (RFC 4180: quotes, "" inside them, fields over lines).
local function records(s)
  local out, rec, pos, n = {}, {}, 1, #s
  while pos <= n do
    local c = s:sub(pos, pos)
    local field
    if c == '"' then
      local buf, p = {}, pos + 1
      while true do
        local q = s:find('"', p, true)
        if not q then buf[#buf + 1] = s:sub(p); p = n + 1; break end
        buf[#buf + 1] = s:sub(p, q - 1)
        if s:sub(q + 1, q + 1) == '"' then buf[#buf + 1] = '"'; p = q + 2 else p = q + 1; break end
      end
      field, pos = table.concat(buf), p
    else
      local e = s:find("[,\n]", pos)
      field = s:sub(pos, (e or n + 1) - 1):gsub("\r$", "")
      pos = e or n + 1
    end
    rec[#rec + 1] = field
    local sep = s:sub(pos, pos)
    pos = pos + 1
    if sep ~= "," then out[#out + 1] = rec; rec = {} end
  end
  return out
end

-- The committed nights dated from `from` to `to` (days, both included), oldest first:
-- { {day = d, rows = { {column = text, ...}, ... }} } keeping the rows where keep(row) holds.
function M.read(dir, from, to, keep)
  local nights = {}
  if not dir then return nights end
  for d = from, to do
    local night = dir .. "/" .. dates.text(d)
    if exists(night .. "/.defector-manifest") then
      local text = read_gz(night .. "/customers.csv.gz")
      if text then
        local recs = records(text)
        local header, rows = recs[1] or {}, {}
        for i = 2, #recs do
          local row = {}
          for j, name in ipairs(header) do row[name] = recs[i][j] end
          if keep(row) then rows[#rows + 1] = row end
        end
        nights[#nights + 1] = { day = d, rows = rows }
      end
    end
  end
  return nights
end

return M
