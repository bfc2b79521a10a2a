-- rules/lifecycle.test.lua: test cases of rules/lifecycle.lua (defector test rules/lifecycle.lua).
local base = { customer_id = "C1", name = "A", segment = "mid", owner = "ann", signup_date = "2024-01-01", monthly_fee = "50" }
local function customer(t) local r = {} for k, v in pairs(base) do r[k] = v end for k, v in pairs(t or {}) do r[k] = v end return r end
local recent_contact = { event_date = "2026-10-20", event_at = "2026-10-20 10:00", event_type = "contact" }

case { "only a renewal due: listed for a call in 14 days", as_of = "2026-11-01",
  customer = customer({ renewal_date = "2026-12-01" }),
  events = { recent_contact },
  expect = { rules = { "renewal_due" }, score = 20, next_action = "call", action_rule = "renewal_due", due_date = "2026-11-15" } }

case { "a product expiring in 30-90 days, re-proposed before its window began", as_of = "2026-11-01",
  customer = customer(),
  events = { recent_contact, { event_date = "2026-08-01", event_at = "2026-08-01 09:00", event_type = "reproposal" } },
  products = { { product = "tv", start_date = "2025-01-01", end_date = "2026-12-15", value = "20.50" },
               { product = "tv", start_date = "2025-01-01", end_date = "2027-01-30", value = "10" },
               { product = "cloud", start_date = "2025-01-01", end_date = "2027-01-31" } },
  expect = { rules = { "reproposal" }, expiring_30_90 = 2, value_expiring = 30.5, next_expiry = "2026-12-15",
             needs_reproposal = true, next_action = "re-propose", due_date = "2026-11-08", active_products = 3 } }

case { "re-proposed since the window began: nothing to do", as_of = "2026-11-01",
  customer = customer(),
  events = { recent_contact, { event_date = "2026-09-20", event_at = "2026-09-20 09:00", event_type = "reproposal" } },
  products = { { product = "tv", start_date = "2025-01-01", end_date = "2026-12-15", value = "20" } },
  expect = { rules = {}, needs_reproposal = false, next_action = empty, due_date = empty } }

case { "a voicemail called back after 25 hours: missed, the next action a call tomorrow", as_of = "2026-11-01",
  customer = customer(),
  events = { recent_contact,
             { event_date = "2026-10-10", event_at = "2026-10-10 09:00", event_type = "voicemail" },
             { event_date = "2026-10-11", event_at = "2026-10-11 10:00", event_type = "callback" } },
  expect = { rules = { "calls_unreturned" }, callback_hours = 25, voicemails_missed = 1, next_action = "call", due_date = "2026-11-02" } }

case { "several rules: the action of the one with the most points", as_of = "2026-11-01",
  customer = customer({ renewal_date = "2026-11-20" }),
  events = { recent_contact, { event_date = "2026-09-01", event_at = "2026-09-01 09:00", event_type = "complaint" } },
  expect = { rules = { "renewal_due", "complaint_open" }, complaints_open = 1, resolve_days = empty,
             next_action = "call", action_rule = "renewal_due", due_date = "2026-11-15" } }

case { "every product lapsed: send an offer", as_of = "2026-11-01",
  customer = customer(),
  events = { recent_contact },
  products = { { product = "tv", start_date = "2025-01-01", end_date = "2026-10-31", value = "20" } },
  expect = { rules = { "lapsed_only" }, active_products = 0, lapsed_products = 1, next_action = "send offer", due_date = "2026-11-11" } }
