#!/bin/bash
# backtest.sh: `defector backtest` on planted truth (defector-gen --plant: each customer cancels
# within 90 days of the plant date with a known propensity per condition of four rules of
# rules/retention.lua). The backtest must find the rules' lifts in the planted order, and every
# figure of every table must match a re-computation in Python (backtest_check.py) from the
# snapshots of ordinary runs at the same dates and the outcome read from the events file.
source "$TESTS_DIR/fixtures/lib.sh"
RULES="$REPO_DIR/rules/retention.lua"
CODES=new_and_quiet,renewal_due,price_increase,complaints,calls_unreturned,broken_promises,detractor,inactive
"$DEFECTOR_GEN" --customers 20000 --seed 7 --as-of 2026-08-01 --plant 90 --out "$T/data" 2>/dev/null || fail gen "defector-gen --plant failed"

run_cli bt backtest "$RULES" --data "$T/data" -o "$T/out" --as-of 2026-08-01 --as-of 2026-07-01 --horizon 90 -q
assert_rc bt 0
for f in summary bands deciles topk rules; do check bt "backtest_$f.csv written" [ -s "$T/out/backtest_$f.csv" ]; done
check bt "no scratch folder left" [ -z "$(ls -A "$T/out" | grep -v -e '^backtest_' -e '^.defector-manifest$' -e '^rejects.csv$')" ]
check bt "rejects.csv, empty" [ "$(cat "$T/out/rejects.csv")" = "file,line,column,reason,raw" ]
check bt "the leakage caveat is in the summary" grep -q "entity columns (e.g. renewal_date) are today's values" "$T/out/backtest_summary.csv"

# the planted order of lift: complaints (+40%) > price_increase (+25%) > calls_unreturned (+12%) > inactive (+6%)
lift() { awk -F, -v d="$1" -v r="$2" '$1 == d && $2 == r { print $7 }' "$T/out/backtest_rules.csv"; }
for d in 2026-08-01 all; do
  c=$(lift $d complaints) p=$(lift $d price_increase) u=$(lift $d calls_unreturned) i=$(lift $d inactive)
  check "lift $d" "planted order not recovered: complaints $c, price_increase $p, calls_unreturned $u, inactive $i" \
    awk -v c="$c" -v p="$p" -v u="$u" -v i="$i" 'BEGIN { exit !(c > p && p > u && u > i && i > 1) }'
done
auc=$(awk -F, '$1 == "2026-08-01" { print $6 }' "$T/out/backtest_summary.csv")
check auc "the planted rules must rank defectors well above chance (AUC $auc)" awk -v a="$auc" 'BEGIN { exit !(a > 0.7) }'
# 2026-07-01: nobody cancels before the plant date, so its outcome window (to 2026-09-29) holds cancels too
check bt "two dates and all" [ "$(cut -d, -f1 "$T/out/backtest_summary.csv" | tr '\n' ' ')" = "as_of 2026-08-01 2026-07-01 all " ]

# every figure against the re-computation, from the snapshots of ordinary runs at the same dates
for d in 2026-07-01 2026-08-01; do
  run_cli "run-$d" run "$RULES" --data "$T/data" -o "$T/run-$d" --as-of $d --history "$T/hist" -q
  assert_rc "run-$d" 0
done
check recompute "the figures differ from the re-computation: $(/usr/bin/python3 "$TESTS_DIR/fixtures/backtest_check.py" "$T/data/events.csv.gz" 90 "$T/out" high,medium,low $CODES 100,1000 2026-08-01="$T/hist/2026-08-01/customers.csv.gz" 2026-07-01="$T/hist/2026-07-01/customers.csv.gz" 2>&1 | head -5)" \
  /usr/bin/python3 "$TESTS_DIR/fixtures/backtest_check.py" "$T/data/events.csv.gz" 90 "$T/out" high,medium,low $CODES 100,1000 \
  2026-08-01="$T/hist/2026-08-01/customers.csv.gz" 2026-07-01="$T/hist/2026-07-01/customers.csv.gz"

# an outcome that reads the score: on the outcome date, only what the outcome reads is computed
# (history.prune), here the score with every rule and feature it needs
sed -e 's/^backtest {.*/value("high_later", function(c) return c.band == "high" end)\nbacktest { outcome = "high_later", eligible = "not_defected", k = { 100 } }/' "$RULES" > "$T/high.lua"
run_cli bt-high backtest "$T/high.lua" --data "$T/data" -o "$T/out-high" --as-of 2026-07-01 --horizon 31 -q
assert_rc bt-high 0
for d in 2026-07-01 2026-08-01; do run_cli "run-high-$d" run "$T/high.lua" --data "$T/data" -o "$T/run-high-$d" --as-of $d --history "$T/hist-high" -q; done
check recompute-high "an outcome read from the score differs from the re-computation: $(/usr/bin/python3 "$TESTS_DIR/fixtures/backtest_check.py" fields:high_later:not_defected 31 "$T/out-high" high,medium,low $CODES 100 "2026-07-01=$T/hist-high/2026-07-01/customers.csv.gz,$T/hist-high/2026-08-01/customers.csv.gz" 2>&1 | head -3)" \
  /usr/bin/python3 "$TESTS_DIR/fixtures/backtest_check.py" fields:high_later:not_defected 31 "$T/out-high" high,medium,low $CODES 100 \
  "2026-07-01=$T/hist-high/2026-07-01/customers.csv.gz,$T/hist-high/2026-08-01/customers.csv.gz"
check bt-high "some customers are high on the outcome date" [ "$(zcat "$T/hist-high/2026-08-01/customers.csv.gz" | grep -c ',high,')" -gt 10 ]

# the same bytes for any --threads
run_cli bt1 backtest "$RULES" --data "$T/data" -o "$T/out1" --as-of 2026-08-01 --as-of 2026-07-01 --horizon 90 -q --threads 1
run_cli bt3 backtest "$RULES" --data "$T/data" -o "$T/out3" --as-of 2026-08-01 --as-of 2026-07-01 --horizon 90 -q --threads 3
for f in summary bands deciles topk rules; do
  check threads "backtest_$f.csv differs between --threads 1 and 3" cmp -s "$T/out1/backtest_$f.csv" "$T/out3/backtest_$f.csv"
  check threads "backtest_$f.csv differs between --threads 1 and all cores" cmp -s "$T/out1/backtest_$f.csv" "$T/out/backtest_$f.csv"
done

# usage and declaration errors
run_cli nohorizon backtest "$RULES" --data "$T/data" -o "$T/o2" --as-of 2026-08-01
assert_rc nohorizon 2
assert_err nohorizon "backtest needs --horizon DAYS"
run_cli nodate backtest "$RULES" --data "$T/data" -o "$T/o2" --horizon 30
assert_rc nodate 2
grep -v '^backtest {' "$RULES" > "$T/no_outcome.lua"
run_cli nooutcome backtest "$T/no_outcome.lua" --data "$T/data" -o "$T/o3" --as-of 2026-08-01 --horizon 30
assert_rc nooutcome 5
assert_err nooutcome "declares no outcome"
check nooutcome "a failed backtest writes nothing" [ -z "$(ls -A "$T/o3" 2>/dev/null)" ]
finish
