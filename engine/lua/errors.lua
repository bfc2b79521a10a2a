-- errors.lua: errors for the user. An error the user can act on is a table {where, message,
-- fix?} raised with error(obj, 0): `where` is the rule file's "path:line" (found on the stack:
-- the nearest frame in one of the user's files), `message` says what is wrong, `fix` how to
-- fix it. Anything else reaching C is an engine bug. In `check`, errors are collected in
-- job.findings instead of stopping at the first. Only the engine makes error objects: every
-- one is registered in `ours` (M.obj); a table a rule file raises is not one (sandbox.lua turns
-- what rule files raise into text with their line), so a rule file cannot forge a location.
local fmt = string.format

local M = {}

local ours = setmetatable({}, { __mode = "k" })

-- t as one of the engine's error objects.
function M.obj(t)
  ours[t] = true
  return t
end

-- raises the engine's error object t
function M.throw(t) error(M.obj(t), 0) end

-- e is one of the engine's error objects (not a table or handle a rule file raised)
function M.is_ours(e) return type(e) == "table" and ours[e] == true end

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
  M.throw({ where = M.here(job, (level or 2) + 1), message = message, fix = fix })
end

function M.check(job, cond, message, level, fix)
  if not cond then M.raise(job, message, (level or 2) + 1, fix) end
  return cond
end

-- A finding at a known place: collected by `check`, raised otherwise.
function M.record(job, where, message, fix, severity)
  local obj = M.obj({ where = where, message = message, fix = fix, severity = severity })
  if job.findings then job.findings[#job.findings + 1] = obj return end
  if severity == "warning" then job.warnings[#job.warnings + 1] = obj return end
  error(obj, 0)
end

function M.at(job, line) return job.file .. ":" .. (line or 0) end

-- A Lua error value as {where, message}: a user error stays as it is; a message "path:N: text"
-- is split (with the full path back).
function M.from_lua(job, e, default_where)
  if M.is_ours(e) then return e end
  local msg = M.user_text(e)
  local where, rest = msg:match("^([^:\n]+:%d+): (.*)$")
  if where then return M.obj({ where = M.full_where(job, where), message = rest }) end
  return M.obj({ where = default_where or job.file, message = msg })
end

-- Any value as stable text for messages and outputs: never an address (a handle says its name).
function M.show(v)
  local t = type(v)
  if t == "string" or t == "number" or t == "boolean" or t == "nil" then return tostring(v) end
  if t == "table" then
    local mt = debug.getmetatable(v)
    if type(mt) == "table" and type(rawget(mt, "__tostring")) == "function" then
      local ok, s = pcall(rawget(mt, "__tostring"), v)
      if ok and type(s) == "string" then return s end
    end
  end
  if t == "cdata" then
    local ok, s = pcall(tostring, v)
    if ok and s:match("^%-?%d+[LU]*$") then return s end -- an exact 64-bit integer
  end
  return t
end

-- A value a rule file raised (or any value) as text: strings and numbers as they are; other
-- values by their type, never their address ("table", "function"...).
function M.user_text(e)
  local t = type(e)
  if t == "string" then return e end
  if t == "number" then return tostring(e) end
  if t == "nil" then return "nil" end
  if t == "boolean" then return tostring(e) end
  return "error(...) was given a " .. t .. ", not a text: give it a message, e.g. error(\"segment missing\")"
end

-- Loads and runs a user's file (rule file, test file) in env; errors become {where, message}.
function M.run_chunk(job, source, chunkname, env, hint)
  job.user_files[chunkname] = true
  local chunk, err = load(source, "@" .. chunkname, "t", env)
  if not chunk then
    local line, msg = tostring(err):match("^[^:]*:(%d+): (.*)$")
    local where = line and (chunkname .. ":" .. line) or chunkname
    M.throw({ where = where, message = "syntax error: " .. (msg or tostring(err)), fix = hint and hint(tonumber(line), msg) })
  end
  local ok, e = pcall(chunk)
  if not ok then M.throw(M.from_lua(job, e, chunkname)) end
end

-- "what — fix" for messages on one line
function M.text(obj)
  return obj.fix and fmt("%s — %s", obj.message, obj.fix) or obj.message
end

return M
