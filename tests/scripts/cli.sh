#!/usr/bin/env bash
# The command line: help, version, usage errors, defaults, the report and run_summary.json.
source "$TESTS_DIR/fixtures/lib.sh"
make_data "$T/data"

out=$("$DEFECTOR" --help); rc=$?
[ $rc = 0 ] || fail "--help exit code $rc"
for w in "defector run RULES" --data --out --as-of --max-rejects --threads "Exit codes"; do
  grep -qF -- "$w" <<<"$out" || fail "--help does not mention $w"
done
"$DEFECTOR" run --help | grep -qF -- "--max-rejects" || fail "run --help"
[ "$("$DEFECTOR" --version)" = "defector 0.1.0" ] || fail "--version: $("$DEFECTOR" --version)"

"$DEFECTOR" >/dev/null 2>&1; [ $? = 2 ] || fail "no arguments should exit 2"
"$DEFECTOR" frobnicate 2>"$T/e"; [ $? = 2 ] && grep -q "unknown command 'frobnicate'" "$T/e" || fail "unknown command"
"$DEFECTOR" run "$RULES" --colour 2>"$T/e"; [ $? = 2 ] && grep -q "unknown option --colour" "$T/e" || fail "unknown option"
"$DEFECTOR" run "$RULES" --as-of 2026-13-01 2>"$T/e"; [ $? = 2 ] && grep -q "'2026-13-01' is not a date" "$T/e" || fail "bad --as-of"
"$DEFECTOR" run "$RULES" --max-rejects lots 2>"$T/e"; [ $? = 2 ] && grep -q "is not a count" "$T/e" || fail "bad --max-rejects"
"$DEFECTOR" run "$RULES" --data 2>"$T/e"; [ $? = 2 ] && grep -q -- "--data needs a value" "$T/e" || fail "--data without value"
"$DEFECTOR" run 2>"$T/e"; [ $? = 2 ] && grep -q "needs a rule file" "$T/e" || fail "run without rule file"

# defaults: --data data, --out out, relative to the current folder
mkdir -p "$T/cwd" && cp -r "$T/data" "$T/cwd/data"
(cd "$T/cwd" && "$DEFECTOR" run "$RULES" --as-of 2026-11-01 --no-progress 2>"$T/e") || fail "run with default folders: $(cat "$T/e")"
[ -f "$T/cwd/out/risk_list.csv" ] || fail "default --out is not ./out"
grep -q "scored 3 customers" "$T/e" || fail "report: $(cat "$T/e")"
grep -qF "to out" "$T/e" || fail "the report does not say where the outputs are"

run_engine "$T/out"
expect_rc 0 "good run"
python3 - "$T/out/run_summary.json" "$(sha256sum "$RULES" | cut -d' ' -f1)" <<'PY' || fail "run_summary.json"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["as_of"] == "2026-11-01", s["as_of"]
assert s["rules"]["sha256"] == sys.argv[2], (s["rules"]["sha256"], sys.argv[2])
assert s["rules"]["path"].endswith("rules/retention.lua")
ins = {i["table"]: i for i in s["inputs"]}
assert ins["customers"]["rows_read"] == 3 and ins["customers"]["rows_loaded"] == 3
assert ins["events"]["rows_read"] == 5 and ins["events"]["rows_loaded"] == 5
for k in ("path", "bytes", "rows_rejected", "orphans", "future_dated"):
    assert k in ins["events"], k
assert s["outputs"]["risk_list.csv"]["rows"] == 3, s["outputs"]
assert s["outputs"]["metrics_service.csv"]["rows"] == 1
for k in ("load_customers", "load_events", "group", "score", "sort_and_write", "total"):
    assert k in s["timings_seconds"], k
assert s["peak_memory_bytes"] > 1_000_000
assert s["rules_fired"]["complaints"] == 1, s["rules_fired"]
PY
finish
