#!/bin/bash
# lifecycle.sh: rules/lifecycle.lua (issue 14, docs/lifecycle.md) on its sample data, two nights
# a week apart into one history, and nights a day apart (customers carried past the cap listed
# again, those called cooled down; a night of an older defector read as before): every output of each night checked against an independent
# computation in Python (tests/fixtures/lifecycle_check.py: products, sequence aggregates,
# actions, the call lists with their caps and cool-down, the service figures with medians and
# percentiles, the save rate over the two nights), the same bytes for any --threads, explain
# showing the action, due date and sequence aggregates; then the new declarations' edges on
# small hand-made data (median and percentile, time_to_next, interval filters) and their errors.
source "$TESTS_DIR/fixtures/lib.sh"
LC="$REPO_DIR/rules/lifecycle.lua"
DATA="$REPO_DIR/sample-data/lifecycle"
PY=/usr/bin/python3

# ---- the sample data is what its generator makes ----
$PY "$REPO_DIR/scripts/gen-lifecycle-sample" "$T/gen" >/dev/null
for f in customers events products; do
  check gen "sample-data/lifecycle/$f.csv.gz is the generator's output byte for byte" cmp -s "$T/gen/$f.csv.gz" "$DATA/$f.csv.gz"
done

night() { # night LABEL AS_OF THREADS: one run into $T/out-LABEL, history $T/hist-THREADS
  run_cli "$1" run "$LC" --data "$DATA" --out "$T/out-$1" --as-of "$2" --history "$T/hist-$3" --threads "$3" --no-progress
  assert_rc "$1" 0
}
night n1 2026-11-01 1
night n2 2026-11-08 1
night n1t 2026-11-01 3
night n2t 2026-11-08 3

check n1 "the first night, computed again in Python: $($PY "$TESTS_DIR/fixtures/lifecycle_check.py" "$DATA" "$T/out-n1" 2026-11-01 2>&1 | tail -3)" \
  $PY "$TESTS_DIR/fixtures/lifecycle_check.py" "$DATA" "$T/out-n1" 2026-11-01
check n2 "the second night (cool-down, save rate), computed again in Python: $($PY "$TESTS_DIR/fixtures/lifecycle_check.py" "$DATA" "$T/out-n2" 2026-11-08 "$T/out-n1" 2026-11-01 2>&1 | tail -3)" \
  $PY "$TESTS_DIR/fixtures/lifecycle_check.py" "$DATA" "$T/out-n2" 2026-11-08 "$T/out-n1" 2026-11-01
for n in n1 n2; do
  for f in calls.csv save_rate.csv reproposal_list.csv followup_list.csv metrics_service.csv metrics_products.csv; do
    check threads "$n $f: the same bytes with --threads 1 and 3" cmp -s "$T/out-$n/$f" "$T/out-${n}t/$f"
  done
done
check threads "the snapshots are the same with --threads 1 and 3" cmp -s <(zcat "$T/hist-1/2026-11-01/customers.csv.gz") <(zcat "$T/hist-3/2026-11-01/customers.csv.gz")

# what the Python check covers, made sure to be there (else it would check little)
C1="$T/out-n1/calls.csv"
for r in R0001 R0002 R0003 R0004; do
  check n1 "the renewal-only customer $r is on a call list, for renewal_due" grep -q ",$r,Renewal only [0-9],call,renewal_due," "$C1"
done
check n1 "an owner's list goes past the cap of 3 a day: carried to the next days" grep -q '^[a-z]*,4,2026-11-02,' "$C1"
check n1 "some calls fall after their due date (late)" grep -q ',true,[0-9]*,[a-z_;]*$' "$C1"
check n1 "customers without an owner are in the unassigned list" grep -q '^unassigned,1,' "$C1"
check n1 "the snapshot keeps on_calls, next_action, action_rule and owner" \
  grep -q '^customer_id,score,band,stage,on_list,reason_codes,on_calls,next_action,action_rule,owner' <(zcat "$T/hist-1/2026-11-01/customers.csv.gz")
n1_ids=$(cut -d, -f4 "$C1" | tail -n +2 | sort)
n2_ids=$(cut -d, -f4 "$T/out-n2/calls.csv" | tail -n +2 | sort)
n1_before=$(awk -F, 'NR > 1 && $3 < "2026-11-08" { print $4 }' "$C1" | sort)
n1_later=$(awk -F, 'NR > 1 && $3 >= "2026-11-08" { print $4 }' "$C1" | sort)
check n2 "nobody the first night planned to call before the second is listed (cool-down of 7 nights)" [ -z "$(comm -12 <(echo "$n1_before") <(echo "$n2_ids"))" ]
check n2 "some the first night carried to the second night's day or later are listed again (not called yet)" [ -n "$(comm -12 <(echo "$n1_later") <(echo "$n2_ids"))" ]
check n1 "the night keeps call_on_calls.csv.gz: each listed customer's call day, as in calls.csv" \
  cmp -s <(zcat "$T/hist-1/2026-11-01/call_on_calls.csv.gz") <(cut -d, -f3,4 "$C1" | awk -F, '{ print $2 "," $1 }' | sed 1s/.*/customer_id,call_on/)
check n2 "the save rate has a row per rule, action and owner, some below 1" grep -q '^rule,calls_unreturned,[0-9]*,[0-9]*,0\.' "$T/out-n2/save_rate.csv"

# ---- nights a day apart (cap 3 a day per owner): the first night carries most of its list to
# later days; the next day those called are cooled down and the others listed again ----
run_cli d2 run "$LC" --data "$DATA" --out "$T/out-d2" --as-of 2026-11-02 --history "$T/hist-1" --no-progress
assert_rc d2 0
check d2 "the night after, computed again in Python: $($PY "$TESTS_DIR/fixtures/lifecycle_check.py" "$DATA" "$T/out-d2" 2026-11-02 "$T/out-n1" 2026-11-01 2>&1 | tail -3)" \
  $PY "$TESTS_DIR/fixtures/lifecycle_check.py" "$DATA" "$T/out-d2" 2026-11-02 "$T/out-n1" 2026-11-01
d1_today=$(awk -F, 'NR > 1 && $3 == "2026-11-01" { print $4 }' "$C1" | sort)
d1_later=$(awk -F, 'NR > 1 && $3 > "2026-11-01" { print $4 }' "$C1" | sort)
d2_ids=$(cut -d, -f4 "$T/out-d2/calls.csv" | tail -n +2 | sort)
check d2 "the first night carried customers to later days" [ "$(echo "$d1_later" | wc -l)" -gt 20 ]
check d2 "nobody called on the first night's day is listed the day after" [ -z "$(comm -12 <(echo "$d1_today") <(echo "$d2_ids"))" ]
d2_gone=$(zcat "$DATA/events.csv.gz" | awk -F, '$2 == "2026-11-02" && ($4 == "contact" || $4 == "callback" || $4 == "reproposal" || $4 == "cancel") { print $1 }' | sort -u)
check d2 "every customer carried by the first night is listed again the day after, but those contacted or lost on that day" \
  [ -z "$(comm -23 <(comm -23 <(echo "$d1_later") <(echo "$d2_ids")) <(echo "$d2_gone"))" ]
# the week after, over both nights: called on 11-01 and 11-02..11-07 cooled, the save rate of
# those called on 11-01 with the rule, action and owner of the night that planned the call
run_cli d8 run "$LC" --data "$DATA" --out "$T/out-d8" --as-of 2026-11-08 --history "$T/hist-1" --no-progress
assert_rc d8 0
check d8 "the week after both, computed again in Python: $($PY "$TESTS_DIR/fixtures/lifecycle_check.py" "$DATA" "$T/out-d8" 2026-11-08 "$T/out-n1" 2026-11-01 "$T/out-d2" 2026-11-02 2>&1 | tail -3)" \
  $PY "$TESTS_DIR/fixtures/lifecycle_check.py" "$DATA" "$T/out-d8" 2026-11-08 "$T/out-n1" 2026-11-01 "$T/out-d2" 2026-11-02
# a night written by an older defector (no call_on_calls.csv.gz): every customer on its list
# counts as called on that night, as before
mkdir -p "$T/hist-old" && cp -r "$T/hist-1/2026-11-01" "$T/hist-old/" && rm "$T/hist-old/2026-11-01/call_on_calls.csv.gz" \
  && sed -i '/^call_on_calls.csv.gz$/d' "$T/hist-old/2026-11-01/.defector-manifest"
run_cli old run "$LC" --data "$DATA" --out "$T/out-old" --as-of 2026-11-02 --history "$T/hist-old" --no-progress
assert_rc old 0
old_ids=$(cut -d, -f4 "$T/out-old/calls.csv" | tail -n +2 | sort)
check old "an older night's list is cooled down whole the day after (the old meaning)" [ -z "$(comm -12 <(echo "$n1_ids") <(echo "$old_ids"))" ]
check n1 "the first night's save rate is its header alone (no night 7 days before)" [ "$(cat "$T/out-n1/save_rate.csv")" = "by,value,listed,saved,save_rate" ]

# without --history: no cool-down over nights, and the save rate says why it is empty
run_cli nohist run "$LC" --data "$DATA" --out "$T/out-nohist" --as-of 2026-11-08 --no-progress
assert_rc nohist 0
assert_err nohist "save_rate save_rate.csv: the run keeps no history (no --history): the table is empty"
check nohist "without a history the second night lists the first night's customers again" [ "$(wc -l < "$T/out-nohist/calls.csv")" -gt "$(wc -l < "$T/out-n2/calls.csv")" ]

# explain: the action, its due date and the sequence aggregates
run_cli explain explain "$LC" --data "$DATA" --as-of 2026-11-01 --customer L0005
assert_rc explain 0
for want in "next_action = call" "action_rule = calls_unreturned" "due_date = 2026-11-02" "action call, due 2026-11-02 (rule calls_unreturned)" \
    "callback_hours        98.75   (voicemail -> callback, hours, last 90 days: last)" \
    "voicemails_missed     2   (voicemail -> callback, hours, within 24, last 90 days: missed)" \
    "resolve_days          1   (complaint -> resolution, days, last 180 days: last)"; do
  assert_out explain "$want"
done
run_cli explain_json explain "$LC" --data "$DATA" --as-of 2026-11-01 --customer L0005 --json
assert_rc explain_json 0
assert_out explain_json '"next_action": "call", "action_rule": "calls_unreturned", "due_date": "2026-11-02"'
assert_out explain_json '"callback_hours": 98.75, "voicemails_missed": 2'

# its test cases (rules/lifecycle.test.lua), and a backtest of it (the new aggregates bound to past dates)
run_cli cases test "$LC"
assert_rc cases 0
assert_out cases "6 passed, 0 failed"
run_cli backtest backtest "$LC" --data "$DATA" -o "$T/out-bt" --as-of 2026-10-01 --horizon 30 --no-progress
assert_rc backtest 0

# ---- edges on hand-made data ----
mkdir -p "$T/e"
printf 'id,seg\nA,x\nB,x\nC,x\nD,x\nE,y\nF,z\n' > "$T/e/customers.csv"
printf 'id,product,start,end,value\nA,p,2026-01-01,,1\nA,q,2026-01-01,2026-11-01,2\nA,r,2026-01-01,2026-10-31,4\nB,p,2026-01-01,2026-12-01,8\nB,q,2026-01-01,2027-01-30,16\nB,r,2026-01-01,2027-01-31,32\nC,p,2026-10-20,2026-10-02,64\nD,p,2026-11-02,,128\n' > "$T/e/products.csv"
printf 'id,date,at,type\nA,2026-10-01,2026-10-01 09:00,vm\nA,2026-10-01,2026-10-01 09:00,cb\nA,2026-10-02,2026-10-02 08:00,vm\nA,2026-10-03,2026-10-03 07:59,cb\nB,2026-11-01,2026-11-01 09:00,vm\nB,2026-10-30,2026-10-30 10:00,vm\nC,2026-10-30,2026-10-30 10:00,vm\nC,2026-10-31,2026-10-31 10:00,cb\nD,2026-10-01,2026-10-01 10:20,vm\nD,2026-10-01,2026-10-01 10:00,cb\n' > "$T/e/events.csv"
cat > "$T/e.lua" <<'LUA'
entity { file = "customers.csv", key = "id", columns = { id = "text", seg = "category" } }
local products = history { file = "products.csv", key = "id", date = "start", ends = "end",
  columns = { product = "category", start = "date", ["end"] = "date", value = "int" } }
local events = history { file = "events.csv", key = "id", date = "date", columns = { date = "date", at = "datetime", type = "category" } }
feature("active", sum(products, "value", { active = true }))
feature("lapsed", sum(products, "value", { active = false }))
feature("ending", sum(products, "value", { ends_within = { 30, 90 } }))
feature("ended_30", sum(products, "value", { ended_last_days = 30 }))
local VM = { from = { type = "vm" }, to = { type = "cb" }, at = "at", unit = "hours" }
local function with(t) local r = {} for k, v in pairs(VM) do r[k] = v end for k, v in pairs(t) do r[k] = v end return r end
feature("last_h", time_to_next(events, VM))
feature("first_h", time_to_next(events, with({ result = "first" })))
feature("max_h", time_to_next(events, with({ result = "max" })))
feature("n_vm", time_to_next(events, with({ result = "count" })))
feature("ok_24", time_to_next(events, with({ within = 24, result = "followed" })))
feature("missed_24", time_to_next(events, with({ within = 24, result = "missed" })))
feature("open_24", time_to_next(events, with({ within = 24, result = "open" })))
feature("last_d", time_to_next(events, { from = { type = "vm" }, to = { type = "cb" } }))
rule { "r", points = 1, when = function(c) return true end }
score(function(c) return c.points end)
bands { { "all", 0 } }
output { file = "o.csv", order = { "id" }, columns = { "id", "active", "lapsed", "ending", "ended_30", "last_h", "first_h", "max_h", "n_vm", "ok_24", "missed_24", "open_24", "last_d" } }
metrics { file = "m.csv", group_by = { "seg" }, columns = { "seg", { "n", count() }, { "median", median("active", 2) }, { "p90", percentile("active", 90, 2) },
  { "p0", percentile("active", 0, 2) }, { "p100", percentile("active", 100, 2) }, { "p25_h", percentile("last_h", 25, 3) } } }
LUA
run_cli edges run "$T/e.lua" --data "$T/e" --out "$T/out-e" --as-of 2026-11-01 --no-progress --max-as-of-gap 10
assert_rc edges 0
# the newest product started 12 days before: an interval table's starts say nothing of the export's age
refute edges "no as-of gap warning for an interval table: $ERR" grep -q "products.csv: its newest row" "$T/edges.stderr"
# A: active = open 1 + ends on AS_OF 2; lapsed 4; vm 09:00 -> cb 09:00 (0 h), vm 10-02 08:00 -> cb 10-03 07:59 (23.983333 h)
# B: ends 12-01 (day 30) and 01-30 (day 90) are in { 30, 90 }, 01-31 (day 91) is not; vm 10-30 10:00
#    and 11-01 09:00 never called back: the first is missed (its 24 h ended 10-31 10:00), the second
#    still open (its 24 h end after the as-of day)
# C: an interval ended 30 days ago (10-02) is in ended_last_days = 30; vm -> cb 24 h: followed within 24
# D: starts after AS_OF: not loaded; a callback 20 minutes before the voicemail does not follow it in
#    hours, but in days (no `at`) it is the same day: 0 days
want=$'id,active,lapsed,ending,ended_30,last_h,first_h,max_h,n_vm,ok_24,missed_24,open_24,last_d
A,3,4,0,4,23.983333,0,23.983333,2,2,0,0,1
B,56,0,24,0,,,,2,0,1,1,
C,0,64,0,64,24,24,24,1,1,0,0,1
D,0,0,0,0,,,,1,0,1,0,0
E,0,0,0,0,,,,0,0,0,0,
F,0,0,0,0,,,,0,0,0,0,'
check edges "interval filters and time_to_next, row by row: $(cat "$T/out-e/o.csv")" [ "$(cat "$T/out-e/o.csv")" = "$want" ]
# seg x: active 3, 56, 0, 0 -> sorted 0 0 3 56: median (0 + 3) / 2 = 1.5; p90: h = 3.7, 3 + 0.7 * 53 = 40.1
# last_h of x: 23.983333, 24 -> p25: h = 1.25, 23.983333 + 0.25 * 0.016667 = 23.98749975 -> 23.987 (3 places)
want=$'seg,n,median,p90,p0,p100,p25_h
x,4,1.5,40.1,0,56,23.987
y,1,0,0,0,0,
z,1,0,0,0,0,'
check edges "median and percentiles (linear interpolation), an empty group empty: $(cat "$T/out-e/m.csv")" [ "$(cat "$T/out-e/m.csv")" = "$want" ]

# ---- mistakes are refused with what to do ----
bad() { # bad LABEL TEXT-TO-FIND LUA-LINE...: the edge rule file with a line replaced, refused with exit 5
  local label=$1 want=$2 from=$3 to=$4
  sed "s|$from|$to|" "$T/e.lua" > "$T/$label.lua"
  run_cli "$label" run "$T/$label.lua" --data "$T/e" --out "$T/out-$label" --as-of 2026-11-01 --no-progress --max-as-of-gap 400
  assert_rc "$label" 5
  assert_err "$label" "$want"
}
bad hours_no_at 'unit = "hours" needs the time of day: at = "<a datetime column>"' 'to = { type = "cb" } }))' 'to = { type = "cb" }, unit = "hours" }))'
bad not_interval 'ends_within needs an interval table' 'feature("ending", sum(products, "value", { ends_within = { 30, 90 } }))' 'feature("ending", count(events, { ends_within = 5 }))'
bad bad_result 'result must be one of last, first, max, min' 'result = "first"' 'result = "average"'
bad bad_pct 'p must be a number from 0 to 100' 'percentile("active", 90, 2)' 'percentile("active", 900, 2)'
bad pct_fraction 'p is a percent from 0 to 100: write 90 for the 90th percentile' 'percentile("active", 90, 2)' 'percentile("active", 0.9, 2)'
bad filter_dt "'at' is a datetime column" 'feature("last_h", time_to_next(events, VM))' 'feature("last_h", count(events, { at = "x" }))'
bad due_no_action 'due must be a whole number of days after the as-of date, with an action' 'points = 1,' 'points = 1, due = 3,'
sed 's|points = 1,|points = 1, action = "call",|; s|^score(|value("due_date", function(c) return 1 end)\nscore(|' "$T/e.lua" > "$T/clash.lua"
run_cli clash run "$T/clash.lua" --data "$T/e" --out "$T/out-clash" --as-of 2026-11-01 --no-progress --max-as-of-gap 400
assert_rc clash 5
assert_err clash "'due_date' is declared by the rule file, and rules with an action (line 19) make a value of that name"
printf 'id,date,at,type\nA,2026-10-01,yesterday,vm\n' > "$T/e/events.csv"
run_cli bad_dt run "$T/e.lua" --data "$T/e" --out "$T/out-bad_dt" --as-of 2026-11-01 --no-progress --max-as-of-gap 400
assert_rc bad_dt 4
assert_err bad_dt 'events.csv: column at: "yesterday" is not a date and time YYYY-MM-DD HH:MM[:SS]'
# ---- a night of the history that is not whole is never read in part (exit 3) ----
mkdir -p "$T/dmg" && cd "$T/dmg" || exit 1
"$DEFECTOR" run "$LC" --data "$DATA" -o n1 --as-of 2026-11-01 --history h -q 2>/dev/null || fail damaged "the first night failed"
plan=h/2026-11-01/call_on_calls.csv.gz
check damaged "the night should keep the planned call days" [ -s "$plan" ]
cp "$plan" plan.keep
head -c 60 plan.keep > "$plan"
run_cli cut run "$LC" --data "$DATA" -o n2 --as-of 2026-11-02 --history h -q
assert_rc cut 3
assert_err cut "call_on_calls.csv.gz: this file of the run history is damaged (not whole gzip)"
rm "$plan"
run_cli gone run "$LC" --data "$DATA" -o n2 --as-of 2026-11-02 --history h -q
assert_rc gone 3
assert_err gone "damaged (missing, though the night wrote it)"
cp plan.keep "$plan"
run_cli whole run "$LC" --data "$DATA" -o n2 --as-of 2026-11-02 --history h -q
assert_rc whole 0
# two call lists whose history would share one name: refused when declared
sed 's|^save_rate {|calls { file = "calls-x.csv", owner = "owner", cap = 3, columns = { "customer_id" } }\ncalls { file = "calls_x.csv", owner = "owner", cap = 3, columns = { "customer_id" } }\nsave_rate {|' "$LC" > two.lua
run_cli stems run two.lua --data "$DATA" -o n3 --as-of 2026-11-01 -q
assert_rc stems 5
assert_err stems "calls: the lists calls-x.csv and calls_x.csv keep their history under one name"
finish
