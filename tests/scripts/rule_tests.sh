#!/usr/bin/env bash
# defector test: the shipped cases of rules/retention.lua pass; a failing case is reported with
# its line in the test file, expected vs actual and exit code 8; a data error in a case names the
# case and its line; a broken test file names its line.
source "$TESTS_DIR/fixtures/lib.sh"
run_cli shipped test "$RULES"
check shipped "defector test rules/retention.lua: exit $RC: $OUTPUT $ERR" [ "$RC" = 0 ]
# every case of the file, each once: 37 (a case added or removed there changes this number)
SHIPPED=37
check shipped "the test file should hold $SHIPPED cases, it has $(grep -c '^case {' "$REPO_DIR/rules/retention.test.lua")" \
  [ "$(grep -c '^case {' "$REPO_DIR/rules/retention.test.lua")" = $SHIPPED ]
check shipped "summary line: $(tail -n 1 <<<"$OUTPUT")" [ "$(tail -n 1 <<<"$OUTPUT")" = "$SHIPPED passed, 0 failed" ]
n=$(grep -c '^PASS ' <<<"$OUTPUT")
check shipped "$n cases passed, expected $SHIPPED" [ "$n" = $SHIPPED ]
check shipped "a case reported twice: $(grep '^PASS ' <<<"$OUTPUT" | sort | uniq -d)" [ "$(grep '^PASS ' <<<"$OUTPUT" | sort -u | wc -l)" = $SHIPPED ]
check shipped "lines other than PASS and the summary: $(grep -vE '^PASS |^[0-9]+ passed' <<<"$OUTPUT")" \
  [ "$(wc -l <<<"$OUTPUT")" = $((SHIPPED + 1)) ]

cat > "$T/wrong.test.lua" <<'LUA'
case { "right", as_of = "2026-11-01",
  customer = { customer_id = "A1", signup_date = "2024-01-01", renewal_date = "2026-12-31", monthly_fee = 10 },
  events = { { event_date = "2026-10-31", event_type = "login" } },
  expect = { score = 20, rules = { "renewal_due" } } }
case { "wrong on purpose", as_of = "2026-11-01",
  customer = { customer_id = "A1", signup_date = "2024-01-01", renewal_date = "2027-01-01", monthly_fee = 10 },
  events = { { event_date = "2026-10-31", event_type = "login" } },
  expect = { score = 20, band = "low", rules = { "renewal_due" }, days_to_renewal = 60 } }
case { "bad data in a case", as_of = "2026-11-01",
  customer = { customer_id = "A1", signup_date = "2024-13-01", monthly_fee = 10 },
  expect = { score = 0 } }
LUA
run_cli failing test "$RULES" "$T/wrong.test.lua"
assert_rc failing 8
check failing "case 'right': $OUTPUT" grep -qx "PASS  right" <<<"$OUTPUT"
check failing "case 'wrong on purpose' with its line: $OUTPUT" grep -qxF "FAIL  wrong on purpose ($T/wrong.test.lua:5)" <<<"$OUTPUT"
assert_out "expected vs actual" "score: expected 20, got 0; rules: expected {renewal_due}, got {}; days_to_renewal: expected 60, got 61"
# a data error names the case and its line, not the temporary folder the case's files were in
check "bad data in a case" "FAIL line: $OUTPUT" grep -qxF "FAIL  bad data in a case ($T/wrong.test.lua:9)" <<<"$OUTPUT"
assert_out "bad data in a case" "$T/wrong.test.lua:9: case 'bad data in a case': customers.csv.gz:2: column signup_date: not a date"
refute "bad data in a case" "a temporary folder in the message: $OUTPUT" grep -q "defector-test-" <<<"$OUTPUT"
check failing "summary: $(tail -n 1 <<<"$OUTPUT")" grep -qx "1 passed, 2 failed" <<<"$OUTPUT"

# a missing test file is said as such, with how to write one (issue 8, point 2: it was "cannot
# read the rule file"), for the default name and for one given
cp "$RULES" "$T/no_tests.lua"
run_cli missing_default test "$T/no_tests.lua"
assert_rc missing_default 3
assert_err missing_default "defector: error: $T/no_tests.test.lua: the test file does not exist. Create it beside the rule file with one case per entity to check, e.g. case { \"a quiet customer\""
assert_err missing_default "(docs/rules.md, \"Test cases\"), or name another test file: defector test RULES TESTS"
refute missing_default "the message blames the rule file: $ERR" grep -q "rule file:" <<<"$ERR"
assert_one_error missing_default
run_cli missing_given test "$RULES" "$T/nowhere.test.lua"
assert_rc missing_given 3
assert_err missing_given "$T/nowhere.test.lua: the test file does not exist."
run_cli missing_rules test "$T/nowhere.lua" "$T/wrong.test.lua"
assert_rc missing_rules 3
assert_err missing_rules "$T/nowhere.lua: cannot read the rule file: No such file or directory"

# the temporary folder of the case files is made and removed without a shell: a TMPDIR holding
# quotes and a command runs nothing (issue 8, point 3), and nothing is left in it
evil="$T/q'; touch $T/INJECTED; echo '"
mkdir -p "$evil"
TMPDIR="$evil" run_cli evil_tmpdir test "$RULES"
assert_rc evil_tmpdir 0
check evil_tmpdir "summary: $(tail -n 1 <<<"$OUTPUT")" [ "$(tail -n 1 <<<"$OUTPUT")" = "37 passed, 0 failed" ]
refute evil_tmpdir "TMPDIR ran a command: $T/INJECTED exists" test -e "$T/INJECTED"
check evil_tmpdir "left behind in TMPDIR: $(ls -A "$evil")" [ -z "$(ls -A "$evil")" ]
# a TMPDIR that is not there: one message naming it
TMPDIR="$T/no-such-tmp" run_cli missing_tmpdir test "$RULES"
assert_rc missing_tmpdir 6
assert_err missing_tmpdir "defector: error: $T/no-such-tmp: cannot make a temporary folder for the case files here: No such file or directory; set TMPDIR to a folder that exists and can be written"
assert_one_error missing_tmpdir
# a case that fails to load leaves nothing behind either
TMPDIR="$evil" run_cli evil_failing test "$RULES" "$T/wrong.test.lua"
assert_rc evil_failing 8
check evil_failing "left behind in TMPDIR: $(ls -A "$evil")" [ -z "$(ls -A "$evil")" ]

printf 'case { "x", customer = {}, expect = {} }\nkase { }\n' > "$T/broken.test.lua"
run_cli broken_test_file test "$RULES" "$T/broken.test.lua"
assert_rc broken_test_file 5
assert_err broken_test_file "broken.test.lua:2: unknown name 'kase'"
finish
