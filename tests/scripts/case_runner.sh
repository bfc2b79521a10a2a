#!/usr/bin/env bash
# tests/run_case.sh checks what it says (issue 8, point 5): a case passes only when expected/
# holds something, every expected file matches, and every file the run wrote is expected or
# listed in the case's `ignored` file (which must name files the run wrote).
source "$TESTS_DIR/fixtures/lib.sh"
make_data "$T/data"
# the outputs of the reference job on the test data, once, to build the cases from
run_engine reference "$T/ref"
assert_rc reference 0

# new_case NAME: a case on $T/data with every output of the reference run expected but
# run_summary.json, which is listed in ignored
new_case() {
  local c="$T/cases/$1"
  rm -rf "$c" && mkdir -p "$c/expected"
  cp -r "$T/data" "$c/data"
  echo "rules/retention.lua --as-of $AS_OF" > "$c/args"
  for f in "$T"/ref/*; do [ "$(basename "$f")" = run_summary.json ] || cp "$f" "$c/expected/"; done
  echo run_summary.json > "$c/ignored"
  echo "$c"
}
# runs LABEL CASE WANT_RC [TEXT]: run_case.sh on CASE exits WANT_RC and prints TEXT
runs() {
  local out rc
  out=$(WORK_DIR="$T/work" bash "$TESTS_DIR/run_case.sh" "$2" 2>&1)
  rc=$?
  CHECKS=$((CHECKS + 1))
  [ "$rc" = "$3" ] || fail "$1" "run_case.sh exited $rc, expected $3; it printed:
$out"
  if [ $# -gt 3 ]; then
    CHECKS=$((CHECKS + 1))
    grep -qF -- "$4" <<<"$out" || fail "$1" "run_case.sh should say '$4'; it printed:
$out"
  fi
}
mkdir -p "$T/work"

c=$(new_case complete)
runs complete "$c" 0 "ok complete"

c=$(new_case empty_expected)
rm -f "$c"/expected/*
runs empty_expected "$c" 1 "FAIL empty_expected: $c/expected/ is missing or empty: a case must list the outputs it expects"

c=$(new_case no_expected)
rm -rf "$c/expected"
runs no_expected "$c" 1 "expected/ is missing or empty"

c=$(new_case unlisted_output)
rm -f "$c/expected/metrics_cohort.csv"
runs unlisted_output "$c" 1 "FAIL unlisted_output: the run wrote 'metrics_cohort.csv', which is neither in expected/ nor listed in ignored"

c=$(new_case ignored_output)
rm -f "$c/expected/metrics_cohort.csv"
printf 'run_summary.json\nmetrics_cohort.csv\n' > "$c/ignored"
runs ignored_output "$c" 0 "ok ignored_output"

c=$(new_case no_ignored_file)
rm -f "$c/ignored"
runs no_ignored_file "$c" 1 "the run wrote 'run_summary.json', which is neither in expected/ nor listed in ignored"

c=$(new_case stale_ignored)
printf 'run_summary.json\nold_output.csv\n' > "$c/ignored"
runs stale_ignored "$c" 1 "FAIL stale_ignored: 'old_output.csv' is listed in ignored but the run did not write it"

c=$(new_case differs)
sed -i '2s/^[^,]*,/999,/' "$c/expected/risk_list.csv"
runs differs "$c" 1 "FAIL differs: risk_list.csv differs from the expected output"

c=$(new_case missing_output)
echo "x" > "$c/expected/extra.csv"
runs missing_output "$c" 1 "FAIL missing_output: extra.csv differs from the expected output"

# a failing run: the exit code expected, and no output at all
c=$(new_case failing)
rm -f "$c"/expected/* "$c/ignored"
echo 3 > "$c/expected/exit_code"
rm "$c/data/events.csv.gz"
runs failing "$c" 0 "ok failing"
echo 0 > "$c/expected/exit_code"
runs failing_rc "$c" 1 "FAIL failing: exit code 3, expected 0"
finish
