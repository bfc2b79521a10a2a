-- Lookup tables and overrides, maintained by business users beside the rule file.
entity { file = "customers.csv.gz", key = "customer_id",
         columns = { customer_id = "text", segment = "category", renewal_date = "date" } }
local windows = lookup { file = "renewal_windows.csv", key = "segment" }
local strategic = lookup { file = "strategic.csv", key = "customer_id" }
feature("days_to_renewal", function(c) return c.renewal_date and c.renewal_date - AS_OF end)
rule { "renewal_due", points = 20, reason = "renewal due in {days_to_renewal} days",
  when = function(c) return between(c.days_to_renewal, 0, windows[c.segment].days) end }
rule { "strategic", points = 40, reason = "strategic account",
  when = function(c) return strategic[c.customer_id] ~= nil end }
bands { { "high", 60 }, { "medium", 30 }, { "low", 0 } }
overrides { file = "overrides.csv", key = "customer_id" }
output { file = "list.csv", order = { "customer_id" },
         columns = { "customer_id", "points", "score", "band", "reason_codes", "reasons" } }
