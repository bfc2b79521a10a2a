#!/usr/bin/env bash
# A rule that loops forever or allocates without end is stopped by the time or memory budget,
# with a message naming the rule file, the rule and the entity (by its key column); exit 5; outputs untouched.
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
finish
