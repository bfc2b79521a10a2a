#!/usr/bin/env bash
# Scoring in several Lua states (--threads N) gives the bytes one state gives: list rows with
# ties, metric groups first seen in different parts, sums of non-whole numbers, rule failures
# set aside (rule_errors.csv in customer order) or stopping the run (the first failing customer
# is named), and a rule that loops forever in the last part stopped by the watchdog. A rule file
# that would carry values from one customer to the next (which would depend on the parts) is
# refused before anything is read.
source "$TESTS_DIR/fixtures/lib.sh"
"$DEFECTOR_GEN" --customers 3000 --seed 99 --quirks --out "$T/data" 2>/dev/null || { fail gen "the generator failed"; finish; }
RULES_FILE="$TESTS_DIR/rules/parallel/scoring.lua"
summary_part() { python3 -c "
import json, sys
s = json.load(open(sys.argv[1]))
print(s['scoring_states'], json.dumps(s['rules_fired'], sort_keys=True), json.dumps(s['rule_errors'], sort_keys=True))" "$1"; }

for t in 1 2 3 4; do
  run_engine "skip$t" "$T/out$t" --threads "$t" --on-rule-error skip
  assert_rc "skip$t" 0
done
states=$(summary_part "$T/out4/run_summary.json" | cut -d' ' -f1)
check states "--threads 4 on 3000 customers should score in 4 Lua states, run_summary.json says $states" [ "$states" = 4 ]
states=$(summary_part "$T/out1/run_summary.json" | cut -d' ' -f1)
check states1 "--threads 1 should score in 1 Lua state, run_summary.json says $states" [ "$states" = 1 ]
n_err=$(($(wc -l < "$T/out1/rule_errors.csv") - 1))
# rule fragile fails for exactly the customers without a renewal date: 747 of the 3000 the
# generator makes with --seed 99, counted here from the data itself too
no_renewal=$(/usr/bin/python3 -c '
import csv, gzip, sys
rows = csv.DictReader(gzip.open(sys.argv[1], "rt", encoding="utf-8-sig", newline=""))
print(sum(1 for r in rows if r["renewal_date"] == ""))' "$T/data/customers.csv.gz")
check errors "customers without a renewal date in the generated data: expected 747, counted $no_renewal" [ "$no_renewal" = 747 ]
check errors "rule_errors.csv should list the 747 customers without a renewal date, it has $n_err" [ "$n_err" = 747 ]
check errors "rule_errors.csv should name rule fragile on every row" \
  [ "$(tail -n +2 "$T/out1/rule_errors.csv" | cut -d, -f2 | sort -u)" = fragile ]
rule_errors=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["rule_errors"]))' "$T/out1/run_summary.json")
check errors "run_summary.json rule_errors: expected {\"fragile\": 747}, got $rule_errors" [ "$rule_errors" = '{"fragile": 747}' ]
check errors_order "rule_errors.csv should list customers in file order" \
  bash -c "tail -n +2 '$T/out1/rule_errors.csv' | cut -d, -f1 | sort -c"
for t in 2 3 4; do
  for f in "$T"/out1/*.csv; do
    b=$(basename "$f")
    check "same$t" "$b differs between --threads 1 and --threads $t: $(diff "$f" "$T/out$t/$b" | head -4)" cmp -s "$f" "$T/out$t/$b"
  done
  check "summary$t" "rules fired / rule errors differ between --threads 1 and $t" \
    [ "$(summary_part "$T/out1/run_summary.json" | cut -d' ' -f2-)" = "$(summary_part "$T/out$t/run_summary.json" | cut -d' ' -f2-)" ]
done
check fee_sum "by_band.csv should hold sums of thirds (non-whole numbers): $(head -3 "$T/out1/by_band.csv")" \
  grep -qE '^[a-z]+,[a-z]*,[0-9]+,[0-9]+\.[0-9]+,' "$T/out1/by_band.csv"
check empty_band "by_band.csv should have a group without a band" grep -qE '^[a-z]+,,' "$T/out1/by_band.csv"
# 3000 x 2^51, exact (past 2^53, where adding doubles one by one would round)
check huge_sum "all.csv: the sum of 3000 x 2^51 should be 6755399441055744000: $(cat "$T/out1/all.csv")" \
  grep -q '^3000,[0-9.]*,6755399441055744000,' "$T/out1/all.csv"
check swing "all.csv: +3 x 4e18 - 3 x 4e18 should sum to 0 (the running sum passes int64): $(cat "$T/out1/all.csv")" \
  grep -q '^3000,[0-9.]*,6755399441055744000,[0-9.]*,0,' "$T/out1/all.csv"

# a sum past what an int64 keeps exact is an error, not a wrapped number
sed 's/return 2 ^ 51 end/return 2 ^ 62 end/' "$RULES_FILE" > "$T/overflow.lua"
for t in 1 4; do
  RULES_FILE="$T/overflow.lua" run_engine "overflow$t" "$T/overflow-out" --threads "$t" --on-rule-error skip
  assert_rc "overflow$t" 5
  assert_err "overflow$t" "metrics all.csv, column huge: the sum grew past what can be kept exact"
done

# without skip the run stops at the first failing customer, whatever the number of threads
run_engine stop1 "$T/stop1" --threads 1
assert_rc stop1 5
first=$(head -n 2 "$T/out1/rule_errors.csv" | tail -n 1 | cut -d, -f1)
assert_err stop1 "rule fragile: c.renewal_date is empty for this entity, and arithmetic on an empty value fails"
assert_err stop1 "(customer_id $first)"
err1=$(head -n 1 <<<"$ERR")
run_engine stop4 "$T/stop4" --threads 4
assert_rc stop4 5
check stop_same "the error should be the same with --threads 4:
$ERR
--threads 1:
$err1" [ "$(head -n 1 <<<"$ERR")" = "$err1" ]
check stop_out "a failed run should not create its output folder" [ ! -e "$T/stop4" ]

# a rule that never ends, for a customer in the last of 4 parts: the watchdog names it
last=$(zcat "$T/data/customers.csv.gz" | tail -n 1 | tr ',' '\n' | grep -m1 '^C[0-9]')
sed "s/when = function(c) return c.logins < 3 end/when = function(c) if c.customer_id == \"$last\" then while true do end end return c.logins < 3 end/" \
  "$RULES_FILE" > "$T/loop.lua"
RULES_FILE="$T/loop.lua" run_engine loop "$T/loop-out" --threads 4 --rule-time-limit 1 --on-rule-error skip
assert_rc loop 5
assert_err loop "rule quiet: stopped while scoring customer_id $last"
check loop_out "the watchdog should leave no output folder" [ ! -e "$T/loop-out" ]

# a rule failing in a later part while the first part is still being scored (slowly): the
# failure is reported once the first part is done, not taken by the watchdog for a rule that
# hangs (its state stopped scoring)
mid=$(zcat "$T/data/customers.csv.gz" | sed -n 2500p | tr ',' '\n' | grep -m1 '^C[0-9]')
{ sed '/^output {/,$d; s/return c.renewal_date - AS_OF < 90/return c.renewal_date ~= nil and c.renewal_date - AS_OF < 90/' "$RULES_FILE"
  printf '%s\n' "feature(\"slow\", function(c) local x = 0; if c.customer_id < \"C0001200\" then for k = 1, 400000 do x = x + k % 7 end end; return x end)" \
    "rule { \"boom\", points = 1, when = function(c) if c.customer_id == \"$mid\" then error(\"boom\") end; return false end }"
  sed -n '/^output {/,$p' "$RULES_FILE"; } > "$T/late.lua"
RULES_FILE="$T/late.lua" run_engine late "$T/late-out" --threads 2 --rule-time-limit 1
assert_rc late 5
assert_err late "rule boom: boom (customer_id $mid"
refute late_watchdog "the watchdog should not fire: $ERR" grep -q "stopped while scoring" <<<"$ERR"

# lookups and overrides in every state: overrides for the first and the last customer
rm -rf "$T/lk" && cp -r "$TESTS_DIR/rules/lookups" "$T/lk"
sed -i "s/^C1,/$(zcat "$T/data/customers.csv.gz" | sed -n 2p | tr ',' '\n' | grep -m1 '^C[0-9]'),/; s/^C2,/$last,/" "$T/lk/overrides.csv"
for t in 1 4; do
  AS_OF=2026-10-15 RULES_FILE="$T/lk/lookups.lua" run_engine "lookups$t" "$T/lk-out$t" --threads "$t"
  assert_rc "lookups$t" 0
  assert_err "lookups$t" "2 overrides applied; 1 expired and ignored"
done
check lookups_same "list.csv differs between --threads 1 and 4 with lookups and overrides" cmp -s "$T/lk-out1/list.csv" "$T/lk-out4/list.csv"
check lookups_last "the last customer's override should show in list.csv" grep -q "^$last,.*override: asked for the cancellation form" "$T/lk-out4/list.csv"

# keeping values between customers: refused by run and by check, with the line and the name
keeps() { # LABEL LINE NAME LUA-BEFORE-THE-OUTPUT
  { sed '/^output {/,$d' "$RULES_FILE"; printf '%s\n' "$4"; sed -n '/^output {/,$p' "$RULES_FILE"; } > "$T/$1.lua"
  local line
  line=$(grep -n "$3" "$T/$1.lua" | sed -n 2p | cut -d: -f1)
  RULES_FILE="$T/$1.lua" run_engine "$1" "$T/keep-out"
  assert_rc "$1" 5
  assert_err "$1" "$1.lua:$line: $2 changes '$3', which is declared outside it"
  run_cli "$1-check" check "$T/$1.lua"
  assert_rc "$1-check" 5
  assert_out "$1-check" "$1.lua:$line: error: $2 changes '$3'"
}
keeps counter "feature n_seen" n_seen_so_far $'local n_seen_so_far = 0\nfeature("n_seen", function(c)\n  n_seen_so_far = n_seen_so_far + 1\n  return n_seen_so_far end)'
keeps table_in_helper "rule marks" by_segment $'local by_segment = {}\nlocal function mark(c)\n  by_segment[c.segment] = true\nend\nrule { "marks", points = 1, when = function(c) mark(c); return false end }'
keeps nested "rule nested" state $'local state = { list = {} }\nrule { "nested", points = 1, when = function(c)\n  state.list[c.segment] = true\n  return false end }'
# through the table library: refused when the rule runs, naming the table
{ sed '/^output {/,$d' "$RULES_FILE"; printf '%s\n' 'local seen = {}' 'rule { "collects", points = 1, when = function(c)' '  table.insert(seen, c.customer_id)' '  return false end }'; sed -n '/^output {/,$p' "$RULES_FILE"; } > "$T/insert.lua"
line=$(grep -n 'table.insert(seen' "$T/insert.lua" | cut -d: -f1)
RULES_FILE="$T/insert.lua" run_engine insert "$T/keep-out"
assert_rc insert 5
assert_err insert "insert.lua:$line: rule collects: table.insert changes 'seen', which is declared outside the function"
# a helper kept in a table, changing a local: found before anything is read
{ sed '/^output {/,$d' "$RULES_FILE"; printf '%s\n' 'local H, calls = {}, 0' 'function H.add()' '  calls = calls + 1' '  return calls end' 'feature("h", function(c) return H.add() end)'; sed -n '/^output {/,$p' "$RULES_FILE"; } > "$T/helper.lua"
line=$(grep -n '  calls = calls + 1' "$T/helper.lua" | cut -d: -f1)
RULES_FILE="$T/helper.lua" run_engine helper "$T/keep-out"
assert_rc helper 5
assert_err helper "helper.lua:$line: function defined at line $((line - 1)) changes 'calls', which is declared outside it"
# a helper changing a table it is given: found when the customers are scored, whatever --threads
{ sed '/^output {/,$d' "$RULES_FILE"; printf '%s\n' 'local counter = { n = 0 }' 'local function bump(t) t.n = t.n + 1; return t.n end' 'feature("seen_so_far", function(c) return bump(counter) end)'; sed -n '/^output {/,$p' "$RULES_FILE"; } > "$T/bump.lua"
for t in 1 2; do
  RULES_FILE="$T/bump.lua" run_engine "bump$t" "$T/keep-out" --threads "$t" --on-rule-error skip
  assert_rc "bump$t" 5
  assert_err "bump$t" "bump.lua: the rule file changed 'counter', a table declared outside its functions, while entities were scored"
done
check bump_out "a run that changed an outer table must not write outputs" [ ! -e "$T/keep-out" ]
# reading values declared outside, and tables made per customer, are fine
{ sed '/^output {/,$d' "$RULES_FILE"; cat <<'LUA'; sed -n '/^output {/,$p' "$RULES_FILE"; } > "$T/reads.lua"
local LIMITS = { smb = 2, enterprise = 5 }
local function limit_of(c) return LIMITS[c.segment] or 3 end
local function fresh(s) return { seg = s } end
feature("fresh_n", function(c) local t = fresh(c.segment); t.n = 1; return t.n end)
feature("parts", function(c) local t = {}; t[#t + 1] = c.logins; t.x = limit_of(c); table.insert(t, LIMITS.smb); table.sort(t); return #t end)
LUA
RULES_FILE="$T/reads.lua" run_engine reads "$T/reads-out" --threads 2 --on-rule-error skip
assert_rc reads 0
finish
