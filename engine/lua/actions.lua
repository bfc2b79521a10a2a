-- actions.lua: what to do about a customer. A rule may name an action and a due time
-- (rule { "renewal_due", ..., action = "call", due = 14 }); when at least one does, every
-- customer gets three values that outputs, calls { } lists and explain show:
--   next_action  the action of the rule that fired with the most points among those that
--                have one (on a tie, the first in the file); nil when none fired
--   action_rule  that rule's code
--   due_date     AS_OF + its due days (a date); nil without an action
-- They are values made from the rules that fired (read through c.reason_codes), declared
-- here once the rule file has run (analyse.lua), so the dependency order places them after
-- the rules.
local M = {}

M.FIELDS = { "next_action", "action_rule", "due_date" }

-- The rule that decides the action among the codes that fired ("a;b;c"), or nil.
local function chosen(job, codes)
  local best
  for code in codes:gmatch("[^;]+") do
    local r = job.rule_codes[code]
    if r and r.action and (not best or r.points > best.points or (r.points == best.points and r.index < best.index)) then best = r end
  end
  return best
end

function M.finish(job)
  local first
  for _, r in ipairs(job.rules) do if r.action and not first then first = r end end
  if not first then return end
  for _, name in ipairs(M.FIELDS) do
    if job.fields[name] then
      require("defector.errors").record(job, job.file .. ":" .. tostring(job.field_line[name] or 0),
        string.format("'%s' is declared by the rule file, and rules with an action (line %d) make a value of that name", name, first.line),
        "use another name")
      return
    end
  end
  local as_of = job.as_of
  local fns = {
    next_action = function(c) local r = chosen(job, c.reason_codes); return r and r.action end,
    action_rule = function(c) local r = chosen(job, c.reason_codes); return r and r.code end,
    due_date = function(c) local r = chosen(job, c.reason_codes); return r and as_of + (r.due or 0) end,
  }
  for _, name in ipairs(M.FIELDS) do
    job.fields[name] = "value"
    job.field_line[name] = first.line
    job.values[#job.values + 1] = { name = name, fn = fns[name], line = first.line, engine = true }
  end
  job.date_values = job.date_values or {}
  job.date_values.due_date = true
end

return M
