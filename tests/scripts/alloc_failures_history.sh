#!/usr/bin/env bash
# The allocation-failure loop (tests/fixtures/alloc_loop.sh) over a run with --history whose
# history already holds the night before: the snapshot, the night folder, the changes, flows,
# trend and churn tables (tests/rules/history.lua on a hand-made case). Every run must fail
# with exit 7 and the outputs as they were, or succeed with the same outputs; after the loop
# the history holds the two nights, committed, and no staging folder. Then the same loop, by
# hand (they write no run_summary.json), over `defector backtest` and `defector diff`.
source "$TESTS_DIR/fixtures/lib.sh"
source "$TESTS_DIR/fixtures/alloc_loop.sh"
R="$REPO_DIR/tests/rules/history.lua"
mkdir -p "$T/d1" "$T/d2"
printf 'id,fee\nA,10\nB,20.5\nC,30\nE,50\n' > "$T/d1/customers.csv"
printf 'id,date,type\nB,2026-01-05,complaint\nC,2026-01-02,complaint\nC,2026-01-08,complaint\n' > "$T/d1/events.csv"
printf 'id,fee\nA,10\nB,25\nC,30\nF,60\n' > "$T/d2/customers.csv"
cp "$T/d1/events.csv" "$T/d2/events.csv" && printf 'A,2026-01-15,complaint\nB,2026-01-18,cancel\n' >> "$T/d2/events.csv"
"$DEFECTOR" run "$R" --data "$T/d1" -o "$T/first" --as-of 2026-01-10 --history "$T/hist" -q 2>/dev/null
check setup "the first night" [ -s "$T/hist/2026-01-10/customers.csv.gz" ]
AS_OF=2026-01-20
loop history run "$R" --data "$T/d2" --history "$T/hist"
check history "the changes were computed in the loop's runs" [ "$(wc -l < "$T/good/changes.csv")" -gt 3 ]
check history "both nights committed" [ -e "$T/hist/2026-01-10/.defector-manifest" ] && [ -e "$T/hist/2026-01-20/.defector-manifest" ]
check history "no staging left in the nights" [ -z "$(find "$T/hist" -name .defector-staging)" ]

# cmd_loop JOB ARGS...: ARGS (writing into $OUT) once, then with each allocation failing in turn:
# exit 7 with one error and the output folder as it was, or exit 0 with the same files
cmd_loop() {
  local job=$1 n total failed_runs=0 tried=0
  shift
  ARGS=("$@" --out "$OUT" --no-progress --quiet --threads 1 --rule-time-limit 0 --rule-memory-limit 0)
  rm -rf "$OUT" "$T/good"
  "$DEFECTOR" "${ARGS[@]}" >/dev/null 2>"$T/good.stderr"
  check "$job" "the job without failures: $(cat "$T/good.stderr")" [ -s "$OUT/.defector-manifest" ]
  cp -r "$OUT" "$T/good"
  snapshot "$OUT" "$T/snap.good"
  shim 0 >/dev/null
  total=$(awk '{print $2}' "$T/count")
  for ((n = 1; n <= ${total:-0}; n++)); do
    rm -rf "$OUT" && cp -r "$T/good" "$OUT"
    shim "$n" >/dev/null
    tried=$((tried + 1))
    if [ "$RC" = 7 ]; then
      failed_runs=$((failed_runs + 1))
      assert_one_error "$job: allocation $n of $total"
      assert_unchanged "$job: allocation $n of $total" "$OUT" "$T/snap.good"
    elif [ "$RC" = 0 ]; then
      check "$job: allocation $n of $total" "the run went on with other outputs" diff -r "$T/good" "$OUT"
    elif ! asan_own "$RC" "$ERR"; then
      fail "$job: allocation $n of $total" "exit code $RC (expected 7, or 0 with the same outputs); stderr:
$ERR"
    fi
  done
  echo "$job: $tried of $total allocations failed in turn: $failed_runs runs out of memory"
  check "$job: coverage" "most runs should meet the failure as out of memory: $failed_runs of $tried" [ $((failed_runs * 2)) -gt "$tried" ]
}
cmd_loop backtest backtest "$R" --data "$T/d2" --as-of 2026-01-10 --horizon 10
check backtest "the backtest found the cancel" grep -q '^2026-01-10,2026-01-20,4,1,' "$T/good/backtest_summary.csv"
sed 's/"complaint", points = 40/"complaint", points = 70/' "$R" > "$T/new.lua"
cmd_loop diff diff "$R" "$T/new.lua" --data "$T/d2" --as-of 2026-01-20
check diff "the diff moved customers" [ "$(wc -l < "$T/good/diff_changes.csv")" -gt 1 ]
finish
