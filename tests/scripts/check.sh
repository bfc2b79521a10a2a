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
finish
