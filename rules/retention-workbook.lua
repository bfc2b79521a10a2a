-- rules/retention-workbook.lua: the reference retention job (rules/retention.lua, whose outputs it
-- writes unchanged) plus outputs for spreadsheets (docs/rules.md, "Outputs for spreadsheets").
-- Read it top to bottom: what we read, what we compute per customer, the rules with their
-- points, how points become a score, a band and a lifecycle stage, and what we write.
-- To change a threshold, edit the number; to add a rule, copy one and change it.
-- AS_OF is the date the job runs "as of" (--as-of on the command line), in days.

----------------------------------------------------------------------------------------------
-- 1. What we read. Only the columns listed here are loaded; other columns are ignored.

entity {
  file = "customers.csv.gz",
  key = "customer_id",
  columns = {
    customer_id  = "text",
    name         = "text",
    segment      = "category",
    owner        = "category",
    signup_date  = "date",
    renewal_date = "date",     -- may be empty: no contract
    monthly_fee  = "decimal",
  },
  required = { "signup_date", "monthly_fee" },  -- a customer without them is bad input
}

local events = history {
  file = "events.csv.gz",
  key = "customer_id",
  date = "event_date",          -- events after AS_OF are ignored everywhere
  columns = {
    event_date = "date",
    event_type = "category",
    amount     = "decimal",
  },
  required = { "event_date" },
}

----------------------------------------------------------------------------------------------
-- 2. Features: what we know about each customer as of AS_OF.

local ACTIVITY = { "purchase", "renewal", "login", "support_ticket", "callback", "nps" }

feature("tenure_days",       function(c) return AS_OF - c.signup_date end)
feature("days_to_renewal",   function(c) return c.renewal_date and c.renewal_date - AS_OF end)
feature("last_activity",     latest(events, "event_date", { event_type = ACTIVITY }))
feature("days_inactive",     function(c) return AS_OF - (c.last_activity or c.signup_date) end)
feature("complaints_90",     count(events, { event_type = "complaint", last_days = 90 }))
feature("price_up_90",       any(events, { event_type = "price_change", amount = above(0), last_days = 90 }))
feature("voicemails_60",     count(events, { event_type = "voicemail", last_days = 60 }))
feature("callbacks_60",      count(events, { event_type = "callback", last_days = 60 }))
feature("promises_made_180", count(events, { event_type = "promise_made", last_days = 180 }))
feature("promises_kept_180", count(events, { event_type = "promise_kept", last_days = 180 }))
feature("open_promises_180", function(c) return c.promises_made_180 - c.promises_kept_180 end)
-- the latest NPS score that has a value; several on that day: the lowest
feature("last_nps",          latest(events, "amount", { event_type = "nps", amount = present }, "lowest"))
feature("defected",          any(events, { event_type = "cancel" }))

----------------------------------------------------------------------------------------------
-- 3. Rules, in the order they are shown. {name} in a reason shows that feature's value.

rule { "new_and_quiet", points = 15,
  when = function(c) return c.tenure_days < 90 and c.days_inactive > 30 end,
  reason = "new customer gone quiet" }

rule { "renewal_due", points = 20,
  when = function(c) return between(c.days_to_renewal, 0, 60) end,
  reason = "renewal due in {days_to_renewal} days" }

rule { "price_increase", points = 25,
  when = function(c) return c.price_up_90 end,
  reason = "price increased in the last 90 days" }

rule { "complaints", points = 20,
  when = function(c) return c.complaints_90 >= 2 end,
  reason = "{complaints_90} complaints in 90 days" }

rule { "calls_unreturned", points = 10,
  when = function(c) return c.voicemails_60 > c.callbacks_60 end,
  reason = "calls not returned" }

rule { "broken_promises", points = 15,
  when = function(c) return c.open_promises_180 > 0 end,
  reason = "{open_promises_180} promises not kept" }

rule { "detractor", points = 15,
  when = function(c) return c.last_nps ~= nil and c.last_nps <= 6 end,
  reason = "detractor, NPS {last_nps}" }

rule { "inactive", points = 20,
  when = function(c) return c.days_inactive > 60 end,
  reason = "inactive for {days_inactive} days" }

----------------------------------------------------------------------------------------------
-- 4. Score, band, stage. c.points is the sum of the points of the rules that fired.

score(function(c) return math.min(100, c.points) end)

bands {                 -- the first band whose minimum the score reaches
  { "high",   60 },
  { "medium", 30 },
  { "low",     0 },
}

stages {                -- the first stage whose condition holds
  { "defected",            function(c) return c.defected end },
  { "lapsed",              function(c) return c.days_inactive > 60 end },
  { "post_price_increase", function(c) return c.price_up_90 end },
  { "pre_renewal",         function(c) return between(c.days_to_renewal, 0, 60) end },
  { "onboarding",          function(c) return c.tenure_days < 90 end },
  { "active" },
}

-- yearly revenue weighted by risk, rounded to cents (half away from zero)
value("revenue_at_risk", function(c) return round(c.monthly_fee * 12 * c.score / 100, 2) end)
value("cohort",          function(c) return quarter(c.signup_date) end)
value("not_defected",    function(c) return not c.defected end)

----------------------------------------------------------------------------------------------
-- 5. Outputs.

local function at_risk(c) return c.not_defected and c.score >= 30 end
local function still_customer(c) return c.not_defected end

output {
  file = "risk_list.csv",
  where = at_risk,
  order = { "revenue_at_risk desc", "customer_id" },
  columns = { "rank", "customer_id", "name", "segment", "owner", "score", "band", "stage",
              "revenue_at_risk", "reason_codes", "reasons" },
}

metrics {
  file = "metrics_segment.csv",
  where = still_customer,
  group_by = { "segment", "band" },          -- bands sort in their declared order
  columns = {
    "segment", "band",
    { "customers",       count() },
    { "avg_score",       avg("score", 2) },
    { "revenue_at_risk", sum("revenue_at_risk", 2) },
  },
}

metrics {
  file = "metrics_stage.csv",
  group_by = { "stage" },                    -- stages sort in their declared order
  columns = { "stage", { "customers", count() } },
}

metrics {
  file = "metrics_cohort.csv",
  group_by = { "cohort" },
  columns = {
    "cohort",
    { "customers",      count() },
    { "defected",       count(function(c) return c.defected end) },
    { "retention_rate", function(row) return ratio(row.customers - row.defected, row.customers, 4) end },
  },
}

metrics {
  file = "metrics_service.csv",
  columns = {
    { "voicemails_60", sum("voicemails_60", nil, still_customer) },
    { "callbacks_60",  sum("callbacks_60", nil, still_customer) },
    { "callback_rate", function(row) return ratio(row.callbacks_60, row.voicemails_60, 4) end },
    { "complaints_90", sum("complaints_90") },
    { "detractors",    count(function(c) return c.last_nps ~= nil and c.last_nps <= 6 end) },
  },
}

-- the headline figures of the morning report (one row)
local function answered_nps(c) return c.not_defected and c.last_nps ~= nil end
metrics {
  file = "metrics_overview.csv",
  columns = {
    { "customers",          count(still_customer) },
    { "defected",           count(function(c) return c.defected end) },
    { "retention_rate",     function(row) return ratio(row.customers, row.customers + row.defected, 4) end },
    { "at_risk",            count(at_risk) },
    { "revenue_at_risk",    sum("revenue_at_risk", 2, at_risk) },
    { "promises_made_180",  sum("promises_made_180", nil, still_customer) },
    { "promises_kept_180",  sum("promises_kept_180", nil, still_customer) },
    { "open_promises",      count(function(c) return c.not_defected and c.open_promises_180 > 0 end) },
    { "nps_answers",        count(answered_nps) },
    { "promoters",          count(function(c) return answered_nps(c) and c.last_nps >= 9 end) },
    { "detractors",         count(function(c) return answered_nps(c) and c.last_nps <= 6 end) },
    { "nps",                function(row) return row.nps_answers > 0 and round(100 * (row.promoters - row.detractors) / row.nps_answers, 1) or nil end },
  },
}

-- The morning report: one page (report.html) drawn from the outputs above, every number a cell
-- of their CSV files. A chart of any metrics table is one line: { kind, title, from, x, y }.
report {
  file = "report.html",
  title = "Customer retention: the morning report",
  sections = {
    { "figures", "At a glance", from = "metrics_overview.csv",
      columns = { "customers", "at_risk", "revenue_at_risk", "retention_rate" },
      labels = { at_risk = "at risk (score 30 or more)", revenue_at_risk = "yearly revenue at risk", retention_rate = "retention rate" },
      percent = { "retention_rate" } },
    { "bars", "Customers by segment and risk band", from = "metrics_segment.csv", x = "segment", y = "customers", series = "band" },
    { "bars", "Yearly revenue at risk by segment", from = "metrics_segment.csv", x = "segment", y = "revenue_at_risk", series = "band" },
    { "funnel", "The defector pipeline: customers per stage", from = "metrics_stage.csv", x = "stage", y = "customers", reverse = true },
    { "line", "Retention by signup cohort", from = "metrics_cohort.csv", x = "cohort", y = "retention_rate", percent = true },
    { "figures", "Service: calls and complaints", from = "metrics_service.csv",
      labels = { voicemails_60 = "voicemails, 60 days", callbacks_60 = "callbacks, 60 days", callback_rate = "callbacks per voicemail",
                 complaints_90 = "complaints, 90 days", detractors = "detractors (NPS 0-6)" } },
    { "figures", "Service: promises and NPS", from = "metrics_overview.csv",
      columns = { "promises_made_180", "promises_kept_180", "open_promises", "nps_answers", "nps" },
      labels = { promises_made_180 = "promises made, 180 days", promises_kept_180 = "promises kept, 180 days",
                 open_promises = "customers with a promise not kept", nps_answers = "customers with an NPS answer", nps = "NPS (promoters - detractors, %)" } },
    { "top", "Top customers at risk per owner", from = "risk_list.csv", by = "owner", rows = 5,
      columns = { "rank", "customer_id", "name", "segment", "score", "revenue_at_risk", "reasons" } },
    { "table", "Signup cohorts in numbers", from = "metrics_cohort.csv" },
  },
}

-- History and backtest (docs/history.md). With --history DIR each night keeps a snapshot
-- per customer: these values beside score, band, stage and reasons. `defector backtest`
-- compares the scores with the outcome read --horizon days later: a cancel in between.

snapshot { keep = { "revenue_at_risk" }, defected = "defected", revenue = "monthly_fee" }
backtest { outcome = "defected", eligible = "not_defected", k = { 100, 1000 } }

----------------------------------------------------------------------------------------------
-- 7. Outputs for spreadsheets (docs/rules.md, "Outputs for spreadsheets").

local risk_columns = { "rank", "customer_id", "name", "segment", "owner", "score", "band", "stage",
                       "revenue_at_risk", "reason_codes", "reasons" }

-- The risk list for Excel in a European locale: a byte order mark (so Excel reads UTF-8),
-- ';' between cells, a decimal comma and money with two decimals (1234,50).
output {
  file = "risk_list_excel.csv",
  where = at_risk,
  order = { "revenue_at_risk desc", "customer_id" },
  columns = risk_columns,
  bom = true, separator = ";", decimal_comma = true,
  decimals = { revenue_at_risk = 2 },
}

-- Call lists: one file per account owner (calls-<owner>.csv), and calls-unassigned.csv for the
-- customers without one; each ranked from 1 in the risk list's order.
output {
  file = "calls.csv",
  where = at_risk,
  order = { "revenue_at_risk desc", "customer_id" },
  columns = { "rank", "customer_id", "name", "score", "band", "renewal_date", "revenue_at_risk", "reasons" },
  split_by = "owner", unassigned = "unassigned",
  decimals = { revenue_at_risk = 2 },
}

-- The same call lists as one workbook, a sheet per owner.
output {
  file = "calls.xlsx",
  where = at_risk,
  order = { "revenue_at_risk desc", "customer_id" },
  columns = { "rank", "customer_id", "name", "score", "band", "renewal_date", "revenue_at_risk", "reasons" },
  split_by = "owner",
  decimals = { revenue_at_risk = 2 },
}

-- The night's outputs as the sheets of one workbook (and a last sheet "run": as-of date, rule
-- file, inputs, rows per output, warnings). The CSV files are written as well, unchanged.
workbook {
  file = "retention.xlsx",
  sheets = {
    { "Risk list", "risk_list.csv", decimals = { revenue_at_risk = 2 } },
    { "Segments", "metrics_segment.csv", decimals = { avg_score = 2, revenue_at_risk = 2 } },
    { "Stages", "metrics_stage.csv" },
    { "Cohorts", "metrics_cohort.csv" },
    { "Service", "metrics_service.csv" },
  },
}
