#!/usr/bin/env bash
# Lookup tables and manual overrides beside the rule file: read, applied, shown as a reason;
# expired overrides ignored and reported; only plain file names beside the rule file.
source "$TESTS_DIR/fixtures/lib.sh"
make_data "$T/data"
RULES_FILE="$TESTS_DIR/rules/lookups/lookups.lua" run_engine "$T/out"
expect_rc 0 lookups
want='customer_id,points,score,band,reason_codes,reasons
C1,0,0,high,override,"override: CEO escalation, call weekly"
C2,25,25,low,override,override: asked for the cancellation form
C3,60,60,high,renewal_due;strategic,renewal due in 0 days; strategic account'
[ "$(cat "$T/out/list.csv")" = "$want" ] || fail "list.csv: $(cat "$T/out/list.csv")"
expect_err "overrides.csv: 2 overrides applied; 1 expired and ignored: C9 (expired 2026-10-01, line 4)" lookups
grep -q '"expired": 1' "$T/out/run_summary.json" || fail "run_summary.json overrides"

"$DEFECTOR" explain "$TESTS_DIR/rules/lookups/lookups.lua" --data "$T/data" --as-of 2026-11-01 --customer C1 >"$T/ex" 2>&1
grep -qF "OVERRIDE band high: CEO escalation, call weekly (until 2026-12-31)" "$T/ex" || fail "explain shows the override: $(cat "$T/ex")"
grep -qF "points 0, score 0, band high" "$T/ex" || fail "explain: forced band: $(cat "$T/ex")"

# a copy of the folder with one thing wrong at a time
bad() {
  rm -rf "$T/r" && cp -r "$TESTS_DIR/rules/lookups" "$T/r"
  eval "$1"
  RULES_FILE="$T/r/lookups.lua" run_engine "$T/out"
}
bad "sed -i 's/renewal_windows.csv/..\/..\/etc\/passwd/' '$T/r/lookups.lua'"
expect_rc 5 traversal; expect_err "must be a plain file name beside the rule file" traversal
bad "rm '$T/r/strategic.csv'"
expect_rc 5 missing_lookup; expect_err "lookups.lua:5: lookup: cannot read" missing_lookup
bad "printf 'customer_id,band,points,reason,expires_on\nC1,platinum,,vip,\n' > '$T/r/overrides.csv'"
expect_rc 5 unknown_band; expect_err "overrides.csv:2: override for C1 forces band 'platinum', which the rule file does not declare" unknown_band
bad "printf 'customer_id,band,points,reason,expires_on\nC1,,ten,vip,\n' > '$T/r/overrides.csv'"
expect_rc 5 bad_points; expect_err "points 'ten' is not a number" bad_points
bad "printf 'segment,days\nsmb,20\nsmb,30\n' > '$T/r/renewal_windows.csv'"
expect_rc 5 dup_key; expect_err "key 'smb' appears twice" dup_key
bad "sed -i 's/return between(c.days_to_renewal, 0, windows\[c.segment\].days)/windows.smb = 1; return false/' '$T/r/lookups.lua'"
expect_rc 5 write_lookup; expect_err "a lookup table is read-only" write_lookup
finish
