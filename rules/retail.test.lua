-- retail.test.lua: a case for each rule of retail.lua and its edges (defector test rules/retail.lua).
-- A case's customer is its CustomerID; its invoice lines are listed under lines.
local UK = "United Kingdom"
local function line(no, day, qty, price, country)
  return { InvoiceNo = no, InvoiceDate = day, Quantity = qty, UnitPrice = price, Country = country or UK }
end

case { "two orders, a line returned: orders are invoices, amounts exact", as_of = "2011-12-09",
  customer = { CustomerID = "17850.0" },
  lines = { line("536365", "2011-12-01", "6", "2.55"), line("536365", "2011-12-01", "2", "1.10"),
            line("536400", "2011-12-05", "1", "3", "France"), line("C536401", "2011-12-06", "-1", "3", "France") },
  expect = { orders = 2, lines_bought = 3, spend = 20.5, returned = -3, return_orders = 1,
             country = "France", avg_order = 10.25, rules = {}, stage = "active" } }

case { "one order 99 days ago: lapsing, one order", as_of = "2011-12-09",
  customer = { CustomerID = "12347.0" },
  lines = { line("540001", "2011-09-01", "12", "0.85") },
  expect = { rules = { "lapsing", "one_order" }, days_since = 99, score = 50, band = "medium", stage = "lapsing" } }

case { "four orders, none since April: lapsing, gone quiet, slowing", as_of = "2011-12-09",
  customer = { CustomerID = "12348.0" },
  lines = { line("540010", "2011-01-10", "1", "5"), line("540020", "2011-02-10", "1", "5"),
            line("540030", "2011-03-10", "1", "5"), line("540040", "2011-04-10", "1", "5") },
  expect = { orders = 4, orders_90 = 0, rules = { "lapsing", "gone_quiet", "slowing" }, score = 70, band = "high", stage = "lapsed" } }

case { "a third of the spend returned", as_of = "2011-12-09",
  customer = { CustomerID = "12349.0" },
  lines = { line("540050", "2011-12-01", "10", "2"), line("C540051", "2011-12-02", "-3", "2") },
  expect = { return_share = 0.3, rules = { "returns" } } }

case { "returns only: no purchase, no rule", as_of = "2011-12-09",
  customer = { CustomerID = "12350.0" },
  lines = { line("C540060", "2011-11-02", "-2", "4") },
  expect = { first_purchase = empty, orders = 0, returned = -8, rules = {}, stage = "no_purchase" } }

case { "repeat orders: days 1 to 90 after the first purchase, not day 0 or 91", as_of = "2011-12-09",
  customer = { CustomerID = "12351.0" },
  lines = { line("540070", "2011-06-01", "1", "10"), line("540071", "2011-06-02", "2", "10"),
            line("540072", "2011-08-30", "1", "7.5"), line("540073", "2011-08-31", "1", "99") },
  expect = { repeat_orders_90 = 2, repeat_spend_90 = 27.5, repeat_order_value = 13.75, months_active = 1 + 2 ^ 2 } }
