#!/usr/bin/env bash
# The allocation-failure loop (tests/fixtures/alloc_loop.sh) over small jobs on one thread: the
# reference job (3 customers, 5 events, the reference rule file, every output); a job through
# the other paths of a run (an export in parts, rejects.csv, rule_errors.csv); the authoring
# commands; and a rule whose values outgrow LuaJIT's heap.
source "$TESTS_DIR/fixtures/lib.sh"
source "$TESTS_DIR/fixtures/alloc_loop.sh"
make_data "$T/data"

# the reference job on 3 customers and 5 events: every output
loop reference run "$RULES" --data "$T/data"

# the other paths of a run: an export in parts, a row set aside in rejects.csv, a rule failing
# for one customer set aside in rule_errors.csv (--on-rule-error skip)
mkdir -p "$T/data2"
cp "$T/data/customers.csv.gz" "$T/data2/"
zcat "$T/data/events.csv.gz" | head -n 2 | gzip -n > "$T/data2/events-1.csv.gz"
{ echo "$E_HEAD"; zcat "$T/data/events.csv.gz" | tail -n +3; echo "C3,2026-10-32,login,,web,"; } | gzip -n > "$T/data2/events-2.csv.gz"
sed 's/"events.csv.gz"/"events-*.csv.gz"/; s/return c.complaints_90 >= 2 end/return c.complaints_90 >= 2 and c.renewal_date > 0 end/' \
  "$RULES" > "$T/paths.lua"
loop paths run "$T/paths.lua" --data "$T/data2" --max-rejects 1 --max-reject-share 100 --on-rule-error skip
check paths "the job should set a row aside and skip a rule: $(ls "$T/good")" \
  test "$(wc -l < "$T/good/rejects.csv")" = 2 -a "$(wc -l < "$T/good/rule_errors.csv")" = 2

# the authoring commands: explain, check --data, and test on three cases (one failing: exit 8).
# Before: an out-of-memory case was a FAILed case (exit 8), check said "cannot start zlib".
B=(--rule-time-limit 0 --rule-memory-limit 0)
loop_cmd explain 0 explain "$RULES" --data "$T/data" --customer C2 --as-of "$AS_OF" --no-progress --threads 1 "${B[@]}"
loop_cmd check 0 check "$RULES" --data "$T/data"
{ head -n 25 "$REPO_DIR/rules/retention.test.lua"
  echo 'case { "a case that fails", as_of = A, customer = steady(), events = { YESTERDAY }, expect = { score = 1 } }'
} > "$T/three.test.lua"
loop_cmd test 8 test "$RULES" "$T/three.test.lua" "${B[@]}"
check test "the three cases: $(cat "$T/good.stdout")" grep -qx "2 passed, 1 failed" "$T/good.stdout"

# a rule whose values outgrow memory (LuaJIT's heap cannot take a 10 MB block) runs the run out
# of memory: exit 7 with --on-rule-error skip too, not a rule failure set aside (it was: exit 0,
# "not enough memory" in rule_errors.csv for every customer)
sed 's/return c.complaints_90 >= 2 end/local t = {}; for i = 1, 100 do t[i] = ("x"):rep(1e7) .. i end; return false end/' \
  "$RULES" > "$T/hog.lua"
check hog "the sed found no rule to change" grep -q 'rep(1e7)' "$T/hog.lua"
rm -rf "$OUT" && cp -r "$T/good" "$OUT"
for skip in stop skip; do
  DF_ALLOC_MMAP_LIMIT=8000000 LD_PRELOAD="$ALLOCFAIL" "$DEFECTOR" run "$T/hog.lua" --data "$T/data" --out "$OUT" --as-of "$AS_OF" \
    --no-progress --on-rule-error "$skip" --rule-memory-limit 0 2>"$T/hog.stderr"
  RC=$? ERR=$(cat "$T/hog.stderr")
  assert_rc "hog $skip" 7
  assert_one_error "hog $skip"
  assert_err "hog $skip" "hog.lua:73: rule complaints: out of memory while scoring customer_id C1"
  assert_unchanged "hog $skip" "$OUT" "$T/snap.good"
done
finish
