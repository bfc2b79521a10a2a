-- bytecode.lua: what the rule file's functions do, read from their LuaJIT bytecode (jit.util)
-- without running them: which fields of the entity (`c.name`) a function reads, also through
-- the helpers it passes `c` to; whether it writes to `c`; the globals it reads and sets; and
-- whether it can end without returning a value. depend.lua orders the computation by the
-- reads; check.lua and the start of a run report the rest.
--
-- The scan of a function is linear (it follows the instructions in order, not every path):
-- a register holds `c` from the instruction that copies it there to the next that overwrites
-- it. What cannot be followed (c[k] with a computed k, `c` handed to a function not known when
-- the file is declared) marks the function `dynamic`: the run then checks at each read that
-- the field was already computed for this entity (see compile.lua), so a missed read is an
-- error, never another entity's value.
local jutil = require("jit.util")
local bit = require("bit")
local band, rshift = bit.band, bit.rshift

local M = {}

local NAMES
local function opname(op)
  if not NAMES then
    local vmdef = require("jit.vmdef")
    NAMES = {}
    for i = 0, #vmdef.bcnames / 6 - 1 do NAMES[i] = vmdef.bcnames:sub(i * 6 + 1, i * 6 + 6):gsub(" +$", "") end
  end
  return NAMES[op]
end

local MODE_DST, MODE_BASE, MODE_JUMP, MODE_STR = 1, 2, 13, 10

-- The instructions of fn (a function or a prototype), 1-based, each {op, a, b, c, d, ma, mc,
-- line}; cached.
local cache = setmetatable({}, { __mode = "k" })
function M.decode(fn)
  local list = cache[fn]
  if list then return list end
  list = {}
  local pc = 1
  while true do
    local ins, m = jutil.funcbc(fn, pc)
    if not ins then break end
    list[pc] = {
      op = opname(band(ins, 0xff)), a = band(rshift(ins, 8), 0xff), c = band(rshift(ins, 16), 0xff),
      b = rshift(ins, 24), d = rshift(ins, 16), ma = band(m, 7), mc = band(rshift(m, 7), 15),
      line = jutil.funcinfo(fn, pc).currentline,
    }
    pc = pc + 1
  end
  cache[fn] = list
  return list
end

function M.const(fn, d) return jutil.funck(fn, -d - 1) end

-- fn's jit.util info when fn (a function or prototype) comes from one of the user's files
function M.user_info(job, fn)
  local info = jutil.funcinfo(fn)
  local src = info and info.source
  if type(src) == "string" and src:sub(1, 1) == "@" and job.user_files[src:sub(2)] then return info end
  return nil
end

-- The instructions control can go to after instruction pc.
local BACK = { FORL = true, IFORL = true, JFORL = true, ITERL = true, IITERL = true, JITERL = true }
local function successors(list, pc, noreturn)
  local ins = list[pc]
  local op = ins.op
  if op:sub(1, 3) == "RET" or op == "CALLT" or op == "CALLMT" or noreturn[pc] then return {} end
  local target = ins.mc == MODE_JUMP and pc + 1 + ins.d - 0x8000 or nil
  if op == "JMP" or op == "UCLO" or op == "ISNEXT" then return { target } end
  if op == "FORI" or op == "JFORI" or BACK[op] then return { pc + 1, target } end
  if op:sub(1, 2) == "IS" and op ~= "ISTYPE" and op ~= "ISNUM" then return { pc + 1, pc + 2 } end
  return { pc + 1 }
end

-- The calls to error(...) (a global the function reads): control does not come back.
local function error_calls(fn, list, env)
  local fname, out = {}, {}
  for pc, ins in ipairs(list) do
    if ins.op == "GGET" then fname[ins.a] = M.const(fn, ins.d)
    elseif ins.op == "CALL" and fname[ins.a] == "error" then out[pc] = true end -- rule files cannot redefine error
    if ins.op ~= "GGET" and ins.ma == MODE_DST then fname[ins.a] = nil end
  end
  return out
end

-- The line of a `return` without a value (or of the function's end) that control can reach,
-- or nil when every path returns a value.
function M.falls_through(fn, env)
  local list = M.decode(fn)
  local noreturn = error_calls(fn, list, env)
  local seen, todo = { [1] = true }, { 1 }
  while #todo > 0 do
    local pc = table.remove(todo)
    local ins = list[pc]
    if ins and ins.op == "RET0" then return ins.line end
    if ins then
      for _, s in ipairs(successors(list, pc, noreturn)) do
        if s and not seen[s] then seen[s] = true; todo[#todo + 1] = s end
      end
    end
  end
  return nil
end

-- What fn does with the entity `c`, held in parameter slot `slot` (0-based), or in upvalues
-- named in `uvnames` (an inner function of one that has c): {reads = {name = line}, writes =
-- {name = line}, dynamic = line, globals = {name = line}, sets = {name = line}}. Helpers fn
-- passes c to are followed when they are known now: upvalues, API functions (env), their
-- fields, and functions defined inside fn.
local function merge(into, from)
  for _, k in ipairs({ "reads", "writes", "globals", "sets" }) do
    for name, line in pairs(from[k]) do if not into[k][name] then into[k][name] = line end end
  end
  into.dynamic = into.dynamic or from.dynamic
end

local analyse

-- c handed to the function in register r (args from r + 2: LuaJIT's two-slot frames)
local function follow_call(job, fn, ins, st, out, depth)
  local nargs = ins.c - 1
  if ins.op == "CALLM" or ins.op == "CALLMT" then nargs = ins.c end
  local first, callee0 = 0, st.known[ins.a]
  if callee0 == pcall then first, callee0 = 1, st.known[ins.a + 2] end -- pcall(f, c): f gets c
  for k = first, nargs - 1 do
    if st.creg[ins.a + 2 + k] then
      local callee = callee0
      k = k - first
      local ty = callee and type(callee)
      if ty == "proto" or (ty == "function" and M.user_info(job, callee)) then
        merge(out, analyse(job, callee, k, nil, depth + 1))
      elseif not (ty == "function" and not M.user_info(job, callee)) then
        out.dynamic = out.dynamic or ins.line -- c given to a function not known now
      end
    end
  end
end

local function step(job, fn, pc, ins, st, out, depth)
  local op, a = ins.op, ins.a
  local creg, kstr, known = st.creg, st.kstr, st.known
  if op == "MOV" then
    creg[a], kstr[a], known[a] = creg[ins.d], kstr[ins.d], known[ins.d]
    return
  elseif op == "UGET" then
    local name = jutil.funcuvname(fn, ins.d)
    creg[a], kstr[a], known[a] = st.cuv[name] or nil, nil, nil
    if type(fn) == "function" then
      local _, v = debug.getupvalue(fn, ins.d + 1)
      if type(v) == "function" or type(v) == "table" then known[a] = v end
    end
    return
  elseif op == "GGET" then
    local name = M.const(fn, ins.d)
    out.globals[name] = out.globals[name] or ins.line
    creg[a], kstr[a], known[a] = nil, nil, st.env and rawget(st.env, name)
    return
  elseif op == "GSET" then
    local name = M.const(fn, ins.d)
    out.sets[name] = out.sets[name] or ins.line
  elseif op == "KSTR" then
    creg[a], kstr[a], known[a] = nil, M.const(fn, ins.d), nil
    return
  elseif op == "TGETS" or op == "TGETV" or op == "TGETB" then
    local name = op == "TGETS" and M.const(fn, ins.c) or (op == "TGETV" and kstr[ins.c]) or nil
    if creg[ins.b] then
      if name then out.reads[name] = out.reads[name] or ins.line else out.dynamic = out.dynamic or ins.line end
    end
    local t = known[ins.b]
    local v = type(t) == "table" and name and rawget(t, name)
    creg[a], kstr[a], known[a] = nil, nil, (type(v) == "function" or type(v) == "table") and v or nil
    return
  elseif op == "TSETS" or op == "TSETV" or op == "TSETB" then
    if creg[ins.b] then
      local name = op == "TSETS" and M.const(fn, ins.c) or kstr[ins.c] or "?"
      out.writes[name] = out.writes[name] or ins.line
    end
    if creg[a] then out.dynamic = out.dynamic or ins.line end -- c stored in a table
    return
  elseif op:sub(1, 4) == "CALL" then
    follow_call(job, fn, ins, st, out, depth)
  elseif op == "FNEW" then
    local child = M.const(fn, ins.d)
    if next(st.cnames) then merge(out, analyse(job, child, nil, st.cnames, depth + 1)) end
    creg[a], kstr[a], known[a] = nil, nil, child
    return
  end
  if ins.ma == MODE_DST then creg[a], kstr[a], known[a] = nil, nil, nil
  elseif ins.ma == MODE_BASE then
    for r in pairs(creg) do if r >= a then creg[r] = nil end end
    for r in pairs(kstr) do if r >= a then kstr[r] = nil end end
    for r in pairs(known) do if r >= a then known[r] = nil end end
  end
end

local memo = setmetatable({}, { __mode = "k" })
analyse = function(job, fn, slot, uvnames, depth)
  local key = (slot or "u") .. ":" .. (uvnames and table.concat((function() local l = {} for n in pairs(uvnames) do l[#l + 1] = n end table.sort(l) return l end)(), ",") or "")
  memo[fn] = memo[fn] or {}
  if memo[fn][key] then return memo[fn][key] end
  local out = { reads = {}, writes = {}, globals = {}, sets = {}, dynamic = nil }
  memo[fn][key] = out -- a helper calling itself adds nothing new
  if depth > 20 then return out end
  local st = { creg = {}, kstr = {}, known = {}, cuv = uvnames or {}, cnames = {}, env = job.env }
  if slot then
    st.creg[slot] = true
    local name = type(fn) == "function" and debug.getlocal(fn, slot + 1)
    if name then st.cnames[name] = true end
  end
  for name in pairs(st.cuv) do st.cnames[name] = true end
  for pc, ins in ipairs(M.decode(fn)) do step(job, fn, pc, ins, st, out, depth) end
  return out
end

-- What the per-entity function fn (whose first parameter is the entity) does with it.
function M.access(job, fn)
  if type(fn) ~= "function" or not M.user_info(job, fn) then
    return { reads = {}, writes = {}, globals = {}, sets = {}, dynamic = nil }
  end
  return analyse(job, fn, 0, nil, 0)
end

return M
