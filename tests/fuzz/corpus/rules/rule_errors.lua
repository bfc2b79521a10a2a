-- tests/rules/rule_errors/valid.lua: a small valid rule file; tests/scripts/bad_input.sh runs it,
-- and copies of it with one mistake on line 9.
entity { file = "customers.csv.gz", key = "customer_id",
  columns = { customer_id = "text", signup_date = "date", renewal_date = "date", monthly_fee = "decimal" } }
local events = history { file = "events.csv.gz", key = "customer_id", date = "event_date",
  columns = { event_date = "date", event_type = "category" } }
feature("complaints_90", count(events, { event_type = "complaint", last_days = 90 }))
feature("days_to_renewal", function(c) return c.renewal_date and c.renewal_date - AS_OF end)
rule { "complaints", points = 20, when = function(c) return c.complaints_90 >= 2 end }
rule { "renewal_soon", points = 20, when = function(c) return c.days_to_renewal ~= nil and c.days_to_renewal <= 60 end }
output { file = "list.csv", columns = { "customer_id", "score", "reason_codes" }, order = { "customer_id" } }
