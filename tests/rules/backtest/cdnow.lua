-- cdnow.lua: a backtest of recency, frequency and monetary rules on CDNOW (tests/data/cdnow:
-- customers 00001 to 01000, every purchase), docs/history.md. The classic split: 39 weeks of
-- calibration (1997-01-01 to 1997-09-30: --as-of 1997-09-30) and the remaining 39 weeks as the
-- outcome (--horizon 273, to 1998-06-30): no purchase in them. The log is read twice, as the
-- customers and as the purchases (tests/rules/dialects/cdnow.lua).
entity {
  file = "CDNOW_master.txt",
  name = "customers",
  key = "customer_id",
  delimiter = "spaces",
  columns = { customer_id = "text" },
}
local purchases = history {
  file = "CDNOW_master.txt",
  key = "customer_id",
  date = "date",
  delimiter = "spaces",
  date_format = "%Y%m%d",
  columns = { date = "date", number_of_cds = "int", dollar_value = "decimal" },
}
feature("first",     earliest(purchases, "date", {}))
feature("last",      latest(purchases, "date", {}, "lowest"))
feature("purchases", count(purchases, {}))
feature("dollars",   sum(purchases, "dollar_value", {}))
feature("recency",   function(c) return c.last and AS_OF - c.last end)

rule { "one_time",  points = 40, when = function(c) return c.purchases == 1 end, reason = "one purchase only" }
rule { "lapsed",    points = 30, when = function(c) return c.recency ~= nil and c.recency > 180 end,
       reason = "no purchase for {recency} days" }
rule { "cooling",   points = 15, when = function(c) return c.recency ~= nil and c.recency > 90 end,
       reason = "no purchase for over 90 days" }
rule { "small",     points = 15, when = function(c) return c.dollars < 30 end, reason = "spent {dollars}" }

score(function(c) return math.min(100, c.points) end)
bands { { "high", 60 }, { "medium", 30 }, { "low", 0 } }

value("customer_yet", function(c) return c.first ~= nil end)
value("no_repeat",    function(c) return c.last == nil or AS_OF - c.last >= 273 end)

output {
  file = "risk_list.csv",
  where = function(c) return c.customer_yet and c.score >= 30 end,
  order = { "score desc", "customer_id" },
  columns = { "rank", "customer_id", "score", "band", "reason_codes" },
}
backtest { outcome = "no_repeat", eligible = "customer_yet", k = { 100 } }
