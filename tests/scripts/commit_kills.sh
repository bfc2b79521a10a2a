#!/usr/bin/env bash
# The kill loop (issue 8, point 6): tonight's run into a copy of the earlier night's folder
# (commit_lib.sh), killed (SIGKILL) just before its Nth I/O call in --out, for every N. Nothing
# changes on disk between two such calls, so this covers a kill at any moment of the run.
# After each kill: --out shows the earlier night's files or tonight's, or, only while a journal
# says a commit was under way, each file in one of its two versions; the next run (any run: here
# one whose rule file has a syntax error, exit 5) first puts the earlier night's files back
# exactly, or leaves tonight's, with nothing else left, and says what it cleaned up. Then the same for a kill in the middle of that cleanup: a
# rollback that is itself interrupted is finished by the run after.
source "$TESTS_DIR/fixtures/lib.sh"
source "$TESTS_DIR/fixtures/commit_lib.sh"
setup_nights
OUT="$T/out"
cat "$T/state.old" "$T/state.new" | LC_ALL=C sort -u > "$T/state.either"

# killed LABEL N [OPS]: tonight's run killed before its Nth call (of OPS) in --out
killed() {
  IOFAIL_PREFIX="$OUT" IOFAIL_OPS="${3:-}" IOFAIL_N=$2 IOFAIL_ACTION=kill LD_PRELOAD="$IOFAIL" run_new "$1" "$OUT"
}

# after_kill LABEL: what a reader sees, then the next run's cleanup, then a clean run
after_kill() {
  local label=$1
  assert_rc "$label" 137
  if [ -e "$OUT/.defector-staging/.journal" ]; then # a commit under way: each file old or new
    local mixed
    mixed=$(state_visible "$OUT" | LC_ALL=C sort | comm -23 - "$T/state.either")
    check "$label" "a file in neither version while the commit was under way: $mixed" [ -z "$mixed" ]
    run_recover recover "$OUT"
    assert_err "$label-recover" "defector: warning: $OUT: a run was stopped while it moved its outputs into place; the files it had replaced were put back"
  else
    state_visible "$OUT" > "$T/state.now.visible"
    check "$label" "no commit under way, yet --out holds neither night's files" \
      eval 'grep -v "^[a-z]* \./\.defector-staging" "$T/state.old" | cmp -s - "$T/state.now.visible" ||
            grep -v "^[a-z]* \./\.defector-staging" "$T/state.new" | cmp -s - "$T/state.now.visible"'
    local left=0
    [ -e "$OUT/.defector-staging" ] && left=$(find "$OUT/.defector-staging" -type f | wc -l)
    run_recover recover "$OUT"
    if [ "$left" -gt 0 ]; then
      assert_err "$label-recover" "defector: warning: $OUT: removed $left temporary files left by a run that was stopped (killed or crashed)"
    fi
  fi
  assert_rc "$label-recover" 5
  assert_state "$label-recover" "$OUT" "$T/state.old" "$T/state.new"
  assert_no_staging "$label-recover" "$OUT"
}

fresh_out "$OUT"
rm -f "$T/calls.log"
IOFAIL_PREFIX="$OUT" IOFAIL_LOG="$T/calls.log" LD_PRELOAD="$IOFAIL" run_new count "$OUT"
total=$(wc -l < "$T/calls.log")
check count "tonight's run should make I/O calls in --out (counted $total)" [ "$total" -gt 20 ]
for n in $(seq 1 "$total"); do
  fresh_out "$OUT"
  killed kill "$n"
  after_kill "killed before call $(sed -n "${n}p" "$T/calls.log" | sed "s|$OUT|OUT|")"
done
# from a folder a recovery left, a clean run writes tonight's files
run_new clean "$OUT"
assert_rc clean 0
assert_state clean "$OUT" "$T/state.new"
echo "killed before each of $total calls"

# killed in the middle of the commit (after 3 of its renames), then the next run killed before
# each of its own calls: whatever it had put back, the run after finishes the job
fresh_out "$OUT"
killed count_recover 4 rename
rm -f "$T/calls.log"
cp -a "$OUT" "$T/mid-commit"
IOFAIL_PREFIX="$OUT" IOFAIL_LOG="$T/calls.log" LD_PRELOAD="$IOFAIL" run_recover count_recover "$OUT"
assert_rc count_recover 5
assert_state count_recover "$OUT" "$T/state.old"
# the calls up to the journal's removal (after that only the rule file's error remains)
total=$(grep -n 'unlink .*/.defector-staging/.journal$' "$T/calls.log" | head -1 | cut -d: -f1)
check count_recover "the next run should undo the commit with calls in --out (log: $(cat "$T/calls.log"))" [ "${total:-0}" -gt 3 ]
for m in $(seq 1 "${total:-0}"); do
  rm -rf "$OUT" && cp -a "$T/mid-commit" "$OUT"
  IOFAIL_PREFIX="$OUT" IOFAIL_N=$m IOFAIL_ACTION=kill LD_PRELOAD="$IOFAIL" run_recover recover_killed "$OUT"
  label="recovery killed before call $(sed -n "${m}p" "$T/calls.log" | sed "s|$OUT|OUT|")"
  assert_rc "$label" 137
  run_recover again "$OUT"
  assert_rc "$label, again" 5
  assert_state "$label, again" "$OUT" "$T/state.old"
  assert_no_staging "$label, again" "$OUT"
done
echo "recovery killed before each of its ${total:-0} calls"
finish
