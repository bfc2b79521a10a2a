#!/usr/bin/env bash
# Plausibility guards (issue 8, point 4): a run on input it cannot use does not end in
# normal-looking outputs. More rejected rows than --max-reject-share allows (default 1% of an
# input's rows) fail the run (exit 4, one message with the counts and the first rejected row,
# outputs untouched), whatever --max-rejects allows; an as-of date more than --max-as-of-gap
# days (default 31) after a history's newest row, or before most of its rows, is a warning on
# stderr and in run_summary.json "warnings", or with --on-as-of-gap fail an error (exit 4).
source "$TESTS_DIR/fixtures/lib.sh"
make_data "$T/data"
OUT="$T/out"
run_engine good "$OUT"
assert_rc good 0
snapshot "$OUT" "$T/snap.good"

# refused LABEL TEXT...: exit 4, one error message holding every TEXT, OUT unchanged
refused() {
  local label=$1; shift
  assert_rc "$label" 4
  for s in "$@"; do assert_err "$label" "$s"; done
  assert_one_error "$label"
  assert_unchanged "$label" "$OUT" "$T/snap.good"
}
# the guards' warnings in run_summary.json (the rule file's own, on filter values this small data
# set lacks, left out)
warnings_of() { python3 -c 'import json,sys; print(json.dumps([w for w in json.load(open(sys.argv[1]))["warnings"] if "as-of" in w]))' "$1"; }
# warned LABEL DIR TEXT: exit 0, TEXT as a warning on stderr and as the one as-of warning in
# DIR/run_summary.json
warned() {
  assert_rc "$1" 0
  assert_err "$1" "defector: warning: $3"
  check "$1" "run_summary.json warnings: $(warnings_of "$2/run_summary.json")" \
    [ "$(warnings_of "$2/run_summary.json")" = "$(python3 -c 'import json,sys; print(json.dumps([sys.argv[1]]))' "$3")" ]
}

# events N BAD: N events of C1..C3 dated in October 2026, the first BAD of them dated "12/1/2026"
events() {
  local n=$1 bad=$2 i d
  {
    echo "$E_HEAD"
    for ((i = 1; i <= n; i++)); do
      d=$(printf '2026-10-%02d' $((i % 28 + 1)))
      [ "$i" -le "$bad" ] && d="10/$((i % 28 + 1))/2026"
      echo "C$((i % 3 + 1)),$d,login,,web,"
    done
  }
}
with_events() { # LABEL N BAD: a copy of the data whose events are `events N BAD`
  local d
  d=$(copy_data "data-$1")
  write_gz "$d/events.csv.gz" "$(events "$2" "$3")"$'\n'
  echo "$d"
}

# --- every date refused: the run of the issue (0 of N rows loaded, exit 0) now fails ---------
d=$(with_events all_bad 200 200)
DATA="$d" run_engine all_bad "$OUT" --max-rejects 1000000
refused all_bad "events.csv.gz: 200 of 200 rows (100%) were rejected, more than --max-reject-share 1% allows; the first: line 2, column event_date: not a date" \
  '"C2,10/2/2026,login,,web,"' "fix the column's type in the rule file or the export, or raise --max-reject-share"

# --- the limit: 2 of 200 (1%) is allowed, 3 of 200 (1.5%) is not; --max-reject-share moves it -
d=$(with_events two_bad 200 2)
DATA="$d" run_engine two_bad "$T/out-two" --max-rejects 10
assert_rc two_bad 0
assert_err two_bad "events.csv.gz: 200 rows read, 198 loaded, 2 rejected (see rejects.csv)"
check two_bad "rejects.csv should list the 2 rows" [ "$(wc -l < "$T/out-two/rejects.csv")" = 3 ]

d=$(with_events three_bad 200 3)
DATA="$d" run_engine three_bad "$OUT" --max-rejects 10
refused three_bad "events.csv.gz: 3 of 200 rows (1.5%) were rejected, more than --max-reject-share 1% allows; the first: line 2, column event_date"
DATA="$d" run_engine three_bad_allowed "$T/out-three" --max-rejects 10 --max-reject-share 1.5
assert_rc three_bad_allowed 0
assert_err three_bad_allowed "events.csv.gz: 200 rows read, 197 loaded, 3 rejected (see rejects.csv)"
DATA="$d" run_engine three_bad_share "$OUT" --max-rejects 10 --max-reject-share 1.49
refused three_bad_share "3 of 200 rows (1.5%) were rejected, more than --max-reject-share 1.49% allows"

# --- the entity table too: 1 customer of 3 refused ----------------------------------------
d=$(copy_data data-customer)
write_gz "$d/customers.csv.gz" "$C_HEAD"$'\n'\
$'C1,"Smith, Ann",smb,eu,basic,2026-09-01,2026-12-01,49.90,bob\n'\
$'C2,José,consumer,us,pro,2020-01-15,,9.9,\n'\
$'C3,X,enterprise,us,pro,2024-02-30,2026-11-01,99,ann\n'
DATA="$d" run_engine customer "$OUT" --max-rejects 5
refused customer "customers.csv.gz: 1 of 3 rows (33.3%) were rejected, more than --max-reject-share 1% allows; the first: line 4, column signup_date: not a date"
DATA="$d" run_engine customer_allowed "$T/out-customer" --max-rejects 5 --max-reject-share 34
assert_rc customer_allowed 0
assert_err customer_allowed "customers.csv.gz: 3 rows read, 2 loaded, 1 rejected (see rejects.csv)"

# --- as-of gap: the newest event is 2026-10-20 --------------------------------------------
for as_of in 2026-11-01 2026-11-20; do # up to 31 days after it: no warning
  AS_OF=$as_of run_engine "near$as_of" "$T/out-near"
  assert_rc "near$as_of" 0
  refute "near$as_of" "a warning for an as-of date within 31 days: $ERR" grep -q "as-of" <<<"$ERR"
  check "near$as_of" "run_summary.json warnings: $(warnings_of "$T/out-near/run_summary.json")" \
    [ "$(warnings_of "$T/out-near/run_summary.json")" = "[]" ]
done
GAP="events.csv.gz: its newest row is dated 2026-10-20, 32 days before the as-of date 2026-11-21 (more than --max-as-of-gap 31): features over recent days find nothing and every entity looks inactive; is --as-of right (it defaults to today), or is the export old?"
AS_OF=2026-11-21 run_engine gap "$T/out-gap"
warned gap "$T/out-gap" "$GAP"
AS_OF=2026-11-21 run_engine gap_fail "$OUT" --on-as-of-gap fail
refused gap_fail "defector: error: $GAP (--on-as-of-gap fail; with --on-as-of-gap warn the run goes on)"
AS_OF=2026-11-21 run_engine gap_allowed "$T/out-gap2" --max-as-of-gap 32 --on-as-of-gap fail
assert_rc gap_allowed 0
refute gap_allowed "a warning with --max-as-of-gap 32: $ERR" grep -q "as-of" <<<"$ERR"
# years after the data (the issue's case)
AS_OF=2031-01-01 run_engine years "$T/out-years"
assert_rc years 0
assert_err years "events.csv.gz: its newest row is dated 2026-10-20, 1534 days before the as-of date 2031-01-01"

# --- an as-of date before most of the history: 4 of the 5 events are after 2026-09-15 -----
EARLY="events.csv.gz: 4 of its 5 dated rows are after the as-of date 2026-09-15 and were ignored: is --as-of right (it defaults to today)?"
AS_OF=2026-09-15 run_engine early "$T/out-early"
warned early "$T/out-early" "$EARLY"
AS_OF=2026-09-15 run_engine early_fail "$OUT" --on-as-of-gap fail
refused early_fail "defector: error: $EARLY (--on-as-of-gap fail"
# 2 of the 5 after it is not most: 2026-10-05 has 3 events up to it (09-10, 10-01, 10-05), 2 after
AS_OF=2026-10-05 run_engine half "$T/out-half" --on-as-of-gap fail
assert_rc half 0

# --- the reference job on the sample data: no warning ---------------------------------------
DATA="$REPO_DIR/sample-data" run_engine sample "$T/out-sample" --on-as-of-gap fail
assert_rc sample 0
check sample "run_summary.json warnings: $(warnings_of "$T/out-sample/run_summary.json")" \
  [ "$(warnings_of "$T/out-sample/run_summary.json")" = "[]" ]
finish
