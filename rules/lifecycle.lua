-- rules/lifecycle.lua: from list to action (docs/lifecycle.md). Products and contracts that
-- expire, follow-ups that are due, actions with owners and due dates, and the service figures
-- the front line is measured by. Sample data: sample-data/lifecycle (scripts/gen-lifecycle-sample).
--
--   build/defector run rules/lifecycle.lua --data sample-data/lifecycle -o out/lifecycle --as-of 2026-11-01 --history hist
--
-- Outputs: reproposal_list.csv (products expiring in 30-90 days, not re-proposed since their
-- window began, per owner), followup_list.csv (the tickler file: no contact for longer than
-- the segment allows, oldest first, per owner), calls.csv (every customer with an action, per
-- owner, 3 a day, with cool-down), metrics_service.csv, metrics_products.csv and, with
-- --history, save_rate.csv.

----------------------------------------------------------------------------------------------
-- 1. What we read: customers, their events (with the time of day) and their products.

entity {
  file = "customers.csv.gz",
  key = "customer_id",
  columns = {
    customer_id  = "text",
    name         = "text",
    segment      = category { "smb", "mid", "enterprise" },
    owner        = "category",
    signup_date  = "date",
    renewal_date = "date",
    monthly_fee  = "decimal",
  },
  required = { "signup_date", "monthly_fee" },
}

local events = history {
  file = "events.csv.gz",
  key = "customer_id",
  date = "event_date",
  columns = {
    event_date = "date",
    event_at   = "datetime",   -- 2026-10-01 14:30: times in hours
    event_type = category { "login", "purchase", "voicemail", "callback", "complaint", "resolution", "sale",
                            "contact", "reproposal", "nps", "promise_made", "promise_kept", "cancel" },
    amount     = "decimal",
  },
  required = { "event_date" },
}

local products = history {      -- an interval table: one row per product held
  file = "products.csv.gz",
  key = "customer_id",
  date = "start_date",
  ends = "end_date",            -- empty: no end (open-ended)
  columns = { product = "category", start_date = "date", end_date = "date", value = "decimal" },
  required = { "start_date" },
}

----------------------------------------------------------------------------------------------
-- 2. Features.

-- our contacts with the customer, and how long each segment may go without one (the tickler)
local CONTACT = { "contact", "callback", "reproposal" }
local FOLLOW_UP_DAYS = { smb = 120, mid = 90, enterprise = 45 }

feature("tenure_days",      function(c) return AS_OF - c.signup_date end)
feature("days_to_renewal",  function(c) return c.renewal_date and c.renewal_date - AS_OF end)

-- products
feature("active_products",  count(products, { active = true }))
feature("lapsed_products",  count(products, { active = false }))
feature("expiring_30_90",   count(products, { ends_within = { 30, 90 } }))
feature("value_expiring",   sum(products, "value", { ends_within = { 30, 90 } }))
feature("next_expiry",      min(products, "end_date", { ends_within = { 30, 90 } }))
feature("last_reproposal",  latest(events, "event_date", { event_type = "reproposal" }))
-- a product's re-proposal window begins 90 days before it ends
feature("needs_reproposal", function(c)
  return c.next_expiry ~= nil and (c.last_reproposal == nil or c.last_reproposal < c.next_expiry - 90)
end)

-- follow-up
feature("last_contact",       latest(events, "event_date", { event_type = CONTACT }))
feature("days_since_contact", function(c) return AS_OF - (c.last_contact or c.signup_date) end)
feature("follow_up_due",      function(c) return c.days_since_contact > FOLLOW_UP_DAYS[c.segment] end)

-- service: times from an event to the next one of another type
feature("callback_hours",     time_to_next(events, { from = { event_type = "voicemail" }, to = { event_type = "callback" },
                                                     at = "event_at", unit = "hours", last_days = 90 }))
feature("voicemails_missed",  time_to_next(events, { from = { event_type = "voicemail" }, to = { event_type = "callback" },
                                                     at = "event_at", unit = "hours", within = 24, last_days = 90, result = "missed" }))
feature("resolve_days",       time_to_next(events, { from = { event_type = "complaint" }, to = { event_type = "resolution" },
                                                     last_days = 180 }))
feature("complaints_open",    time_to_next(events, { from = { event_type = "complaint" }, to = { event_type = "resolution" },
                                                     within = 14, last_days = 180, result = "missed" }))
feature("sale_to_contact_days", time_to_next(events, { from = { event_type = "sale" }, to = { event_type = "contact" }, result = "first" }))
feature("complained_180",     any(events, { event_type = "complaint", last_days = 180 }))
feature("promises_made_180",  count(events, { event_type = "promise_made", last_days = 180 }))
feature("promises_kept_180",  count(events, { event_type = "promise_kept", last_days = 180 }))
feature("last_nps",           latest(events, "amount", { event_type = "nps", amount = present }, "lowest"))
feature("defected",           any(events, { event_type = "cancel" }))

----------------------------------------------------------------------------------------------
-- 3. Rules, each with the action it asks for and when it is due (days after the as-of date).
-- A customer's next action is that of the rule with the most points among those that fired.

rule { "reproposal", points = 25, action = "re-propose", due = 7,
  when = function(c) return c.needs_reproposal end,
  reason = "{expiring_30_90} product(s) expire in 30-90 days, not re-proposed" }

rule { "renewal_due", points = 20, action = "call", due = 14,
  when = function(c) return between(c.days_to_renewal, 0, 60) end,
  reason = "renewal due in {days_to_renewal} days" }

rule { "complaint_open", points = 20, action = "visit", due = 2,
  when = function(c) return c.complaints_open > 0 end,
  reason = "{complaints_open} complaint(s) not resolved within 14 days" }

rule { "follow_up", points = 15, action = "call", due = 3,
  when = function(c) return c.follow_up_due end,
  reason = "no contact for {days_since_contact} days" }

rule { "calls_unreturned", points = 10, action = "call", due = 1,
  when = function(c) return c.voicemails_missed > 0 end,
  reason = "{voicemails_missed} voicemail(s) not returned within 24 hours" }

rule { "lapsed_only", points = 10, action = "send offer", due = 10,
  when = function(c) return c.lapsed_products > 0 and c.active_products == 0 end,
  reason = "every product has lapsed" }

rule { "detractor", points = 15,
  when = function(c) return c.last_nps ~= nil and c.last_nps <= 6 end,
  reason = "detractor, NPS {last_nps}" }

----------------------------------------------------------------------------------------------
-- 4. Score, band, stage.

score(function(c) return math.min(100, c.points) end)
bands { { "high", 50 }, { "medium", 25 }, { "low", 0 } }
stages {
  { "defected",   function(c) return c.defected end },
  { "reproposal", function(c) return c.needs_reproposal end },
  { "renewal",    function(c) return between(c.days_to_renewal, 0, 60) end },
  { "follow_up",  function(c) return c.follow_up_due end },
  { "active" },
}
value("not_defected", function(c) return not c.defected end)

----------------------------------------------------------------------------------------------
-- 5. Outputs.

output {
  file = "reproposal_list.csv",
  where = function(c) return c.not_defected and c.needs_reproposal end,
  order = { "owner", "next_expiry", "customer_id" },
  columns = { "owner", "customer_id", "name", "segment", "next_expiry", "expiring_30_90", "value_expiring", "last_reproposal" },
}

output {
  file = "followup_list.csv",
  where = function(c) return c.not_defected and c.follow_up_due end,
  order = { "owner", "days_since_contact desc", "customer_id" },
  columns = { "owner", "customer_id", "name", "segment", "last_contact", "days_since_contact" },
}

-- the call lists: 3 customers per owner per day, the rest carried to the next days; nobody
-- contacted in the last 7 days, nor listed in the last 7 nights (with --history)
calls {
  file = "calls.csv",
  where = function(c) return c.not_defected and c.next_action ~= nil end,
  owner = "owner",
  order = { "due_date", "score desc", "customer_id" },
  cap = 3,
  cooldown = { last = "last_contact", days = 7, nights = 7 },
  columns = { "owner", "rank", "call_on", "customer_id", "name", "next_action", "action_rule", "due_date", "late", "score", "reason_codes" },
}

-- with --history: of the customers listed 7 to 60 days ago, how many are still customers
save_rate { file = "save_rate.csv", after = 7, within = 60, still = "not_defected" }

local function answered(c) return c.last_nps ~= nil end
metrics {
  file = "metrics_service.csv",
  columns = {
    { "customers",                 count(function(c) return c.not_defected end) },
    { "nps_answers",               count(answered) },
    { "promoters",                 count(function(c) return answered(c) and c.last_nps >= 9 end) },
    { "detractors",                count(function(c) return answered(c) and c.last_nps <= 6 end) },
    { "nps",                       function(row) return row.nps_answers > 0 and round(100 * (row.promoters - row.detractors) / row.nps_answers, 1) or nil end },
    { "promises_made_180",         sum("promises_made_180") },
    { "promises_kept_180",         sum("promises_kept_180") },
    { "promises_kept_rate",        function(row) return ratio(row.promises_kept_180, row.promises_made_180, 4) end },
    { "callback_hours_median",     median("callback_hours", 2) },
    { "callback_hours_p90",        percentile("callback_hours", 90, 2) },
    { "voicemails_missed",         sum("voicemails_missed") },
    { "resolve_days_median",       median("resolve_days", 2) },
    { "resolve_days_p90",          percentile("resolve_days", 90, 2) },
    { "complaints_open",           sum("complaints_open") },
    { "sale_to_contact_days_median", median("sale_to_contact_days", 2) },
    { "complained_180",            count(function(c) return c.complained_180 end) },
    { "complained_retained",       count(function(c) return c.complained_180 and c.not_defected end) },
    { "retention_after_complaint", function(row) return ratio(row.complained_retained, row.complained_180, 4) end },
  },
}

metrics {
  file = "metrics_products.csv",
  where = function(c) return c.not_defected end,
  group_by = { "segment" },
  columns = {
    "segment",
    { "customers",       count() },
    { "active_products", sum("active_products") },
    { "lapsed_products", sum("lapsed_products") },
    { "expiring_30_90",  sum("expiring_30_90") },
    { "value_expiring",  sum("value_expiring", 2) },
  },
}

snapshot { defected = "defected", revenue = "monthly_fee" }
backtest { outcome = "defected", eligible = "not_defected", k = { 20 } }
