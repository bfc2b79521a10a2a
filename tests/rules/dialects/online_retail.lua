-- online_retail.lua: the UCI Online Retail export (tests/data/online-retail) read as it is: its
-- InvoiceDate carries a time of day ("2010-12-01 08:26:00"), declared with date_format (the time
-- is checked, then dropped). A quarter of its lines have no CustomerID, so the entities here are
-- the countries (every line has one); the file is read twice, as the entity table (one row per
-- country, the repeats counted) and as the history of lines. The history's name comes from the
-- file name: online_retail_all.
entity {
  file = "online-retail-all.csv.gz",
  name = "countries",
  key = "Country",
  columns = { Country = "text" },
}
local lines = history {
  file = "online-retail-all.csv.gz",
  key = "Country",
  date = "InvoiceDate",
  date_format = "%Y-%m-%d %H:%M:%S",
  columns = { InvoiceDate = "date", InvoiceNo = "text", Quantity = "int", UnitPrice = "decimal", CustomerID = "text" },
}
feature("lines", count(lines, {}))
feature("quantity", sum(lines, "Quantity", {}))
feature("prices", sum(lines, "UnitPrice", {}))
feature("cancelled", count(lines, { InvoiceNo = function(v) return v:sub(1, 1) == "C" end }))
feature("no_customer", count(lines, { CustomerID = "" }))
feature("first", earliest(lines, "InvoiceDate", {}))
feature("last", latest(lines, "InvoiceDate", {}, "lowest"))
feature("in_2010", count(lines, { InvoiceDate = at_most("2010-12-31") }))
output {
  file = "countries.csv",
  order = { "Country" },
  columns = { "Country", "lines", "quantity", "prices", "cancelled", "no_customer", "first", "last", "in_2010" },
}
