#!/usr/bin/env bash
# Running unattended (issue 12, docs/operations.md): the status file of every night (failed or
# not) and the last-success marker; strict mode; the guards against the previous night; one run
# at a time (a second run refused or waiting, a killed run's lock cleared); the as-of date in the
# user's time zone near midnight (a fixed clock, DEFECTOR_NOW); the log file; the post-run
# command; file modes, masked columns and hashed ids, checked on disk.
source "$TESTS_DIR/fixtures/lib.sh"
unset TZ DEFECTOR_ID_SALT DEFECTOR_NOW
export STATUS_IN_OUT=1
make_data "$T/data"
OUT="$T/out"
J() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$@"; }
# rules_with NAME TEXT: a copy of the reference rule file with TEXT appended (its lookups beside it)
rules_with() {
  mkdir -p "$T/rules-$1"
  cp "$REPO_DIR"/rules/*.lua "$REPO_DIR"/rules/*.csv "$T/rules-$1/" 2>/dev/null
  printf '\n%s\n' "$2" >> "$T/rules-$1/retention.lua"
  echo "$T/rules-$1/retention.lua"
}

# --- 1. the status file: a good night, then a failed one ---------------------------------------
run_engine good "$OUT"
assert_rc good 0
check good "status.json after a good night" [ -f "$OUT/status.json" ] && [ -f "$OUT/last_success.json" ]
check good "exit_code 0, committed" [ "$(J "$OUT/status.json" '(d["exit_code"], d["status"], d["outputs_committed"], d["error"])')" = "(0, 'ok', True, None)" ]
check good "the inputs' SHA-256 as sha256sum says" \
  [ "$(J "$OUT/status.json" 'd["input_sha256"]["customers"]')" = "$(sha256sum < "$T/data/customers.csv.gz" | cut -c1-64)" ]
check good "the events' hash too" [ "$(J "$OUT/status.json" 'd["inputs"][1]["sha256"]')" = "$(sha256sum < "$T/data/events.csv.gz" | cut -c1-64)" ]
check good "sizes" [ "$(J "$OUT/status.json" 'd["inputs"][0]["bytes"]')" = "$(stat -c %s "$T/data/customers.csv.gz")" ]
check good "figures" [ "$(J "$OUT/status.json" '(d["figures"]["customers"], d["figures"]["rows:events"])')" = "(3, 5)" ]
check good "started/finished" [ "$(J "$OUT/status.json" 'd["started"] <= d["finished"] and d["finished"].endswith("Z")')" = True ]
refute good "status.json in the manifest" grep -qx 'status.json' "$OUT/.defector-manifest"
cp "$OUT/last_success.json" "$T/last_success.good"
snapshot "$OUT" "$T/snap.good"
d=$(copy_data nocust); rm "$d/customers.csv.gz"
DATA="$d" run_engine failed "$OUT"
assert_rc failed 3
assert_unchanged failed "$OUT" "$T/snap.good"
check failed "exit code 3 in status.json" [ "$(J "$OUT/status.json" '(d["exit_code"], d["status"], d["outputs_committed"])')" = "(3, 'input error', False)" ]
check failed "the error and where" [ "$(J "$OUT/status.json" '"customers.csv.gz" in d["error"]["where"] and "cannot open the file" in d["error"]["message"]')" = True ]
check failed "last_success.json untouched" cmp -s "$OUT/last_success.json" "$T/last_success.good"
check failed "status.json names the last success" [ "$(J "$OUT/status.json" 'd["last_success"]["as_of"]')" = 2026-11-01 ]
# a first night that fails into a folder that did not exist: the folder is left with status.json alone
DATA="$d" run_engine fresh "$T/fresh/out"
assert_rc fresh 3
check fresh "status.json alone: $(ls -A "$T/fresh/out" 2>&1 | tr '\n' ' ')" [ "$(ls -A "$T/fresh/out" 2>&1)" = status.json ]
check fresh "exit code 3 there" [ "$(J "$T/fresh/out/status.json" 'd["exit_code"]')" = 3 ]
# a rule error at run time (the watchdog ends the process): still a status file
R=$(rules_with spin 'local spin = 0
for i = 1, 3e10 do spin = spin + i end')
RULES_FILE="$R" run_engine stopped "$OUT" --rule-time-limit 0.5
assert_rc stopped 5
check stopped "status.json of a run the budget stopped" [ "$(J "$OUT/status.json" '(d["exit_code"], "stopped" in d["error"]["message"])')" = "(5, True)" ]
assert_unchanged stopped "$OUT" "$T/snap.good"
# an export in parts: the hash of the parts' hashes, in name order (docs/operations.md)
d=$(copy_data parts) && rm "$d/events.csv.gz"
write_gz "$d/events-1.csv.gz" "$E_HEAD"$'\nC1,2026-09-10,login,,web,\n'
write_gz "$d/events-2.csv.gz" "$E_HEAD"$'\nC3,2026-10-20,voicemail,,,\n'
R=$(rules_with parts '') && sed -i 's/file = "events.csv.gz"/file = "events-*.csv.gz"/' "$R"
DATA="$d" RULES_FILE="$R" run_engine parts "$T/out-parts"
assert_rc parts 0
h1=$(sha256sum < "$d/events-1.csv.gz" | cut -c1-64) h2=$(sha256sum < "$d/events-2.csv.gz" | cut -c1-64)
check parts "the parts' hash" [ "$(J "$T/out-parts/status.json" 'd["input_sha256"]["events"]')" = "$(printf '%s%s' "$h1" "$h2" | sha256sum | cut -c1-64)" ]
# --status-dir: elsewhere
run_engine statusdir "$T/out2" --status-dir "$T/st"
assert_rc statusdir 0
check statusdir "status in --status-dir" [ -f "$T/st/status.json" ] && [ -f "$T/st/last_success.json" ] && [ ! -e "$T/out2/status.json" ]

# --- 2. strict mode ---------------------------------------------------------------------------
# an as-of date far after the newest event: a warning; under --strict the night fails
run_cli warn run "$RULES" --data "$T/data" --out "$T/out-strict" --as-of 2027-06-01 --no-progress
assert_rc warn 0
assert_err warn "defector: warning:"
snapshot "$T/out-strict" "$T/snap.strict"
run_cli strict run "$RULES" --data "$T/data" --out "$T/out-strict" --as-of 2027-06-01 --no-progress --strict
assert_rc strict 4
assert_err strict "strict mode"
assert_err strict "defector: warning: events.csv.gz: its newest row is dated 2026-10-20"
assert_unchanged strict "$T/out-strict" "$T/snap.strict"
check strict "every warning in status.json (and on stderr)" \
  [ "$(J "$T/out-strict/status.json" '(d["exit_code"], len(d["warnings"]), any("newest row" in w for w in d["warnings"]))')" = "(4, $(grep -c '^defector: warning:' "$T/strict.stderr"), True)" ]
R=$(rules_with strictfile 'operations { strict = true }')
run_cli strict_rule run "$R" --data "$T/data" --out "$T/out-strict" --as-of 2027-06-01 --no-progress
assert_rc strict_rule 4
assert_err strict_rule "strict mode"

# --- 3. guards against the previous night -----------------------------------------------------
R=$(rules_with guards 'operations { guards = { customers = { max_drop = 5 }, ["rows:events"] = { max_drop = 30, max_rise = 100 },
  ["list:risk_list.csv"] = { max_change = 1000 }, same_input = "fail" } }')
G="$T/out-guards"
RULES_FILE="$R" run_engine night1 "$G"
assert_rc night1 0
snapshot "$G" "$T/snap.g1"
# the same files again the next night: refused, named by their hash
RULES_FILE="$R" run_engine same "$G" --as-of 2026-11-02
assert_rc same 4
assert_err same "customers.csv.gz: the same file as on the previous night (as of 2026-11-01)"
assert_unchanged same "$G" "$T/snap.g1"
# a customer fewer (3 -> 2, a drop of 33%): the guard names the figure and both values
d=$(copy_data fewer)
write_gz "$d/customers.csv.gz" "$C_HEAD"$'\n'$'C1,"Smith, Ann",smb,eu,basic,2026-09-01,2026-12-01,49.90,bob\nC2,José,consumer,us,pro,2020-01-15,,9.9,\n'
write_gz "$d/events.csv.gz" "$(gzip -dc "$T/data/events.csv.gz")"$'\nC1,2026-11-01,login,,web,\n'
DATA="$d" RULES_FILE="$R" run_engine fewer "$G" --as-of 2026-11-02
assert_rc fewer 4
assert_err fewer "guard customers: 2 tonight against 3 on the previous night (as of 2026-11-01), a drop of 33.3%, more than max_drop = 5"
assert_one_error fewer
assert_unchanged fewer "$G" "$T/snap.g1"
check fewer "status.json has the guard's error" [ "$(J "$G/status.json" '"guard customers" in d["error"]["message"]')" = True ]
# events dropped from 5 to 3 (40% > 30%)
d=$(copy_data fewer_events)
write_gz "$d/customers.csv.gz" "$(gzip -dc "$T/data/customers.csv.gz" | sed '2{h;d};$G')"$'\n'
write_gz "$d/events.csv.gz" "$E_HEAD"$'\n'$'C1,2026-09-10,login,,web,\nC2,2026-10-05,complaint,,phone,\nC3,2026-10-20,voicemail,,,\n'
DATA="$d" RULES_FILE="$R" run_engine fewer_events "$G" --as-of 2026-11-02
assert_rc fewer_events 4
assert_err fewer_events "guard rows:events: 3 tonight against 5"
# --no-guards lets a checked change through once
DATA="$d" RULES_FILE="$R" run_engine no_guards "$G" --as-of 2026-11-02 --no-guards
assert_rc no_guards 0
# a normal second night (customers reordered, one event more): passes
RULES_FILE="$R" run_engine night1_again "$T/out-guards2"
d=$(copy_data normal)
write_gz "$d/customers.csv.gz" "$(gzip -dc "$T/data/customers.csv.gz" | sed '2{h;d};$G')"$'\n'
write_gz "$d/events.csv.gz" "$(gzip -dc "$T/data/events.csv.gz")"$'\nC1,2026-11-01,login,,web,\n'
DATA="$d" RULES_FILE="$R" run_engine night2 "$T/out-guards2" --as-of 2026-11-02
assert_rc night2 0
check night2 "last_success moved on" [ "$(J "$T/out-guards2/last_success.json" 'd["as_of"]')" = 2026-11-02 ]
# same_input = "warn" (the default): the night goes on, said on stderr and in status.json
R=$(rules_with warnsame 'operations { guards = { customers = { max_drop = 5 } } }')
RULES_FILE="$R" run_engine ws1 "$T/out-ws"
RULES_FILE="$R" run_engine ws2 "$T/out-ws" --as-of 2026-11-02
assert_rc ws2 0
assert_err ws2 "defector: warning: $T/data/events.csv.gz: the same file as on the previous night (as of 2026-11-01)"
check ws2 "in status.json" [ "$(J "$T/out-ws/status.json" 'sum("the same file" in w for w in d["warnings"])')" = 2 ]
# a metric total: total:FILE:COLUMN, the sum of an output's column read back from the file
R=$(rules_with total 'operations { guards = { ["total:metrics_segment.csv:revenue_at_risk"] = { max_drop = 10 } } }')
RULES_FILE="$R" run_engine tot1 "$T/out-tot"
assert_rc tot1 0
want_total=$(/usr/bin/python3 -c 'import csv,sys; print(sum(float(r["revenue_at_risk"] or 0) for r in csv.DictReader(open(sys.argv[1]))))' "$T/out-tot/metrics_segment.csv")
check tot1 "the total in status.json: $(J "$T/out-tot/status.json" 'd["figures"]')" \
  [ "$(J "$T/out-tot/status.json" 'abs(d["figures"]["total:metrics_segment.csv:revenue_at_risk"] - '"$want_total"') < 1e-9')" = True ]
d=$(copy_data total_drop) # C1 (the revenue at risk) leaves: the total drops to 0
write_gz "$d/customers.csv.gz" "$C_HEAD"$'\n'$'C1,"Smith, Ann",smb,eu,basic,2026-09-01,2026-12-01,49.90,bob\nC2,José,consumer,us,pro,2020-01-15,,9.9,\nC3,X,enterprise,us,pro,2024-02-29,2027-11-01,99,ann\n'
DATA="$d" RULES_FILE="$R" run_engine tot2 "$T/out-tot" --as-of 2026-11-02
if [ "$want_total" = 0 ] || [ "$want_total" = 0.0 ]; then fail tot2 "the test data has no revenue at risk to drop"; fi
assert_rc tot2 4
assert_err tot2 "guard total:metrics_segment.csv:revenue_at_risk: "
assert_err tot2 "a drop of"
R2=$(rules_with badtotal 'operations { guards = { ["total:metrics_segment.csv:nosuch"] = { max_drop = 10 } } }')
RULES_FILE="$R2" run_engine badtotal "$T/out-bt"
assert_rc badtotal 5
assert_err badtotal "operations: guards: total:metrics_segment.csv:nosuch: metrics_segment.csv has no column nosuch"
R2=$(rules_with badguard 'operations { guards = { ["rows:nosuch"] = { max_drop = 5 } } }')
RULES_FILE="$R2" run_engine badguard "$T/out-bg"
assert_rc badguard 5
assert_err badguard "operations: guards: rows:nosuch names no input table of the rule file"
run_cli badguard_check check "$R2"
assert_rc badguard_check 5
assert_out badguard_check "operations: guards: rows:nosuch names no input table of the rule file"

# --- 4. one run at a time -----------------------------------------------------------------------
R=$(rules_with slow 'local spin = 0
for i = 1, 3e10 do spin = spin + i end')
L="$T/out-lock"
run_engine lockfirst "$L"
# wait_running PID: until status.json says that run holds the folder (at most 60 s, for a loaded machine)
wait_running() {
  for _ in $(seq 600); do
    [ "$(J "$L/status.json" '(d["status"], d["pid"])' 2>/dev/null)" = "('running', $1)" ] && return 0
    sleep 0.1
  done
}
"$DEFECTOR" run "$R" --data "$T/data" --out "$L" --as-of "$AS_OF" --no-progress --rule-time-limit 0 >/dev/null 2>&1 &
slow=$!
wait_running "$slow"
check lock "the running night's lock file" [ -f "$L/.defector-lock" ]
check lock "status.json says running, with the pid" [ "$(J "$L/status.json" '(d["status"], d["exit_code"], d["finished"], d["pid"])')" = "('running', None, None, $slow)" ]
run_engine second "$L"
assert_rc second 6
assert_err second "another defector run (pid $slow, started "
assert_err second "is writing its outputs to this folder"
check second "the refused run leaves the running night's status" [ "$(J "$L/status.json" '(d["status"], d["pid"])')" = "('running', $slow)" ]
t0=$(date +%s%N)
run_engine waiting "$L" --wait-lock 0.5
t1=$(date +%s%N)
assert_rc waiting 6
assert_err waiting "(waited 0.5 s, --wait-lock)"
check waiting "waited at least 0.5 s" [ $(((t1 - t0) / 1000000)) -ge 500 ]
kill -9 "$slow"; wait "$slow" 2>/dev/null
check killed "a killed run leaves its lock file" [ -f "$L/.defector-lock" ]
check killed "and status.json running, its pid gone" [ "$(J "$L/status.json" '(d["status"], d["pid"])')" = "('running', $slow)" ]
run_engine after_kill "$L"
assert_rc after_kill 0
assert_err after_kill "defector: warning: $L: a run (pid $slow, started "
assert_err after_kill "was stopped without releasing its lock (killed, or the machine stopped); the lock was cleared"
check after_kill "the lock file is gone after the run" [ ! -e "$L/.defector-lock" ]
# a waiting run gets the folder once the first ends
"$DEFECTOR" run "$R" --data "$T/data" --out "$L" --as-of "$AS_OF" --no-progress --rule-time-limit 1 >/dev/null 2>&1 &
slow=$!
wait_running "$slow"
run_engine waited "$L" --wait-lock 30
assert_rc waited 0
wait "$slow"

# --- 5. the as-of date in the user's time zone, near midnight ----------------------------------
asof() { J "$1/status.json" 'd["as_of"]'; }
DEFECTOR_NOW=2026-11-30T23:30:00Z run_cli tz_paris run "$RULES" --data "$T/data" --out "$T/tz1" --no-progress --tz Europe/Paris
assert_rc tz_paris 0
check tz_paris "00:30 in Paris is December 1: $(asof "$T/tz1")" [ "$(asof "$T/tz1")" = 2026-12-01 ]
check tz_paris "the zone in status.json" [ "$(J "$T/tz1/status.json" 'd["time_zone"]')" = Europe/Paris ]
DEFECTOR_NOW=2026-11-30T23:30:00Z TZ=America/New_York run_cli tz_env run "$RULES" --data "$T/data" --out "$T/tz2" --no-progress
check tz_env "18:30 in New York is still November 30" [ "$(asof "$T/tz2")" = 2026-11-30 ]
DEFECTOR_NOW=2026-11-30T23:30:00Z run_cli tz_utc run "$RULES" --data "$T/data" --out "$T/tz3" --no-progress
check tz_utc "UTC without TZ" [ "$(asof "$T/tz3")" = 2026-11-30 ]
DEFECTOR_NOW=2026-11-30T10:59:59Z run_cli tz_akl1 run "$RULES" --data "$T/data" --out "$T/tz4" --no-progress --tz Pacific/Auckland
check tz_akl1 "23:59:59 in Auckland" [ "$(asof "$T/tz4")" = 2026-11-30 ]
DEFECTOR_NOW=2026-11-30T11:00:00Z run_cli tz_akl2 run "$RULES" --data "$T/data" --out "$T/tz5" --no-progress --tz Pacific/Auckland
check tz_akl2 "00:00 in Auckland" [ "$(asof "$T/tz5")" = 2026-12-01 ]
R=$(rules_with tz 'operations { time_zone = "Asia/Tokyo" }')
DEFECTOR_NOW=2026-11-30T15:00:00Z run_cli tz_rule run "$R" --data "$T/data" --out "$T/tz6" --no-progress
check tz_rule "the rule file's zone (00:00 in Tokyo)" [ "$(asof "$T/tz6")" = 2026-12-01 ]
DEFECTOR_NOW=2026-11-30T15:00:00Z run_cli tz_cli_wins run "$R" --data "$T/data" --out "$T/tz7" --no-progress --tz UTC
check tz_cli_wins "--tz wins over the rule file" [ "$(asof "$T/tz7")" = 2026-11-30 ]
DEFECTOR_NOW=2026-11-30T23:30:00Z run_cli tz_explain explain "$RULES" --data "$T/data" --customer C1 --tz Europe/Paris
assert_out tz_explain "customer_id C1 (as of 2026-12-01)"
run_cli tz_bad run "$RULES" --data "$T/data" --out "$T/tz8" --tz Europe/Pariss
assert_rc tz_bad 2
assert_err tz_bad "'Europe/Pariss' is not a time zone this system knows"
TZ=Mars/Olympus run_cli tz_badenv run "$RULES" --data "$T/data" --out "$T/tz8"
assert_rc tz_badenv 2
assert_err tz_badenv "TZ: 'Mars/Olympus' is not a time zone"
# a POSIX rule in TZ (UTC+1 in winter): 23:30 UTC on November 30 is December 1 there
DEFECTOR_NOW=2026-11-30T23:30:00Z TZ='CET-1CEST,M3.5.0,M10.5.0/3' run_cli tz_posix run "$RULES" --data "$T/data" --out "$T/tz9" --no-progress
assert_rc tz_posix 0
check tz_posix "a POSIX TZ rule" [ "$(asof "$T/tz9")" = 2026-12-01 ]
TZ=Mars/Olympus run_cli tz_check check "$RULES"
assert_rc tz_check 0

# --- 6. the log ---------------------------------------------------------------------------------
run_engine log "$T/out-log" --as-of 2027-06-01 --log "$T/run.log"
assert_rc log 0
check log "a start line" grep -qE '^20[0-9-]+T[0-9:]+Z info +run started \(pid [0-9]+\): ' "$T/run.log"
check log "the end line" grep -qE 'info +run finished: exit code 0 \(ok\)$' "$T/run.log"
while IFS= read -r line; do
  [ -n "$line" ] || continue
  lvl=info; case "$line" in "defector: warning:"*) lvl=warning ;; "defector: error:"*) lvl=error ;; "defector: note:"*) lvl=note ;; esac
  check log "stderr line in the log as $lvl: $line" grep -qF -- " $(printf '%-7s' $lvl) $line" "$T/run.log"
done < "$T/log.stderr"
check log "a warning was logged" grep -q ' warning defector: warning: ' "$T/run.log"
d=$(copy_data nocust2); rm "$d/customers.csv.gz"
DATA="$d" run_engine logfail "$T/out-log" --log "$T/run.log" --log-format json
assert_rc logfail 3
assert_err logfail "defector: error:"
check logfail "JSON lines, the error among them" /usr/bin/python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
assert any(r["level"] == "error" and "cannot open the file" in r["message"] for r in recs), recs
assert recs[-1]["message"] == "run finished: exit code 3 (input error)", recs[-1]
assert all(set(r) == {"time", "level", "message"} for r in recs)' "$T/run.log"
run_cli log_bad run "$RULES" --data "$T/data" --out "$T/out-log" --log "$T/nosuchdir/x.log"
assert_rc log_bad 6
assert_err log_bad "cannot open the log file"

# --- 7. the post-run command --------------------------------------------------------------------
S="$T/share"; mkdir -p "$S"
CMD='cp "$1"/risk_list.csv "'"$S"'/" && echo "$DEFECTOR_OUT $DEFECTOR_AS_OF" > "'"$S"'/done"'
run_engine deliver "$T/out-d" --on-success "$CMD"
assert_rc deliver 0
check deliver "the command ran after the commit" cmp -s "$S/risk_list.csv" "$T/out-d/risk_list.csv"
check deliver "DEFECTOR_OUT and DEFECTOR_AS_OF" [ "$(cat "$S/done")" = "$(cd "$T/out-d" && pwd -P) 2026-11-01" ]
check deliver "in status.json" [ "$(J "$T/out-d/status.json" 'd["delivery"]["exit_code"]')" = 0 ]
rm -f "$S"/*
DATA="$d" run_engine no_deliver "$T/out-d" --on-success "$CMD"
assert_rc no_deliver 3
check no_deliver "not run after a failure" [ ! -e "$S/done" ]
run_engine deliver_fails "$T/out-d2" --on-success 'echo copying to the share; echo cannot reach the share >&2; exit 3' --log "$T/deliver.log"
assert_rc deliver_fails 9
assert_err deliver_fails "copying to the share"
assert_err deliver_fails "cannot reach the share"
check deliver_fails "the command's output in the log" grep -q ' info    cannot reach the share$' "$T/deliver.log"
check deliver_fails "exit code 9 in the log" grep -q 'run finished: exit code 9 (delivery failed)$' "$T/deliver.log"
assert_err deliver_fails "--on-success: the command failed with exit status 3"
check deliver_fails "the outputs are committed" [ -f "$T/out-d2/risk_list.csv" ] && [ -f "$T/out-d2/last_success.json" ]
check deliver_fails "status.json" [ "$(J "$T/out-d2/status.json" '(d["exit_code"], d["delivery"]["exit_code"], d["outputs_committed"])')" = "(9, 3, True)" ]

# --- 8. personal data ---------------------------------------------------------------------------
mode() { stat -c %a "$1"; }
check modes "risk_list.csv 0640 by default (umask $(umask))" [ "$(mode "$OUT/risk_list.csv")" = 640 ]
check modes "status.json 0640" [ "$(mode "$OUT/status.json")" = 640 ]
check modes "rejects.csv 0640" [ "$(mode "$OUT/rejects.csv")" = 640 ]
(umask 000; run_engine mode600 "$T/out-m" --file-mode 0600)
for f in risk_list.csv run_summary.json status.json last_success.json metrics_segment.csv; do
  check mode600 "$f 0600" [ "$(mode "$T/out-m/$f")" = 600 ]
done
R=$(rules_with mode 'operations { file_mode = "0600" }')
RULES_FILE="$R" run_engine mode_rule "$T/out-m2"
check mode_rule "the rule file's mode" [ "$(mode "$T/out-m2/risk_list.csv")" = 600 ]
run_cli mode_bad run "$RULES" --file-mode 0040
assert_rc mode_bad 2
# masked columns
mkdir -p "$T/rules-mask" && cp "$REPO_DIR"/rules/*.lua "$REPO_DIR"/rules/*.csv "$T/rules-mask/" 2>/dev/null
sed -i 's/              "revenue_at_risk", "reason_codes", "reasons" },/&\n  mask = { "name" },/' "$T/rules-mask/retention.lua"
RULES_FILE="$T/rules-mask/retention.lua" run_engine mask "$T/out-mask"
assert_rc mask 0
cols() { /usr/bin/python3 -c 'import csv,sys; [print(r[:2] + r[3:] if sys.argv[2] == "rest" else r[2]) for r in csv.reader(open(sys.argv[1]))]' "$@"; }
check mask "names masked: $(cols "$T/out-mask/risk_list.csv" name | sort -u | tr '\n' ' ')" [ "$(cols "$T/out-mask/risk_list.csv" name | sort -u | tr '\n' ' ')" = '*** name ' ]
refute mask "no name left" grep -q 'Smith\|José' "$T/out-mask/risk_list.csv"
check mask "the rest as before" [ "$(cols "$T/out-mask/risk_list.csv" rest)" = "$(cols "$OUT/risk_list.csv" rest)" ]
sed -i 's/mask = { "name" }/mask = { "nom" }/' "$T/rules-mask/retention.lua"
RULES_FILE="$T/rules-mask/retention.lua" run_engine mask_bad "$T/out-mask"
assert_rc mask_bad 5
assert_err mask_bad "output risk_list.csv: mask names 'nom', which is not one of its columns"
# hashed ids: rejected rows and example keys
d=$(copy_data pii)
write_gz "$d/events.csv.gz" "$(gzip -dc "$T/data/events.csv.gz")"$'\nC2,not-a-date,login,,web,secret note\nC9,2026-10-01,login,,web,\n'
DATA="$d" run_engine hash_nosalt "$T/out-h" --max-rejects 10 --max-reject-share 100 --hash-ids
assert_rc hash_nosalt 2
assert_err hash_nosalt "DEFECTOR_ID_SALT"
DEFECTOR_ID_SALT=s3cret DATA="$d" run_engine hashed "$T/out-h" --max-rejects 10 --max-reject-share 100 --hash-ids
assert_rc hashed 0
refute hashed "the raw row in rejects.csv" grep -q 'secret note' "$T/out-h/rejects.csv"
want=$(printf 's3cret\nC2,not-a-date,login,,web,secret note' | sha256sum | cut -c1-16)
check hashed "rejects.csv holds the salted hash #$want" grep -q ",#$want\$" "$T/out-h/rejects.csv"
check hashed "the orphan example hashed" [ "$(J "$T/out-h/run_summary.json" '[i["orphan_examples"] for i in d["inputs"]][1][0]')" = "#$(printf 's3cret\nC9' | sha256sum | cut -c1-16)" ]
refute hashed "C9 on stderr" grep -q 'C9' "$T/hashed.stderr"
# the error of a run stopped by the row: its hash, not its text, on stderr and in status.json
DEFECTOR_ID_SALT=s3cret DATA="$d" run_engine hashed_stop "$T/out-h3" --hash-ids
assert_rc hashed_stop 4
assert_err hashed_stop "events.csv.gz:8: column event_date: not a date"
assert_err hashed_stop "\"#$want\". Fix the export"
refute hashed_stop "the row's text on stderr" grep -q 'secret note' "$T/hashed_stop.stderr"
refute hashed_stop "the row's text in status.json" grep -q 'secret note' "$T/out-h3/status.json"
DATA="$d" run_engine unhashed "$T/out-h2" --max-rejects 10 --max-reject-share 100
check unhashed "without --hash-ids the row is kept" grep -q 'secret note' "$T/out-h2/rejects.csv"

finish
