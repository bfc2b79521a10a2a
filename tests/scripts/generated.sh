#!/usr/bin/env bash
# Generated data with every input quirk: the engine must reproduce the independently computed
# expected outputs byte for byte, give the same bytes for every thread count, and report the
# orphans, future-dated rows and blank line the generator put in.
set -u
work="$WORK_DIR/generated"
rm -rf "$work" && mkdir -p "$work"
fail=0
"$DEFECTOR_GEN" --customers 2000 --seed 1234 --quirks --out "$work/data" 2>/dev/null || { echo "FAIL: generator"; exit 1; }
for t in 1 2 4; do
  "$DEFECTOR" run "$REPO_DIR/rules/retention.lua" --data "$work/data" --out "$work/out$t" --as-of 2026-11-01 \
    --threads $t --no-progress 2>"$work/stderr$t" || { echo "FAIL: run with --threads $t"; cat "$work/stderr$t"; exit 1; }
done
for f in "$TESTS_DIR"/expected/generated_quirks/*.csv; do
  b=$(basename "$f")
  if ! cmp -s "$f" "$work/out1/$b"; then
    echo "FAIL: $b differs from the expected output"; diff -u "$f" "$work/out1/$b" | head -20; fail=1
  fi
done
# tiny parsing blocks: many cuts, some next to quoted line breaks
"$DEFECTOR" run "$REPO_DIR/rules/retention.lua" --data "$work/data" --out "$work/outb" --as-of 2026-11-01 \
  --threads 3 --parse-block-kb 1 --no-progress 2>"$work/stderrb" || { echo "FAIL: run with 1 KB blocks"; cat "$work/stderrb"; exit 1; }
for t in 2 4 b; do
  for f in "$work"/out1/*.csv; do
    b=$(basename "$f")
    cmp -s "$f" "$work/out$t/$b" || { echo "FAIL: $b differs between --threads 1 and run $t"; fail=1; }
  done
done
grep -o '"rows_read": [0-9]*, "rows_loaded": [0-9]*' "$work/out1/run_summary.json" > "$work/rows1"
grep -o '"rows_read": [0-9]*, "rows_loaded": [0-9]*' "$work/outb/run_summary.json" > "$work/rowsb"
cmp -s "$work/rows1" "$work/rowsb" || { echo "FAIL: row counts differ with blocks"; fail=1; }

# a malformed row deep in the file: the same message, with the same line, in every mode
python3 - "$work/data/events.csv.gz" <<'PY'
import gzip, sys
p = sys.argv[1]
t = gzip.open(p, 'rb').read().decode('utf-8')
k = t.index('\r\nlogin,', len(t) * 2 // 3) + 2
t = t[:k] + 'login,12x' + t[k + len('login,'):]
gzip.open(p, 'wb').write(t.encode('utf-8'))
PY
msgs=""
for a in "--threads 1" "--threads 2" "--threads 3 --parse-block-kb 1"; do
  "$DEFECTOR" run "$REPO_DIR/rules/retention.lua" --data "$work/data" --out "$work/outerr" --as-of 2026-11-01 $a --no-progress 2>"$work/err"
  [ $? = 4 ] || { echo "FAIL: malformed row with $a: exit code"; fail=1; }
  msgs="$msgs$(head -n 1 "$work/err")
"
done
[ "$(printf '%s' "$msgs" | sort -u | wc -l)" = 1 ] || { echo "FAIL: the error differs between modes:"; printf '%s' "$msgs"; fail=1; }
grep -q 'column amount: more than 6 decimal places\|column amount: not a decimal number' "$work/err" || { echo "FAIL: message: $(cat "$work/err")"; fail=1; }
# the quirks are counted and reported, not silently dropped
grep -q "rows name a customer_id that is not in customers.csv.gz" "$work/stderr1" || { echo "FAIL: orphans not reported"; fail=1; }
grep -q "rows are dated after the as-of date 2026-11-01" "$work/stderr1" || { echo "FAIL: future-dated rows not reported"; fail=1; }
python3 - "$work/out1/run_summary.json" <<'PY' || fail=1
import json, sys
s = json.load(open(sys.argv[1]))
ev = [i for i in s["inputs"] if i["table"] == "events"][0]
cu = [i for i in s["inputs"] if i["table"] == "customers"][0]
problems = []
if ev["orphans"] <= 0: problems.append("no orphans counted")
if ev["future_dated"] <= 0: problems.append("no future-dated rows counted")
if ev["blank_lines"] != 1: problems.append("blank_lines = %d, expected 1" % ev["blank_lines"])
if cu["columns_ignored"] != 3: problems.append("customers columns_ignored = %d, expected 3 (plan, source_system, region)" % cu["columns_ignored"])
if ev["rows_read"] != ev["rows_loaded"] + ev["orphans"] + ev["future_dated"] + ev["rows_rejected"]:
    problems.append("events rows do not add up: %r" % ev)
if s["customers_scored"] != 2000: problems.append("customers_scored = %d" % s["customers_scored"])
for p in problems: print("FAIL:", p)
sys.exit(1 if problems else 0)
PY
[ $fail = 0 ] && echo "ok: generated quirks data, threads 1/2/4 identical"
exit $fail
