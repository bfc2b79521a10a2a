-- cdnow.lua: the purchase frequency of CDNOW as the BTYD models count it (tests/scripts/
-- transactions.sh): repeat purchases are distinct purchase days after the first, not log rows
-- (a customer may have several rows on one day). The customers are the log's keys.
local purchases = history {
  file = "CDNOW_master.txt",
  key = "customer_id",
  date = "date",
  delimiter = "spaces",
  date_format = "%Y%m%d",
  columns = { date = "date", number_of_cds = "int", dollar_value = "decimal" },
}
entity { from = purchases }
feature("first",      earliest(purchases, "date", {}))
feature("rows",       count(purchases, {}))
feature("days",       count_distinct(purchases, "date", {}))
feature("frequency",  function(c) return c.days - 1 end)            -- repeat purchase days
feature("spend",      sum(purchases, "dollar_value", {}))
feature("cds_value",  sum(purchases, product("number_of_cds", "dollar_value"), {}))
feature("first_week", count_distinct(purchases, "date", { days_from = { "first", 0, 6 } }))
feature("top_cds",    most_frequent(purchases, "number_of_cds", {}))
output {
  file = "frequency.csv",
  order = { "customer_id" },
  columns = { "customer_id", "first", "rows", "days", "frequency", "spend", "cds_value", "first_week", "top_cds" },
}
