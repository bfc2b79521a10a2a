-- cdnow.lua: the BG/NBD and Gamma-Gamma models on CDNOW's 1/10 sample (tests/scripts/models.sh),
-- the literature's set-up: weeks, a 39-week calibration (1997-01-01 .. 1997-09-30), weeks 40-78
-- the holdout (AS_OF 1998-06-30). The log is read twice: as the customers (one row per
-- sampleid, the repeats counted) and as the purchases. Every model value is a feature, shown in
-- a rule's reason, listed in an output and summed in a metrics table.
entity {
  file = "cdnow_sample.txt",
  name = "customers",
  key = "sampleid",
  delimiter = "spaces",
  columns = { sampleid = "text" },
}
local purchases = history {
  file = "cdnow_sample.txt",
  key = "sampleid",
  date = "date",
  delimiter = "spaces",
  date_format = "%Y%m%d",
  columns = { date = "date", cds = "int", sales = "decimal" },
}

local buyers = bgnbd {
  history = purchases,
  unit = "weeks",
  calibration_end = "1997-09-30",
  spend = "sales",
  fit = "bgnbd_fit.csv",
}

feature("x", buyers.frequency)
feature("t_x", buyers.recency)
feature("T", buyers.age)
feature("x_star", buyers.holdout)
feature("zbar", buyers.spend)
feature("p_alive", buyers.p_alive)
feature("e39", buyers.expected_purchases(39))
feature("e52", buyers.expected_purchases(52))
feature("spend", buyers.expected_spend)
feature("clv", buyers.clv { months = 12, discount = 0.01 })
feature("new52", buyers.expected_new(52))
feature("bin", function(c) return math.min(c.x, 7) end)

rule { "fading", points = 50,
  when = function(c) return c.x > 0 and c.p_alive < 0.5 end,
  reason = "P(alive) {p_alive}" }

output {
  file = "customers.csv",
  order = { "sampleid" },
  columns = { "sampleid", "x", "t_x", "T", "x_star", "zbar", "p_alive", "e39", "e52", "spend", "clv", "new52", "reasons" },
}

metrics {
  file = "holdout.csv",
  group_by = { "bin" },
  columns = { "bin", { "customers", count() }, { "actual", avg("x_star", 6) }, { "expected", avg("e39", 6) } },
}
