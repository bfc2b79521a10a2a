-- inline.lua: a rule file's function as text that compile.lua can put inside the generated
-- code, so that evaluating an entity calls no function (LuaJIT compiles a call to a function
-- that has a trace of its own as a jump out of the caller's trace, and back through the
-- interpreter). The function is found in the rule file's source by its lines, read with a
-- small Lua tokenizer, and rewritten:
--   * `return x` becomes `OUT = x goto DONE` (returns of functions nested in it are left alone);
--   * `c.name`, where c is the entity parameter and name a field, becomes the local the
--     generated code keeps the field in (when c is never redeclared inside);
--   * the function's upvalues become locals bound to their current values.
-- Anything this cannot do safely (varargs, a line holding two such functions, text it cannot
-- read) returns nil and the function is called as it is.
local M = {}

local KEYWORDS = {}
for w in ("and break do else elseif end false for function goto if in local nil not or repeat return then true until while"):gmatch("%S+") do
  KEYWORDS[w] = true
end

-- The tokens of text: {kind = "name"|"kw"|"num"|"str"|"op", text, s, e (positions), line}.
function M.tokens(text)
  local out, i, n, line = {}, 1, #text, 1
  local function add(kind, s, e) out[#out + 1] = { kind = kind, text = text:sub(s, e), s = s, e = e, line = line } end
  local function long_bracket(at) -- [[ ... ]] or [==[ ... ]==] starting at `at`; returns its end
    local eq = text:match("^%[(=*)%[", at)
    if not eq then return nil end
    local close = text:find("]" .. eq .. "]", at, true)
    return close and close + #eq + 1 or n
  end
  while i <= n do
    local ch = text:sub(i, i)
    if ch == "\n" then line = line + 1; i = i + 1
    elseif ch:match("%s") then i = i + 1
    elseif text:sub(i, i + 1) == "--" then
      local e = long_bracket(i + 2)
      if e then
        local _, nl = text:sub(i, e):gsub("\n", "")
        line = line + nl; i = e + 1
      else
        i = (text:find("\n", i, true) or n + 1)
      end
    elseif ch:match("[%a_]") then
      local e = select(2, text:find("^[%w_]*", i))
      add(KEYWORDS[text:sub(i, e)] and "kw" or "name", i, e); i = e + 1
    elseif ch:match("%d") or (ch == "." and text:sub(i + 1, i + 1):match("%d")) then
      local e = select(2, text:find("^0[xX][%x%.]*[pP]?[%+%-]?%x*", i)) or select(2, text:find("^[%d%.]*[eE]?[%+%-]?%d*", i))
      e = select(2, text:find("^[%w%.]*", e + 1)) or e -- suffixes like ULL, i
      add("num", i, e); i = e + 1
    elseif ch == '"' or ch == "'" then
      local j = i + 1
      while j <= n do
        local cj = text:sub(j, j)
        if cj == "\\" then j = j + 2
        elseif cj == ch then break
        else if cj == "\n" then line = line + 1 end; j = j + 1 end
      end
      add("str", i, j); i = j + 1
    elseif ch == "[" and long_bracket(i) then
      local e = long_bracket(i)
      local startline = line
      local _, nl = text:sub(i, e):gsub("\n", "")
      add("str", i, e); out[#out].line = startline; line = line + nl; i = e + 1
    else
      local three, two = text:sub(i, i + 2), text:sub(i, i + 1)
      local len = (three == "...") and 3 or ((two == "==" or two == "~=" or two == "<=" or two == ">=" or two == ".." or two == "::") and 2 or 1)
      add("op", i, i + len - 1); i = i + len
    end
  end
  return out
end

local OPENS = { ["function"] = true, ["if"] = true, ["do"] = true }

-- The index of the `end` that closes the block opened at token k (function, if, do), or nil.
local function closing(toks, k)
  local depth = 0
  for j = k, #toks do
    local t = toks[j]
    if t.kind == "kw" then
      if OPENS[t.text] or t.text == "repeat" then depth = depth + 1
      elseif t.text == "end" or t.text == "until" then
        depth = depth - 1
        if depth == 0 then return j end
      end
    end
  end
  return nil
end

-- The token range of the function literal defined from line `first` to line `last`: the
-- `function` token, the `)` closing its parameters, and its `end`; nil when there is not
-- exactly one.
local function find_function(toks, first, last)
  local found
  for k, t in ipairs(toks) do
    if t.kind == "kw" and t.text == "function" and t.line == first then
      local e = closing(toks, k)
      if e and toks[e].line == last then
        if found then return nil end
        local p = k + 1
        -- `local function name(c)` and `function name(c)` define a value like a literal does;
        -- `function t:m()` has a hidden self parameter: left alone
        while toks[p] and (toks[p].kind == "name" or toks[p].text == ".") do p = p + 1 end
        if not toks[p] or toks[p].text ~= "(" then return nil end
        local open = p
        while toks[p] and toks[p].text ~= ")" do p = p + 1 end
        found = { fn = k, open = open, close = p, e = e }
      end
    end
  end
  return found
end

-- The parameter names between tokens a and b, or nil for varargs.
local function params(toks, a, b)
  local out = {}
  for j = a, b do
    local t = toks[j]
    if t.text == "..." then return nil end
    if t.kind == "name" then out[#out + 1] = t.text end
  end
  return out
end

-- Whether `name` is declared anywhere in tokens a .. b (local, for, a parameter).
local function redeclared(toks, a, b, name)
  local decl = false
  for j = a, b do
    local t = toks[j]
    if t.kind == "kw" and (t.text == "local" or t.text == "for" or t.text == "function") then decl = true
    elseif t.text == "=" or t.text == "in" or t.text == ")" then decl = false
    elseif decl and t.kind == "name" and t.text == name then return true end
  end
  return false
end

-- The end of the expression list of the `return` at token k (the index of its last token).
local STOP = { ["end"] = true, ["else"] = true, ["elseif"] = true, ["until"] = true }
local function return_end(toks, k, limit)
  local depth, j = 0, k
  while j + 1 < limit do
    local t = toks[j + 1]
    if t.kind == "op" and (t.text == "(" or t.text == "{" or t.text == "[") then depth = depth + 1
    elseif t.kind == "op" and (t.text == ")" or t.text == "}" or t.text == "]") then depth = depth - 1
    elseif t.kind == "kw" and t.text == "function" then
      j = closing(toks, j + 1) or limit
      t = nil
    elseif depth == 0 and ((t.kind == "kw" and STOP[t.text]) or t.text == ";") then break end
    if t then j = j + 1 end
  end
  return j
end

-- fn's body rewritten for the generated code, or nil. opts:
--   source, lines    the rule file's text and its lines
--   out              the variable a `return` assigns
--   label            the label a `return` jumps to
--   field(name)      the local holding entity field `name`, or nil to leave c.name as it is
--   entity           the name of the variable holding the entity view (for other uses of c)
--   upvalue(i)       the expression giving upvalue i's value
-- Returns {text = ..., first = line of the body's first line in the rule file}.
function M.body(fn, opts)
  local info = debug.getinfo(fn, "S")
  if not info or info.what ~= "Lua" or info.linedefined < 1 then return nil end
  -- only the rule file's own functions: an engine function (actions.lua, calls.lua,
  -- transactions.lua) has lines of another file
  if opts.file and info.source ~= "@" .. opts.file then return nil end
  if info.source:match("^@engine/lua/") then return nil end
  local toks = opts.tokens or M.tokens(opts.source)
  opts.tokens = toks
  local f = find_function(toks, info.linedefined, info.lastlinedefined)
  if not f then return nil end
  local ps = params(toks, f.open + 1, f.close)
  if not ps then return nil end
  local cname = ps[1]
  local substitute = cname and not redeclared(toks, f.close + 1, f.e - 1, cname)
  local edits = {}
  local depth = 0 -- nested function literals
  local j = f.close + 1
  local uses_c = false
  while j < f.e do
    local t = toks[j]
    if t.kind == "kw" and t.text == "function" then
      -- a nested function: its returns are its own; c inside it is the entity too
      local e = closing(toks, j) or f.e
      for q = j, e do if toks[q].kind == "name" and toks[q].text == cname then uses_c = true end end
      j = e + 1
    elseif t.kind == "kw" and t.text == "return" then
      local e = return_end(toks, j, f.e)
      if e == j then
        edits[#edits + 1] = { s = t.s, e = t.e, text = opts.out .. " = nil goto " .. opts.label }
      else
        edits[#edits + 1] = { s = t.s, e = t.e, text = opts.out .. " =" }
        edits[#edits + 1] = { s = toks[e].e + 1, e = toks[e].e, text = " goto " .. opts.label .. " " }
      end
      j = j + 1
    elseif t.kind == "name" and t.text == cname then
      local dot, fld = toks[j + 1], toks[j + 2]
      local before = toks[j - 1]
      local var = substitute and dot and dot.text == "." and fld and fld.kind == "name"
        and not (before and (before.text == "." or before.text == ":")) and opts.field(fld.text)
      if var then
        edits[#edits + 1] = { s = t.s, e = fld.e, text = var }
        j = j + 3
      else
        uses_c = true
        j = j + 1
      end
    else
      j = j + 1
    end
  end
  -- the body's text with the edits, from just after the parameters to just before `end`
  local s0, e0 = toks[f.close].e + 1, toks[f.e].s - 1
  table.sort(edits, function(a, b) return a.s < b.s end)
  local parts, pos = {}, s0
  for _, ed in ipairs(edits) do
    parts[#parts + 1] = opts.source:sub(pos, ed.s - 1)
    parts[#parts + 1] = ed.text
    pos = ed.e + 1
  end
  parts[#parts + 1] = opts.source:sub(pos, e0)
  local head = {}
  if cname and uses_c then head[#head + 1] = "local " .. cname .. " = " .. opts.entity end
  for i = 1, math.huge do
    local name = debug.getupvalue(fn, i)
    if not name then break end
    head[#head + 1] = "local " .. name .. " = " .. opts.upvalue(fn, i)
  end
  return { head = table.concat(head, "; "), text = table.concat(parts), first = toks[f.close].line }
end

return M
