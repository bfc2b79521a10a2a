-- gen.lua: a BG/NBD and Gamma-Gamma model on defector-gen's schema (tests/scripts/models.sh:
-- the same bytes whatever --threads; docs/performance.md: fit and score on size M). Fitted over
-- every customer's purchases, in days.
entity {
  file = "customers.csv.gz",
  key = "customer_id",
  columns = { customer_id = "text", segment = "category", monthly_fee = "decimal" },
}
local events = history {
  file = "events.csv.gz",
  key = "customer_id",
  date = "event_date",
  columns = { event_date = "date", event_type = "category", amount = "decimal" },
}
local buyers = bgnbd {
  history = events,
  filter = { event_type = "purchase", amount = present },
  unit = "days",
  spend = "amount",
  fit = "bgnbd_fit.csv",
}
feature("purchases", buyers.frequency)
feature("p_alive", buyers.p_alive)
feature("expected_90", buyers.expected_purchases(90))
feature("clv", buyers.clv { months = 12, discount = 0.01 })

rule { "fading", points = 40,
  when = function(c) return c.purchases ~= nil and c.purchases > 0 and c.p_alive < 0.3 end,
  reason = "P(alive) {p_alive}" }

output {
  file = "model_list.csv",
  where = function(c) return c.p_alive ~= nil and c.p_alive < 0.3 end,
  order = { "clv desc", "customer_id" },
  columns = { "rank", "customer_id", "purchases", "p_alive", "expected_90", "clv", "reasons" },
}

metrics {
  file = "model_segment.csv",
  group_by = { "segment" },
  columns = { "segment", { "customers", count() }, { "p_alive", avg("p_alive", 4) }, { "expected_90", sum("expected_90", 2) },
              { "clv", sum("clv", 2) } },
}
