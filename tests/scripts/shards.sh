#!/usr/bin/env bash
# run --shard I/N and defector merge (docs/scale-out.md): for N = 1, 2, 3 and 7 the merged
# outputs are the single run's bytes, on generated data with quirks (BOMs, CRLF, orphans,
# future-dated rows, formula-like names) plus a malformed row set aside, for every output the
# project writes: lists (ranked, with ties), metrics tables, rule_errors.csv, rejects.csv, a
# workbook with typed sheets, an output split per owner as a workbook, the morning report, and
# the run history: two nights, whose snapshots, changes, flows, trend and churn tables must be
# the single run's too. The shards score with 2 threads, the single run with 1. Then what must be
# refused: a shard missing or given twice, shards of another job, another rule file, a merge
# --history the shards did not prepare, a partial cut short, a bad --shard; a failed merge
# leaves its folder as it was. A tiny base with 7 shards leaves shards without any entity.
source "$TESTS_DIR/fixtures/lib.sh"
"$DEFECTOR_GEN" --customers 2500 --seed 5 --quirks --out "$T/data" 2>/dev/null || { fail gen "the generator failed"; finish; }
# one malformed row (a date that is not one), set aside with --max-rejects
zcat "$T/data/events.csv.gz" > "$T/events.csv"
head -n 1 "$T/events.csv" | grep -q event_date || fail gen "events.csv.gz has no event_date column"
/usr/bin/python3 - "$T/events.csv" <<'PY'
import csv, io, sys
p = sys.argv[1]
text = open(p, encoding="utf-8-sig", newline="").read()
head = next(csv.reader(io.StringIO(text)))
row = ["" for _ in head]
row[head.index("customer_id")] = "C0000007"
row[head.index("event_date")] = "31/02/2026"
row[head.index("event_type")] = "login"
nl = "\r\n" if "\r\n" in text else "\n"
with open(p, "a", encoding="utf-8", newline="") as f:
    f.write(("" if text.endswith(("\n", "\r")) else nl) + ",".join(row) + nl)
PY
gzip -n -c "$T/events.csv" > "$T/data/events.csv.gz"

# the reference job, with a rule that fails for customers without a renewal date (rule_errors.csv),
# the tables over nights, a workbook gathering a list and a metrics table, a call list per owner
{
  sed -e '0,/^output {$/s//rule { "fragile", points = 1, when = function(c) return c.renewal_date - AS_OF < 30 end }\n\noutput {/' \
    "$REPO_DIR/rules/retention.lua"
  cat <<'EOF'
changes { file = "changes.csv", flows = "flows.csv", min_score_change = 20 }
trend { file = "trend_stage.csv", metrics = "metrics_stage.csv", nights = 5 }
churn { file = "churn.csv" }
workbook { file = "retention.xlsx", sheets = { "risk_list.csv", { "Segments", "metrics_segment.csv" } } }
output { file = "calls.xlsx", where = function(c) return c.score >= 30 end, order = { "band", "segment" },
  columns = { "rank", "customer_id", "name", "score", "band", "reasons" }, split_by = "owner" }
-- groups whose order ties (many): a run writes them in the order it first meets them
metrics { file = "by_owner.csv", group_by = { "owner" }, order = { "many desc" },
  columns = { "owner", { "customers", count() }, { "fee", sum("monthly_fee", 2) },
              { "many", function(row) return row.customers >= 150 end } } }
EOF
} > "$T/rules.lua"
grep -q 'rule { "fragile"' "$T/rules.lua" || fail setup "the fragile rule was not added to the rule file"

OPTS=(--max-rejects 10 --on-rule-error skip --no-progress -q)
# Every folder is named alike under its own working folder (out, hist): messages that name them
# (the changes' note on the first night, in the workbook's run sheet) are the same.
single() { # DAY
  (cd "$T/one" && "$DEFECTOR" run "$T/rules.lua" --data "$T/data" -o "out-$1" --as-of "$1" --history hist --threads 1 "${OPTS[@]}") \
    2>"$T/one-$1.stderr"
}
sharded() { # N DAY: the N shards (in reverse order: the merge takes them in any order), then the merge
  local n=$1 d=$2 i args=()
  for ((i = 0; i < n; i++)); do
    (cd "$T/n$n" && "$DEFECTOR" run "$T/rules.lua" --data "$T/data" -o "shard$i-$d" --as-of "$d" --history hist --threads 2 \
      --shard "$i/$n" "${OPTS[@]}") 2>"$T/n$n-shard$i.stderr" || { fail "n$n" "shard $i/$n failed: $(cat "$T/n$n-shard$i.stderr")"; return 1; }
    args=("shard$i-$d" "${args[@]}")
  done
  (cd "$T/n$n" && "$DEFECTOR" merge "$T/rules.lua" "${args[@]}" -o "out-$d" --history hist --no-progress -q) 2>"$T/n$n-merge.stderr" \
    || fail "n$n" "the merge of $n shards failed: $(cat "$T/n$n-merge.stderr")"
}
# the parts of run_summary.json that do not measure time or memory
summary_counts() {
  /usr/bin/python3 - "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for t in s["inputs"]:
    for k in ("cpu_seconds", "load_seconds", "memory_bytes"): t.pop(k, None)
for k in ("timings_seconds", "peak_memory_bytes", "scoring_states", "threads"): s.pop(k, None)
print(json.dumps(s, sort_keys=True))
PY
}

mkdir -p "$T/one" "$T/n1" "$T/n2" "$T/n3" "$T/n7"
for d in 2026-10-01 2026-11-01; do
  single "$d" || fail "one-$d" "the single run failed: $(cat "$T/one-$d.stderr")"
  for n in 1 2 3 7; do sharded "$n" "$d"; done
done

# what the single run wrote is worth comparing: every kind of output, with rows
O="$T/one/out-2026-11-01"
for f in risk_list.csv metrics_segment.csv metrics_cohort.csv by_owner.csv rule_errors.csv rejects.csv retention.xlsx calls.xlsx report.html \
  changes.csv flows.csv trend_stage.csv churn.csv; do
  check "one" "the single run wrote no $f" [ -s "$O/$f" ]
done
check one "rule_errors.csv lists the customers without a renewal date: $(wc -l < "$O/rule_errors.csv") lines" \
  [ "$(wc -l < "$O/rule_errors.csv")" -gt 100 ]
check one "rejects.csv holds the malformed row: $(cat "$O/rejects.csv")" grep -q '31/02/2026' "$O/rejects.csv"
check one "changes.csv has rows on the second night" [ "$(wc -l < "$O/changes.csv")" -gt 10 ]
check one "churn.csv has a period on the second night" [ "$(wc -l < "$O/churn.csv")" = 2 ]
check one "the risk list has ties on its order (equal revenue at risk) for the merge to keep: $(cut -d, -f1 --complement "$O/risk_list.csv" | head -3)" \
  /usr/bin/python3 -c 'import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); v=[x["revenue_at_risk"] for x in r]; sys.exit(len(v)==len(set(v)))' "$O/risk_list.csv"
check one "by_owner.csv has groups whose order ties: $(cut -d, -f4 "$O/by_owner.csv" | sort | uniq -c | tr '\n' ' ')" \
  [ "$(tail -n +2 "$O/by_owner.csv" | cut -d, -f4 | sort | uniq -c | awk '$1 > 1' | wc -l)" -ge 1 ]
check one "the events' orphans and future rows are counted" grep -q '"orphans": [1-9]' "$O/run_summary.json"

for n in 1 2 3 7; do
  for d in 2026-10-01 2026-11-01; do
    A="$T/one/out-$d" B="$T/n$n/out-$d"
    for f in "$A"/* "$A"/.defector-manifest; do
      b=$(basename "$f")
      case $b in run_summary.json | status.json | last_success.json) continue ;; esac
      check "n$n-$d" "$b differs between one run and the merge of $n shards: $(cmp "$f" "$B/$b" 2>&1 | head -2)" cmp -s "$f" "$B/$b"
    done
    check "n$n-$d" "the merge wrote files the single run did not: $(diff <(ls -A "$A") <(ls -A "$B"))" [ "$(ls -A "$A")" = "$(ls -A "$B")" ]
    check "n$n-$d" "run_summary.json's counts differ from the single run's: $(diff <(summary_counts "$A/run_summary.json" | tr , '\n') <(summary_counts "$B/run_summary.json" | tr , '\n') | head -6)" \
      [ "$(summary_counts "$A/run_summary.json")" = "$(summary_counts "$B/run_summary.json")" ]
    # the night kept in the run history: snapshot, metrics tables, rule file (its run_summary.json measures time)
    for f in "$T/one/hist/$d"/*; do
      b=$(basename "$f")
      [ "$b" = run_summary.json ] && continue
      check "n$n-hist-$d" "hist/$d/$b differs between one run and the merge of $n shards" cmp -s "$f" "$T/n$n/hist/$d/$b"
    done
  done
  # each customer was scored by one shard: the shards' counts add up to the base
  sum=0
  for ((i = 0; i < n; i++)); do
    c=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["customers_scored"])' "$T/n$n/shard$i-2026-11-01/run_summary.json")
    sum=$((sum + c))
    [ "$n" -gt 1 ] && check "n$n-split" "shard $i/$n scored $c of 2500 customers: the hash should spread them" [ "$c" -gt $((2500 / n / 2)) ]
  done
  check "n$n-split" "the $n shards scored $sum customers, not the 2500 of the base" [ "$sum" = 2500 ]
  check "n$n-files" "a shard's folder holds its partial, rejects.csv and run_summary.json, no outputs: $(ls "$T/n$n/shard0-2026-11-01")" \
    [ "$(ls "$T/n$n/shard0-2026-11-01" | tr '\n' ' ')" = "last_success.json rejects.csv run_summary.json shard.partial status.json " ]
done
check n3-mem "a shard keeps only its customers' history rows: $(grep -o '"rows_loaded": [0-9]*' "$T/n3/shard0-2026-11-01/run_summary.json" | tail -1)" \
  /usr/bin/python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))["inputs"][1]["rows_loaded"]; b = json.load(open(sys.argv[2]))["inputs"][1]["rows_loaded"]
sys.exit(not (0 < b < a * 0.6))' "$T/one/out-2026-11-01/run_summary.json" "$T/n3/shard0-2026-11-01/run_summary.json"

# ---- what is refused ----
cd "$T/n3" || exit 1
M=(merge "$T/rules.lua")
mkdir -p kept && "$DEFECTOR" "${M[@]}" shard0-2026-11-01 shard1-2026-11-01 shard2-2026-11-01 -o kept --history hist-kept -q 2>/dev/null
snapshot kept "$T/kept.snap"
run_cli missing "${M[@]}" shard0-2026-11-01 shard2-2026-11-01 -o kept --history hist-kept
assert_rc missing 2
assert_err missing "this is shard 0 of 3, but 2 partials were given"
run_cli twice "${M[@]}" shard0-2026-11-01 shard2-2026-11-01 shard2-2026-11-01 -o kept --history hist-kept
assert_rc twice 2
assert_err twice "shard 2/3 is given twice"
run_cli mixed "${M[@]}" shard0-2026-11-01 shard1-2026-10-01 shard2-2026-11-01 -o kept --history hist-kept
assert_rc mixed 2
assert_err mixed "this shard ran another job than"
# one shard with its ids hashed, the others plain: refused, naming the difference
DEFECTOR_ID_SALT=s3cret "$DEFECTOR" run "$T/rules.lua" --data "$T/data" -o shard1-hashed --as-of 2026-11-01 --history hist --shard 1/3 \
  --hash-ids "${OPTS[@]}" 2>/dev/null || fail hashed "the shard with --hash-ids failed"
run_cli hashed "${M[@]}" shard0-2026-11-01 shard1-hashed shard2-2026-11-01 -o kept --history hist-kept
assert_rc hashed 2
assert_err hashed "ids hashed, salt"
# partials given as files, in a folder whose rejects.csv is not shard 0's: refused (exit 3)
mkdir -p loose && cp shard0-2026-11-01/shard.partial loose/s0.partial && cp shard1-2026-11-01/shard.partial loose/s1.partial \
  && cp shard2-2026-11-01/shard.partial loose/s2.partial && printf 'file,line,column,reason,raw\n' > loose/rejects.csv
run_cli loose "${M[@]}" loose/s0.partial loose/s1.partial loose/s2.partial -o kept --history hist-kept
assert_rc loose 3
assert_err loose "this rejects.csv is not the one shard 0 wrote beside its partial"
# the same rows, other bytes (the export written again while the shards ran): refused
mkdir -p "$T/data2" && cp "$T/data/customers.csv.gz" "$T/data2/" && gzip -n -9 -c "$T/events.csv" > "$T/data2/events.csv.gz"
"$DEFECTOR" run "$T/rules.lua" --data "$T/data2" -o shard1-other --as-of 2026-11-01 --history hist --shard 1/3 "${OPTS[@]}" 2>/dev/null \
  || fail changed "shard 1/3 on the data written again failed"
run_cli changed "${M[@]}" shard0-2026-11-01 shard1-other shard2-2026-11-01 -o kept --history hist-kept
assert_rc changed 2
assert_err changed "this shard read another events.csv.gz than shard0-2026-11-01/shard.partial did"
assert_err changed "the export changed while the shards ran; run every shard again on the same files"
sed 's/points = 1, when/points = 2, when/' "$T/rules.lua" > "$T/other.lua"
run_cli other merge "$T/other.lua" shard0-2026-11-01 shard1-2026-11-01 shard2-2026-11-01 -o kept --history hist-kept
assert_rc other 2
assert_err other "the shards ran another rule file"
run_cli nohist "${M[@]}" shard0-2026-11-01 shard1-2026-11-01 shard2-2026-11-01 -o kept
assert_rc nohist 2
assert_err nohist "the shards ran with --history (for a merge that keeps the night): give the merge --history DIR"
head -c 2000 shard1-2026-11-01/shard.partial > cut.partial
run_cli cut "${M[@]}" shard0-2026-11-01 cut.partial shard2-2026-11-01 -o kept --history hist-kept
assert_rc cut 3
assert_err cut "cut.partial: not a partial result of defector run --shard (it is cut short or damaged: its checksum does not match)"
# one byte changed in the middle (a disk, a copy): refused the same way
cp shard1-2026-11-01/shard.partial flipped.partial
/usr/bin/python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) // 2] ^= 1; open(sys.argv[1], "wb").write(b)' flipped.partial
run_cli flipped "${M[@]}" shard0-2026-11-01 flipped.partial shard2-2026-11-01 -o kept --history hist-kept
assert_rc flipped 3
assert_err flipped "flipped.partial: not a partial result of defector run --shard (it is cut short or damaged: its checksum does not match)"
printf 'hello' > not.partial
run_cli notone "${M[@]}" shard0-2026-11-01 not.partial shard2-2026-11-01 -o kept --history hist-kept
assert_rc notone 3
assert_err notone "not.partial: not a partial result of defector run --shard (it does not begin as one)"
run_cli none "${M[@]}" -o kept
assert_rc none 2
assert_err none "merge needs the output folder of each shard"
assert_unchanged refused kept "$T/kept.snap"
for bad in 3/3 1/0 -1/2 a/2 1 2/4097; do
  label="shard-${bad//\//-of-}"
  run_cli "$label" run "$T/rules.lua" --data "$T/data" -o x --shard "$bad"
  assert_rc "$label" 2
  assert_err "$label" "--shard: '$bad' is not I/N with 0 <= I < N <= 4096"
done
run_cli shard-deliver run "$T/rules.lua" --data "$T/data" -o x --shard 0/2 --on-success true
assert_rc shard-deliver 2
assert_err shard-deliver "--on-success is the merge's"
check refused-out "a refused shard run should not create its folder" [ ! -e x ]

# ---- an export in parts (events-*.csv.gz): each shard reads the parts (in parallel), keeps its rows ----
mkdir -p "$T/parts/data" && cd "$T/parts" || exit 1
cp "$T/data/customers.csv.gz" data/
head -n 1 "$T/events.csv" > head.csv
tail -n +2 "$T/events.csv" > body.csv
split -n l/3 body.csv part-
for p in part-aa part-ab part-ac; do cat head.csv "$p" | gzip -n > "data/events-$p.csv.gz"; done
sed 's/file = "events.csv.gz"/file = "events-*.csv.gz"/' "$T/rules.lua" > rules.lua
check parts "the rule file should read the export in parts" grep -q 'events-\*.csv.gz' rules.lua
"$DEFECTOR" run rules.lua --data data -o one --as-of 2026-11-01 "${OPTS[@]}" 2>one.err || fail parts "the single run failed: $(cat one.err)"
for i in 0 1 2; do
  "$DEFECTOR" run rules.lua --data data -o "s$i" --as-of 2026-11-01 --shard "$i/3" "${OPTS[@]}" 2>"s$i.err" || fail parts "shard $i/3 failed: $(cat "s$i.err")"
done
"$DEFECTOR" merge rules.lua s1 s2 s0 -o merged -q 2>merge.err || fail parts "the merge failed: $(cat merge.err)"
for f in one/*.csv one/*.xlsx one/report.html; do
  check parts "$(basename "$f") differs between one run and the merge of 3 shards of an export in parts" cmp -s "$f" "merged/$(basename "$f")"
done
check parts "the parts' malformed row should be in rejects.csv" grep -q '31/02/2026' merged/rejects.csv

# ---- a tiny base: most of 7 shards have no customer at all ----
mkdir -p "$T/tiny" && make_data "$T/tiny/data"
cd "$T/tiny" || exit 1
"$DEFECTOR" run "$RULES" --data data -o one --as-of "$AS_OF" -q 2>/dev/null || fail tiny "the single run failed"
args=()
for i in 0 1 2 3 4 5 6; do
  "$DEFECTOR" run "$RULES" --data data -o "s$i" --as-of "$AS_OF" -q --shard "$i/7" 2>"s$i.err" || fail tiny "shard $i/7 failed: $(cat "s$i.err")"
  args+=("s$i")
done
empty=$(grep -l '"customers_scored": 0' s*/run_summary.json | wc -l)
check tiny "3 customers in 7 shards should leave at least 4 shards empty, $empty are" [ "$empty" -ge 4 ]
"$DEFECTOR" merge "$RULES" "${args[@]}" -o merged -q 2>merge.err || fail tiny "the merge failed: $(cat merge.err)"
for f in one/*.csv one/report.html; do
  b=$(basename "$f")
  check tiny "$b differs between one run and the merge of 7 shards" cmp -s "$f" "merged/$b"
done
# ---- the lifecycle job (issue 14): call lists capped per owner with a cool-down over nights, the
# save rate, medians and percentiles; three nights into a history (11-02 the day after 11-01: the
# customers carried by 11-01 and not called yet listed again), 3 shards against one run ----
mkdir -p "$T/life" && cd "$T/life" || exit 1
LIFE="$REPO_DIR/rules/lifecycle.lua"
LDATA="$REPO_DIR/sample-data/lifecycle"
for d in 2026-11-01 2026-11-02 2026-11-08; do
  "$DEFECTOR" run "$LIFE" --data "$LDATA" -o "one-$d" --as-of "$d" --history hone -q 2>/dev/null || fail life "the single run of $d failed"
  for i in 0 1 2; do
    "$DEFECTOR" run "$LIFE" --data "$LDATA" -o "s$i" --as-of "$d" --history hsh --threads 2 --shard "$i/3" -q 2>"s$i.err" \
      || fail life "shard $i/3 of $d failed: $(cat "s$i.err")"
  done
  "$DEFECTOR" merge "$LIFE" s2 s0 s1 -o "m-$d" --history hsh -q 2>merge.err || fail life "the merge of $d failed: $(cat merge.err)"
  for f in "one-$d"/*.csv; do
    check life "$(basename "$f") of $d differs between one run and the merge of 3 shards" cmp -s "$f" "m-$d/$(basename "$f")"
  done
  check life "the night's call_on_calls.csv.gz of $d differs between one run and the merge of 3 shards" \
    cmp -s <(zcat "hone/$d/call_on_calls.csv.gz") <(zcat "hsh/$d/call_on_calls.csv.gz")
done
# shards that read another run history than the merge (not shared, a typo): refused, exit 2
for i in 0 1 2; do
  "$DEFECTOR" run "$LIFE" --data "$LDATA" -o "x$i" --as-of 2026-11-08 --history elsewhere --shard "$i/3" -q 2>/dev/null || fail life "shard $i with another history failed"
done
"$DEFECTOR" merge "$LIFE" x0 x1 x2 -o m-x --history hsh -q 2>x.err
check life "a merge of shards that read another history should be refused (exit 2), got $?" [ $? = 2 ]
check life "the refusal should say so: $(cat x.err)" grep -q 'holds other nights than the merge' x.err
check life "the refused merge should write nothing" [ ! -e m-x/calls.csv ]
check life "the second night's save rate should have rows" [ "$(wc -l < one-2026-11-08/save_rate.csv)" -gt 1 ]
check life "the second night's call list should be shorter for the cool-down" \
  [ "$(wc -l < one-2026-11-08/calls.csv)" -lt "$(wc -l < one-2026-11-01/calls.csv)" ]
check life "metrics_service.csv should hold medians" grep -q 'callback_hours_median' one-2026-11-01/metrics_service.csv

# ---- a transaction export (issue 15): customers made from the history, distinct counts, the
# retention triangle; 4 shards against one run ----
mkdir -p "$T/retail" && cd "$T/retail" || exit 1
RETAIL="$REPO_DIR/rules/retail.lua"
RDATA="$REPO_DIR/tests/data/online-retail"
"$DEFECTOR" run "$RETAIL" --data "$RDATA" -o one --as-of 2011-12-01 -q 2>/dev/null || fail retail "the single run failed"
for i in 0 1 2 3; do
  "$DEFECTOR" run "$RETAIL" --data "$RDATA" -o "s$i" --as-of 2011-12-01 --shard "$i/4" -q 2>"s$i.err" || fail retail "shard $i/4 failed: $(cat "s$i.err")"
done
"$DEFECTOR" merge "$RETAIL" s0 s1 s2 s3 -o merged -q 2>merge.err || fail retail "the merge failed: $(cat merge.err)"
for f in one/*.csv; do
  check retail "$(basename "$f") differs between one run and the merge of 4 shards" cmp -s "$f" "merged/$(basename "$f")"
done
check retail "the triangle should have cohorts" [ "$(wc -l < one/retention_triangle.csv)" -gt 3 ]
# ---- warnings of the rule file over the whole base: an event type held by one customer only
# (its shard alone has it), and none at all for others: a run warns of what matches no row of
# the whole export; so does the merge (run sheet of the workbooks, run_summary, --strict) ----
mkdir -p "$T/warn/data" && cd "$T/warn" || exit 1
printf 'customer_id,name,segment,owner,signup_date,renewal_date,monthly_fee\n' > c.csv
for i in 1 2 3 4 5 6; do printf 'C%d,Name %d,smb,ann,2025-0%d-01,,10.00\n' "$i" "$i" "$i" >> c.csv; done
printf 'customer_id,event_date,event_type,amount\nC1,2026-10-01,voicemail,\nC2,2026-10-02,complaint,\nC3,2026-10-03,purchase,12.50\n' > e.csv
gzip -nc c.csv > data/customers.csv.gz && gzip -nc e.csv > data/events.csv.gz
WB="$REPO_DIR/rules/retention-workbook.lua"
"$DEFECTOR" run "$WB" --data data -o one --as-of 2026-11-01 -q 2>/dev/null || fail warn "the single run failed"
"$DEFECTOR" run "$WB" --data data -o one-strict --as-of 2026-11-01 --strict -q 2>/dev/null
strict_one=$?
check warn "the single run should warn of event types that match no row" grep -q 'matches no row' one/run_summary.json
for n in 2 3; do
  args=()
  for ((i = 0; i < n; i++)); do
    "$DEFECTOR" run "$WB" --data data -o "n$n-s$i" --as-of 2026-11-01 --shard "$i/$n" -q 2>"n$n-s$i.err" || fail warn "shard $i/$n failed: $(cat "n$n-s$i.err")"
    args+=("n$n-s$i")
  done
  "$DEFECTOR" merge "$WB" "${args[@]}" -o "n$n" -q 2>/dev/null || fail warn "the merge of $n shards failed"
  for f in one/*.csv one/*.xlsx; do
    check warn "$(basename "$f") differs between one run and the merge of $n shards" cmp -s "$f" "n$n/$(basename "$f")"
  done
  check warn "run_summary.json's counts and warnings differ from the single run's (merge of $n)" \
    [ "$(summary_counts one/run_summary.json)" = "$(summary_counts "n$n/run_summary.json")" ]
  "$DEFECTOR" merge "$WB" "${args[@]}" -o "n$n-strict" --strict -q 2>/dev/null
  check warn "merge --strict of $n shards exits $? where run --strict exits $strict_one" [ $? = "$strict_one" ]
done
finish
