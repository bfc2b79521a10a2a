-- retail.lua: a retention job on a transaction export as it is, the UCI Online Retail file
-- (one line per invoice line: InvoiceNo, StockCode, Description, Quantity, InvoiceDate,
-- UnitPrice, CustomerID, Country), with no customer table: the customers are the CustomerIDs
-- of the lines (docs/rules.md, "Transaction exports"). Writes a risk list, a table per country
-- and the retention triangle (cohort = month of the first purchase, by months since).
--
--   defector run rules/retail.lua --data tests/data/online-retail -o out/retail --as-of 2011-12-09
--
-- What the lines mean here, decided once:
--   * a line without a CustomerID (a quarter of the file: sales to unregistered buyers) belongs
--     to no customer: set aside and counted (run_summary.json inputs[].empty_keys);
--   * a purchase is a line with Quantity > 0; a return or cancellation a line with Quantity < 0.
--     In this export every line of a customer with Quantity < 0 has an invoice number starting
--     with "C" and every "C" invoice has Quantity < 0 (tests/scripts/retail.sh checks it), so
--     the sign says it without reading the invoice number as text;
--   * an order is an invoice: orders are distinct InvoiceNo, never invoice lines;
--   * an amount is Quantity x UnitPrice, exact (UnitPrice has up to 3 decimals).

local lines = history {
  file = "online-retail-all.csv.gz",
  name = "lines",                       -- in test cases: lines = { {...}, ... }
  key = "CustomerID",                   -- written as 17850.0: a text key, compared byte for byte
  date = "InvoiceDate",
  date_format = "%Y-%m-%d %H:%M:%S",    -- the original UCI file: "%m/%d/%Y %H:%M"
  columns = { InvoiceNo = "text", InvoiceDate = "date", Quantity = "int", UnitPrice = "decimal",
              Country = "category" },
}
entity { from = lines, name = "customers" } -- one customer per CustomerID

local purchases = { Quantity = above(0) }
local returns = { Quantity = below(0) }
local amount = product("Quantity", "UnitPrice")

feature("first_purchase", earliest(lines, "InvoiceDate", purchases))
feature("last_purchase",  latest(lines, "InvoiceDate", purchases))
feature("orders",         count_distinct(lines, "InvoiceNo", purchases))
feature("orders_90",      count_distinct(lines, "InvoiceNo", { Quantity = above(0), last_days = 90 }))
feature("purchase_days",  count_distinct(lines, "InvoiceDate", purchases))
feature("lines_bought",   count(lines, purchases))
feature("spend",          sum(lines, amount, purchases))
feature("spend_365",      sum(lines, amount, { Quantity = above(0), last_days = 365 }))
feature("returned",       sum(lines, amount, returns))  -- negative: what the returns took back
feature("return_orders",  count_distinct(lines, "InvoiceNo", returns))
feature("country",        most_frequent(lines, "Country", {}))
feature("months_active",  active_months(lines, purchases))
-- windows from the customer's own first purchase: orders and spend in the 90 days after it
-- (not the first day: a repeat purchase), whatever the as-of date
local repeat_90 = { Quantity = above(0), days_from = { "first_purchase", 1, 90 } }
feature("repeat_orders_90", count_distinct(lines, "InvoiceNo", repeat_90))
feature("repeat_spend_90",  sum(lines, amount, repeat_90))

feature("days_since",  function(c) return c.last_purchase and AS_OF - c.last_purchase end)
feature("tenure",      function(c) return c.first_purchase and AS_OF - c.first_purchase end)
feature("avg_order",   function(c) return c.orders > 0 and round(c.spend / c.orders, 2) or nil end)
feature("repeat_order_value", function(c)   -- the mean value of a repeat order in those 90 days
  return c.repeat_orders_90 > 0 and round(c.repeat_spend_90 / c.repeat_orders_90, 2) or nil end)
feature("return_share", function(c) return c.spend > 0 and round(-c.returned / c.spend, 4) or nil end)

local function buyer(c) return c.first_purchase ~= nil end

rule { "lapsing", points = 30,
  when = function(c) return buyer(c) and c.days_since > 90 end,
  reason = "no order for {days_since} days" }
rule { "gone_quiet", points = 25,
  when = function(c) return buyer(c) and c.days_since > 180 end,
  reason = "no order for over 180 days" }
rule { "one_order", points = 20,
  when = function(c) return c.orders == 1 and c.tenure > 60 end,
  reason = "one order only, {tenure} days ago" }
rule { "slowing", points = 15,
  when = function(c) return c.orders >= 4 and c.orders_90 == 0 end,
  reason = "{orders} orders, none in 90 days" }
rule { "returns", points = 10,
  when = function(c) return c.return_share ~= nil and c.return_share > 0.2 end,
  reason = "returned {return_share} of what was bought" }

score(function(c) return math.min(100, c.points) end)
bands { { "high", 60 }, { "medium", 30 }, { "low", 0 } }
stages {
  { "no_purchase", function(c) return not buyer(c) end },  -- returns only, within the export
  { "lapsed",  function(c) return c.days_since > 180 end },
  { "lapsing", function(c) return c.days_since > 90 end },
  { "active" },
}
value("value_at_risk", function(c) return round(c.spend_365 * c.score / 100, 2) end)

output {
  file = "risk_list.csv",
  where = function(c) return buyer(c) and c.score >= 30 end,
  order = { "value_at_risk desc", "CustomerID" },
  columns = { "rank", "CustomerID", "country", "score", "band", "orders", "spend_365", "days_since",
              "value_at_risk", "reason_codes", "reasons" },
}
output {
  file = "customers.csv",
  order = { "CustomerID" },
  columns = { "CustomerID", "country", "first_purchase", "last_purchase", "orders", "purchase_days",
              "lines_bought", "spend", "returned", "return_orders", "avg_order", "repeat_orders_90",
              "repeat_spend_90", "repeat_order_value", "stage" },
}
metrics {
  file = "countries.csv",
  group_by = { "country" },
  columns = { "country",
              { "customers", count() },
              { "buyers", count(buyer) },
              { "orders", sum("orders") },
              { "spend", sum("spend", 2) },
              { "returned", sum("returned", 2) },
              { "at_risk", count(function(c) return c.score >= 30 and buyer(c) end) },
              { "value_at_risk", sum("value_at_risk", 2) } },
}
retention_triangle {
  file = "retention_triangle.csv",
  first = "first_purchase",           -- month 0: the month of the first purchase
  active = "months_active",           -- the months with a purchase, from the same lines
  cohort = "cohort",                  -- declared by the triangle: "2010-12"
  periods = 12,
}
