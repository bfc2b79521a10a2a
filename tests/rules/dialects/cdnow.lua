-- cdnow.lua: CDNOW's purchase log (tests/data/cdnow) as published: columns aligned with runs of
-- spaces (delimiter = "spaces"), CRLF, dates yyyymmdd (date_format = "%Y%m%d"), customer ids
-- zero-padded. There is no customer file: the log is read twice, as the customers (one row per
-- customer_id, the repeats counted) and as the history of purchases, named CDNOW_master after
-- its file.
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
feature("purchases", count(purchases, {}))
feature("first", earliest(purchases, "date", {}))
feature("cohort", function(c) return month(c.first) end)
feature("cds", sum(purchases, "number_of_cds", {}))
feature("dollars", sum(purchases, "dollar_value", {}))
feature("repeat_1997", count(purchases, { date = at_most("1997-12-31") }))
metrics {
  file = "cohorts.csv",
  group_by = { "cohort" },
  columns = { "cohort", { "customers", count() }, { "purchases", sum("purchases") }, { "cds", sum("cds") },
              { "dollars", sum("dollars", 2) }, { "in_1997", sum("repeat_1997") } },
}
