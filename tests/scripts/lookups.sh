#!/usr/bin/env bash
# Lookup tables and manual overrides beside the rule file: read, applied, shown as a reason;
# expired overrides ignored and reported; only plain file names beside the rule file.
source "$TESTS_DIR/fixtures/lib.sh"
make_data "$T/data"
RULES_FILE="$TESTS_DIR/rules/lookups/lookups.lua" run_engine lookups "$T/out"
assert_rc lookups 0
want='customer_id,points,score,band,reason_codes,reasons
C1,0,0,high,override,"override: CEO escalation, call weekly"
C2,25,25,low,override,override: asked for the cancellation form
C3,60,60,high,renewal_due;strategic,renewal due in 0 days; strategic account'
check lookups "list.csv: $(cat "$T/out/list.csv" 2>/dev/null)" [ "$(cat "$T/out/list.csv" 2>/dev/null)" = "$want" ]
assert_err lookups "overrides.csv: 2 overrides applied; 1 expired and ignored: C9 (expired 2026-10-01, line 4)"
check lookups "run_summary.json overrides" grep -q '"expired": 1' "$T/out/run_summary.json"

run_cli explain explain "$TESTS_DIR/rules/lookups/lookups.lua" --data "$T/data" --as-of 2026-11-01 --customer C1
assert_out "explain shows the override" "OVERRIDE band high: CEO escalation, call weekly (until 2026-12-31)"
assert_out "explain: forced band" "points 0, score 0, band high"

# a copy of the folder with one thing wrong at a time
bad() {
  rm -rf "$T/r" && cp -r "$TESTS_DIR/rules/lookups" "$T/r"
  eval "$2"
  RULES_FILE="$T/r/lookups.lua" run_engine "$1" "$T/out"
}
bad traversal "sed -i 's/renewal_windows.csv/..\/..\/etc\/passwd/' '$T/r/lookups.lua'"
assert_rc traversal 5; assert_err traversal "must be a plain file name beside the rule file"
bad missing_lookup "rm '$T/r/strategic.csv'"
assert_rc missing_lookup 5; assert_err missing_lookup "lookups.lua:5: lookup: cannot read"
bad unknown_band "printf 'customer_id,band,points,reason,expires_on\nC1,platinum,,vip,\n' > '$T/r/overrides.csv'"
assert_rc unknown_band 5; assert_err unknown_band "overrides.csv:2: override for C1 forces band 'platinum', which the rule file does not declare"
bad bad_points "printf 'customer_id,band,points,reason,expires_on\nC1,,ten,vip,\n' > '$T/r/overrides.csv'"
assert_rc bad_points 5; assert_err bad_points "points 'ten' is not a number"
bad dup_key "printf 'segment,days\nsmb,20\nsmb,30\n' > '$T/r/renewal_windows.csv'"
assert_rc dup_key 5; assert_err dup_key "key 'smb' appears twice"
bad write_lookup "sed -i 's/return between(c.days_to_renewal, 0, windows\[c.segment\].days)/windows.smb = 1; return false/' '$T/r/lookups.lua'"
assert_rc write_lookup 5; assert_err write_lookup "lookups.lua:8: rule renewal_due changes 'windows', which is declared outside it"
bad write_lookup_top "sed -i 's/^local windows = lookup.*$/&; windows.smb = 1/' '$T/r/lookups.lua'"
assert_rc write_lookup_top 5; assert_err write_lookup_top "lookups.lua:4: a lookup table is read-only"
finish
