-- tests/rules/history.lua: a small job for the run history tests (tests/scripts/history.sh):
-- a customer's complaints in the last 30 days make the score, a cancel makes them defected.
entity {
  file = "customers.csv",
  key = "id",
  columns = { id = "text", fee = "decimal" },
}

local events = history {
  file = "events.csv",
  key = "id",
  date = "date",
  columns = { date = "date", type = "category" },
}

feature("complaints", count(events, { type = "complaint", last_days = 30 }))
feature("cancelled",  any(events, { type = "cancel" }))

rule { "complaint", points = 40, when = function(c) return c.complaints >= 1 end, reason = "complained" }
rule { "complaints", points = 30, when = function(c) return c.complaints >= 2 end, reason = "complained again" }

score(function(c) return c.points end)
bands { { "high", 60 }, { "medium", 30 }, { "low", 0 } }
stages {
  { "defected", function(c) return c.cancelled end },
  { "unhappy",  function(c) return c.complaints >= 1 end },
  { "ok" },
}
value("fee2", function(c) return c.fee * 2 end)

output {
  file = "risk.csv",
  where = function(c) return not c.cancelled and c.score >= 30 end,
  order = { "score desc", "id" },
  columns = { "rank", "id", "score", "band", "stage" },
}

metrics {
  file = "metrics_stage.csv",
  group_by = { "stage" },
  columns = { "stage", { "customers", count() } },
}

snapshot { keep = { "fee" }, defected = "cancelled", revenue = "fee" }
changes { file = "changes.csv", flows = "flows.csv", min_score_change = 30 }
trend { file = "trend_stage.csv", metrics = "metrics_stage.csv", nights = 2 }
churn { file = "churn.csv", nights = 12 }
backtest { outcome = "cancelled" }
