-- a minimal rule file for the sandbox tests; ESCAPE is replaced by each attempt
entity { file = "customers.csv.gz", key = "customer_id", columns = { customer_id = "text", signup_date = "date" } }
local events = history { file = "events.csv.gz", key = "customer_id", date = "event_date",
                         columns = { event_date = "date", event_type = "category" } }
feature("logins", count(events, { event_type = "login" }))
rule { "quiet", points = 10, when = function(c) return c.logins == 0 end }
output { file = "list.csv", columns = { "customer_id", "score", "reason_codes" }, order = { "customer_id" } }
