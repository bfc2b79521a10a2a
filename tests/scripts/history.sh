#!/bin/bash
# history.sh: the run history (--history, docs/history.md). Two nights of a small hand-made job
# (tests/rules/history.lua) into one history folder: the night folder's files and snapshot, the
# changes and flows tables row by row, the note and empty tables without a previous night, a
# night run again replaced, a failed run leaving the history as it was, retention; then two
# nights of generated data checked against a re-computation in Python (history_check.py), and
# the same snapshot bytes for any --threads.
source "$TESTS_DIR/fixtures/lib.sh"
RULES_FILE="$REPO_DIR/tests/rules/history.lua"
H="$T/hist"

night() { # night LABEL DATA AS_OF [args]: one run into $T/out-LABEL with --history $H
  local label=$1 data=$2 as_of=$3; shift 3
  run_cli "$label" run "$RULES_FILE" --data "$data" --out "$T/out-$label" --as-of "$as_of" --history "$H" --no-progress "$@"
}

mkdir -p "$T/d1" "$T/d2"
printf 'id,fee\nA,10\nB,20.5\nC,30\nD,40\nE,50\n' > "$T/d1/customers.csv"
printf 'id,date,type\nB,2026-01-05,complaint\nC,2026-01-02,complaint\nC,2026-01-08,complaint\nD,2026-01-09,complaint\n' > "$T/d1/events.csv"
printf 'id,fee\nA,10\nB,25\nC,30\nD,40\nF,60\n' > "$T/d2/customers.csv"
cp "$T/d1/events.csv" "$T/d2/events.csv"
printf 'A,2026-01-15,complaint\nB,2026-01-18,complaint\nD,2026-01-19,cancel\nF,2026-01-19,complaint\n' >> "$T/d2/events.csv"

# ---- night 1: no previous night: a note and empty tables ----
night n1 "$T/d1" 2026-01-10
assert_rc n1 0
assert_err n1 "no previous night in $H before 2026-01-10: the changes tables are empty"
check n1 "changes.csv is its header alone" [ "$(cat "$T/out-n1/changes.csv")" = "id,change,from,to,score_before,score_after,score_change" ]
check n1 "flows.csv is its header alone" [ "$(cat "$T/out-n1/flows.csv")" = "kind,from,to,customers" ]
check n1 "the note is in run_summary.json" grep -q 'no previous night' "$T/out-n1/run_summary.json"
N1="$H/2026-01-10"
check n1 "the night folder holds the snapshot, metrics, summary and rules" \
  [ "$(cd "$N1" && ls -A | tr '\n' ' ')" = ".defector-manifest customers.csv.gz metrics_stage.csv rules.lua run_summary.json " ]
check n1 "the snapshot is gzip" gzip -t "$N1/customers.csv.gz"
want=$'id,score,band,stage,on_list,reason_codes,fee,cancelled\nA,0,low,ok,false,,10,false\nB,40,medium,unhappy,true,complaint,20.5,false\nC,70,high,unhappy,true,complaint;complaints,30,false\nD,40,medium,unhappy,true,complaint,40,false\nE,0,low,ok,false,,50,false'
check n1 "snapshot row by row: $(zcat "$N1/customers.csv.gz")" [ "$(zcat "$N1/customers.csv.gz")" = "$want" ]
check n1 "metrics copied byte for byte" cmp -s "$N1/metrics_stage.csv" "$T/out-n1/metrics_stage.csv"
check n1 "run_summary copied byte for byte" cmp -s "$N1/run_summary.json" "$T/out-n1/run_summary.json"
check n1 "the rule file kept as it was read" cmp -s "$N1/rules.lua" "$RULES_FILE"
check n1 "the outputs do not hold the snapshot" [ ! -e "$T/out-n1/customers.csv.gz" ]

# ---- night 2: E gone, F new, A and B complained, D cancelled ----
night n2 "$T/d2" 2026-01-20
assert_rc n2 0
want=$'id,change,from,to,score_before,score_after,score_change
F,new_customer,,unhappy,,40,
E,gone,ok,,0,,
A,new_on_list,false,true,0,40,40
D,off_list,true,false,40,40,0
A,band_up,low,medium,0,40,40
B,band_up,medium,high,40,70,30
A,score_up,0,40,0,40,40
B,score_up,40,70,40,70,30
D,defected,false,true,40,40,0'
check n2 "changes row by row: $(cat "$T/out-n2/changes.csv")" [ "$(cat "$T/out-n2/changes.csv")" = "$want" ]
want=$'kind,from,to,customers
stage,unhappy,defected,1
stage,unhappy,unhappy,2
stage,ok,unhappy,1
stage,ok,,1
stage,,unhappy,1
band,high,high,1
band,medium,high,1
band,medium,medium,1
band,low,medium,1
band,low,,1
band,,medium,1'
check n2 "flows row by row: $(cat "$T/out-n2/flows.csv")" [ "$(cat "$T/out-n2/flows.csv")" = "$want" ]
refute n2 "no note with a previous night" grep -q 'no previous night' "$T/n2.stderr"
want=$'as_of,stage,customers\n2026-01-10,unhappy,3\n2026-01-10,ok,2\n2026-01-20,defected,1\n2026-01-20,unhappy,4'
check n2 "the stage trend over two nights: $(cat "$T/out-n2/trend_stage.csv")" [ "$(cat "$T/out-n2/trend_stage.csv")" = "$want" ]
# 5 customers not defected on the 10th (fees 10 + 20.5 + 30 + 40 + 50); D cancelled, E gone; of A, B, C
# B's fee went up from 20.5 to 25: gross keeps 20.5 of it, net 25
want=$'period_start,period_end,customers_start,churned,gone,churn_rate,revenue_start,revenue_retained,revenue_end,gross_revenue_retention,net_revenue_retention\n2026-01-10,2026-01-20,5,2,1,0.4,150.5,60.5,65,0.402,0.4319'
check n2 "churn and revenue retention: $(cat "$T/out-n2/churn.csv")" [ "$(cat "$T/out-n2/churn.csv")" = "$want" ]
check n2 "the period is kept in the night" cmp -s <(tail -1 "$H/2026-01-20/period.csv") <(tail -1 "$T/out-n2/churn.csv")
check n1 "no churn rows on the first night" [ "$(wc -l < "$T/out-n1/churn.csv")" = 1 ]
check n1 "the first night's stage trend is that night's table" [ "$(cat "$T/out-n1/trend_stage.csv")" = $'as_of,stage,customers\n2026-01-10,unhappy,3\n2026-01-10,ok,2' ]
check n2 "the recomputation agrees" /usr/bin/python3 "$TESTS_DIR/fixtures/history_check.py" "$N1/customers.csv.gz" \
  "$H/2026-01-20/customers.csv.gz" "$T/out-n2/changes.csv" "$T/out-n2/flows.csv" id cancelled 30 high,medium,low defected,unhappy,ok

# ---- night 1 run again: compared with nothing before it (night 2 is after it), replaced ----
mkdir -p "$T/d1b" && cp "$T/d1/events.csv" "$T/d1b/" && printf 'id,fee\nA,11\nB,20.5\n' > "$T/d1b/customers.csv"
night n1b "$T/d1b" 2026-01-10
assert_rc n1b 0
assert_err n1b "no previous night in $H before 2026-01-10"
check n1b "the night is replaced" [ "$(zcat "$N1/customers.csv.gz" | wc -l)" = 3 ]
check n1b "night 2 is kept" [ -e "$H/2026-01-20/customers.csv.gz" ]
check n1b "no staging left" [ ! -e "$N1/.defector-staging" ]

# ---- a failed run leaves the history as it was ----
mkdir -p "$T/d3" && cp "$T/d2/events.csv" "$T/d3/" && printf 'id,fee\nA,10\nB,\n' > "$T/d3/customers.csv"
before=$(snapshot "$H" "$T/before")
night n3 "$T/d3" 2026-01-20
assert_rc n3 5
assert_unchanged n3 "$H" "$T/before"

# ---- retention: --history-keep 5 at 2026-01-20 removes the night of 2026-01-10, not other folders ----
mkdir -p "$H/notes" && echo mine > "$H/notes/a.txt"
night n4 "$T/d2" 2026-01-20 --history-keep 5 --file-mode 0600
assert_rc n4 0
# --file-mode covers the night's files as the outputs' (personal data: docs/operations.md)
for f in "$H/2026-01-20"/* "$T/out-n4/risk.csv"; do
  check n4 "$(basename "$f") is created with mode 600, not $(stat -c %a "$f")" [ "$(stat -c %a "$f")" = 600 ]
done
check n4 "the old night is removed" [ ! -e "$N1" ]
check n4 "the night itself is kept" [ -e "$H/2026-01-20/customers.csv.gz" ]
check n4 "other folders are left alone" [ "$(cat "$H/notes/a.txt")" = mine ]
run_cli keep0 run "$RULES_FILE" --data "$T/d2" --out "$T/o" --history-keep x
assert_rc keep0 2

# ---- declarations checked: names that do not exist, a trend of no metrics table, churn without defected ----
printf 'entity { file = "c.csv", key = "id", columns = { id = "text" } }\noutput { file = "x.csv", columns = { "id" } }\nsnapshot { keep = { "nope" } }\ntrend { file = "t.csv", metrics = "m.csv" }\nchurn { file = "c2.csv" }\nbacktest { outcome = "zz" }\nchanges { file = "x.csv" }\n' > "$T/bad.lua"
run_cli bad check "$T/bad.lua"
assert_rc bad 5
assert_out bad "bad.lua:3: error: snapshot: keep names 'nope', which is not a column, feature or value"
assert_out bad "bad.lua:4: error: trend t.csv: metrics names 'm.csv', which is not a metrics { } table"
assert_out bad "bad.lua:5: error: churn: the snapshot does not say which field means defected"
assert_out bad "bad.lua:6: error: backtest: outcome names 'zz'"
assert_out bad "bad.lua:7: error: two outputs write 'x.csv'"

# ---- generated data: two nights, the tables against the recomputation; threads ----
G="$T/gen"
"$DEFECTOR_GEN" --customers 3000 --seed 11 --out "$G/data" 2>/dev/null || fail gen "defector-gen failed"
# rules/retention.lua declares snapshot { keep = { "revenue_at_risk" }, defected = "defected", revenue = "monthly_fee" }
sed -e 's/^output {$/changes { file = "changes.csv", flows = "flows.csv", min_score_change = 20 }\ntrend { file = "trend_stage.csv", metrics = "metrics_stage.csv", nights = 5 }\nchurn { file = "churn.csv" }\n\noutput {/' \
  "$REPO_DIR/rules/retention.lua" > "$G/rules.lua"
for d in 2026-10-01 2026-11-01; do
  run_cli "gen-$d" run "$G/rules.lua" --data "$G/data" --out "$G/out-$d" --as-of $d --history "$G/hist" --no-progress -q
  assert_rc "gen-$d" 0
done
check gen "the recomputation agrees on generated data" /usr/bin/python3 "$TESTS_DIR/fixtures/history_check.py" \
  "$G/hist/2026-10-01/customers.csv.gz" "$G/hist/2026-11-01/customers.csv.gz" "$G/out-2026-11-01/changes.csv" \
  "$G/out-2026-11-01/flows.csv" customer_id defected 20 high,medium,low defected,lapsed,post_price_increase,pre_renewal,onboarding,active
want=$( (echo as_of,stage,customers; for d in 2026-10-01 2026-11-01; do tail -n +2 "$G/hist/$d/metrics_stage.csv" | sed "s/^/$d,/"; done) )
check gen "the stage trend is the two nights' tables" [ "$(cat "$G/out-2026-11-01/trend_stage.csv")" = "$want" ]
check gen "churn and revenue retention agree with the re-computation: $(tail -1 "$G/out-2026-11-01/churn.csv")" /usr/bin/python3 - \
  "$G/hist/2026-10-01/customers.csv.gz" "$G/hist/2026-11-01/customers.csv.gz" "$G/out-2026-11-01/churn.csv" <<'PY'
import csv, gzip, sys
from decimal import Decimal
def snap(p):
    with gzip.open(p, "rt", encoding="utf-8", newline="") as f:
        return {r["customer_id"]: r for r in csv.DictReader(f)}
a, b = snap(sys.argv[1]), snap(sys.argv[2])
start = [k for k, r in a.items() if r["defected"] != "true"]
churned = [k for k in start if k not in b or b[k]["defected"] == "true"]
gone = [k for k in start if k not in b]
stay = [k for k in start if k in b and b[k]["defected"] != "true"]
fee = lambda r: Decimal(r["monthly_fee"] or "0")
r0 = sum(fee(a[k]) for k in start)
kept = sum(min(fee(a[k]), fee(b[k])) for k in stay)
r1 = sum(fee(b[k]) for k in stay)
def num(x):
    x = Decimal(x).normalize()
    return format(x, "f")
def r4(x):
    import math
    v = math.floor(float(x) * 10000 + 0.5) / 10000
    return str(int(v)) if v == int(v) else "%.15g" % v
want = ["2026-10-01", "2026-11-01", str(len(start)), str(len(churned)), str(len(gone)), r4(len(churned) / len(start)),
        num(r0), num(kept), num(r1), r4(kept / r0), r4(r1 / r0)]
got = list(csv.reader(open(sys.argv[3], encoding="utf-8")))
ok = len(got) == 2 and got[1] == want
if not ok:
    print("got", got, "want", want)
sys.exit(0 if ok else 1)
PY
check gen "there are changes of every common kind" bash -c "for k in new_on_list off_list band_up band_down score_up score_down defected; do grep -q \",\$k,\" '$G/out-2026-11-01/changes.csv' || exit 1; done"
for n in 1 3; do
  run_cli "gen-t$n" run "$G/rules.lua" --data "$G/data" --out "$G/out-t$n" --as-of 2026-11-01 --history "$G/hist-t$n" --threads $n --no-progress -q
  assert_rc "gen-t$n" 0
done
check gen "the snapshot is the same bytes for --threads 1 and 3" cmp -s "$G/hist-t1/2026-11-01/customers.csv.gz" "$G/hist-t3/2026-11-01/customers.csv.gz"
check gen "and the same as the run with all cores" cmp -s "$G/hist-t1/2026-11-01/customers.csv.gz" "$G/hist/2026-11-01/customers.csv.gz"
finish
