-- sandbox.lua: the environment a rule file runs in: the rule API (declarations, aggregates,
-- outputs, lookups, helpers) and the safe parts of the standard library, nothing else. Reading
-- an unknown name and setting any global are refused with the line; `string`, `table` and
-- `math` are read-only views; the string metatable (shared with the engine) is locked.
-- What a rule file raises becomes text with the line of the raise (error, assert): a rule file
-- cannot raise the engine's error objects, nor a location of its choosing; tostring and
-- string.format give stable text, never an address. (The budgets are not errors a pcall could
-- catch: they end the process, see watchdog.h.)
local E = require("defector.errors")
local numbers = require("defector.numbers")
local dates = require("defector.dates")
local purity = require("defector.purity")

local M = {}

-- A read-only view of a library table holding only the names listed.
function M.pick(job, lib, names, libname)
  local t = setmetatable({}, {
    __index = function(_, k) E.raise(job, "'" .. libname .. "." .. tostring(k) .. "' is not available to rule files", 2) end,
  })
  for name in names:gmatch("%S+") do rawset(t, name, lib[name]) end
  -- the view's misses fall through to t (a plain table, fast), and t's misses to the error
  return setmetatable({}, {
    __index = t,
    __newindex = function(_, k) E.raise(job, "'" .. libname .. "' is read-only: cannot set " .. libname .. "." .. tostring(k), 2) end,
    __metatable = false,
  })
end

-- String methods ("x"):upper() go through the string metatable, shared with the engine: point
-- it at the safe subset (no string.dump) and lock it, once per Lua state.
-- The view's errors name the line of the job being declared or run in this state.
local STRING_NAMES = "byte char find format gmatch gsub len lower match rep reverse sub upper"

-- string.format with %s of a table, function... as its kind ("table"), not its address
local function safe_format(f, ...)
  local n, args = select("#", ...), { ... }
  for i = 1, n do
    local t = type(args[i])
    if t ~= "string" and t ~= "number" then args[i] = E.show(args[i]) end
  end
  return string.format(f, unpack(args, 1, n))
end
local SAFE_STRING = setmetatable({ format = safe_format }, { __index = string })
local current
local current_job = setmetatable({}, { __index = function(_, k) return current and current[k] end })
local function lock_strings(job)
  current = job
  local smt = debug.getmetatable("")
  if smt.__metatable == false then return end
  smt.__index = M.pick(current_job, SAFE_STRING, STRING_NAMES, "string")
  smt.__metatable = false
end

local function helpers(job)
  return {
    between = function(x, lo, hi)
      if x == nil then return false end
      return x >= lo and x <= hi
    end,
    round = numbers.round, ratio = numbers.ratio,
    date = function(s)
      local d = dates.parse(s)
      E.check(job, d, "date(\"YYYY-MM-DD\") expects a valid date, got " .. tostring(s), 2)
      return d
    end,
    date_text = dates.text, quarter = dates.quarter, month = dates.month, year = dates.year,
    AS_OF = job.as_of, AS_OF_TEXT = job.as_of_text,
  }
end

-- error(v): raises "file:line: text" from the line of the call (v as text, one line); an
-- engine error a rule's pcall caught is raised again as it was.
local function user_error(job, v)
  if E.is_ours(v) then error(v, 0) end
  local msg = E.user_text(v):gsub("%c", " ")
  error(E.here(job, 3) .. ": " .. msg, 0)
end

local function stdlib(job)
  return {
    assert = function(v, msg, ...)
      if not v then user_error(job, msg == nil and "assertion failed!" or msg) end
      return v, msg, ...
    end,
    error = function(v) user_error(job, v) end,
    ipairs = ipairs, next = next, pairs = pairs, select = select,
    tonumber = tonumber, tostring = E.show, type = type, unpack = unpack,
    pcall = pcall,
    rawequal = rawequal, rawget = rawget,
    string = M.pick(job, SAFE_STRING, STRING_NAMES, "string"),
    table = M.pick(job, { concat = table.concat, insert = purity.guarded(job, table.insert, "insert"),
                          remove = purity.guarded(job, table.remove, "remove"), sort = purity.guarded(job, table.sort, "sort") },
                   "concat insert remove sort", "table"),
    math = M.pick(job, math, "abs ceil floor fmod huge log log10 max min modf pi pow sqrt exp", "math"),
  }
end

-- The API table (every name a rule file can use), from the parts' api(job) tables.
function M.api(job)
  lock_strings(job)
  local env = {}
  for _, part in ipairs({ "declare", "aggregates", "outputs", "lookups", "report", "operations", "history", "calls", "transactions", "models" }) do
    for k, v in pairs(require("defector." .. part).api(job)) do env[k] = v end
  end
  for k, v in pairs(helpers(job)) do env[k] = v end
  for k, v in pairs(stdlib(job)) do env[k] = v end
  return env
end

-- The rule file's globals: an empty proxy, so that every assignment, also to a name the API
-- has (AS_OF = 0, round = ...), is refused; reads go through to the API table (a table, so the
-- JIT compiles them as plain lookups), and an unknown name is refused.
function M.env(job, api)
  setmetatable(api, {
    __index = function(_, k)
      E.raise(job, "unknown name '" .. tostring(k) .. "': not part of the rule API (see docs/rules.md)", 2,
        require("defector.wording").unknown_name_fix(k, api))
    end,
    __metatable = false,
  })
  return setmetatable({}, {
    __index = api,
    __newindex = function(_, k)
      if rawget(api, k) ~= nil then
        E.raise(job, "cannot set global '" .. tostring(k) .. "': it is part of the rule API and read-only; use a local of another name", 2)
      end
      E.raise(job, "cannot set global '" .. tostring(k) .. "': rule files cannot create globals; use 'local " .. tostring(k) .. " = ...'", 2)
    end,
    __metatable = false,
  })
end

return M
