-- errors.lua: errors for the user. An error the user can act on is a table {where, message,
-- fix?} raised with error(obj, 0): `where` is the rule file's "path:line" (found on the stack:
-- the nearest frame in one of the user's files), `message` says what is wrong, `fix` how to
-- fix it. Anything else reaching C is an engine bug. In `check`, errors are collected in
-- job.findings instead of stopping at the first.
local fmt = string.format

local M = {}

-- The line and file of the nearest frame that runs one of the user's files (the API's own
-- frames above it are skipped, however many; `level` is kept for the callers' readability).
function M.line(job, level)
  for l = 2, 80 do
    local info = debug.getinfo(l, "Sl")
    if not info then break end
    local src = info.source
    if src:sub(1, 1) == "@" and job.user_files[src:sub(2)] and info.currentline > 0 then
      return info.currentline, src:sub(2)
    end
    -- the rule file's code pasted into the generated code: its line in the rule file
    if job.gen_name and src == "=" .. job.gen_name and job.linemap[info.currentline] then
      return job.linemap[info.currentline], job.file
    end
  end
  return nil
end

function M.here(job, level)
  local line, file = M.line(job, (level or 2) + 1)
  return line and (file .. ":" .. line) or job.file
end

-- Lua shortens a long chunk name in messages to "...<end of the path>" (LUA_IDSIZE): such a
-- location is given back with the full path of the user's file it ends.
function M.full_where(job, where)
  if type(where) ~= "string" then return where end
  if job.gen_name and where:sub(1, #job.gen_name + 1) == job.gen_name .. ":" then
    local line = job.linemap[tonumber(where:sub(#job.gen_name + 2))]
    return line and (job.file .. ":" .. line) or job.file
  end
  if where:sub(1, 3) ~= "..." then return where end
  local tail, line = where:match("^%.%.%.(.-):(%d+)$")
  if not tail then return where end
  local best
  for f in pairs(job.user_files) do
    if f:sub(-#tail) == tail and (not best or f < best) then best = f end
  end
  return best and (best .. ":" .. line) or where
end

-- level: the stack level of the rule file's call (2 = the caller of the API function)
function M.raise(job, message, level, fix)
  error({ where = M.here(job, (level or 2) + 1), message = message, fix = fix }, 0)
end

function M.check(job, cond, message, level, fix)
  if not cond then M.raise(job, message, (level or 2) + 1, fix) end
  return cond
end

-- A finding at a known place: collected by `check`, raised otherwise.
function M.record(job, where, message, fix, severity)
  local obj = { where = where, message = message, fix = fix, severity = severity }
  if job.findings then job.findings[#job.findings + 1] = obj return end
  if severity == "warning" then job.warnings[#job.warnings + 1] = obj return end
  error(obj, 0)
end

function M.at(job, line) return job.file .. ":" .. (line or 0) end

-- A Lua error value as {where, message}: a user error stays as it is; a message "path:N: text"
-- is split (with the full path back).
function M.from_lua(job, e, default_where)
  if type(e) == "table" then return e end
  local msg = tostring(e)
  local where, rest = msg:match("^([^:\n]+:%d+): (.*)$")
  if where then return { where = M.full_where(job, where), message = rest } end
  return { where = default_where or job.file, message = msg }
end

-- Loads and runs a user's file (rule file, test file) in env; errors become {where, message}.
function M.run_chunk(job, source, chunkname, env, hint)
  job.user_files[chunkname] = true
  local chunk, err = load(source, "@" .. chunkname, "t", env)
  if not chunk then
    local line, msg = tostring(err):match("^[^:]*:(%d+): (.*)$")
    local where = line and (chunkname .. ":" .. line) or chunkname
    error({ where = where, message = "syntax error: " .. (msg or tostring(err)), fix = hint and hint(tonumber(line), msg) }, 0)
  end
  local ok, e = pcall(chunk)
  if not ok then error(M.from_lua(job, e, chunkname), 0) end
end

-- "what — fix" for messages on one line
function M.text(obj)
  return obj.fix and fmt("%s — %s", obj.message, obj.fix) or obj.message
end

return M
