#!/usr/bin/env bash
# defector check: the shipped rule file is clean; a deliberately broken one gets every problem
# reported at once with its line and a fix.
source "$TESTS_DIR/fixtures/lib.sh"
cd "$REPO_DIR"
run_cli retention check rules/retention.lua --data sample-data
assert_rc retention 0
check retention "expected 'rules/retention.lua: no problems found', got: $OUTPUT" \
  [ "$OUTPUT" = "rules/retention.lua: no problems found" ]

run_cli broken check tests/rules/broken.lua --data sample-data
assert_rc broken 5
cat > "$T/want" <<'WANT'
tests/rules/broken.lua:6: error: customers.csv.gz has no column 'segmnt' — the header has 'segment': did you mean it?
tests/rules/broken.lua:14: error: 'complaints_90' is declared twice (as a feature and as a feature); use another name
tests/rules/broken.lua:15: error: rule complaints reads c.complaints_9, which is never defined: not a column, feature or value — did you mean 'complaints_90'?
tests/rules/broken.lua:16: error: rule code 'complaints' is used twice; codes must be unique
tests/rules/broken.lua:17: error: rule new: points must be a number
tests/rules/broken.lua:18: error: the reason of rule quiet shows {tenur_days}, which is not a feature or column — did you mean {tenure_days}?
tests/rules/broken.lua:19: error: unknown name 'scor' — did you mean 'score'?
tests/rules/broken.lua:20: warning: scores below 30 fall in no band — add a last band with minimum 0, e.g. { "low", 0 }
tests/rules/broken.lua:21: error: stage 'lapsed' can never be reached: stage 'active' before it has no condition — move 'active' to the end of the stages
tests/rules/broken.lua:22: error: cannot set global 'threshold' — write 'local threshold = ...'
tests/rules/broken.lua:23: error: output risk.csv: 'revenue' is not a column, feature or value of the rule file — use a name the rule file declares, or declare it with feature(...) or value(...)
10 error(s), 1 warning(s)
WANT
check broken "broken.lua findings differ (see the diff above)" diff -u "$T/want" "$T/broken.stdout"

# without --data the columns are not checked against headers
run_cli no_data check tests/rules/broken.lua
refute no_data "without --data, headers should not be checked" grep -q "segmnt" <<<"$OUTPUT"
check no_data "expected '9 error(s), 1 warning(s)', got: $(tail -n 1 <<<"$OUTPUT")" grep -q "^9 error(s), 1 warning(s)$" <<<"$OUTPUT"

printf 'entity { file = "c.csv", key = "id", columns = { id = "text" } }\nrule { "x", points = 1, when = function(c) return true end\n' > "$T/syntax.lua"
run_cli syntax check "$T/syntax.lua"
assert_rc syntax 5
assert_out syntax "syntax.lua:3: error: syntax error: '}' expected (to close '{' at line 2) near '<eof>'"

# declarations this session added checks for: a required column that is not declared, an input
# outside the data folder, assigning to the API's names
cat > "$T/decl.lua" <<'LUA'
entity { file = "customers.csv.gz", key = "customer_id", columns = { customer_id = "text", signup_date = "date" },
  required = { "signup_date", "monthly_fee" } }
local h = history { file = "../events.csv.gz", key = "customer_id", columns = { event_date = "date" } }
AS_OF = 5
output { file = "list.csv", columns = { "customer_id" } }
LUA
run_cli decl check "$T/decl.lua"
assert_rc decl 5
assert_out decl "decl.lua:1: error: entity: required column 'monthly_fee' is not one of its columns"
assert_out decl "decl.lua:3: error: history: 'file' must be a file name in the --data folder, without a folder or '..' (got \"../events.csv.gz\")"
assert_out decl "decl.lua:4: error: cannot set global 'AS_OF' — it is part of the rule API; use a local of another name"
# the entity is still declared despite its wrong required list: no findings that follow from it
check decl "expected exactly these 3 errors, got: $OUTPUT" grep -qx "3 error(s), 0 warning(s)" <<<"$OUTPUT"
# --- check --data reads the files the rule file names, whatever their extension (issue 8, point 2)
# CDNOW_master.txt, space-separated as published: there (it was "not in the data folder"), and
# said to be no CSV, once
mkdir -p "$T/cdnow"
printf 'ID,frequency\n1,2\n2,1\n' > "$T/cdnow/customers.csv"
printf ' customer_id  date number_of_cds  dollar_value\n 00001 19970101  1   11.77\n' > "$T/cdnow/CDNOW_master.txt"
cat > "$T/cdnow.lua" <<'LUA'
entity { file = "customers.csv", key = "ID", columns = { ID = "text", frequency = "int" } }
local tx = history { file = "CDNOW_master.txt", key = "customer_id", date = "date",
  columns = { date = "date", dollar_value = "decimal" } }
feature("n_tx", count(tx, {}))
output { file = "out.csv", columns = { "ID", "n_tx" } }
LUA
run_cli cdnow check "$T/cdnow.lua" --data "$T/cdnow"
assert_rc cdnow 5
check cdnow "findings: $OUTPUT" [ "$OUTPUT" = "$T/cdnow.lua:2: error: CDNOW_master.txt is not comma-separated: its header is one column, ' customer_id  date number_of_cds  dollar_value' — if its columns are aligned with spaces, declare delimiter = \"spaces\" in its history { ... }
1 error(s), 0 warning(s)" ]
# the same file as CSV: no finding, and run reads it as check did
printf 'customer_id,date,number_of_cds,dollar_value\n1,1997-01-01,1,11.77\n' > "$T/cdnow/CDNOW_master.txt"
run_cli cdnow_csv check "$T/cdnow.lua" --data "$T/cdnow"
assert_rc cdnow_csv 0
check cdnow_csv "findings: $OUTPUT" [ "$OUTPUT" = "$T/cdnow.lua: no problems found" ]
run_cli cdnow_run run "$T/cdnow.lua" --data "$T/cdnow" --out "$T/cdnow-out" --as-of 1997-01-31 --no-progress
assert_rc cdnow_run 0
check cdnow_run "out.csv: $(cat "$T/cdnow-out/out.csv")" [ "$(cat "$T/cdnow-out/out.csv")" = $'ID,n_tx\n1,1\n2,0' ]

# an export in parts: its header and its values are those of its parts (it was "not in the data
# folder", then a warning for every filter value: "the values there:" none)
mkdir -p "$T/parts"
cp sample-data/customers.csv.gz "$T/parts/"
zcat sample-data/events.csv.gz | head -n 2000 | gzip -n > "$T/parts/events-1.csv.gz"
{ zcat sample-data/events.csv.gz | head -n 1; zcat sample-data/events.csv.gz | tail -n +2000; } | gzip -n > "$T/parts/events-2.csv.gz"
sed 's/"events.csv.gz"/"events-*.csv.gz"/' rules/retention.lua > "$T/parts.lua"
run_cli parts check "$T/parts.lua" --data "$T/parts"
assert_rc parts 0
check parts "findings: $OUTPUT" [ "$OUTPUT" = "$T/parts.lua: no problems found" ]
sed 's/event_type = "complaint"/event_type = "complain"/' "$T/parts.lua" > "$T/parts_typo.lua"
run_cli parts_typo check "$T/parts_typo.lua" --data "$T/parts"
assert_rc parts_typo 0
assert_out parts_typo "warning: feature complaints_90: event_type = \"complain\" matches no row of events-*.csv.gz: no event_type there has that value — did you mean \"complaint\"?"
check parts_typo "expected 1 warning, got: $(tail -n 1 <<<"$OUTPUT")" [ "$(tail -n 1 <<<"$OUTPUT")" = "0 error(s), 1 warning(s)" ]

# a file that is not there: one warning, and no finding about its values (none are known)
mkdir -p "$T/no-events"
cp sample-data/customers.csv.gz "$T/no-events/"
run_cli absent check rules/retention.lua --data "$T/no-events"
assert_rc absent 0
check absent "findings: $OUTPUT" [ "$OUTPUT" = "rules/retention.lua:$(grep -n '^local events = history' rules/retention.lua | cut -d: -f1): warning: events.csv.gz is not in the data folder, its columns were not checked — give --data the folder that holds it
0 error(s), 1 warning(s)" ]

# files the rule file does not name are not read: a broken one does not stop check
cp -r sample-data "$T/extra" && printf 'not gzip' > "$T/extra/old-export.csv.gz"
run_cli extra check rules/retention.lua --data "$T/extra"
assert_rc extra 0
check extra "findings: $OUTPUT" [ "$OUTPUT" = "rules/retention.lua: no problems found" ]

# an entity file named c.csv (its table is c, like the rules' argument): no finding, and run,
# explain and test use it
mkdir -p "$T/c"
printf 'id,qty\na,1\nb,2\n' > "$T/c/c.csv"
cat > "$T/c/c.lua" <<'LUA'
entity { file = "c.csv", key = "id", columns = { id = "text", qty = "int" } }
rule { "big", points = 10, when = function(c) return c.qty > 1 end, reason = "qty {qty}" }
output { file = "out.csv", columns = { "id", "score", "reasons" } }
LUA
printf 'case { "big", c = { id = "x", qty = 2 }, expect = { score = 10, rules = { "big" } } }\n' > "$T/c/c.test.lua"
for args in "" "--data $T/c"; do
  run_cli c_check check "$T/c/c.lua" $args
  assert_rc "c.csv check $args" 0
  check "c.csv check $args" "findings: $OUTPUT" [ "$OUTPUT" = "$T/c/c.lua: no problems found" ]
done
run_cli c_run run "$T/c/c.lua" --data "$T/c" --out "$T/c-out" --no-progress
assert_rc c_run 0
check c_run "out.csv: $(cat "$T/c-out/out.csv")" [ "$(cat "$T/c-out/out.csv")" = $'id,score,reasons\na,0,\nb,10,qty 2' ]
run_cli c_explain explain "$T/c/c.lua" --data "$T/c" --customer b
assert_rc c_explain 0
assert_out c_explain "FIRED  +10   big: qty 2"
run_cli c_test test "$T/c/c.lua"
assert_rc c_test 0
check c_test "test: $OUTPUT" [ "$OUTPUT" = $'PASS  big\n1 passed, 0 failed' ]
finish
