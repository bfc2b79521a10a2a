-- failure.lua: a rule file failing while an entity is scored, said for the user: which rule
-- (or feature, stage, output...) of which line, for which entity (by its key), in the rule's
-- own words where wording.lua can say it, and the values the rule looked at. Used by the run
-- (stop at the first failure, or with --on-rule-error skip a row of rule_errors.csv) and by
-- explain and test.
local ffi = require("ffi")
local E = require("defector.errors")
local wording = require("defector.wording")
local numbers = require("defector.numbers")
local fmt, concat = string.format, table.concat

local M = {}

-- The fields fn reads, with this entity's values: fn run again on a recording view.
function M.values_seen(job, fn, c)
  if type(fn) ~= "function" then return "" end
  local seen, done, parts = {}, {}, {}
  local view = setmetatable({}, { __index = function(_, f) seen[#seen + 1] = f; return c[f] end })
  pcall(fn, view)
  for _, f in ipairs(seen) do
    if not done[f] and job.fields[f] then
      done[f] = true
      local ok, v = pcall(function() return c[f] end)
      v = ok and v or nil
      parts[#parts + 1] = f .. " = " .. (v == nil and "nil" or type(v) == "number" and numbers.text(v) or E.show(v))
    end
  end
  return concat(parts, ", ")
end

-- The key of entity row i.
function M.key_of(job, i)
  local v = job.views[job.entity.name][job.entity.key]
  if not v or i == nil or i < 0 then return "?" end
  return require("defector.bind").text_at(v, i)
end

-- The label (rule code, feature...) being evaluated, from the watch the generated code keeps.
function M.label(watch)
  if watch.what == nil then return nil end
  return ffi.string(ffi.cast("const char *", watch.what))
end

local function source_line(job, where)
  local file, line = tostring(where):match("^(.-):(%d+)$")
  if file == job.file then return job.lines[tonumber(line)] end
  return nil
end

-- The parts of a failure of `fn` (the running node's function) for entity row `row`:
-- where, message, fix, values seen.
function M.describe(job, e, fn, row)
  local c = job.ent.c
  if E.is_ours(e) then return e.where, e.message, e.fix, "" end
  local msg = E.user_text(e)
  local where, rest = msg:match("^([^:\n]+:%d+): (.*)$")
  where = E.full_where(job, where)
  rest = rest or msg
  local get = function(name) local ok, v = pcall(function() return c[name] end); return ok and v or nil end
  local better, fix = wording.runtime(job, fn, rest, source_line(job, where), get)
  if rest:find("^attempt to perform arithmetic on a string") and not fix then
    fix = "to join text, use .. (two dots); to add numbers, convert text with tonumber(...)"
  end
  return where, better or rest, fix, M.values_seen(job, fn, c), better ~= nil
end

-- The error for the user: "file:line: rule x" / "message (key_column K; it looked at ...) — fix".
function M.error(job, e, label, fn, row)
  local where, msg, fix, seen, said = M.describe(job, e, fn, row)
  if said then seen = "" end
  if E.is_ours(e) and e.customer then return e end
  local id = M.key_of(job, row)
  local ctx = label and not label:match("^metrics") and not label:match("^output") and label or nil
  local text = fmt("%s (%s %s%s)%s", msg, job.entity.key, id, seen ~= "" and ("; it looked at " .. seen) or "",
    fix and (" — " .. fix) or "")
  -- data: the export is at fault (a malformed datetime, sequence.lua): exit code 4, not 5
  return E.obj({ where = (where or job.file) .. (ctx and (": " .. ctx) or ""), message = text, customer = id,
                 data = E.is_ours(e) and e.data or nil })
end

return M
