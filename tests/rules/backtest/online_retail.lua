-- online_retail.lua: a backtest of simple recency and frequency rules on the UCI Online Retail
-- export (tests/data/online-retail-customers: every line of 85 customers), docs/history.md.
-- Replayed at 2011-06-01 with --horizon 180: the outcome is no purchase in the 180 days after.
-- The customers are the file itself read as the entity (one row per CustomerID, the repeats
-- counted); a purchase is an invoice line that is not a cancellation (InvoiceNo "C...").
entity {
  file = "online-retail-customers.csv.gz",
  name = "customers",
  key = "CustomerID",
  columns = { CustomerID = "text", Country = "text" },
}
local lines = history {
  file = "online-retail-customers.csv.gz",
  key = "CustomerID",
  date = "InvoiceDate",
  date_format = "%Y-%m-%d %H:%M:%S",
  columns = { InvoiceDate = "date", InvoiceNo = "text", Quantity = "int", UnitPrice = "decimal" },
}
local function purchase(v) return v:sub(1, 1) ~= "C" end
local function cancellation(v) return v:sub(1, 1) == "C" end

feature("first_purchase", earliest(lines, "InvoiceDate", { InvoiceNo = purchase }))
feature("last_purchase",  latest(lines, "InvoiceDate", { InvoiceNo = purchase }, "lowest"))
feature("lines_90",       count(lines, { InvoiceNo = purchase, last_days = 90 }))
feature("returns_180",    count(lines, { InvoiceNo = cancellation, last_days = 180 }))
feature("days_since",     function(c) return c.last_purchase and AS_OF - c.last_purchase end)
feature("tenure",         function(c) return c.first_purchase and AS_OF - c.first_purchase end)

rule { "lapsing",   points = 30, when = function(c) return c.days_since ~= nil and c.days_since > 60 end,
       reason = "no purchase for {days_since} days" }
rule { "gone_quiet", points = 30, when = function(c) return c.days_since ~= nil and c.days_since > 120 end,
       reason = "no purchase for over 120 days" }
rule { "few_lines", points = 20, when = function(c) return c.lines_90 < 10 end,
       reason = "{lines_90} lines in 90 days" }
rule { "returns",   points = 10, when = function(c) return c.returns_180 > 0 end,
       reason = "{returns_180} returns in 180 days" }
rule { "new",       points = 10, when = function(c) return c.tenure ~= nil and c.tenure < 60 end,
       reason = "first purchase {tenure} days ago" }

score(function(c) return math.min(100, c.points) end)
bands { { "high", 60 }, { "medium", 30 }, { "low", 0 } }

-- on or before the as-of date: a customer yet; read 180 days later: no purchase since then
value("customer_yet",    function(c) return c.last_purchase ~= nil end)
value("no_purchase_180", function(c) return c.last_purchase == nil or AS_OF - c.last_purchase >= 180 end)

output {
  file = "risk_list.csv",
  where = function(c) return c.customer_yet and c.score >= 30 end,
  order = { "score desc", "CustomerID" },
  columns = { "rank", "CustomerID", "Country", "score", "band", "reason_codes" },
}
backtest { outcome = "no_purchase_180", eligible = "customer_yet", k = { 10 } }
