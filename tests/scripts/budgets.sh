#!/usr/bin/env bash
# A rule that loops forever or allocates without end is stopped by the time or memory budget,
# in run, explain and test, with a message naming the rule file and line, the rule and the entity
# (by its key column); exit 5; outputs untouched, no temporary files left. Every other piece of
# user code is under the same budgets (issue 8): the rule file's top level, a string pattern that
# backtracks without end, metrics column functions, check, explain, test and the test file's
# top level; a rule's pcall cannot swallow the memory budget; a real allocation failure inside
# LuaJIT is exit 7, "out of memory".
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
assert_err loop "loop.lua:73: rule complaints: stopped while scoring customer_id C1: scoring it took more than 1 s (--rule-time-limit)"
check loop "the time budget took $took s to stop the run" [ "$took" -le 10 ]
assert_unchanged loop "$OUT" "$T/snap.good"

sed 's/return c.complaints_90 >= 2 end/local t = {}; for k = 1, 1e9 do t[k] = ("x"):rep(100) .. k end; return false end/' "$RULES" > "$T/mem.lua"
RULES_FILE="$T/mem.lua" run_engine memory "$OUT" --rule-memory-limit 100 --rule-time-limit 0
assert_rc memory 5
assert_err memory "mem.lua:73: rule complaints: stopped while scoring customer_id C1: it used more than 100 MB of memory (--rule-memory-limit)"
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
assert_err explain_loop "forever.lua:73: rule complaints: stopped while scoring customer_id C2: scoring it took more than 1 s (--rule-time-limit)"
check explain_loop "explain took $took s to stop" [ "$took" -le 10 ]
check explain_loop "explain printed a report: $OUTPUT" [ -z "$OUTPUT" ]

run_cli explain_memory explain "$T/mem.lua" --data "$T/data" --as-of "$AS_OF" --customer C1 --no-progress \
  --rule-memory-limit 100 --rule-time-limit 0
assert_rc explain_memory 5
assert_err explain_memory "mem.lua:73: rule complaints: stopped while scoring customer_id C1: it used more than 100 MB of memory (--rule-memory-limit)"

# test writes each case's files into a temporary folder: the watchdog removes it before the end
cp "$REPO_DIR/rules/retention.test.lua" "$T/forever.test.lua"
mkdir -p "$T/tmp"
start=$(date +%s)
TMPDIR="$T/tmp" run_cli test_loop test "$T/forever.lua" --rule-time-limit 1
took=$(( $(date +%s) - start ))
assert_rc test_loop 5
assert_err test_loop "forever.lua:73: rule complaints: stopped while scoring customer_id C1: scoring it took more than 1 s (--rule-time-limit)"
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
assert_err test_one_loop "one_loop.lua:73: rule complaints: stopped while scoring customer_id LOOP"
check test_one_loop "case files left behind: $(ls -A "$T/tmp")" [ -z "$(ls -A "$T/tmp")" ]

run_cli test_bad_limit test "$RULES" --rule-memory-limit lots
assert_rc "test --rule-memory-limit lots" 2
run_cli test_no_limit_value test "$RULES" --rule-time-limit
assert_rc "test --rule-time-limit without a value" 2

# ---- every piece of user code is under the budgets (issue 8) ----
# (a command that is not stopped fails its checks with exit code 124 instead of hanging the suite)
printf '#!/bin/sh\nexec timeout 30 "%s" "$@"\n' "$DEFECTOR" > "$T/defector-timed"
chmod +x "$T/defector-timed"
DEFECTOR="$T/defector-timed"
# top: RULES with LUA as its last line (line $L)
L=$(( $(wc -l < "$RULES") + 1 ))
top() { { cat "$RULES"; printf '%s\n' "$2"; } > "$T/$1.lua"; }

top top_loop 'while true do end'
start=$(date +%s)
RULES_FILE="$T/top_loop.lua" run_engine top_loop "$OUT" --rule-time-limit 0.5
took=$(( $(date +%s) - start ))
assert_rc top_loop 5
assert_err top_loop "top_loop.lua:$L: the rule file's top level: stopped: it took more than 0.5 s (--rule-time-limit); does it loop forever?"
assert_one_error top_loop
check top_loop "the time budget took $took s to stop the declarations" [ "$took" -le 10 ]
assert_unchanged top_loop "$OUT" "$T/snap.good"

# a pattern that backtracks without end runs inside the C library: only the watchdog stops it
top top_pattern 'local s = ("a"):rep(40); local x = s:find("(.-)(.-)(.-)(.-)(.-)(.-)(.-)(.-)(.-)b")'
RULES_FILE="$T/top_pattern.lua" run_engine top_pattern "$OUT" --rule-time-limit 0.5
assert_rc top_pattern 5
assert_err top_pattern "top_pattern.lua:$L: the rule file's top level: stopped: it took more than 0.5 s (--rule-time-limit)"
assert_unchanged top_pattern "$OUT" "$T/snap.good"

# a loop in a function the top level calls, on another line than the call
top top_fn 'local function spin() local n = 0; while n >= 0 do n = n + 1 end end spin()'
RULES_FILE="$T/top_fn.lua" run_engine top_fn "$OUT" --rule-time-limit 0.5
assert_rc top_fn 5
assert_err top_fn "top_fn.lua:$L: the rule file's top level: stopped: it took more than 0.5 s"

# the top level allocating without end: stopped at the budget (not after 5 GB), exit 5, its line
top top_mem 'local t = {}; for k = 1, 1e9 do t[k] = ("x"):rep(100) .. k end'
RULES_FILE="$T/top_mem.lua" run_engine top_mem "$OUT" --rule-memory-limit 100 --rule-time-limit 0
assert_rc top_mem 5
assert_err top_mem "top_mem.lua:$L: the rule file's top level: stopped: it used more than 100 MB of memory (--rule-memory-limit); does it build up data without end?"
assert_one_error top_mem
assert_unchanged top_mem "$OUT" "$T/snap.good"
check top_mem_rss "peak memory $(grep -o 'maxresident)k\|[0-9]*maxresident' "$T/top_mem.stderr")" true

# a rule's pcall cannot swallow the memory budget: the run fails, it does not go on with a value
sed 's/return c.complaints_90 >= 2 end/local ok = pcall(function() local t = {}; for k = 1, 1e9 do t[k] = ("y"):rep(100) .. k end end); return not ok end/' "$RULES" > "$T/swallow.lua"
RULES_FILE="$T/swallow.lua" run_engine swallow "$OUT" --rule-memory-limit 100 --rule-time-limit 0
assert_rc swallow 5
assert_err swallow "swallow.lua:73: rule complaints: stopped while scoring customer_id C1: it used more than 100 MB of memory"
assert_unchanged swallow "$OUT" "$T/snap.good"

# a metrics column function: its line, the metrics file and column
sed 's/{ "retention_rate", function(row) return/{ "retention_rate", function(row) while row.customers > 0 do end return/' "$RULES" > "$T/met_loop.lua"
check met_loop "the sed found no metrics function" grep -q 'while row.customers > 0 do end' "$T/met_loop.lua"
RULES_FILE="$T/met_loop.lua" run_engine met_loop "$OUT" --rule-time-limit 0.5
assert_rc met_loop 5
assert_err met_loop "met_loop.lua:157: metrics metrics_cohort.csv, column retention_rate: stopped: it took more than 0.5 s (--rule-time-limit)"
assert_unchanged met_loop "$OUT" "$T/snap.good"

sed 's/{ "retention_rate", function(row) return/{ "retention_rate", function(row) local t = {}; for k = 1, 1e9 do t[k] = ("z"):rep(100) .. k end return/' "$RULES" > "$T/met_mem.lua"
RULES_FILE="$T/met_mem.lua" run_engine met_mem "$OUT" --rule-memory-limit 100 --rule-time-limit 0
assert_rc met_mem 5
assert_err met_mem "met_mem.lua:157: metrics metrics_cohort.csv, column retention_rate: stopped: it used more than 100 MB of memory"
assert_unchanged met_mem "$OUT" "$T/snap.good"

# check, explain and test run the top level too
run_cli check_loop check "$T/top_loop.lua" --rule-time-limit 0.5
assert_rc check_loop 5
assert_err check_loop "top_loop.lua:$L: the rule file's top level: stopped: it took more than 0.5 s"
run_cli check_data_loop check "$T/top_loop.lua" --data "$T/data" --rule-time-limit 0.5
assert_rc check_data_loop 5
assert_err check_data_loop "top_loop.lua:$L: the rule file's top level: stopped"
run_cli check_mem check "$T/top_mem.lua" --rule-memory-limit 100 --rule-time-limit 0
assert_rc check_mem 5
assert_err check_mem "top_mem.lua:$L: the rule file's top level: stopped: it used more than 100 MB of memory"
run_cli explain_top explain "$T/top_loop.lua" --data "$T/data" --as-of "$AS_OF" --customer C2 --no-progress --rule-time-limit 0.5
assert_rc explain_top 5
assert_err explain_top "top_loop.lua:$L: the rule file's top level: stopped: it took more than 0.5 s"
cp "$REPO_DIR/rules/retention.test.lua" "$T/top_loop.test.lua"
TMPDIR="$T/tmp" run_cli test_top test "$T/top_loop.lua" --rule-time-limit 0.5
assert_rc test_top 5
assert_err test_top "top_loop.lua:$L: the rule file's top level: stopped: it took more than 0.5 s"
check test_top "case files left behind: $(ls -A "$T/tmp")" [ -z "$(ls -A "$T/tmp")" ]
# the test file's own top level
printf 'local n = 0\nwhile n >= 0 do n = n + 1 end\n' > "$T/retention_copy.test.lua"
cp "$RULES" "$T/retention_copy.lua"
TMPDIR="$T/tmp" run_cli test_file_loop test "$T/retention_copy.lua" --rule-time-limit 0.5
assert_rc test_file_loop 5
assert_err test_file_loop "retention_copy.test.lua:2: the test file's top level: stopped: it took more than 0.5 s"

# a real allocation failure inside LuaJIT (the Nth allocation of the state fails, as when the
# system has no memory left) is exit 7 with "out of memory", in every phase it can happen in;
# the outputs are untouched
for n in 1 100 1000 3000 6000 8000 10000 12000; do
  DEFECTOR_LUA_ALLOC_FAIL=$n run_engine "oom_$n" "$OUT" --threads 1
  if [ "$RC" = 0 ]; then continue; fi # past the state's last allocation: nothing failed
  assert_rc "oom_$n" 7
  assert_err "oom_$n" "out of memory"
  assert_one_error "oom_$n"
  assert_unchanged "oom_$n" "$OUT" "$T/snap.good"
done
DEFECTOR_LUA_ALLOC_FAIL=1 run_engine oom_first "$OUT"
assert_rc oom_first 7
assert_err oom_first "retention.lua: out of memory: the system could not give the Lua rules more memory"
DEFECTOR_LUA_ALLOC_FAIL=1 run_cli oom_check check "$RULES"
assert_rc oom_check 7
DEFECTOR_LUA_ALLOC_FAIL=1 run_cli oom_explain explain "$RULES" --data "$T/data" --as-of "$AS_OF" --customer C2 --no-progress
assert_rc oom_explain 7
finish
