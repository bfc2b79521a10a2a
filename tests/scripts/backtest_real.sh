#!/bin/bash
# backtest_real.sh: the backtests on real data of docs/history.md ("On real data"), on the cuts
# in tests/data: CDNOW (39 weeks of calibration, the other 39 as the outcome) and the Online
# Retail export (replayed at 2011-06-01, outcome: no purchase in the next 180 days). The figures
# the docs show must be the engine's, and every figure must match the Python re-computation from
# the snapshots of ordinary runs at the as-of date and at the outcome date.
source "$TESTS_DIR/fixtures/lib.sh"
DOC="$REPO_DIR/docs/history.md"

# the block of the docs after "<!-- backtest NAME -->"
doc_block() { awk -v m="<!-- backtest $1 -->" '$0 == m { on = 1; next } on && /^```$/ { n++; if (n == 2) exit; next } on && n == 1' "$DOC"; }
# the engine's tables as the docs show them: summary without the caveat, bands, rules; no "all" rows
shown() { { cut -d, -f1-10 "$1/backtest_summary.csv"; cat "$1/backtest_bands.csv" "$1/backtest_rules.csv"; } | grep -v '^all,'; }

one() { # one NAME DATA_DIR AS_OF HORIZON OUTCOME_DATE BANDS RULES KS
  local name=$1 data=$2 as_of=$3 horizon=$4 later=$5 bands=$6 rules=$7 ks=$8
  local R="$REPO_DIR/tests/rules/backtest/$name.lua"
  run_cli "bt-$name" backtest "$R" --data "$data" -o "$T/$name" --as-of "$as_of" --horizon "$horizon" -q
  assert_rc "bt-$name" 0
  check "docs $name" "docs/history.md shows other figures than the engine's: $(diff <(doc_block "$name") <(shown "$T/$name") | head -5)" \
    [ "$(doc_block "$name")" = "$(shown "$T/$name")" ]
  check "docs $name" "the docs block is missing" [ "$(doc_block "$name" | wc -l)" -gt 5 ]
  for d in "$as_of" "$later"; do
    run_cli "run-$name-$d" run "$R" --data "$data" -o "$T/run-$name-$d" --as-of "$d" --history "$T/hist-$name" -q
    assert_rc "run-$name-$d" 0
  done
  local outcome eligible
  outcome=$(sed -n 's/^backtest { outcome = "\([a-z_0-9]*\)".*/\1/p' "$R")
  eligible=$(sed -n 's/^backtest {.*eligible = "\([a-z_0-9]*\)".*/\1/p' "$R")
  check "recompute $name" "the figures differ from the re-computation: $(/usr/bin/python3 "$TESTS_DIR/fixtures/backtest_check.py" "fields:$outcome:$eligible" "$horizon" "$T/$name" "$bands" "$rules" "$ks" "$as_of=$T/hist-$name/$as_of/customers.csv.gz,$T/hist-$name/$later/customers.csv.gz" 2>&1 | head -5)" \
    /usr/bin/python3 "$TESTS_DIR/fixtures/backtest_check.py" "fields:$outcome:$eligible" "$horizon" "$T/$name" "$bands" "$rules" "$ks" \
    "$as_of=$T/hist-$name/$as_of/customers.csv.gz,$T/hist-$name/$later/customers.csv.gz"
}

one cdnow "$REPO_DIR/tests/data/cdnow" 1997-09-30 273 1998-06-30 high,medium,low one_time,lapsed,cooling,small 100
one online_retail "$REPO_DIR/tests/data/online-retail-customers" 2011-06-01 180 2011-11-28 high,medium,low \
  lapsing,gone_quiet,few_lines,returns,new 10
finish
