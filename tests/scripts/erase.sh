#!/usr/bin/env bash
# defector erase (issue 12, point 8): one customer out of every committed night of a run history
# laid out as docs/history.md describes (HISTORY/YYYY-MM-DD/ with customers.csv.gz, the metric
# tables, run_summary.json, .defector-manifest), checked on disk: their snapshot rows are gone
# (and only theirs: not C10's for C1, not a row whose kept text holds "C1"), their key in
# run_summary.json's examples is "(erased)", their rows of the call lists' planned days
# (call_on_<list>.csv.gz) are gone, the metric tables, an uncommitted night and folders
# that are not nights are left as they were, the files keep their mode; a night being written
# (its lock held) is refused.
source "$TESTS_DIR/fixtures/lib.sh"
H="$T/history"
night() { # DATE: a committed night
  local d="$H/$1"
  mkdir -p "$d"
  printf 'customer_id,score,band,stage,on_list,reason_codes,note\nC1,70,high,at_risk,true,complaints;inactive,"said ""C1""\nlater"\nC10,5,low,active,false,,\n"C1",71,high,at_risk,true,,dup\nC2,40,medium,watch,true,price_increase,\n' | gzip -n > "$d/customers.csv.gz"
  chmod 640 "$d/customers.csv.gz"
  printf 'stage,customers\nat_risk,2\n' > "$d/metrics_stage.csv"
  printf '{\n  "as_of": "%s",\n  "inputs": [{"duplicate_examples": ["C1"], "orphan_examples": ["C10", "C7"]}]\n}\n' "$1" > "$d/run_summary.json"
  printf '# defector\ncustomers.csv.gz\nmetrics_stage.csv\nrun_summary.json\n' > "$d/.defector-manifest"
}
night 2026-10-31
night 2026-11-01
printf 'customer_id,call_on\nC10,2026-11-01\nC1,2026-11-02\n' | gzip -n > "$H/2026-11-01/call_on_calls.csv.gz"
echo call_on_calls.csv.gz >> "$H/2026-11-01/.defector-manifest"
night 2026-11-02 && rm "$H/2026-11-02/.defector-manifest" # not committed: never read, never changed
mkdir -p "$H/notes" && cp "$H/2026-10-31/customers.csv.gz" "$H/notes/"
snapshot "$H/2026-11-02" "$T/snap.uncommitted"
snapshot "$H/notes" "$T/snap.notes"
cp "$H/2026-10-31/metrics_stage.csv" "$T/metrics.before"

run_cli erase erase --history "$H" --customer C1
assert_rc erase 0
assert_out erase "erased C1: 5 rows from 2 nights in $H"
check plans "C1's planned call day is gone: $(gzip -dc "$H/2026-11-01/call_on_calls.csv.gz")" \
  [ "$(gzip -dc "$H/2026-11-01/call_on_calls.csv.gz")" = 'customer_id,call_on
C10,2026-11-01' ]
for d in 2026-10-31 2026-11-01; do
  rows=$(gzip -dc "$H/$d/customers.csv.gz")
  check "$d" "C1's rows are gone: $rows" [ "$rows" = 'customer_id,score,band,stage,on_list,reason_codes,note
C10,5,low,active,false,,
C2,40,medium,watch,true,price_increase,' ]
  check "$d" "run_summary.json: $(cat "$H/$d/run_summary.json")" grep -q '"duplicate_examples": \["(erased)"\], "orphan_examples": \["C10", "C7"\]' "$H/$d/run_summary.json"
  check "$d" "the mode kept" [ "$(stat -c %a "$H/$d/customers.csv.gz")" = 640 ]
  check "$d" "metrics untouched" cmp -s "$H/$d/metrics_stage.csv" "$T/metrics.before"
  check "$d" "no temporary left" [ -z "$(find "$H/$d" -name '*erase-tmp*')" ]
done
assert_unchanged uncommitted "$H/2026-11-02" "$T/snap.uncommitted"
assert_unchanged notes "$H/notes" "$T/snap.notes"
run_cli again erase --history "$H" --customer C1
assert_rc again 0
assert_out again "erased C1: 0 rows from 2 nights"

# a night being written: refused, nothing changed in it
flock "$H/2026-11-01" sleep 3 &
holder=$!
sleep 0.5
snapshot "$H/2026-11-01" "$T/snap.locked"
run_cli locked erase --history "$H" --customer C2
assert_rc locked 6
assert_err locked "2026-11-01: a defector run is writing this night; run erase again once it has ended"
assert_unchanged locked "$H/2026-11-01" "$T/snap.locked"
wait "$holder"

run_cli usage erase --history "$H"
assert_rc usage 2
assert_err usage "erase needs --history DIR and --customer ID"
run_cli nohist erase --history "$T/none" --customer C1
assert_rc nohist 3
finish
