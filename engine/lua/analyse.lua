-- analyse.lua: once the rule file has run, what it declared must hang together: an entity and
-- at least one output; outputs naming declared fields; report sections naming outputs and their
-- columns; overrides forcing declared bands; no
-- function keeping values across entities (purity.lua); and the per-entity computation in
-- dependency order, with every read defined and no cycle (depend.lua). Shared by run (which
-- stops at the first problem) and check (which lists them all).
local E = require("defector.errors")
local J = require("defector.job")
local outputs = require("defector.outputs")
local lookups = require("defector.lookups")
local purity = require("defector.purity")
local depend = require("defector.depend")

local M = {}

function M.finish(job)
  if not job.entity and not job.entity_failed then
    E.record(job, job.file, "the rule file declares no entity table", "add entity { file = ..., key = ..., columns = {...} }")
  end
  if #job.outputs == 0 then
    E.record(job, job.file, "the rule file declares no output", "add output { ... } or metrics { ... }")
  end
  require("defector.actions").finish(job) -- next_action, action_rule, due_date
  for _, name in ipairs(J.BUILTIN) do job.fields[name] = job.fields[name] or "builtin" end
  outputs.check_fields(job)
  require("defector.transactions").check(job) -- retention_triangle's first and active
  require("defector.report").check(job)
  require("defector.history").check(job)
  lookups.check_overrides(job)
  purity.check(job)
  depend.order(job)
end

return M
