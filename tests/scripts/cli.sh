#!/usr/bin/env bash
# The command line: --help, --version, usage errors (exit 2, nothing written), the default
# folders and as-of date, the report on stderr and run_summary.json.
source "$TESTS_DIR/fixtures/lib.sh"
make_data "$T/data"
mkdir -p "$T/rules" && cp "$RULES" "$T/rules/retention.lua"
RULES_FILE="$T/rules/retention.lua" # a copy: its sha256 cannot change under the test

# --- --help: the global help lists every command and option; each command's help its own -------
for args in "--help" "-h" "help"; do
  run_cli "help${args// /_}" $args
  assert_rc "$args" 0
  for w in "defector run RULES" "defector explain RULES" "defector test RULES" "defector check RULES" \
    "defector help [COMMAND]" "defector --version" --data "-o, --out" --as-of --max-rejects --threads --no-progress \
    "-q, --quiet" --customer --json "--opt=VALUE" "Exit codes"; do
    assert_out "$args" "$w"
  done
  for code in "0 ok" "1 internal" "2 usage" "3 input file" "4 data" "5 rule file" "6 writing outputs" "8 rule test"; do
    assert_out "$args: exit code" "$code"
  done
done
run_cli help_global --help
GLOBAL=$OUTPUT

# The options a help text lists ("  -o, --out DIR  ..." -> --out), one a line.
listed() { sed -n 's/^  \(-[a-z], \)\{0,1\}\(--[a-z-]*\).*/\2/p' <<<"$1" | sort -u; }
# A valid value for each kind of option value the help shows.
value_for() {
  case $1 in
    --data | --out) echo "$T" ;; --as-of) echo 2026-11-01 ;; --customer) echo C1 ;;
    --on-as-of-gap) echo warn ;; --on-rule-error) echo skip ;; --file-mode) echo 0640 ;; --log-format) echo json ;; --shard) echo 0/2 ;; *) echo 1 ;;
  esac
}
takes_value() { grep -qE "^  (-[a-z], )?$1 [A-Za-z|]" <<<"$GLOBAL"; }
all_options=$(listed "$GLOBAL")
check "global help" "it lists no options" test "$(wc -l <<<"$all_options")" -ge 19

for cmd in run explain test check; do
  run_cli "help_$cmd" $cmd --help
  assert_rc "$cmd --help" 0
  assert_out "$cmd --help" "usage: defector $cmd RULES"
  assert_out "$cmd --help" "Exit codes"
  refute "$cmd --help" "prints the global help:
$OUTPUT" grep -q "^Commands:" <<<"$OUTPUT"
  mine=$OUTPUT
  run_cli "help_word_$cmd" help $cmd
  assert_rc "help $cmd" 0
  check "help $cmd" "differs from '$cmd --help'" [ "$OUTPUT" = "$mine" ]
  # the options a command's help lists are the ones it takes (given as --opt=VALUE), and every
  # other option of the global help is refused by it
  for opt in $all_options; do
    arg=$opt
    takes_value "$opt" && arg="$opt=$(value_for "$opt")"
    run_cli "help_${cmd}_$opt" $cmd "$RULES_FILE" "$arg" --help
    if grep -qE "^  (-[a-z], )?$opt( |$)" <<<"$mine"; then
      check "$cmd $arg" "refused although '$cmd --help' lists it: $ERR" [ "$RC" = 0 ]
    else
      check "$cmd $arg" "exit $RC, not a usage error, although '$cmd --help' does not list it" [ "$RC" = 2 ]
      assert_err "$cmd $arg" "$opt is not an option of $cmd"
      assert_err "$cmd $arg" "Run 'defector $cmd --help' for its options."
    fi
  done
done
# what sets the commands apart
run_cli help_run2 run --help
for w in "-o, --out DIR" --max-reject-share --on-as-of-gap "-q, --quiet"; do assert_out "run --help" "$w"; done
refute "run --help" "lists explain's --customer" grep -q -- --customer <<<"$OUTPUT"
run_cli help_explain2 explain --help
for w in "--customer ID" --json; do assert_out "explain --help" "$w"; done
refute "explain --help" "lists run's --out" grep -q -- --out <<<"$OUTPUT"
run_cli help_test2 test --help
assert_out "test --help" "defector test RULES [TESTS]"
refute "test --help" "lists --data (test takes none)" grep -q -- --data <<<"$OUTPUT"
run_cli help_check2 check --help
assert_out "check --help" "also check the columns against the headers"
refute "check --help" "lists --threads (check takes none)" grep -q -- --threads <<<"$OUTPUT"
run_cli help_unknown help frobnicate
assert_rc "help frobnicate" 2
assert_err "help frobnicate" "help takes one of the commands run, explain, test, check, backtest, diff, erase and merge"

# --- --version: "defector X.Y.Z", the version CMakeLists.txt gives the project, then the git
# revision when the build was configured in a git checkout of the sources -------------------------
want_version=$(sed -n 's/^project(defector VERSION \([0-9.]*\).*/\1/p' "$REPO_DIR/CMakeLists.txt")
check --version "no project version found in CMakeLists.txt" test -n "$want_version"
run_cli version --version
assert_rc --version 0
if [ "$(git -C "$REPO_DIR" rev-parse --show-toplevel 2>/dev/null)" = "$(cd "$REPO_DIR" && pwd -P)" ]; then
  check --version "expected 'defector $want_version (git <describe>)' in a git checkout, got '$OUTPUT'" \
    grep -qE "^defector $want_version \(git [0-9a-zA-Z.-]+\)\$" <<<"$OUTPUT"
else
  check --version "expected 'defector $want_version', got '$OUTPUT'" [ "$OUTPUT" = "defector $want_version" ]
fi
version=$OUTPUT
run_cli version_word version
assert_rc version 0
check version "expected '$version', got '$OUTPUT'" [ "$OUTPUT" = "$version" ]
run_cli version_arg --version run
assert_rc "--version run" 2
run_cli version_of_run run --version
assert_rc "run --version" 0
check "run --version" "expected '$version', got '$OUTPUT'" [ "$OUTPUT" = "$version" ]

# --- usage errors: exit 2, a message, nothing written --------------------------------------
mkdir -p "$T/cwd-usage" && cd "$T/cwd-usage" || exit 1
run_cli no_args
assert_rc "no arguments" 2
assert_err "no arguments" "usage: defector run RULES"

run_cli unknown_command frobnicate
assert_rc "unknown command" 2
assert_err "unknown command" "unknown command 'frobnicate'"

run_cli unknown_option run "$RULES_FILE" --data "$T/data" --out "$T/out-usage" --as-of "$AS_OF" --colour
assert_rc "unknown option" 2
assert_err "unknown option" "unknown option --colour"
assert_err "unknown option" "Run 'defector run --help' for its options."

for bad in 2026-13-01 2026-02-29 2026-11-1 26-11-01 tomorrow "2026-11-01T00:00" ""; do
  run_cli bad_as_of run "$RULES_FILE" --data "$T/data" --out "$T/out-usage" --as-of "$bad"
  assert_rc "--as-of '$bad'" 2
  assert_err "--as-of '$bad'" "'$bad' is not a date"
done

# every option's value is checked before anything runs (issue 8, point 1): a value that is
# empty, not a number, past its range (also past what a long holds) or of a command that does not
# take the option is a usage error that names the option and what it allows
bad_value() { # LABEL MESSAGE ARGS...
  local label=$1 msg=$2; shift 2
  run_cli "$label" "$@"
  assert_rc "$label" 2
  assert_err "$label" "$msg"
  assert_one_line "$label"
}
assert_one_line() {
  CHECKS=$((CHECKS + 1))
  [ "$(grep -c '^defector: ' <<<"$ERR")" = 1 ] || fail "$1" "expected one message, got:
$ERR"
}
R=(run "$RULES_FILE" --data "$T/data" --out "$T/out-usage" --as-of "$AS_OF")
bad_value max_rejects_neg "--max-rejects: '-1' is not a whole number: give a count of rows from 0 to 1000000000000" "${R[@]}" --max-rejects -1
bad_value max_rejects_word "--max-rejects: 'lots' is not a whole number: give a count of rows from 0 to 1000000000000" "${R[@]}" --max-rejects lots
bad_value max_rejects_huge "--max-rejects: '99999999999999999999' is too large: give a count of rows from 0 to 1000000000000" "${R[@]}" --max-rejects 99999999999999999999
bad_value max_rejects_big "--max-rejects: '1000000000001' is too large" "${R[@]}" --max-rejects 1000000000001
bad_value max_rejects_space "--max-rejects: ' 5' is not a whole number" "${R[@]}" --max-rejects " 5"
bad_value max_rejects_plus "--max-rejects: '+5' is not a whole number" "${R[@]}" --max-rejects +5
bad_value max_rejects_empty "--max-rejects: '' is not a whole number" "${R[@]}" --max-rejects ""
bad_value block_huge "--parse-block-kb: '99999999999' is too large: give a size in KB from 1 to 1048576" "${R[@]}" --parse-block-kb 99999999999
bad_value block_zero "--parse-block-kb: '0' is too small: give a size in KB from 1 to 1048576" "${R[@]}" --parse-block-kb 0
bad_value threads_big "--threads: '65' is too large: give a thread count (0: all cores) from 0 to 64" "${R[@]}" --threads 65
bad_value threads_huge "--threads: '4294967297' is too large" "${R[@]}" --threads 4294967297
bad_value data_empty "--data: the value is empty; give the folder that holds the input files" run "$RULES_FILE" --data "" --out "$T/out-usage"
bad_value out_empty "--out: the value is empty; give the folder for the outputs" run "$RULES_FILE" --data "$T/data" --out ""
bad_value rules_empty "an empty argument where the rule file was expected" run "" --data "$T/data" --out "$T/out-usage"
bad_value time_inf "--rule-time-limit: 'inf' is not a number of seconds from 0 (no limit) to 86400" "${R[@]}" --rule-time-limit inf
bad_value time_nan "--rule-time-limit: 'nan' is not a number of seconds" "${R[@]}" --rule-time-limit nan
bad_value time_big "--rule-time-limit: '86401' is not a number of seconds from 0 (no limit) to 86400" "${R[@]}" --rule-time-limit 86401
bad_value time_neg "--rule-time-limit: '-1' is not a number of seconds" "${R[@]}" --rule-time-limit -1
bad_value memory_exp "--rule-memory-limit: '1e9' is not a number of MB from 0 (no limit) to 1048576" "${R[@]}" --rule-memory-limit 1e9
bad_value memory_empty "--rule-memory-limit: '' is not a number of MB" "${R[@]}" --rule-memory-limit ""
bad_value share_zero "--max-reject-share: '0' is not a percentage above 0 and at most 100 (for none at all, use --max-rejects 0)" "${R[@]}" --max-reject-share 0
bad_value share_big "--max-reject-share: '100.5' is not a percentage above 0 and at most 100" "${R[@]}" --max-reject-share 100.5
bad_value share_pct "--max-reject-share: '5%' is not a percentage" "${R[@]}" --max-reject-share 5%
bad_value gap_zero "--max-as-of-gap: '0' is too small: give a number of days from 1 to 36500" "${R[@]}" --max-as-of-gap 0
bad_value gap_big "--max-as-of-gap: '36501' is too large: give a number of days from 1 to 36500" "${R[@]}" --max-as-of-gap 36501
bad_value on_gap "--on-as-of-gap: 'maybe'; use warn or fail" "${R[@]}" --on-as-of-gap maybe
bad_value on_rule_error "--on-rule-error: 'maybe'; use stop or skip" "${R[@]}" --on-rule-error maybe
bad_value no_value "--max-rejects needs a value" "${R[@]}" --max-rejects
bad_value no_value_threads "--threads needs a value" "${R[@]}" --threads
bad_value run_customer "--customer is not an option of run" "${R[@]}" --customer C1
bad_value explain_out "--out is not an option of explain" explain "$RULES_FILE" --data "$T/data" --customer C1 --out "$T/out-usage"
bad_value explain_customer_empty "--customer: the value is empty; give the key of the entity to explain" explain "$RULES_FILE" --data "$T/data" --customer ""
bad_value check_data_empty "--data: the value is empty" check "$RULES_FILE" --data ""
bad_value check_data_no_value "--data needs a value" check "$RULES_FILE" --data
bad_value check_threads "--threads is not an option of check" check "$RULES_FILE" --threads 2
bad_value test_as_of_no_value "--as-of needs a value" test "$RULES_FILE" --as-of
bad_value test_data "--data is not an option of test" test "$RULES_FILE" --data "$T/data"
bad_value test_file_empty "an empty argument where the test file was expected" test "$RULES_FILE" ""
# the largest values of each range are accepted (a run that needs none of them to be reached)
run_cli max_values run "$RULES_FILE" --data "$T/data" --out "$T/out-max" --as-of "$AS_OF" --no-progress --max-rejects 1000000000000 --parse-block-kb 1048576 --threads 64 \
  --rule-time-limit 86400 --rule-memory-limit 1048576 --max-reject-share 100 --max-as-of-gap 36500 --on-as-of-gap fail
assert_rc max_values 0

run_cli data_no_value run "$RULES_FILE" --data
assert_rc "--data without a value" 2
assert_err "--data without a value" "--data needs a value"

run_cli run_no_rules run
assert_rc "run without a rule file" 2
assert_err "run without a rule file" "needs a rule file"

refute "usage errors" "a usage error created the output folder $T/out-usage" test -e "$T/out-usage"
refute "usage errors" "a usage error created ./out" test -e "$T/cwd-usage/out"

# --- an accepted leap day -------------------------------------------------------------------
run_cli leap_day run "$RULES_FILE" --data "$T/data" --out "$T/out-leap" --as-of 2028-02-29 --no-progress
assert_rc "--as-of 2028-02-29" 0

# --- defaults: --data data, --out out (relative to the current folder), --as-of today (UTC) -
mkdir -p "$T/cwd" && cp -r "$T/data" "$T/cwd/data"
cd "$T/cwd" || exit 1
today=$(date -u +%F)
run_cli defaults run "$RULES_FILE" --no-progress
assert_rc defaults 0
check defaults "expected the outputs in ./out, found: $(ls -A "$T/cwd" | tr '\n' ' ')" \
  test -f "$T/cwd/out/risk_list.csv" -a -f "$T/cwd/out/run_summary.json"
assert_err defaults "to out"
got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["as_of"])' "$T/cwd/out/run_summary.json" 2>&1)
# (a run across midnight UTC cannot tell which day it meant: then the check passes)
today_or_midnight() { [ "$got" = "$today" ] || [ "$(date -u +%F)" != "$today" ]; }
check defaults "as_of without --as-of: expected today (UTC) $today, got $got" today_or_midnight
cd "$T" || exit 1

# --- a successful run: the report names the output folder; run_summary.json ---------------
OUT="$T/out"
run_engine summary "$OUT"
assert_rc summary 0
assert_err summary "to $OUT"
assert_err summary "scored 3 customers"
assert_err summary "customers.csv.gz: 3 rows read, 3 loaded"
assert_err summary "events.csv.gz: 5 rows read, 5 loaded"
check run_summary.json "see above" python3 - "$OUT" "$(sha256sum "$RULES_FILE" | cut -d' ' -f1)" "$AS_OF" <<'PY'
import csv, json, os, sys
out, sha, as_of = sys.argv[1:4]
problems = []
def check(cond, msg):
    if not cond: problems.append(msg)
s = json.load(open(os.path.join(out, "run_summary.json")))
check(s.get("as_of") == as_of, "as_of: expected %r, got %r" % (as_of, s.get("as_of")))
rules = s.get("rules", {})
check(rules.get("sha256") == sha, "rules.sha256: expected %s (sha256sum of the rule file), got %r" % (sha, rules.get("sha256")))
check(str(rules.get("path")).endswith("rules/retention.lua"), "rules.path: expected the rule file's path, got %r" % rules.get("path"))
ins = {i.get("table"): i for i in s.get("inputs", [])}
for table, rows in (("customers", 3), ("events", 5)):
    i = ins.get(table)
    if i is None:
        problems.append("inputs: no entry for %s (got %r)" % (table, list(ins))); continue
    check(i.get("rows_read") == rows, "inputs.%s.rows_read: expected %d, got %r" % (table, rows, i.get("rows_read")))
    check(i.get("rows_loaded") == rows, "inputs.%s.rows_loaded: expected %d, got %r" % (table, rows, i.get("rows_loaded")))
for k in ("path", "bytes", "rows_rejected", "orphans", "future_dated"):
    check(k in ins.get("events", {}), "inputs.events: no %r" % k)
outputs = s.get("outputs", {})
files = sorted(f for f in os.listdir(out) if f.endswith(".csv") or f.endswith(".html"))
check(sorted(outputs) == files, "outputs: expected one entry per CSV file and report written %r, got %r" % (files, sorted(outputs)))
check(outputs.get("report.html", {}).get("rows") == 0, "outputs.report.html.rows: expected 0 (a page has no rows), got %r" % outputs.get("report.html"))
for f in files:
    if f.endswith(".html"): continue
    records = list(csv.reader(open(os.path.join(out, f), newline="", encoding="utf-8")))
    want = len(records) - 1
    got = outputs.get(f, {}).get("rows")
    check(got == want, "outputs.%s.rows: the file has %d rows, the summary says %r" % (f, want, got))
check(outputs.get("risk_list.csv", {}).get("rows") == 3, "outputs.risk_list.csv.rows: expected 3 (every customer of the test data), got %r" % outputs.get("risk_list.csv"))
check(outputs.get("metrics_service.csv", {}).get("rows") == 1, "outputs.metrics_service.csv.rows: expected 1, got %r" % outputs.get("metrics_service.csv"))
for k in ("load_customers", "load_events", "group", "score", "sort_and_write", "total"):
    check(k in s.get("timings_seconds", {}), "timings_seconds: no %r" % k)
check(s.get("peak_memory_bytes", 0) > 1_000_000, "peak_memory_bytes: expected more than 1 MB, got %r" % s.get("peak_memory_bytes"))
check(s.get("rules_fired", {}).get("complaints") == 1, "rules_fired.complaints: expected 1, got %r" % s.get("rules_fired"))
for p in problems: print("  run_summary.json: " + p)
sys.exit(1 if problems else 0)
PY

# --- -o, --opt=VALUE: the same run as the spaced long form, byte for byte ----------------------
same_outputs() { # LABEL DIR_A DIR_B: every CSV file and the manifest the same bytes
  local f n=0
  for f in "$2"/*.csv "$2"/.defector-manifest; do
    n=$((n + 1))
    check "$1" "$(basename "$f") differs between $2 and $3" cmp -s "$f" "$3/$(basename "$f")"
  done
  check "$1" "no outputs in $2" [ "$n" -ge 5 ]
  check "$1" "not the same files: $(ls "$2" | tr '\n' ' ') / $(ls "$3" | tr '\n' ' ')" [ "$(ls -A "$2")" = "$(ls -A "$3")" ]
}
run_cli spaced run "$RULES_FILE" --data "$T/data" --out "$T/out-spaced" --as-of "$AS_OF" --threads 2 --no-progress
assert_rc spaced 0
run_cli short_o run "$RULES_FILE" --data "$T/data" -o "$T/out-short" --as-of "$AS_OF" --threads 2 --no-progress
assert_rc "-o" 0
same_outputs "-o DIR" "$T/out-spaced" "$T/out-short"
run_cli equals run "$RULES_FILE" --data="$T/data" --out="$T/out-equals" --as-of="$AS_OF" --threads=2 --no-progress
assert_rc "--opt=VALUE" 0
same_outputs "--out=DIR --threads=2" "$T/out-spaced" "$T/out-equals"
assert_err "--opt=VALUE" "to $T/out-equals"
# a value holding '=' is the value: only the first '=' ends the name
mkdir -p "$T/data=x" && cp "$T/data"/* "$T/data=x/"
run_cli equals_in_value run "$RULES_FILE" --data="$T/data=x" --out="$T/out=x" --as-of="$AS_OF" --no-progress
assert_rc "--data=a=b" 0
same_outputs "--out=a=b" "$T/out-spaced" "$T/out=x"

# --opt=VALUE is checked as --opt VALUE is, with the same message; a flag takes no value
R=(run "$RULES_FILE" --data "$T/data" --out "$T/out-usage2" --as-of "$AS_OF")
bad_value eq_threads "--threads: '65' is too large: give a thread count (0: all cores) from 0 to 64" "${R[@]}" --threads=65
bad_value eq_threads_word "--threads: 'many' is not a whole number" "${R[@]}" --threads=many
bad_value eq_gap "--on-as-of-gap: 'maybe'; use warn or fail" "${R[@]}" --on-as-of-gap=maybe
bad_value eq_rule_error "--on-rule-error: 'go'; use stop or skip" "${R[@]}" --on-rule-error=go
bad_value eq_as_of "--as-of: '2026-02-30' is not a date" "${R[@]}" --as-of=2026-02-30
bad_value eq_out_empty "--out: the value is empty; give the folder for the outputs" "${R[@]}" --out=
bad_value eq_o_empty "--out: the value is empty" run "$RULES_FILE" --data "$T/data" -o ""
bad_value eq_o_no_value "--out needs a value" run "$RULES_FILE" --data "$T/data" -o
bad_value eq_flag "--quiet takes no value (given 'yes')" "${R[@]}" --quiet=yes
bad_value eq_unknown "unknown option --colour" "${R[@]}" --colour=red
bad_value eq_customer "--customer is not an option of run" "${R[@]}" --customer=C1
bad_value q_check "-q is not an option of check" check "$RULES_FILE" -q
bad_value o_explain "-o is not an option of explain" explain "$RULES_FILE" --customer C1 -o "$T/out-usage2"
refute "--opt= usage errors" "a usage error created the output folder" test -e "$T/out-usage2"

# --- -q / --quiet: no progress line and no counts, but the warnings ----------------------------
# (as of 2026-11-21 the newest event, 2026-10-20, is 32 days old: the as-of gap warning; see guards.sh)
GAP_WARNING="defector: warning: events.csv.gz: its newest row is dated 2026-10-20, 32 days before the as-of date 2026-11-21"
only_warnings() { ! grep -qv '^defector: warning: ' "$1"; }
for q in -q --quiet; do
  run_cli "quiet$q" run "$RULES_FILE" --data "$T/data" -o "$T/out-quiet$q" --as-of 2026-11-21 "$q"
  assert_rc "$q" 0
  assert_err "$q" "$GAP_WARNING"
  check "$q" "expected warnings alone on stderr, got:
$ERR" only_warnings "$T/quiet$q.stderr"
  check "$q" "no outputs written" test -f "$T/out-quiet$q/risk_list.csv"
done
# the same run without it: the counts too
run_cli loud run "$RULES_FILE" --data "$T/data" -o "$T/out-loud" --as-of 2026-11-21
assert_rc loud 0
for w in "$GAP_WARNING" "customers.csv.gz: 3 rows read, 3 loaded" "scored 3 customers" "to $T/out-loud"; do assert_err loud "$w"; done
same_outputs "-q" "$T/out-loud" "$T/out-quiet-q"
# the progress line (drawn after a quarter of a second: 150000 customers read by one thread take
# longer), with --progress and without -q only; -q wins over --progress in either order
"$DEFECTOR_GEN" --customers 150000 --as-of 2026-11-01 --out "$T/big" >/dev/null
run_cli big_loud run "$RULES_FILE" --data "$T/big" -o "$T/out-big" --as-of 2026-11-01 --threads 1 --progress
assert_rc big_loud 0
check big_loud "no progress line on stderr with --progress:
$ERR" grep -qF $'\rreading events.csv.gz' "$T/big_loud.stderr"
for order in "-q --progress" "--progress -q"; do
  run_cli big_quiet run "$RULES_FILE" --data "$T/big" -o "$T/out-big-q" --as-of 2026-11-01 --threads 1 $order
  assert_rc "big $order" 0
  refute "big $order" "a progress line with $order:
$ERR" grep -qF -e $'\r' -e reading "$T/big_quiet.stderr"
  check "big $order" "expected warnings alone on stderr, got:
$ERR" only_warnings "$T/big_quiet.stderr"
done
# errors too
run_cli quiet_error run "$RULES_FILE" --data "$T/nowhere" -o "$T/out-quiet-error" -q
assert_rc quiet_error 3
assert_err quiet_error "defector: error: "

finish
