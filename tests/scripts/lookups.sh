#!/usr/bin/env bash
# Lookup tables and manual overrides beside the rule file: read, applied, shown as a reason;
# expired overrides ignored and reported; only plain file names beside the rule file, and only
# files inside its folder: a symbolic link that leads out of the folder (to /etc/passwd, or up
# with ..) is refused, for lookups, overrides and the inputs named in --data (issue 8, 1); a link
# to another file of the same folder is followed.
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

# ---- links out of the folder (issue 8, 1) ----
run_engine good "$T/out"
assert_rc good 0
snapshot "$T/out" "$T/snap.good"
printf 'customer_id,why\nC3,secret\n' > "$T/secret.csv" # a file outside the rule file's folder
no_leak() { # LABEL: nothing of /etc/passwd or of secret.csv in stderr or the outputs
  refute "$1" "stderr shows /etc/passwd: $ERR" grep -q "root:" <<<"$ERR"
  refute "$1" "stderr shows secret.csv: $ERR" grep -q "secret" <<<"$ERR"
  refute "$1" "an output holds /etc/passwd or secret.csv" grep -rqE "root:|secret" "$T/out"
}
bad link_passwd "ln -sf /etc/passwd '$T/r/strategic.csv'"
assert_rc link_passwd 5
assert_err link_passwd "lookups.lua:5: lookup: cannot read $T/r/strategic.csv: it is a link that leads out of its folder — keep it as a file in the rule file's folder"
assert_one_error link_passwd; no_leak link_passwd; assert_unchanged link_passwd "$T/out" "$T/snap.good"
bad link_up "rm '$T/r/strategic.csv'; ln -s ../secret.csv '$T/r/strategic.csv'"
assert_rc link_up 5
assert_err link_up "lookup: cannot read $T/r/strategic.csv: it is a link that leads out of its folder"
no_leak link_up; assert_unchanged link_up "$T/out" "$T/snap.good"
bad link_overrides "ln -sf /etc/passwd '$T/r/overrides.csv'"
assert_rc link_overrides 5
assert_err link_overrides "lookups.lua:12: overrides: cannot read $T/r/overrides.csv: it is a link that leads out of its folder"
no_leak link_overrides; assert_unchanged link_overrides "$T/out" "$T/snap.good"
bad folder "rm '$T/r/strategic.csv'; mkdir '$T/r/strategic.csv'"
assert_rc folder 5
assert_err folder "lookups.lua:5: lookup: cannot read $T/r/strategic.csv: it is a folder, not a file"
assert_one_error folder
# a link to another file of the same folder is followed: the same outputs
# the same rule file, as it is: the outputs a copy with links inside its folder must give
bad copy ":"
assert_rc copy 0
snapshot "$T/out" "$T/snap.copy"
same_outputs() { # SNAPSHOT: the outputs of the copy as it is, but run_summary.json and the manifest
  diff <(grep -vE 'run_summary|defector-manifest' "$T/snap.copy") <(grep -vE 'run_summary|defector-manifest' "$1")
}
bad link_inside "mv '$T/r/strategic.csv' '$T/r/strategic-2026.csv'; ln -s strategic-2026.csv '$T/r/strategic.csv'"
assert_rc link_inside 0
snapshot "$T/out" "$T/snap.inside"
check link_inside "outputs differ from the run without links" same_outputs "$T/snap.inside"

# lines that end with a lone CR (old Mac exports), as the loader reads them: the same outputs;
# the reader looped on a lone CR until the time budget blamed the rule file (found by fuzz_lookup)
bad lone_cr "for f in renewal_windows.csv overrides.csv strategic.csv; do tr '\\n' '\\r' < '$T/r/'\$f > '$T/r/x' && mv '$T/r/x' '$T/r/'\$f; done"
check lone_cr "a lone CR in the file" grep -q $'\r' "$T/r/renewal_windows.csv"
assert_rc lone_cr 0
snapshot "$T/out" "$T/snap.cr"
check lone_cr "outputs differ from the run with LF" same_outputs "$T/snap.cr"

# the inputs the rule file names in --data: the same rule
snapshot "$T/out" "$T/snap.cur"
cp -r "$T/data" "$T/data-link"
mv "$T/data-link/customers.csv.gz" "$T/customers-outside.csv.gz"
ln -s "$T/customers-outside.csv.gz" "$T/data-link/customers.csv.gz"
DATA="$T/data-link" RULES_FILE="$TESTS_DIR/rules/lookups/lookups.lua" run_engine data_link "$T/out"
assert_rc data_link 3
assert_err data_link "data-link/customers.csv.gz: refused: it is a link that leads out of its folder; an input must be a file in the --data folder"
assert_one_error data_link; assert_unchanged data_link "$T/out" "$T/snap.cur"
run_cli explain_link explain "$TESTS_DIR/rules/lookups/lookups.lua" --data "$T/data-link" --as-of 2026-11-01 --customer C1
assert_rc explain_link 3
assert_err explain_link "refused: it is a link that leads out of its folder"
rm "$T/data-link/customers.csv.gz"
mv "$T/customers-outside.csv.gz" "$T/data-link/customers-2026.csv.gz"
ln -s customers-2026.csv.gz "$T/data-link/customers.csv.gz"
DATA="$T/data-link" RULES_FILE="$TESTS_DIR/rules/lookups/lookups.lua" run_engine data_link_inside "$T/out"
assert_rc data_link_inside 0
# an export in parts: each part
mkdir -p "$T/data-parts"
cp "$T/data/customers.csv.gz" "$T/data-parts/"
cp "$REPO_DIR/tests/rules/sandbox/base.lua" "$T/parts.lua"
sed -i 's/file = "events.csv.gz"/file = "events-*.csv.gz"/' "$T/parts.lua"
write_gz "$T/outside-events.csv.gz" "$E_HEAD"$'\nC1,2026-09-10,login,,web,\n'
zcat "$T/data/events.csv.gz" | gzip -n > "$T/data-parts/events-1.csv.gz"
ln -s "$T/outside-events.csv.gz" "$T/data-parts/events-2.csv.gz"
snapshot "$T/out" "$T/snap.cur"
DATA="$T/data-parts" RULES_FILE="$T/parts.lua" run_engine parts_link "$T/out"
assert_rc parts_link 3
assert_err parts_link "data-parts/events-2.csv.gz: refused: it is a link that leads out of its folder"
assert_unchanged parts_link "$T/out" "$T/snap.cur"
# check --data does not read a file through a link out of the folder (its header is not shown)
ln -s /etc/passwd "$T/data-link/passwd.csv"
run_cli check_link check "$TESTS_DIR/rules/lookups/lookups.lua" --data "$T/data-link"
refute check_link "check read /etc/passwd: $OUTPUT $ERR" grep -q "root:" <<<"$OUTPUT$ERR"
finish
