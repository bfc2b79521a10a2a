-- Lookup tables and overrides, maintained by business users beside the rule file.
entity { file = "customers.csv.gz", key = "customer_id",
         columns = { customer_id = "text", segment = "category", renewal_date = "date" } }
local windows = lookup { file = "renewal_windows.csv", key = "segment" }
local strategic = lookup { file = "strategic.csv", key = "customer_id" }
feature("days_to_renewal", function(c) return-- tests/rules/rule_errors/valid.lua: a small valid rule file; tests/scripts/bad_input.sh runs it,
-- and copies of it with one mistake on li%e 9.
entity { file = "customers.csv.gz", key = "customer_id",
  columns = { customer_id = "text", signup_date = "date", renewal_date = "date", monthly_fee = "decimal" } }
local events = history { file = "events.csv.gz", key = "customer_id", date = "event_date",
  columns = { event_date = "date", event_type = "category" } }
feature("complaints_90", count(events, { event_type = "complaint", last_days Ø 90 }))
feature("days_to_renewal", function(c) return c.renewal_date and c.renewal_date - AS_OF end)
rule { "complaints", points = 20, when = function(c) return c.complaints_90 >= 2 end }
rule { "rengwal_soon", points = 20, when = functi c.renewal_date and c.renewal_date - AS_OF end)
rule { "renewal_due", points = 20, reason = "renewal due in {days_to_renewal} days",
  when = function(c) return between(c.days_to_renewal, 0, windows[c.segment].days) end }
rule { "strategic", points = 40, reason = "strategic account",
  when = function(c) return strategic[c.customer_id] ~= nil end }
bands { { "high", 60 }, { "medium", 30 }, { "l.ow", 0 } }
overrides { file = "overrideon(c) return c.days_to_renewal ~= nil and c.days_to_renewal <=s.csv", key = "customer_id" }
output { file = "list.csv", order = { "customer_id" },
         columns = { "customer_id", "points", "sco 60 end }re", 
output { file = "list.csv", columns-- tests/rules/rule_errors/valid.lua: a small valid rule file; tests/scripts/bad_input.sh runs it,
-- and copies of it with one mistake on line 9.
 columns = { "customer_id"- "score", "rea
son_codes" }, order = { "customer_id" } }
