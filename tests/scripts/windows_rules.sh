#!/usr/bin/env bash
# Rule files saved by Windows editors: CRLF line ends and a UTF-8 byte order mark (together or
# alone) are read as the same rule file. run, check, explain and test give the same bytes as for
# the LF original, and a mistake is reported on the same line with the same words (line 1 too,
# after the BOM). A file saved as UTF-16 is refused as such (exit 5), not as a syntax error.
source "$TESTS_DIR/fixtures/lib.sh"
SAMPLE="$REPO_DIR/sample-data"
BOM=$'\xef\xbb\xbf'

# variant NAME SRC DST: SRC as NAME (lf, crlf, bom, crlf+bom) saved it
variant() {
  case $1 in
    lf) cp "$2" "$3" ;;
    crlf) sed 's/$/\r/' "$2" >"$3" ;;
    bom) { printf '%s' "$BOM"; cat "$2"; } >"$3" ;;
    crlf+bom) { printf '%s' "$BOM"; sed 's/$/\r/' "$2"; } >"$3" ;;
  esac
}
VARIANTS="lf crlf bom crlf+bom"
# make_set DIR RULES TESTS: every variant of the pair in DIR/<variant>/retention{,.test}.lua
make_set() {
  for v in $VARIANTS; do
    mkdir -p "$1/$v"
    variant "$v" "$2" "$1/$v/retention.lua"
    variant "$v" "$3" "$1/$v/retention.test.lua"
  done
}
# in_each DIR LABEL ARGS...: the binary with ARGS in each variant's folder (the rule file given
# as retention.lua, so that messages naming it are the same); keeps LABEL.{rc,out,err} there
in_each() {
  local dir=$1 label=$2 v; shift 2
  for v in $VARIANTS; do
    (cd "$dir/$v" && "$DEFECTOR" "$@" >"$label.out" 2>"$label.err"; echo $? >"$label.rc")
  done
}
# same DIR LABEL: each variant's exit code, stdout and stderr are lf's, byte for byte
same() {
  local dir=$1 label=$2 v f
  for v in $VARIANTS; do
    [ "$v" = lf ] && continue
    for f in rc out err; do
      check "$label $v" "$label.$f differs from the LF file's:
$(diff "$dir/lf/$label.$f" "$dir/$v/$label.$f" | head -6)" cmp -s "$dir/lf/$label.$f" "$dir/$v/$label.$f"
    done
  done
}
rc_of() { cat "$1/lf/$2.rc"; }

# --- the reference job as saved on Windows -----------------------------------------------------
G="$T/good"
make_set "$G" "$RULES" "$REPO_DIR/rules/retention.test.lua"
check "variants" "crlf+bom does not start with a BOM" [ "$(head -c 3 "$G/crlf+bom/retention.lua")" = "$BOM" ]
check "variants" "crlf+bom has no CRLF" grep -q $'\r$' "$G/crlf+bom/retention.lua"
in_each "$G" run run retention.lua --data "$SAMPLE" --out out --as-of 2026-11-01 --no-progress
check run "the LF run failed: $(cat "$G/lf/run.err")" [ "$(rc_of "$G" run)" = 0 ]
for v in $VARIANTS; do
  [ "$v" = lf ] && continue
  check "run $v" "exit $(cat "$G/$v/run.rc"): $(cat "$G/$v/run.err")" [ "$(cat "$G/$v/run.rc")" = 0 ]
  for f in "$G/lf/out"/*.csv; do
    check "run $v" "$(basename "$f") differs from the LF file's run" cmp -s "$f" "$G/$v/out/$(basename "$f")"
  done
  # run_summary.json names the file's own bytes
  sha=$(sha256sum "$G/$v/retention.lua" | cut -d' ' -f1)
  check "run $v" "run_summary.json rules.sha256 is not $sha (the file as saved)" grep -qF "\"sha256\": \"$sha\"" "$G/$v/out/run_summary.json"
done
in_each "$G" check check retention.lua --data "$SAMPLE"
check check "the LF check failed: $(cat "$G/lf/check.out")" [ "$(rc_of "$G" check)" = 0 ]
same "$G" check
in_each "$G" explain explain retention.lua --data "$SAMPLE" --as-of 2026-11-01 --customer C0000042
check explain "the LF explain failed: $(cat "$G/lf/explain.err")" [ "$(rc_of "$G" explain)" = 0 ]
same "$G" explain
in_each "$G" explain_json explain retention.lua --data "$SAMPLE" --as-of 2026-11-01 --customer C0000042 --json
same "$G" explain_json
in_each "$G" test test retention.lua
check test "the LF test failed: $(cat "$G/lf/test.out")" [ "$(rc_of "$G" test)" = 0 ]
check test "no cases passed: $(cat "$G/lf/test.out")" grep -qE '^[1-9][0-9]* passed, 0 failed' "$G/lf/test.out"
same "$G" test

# --- mistakes: the same message on the same line -----------------------------------------------
# mistake NAME RULES_SED TESTS_SED: every variant of the reference job and its tests, edited
mistake() {
  sed "$2" "$RULES" >"$T/$1.lua"
  sed "$3" "$REPO_DIR/rules/retention.test.lua" >"$T/$1.test.lua"
  make_set "$T/$1" "$T/$1.lua" "$T/$1.test.lua"
}
mistake neq '74s/>= 2/<> 2/' ''
mistake first_line '1s/^/x x x /' ''
mistake runtime '74s/c.complaints_90 >= 2/c.days_to_renewal < 2/' ''
mistake unknown '74s/c.complaints_90/c.complaints_91/' ''
for name in neq first_line runtime unknown; do
  in_each "$T/$name" run run retention.lua --data "$SAMPLE" --out out --as-of 2026-11-01 --no-progress
  check "$name" "the LF run: exit $(rc_of "$T/$name" run), not 5" [ "$(rc_of "$T/$name" run)" = 5 ]
  same "$T/$name" run
  in_each "$T/$name" check check retention.lua --data "$SAMPLE"
  same "$T/$name" check
done
grep -qF "retention.lua:74: syntax error" "$T/neq/lf/run.err" || fail neq "expected line 74: $(cat "$T/neq/lf/run.err")"
grep -qF "retention.lua:1: syntax error" "$T/first_line/lf/run.err" || fail first_line "expected line 1: $(cat "$T/first_line/lf/run.err")"
grep -qF "retention.lua:74: rule complaints" "$T/runtime/lf/run.err" || fail runtime "expected line 74: $(cat "$T/runtime/lf/run.err")"
CHECKS=$((CHECKS + 3))
# a failing test case: the same FAIL line (with the case's line in the test file)
mistake failing_case '' '19s/score = 0,/score = 1,/'
VARIANTS="lf crlf+bom" in_each "$T/failing_case" test test retention.lua
check failing_case "the LF test: exit $(rc_of "$T/failing_case" test), not 8" [ "$(rc_of "$T/failing_case" test)" = 8 ]
check failing_case "no FAIL naming the case's line 17: $(grep FAIL "$T/failing_case/lf/test.out")" grep -q "^FAIL .*(retention.test.lua:17)" "$T/failing_case/lf/test.out"
VARIANTS="lf crlf+bom" same "$T/failing_case" test

# --- UTF-16 (Notepad's "Unicode"): refused by name ----------------------------------------------
mkdir -p "$T/utf16"
{ printf '\xff\xfe'; iconv -f UTF-8 -t UTF-16LE "$RULES"; } >"$T/utf16/retention.lua"
for cmd in "run retention.lua --data $SAMPLE --out out --as-of 2026-11-01" "check retention.lua" "test retention.lua"; do
  cd "$T/utf16" && run_cli utf16 $cmd
  cd "$T" || exit 1
  assert_rc "utf16 ${cmd%% *}" 5
  assert_err "utf16 ${cmd%% *}" "retention.lua: the rule file is saved as UTF-16: save it as UTF-8"
  assert_one_error "utf16 ${cmd%% *}"
done
finish
