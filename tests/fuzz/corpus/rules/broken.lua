-- A rule file with a mistake on purpose on many lines: tests/scripts/check.sh expects
-- `defector check` to report each of them with its line number.
entity {
  file = "customers.csv.gz",
  key = "customer_id",
  columns = { customer_id = "text", segmnt = "category", signup_date = "date", monthly_fee = "decimal" },
}
local events = history {
  file = "events.csv.gz", key = "customer_id", date = "event_date",
  columns = { event_date = "date", event_type = "category" },
}
feature("tenure_days", function(c) return AS_OF - c.signup_date end)
feature("complaints_90", count(events, { event_type = "complaint", last_days = 90 }))
feature("complaints_90", count(events, { event_type = "complaint", last_days = 30 }))
rule { "complaints", points = 20, when = function(c) return c.complaints_9 >= 2 end }
rule { "complaints", points = 10, when = function(c) return c.tenure_days < 90 end }
rule { "new", points = "ten", when = function(c) return c.tenure_days < 90 end }
rule { "quiet", points = 5, when = function(c) return c.tenure_days > 30 end, reason = "quiet for {tenur_days} days" }
scor(function(c) return math.min(100, c.points) end)
bands { { "high", 60 }, { "medium", 30 } }
stages { { "new", function(c) return c.tenure_days < 90 end }, { "active" }, { "lapsed", function(c) return true end } }
threshold = 5
output { file = "risk.csv", columns = { "customer_id", "score", "revenue" } }
