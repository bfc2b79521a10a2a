-- tests/rules/sandbox/base.lua: a minimal valid rule file. tests/scripts/sandbox.sh puts each escape of
-- escapes.txt on line 8 (inside a rule) or line 12 (top level) and checks it is refused.
entity { file = "customers.csv.gz", key = "customer_id", columns = { customer_id = "text", signup_date = "date" } }
local events = history { file = "events.csv.gz", key = "customer_id", date = "event_date",
                         columns = { event_date = "date", event_type = "category" } }
feature("logins", count(events, { event_type = "login" }))
rule { "quiet", points = 10, when = function(c)
  local _ = c -- (escapes inside a rule go on this line)
  return c.logins == 0
end }
output { file = "list.csv", columns = { "customer_id", "score", "reason_codes" }, order = { "customer_id" } }
local _ = events -- (escapes at the top level go on this line)
