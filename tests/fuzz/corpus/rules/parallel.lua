-- tests/rules/parallel/scoring.lua: a rule file for tests/scripts/parallel_scoring.sh. It has
-- what must come out the same whatever the number of scoring threads: a rule that fails for
-- some customers (no renewal date), list rows with ties in the order, metric groups first seen
-- in different parts, sums of non-whole numbers without places, and an empty group value.
entity {
  file = "customers.csv.gz", key = "customer_id",
  columns = { customer_id = "text", segment = "category", signup_date = "date",
              renewal_date = "date", monthly_fee = "decimal" },
}
local events = history {
  file = "events.csv.gz", key = "customer_id", date = "event_date",
  columns = { event_date = "date", event_type = "category", amount = "decimal" },
}
feature("logins", count(events, { event_type = "login" }))
feature("spend", sum(events, "amount", { event_type = "purchase" }))
feature("last_nps", latest(events, "amount", { event_type = "nps", amount = present }, "lowest"))
feature("fee_third", function(c) return c.monthly_fee / 3 end)
feature("huge", function(c) return 2 ^ 51 end)                       -- sums past 2^53
feature("huge_third", function(c) return c.monthly_fee * 1e6 / 3 end) -- millionths past 2^52
-- +4e18 for the first three customers, -4e18 for the last three: the running sum passes what
-- an int64 holds, the total (0) does not; the outcome must not depend on the parts
feature("swing", function(c)
  if c.customer_id <= "C0000003" then return 4e18 elseif c.customer_id >= "C0002998" then return -4e18 end
  return 0
end)


rule { "fragile", points = 10, when = function(c) return c.renewal_date - AS_OF < 90 end,
       reason = "renewal within 90 days" }
rule { "quiet", points = 20, when = function(c) return c.logins < 3 end, reason = "{logins} logins" }
rule { "detractor", points = 15, when = function(c) return c.last_nps ~= nil and c.last_nps <= 6 end,
       reason = "NPS {last_nps}" }
bands { { "high", 30 }, { "medium", 15 } }
stages { { "nps_known", function(c) return c.last_nps ~= nil end }, { "other" } }

output {
  file = "list.csv", where = function(c) return c.score > 0 end,
  order = { "score desc" }, -- ties keep customer order
  columns = { "rank", "customer_id", "score", "band", "reason_codes", "reasons", "spend", "fee_third" },
}
metrics {
  file = "by_band.csv", group_by = { "segment", "band" },
  columns = { "segment", "band", { "customers", count() }, { "fee_third", sum("fee_third") },
              { "spend", sum("spend") }, { "avg_fee", avg("monthly_fee", 3) }, { "logins", sum("logins") } },
}
metrics {
  file = "all.csv",
  columns = { { "customers", count() }, { "fee_third", sum("fee_third") }, { "huge", sum("huge") },
              { "huge_third", sum("huge_third") }, { "swing", sum("swing") },
              { "nps_known", count(function(c) return c.last_nps ~= nil end) } },
}
