#!/usr/bin/env bash
# Rule files are untrusted (docs/rules.md, "The sandbox"). tests/rules/sandbox/escapes.txt lists
# escape attempts; each goes into base.lua on line 8 (inside a rule's `when`, run for every
# customer) or line 12 (top level) and must be refused: exit code 5, one message naming NAME.lua
# and the line, the previous outputs byte for byte as they were, nothing written outside them.
source "$TESTS_DIR/fixtures/lib.sh"
make_data4 "$T/data"
SB="$TESTS_DIR/rules/sandbox"
OUT="$T/out"
cd "$T" || exit 1 # relative paths an escape might write ("pwned") land here

RULES_FILE="$SB/base.lua" run_engine base "$OUT"
assert_rc base 0
want=$'customer_id,score,reason_codes\nC1,0,\nC2,10,quiet\nC3,10,quiet\nC4,0,'
check base "list.csv: expected
$want
got
$(cat "$OUT/list.csv" 2>/dev/null)" [ "$(cat "$OUT/list.csv" 2>/dev/null)" = "$want" ]
snapshot "$OUT" "$T/snap.good"
cp -a "$OUT" "$T/out.good" # restored before each attempt, in case an escape got through

# each escape of escapes.txt, as base.lua with the escape on line 8 (rule) or 12 (top)
n=0
while IFS='|' read -r name where code msg; do
  case "$name" in '#'* | '') continue ;; esac
  n=$((n + 1))
  line=12; [ "$where" = rule ] && line=8
  f="$T/$name.lua"
  awk -v l="$line" -v code="$code" -v ind="$([ "$where" = rule ] && echo '  ')" \
    'NR == l { print ind code; next } { print }' "$SB/base.lua" > "$f"

  rm -f "$T/pwned"
  rm -rf "$OUT" && cp -a "$T/out.good" "$OUT"
  RULES_FILE="$f" run_engine "$name" "$OUT"
  if [ "$RC" != 5 ]; then
    # one line per escape that got through (or failed the wrong way); the rest is moot
    CHECKS=$((CHECKS + 1))
    fail "$name" "NOT REFUSED: exit code expected 5, got $RC ($code); stderr:
$ERR"
    continue
  fi
  assert_err "$name" "$name.lua:$line"
  check "$name" "stderr: expected a message matching /$msg/, got:
$ERR" grep -qE -- "$msg" <<<"$ERR"
  assert_one_error "$name"
  assert_unchanged "$name" "$OUT" "$T/snap.good"
  refute "$name" "the escape wrote a file ($T/pwned)" test -e "$T/pwned"
  refute "$name" "stderr shows the content of /etc/passwd: the rule file read a file outside --data" \
    grep -q "root:x:0:0" <<<"$ERR"
  refute "$name" "the rule file chose the location of the error: $ERR" grep -q "^defector: error: /etc/shadow" <<<"$ERR"
done < "$SB/escapes.txt"
check count "escapes.txt should list 55 escapes, read $n" [ "$n" -ge 55 ]

# outputs are deterministic (issue 8, 3): tostring and string.format give a table's or a
# function's kind, never its address; a value with no text (a table) is refused naming the
# output, the column and the line that makes it
with_feature() { # NAME FEATURE_FUNCTION: base.lua with feature x = FUNCTION written in list.csv
  sed -e "s/^output { file = \"list.csv\", columns = { \"customer_id\", \"score\", \"reason_codes\" }/feature(\"x\", $2)\\
output { file = \"list.csv\", columns = { \"customer_id\", \"score\", \"reason_codes\", \"x\" }/" "$SB/base.lua" > "$T/$1.lua"
}
with_feature texts 'function(c) return tostring(function() end) .. string.format("|%s|%s|", {}, c) .. tostring(present) end'
check texts "the sed did not add feature x" grep -q 'feature("x"' "$T/texts.lua"
RULES_FILE="$T/texts.lua" run_engine texts "$T/texts-out"
assert_rc texts 0
want=$'customer_id,score,reason_codes,x\nC1,0,,function|table|table|present\nC2,10,quiet,function|table|table|present\nC3,10,quiet,function|table|table|present\nC4,0,,function|table|table|present'
check texts "list.csv: expected
$want
got
$(cat "$T/texts-out/list.csv" 2>/dev/null)" [ "$(cat "$T/texts-out/list.csv" 2>/dev/null)" = "$want" ]

with_feature table_cell 'function(c) return {} end'
rm -rf "$OUT" && cp -a "$T/out.good" "$OUT"
RULES_FILE="$T/table_cell.lua" run_engine table_cell "$OUT"
assert_rc table_cell 5
assert_err table_cell "table_cell.lua:11: output list.csv, column x: the value is a table, which has no text to write; give the field text, a number, a date or true/false (customer_id C1)"
assert_one_error table_cell
assert_unchanged table_cell "$OUT" "$T/snap.good"

with_feature function_cell 'function(c) return function() end end'
RULES_FILE="$T/function_cell.lua" run_engine function_cell "$OUT"
assert_rc function_cell 5
assert_err function_cell "function_cell.lua:11: output list.csv, column x: the value is a function"
assert_unchanged function_cell "$OUT" "$T/snap.good"

finish
