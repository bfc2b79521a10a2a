#!/usr/bin/env bash
# A rule that loops forever or allocates without end is stopped by the time or memory budget,
# in run, explain and test, with a message naming the rule file, the rule and the entity (by its
# key column); exit 5; outputs untouched, no temporary files left.
source "$TESTS_DIR/fixtures/lib.sh"
make_data "$T/data"
OUT="$T/out"
run_engine good "$OUT"
assert_rc good 0
snapshot "$OUT" "$T/snap.good"

sed 's/return c.complaints_90 >= 2 end/local x = 0; while c.complaints_90 >= 0 do x = x + 1 end; return false end/' "$RULES" > "$T/loop.lua"
start=$(date +%s)
RULES_FILE="$T/loop.lua" run_engine loop "$OUT" --rule-time-limit 1
took=$(( $(date +%s) - start ))
assert_rc loop 5
assert_err loop "loop.lua: rule complaints: stopped while scoring customer_id C1: scoring it took more than 1 s (--rule-time-limit)"
check loop "the time budget took $took s to stop the run" [ "$took" -le 10 ]
assert_unchanged loop "$OUT" "$T/snap.good"

sed 's/return c.complaints_90 >= 2 end/local t = {}; for k = 1, 1e9 do t[k] = ("x"):rep(100) .. k end; return false end/' "$RULES" > "$T/mem.lua"
RULES_FILE="$T/mem.lua" run_engine memory "$OUT" --rule-memory-limit 100 --rule-time-limit 0
assert_rc memory 5
assert_err memory "mem.lua: rule complaints: stopped while scoring customer_id C1: scoring used more than 100 MB (--rule-memory-limit)"
assert_unchanged memory "$OUT" "$T/snap.good"

run_cli bad_time_limit run "$RULES" --rule-time-limit soon
assert_rc "--rule-time-limit soon" 2

# explain and test obey the same budgets as run: a rule that never ends stops them, exit 5
sed 's/when = function(c) return c.complaints_90 >= 2 end/when = function(c) while true do end end/' "$RULES" > "$T/forever.lua"
check forever "the sed found no rule to change" grep -q 'while true do end' "$T/forever.lua"
start=$(date +%s)
run_cli explain_loop explain "$T/forever.lua" --data "$T/data" --as-of "$AS_OF" --customer C2 --no-progress --rule-time-limit 1
took=$(( $(date +%s) - start ))
assert_rc explain_loop 5
assert_err explain_loop "forever.lua: rule complaints: stopped while scoring customer_id C2: scoring it took more than 1 s (--rule-time-limit)"
check explain_loop "explain took $took s to stop" [ "$took" -le 10 ]
check explain_loop "explain printed a report: $OUTPUT" [ -z "$OUTPUT" ]

run_cli explain_memory explain "$T/mem.lua" --data "$T/data" --as-of "$AS_OF" --customer C1 --no-progress \
  --rule-memory-limit 100 --rule-time-limit 0
assert_rc explain_memory 5
assert_err explain_memory "mem.lua: rule complaints: stopped while scoring customer_id C1: scoring used more than 100 MB (--rule-memory-limit)"

# test writes each case's files into a temporary folder: the watchdog removes it before the end
cp "$REPO_DIR/rules/retention.test.lua" "$T/forever.test.lua"
mkdir -p "$T/tmp"
start=$(date +%s)
TMPDIR="$T/tmp" run_cli test_loop test "$T/forever.lua" --rule-time-limit 1
took=$(( $(date +%s) - start ))
assert_rc test_loop 5
assert_err test_loop "forever.lua: rule complaints: stopped while scoring customer_id C1: scoring it took more than 1 s (--rule-time-limit)"
check test_loop "test took $took s to stop" [ "$took" -le 10 ]
check test_loop "case files left behind: $(ls -A "$T/tmp")" [ -z "$(ls -A "$T/tmp")" ]

# the cases before the one that never ends are reported (stdout is flushed before each case)
sed 's/when = function(c) return c.complaints_90 >= 2 end/when = function(c) if c.customer_id == "LOOP" then while true do end end return c.complaints_90 >= 2 end/' \
  "$RULES" > "$T/one_loop.lua"
cat > "$T/one_loop.test.lua" <<'LUA'
case { "quiet", as_of = "2026-11-01",
  customer = { customer_id = "A1", signup_date = "2024-01-01", monthly_fee = 10 },
  events = { { event_date = "2026-10-31", event_type = "login" } },
  expect = { score = 0 } }
case { "never ends", as_of = "2026-11-01",
  customer = { customer_id = "LOOP", signup_date = "2024-01-01", monthly_fee = 10 },
  expect = { score = 0 } }
LUA
TMPDIR="$T/tmp" run_cli test_one_loop test "$T/one_loop.lua" --rule-time-limit 1 --rule-memory-limit 4096
assert_rc test_one_loop 5
check test_one_loop "stdout: $OUTPUT" grep -qx "PASS  quiet" <<<"$OUTPUT"
assert_err test_one_loop "one_loop.lua: rule complaints: stopped while scoring customer_id LOOP"
check test_one_loop "case files left behind: $(ls -A "$T/tmp")" [ -z "$(ls -A "$T/tmp")" ]

run_cli test_bad_limit test "$RULES" --rule-memory-limit lots
assert_rc "test --rule-memory-limit lots" 2
run_cli test_no_limit_value test "$RULES" --rule-time-limit
assert_rc "test --rule-time-limit without a value" 2
finish
