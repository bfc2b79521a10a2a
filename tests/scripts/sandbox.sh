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
done < "$SB/escapes.txt"
check count "escapes.txt should list 46 escapes, read $n" [ "$n" -ge 46 ]

finish
