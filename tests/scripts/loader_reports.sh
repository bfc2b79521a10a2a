#!/usr/bin/env bash
# The loader bugs users reported (issue 8), each run through the command line as it was reported,
# with the outcome it must have now: the right rows, or one clear error (exit code, file, line,
# what to do) with the previous outputs untouched. The finer cases are in the unit tests
# (test_core_csvload.c, test_core_io.c, test_core_values.c) and the CSV suites (csv_suites.sh).
source "$TESTS_DIR/fixtures/lib.sh"
SAMPLE="$REPO_DIR/sample-data"
OUT="$T/out"
run_engine good "$OUT" --data "$SAMPLE"
assert_rc good 0
snapshot "$OUT" "$T/snap.good"

# refused LABEL RC TEXT...: exit code RC, one error message holding every TEXT, OUT unchanged
refused() {
  local label=$1 rc=$2; shift 2
  assert_rc "$label" "$rc"
  for s in "$@"; do assert_err "$label" "$s"; done
  assert_one_error "$label"
  assert_unchanged "$label" "$OUT" "$T/snap.good"
}
# sample LABEL: a copy of sample-data at $T/LABEL (echoes the path)
sample() { rm -rf "${T:?}/$1" && cp -r "$SAMPLE" "$T/$1" && echo "$T/$1"; }
# loaded LABEL TABLE N: the run's report says N rows of TABLE were loaded
loaded() { assert_err "$1" "$2.csv.gz: $3 rows read, $3 loaded"; }

# --- 8.5: a header-only file: no customers is an error, no events is not ------------------
d=$(sample header_only)
zcat "$SAMPLE/customers.csv.gz" | head -1 | gzip -n > "$d/customers.csv.gz"
run_engine header_only_customers "$OUT" --data "$d"
refused header_only_customers 4 "customers.csv.gz: no rows: the file has a header line and nothing else"
for t in 1 2; do
  cp "$SAMPLE/customers.csv.gz" "$d/customers.csv.gz"
  zcat "$SAMPLE/events.csv.gz" | head -1 | gzip -n > "$d/events.csv.gz"
  run_engine "header_only_events$t" "$T/out-he$t" --data "$d" --threads $t
  assert_rc "header_only_events$t" 0
  assert_err "header_only_events$t" "events.csv.gz: 0 rows read, 0 loaded"
  loaded "header_only_events$t" customers 3000
done

# --- 8.2: a decimal past what 64 bits hold is refused, not wrapped around ------------------
d=$(sample big_decimal)
zcat "$SAMPLE/customers.csv.gz" | sed '3s/,20.28,/,10000000000000,/' | gzip -n > "$d/customers.csv.gz"
run_engine big_decimal "$OUT" --data "$d"
refused big_decimal 4 "customers.csv.gz:3: column monthly_fee" "out of range: a decimal goes from" '"10000000000000"'

finish
