-- handles.lua: what the rule API hands to rule files (table declarations, column types,
-- filters, aggregates) is an opaque, read-only handle; the engine keeps the object itself in
-- job.sealed, out of the rule file's reach. getmetatable(handle) answers its kind for the
-- engine's own checks (rule files have no getmetatable).
local E = require("defector.errors")
local fmt = string.format

local M = {}

-- The kinds: the metatable of the object behind a handle.
M.TABLE, M.TYPE, M.PRED, M.AGG, M.MAGG = {}, {}, {}, {}, {}

function M.seal(job, obj, kind, readonly_msg, name)
  setmetatable(obj, kind)
  local h = setmetatable({}, {
    __index = function(_, k)
      E.raise(job, fmt("%s is read-only: rule files cannot read or change its field '%s'", name, tostring(k)), 2)
    end,
    __newindex = function() E.raise(job, readonly_msg, 2) end,
    __metatable = kind, __tostring = function() return name end,
  })
  job.sealed[h] = obj
  return h
end

-- the object behind handle h when h is one of kind's handles, else nil
function M.unseal(job, h, kind)
  local obj = type(h) == "table" and job.sealed[h]
  return obj and getmetatable(obj) == kind and obj or nil
end

function M.is(obj, kind) return type(obj) == "table" and getmetatable(obj) == kind end

return M
