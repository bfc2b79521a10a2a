-- wording.lua: mistakes said in the rule file's own words. Lua's messages name types and
-- registers ("attempt to compare number with string", operands reversed by the compiler;
-- "attempt to index a nil value"); these functions read the failing line of the rule file and
-- the entity's values and say which field held what ("c.segment (text "smb") compared with
-- number 3"), which lookup lacks which row, and give the Lua for Excel and SQL habits
-- (<>, !=, AND, = in a condition, "a" + "b").
local numbers = require("defector.numbers")
local suggest = require("defector.suggest")
local fmt = string.format

local M = {}

-- How a value reads in a message: text "smb", number 3, empty, true.
function M.show(v)
  if v == nil then return "empty" end
  if type(v) == "string" then return fmt("text %q", v) end
  if type(v) == "number" then return "number " .. numbers.text(v) end
  return tostring(v)
end

local HABITS = {
  { "<>", "Lua writes 'not equal' as ~=" }, { "!=", "Lua writes 'not equal' as ~=" },
  { "&&", "Lua writes 'and'" }, { "||", "Lua writes 'or'" },
  { "%f[%w]AND%f[%W]", "Lua writes 'and' in lower case" }, { "%f[%w]OR%f[%W]", "Lua writes 'or' in lower case" },
  { "%f[%w]NOT%f[%W]", "Lua writes 'not' in lower case" },
  { "%f[%w]ELSE%f[%W]", "Lua writes 'else' in lower case" }, { "%f[%w]IF%f[%W]", "Lua writes 'if ... then ... end' in lower case" },
}

-- A hint for a syntax error on `text` (the line), or nil. msg is Lua's message: a `=` where a
-- comparison belongs is only suspected when Lua stumbled on it ("near '='").
function M.syntax_hint(text, msg)
  if not text then return nil end
  local code = text:gsub("%-%-.*$", ""):gsub('"[^"]*"', '""'):gsub("'[^']*'", "''")
  for _, h in ipairs(HABITS) do
    if code:find(h[1]) then return h[2] end
  end
  local near = msg and msg:match("expected near '([%a_][%w_]*)'")
  if near and not near:match("^end$") then return fmt("is a comma missing before '%s'?", near) end
  if msg and not msg:find("near '='") then return nil end
  -- a single = where a comparison belongs: if x = 1 then, elseif x = 1 then, return c.x = 2,
  -- ... and x = 3
  local conds = { code:match("%f[%w]elseif%f[%W](.-)%f[%w]then%f[%W]"), code:match("%f[%w]if%f[%W](.-)%f[%w]then%f[%W]"),
                  code:match("%f[%w]return%f[%W](.*)$") }
  for _, cond in pairs(conds) do
    if cond:gsub("[=~<>]=", ""):find("=") then return "to compare, write == (a single = sets a variable)" end
  end
  if code:find("%f[%w]and%f[%W][^=]*[^=~<>]=[^=]") or code:find("%f[%w]or%f[%W][^=]*[^=~<>]=[^=]") then
    return "to compare, write == (a single = sets a variable)"
  end
  return nil
end

-- The fix for an unknown global name, or nil.
function M.unknown_name_fix(k, api)
  if type(k) ~= "string" then return nil end
  if k == "AND" or k == "OR" or k == "NOT" then return "Lua writes '" .. k:lower() .. "' in lower case" end
  local SANDBOXED = { io = 1, os = 1, require = 1, load = 1, loadstring = 1, dofile = 1, loadfile = 1, debug = 1, jit = 1, ffi = 1,
                      getfenv = 1, setfenv = 1, getmetatable = 1, setmetatable = 1, rawset = 1, collectgarbage = 1,
                      package = 1, coroutine = 1, newproxy = 1, _G = 1, print = 1 }
  if SANDBOXED[k] then return "rule files cannot read files, run programs or reach the engine (see 'The sandbox' in docs/rules.md)" end
  local names = {}
  for name in pairs(api) do names[#names + 1] = name end
  table.sort(names)
  local s = suggest.closest(k, names)
  return s and fmt("did you mean '%s'?", s) or "see docs/rules.md for the rule API"
end

-- Operands on a line: c.name, a number, a string literal
local OPERAND = { "c%.([%a_][%w_]*)", "(%-?%d+%.?%d*)", '"([^"]*)"' }
local function operand_at(s)
  local name = s:match("^%s*c%.([%a_][%w_]*)")
  if name then return "field", name end
  local num = s:match("^%s*(%-?%d+%.?%d*)")
  if num then return "number", tonumber(num) end
  local str = s:match('^%s*"([^"]*)"') or s:match("^%s*'([^']*)'")
  if str then return "string", str end
  return nil
end

local function describe(kind, x, get)
  if kind == "field" then return fmt("c.%s (%s)", x, M.show(get(x))), get(x) end
  return M.show(x), x
end

-- the operand just before position `at` of line (c.name, a number, a string literal)
local function operand_before(line, at)
  local head = line:sub(1, at - 1)
  local name = head:match("c%.([%a_][%w_]*)%s*$")
  if name then return "field", name end
  local num = head:match("(%-?%d+%.?%d*)%s*$")
  if num then return "number", tonumber(num) end
  local str = head:match('"([^"]*)"%s*$') or head:match("'([^']*)'%s*$")
  if str then return "string", str end
  return nil
end

-- comparisons on the line with operands of different types (or an empty one)
local function compare_words(line, get)
  local pos = 1
  while true do
    local a, b = line:find("[<>]=?", pos)
    if not a then return nil end
    pos = b + 1
    local lk, lx = operand_before(line, a)
    local rk, rx = operand_at(line:sub(b + 1))
    if lk and rk and (lk == "field" or rk == "field") then
      local ltext, lv = describe(lk, lx, get)
      local rtext, rv = describe(rk, rx, get)
      if lv == nil or rv == nil or type(lv) ~= type(rv) then
        local empty = lk == "field" and lv == nil and lx or (rk == "field" and rv == nil and rx) or nil
        local fix
        if empty then
          fix = fmt("c.%s is empty for this entity: test c.%s ~= nil first, use between(c.%s, lo, hi) (false when empty), or list the column in required",
            empty, empty, empty)
        else
          local textf = lk == "field" and type(lv) == "string" and lx or (rk == "field" and type(rv) == "string" and rx)
          fix = textf and fmt("c.%s is text: compare it with text, or convert it with tonumber(c.%s)", textf, textf) or nil
        end
        return fmt("%s compared with %s", ltext, rtext), fix
      end
    end
  end
end

-- arithmetic or text joined with an empty (or text) field
local function arith_words(msg, line, get)
  local joining = msg:find("concatenate") ~= nil
  if msg:find("arithmetic on a string") and (line:find('"[^"]*"%s*%+') or line:find('%+%s*"')) then
    return "+ adds numbers", "to join text, use .. (two dots): \"a\" .. \"b\""
  end
  local named = msg:match("field '([%w_]+)' %(a nil value%)")
  for name in line:gmatch("c%.([%a_][%w_]*)") do
    local v = get(name)
    if (v == nil and (not named or named == name)) then
      return fmt("c.%s is empty for this entity, and %s an empty value fails", name, joining and "joining text with" or "arithmetic on"),
        fmt("test it first (c.%s and ...), or list %s in required", name, name)
    end
    if msg:find("string") and type(v) == "string" then
      return fmt("c.%s is text (%s), not a number", name, M.show(v)), fmt("convert it with tonumber(c.%s)", name)
    end
  end
  return nil
end

-- a lookup indexed with a key it has no row for, then read
local function lookup_words(job, fn, line, get)
  if not (job.lookups and fn) then return nil end
  for i = 1, 200 do
    local name, v = debug.getupvalue(fn, i)
    if not name then break end
    local lk = job.lookups[v]
    if lk then
      local keyexpr = line:match(name .. "%[%s*(.-)%s*%]")
      if keyexpr then
        local kind, x = operand_at(keyexpr)
        local key = kind == "field" and get(x) or x
        return fmt("lookup %s has no row for %s%s", lk.file, lk.key and (lk.key .. " ") or "", M.show(key):gsub("^text ", "")),
          fmt("add a row for it to %s, or give the lookup a default: lookup { ..., default = { ... } }", lk.file)
      end
    end
  end
  return nil
end

-- A Lua run-time error raised in fn on `line` (its text), said in the rule's words: the new
-- message and a fix, or nil when nothing better can be said. get(name) is the entity's value.
function M.runtime(job, fn, msg, line, get)
  if not line then return nil end
  local code = line:gsub("%-%-.*$", "")
  if msg:find("^attempt to compare") then return compare_words(code, get) end
  if msg:find("^attempt to perform arithmetic") or msg:find("^attempt to concatenate") then return arith_words(msg, code, get) end
  if msg:find("^attempt to index") then return lookup_words(job, fn, code, get) end
  local method = msg:match("attempt to call method '([%w_]+)'")
  if method then
    local s = suggest.closest(method, { "byte", "find", "format", "gmatch", "gsub", "len", "lower", "match", "rep", "reverse", "sub", "upper" })
    return fmt("'%s' is not a text function", method), s and fmt("did you mean %s?", s) or nil
  end
  return nil
end

M.OPERAND = OPERAND
return M
