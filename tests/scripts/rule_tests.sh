#!/usr/bin/env bash
# defector test: the shipped cases of rules/retention.lua pass; a failing case is reported with
# expected vs actual and exit code 8; a broken test file names its line.
source "$TESTS_DIR/fixtures/lib.sh"
"$DEFECTOR" test "$RULES" >"$T/out" 2>"$T/err"; rc=$?
[ $rc = 0 ] || fail "defector test rules/retention.lua: exit $rc: $(cat "$T/out" "$T/err")"
tail -n 1 "$T/out" | grep -qE '^[0-9]+ passed, 0 failed$' || fail "summary line: $(tail -n 1 "$T/out")"
n=$(grep -c '^PASS ' "$T/out")
[ "$n" -ge 30 ] || fail "only $n cases passed"

cat > "$T/wrong.test.lua" <<'LUA'
case { "right", as_of = "2026-11-01",
  customer = { customer_id = "A1", signup_date = "2024-01-01", renewal_date = "2026-12-31", monthly_fee = 10 },
  events = { { event_date = "2026-10-31", event_type = "login" } },
  expect = { score = 20, rules = { "renewal_due" } } }
case { "wrong on purpose", as_of = "2026-11-01",
  customer = { customer_id = "A1", signup_date = "2024-01-01", renewal_date = "2027-01-01", monthly_fee = 10 },
  events = { { event_date = "2026-10-31", event_type = "login" } },
  expect = { score = 20, band = "low", rules = { "renewal_due" }, days_to_renewal = 60 } }
case { "bad data in a case", as_of = "2026-11-01",
  customer = { customer_id = "A1", signup_date = "2024-13-01", monthly_fee = 10 },
  expect = { score = 0 } }
LUA
"$DEFECTOR" test "$RULES" "$T/wrong.test.lua" >"$T/out" 2>"$T/err"; rc=$?
[ $rc = 8 ] || fail "failing cases: exit $rc, expected 8"
grep -qx "PASS  right" "$T/out" || fail "case 'right': $(cat "$T/out")"
grep -qx "FAIL  wrong on purpose" "$T/out" || fail "case 'wrong on purpose': $(cat "$T/out")"
grep -qF "score: expected 20, got 0; rules: expected {renewal_due}, got {}; days_to_renewal: expected 60, got 61" "$T/out" || fail "expected vs actual: $(cat "$T/out")"
grep -qF "column signup_date: not a date" "$T/out" || fail "bad data in a case: $(cat "$T/out")"
grep -qx "1 passed, 2 failed" "$T/out" || fail "summary: $(tail -n 1 "$T/out")"

printf 'case { "x", customer = {}, expect = {} }\nkase { }\n' > "$T/broken.test.lua"
"$DEFECTOR" test "$RULES" "$T/broken.test.lua" >"$T/out" 2>"$T/err"; rc=$?
[ $rc = 5 ] || fail "broken test file: exit $rc"
grep -qF "broken.test.lua:2: unknown name 'kase'" "$T/err" || fail "broken test file message: $(cat "$T/err")"
finish
