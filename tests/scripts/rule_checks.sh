#!/usr/bin/env bash
# Mistakes caught before the night (issue 7, points 3 and 5), each through `defector check FILE`
# and `defector run` (at its start: on a data folder that does not exist, a rule file mistake
# exits 5 before any input is read):
#   - a function that can end without returning a value, named by its line;
#   - SQL and spreadsheet habits (<>, !=, AND/OR/NOT, = in a condition, &&, ||) get a hint in
#     Lua terms; "a" + "b" at run time gets "to join text, use ..";
#   - one root mistake is one finding (io.open near the top, a typo in an API name or a type);
#   - run-time errors in the rule's words, with the rule file's line, the rule and the customer:
#     text compared with a number, a lookup without the row, arithmetic on an empty value;
#   - filter values: a typo on a category column that declares its values is refused with
#     "did you mean"; on a plain category column it runs but warns (stderr; TODO: the
#     run_summary.json "warnings" list once it lands), and check --data finds it;
#   - defector test: `= empty` expectations, `= nil` refused, misspelled columns in case rows
#     and names in expect that are no field refused.
source "$TESTS_DIR/fixtures/lib.sh"
make_data "$T/data" # C1 smb (renewal 2026-12-01), C2 consumer (no renewal date), C3 enterprise
NODATA="$T/no-such-folder"

# before_outputs NAME LUA: retention.lua with LUA at the end of the declarations (before output {)
before_outputs() {
  { sed '/^output {/,$d' "$RULES"; printf '%s\n' "$2"; sed -n '/^output {/,$p' "$RULES"; } > "$T/$1.lua"
}
line_of() { grep -nF -- "$2" "$1" | head -n 1 | cut -d: -f1; } # FILE TEXT: first line holding TEXT
# caught NAME LINE TEXT...: check lists a finding at NAME.lua:LINE holding each TEXT, exit 5;
# run refuses the file at its start (exit 5, one message naming the line and each TEXT)
caught() {
  local name=$1 line=$2 want; shift 2
  run_cli "$name-check" check "$T/$name.lua"
  assert_rc "$name-check" 5
  for want in "$@"; do
    check "$name-check" "check $name.lua: expected a finding at line $line with '$want', got:
$OUTPUT" grep -qF -- "$name.lua:$line: error: " <<<"$(grep -F -- "$want" <<<"$OUTPUT")"
  done
  RULES_FILE="$T/$name.lua" DATA="$NODATA" run_engine "$name-run" "$T/out-$name"
  assert_rc "$name-run" 5
  assert_one_error "$name-run"
  assert_err "$name-run" "$name.lua:$line: "
  for want in "$@"; do assert_err "$name-run" "$want"; done
  refute "$name-run" "$name.lua should be refused before any input is read: $ERR" grep -q "rows read" <<<"$ERR"
}

# --- 1. a function that can end without returning a value ------------------------------------
before_outputs falls 'feature("f", function(c) if c.monthly_fee > 50 then return 1 end end)'
caught falls "$(line_of "$T/falls.lua" 'feature("f"')" "feature f can end without returning a value"
# on several lines: the line where it ends without a value
before_outputs falls_rule $'rule { "long", points = 1,\n  when = function(c)\n    if c.tenure_days > 5 then\n      return true\n    end\n  end }'
caught falls_rule "$(($(line_of "$T/falls_rule.lua" 'rule { "long"') + 5))" "rule long can end without returning a value" "return false"
before_outputs falls_value $'value("fee_band", function(c)\n  if c.monthly_fee > 100 then return "high" elseif c.monthly_fee > 10 then return "mid" end\nend)'
caught falls_value "$(($(line_of "$T/falls_value.lua" 'value("fee_band"') + 2))" "value fee_band can end without returning a value"
# every path returns (error() does not come back): no finding
before_outputs returns_all $'feature("g", function(c)\n  if c.monthly_fee > 50 then return 1 elseif c.monthly_fee > 10 then return 2 else return 3 end\nend)\nfeature("h", function(c) if c.monthly_fee then return 1 end error("no fee") end)'
run_cli returns_all check "$T/returns_all.lua"
assert_rc returns_all 0
assert_out returns_all "no problems found"
RULES_FILE="$T/returns_all.lua" run_engine returns_all-run "$T/out-returns"
assert_rc returns_all-run 0

# --- 2. SQL and spreadsheet habits --------------------------------------------------------------
habit() { # NAME HINT LUA: the rule LUA (one line) refused with HINT
  before_outputs "$1" "$3"
  caught "$1" "$(line_of "$T/$1.lua" "$3")" "syntax error" "$2"
}
habit ne_sql "Lua writes 'not equal' as ~=" 'rule { "ne", points = 1, when = function(c) return c.segment <> "smb" end }'
habit ne_c "Lua writes 'not equal' as ~=" 'rule { "ne", points = 1, when = function(c) return c.segment != "smb" end }'
habit and_sql "Lua writes 'and' in lower case" 'rule { "a", points = 1, when = function(c) return c.tenure_days < 90 AND c.days_inactive > 30 end }'
habit or_sql "Lua writes 'or' in lower case" 'rule { "o", points = 1, when = function(c) return c.tenure_days < 90 OR c.days_inactive > 30 end }'
habit not_sql "Lua writes 'not' in lower case" 'rule { "n", points = 1, when = function(c) return NOT c.defected end }'
habit and_c "Lua writes 'and'" 'rule { "a", points = 1, when = function(c) return c.tenure_days < 90 && c.days_inactive > 30 end }'
habit or_c "Lua writes 'or'" 'rule { "o", points = 1, when = function(c) return c.tenure_days < 90 || c.days_inactive > 30 end }'
habit eq_return "to compare, write ==" 'rule { "e", points = 1, when = function(c) return c.segment = "smb" end }'
habit eq_and "to compare, write ==" 'rule { "e", points = 1, when = function(c) return c.tenure_days < 90 and c.segment = "smb" end }'
# = in an if condition, on a line of its own
before_outputs eq_if $'rule { "e", points = 1, when = function(c)\n  if c.segment = "smb" then return true end\n  return false end }'
caught eq_if "$(line_of "$T/eq_if.lua" 'if c.segment = "smb"')" "syntax error" "to compare, write =="
# AND at the start of a continuation line
before_outputs and_next $'rule { "a", points = 1, when = function(c) return c.tenure_days < 90\n  AND c.days_inactive > 30 end }'
caught and_next "$(line_of "$T/and_next.lua" '  AND c.days_inactive')" "syntax error" "Lua writes 'and' in lower case"
# = in an elseif condition (the line also returns)
before_outputs eq_elseif $'rule { "e", points = 1, when = function(c)\n  if c.tenure_days < 90 then return true\n  elseif c.segment = "smb" then return true end\n  return false end }'
caught eq_elseif "$(line_of "$T/eq_elseif.lua" 'elseif c.segment = "smb"')" "syntax error" "to compare, write =="
# a hint only for the habit: a missing comma is not a comparison, whatever follows on the line
before_outputs comma 'rule { "c" points = 1, when = function(c) return c.tenure_days < 90 end, reason = "new" }'
caught comma "$(line_of "$T/comma.lua" 'rule { "c" points')" "syntax error"
refute comma "a missing comma should not get the hint for = in a condition: $ERR" grep -qF "to compare, write ==" <<<"$ERR"
refute comma-check "a missing comma should not get the hint for = in a condition: $OUTPUT" grep -qF "to compare, write ==" <<<"$OUTPUT"
# "a" + "b" at run time
before_outputs plus_text 'feature("label", function(c) return "segment " + c.segment end)'
L=$(line_of "$T/plus_text.lua" 'feature("label"')
RULES_FILE="$T/plus_text.lua" run_engine plus_text "$T/out-plus"
assert_rc plus_text 5
assert_one_error plus_text
assert_err plus_text "plus_text.lua:$L: feature label:"
assert_err plus_text "(customer_id C1"
assert_err plus_text "to join text, use .. (two dots)"

# --- 3. one root mistake, one finding -----------------------------------------------------------
one_finding() { # NAME LINE TEXT: check NAME.lua gives exactly one finding, at LINE, holding TEXT
  run_cli "$1-check" check "$T/$1.lua"
  assert_rc "$1-check" 5
  local n
  n=$(grep -cE ': (error|warning): ' <<<"$OUTPUT")
  check "$1-check" "check $1.lua: expected exactly one finding (at line $2), got $n:
$OUTPUT" [ "$n" = 1 ]
  check "$1-check" "check $1.lua: the finding should be at line $2 and say '$3': $OUTPUT" \
    grep -qF -- "$1.lua:$2: error: $3" <<<"$OUTPUT"
  assert_out "$1-check" "1 error(s), 0 warning(s)"
}
sed '1a local f = io.open("/etc/passwd")' "$RULES" > "$T/io_open.lua"
one_finding io_open 2 "unknown name 'io'"
RULES_FILE="$T/io_open.lua" DATA="$NODATA" run_engine io_open-run "$T/out-io"
assert_rc io_open-run 5
assert_one_error io_open-run
assert_err io_open-run "io_open.lua:2: unknown name 'io'"
sed 's/^local ACTIVITY =/local ACTIVTY =/' "$RULES" > "$T/local_typo.lua"
one_finding local_typo "$(line_of "$T/local_typo.lua" 'feature("last_activity"')" "unknown name 'ACTIVITY'"
sed 's/^local events = history {/local events = histroy {/' "$RULES" > "$T/history_typo.lua"
one_finding history_typo "$(line_of "$T/history_typo.lua" 'histroy {')" "unknown name 'histroy' — did you mean 'history'?"
sed 's/    event_date = "date",/    event_date = "dat",/' "$RULES" > "$T/history_type.lua"
one_finding history_type "$(line_of "$T/history_type.lua" 'local events = history')" "history: column 'event_date' has type dat"
# a typo in an entity column's type: the entity is still declared (no "declares no entity")
sed 's/    signup_date  = "date",/    signup_date  = "dat",/' "$RULES" > "$T/entity_type.lua"
one_finding entity_type "$(line_of "$T/entity_type.lua" 'entity {')" "entity: column 'signup_date' has type dat"
# a typo in an API name: the feature is still declared (no finding for each rule reading it)
sed 's/^feature("days_inactive",/featur("days_inactive",/' "$RULES" > "$T/api_typo.lua"
one_finding api_typo "$(line_of "$T/api_typo.lua" 'featur("days_inactive"')" "unknown name 'featur' — did you mean 'feature'?"

# --- 4. run-time errors in the rule's words -----------------------------------------------------
# text compared with a number
before_outputs text_vs_number 'rule { "seg", points = 1, when = function(c) return c.segment > 3 end }'
L=$(line_of "$T/text_vs_number.lua" 'rule { "seg"')
RULES_FILE="$T/text_vs_number.lua" run_engine text_vs_number "$T/out-tvn"
assert_rc text_vs_number 5
assert_one_error text_vs_number
assert_err text_vs_number "text_vs_number.lua:$L: rule seg: c.segment (text \"smb\") compared with number 3 (customer_id C1"
run_cli text_vs_number-explain explain "$T/text_vs_number.lua" --data "$T/data" --as-of "$AS_OF" --customer C3
assert_rc text_vs_number-explain 5
assert_err text_vs_number-explain "text_vs_number.lua:$L: rule seg: c.segment (text \"enterprise\") compared with number 3 (customer_id C3"
# a lookup without a row for the customer's segment (C3 is enterprise)
rm -rf "$T/lk" && cp -r "$TESTS_DIR/rules/lookups" "$T/lk"
printf 'segment,days\nsmb,20\nconsumer,60\n' > "$T/lk/renewal_windows.csv"
L=$(line_of "$T/lk/lookups.lua" 'windows[c.segment].days')
RULES_FILE="$T/lk/lookups.lua" run_engine lookup_row "$T/out-lk"
assert_rc lookup_row 5
assert_one_error lookup_row
assert_err lookup_row "lookups.lua:$L: rule renewal_due: lookup renewal_windows.csv has no row for segment \"enterprise\" (customer_id C3"
RULES_FILE="$T/lk/lookups.lua" run_engine lookup_skip "$T/out-lk" --on-rule-error skip
assert_rc lookup_skip 0
check lookup_skip "rule_errors.csv should say which lookup lacks which row: $(cat "$T/out-lk/rule_errors.csv" 2>&1)" \
  grep -qF 'C3,renewal_due,' "$T/out-lk/rule_errors.csv"
check lookup_skip "rule_errors.csv: $(cat "$T/out-lk/rule_errors.csv" 2>&1)" \
  grep -qF 'lookup renewal_windows.csv has no row for segment ""enterprise""' "$T/out-lk/rule_errors.csv"
# arithmetic on an empty value (C2 has no renewal date)
before_outputs empty_math 'feature("renewal_weeks", function(c) return (c.renewal_date - AS_OF) / 7 end)'
L=$(line_of "$T/empty_math.lua" 'feature("renewal_weeks"')
RULES_FILE="$T/empty_math.lua" run_engine empty_math "$T/out-em"
assert_rc empty_math 5
assert_one_error empty_math
assert_err empty_math "empty_math.lua:$L: feature renewal_weeks: c.renewal_date is empty for this entity, and arithmetic on an empty value fails (customer_id C2"
before_outputs empty_math_rule $'rule { "soon", points = 1,\n  when = function(c) return c.renewal_date - AS_OF < 45 end }'
L=$(line_of "$T/empty_math_rule.lua" 'c.renewal_date - AS_OF < 45')
RULES_FILE="$T/empty_math_rule.lua" run_engine empty_math_rule "$T/out-em"
assert_rc empty_math_rule 5
assert_err empty_math_rule "empty_math_rule.lua:$L: rule soon: c.renewal_date is empty for this entity"
assert_err empty_math_rule "(customer_id C2"

# --- 5. filter values ---------------------------------------------------------------------------
EVENT_TYPES='category { "purchase", "renewal", "login", "support_ticket", "callback", "nps", "complaint", "price_change", "voicemail", "promise_made", "promise_kept", "cancel" }'
sed "s/    event_type = \"category\",/    event_type = $EVENT_TYPES,/" "$RULES" > "$T/declared.lua"
check declared "declared.lua should declare the event types" grep -q 'event_type = category {' "$T/declared.lua"
RULES_FILE="$T/declared.lua" run_engine declared "$T/out-declared"
assert_rc declared 0
RULES_FILE="$RULES" run_engine plain "$T/out-plain"
for f in "$T"/out-plain/*.csv; do
  check declared "$(basename "$f"): declaring the values should change nothing" cmp -s "$f" "$T/out-declared/$(basename "$f")"
done
# a typo in a filter on the declared column: refused, did you mean
sed 's/event_type = "complaint", last_days = 90/event_type = "complaints", last_days = 90/' "$T/declared.lua" > "$T/declared_typo.lua"
caught declared_typo "$(line_of "$T/declared_typo.lua" '"complaints", last_days = 90')" \
  '"complaints" is not one of the values of event_type' 'did you mean "complaint"?'
# in another case, and inside a list of values
sed 's/event_type = "complaint", last_days = 90/event_type = "Complaint", last_days = 90/' "$T/declared.lua" > "$T/declared_case.lua"
caught declared_case "$(line_of "$T/declared_case.lua" '"Complaint", last_days = 90')" \
  '"Complaint" is not one of the values of event_type' 'did you mean "complaint"?'
sed 's/^local ACTIVITY = { "purchase",/local ACTIVITY = { "purchse",/' "$T/declared.lua" > "$T/declared_list.lua"
caught declared_list "$(line_of "$T/declared_list.lua" 'feature("last_activity"')" \
  '"purchse" is not one of the values of event_type' 'did you mean "purchase"?'
# a value in the data outside the declared list is bad input (the file, line and column)
write_gz "$T/data-webinar/customers.csv.gz" "$(zcat "$T/data/customers.csv.gz")"$'\n'
write_gz "$T/data-webinar/events.csv.gz" "$E_HEAD"$'\n'$'C1,2026-09-10,login,,web,\nC1,2026-09-11,webinar,,web,\n'
RULES_FILE="$T/declared.lua" DATA="$T/data-webinar" run_engine undeclared_value "$T/out-uv"
assert_rc undeclared_value 4
assert_err undeclared_value "events.csv.gz:3: column event_type"
assert_err undeclared_value "webinar"
# the same typo on a plain category column: runs, with a warning naming the line and the value
sed 's/event_type = "complaint", last_days = 90/event_type = "complaints", last_days = 90/' "$RULES" > "$T/plain_typo.lua"
L=$(line_of "$T/plain_typo.lua" '"complaints", last_days = 90')
RULES_FILE="$T/plain_typo.lua" run_engine plain_typo "$T/out-pt"
assert_rc plain_typo 0
# TODO: also run_summary.json "warnings" once that list lands (stderr only for now)
assert_err plain_typo "warning"
assert_err plain_typo "plain_typo.lua:$L: feature complaints_90: event_type = \"complaints\" matches no row of events.csv.gz"
run_cli plain_typo-check check "$T/plain_typo.lua" --data "$T/data"
assert_out plain_typo-check "plain_typo.lua:$L: warning: feature complaints_90: event_type = \"complaints\" matches no row of events.csv.gz"
assert_out plain_typo-check 'did you mean "complaint"?'
run_cli plain_check_nodata check "$T/plain_typo.lua"
assert_rc plain_check_nodata 0

# --- 6. defector test ---------------------------------------------------------------------------
cat > "$T/empty.test.lua" <<'LUA'
case { "no renewal date: days_to_renewal is empty", as_of = "2026-11-01",
  customer = { customer_id = "A1", signup_date = "2024-01-01", monthly_fee = 10 },
  events = { { event_date = "2026-10-31", event_type = "login" } },
  expect = { days_to_renewal = empty, last_nps = empty, rules = {} } }
case { "renewal in 30 days is not empty", as_of = "2026-11-01",
  customer = { customer_id = "A2", signup_date = "2024-01-01", renewal_date = "2026-12-01", monthly_fee = 10 },
  events = { { event_date = "2026-10-31", event_type = "login" } },
  expect = { days_to_renewal = empty } }
case { "an NPS of 0 is not empty", as_of = "2026-11-01",
  customer = { customer_id = "A3", signup_date = "2024-01-01", monthly_fee = 10 },
  events = { { event_date = "2026-10-31", event_type = "nps", amount = 0 } },
  expect = { last_nps = empty } }
case { "false is not empty", as_of = "2026-11-01",
  customer = { customer_id = "A4", signup_date = "2024-01-01", monthly_fee = 10 },
  events = { { event_date = "2026-10-31", event_type = "login" } },
  expect = { defected = empty } }
LUA
run_cli empty test "$RULES" "$T/empty.test.lua"
assert_rc empty 8
check empty "a value that is empty passes = empty: $OUTPUT" grep -qx "PASS  no renewal date: days_to_renewal is empty" <<<"$OUTPUT"
check empty "30 is not empty: $OUTPUT" grep -qxF "FAIL  renewal in 30 days is not empty ($T/empty.test.lua:5)" <<<"$OUTPUT"
assert_out empty "days_to_renewal: expected empty, got 30"
assert_out empty "last_nps: expected empty, got 0"
assert_out empty "defected: expected empty, got false"
check empty "summary: $(tail -n 1 <<<"$OUTPUT")" grep -qx "1 passed, 3 failed" <<<"$OUTPUT"

cat > "$T/nil.test.lua" <<'LUA'
case { "fine", as_of = "2026-11-01",
  customer = { customer_id = "A1", signup_date = "2024-01-01", monthly_fee = 10 },
  expect = { days_to_renewal = empty } }
case { "nil checks nothing", as_of = "2026-11-01",
  customer = { customer_id = "A2", signup_date = "2024-01-01", renewal_date = "2026-12-01", monthly_fee = 10 },
  expect = { score = 20,
             days_to_renewal = nil } }
LUA
run_cli nil_expect test "$RULES" "$T/nil.test.lua"
assert_rc nil_expect 5
assert_one_error nil_expect
assert_err nil_expect "nil.test.lua:7: case 'nil checks nothing': days_to_renewal = nil checks nothing"
assert_err nil_expect "write days_to_renewal = empty"
refute nil_expect "no case should run when the test file is refused: $OUTPUT" grep -q '^PASS' <<<"$OUTPUT"

# = nil in a case's rows is not an expectation: the column is left empty, as when left out
cat > "$T/nil_row.test.lua" <<'LUA'
case { "no contract", as_of = "2026-11-01",
  customer = { customer_id = "A1", signup_date = "2024-01-01", renewal_date = nil, monthly_fee = 10 },
  events = { { event_date = "2026-10-31", event_type = "login" } },
  expect = { days_to_renewal = empty, rules = {} } }
LUA
run_cli nil_row test "$RULES" "$T/nil_row.test.lua"
assert_rc nil_row 0
assert_out nil_row "PASS  no contract"
# and `empty` in a row (what the refusal of = nil advises) is an empty cell, not the text "empty"
sed 's/renewal_date = nil/renewal_date = empty/' "$T/nil_row.test.lua" > "$T/empty_row.test.lua"
run_cli empty_row test "$RULES" "$T/empty_row.test.lua"
assert_rc empty_row 0
assert_out empty_row "PASS  no contract"

cat > "$T/typo_row.test.lua" <<'LUA'
case { "fine", as_of = "2026-11-01",
  customer = { customer_id = "A1", signup_date = "2024-01-01", monthly_fee = 10 },
  events = { { event_date = "2026-10-31", event_type = "login" } },
  expect = { rules = {} } }
case { "a typo in an event row", as_of = "2026-11-01",
  customer = { customer_id = "A2", signup_date = "2024-01-01", monthly_fee = 10 },
  events = { { event_date = "2026-10-31", event_type = "login" },
             { event_date = "2026-10-01", event_type = "purchase", amont = 5 } },
  expect = { rules = {} } }
case { "a typo in the customer row", as_of = "2026-11-01",
  customer = { customer_id = "A3", signup_dat = "2024-01-01", monthly_fee = 10 },
  events = { { event_date = "2026-10-31", event_type = "login" } },
  expect = { rules = {} } }
LUA
run_cli typo_row test "$RULES" "$T/typo_row.test.lua"
check typo_row "a test file with misspelled columns must not pass: exit $RC" [ "$RC" != 0 ]
refute typo_row "a case with a misspelled column must not PASS: $OUTPUT" grep -qE '^PASS  a typo' <<<"$OUTPUT"
both="$OUTPUT $ERR"
check typo_row "'amont' refused with the case's line and did you mean 'amount': $both" \
  grep -qF "typo_row.test.lua:5: case 'a typo in an event row': 'amont' is not a column of events" <<<"$both"
assert_out typo_row "did you mean 'amount'?"
check typo_row "'signup_dat' refused with the case's line: $both" \
  grep -qF "typo_row.test.lua:10: case 'a typo in the customer row': 'signup_dat' is not a column of customers" <<<"$both"
assert_out typo_row "did you mean 'signup_date'?"

cat > "$T/not_field.test.lua" <<'LUA'
case { "expects a name that is no field", as_of = "2026-11-01",
  customer = { customer_id = "A1", signup_date = "2024-01-01", monthly_fee = 10 },
  expect = { days_to_renewl = empty } }
LUA
run_cli not_field test "$RULES" "$T/not_field.test.lua"
check not_field "a test file expecting a name that is no field must not pass: exit $RC" [ "$RC" != 0 ]
refute not_field "the case must not PASS: $OUTPUT" grep -q '^PASS' <<<"$OUTPUT"
assert_out not_field "not_field.test.lua:1: case 'expects a name that is no field': expect names 'days_to_renewl', which is not a feature, value or column"
assert_out not_field "did you mean 'days_to_renewal'?"
finish
