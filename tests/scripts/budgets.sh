#!/usr/bin/env bash
# A rule that loops forever or allocates without end is stopped by the time or memory budget,
# with a message naming the rule file, the rule and the customer; exit 5; outputs untouched.
source "$TESTS_DIR/fixtures/lib.sh"
make_data "$T/data"
OUT="$T/out"
run_engine "$OUT"
expect_rc 0 "good run"
snapshot "$OUT" "$T/snap.good"

sed 's/return c.complaints_90 >= 2 end/local x = 0; while c.complaints_90 >= 0 do x = x + 1 end; return false end/' "$RULES" > "$T/loop.lua"
start=$(date +%s)
RULES_FILE="$T/loop.lua" run_engine "$OUT" --rule-time-limit 1
took=$(( $(date +%s) - start ))
expect_rc 5 loop
expect_err "loop.lua: rule complaints: stopped while scoring customer C1: one customer took more than 1 s (--rule-time-limit)" loop
[ "$took" -le 10 ] || fail "the time budget took $took s to stop the run"
unchanged "$OUT" "$T/snap.good" loop

sed 's/return c.complaints_90 >= 2 end/local t = {}; for k = 1, 1e9 do t[k] = ("x"):rep(100) .. k end; return false end/' "$RULES" > "$T/mem.lua"
RULES_FILE="$T/mem.lua" run_engine "$OUT" --rule-memory-limit 100 --rule-time-limit 0
expect_rc 5 memory
expect_err "mem.lua: rule complaints: stopped while scoring customer C1: scoring used more than 100 MB (--rule-memory-limit)" memory
unchanged "$OUT" "$T/snap.good" memory

"$DEFECTOR" run "$RULES" --rule-time-limit soon 2>"$T/e"; [ $? = 2 ] || fail "bad --rule-time-limit accepted"
finish
