-- rules/retention.test.lua: test cases for rules/retention.lua. Run: defector test rules/retention.lua
--
-- A case is one customer (its columns) and a few history rows, with what we expect: score,
-- band, stage, the rules that fire (in rule order), a feature's value, or a reason's text.
-- Columns left out are empty. All cases run as of 2026-11-01 unless they say otherwise.

local A = "2026-11-01"

-- a customer who has been with us for years, active yesterday: no rule fires
local function steady(extra)
  local c = { customer_id = "C1", name = "Steady", segment = "smb", signup_date = "2022-01-10", monthly_fee = "50" }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end
local YESTERDAY = { event_date = "2026-10-31", event_type = "login" }

case { "a steady customer has no risk", as_of = A,
  customer = steady(), events = { YESTERDAY },
  expect = { score = 0, band = "low", stage = "active", rules = {}, revenue_at_risk = 0 } }

-- new_and_quiet: tenure < 90 and days_inactive > 30
case { "new customer quiet for 31 days", as_of = A,
  customer = steady { signup_date = "2026-08-04" },            -- 89 days
  events = { { event_date = "2026-10-01", event_type = "login" } },
  expect = { rules = { "new_and_quiet" }, stage = "onboarding", tenure_days = 89, days_inactive = 31 } }
case { "new customer quiet for exactly 30 days does not fire", as_of = A,
  customer = steady { signup_date = "2026-08-04" },
  events = { { event_date = "2026-10-02", event_type = "login" } },
  expect = { rules = {}, days_inactive = 30 } }
case { "90 days of tenure is no longer new", as_of = A,
  customer = steady { signup_date = "2026-08-03" },
  events = { { event_date = "2026-10-01", event_type = "login" } },
  expect = { rules = {}, stage = "active", tenure_days = 90 } }
case { "a new customer with no events is inactive since signup", as_of = A,
  customer = steady { signup_date = "2026-09-01" },
  expect = { rules = { "new_and_quiet", "inactive" }, days_inactive = 61 } }

-- renewal_due: 0 <= days_to_renewal <= 60
case { "renewal in 60 days", as_of = A,
  customer = steady { renewal_date = "2026-12-31" }, events = { YESTERDAY },
  expect = { rules = { "renewal_due" }, score = 20, stage = "pre_renewal", reasons = { renewal_due = "renewal due in 60 days" } } }
case { "renewal in 61 days does not fire", as_of = A,
  customer = steady { renewal_date = "2027-01-01" }, events = { YESTERDAY },
  expect = { rules = {}, stage = "active", days_to_renewal = 61 } }
case { "renewal today fires", as_of = A,
  customer = steady { renewal_date = "2026-11-01" }, events = { YESTERDAY },
  expect = { rules = { "renewal_due" }, days_to_renewal = 0 } }
case { "renewal yesterday does not fire", as_of = A,
  customer = steady { renewal_date = "2026-10-31" }, events = { YESTERDAY },
  expect = { rules = {}, days_to_renewal = -1 } }
case { "no renewal date: no contract", as_of = A,
  customer = steady(), events = { YESTERDAY },
  expect = { rules = {}, days_to_renewal = empty } }

-- price_increase: a price_change > 0 in the last 90 days
case { "price up a cent 89 days ago", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-08-04", event_type = "price_change", amount = "+0.01" } },
  expect = { rules = { "price_increase" }, stage = "post_price_increase", score = 25 } }
case { "price up exactly 90 days ago is outside the window", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-08-03", event_type = "price_change", amount = "+5" } },
  expect = { rules = {}, price_up_90 = false } }
case { "a price cut or a zero change is not an increase", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-10-01", event_type = "price_change", amount = "-1.50" },
                                  { event_date = "2026-10-02", event_type = "price_change", amount = "0.00" } },
  expect = { rules = {} } }

-- complaints: at least 2 in the last 90 days
case { "two complaints in 90 days", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-08-04", event_type = "complaint" },
                                  { event_date = "2026-10-30", event_type = "complaint" } },
  expect = { rules = { "complaints" }, reasons = { complaints = "2 complaints in 90 days" } } }
case { "a complaint 90 days ago does not count", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-08-03", event_type = "complaint" },
                                  { event_date = "2026-10-30", event_type = "complaint" } },
  expect = { rules = {}, complaints_90 = 1 } }
case { "a complaint after the as-of date is ignored", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-11-02", event_type = "complaint" },
                                  { event_date = "2026-10-30", event_type = "complaint" } },
  expect = { rules = {}, complaints_90 = 1 } }

-- calls_unreturned: more voicemails than callbacks in the last 60 days
case { "a voicemail 59 days ago not called back", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-09-03", event_type = "voicemail" } },
  expect = { rules = { "calls_unreturned" }, score = 10 } }
case { "a voicemail 60 days ago is outside the window", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-09-02", event_type = "voicemail" } },
  expect = { rules = {} } }
case { "a voicemail called back", as_of = A,
  customer = steady(), events = { { event_date = "2026-10-20", event_type = "voicemail" },
                                  { event_date = "2026-10-21", event_type = "callback" } },
  expect = { rules = {}, callbacks_60 = 1, days_inactive = 11 } }

-- broken_promises: promises made minus kept in the last 180 days
case { "a promise made 179 days ago and not kept", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-05-06", event_type = "promise_made" } },
  expect = { rules = { "broken_promises" }, reasons = { broken_promises = "1 promises not kept" } } }
case { "a promise made 180 days ago is outside the window", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-05-05", event_type = "promise_made" } },
  expect = { rules = {} } }
case { "a promise kept", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-07-01", event_type = "promise_made" },
                                  { event_date = "2026-07-05", event_type = "promise_kept" } },
  expect = { rules = {}, open_promises_180 = 0 } }

-- detractor: the latest NPS with a score is 6 or less
case { "NPS 6 is a detractor", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-10-01", event_type = "nps", amount = "6" } },
  expect = { rules = { "detractor" }, reasons = { detractor = "detractor, NPS 6" } } }
case { "NPS 7 is not", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-10-01", event_type = "nps", amount = "7" } },
  expect = { rules = {} } }
case { "two scores on the latest day: the lowest counts", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-10-01", event_type = "nps", amount = "9" },
                                  { event_date = "2026-10-01", event_type = "nps", amount = "3" },
                                  { event_date = "2026-09-01", event_type = "nps", amount = "10" } },
  expect = { rules = { "detractor" }, last_nps = 3 } }
case { "a later good score replaces an earlier bad one", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-08-01", event_type = "nps", amount = "1" },
                                  { event_date = "2026-10-01", event_type = "nps", amount = "8" } },
  expect = { rules = {}, last_nps = 8 } }
case { "an NPS event without a score is skipped", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-10-01", event_type = "nps" },
                                  { event_date = "2026-08-01", event_type = "nps", amount = "4" } },
  expect = { rules = { "detractor" }, last_nps = 4 } }

-- inactive: more than 60 days since the last activity
case { "inactive for 61 days", as_of = A,
  customer = steady(), events = { { event_date = "2026-09-01", event_type = "purchase", amount = "10.00" } },
  expect = { rules = { "inactive" }, stage = "lapsed", reasons = { inactive = "inactive for 61 days" } } }
case { "inactive for 60 days does not fire", as_of = A,
  customer = steady(), events = { { event_date = "2026-09-02", event_type = "support_ticket" } },
  expect = { rules = {}, days_inactive = 60 } }
case { "complaints and voicemails are not activity", as_of = A,
  customer = steady(), events = { { event_date = "2026-06-01", event_type = "login" },
                                  { event_date = "2026-10-30", event_type = "complaint" },
                                  { event_date = "2026-10-30", event_type = "voicemail" } },
  expect = { rules = { "calls_unreturned", "inactive" }, days_inactive = 153 } }

-- score, band, revenue, stage order
case { "everything at once: the score is capped at 100", as_of = A,
  customer = steady { signup_date = "2026-10-02", renewal_date = "2026-11-06", monthly_fee = "0.125" },
  events = { { event_date = "2026-10-13", event_type = "complaint" }, { event_date = "2026-10-14", event_type = "complaint" },
             { event_date = "2026-10-12", event_type = "price_change", amount = "+5" },
             { event_date = "2026-10-22", event_type = "voicemail" }, { event_date = "2026-10-07", event_type = "promise_made" },
             { event_date = "2026-10-03", event_type = "nps", amount = "0" } },
  expect = { points = 105, score = 100, band = "high", stage = "post_price_increase", revenue_at_risk = 1.5,
             rules = { "renewal_due", "price_increase", "complaints", "calls_unreturned", "broken_promises", "detractor" } } }
case { "score 30 is medium; revenue rounds half away from zero", as_of = A,
  customer = steady { monthly_fee = "0.625", renewal_date = "2026-12-01" },
  events = { YESTERDAY, { event_date = "2026-10-20", event_type = "voicemail" } },
  expect = { score = 30, band = "medium", revenue_at_risk = 2.25 } }
case { "half a cent: 0.625 x 12 x 55 / 100 = 4.125 -> 4.13", as_of = A,
  customer = steady { monthly_fee = "0.625", renewal_date = "2026-12-01" },
  events = { YESTERDAY, { event_date = "2026-10-20", event_type = "complaint" }, { event_date = "2026-10-21", event_type = "complaint" },
             { event_date = "2026-10-01", event_type = "nps", amount = "5" } },
  expect = { score = 55, band = "medium", revenue_at_risk = 4.13 } }
case { "score 60 is high", as_of = A,
  customer = steady { renewal_date = "2026-12-01" },
  events = { { event_date = "2026-06-01", event_type = "login" }, { event_date = "2026-10-20", event_type = "complaint" },
             { event_date = "2026-10-21", event_type = "complaint" } },
  expect = { score = 60, band = "high", stage = "lapsed" } }
case { "a cancel makes the customer defected, whatever else holds", as_of = A,
  customer = steady { renewal_date = "2026-12-01" },
  events = { { event_date = "2026-06-01", event_type = "login" }, { event_date = "2026-07-01", event_type = "cancel" } },
  expect = { stage = "defected", defected = true, not_defected = false } }
case { "a cancel dated after the as-of date is ignored", as_of = A,
  customer = steady(), events = { YESTERDAY, { event_date = "2026-11-05", event_type = "cancel" } },
  expect = { stage = "active", defected = false } }
case { "cohorts are signup quarters", as_of = A,
  customer = steady { signup_date = "2023-04-01" }, events = { YESTERDAY },
  expect = { cohort = "2023-Q2" } }
