-- lookups.lua: small CSV files a business user keeps beside the rule file: lookup tables
-- (read-only rows by key; a key with no row gives nil, or the lookup's default; a rule that
-- reads a field of a missing row is told the file and the key, see wording.lua) and manual
-- overrides (a band and/or points per entity, with a reason and an expiry date). Read whole
-- when the rule file is declared; RFC 4180, a line ending at LF, CRLF or a lone CR (as the
-- loader's). Only files inside the rule file's folder are read: a symbolic link to another file
-- of the folder is followed, one that leads out of it is not.
local E = require("defector.errors")
local dates = require("defector.dates")
local fmt, concat = string.format, table.concat

local M = {}

local function check(job, cond, msg, level, fix) return E.check(job, cond, msg, (level or 2) + 1, fix) end

function M.parse_csv(text, name)
  if text:sub(1, 3) == "\239\187\191" then text = text:sub(4) end
  local rows, row, field, i, n, line = {}, {}, {}, 1, #text, 1
  local function end_field() row[#row + 1] = concat(field); field = {} end
  local function end_row() end_field(); rows[#rows + 1] = row; row = {} end
  while i <= n do
    local ch = text:sub(i, i)
    if ch == '"' and #field == 0 then
      local j = i + 1
      while true do
        local q = text:find('"', j, true)
        if not q then E.throw({ where = name .. ":" .. line, message = "unterminated quoted field" }) end
        local part = text:sub(j, q - 1)
        local _, nl = part:gsub("\n", "")
        line = line + nl
        field[#field + 1] = part
        if text:sub(q + 1, q + 1) == '"' then field[#field + 1] = '"'; j = q + 2 else i = q + 1; break end
      end
    elseif ch == "," then end_field(); i = i + 1
    elseif ch == "\r" and text:sub(i + 1, i + 1) == "\n" then end_row(); i = i + 2; line = line + 1
    elseif ch == "\n" or ch == "\r" then end_row(); i = i + 1; line = line + 1 -- a lone CR ends a line too
    else
      local j = text:find('[,\r\n]', i) or n + 1
      field[#field + 1] = text:sub(i, j - 1)
      i = j
    end
  end
  if #field > 0 or #row > 0 then end_row() end
  local out = {}
  for _, r in ipairs(rows) do if not (#r == 1 and r[1] == "") then out[#out + 1] = r end end
  return out
end

local function read_beside(job, file, what, level)
  check(job, type(file) == "string" and file:match("^[%w_%-%.]+$") and not file:match("^%."),
    what .. ": 'file' must be a plain file name beside the rule file, e.g. \"thresholds.csv\"", level + 1)
  local dir = job.file:match("^(.*)/[^/]*$") or "."
  local path = dir .. "/" .. file
  -- opened inside the folder only: a link that leads out of it is refused (confine.h)
  local text, why = require("defector.native").read_beside(dir, file)
  check(job, text, what .. ": cannot read " .. path .. ": " .. tostring(why), level + 1,
    "keep it as a file in the rule file's folder (a link to another file of that folder is followed)")
  job.beside_read = job.beside_read or {} -- shards.lua: every shard and the merge read the same bytes
  job.beside_read[file] = text
  return M.parse_csv(text, path), path
end
M.read_beside = read_beside -- models.lua: params = "bgnbd_fit.csv"

local function typed(v)
  if v == "" then return nil end
  local x = tonumber(v)
  if x and v:match("^[%+%-]?%d*%.?%d+$") then return x end
  return v
end

-- A read-only view of t; `missing(k)` answers a key t does not hold (an error, or a default).
local function view(job, t, what, missing)
  return setmetatable({}, {
    __index = missing and function(_, k)
      local v = t[k]
      if v ~= nil then return v end
      return missing(k)
    end or t,
    __newindex = function() E.raise(job, what .. " is read-only", 2) end,
    __metatable = false, __len = function() return #t end,
    __data = t,
  })
end

local function lookup_row(job, path, header, cells)
  local t, names = {}, concat(header, ", ")
  for i, h in ipairs(header) do t[h] = typed(cells[i] or "") end
  local known = {}
  for _, h in ipairs(header) do known[h] = true end
  return view(job, t, "a lookup row", function(k)
    if t[k] ~= nil or known[k] then return t[k] end
    E.raise(job, fmt("lookup %s has no column '%s' (its columns: %s)", path, tostring(k), names), 2)
  end)
end

-- lookup { file = "thresholds.csv", key = "segment" [, default = { days = 60 }] } -> rows by
-- key (numbers where the text is one); without key, the list of rows.
local function api_lookup(job, spec)
  check(job, type(spec) == "table", "lookup { file = \"thresholds.csv\", key = \"segment\" } expects a table", 2)
  local rows, path = read_beside(job, spec.file, "lookup", 2)
  check(job, #rows >= 1, "lookup: " .. path .. " is empty: it needs a header line", 2)
  check(job, spec.default == nil or (spec.key and type(spec.default) == "table"), "lookup: default must be a row like { days = 60 }, for a lookup with a key", 2)
  local header, out, keycol = rows[1], {}, nil
  if spec.key then
    for i, h in ipairs(header) do if h == spec.key then keycol = i end end
    check(job, keycol, "lookup: " .. path .. " has no column '" .. tostring(spec.key) .. "' (its columns: " .. concat(header, ", ") .. ")", 2)
  end
  for r = 2, #rows do
    local t = lookup_row(job, path, header, rows[r])
    if keycol then
      local k = rows[r][keycol]
      check(job, out[k] == nil, fmt("lookup: %s: key '%s' appears twice (line %d)", path, k, r), 2)
      out[k] = t
    else
      out[#out + 1] = t
    end
  end
  local default = spec.default and lookup_row(job, path, header, (function()
    local cells = {}
    for i, h in ipairs(header) do local v = spec.default[h]; cells[i] = v ~= nil and tostring(v) or "" end
    return cells end)())
  local missing = default and function() return default end or nil
  local v = view(job, out, "a lookup table", missing)
  -- for messages: a rule indexing a row this lookup lacks is told the file and the key
  job.lookups = job.lookups or setmetatable({}, { __mode = "k" })
  job.lookups[v] = { file = spec.file, key = spec.key }
  return v
end

local function override_row(job, path, key, row, col, r, level)
  local function get(name) return col[name] and row[col[name]] or "" end
  local id, band, points, reason, expires = get(key), get("band"), get("points"), get("reason"), get("expires_on")
  local where = path .. ":" .. r
  check(job, id ~= "", "overrides: " .. where .. ": empty " .. key, level + 1)
  check(job, band ~= "" or points ~= "", "overrides: " .. where .. ": give a band or points", level + 1)
  check(job, points == "" or tonumber(points), "overrides: " .. where .. ": points '" .. points .. "' is not a number", level + 1)
  local exp = expires ~= "" and dates.parse(expires) or nil
  check(job, expires == "" or exp, "overrides: " .. where .. ": expires_on '" .. expires .. "' is not a date YYYY-MM-DD", level + 1)
  return id, { band = band ~= "" and band or nil, points = tonumber(points), reason = reason, expires = expires, line = r }, exp
end

-- overrides { file = "overrides.csv", key = "customer_id" }: columns key, band and/or points,
-- reason, expires_on. Applied after the rules; an expired row is ignored and reported.
local function api_overrides(job, spec)
  check(job, type(spec) == "table", "overrides { file = \"overrides.csv\", key = \"customer_id\" } expects a table", 2)
  check(job, job.overrides == nil, "overrides are declared twice", 2)
  local key = spec.key or (job.entity and job.entity.key) or "customer_id"
  local rows, path = read_beside(job, spec.file, "overrides", 2)
  check(job, #rows >= 1, "overrides: " .. path .. " is empty: it needs a header line", 2)
  local col = {}
  for i, h in ipairs(rows[1]) do col[h] = i end
  check(job, col[key], "overrides: " .. path .. " has no column '" .. key .. "'", 2)
  check(job, col.band or col.points, "overrides: " .. path .. " needs a column band or points", 2)
  check(job, col.reason, "overrides: " .. path .. " needs a column reason (it is shown with the entity)", 2)
  local map, expired, active = {}, {}, 0
  for r = 2, #rows do
    local id, ov, exp = override_row(job, path, key, rows[r], col, r, 2)
    check(job, map[id] == nil, "overrides: " .. path .. ":" .. r .. ": " .. id .. " has two overrides", 2)
    if exp and exp < job.as_of then
      expired[#expired + 1] = { id = id, expires = ov.expires, line = r }
    else
      map[id] = ov
      active = active + 1
    end
  end
  job.overrides = { map = map, expired = expired, path = path, rows = active, line = E.line(job, 2) }
end

-- Overrides that force a band the rule file does not declare.
function M.check_overrides(job)
  if not job.overrides then return end
  local known = {}
  for _, b in ipairs(job.bands or {}) do known[b[1]] = true end
  local ids = {}
  for id in pairs(job.overrides.map) do ids[#ids + 1] = id end
  table.sort(ids)
  for _, id in ipairs(ids) do
    local ov = job.overrides.map[id]
    if ov.band and not known[ov.band] then
      E.record(job, job.overrides.path .. ":" .. ov.line, fmt("override for %s forces band '%s', which the rule file does not declare", id, ov.band),
        "use one of the bands declared with bands { ... }")
    end
  end
end

function M.api(job)
  return {
    lookup = function(spec) return api_lookup(job, spec) end,
    overrides = function(spec) return api_overrides(job, spec) end,
  }
end

return M
