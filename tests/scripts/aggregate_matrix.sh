#!/usr/bin/env bash
# Every column type (int, decimal, date, category, category { ... }, text, and the history's date
# column) in every history aggregate (count, any, sum, min, max, latest, earliest with each tie)
# and every filter form (= value, = { list }, above/below/at_least/at_most, present, empty,
# a function, last_days, and combinations), with exact results: tests/fixtures/matrix_oracle.py
# generates the data (deterministic from a seed: empty cells, negative decimals, 0.1 + 0.2,
# ties on one day, UTF-8, commas, quotes and newlines in text, rows after the as-of date,
# orphans, unsorted rows) and rule files with one feature per combination, and computes every
# cell again in Python from the CSV text. Then: one entity worked out by hand, int64 values
# past 2^53, function filters over blocks of entities without rows (also in `defector test`),
# a date bound at the edge of the column's range, every mistake the engine must refuse at
# declaration (exit 5, one message naming the line), and --threads 1, 2 and 4 giving the same
# bytes and the right values on 2100 entities (one with rows across the scan's chunks).
# A failure names the feature, its rule line, the entity, expected vs got and the entity's rows.
source "$TESTS_DIR/fixtures/lib.sh"
ORACLE="$TESTS_DIR/fixtures/matrix_oracle.py"
SMALL="$T/small"
if ! python3 "$ORACLE" gen "$SMALL" --seed 7 --entities 60 >"$T/gen.out" 2>&1; then
  fail gen "the data generator failed: $(cat "$T/gen.out")"
  finish
fi
DATA="$SMALL/data"

# matrix_run LABEL RULES OUT [args...]: a run that must succeed (on failure: the first lines of
# stderr, not the generated code an internal error dumps)
matrix_run() {
  local label=$1 rules=$2 out=$3; shift 3
  RULES_FILE=$rules run_engine "$label" "$out" "$@"
  CHECKS=$((CHECKS + 1))
  if [ "$RC" != 0 ]; then
    fail "$label" "$(basename "$rules"): exit code $RC, expected 0; stderr begins:
$(grep -v -e 'rows read' -e 'were ignored' "$T/$label.stderr" | head -4 | cut -c1-300)"
    return 1
  fi
}

# oracle_check LABEL ARGS...: every cell of the outputs against the Python oracle
oracle_check() {
  local label=$1; shift
  CHECKS=$((CHECKS + 1))
  if ! python3 "$ORACLE" check "$@" >"$T/$label.oracle" 2>&1; then
    fail "$label" "$(head -60 "$T/$label.oracle")$([ "$(wc -l <"$T/$label.oracle")" -gt 60 ] && printf "\n  ... (all of it in %s)" "$T/$label.oracle")"
  fi
}

# --- the matrix --------------------------------------------------------------------------
# The whole matrix in one rule file (outputs of 150 features); when the engine cannot run it,
# the same features in 3 rule files, so that the values are checked all the same. Then the
# same features grouped by filter (each group of 64 aggregates in the scan holds another mix of
# tests), and 400 features in one output.
n_features=$(grep -c '^feature(' "$SMALL/whole.lua")
if matrix_run whole "$SMALL/whole.lua" "$T/out_whole" --threads 1; then
  MATRIX_OUT=("$T/out_whole")
  oracle_check by_aggregate "$SMALL" "${MATRIX_OUT[@]}"
else
  echo "  (the whole matrix is $n_features features in one rule file; checking it in 3 rule files)"
  ok=1
  for p in 1 2 3; do matrix_run "by_aggregate_$p" "$SMALL/by_aggregate_$p.lua" "$T/out_by_aggregate_$p" --threads 1 || ok=0; done
  MATRIX_OUT=("$T"/out_by_aggregate_{1,2,3})
  [ $ok = 1 ] && oracle_check by_aggregate "$SMALL" "${MATRIX_OUT[@]}"
fi
ok=1
for p in 1 2 3; do matrix_run "by_filter_$p" "$SMALL/by_filter_$p.lua" "$T/out_by_filter_$p" --threads 1 || ok=0; done
[ $ok = 1 ] && oracle_check by_filter "$SMALL" "$T"/out_by_filter_{1,2,3}
if matrix_run one_output "$SMALL/one_output.lua" "$T/out_one" --threads 1; then
  oracle_check one_output "$SMALL" "$T/out_one" --partial
else
  echo "  (one_output.lua: one output of the key and 400 features)"
fi

# --- E0001, worked out by hand (rows in matrix_oracle.py: E0001_ROWS) ------------------------
# three rows on 2026-10-31 (n 5, -2, 9; amt 0.1, 0.2, empty; note b, a, c; due empty,
# 2026-10-15, 2024-02-29), one on 2026-10-22 (amt 0.7, note =1+2), one after the as-of date
python3 "$ORACLE" cells E0001 "${MATRIX_OUT[@]}" >"$T/e0001.cells"
for want in count__none=4 count__last_days_1=0 count__last_days_7=3 any__n_empty=true any__last_days_0=false \
  sum_amt__last_days_7=0.3 sum_amt__none=1 sum_n__none=12 sum_amt__amt_empty=0 \
  latest_n_first__none=5 latest_n_lo__none=-2 latest_n_hi__none=9 \
  latest_amt_first__none=0.1 latest_amt_hi__none=0.2 latest_due_first__none=2026-10-15 \
  latest_due_lo__none=2024-02-29 latest_note_lo__none=a latest_note_hi__none=c \
  "earliest_note_first__none='=1+2" earliest_day_first__none=2026-10-22 \
  min_due__none=2024-02-29 max_due__none=2026-10-15 min_tier__none=bronze max_tier__none=silver \
  max_kind__none=c min_n__none=-2 max_amt__none=0.7 min_amt__tier_present=0.1 \
  latest_kind_hi__kind_present=c latest_kind_first__kind_present=b max_n__note_below=; do
  check "E0001 ${want%%=*}" "expected ${want%%=*} = '${want#*=}' for E0001, got '$(grep "^${want%%=*}=" "$T/e0001.cells" | cut -d= -f2-)'" \
    grep -qxF -- "$want" "$T/e0001.cells"
done

# --- int64 values past 2^53 stay exact (or are shown with 15 significant digits) -------------
write_gz "$T/int64/entities.csv.gz" $'eid\nE1\nE2\n'
write_gz "$T/int64/events.csv.gz" $'eid,day,n\nE1,2026-10-01,9007199254740993\nE1,2026-10-02,1\n'\
$'E2,2026-10-01,-9007199254740993\nE2,2026-10-01,123456789012345678\n'
cat >"$T/int64.lua" <<'EOF'
entity { file = "entities.csv.gz", key = "eid", columns = { eid = "text" } }
local h = history { file = "events.csv.gz", key = "eid", date = "day", columns = { day = "date", n = "int" } }
feature("mx", max(h, "n", {}))
feature("mn", min(h, "n", {}))
feature("s", sum(h, "n", {}))
feature("e", earliest(h, "n", {}))
feature("l", latest(h, "n", {}, "highest"))
output { file = "int64.csv", columns = { "eid", "mx", "mn", "s", "e", "l" } }
EOF
if DATA="$T/int64" matrix_run int64 "$T/int64.lua" "$T/out_int64"; then
  # each cell: the exact value, or the value at 15 significant digits
  while IFS=' ' read -r ent col alts; do
    got=$(python3 -c 'import csv,sys
rows = list(csv.DictReader(open(sys.argv[1])))
print([r for r in rows if r["eid"] == sys.argv[2]][0][sys.argv[3]])' "$T/out_int64/int64.csv" "$ent" "$col")
    check "int64 $ent $col" "$col of $ent: expected ${alts//|/ or }, got $got" bash -c "[[ '|$alts|' == *'|$got|'* ]]"
  done <<'EOF'
E1 mx 9007199254740993|9007199254740990
E1 mn 1
E1 s 9007199254740994|9007199254740990
E1 e 9007199254740993|9007199254740990
E2 mx 123456789012345678|123456789012346000
E2 mn -9007199254740993|-9007199254740990
E2 s 114449589757604685|114449589757605000
E2 l 123456789012345678|123456789012346000
EOF
fi

# --- function filters over blocks without rows: an empty history, and 600 entities whose first
# block of 256 has no rows (the function is called on no row; the counts are 0) --------------
cat >"$T/norows.lua" <<'EOF'
entity { file = "entities.csv.gz", key = "eid", columns = { eid = "text" } }
local h = history { file = "events.csv.gz", key = "eid", date = "day", columns = { day = "date", n = "int", note = "text" } }
feature("c", count(h, { n = function(v) return v == nil end }))
feature("t", latest(h, "note", { note = function(v) return #v > 1 end }))
output { file = "norows.csv", columns = { "eid", "c", "t" } }
EOF
write_gz "$T/norows_empty/entities.csv.gz" $'eid\nE1\nE2\n'
write_gz "$T/norows_empty/events.csv.gz" $'eid,day,n,note\n'
write_gz "$T/norows_late/entities.csv.gz" "$(printf 'eid\n'; for i in $(seq 0 599); do printf 'E%04d\n' "$i"; done)"
write_gz "$T/norows_late/events.csv.gz" $'eid,day,n,note\nE0300,2026-10-01,3,x\nE0599,2026-10-01,,abc\n'
printf 'eid,c,t\nE1,0,\nE2,0,\n' >"$T/norows_empty.want"
{ printf 'eid,c,t\n'; for i in $(seq 0 599); do
    if [ "$i" = 599 ]; then printf 'E0599,1,abc\n'; else printf 'E%04d,0,\n' "$i"; fi
  done; } >"$T/norows_late.want"
for d in norows_empty norows_late; do
  if DATA="$T/$d" matrix_run "$d" "$T/norows.lua" "$T/out_$d"; then
    check "$d" "norows.csv on $d: $(diff "$T/$d.want" "$T/out_$d/norows.csv" | head -4)" cmp -s "$T/$d.want" "$T/out_$d/norows.csv"
  fi
done
# the same in rule test cases (defector test), where a case without events is common
cat >"$T/norows.test.lua" <<'EOF'
case { "no events", as_of = "2026-11-01", entity = { eid = "E1" }, events = {},
  expect = { c = 0, t = empty } }
case { "one event", as_of = "2026-11-01", entity = { eid = "E1" },
  events = { { day = "2026-10-01", note = "abc" } },
  expect = { c = 1, t = "abc" } }
EOF
run_cli norows_test test "$T/norows.lua"
CHECKS=$((CHECKS + 1))
[ "$RC" = 0 ] || fail norows_test "defector test norows.lua: exit code $RC, expected 0 (2 cases passing); got:
$(head -6 "$T/norows_test.stdout" "$T/norows_test.stderr" | cut -c1-300)"

# --- a date bound beyond what a date can be (the years 1 to 9999) is refused at declaration;
# one at the edge of that range changes no other feature -----------------------------------
write_gz "$T/edge/entities.csv.gz" $'eid\nE1\n'
write_gz "$T/edge/events.csv.gz" $'eid,day,due\nE1,2026-10-01,2026-10-15\nE1,2026-10-02,2024-02-29\nE1,2026-10-03,\n'
cat >"$T/edge.lua" <<'EOF'
entity { file = "entities.csv.gz", key = "eid", columns = { eid = "text" } }
local h = history { file = "events.csv.gz", key = "eid", date = "day", columns = { day = "date", due = "date" } }
feature("m", max(h, "due", {}))
feature("p", count(h, { due = present }))
feature("older", count(h, { due = below(-719162) }))
feature("newer", count(h, { due = above(-719162) }))
output { file = "edge.csv", columns = { "eid", "m", "p", "older", "newer" } }
EOF
sed 's/below(-719162)/below(-2147483648)/' "$T/edge.lua" > "$T/edge_far.lua"
RULES_FILE="$T/edge_far.lua" DATA="$T/edge" run_engine edge_far "$T/out_edge_far"
assert_rc edge_far 5
assert_err edge_far "edge_far.lua:5: count(events), below(...): -2147483648 days is not a date between the years 1 and 9999"
if DATA="$T/edge" matrix_run edge "$T/edge.lua" "$T/out_edge"; then
  check edge "edge.csv: expected m,p,older,newer = 2026-10-15,2,0,2, got $(tail -n 1 "$T/out_edge/edge.csv")" \
    grep -qx 'E1,2026-10-15,2,0,2' "$T/out_edge/edge.csv"
fi

# --- refused at declaration: exit 5, one message naming the rule file's line ----------------
REFUSE_HEAD='entity { file = "entities.csv.gz", key = "eid", columns = { eid = "text" } }
local h = history { file = "events.csv.gz", key = "eid", date = "day",
  columns = { day = "date", n = "int", amt = "decimal", due = "date", kind = "category",
              tier = category { "gold", "silver", "bronze" }, note = "text" } }
feature("fine", count(h, { kind = "login" }))
'
REFUSE_LINE=$(($(printf '%s' "$REFUSE_HEAD" | wc -l) + 1))
mkdir -p "$T/refuse"
# refused NAME 'feature line' 'text the message must hold'
refused() {
  local name=$1 line=$2 want=$3 file="$T/refuse/$1.lua"
  printf '%s%s\noutput { file = "o.csv", columns = { "eid", "fine", "x" } }\n' "$REFUSE_HEAD" "$line" >"$file"
  RULES_FILE=$file run_engine "refuse_$name" "$T/refuse/out_$name"
  CHECKS=$((CHECKS + 1))
  if [ "$RC" != 5 ]; then
    fail "refuse $name" "$line: exit code $RC, expected 5 and a message naming line $REFUSE_LINE; stderr begins:
$(head -3 "$T/refuse_$name.stderr" | cut -c1-300)"
    return
  fi
  assert_err "refuse $name: $line" "$name.lua:$REFUSE_LINE:"
  assert_err "refuse $name: $line" "$want"
  assert_one_error "refuse $name: $line"
  check "refuse $name" "a refused rule file should write nothing, $T/refuse/out_$name exists" [ ! -e "$T/refuse/out_$name" ]
}
refused sum_date 'feature("x", sum(h, "due", {}))' "cannot sum 'due', a date column"
refused sum_history_date 'feature("x", sum(h, "day", { last_days = 30 }))' "cannot sum 'day', a date column"
refused sum_category 'feature("x", sum(h, "kind", {}))' "cannot sum 'kind', a category column"
refused sum_category_list 'feature("x", sum(h, "tier", {}))' "cannot sum 'tier', a category column"
refused sum_text 'feature("x", sum(h, "note", {}))' "cannot sum 'note', a text column"
refused int_fraction 'feature("x", count(h, { n = 2.5 }))' "2.5 never equals"
refused int_fraction_list 'feature("x", any(h, { n = { 1, 2.5 } }))' "2.5 never equals"
refused decimal_7_places 'feature("x", sum(h, "amt", { amt = 0.1234567 }))' "0.1234567 never equals"
refused decimal_7_places_list 'feature("x", count(h, { amt = { 0.1, -0.0000001 } }))' "never equals"
refused text_number 'feature("x", count(h, { note = 5 }))' "'note' is a text column"
refused text_number_list 'feature("x", min(h, "n", { note = { "a", 5 } }))' "'note' is a text column"
refused text_number_cmp 'feature("x", count(h, { note = above(5) }))' "'note' is a text column"
refused category_number 'feature("x", count(h, { kind = 5 }))' "'kind' is a category column"
refused category_number_cmp 'feature("x", latest(h, "n", { kind = below(5) }))' "'kind' is a category column"
refused category_list_number 'feature("x", count(h, { tier = 1 }))' "'tier' is a category column"
refused date_invalid 'feature("x", count(h, { due = "2026-02-30" }))' '"2026-02-30"'
refused date_invalid_month 'feature("x", count(h, { due = above("2026-13-01") }))' '"2026-13-01"'
refused date_not_a_date 'feature("x", count(h, { day = "yesterday" }))' '"yesterday"'
refused date_invalid_in_list 'feature("x", max(h, "amt", { day = { "2026-01-01", "2026-1-2" } }))' '"2026-1-2"'
refused date_not_leap 'feature("x", count(h, { due = at_most("2025-02-29") }))' '"2025-02-29"'
refused undeclared_column 'feature("x", count(h, { colour = "red" }))' "filter on 'colour', which is not a column"
refused undeclared_column_typo 'feature("x", min(h, "amt", { nte = present }))' "did you mean 'note'?"
refused category_value 'feature("x", count(h, { tier = "gld" }))' 'did you mean "gold"?'
refused category_value_in_list 'feature("x", earliest(h, "n", { tier = { "gold", "platinum" } }))' '"platinum" is not one of the values of tier'
# latest and earliest need the history's date column, as last_days does
REFUSE_HEAD='entity { file = "entities.csv.gz", key = "eid", columns = { eid = "text" } }
local h = history { file = "events.csv.gz", key = "eid",
  columns = { day = "date", n = "int", amt = "decimal", due = "date", kind = "category",
              tier = category { "gold", "silver", "bronze" }, note = "text" } }
feature("fine", count(h, { kind = "login" }))
'
refused no_date_window 'feature("x", count(h, { last_days = 30 }))' "last_days needs the history's date column"
refused no_date_latest 'feature("x", latest(h, "n", {}))' "date"
refused no_date_earliest 'feature("x", earliest(h, "note", {}, "highest"))' "date"

# --- --threads 1, 2, 4: the same bytes, in as many scoring states, and the right values -------
BIG="$T/big"
python3 "$ORACLE" gen "$BIG" --seed 11 --entities 2100 --heavy 4500 >"$T/gen_big.out" 2>&1 || fail gen_big "$(cat "$T/gen_big.out")"
for t in 1 2 4; do
  DATA="$BIG/data" matrix_run "threads$t" "$BIG/sample.lua" "$T/out_threads$t" --threads "$t"
  states=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["scoring_states"])' "$T/out_threads$t/run_summary.json" 2>/dev/null)
  check "threads$t states" "--threads $t on 2100 entities should score in $t Lua states, run_summary.json says '$states'" [ "$states" = "$t" ]
done
for t in 2 4; do
  for f in "$T"/out_threads1/*.csv; do
    b=$(basename "$f")
    check "threads$t $b" "$b differs between --threads 1 and --threads $t: $(diff "$f" "$T/out_threads$t/$b" 2>&1 | head -4 | cut -c1-200)" \
      cmp -s "$f" "$T/out_threads$t/$b"
  done
done
# the values of the entities at the edges of the parts (525, 1050, 1575) and of the scan's
# blocks of 256, the one with 4500 rows, and every 9th
ents=$(python3 -c 'import sys
n = 2100
idx = set(range(0, n, 9)) | {2, n - 1}
for b in list(range(256, n, 256)) + [525, 1050, 1575] + [p + k for p in (525, 1050, 1575) for k in range(256, 600, 256)]:
    idx |= {b - 1, b, b + 1}
print(",".join("E%04d" % (i + 1) for i in sorted(i for i in idx if 0 <= i < n)))')
oracle_check threads4_values "$BIG" "$T/out_threads4" --partial --entities "$ents"

finish
