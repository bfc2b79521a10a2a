#!/usr/bin/env bash
# The commit of a run's outputs (issue 8): --out holds exactly this run's output set plus the
# user's own files, or, when the run fails or is killed at any point, exactly the previous set.
# One case per way it went wrong before: a target that is a folder, a kill between two renames,
# temporaries of a killed run, stale files of earlier runs, a full disk; then a read-only
# --out, two runs on one --out at once, a file system without hard links. The exhaustive loops
# over every I/O call of the commit are commit_faults.sh and commit_kills.sh.
source "$TESTS_DIR/fixtures/lib.sh"
source "$TESTS_DIR/fixtures/commit_lib.sh"
setup_nights
OUT="$T/out"
WANT_FILES='.defector-manifest .my-hidden-notes metrics_cohort.csv metrics_overview.csv metrics_segment.csv metrics_service.csv metrics_stage.csv notes.txt rejects.csv report.html risk_list.csv run_summary.json'

# --- tonight's run replaces the whole set: stale outputs go, the user's files stay (point 3) ----
fresh_out "$OUT"
run_new clean "$OUT"
assert_rc clean 0
check clean "--out should hold exactly tonight's outputs and the user's files, holds: $(ls -A "$OUT" | tr '\n' ' ')" \
  [ "$(ls -A "$OUT" | LC_ALL=C sort | tr '\n' ' ')" = "$WANT_FILES " ]
assert_state clean "$OUT" "$T/state.new"
assert_err clean "removed old_extra.csv, rule_errors.csv: written by an earlier run in $OUT, not by this one"
check clean "the manifest lists tonight's set: $(cat "$OUT/.defector-manifest")" \
  [ "$(grep -v '^#' "$OUT/.defector-manifest" | tr '\n' ' ')" = "metrics_cohort.csv metrics_overview.csv metrics_segment.csv metrics_service.csv metrics_stage.csv rejects.csv report.html risk_list.csv run_summary.json " ]
# the same run again: nothing to remove, nothing said about it
run_new again "$OUT"
assert_rc again 0
assert_state again "$OUT" "$T/state.new"
refute again "a second run should remove nothing: $ERR" grep -q 'removed' <<<"$ERR"

# a folder an earlier version wrote (no manifest): its run_summary.json says what it wrote
fresh_out "$OUT"
rm "$OUT/.defector-manifest"
run_new no_manifest "$OUT"
assert_rc no_manifest 0
assert_state no_manifest "$OUT" "$T/state.new"

# --- a target that is a folder: refused before anything moves (point 1) ---------------------
fresh_out "$OUT"
rm "$OUT/metrics_stage.csv" && mkdir "$OUT/metrics_stage.csv" && echo keep > "$OUT/metrics_stage.csv/inside"
snapshot "$OUT" "$T/snap.dir"
run_new target_dir "$OUT"
assert_rc target_dir 6
assert_err target_dir "$OUT/metrics_stage.csv: is a folder, so the output file cannot be written there"
assert_error_names_output target_dir "$OUT"
assert_unchanged target_dir "$OUT" "$T/snap.dir"

# --- killed between two renames (point 1), then any next run restores the old set (point 2) --
fresh_out "$OUT"
IOFAIL_PREFIX="$OUT" IOFAIL_OPS=rename IOFAIL_N=3 IOFAIL_ACTION=kill LD_PRELOAD="$IOFAIL" run_new killed "$OUT"
assert_rc killed 137
run_recover after_kill "$OUT"
assert_rc after_kill 5
assert_err after_kill "defector: warning: $OUT: a run was stopped while it moved its outputs into place; the files it had replaced were put back"
assert_state after_kill "$OUT" "$T/state.old"
assert_no_staging after_kill "$OUT"
run_new after_kill_clean "$OUT"
assert_rc after_kill_clean 0
assert_state after_kill_clean "$OUT" "$T/state.new"

# killed before the commit: its temporaries go at the next run, which says so
fresh_out "$OUT"
IOFAIL_PREFIX="$OUT" IOFAIL_OPS=fsync IOFAIL_N=1 IOFAIL_ACTION=kill LD_PRELOAD="$IOFAIL" run_new killed_early "$OUT"
assert_rc killed_early 137
run_recover after_early "$OUT"
assert_rc after_early 5
assert_err after_early "defector: warning: $OUT: removed 9 temporary files left by a run that was stopped (killed or crashed)"
assert_state after_early "$OUT" "$T/state.old"

# temporaries an earlier version left (.NAME.tmp-PID of a process that is gone) go too
fresh_out "$OUT"
dead=$(sh -c 'echo $$')
echo partial > "$OUT/.rejects.csv.tmp-$dead"
echo partial > "$OUT/.risk_list.csv.tmp-$dead"
run_new legacy_temps "$OUT"
assert_rc legacy_temps 0
assert_err legacy_temps "defector: warning: $OUT: removed 2 temporary files left by a run that was stopped (killed or crashed)"
assert_state legacy_temps "$OUT" "$T/state.new"

# --- a full disk: the message names the output file, and how to fix it (point 4) -------------
fresh_out "$OUT"
mounted=
if [ "$(id -u)" = 0 ] && mkdir -p "$T/small" && mount -t tmpfs -o size=1m tmpfs "$T/small" 2>/dev/null; then
  mounted=$T/small
  trap 'umount "$T/small" 2>/dev/null' EXIT
  cp -a "$T/pristine" "$T/small/out"
  dd if=/dev/zero of="$T/small/out/filler" bs=4k 2>/dev/null # the user's big file fills the disk
  FULL="$T/small/out"
  snapshot "$FULL" "$T/snap.full"
  run_new full_disk "$FULL"
else # not root: the shim says ENOSPC to every write into --out
  FULL=$OUT
  snapshot "$FULL" "$T/snap.full"
  IOFAIL_PREFIX="$FULL" IOFAIL_OPS=write IOFAIL_N=1 IOFAIL_ACTION=from IOFAIL_ERRNO=ENOSPC LD_PRELOAD="$IOFAIL" \
    run_new full_disk "$FULL"
fi
assert_rc full_disk 6
# the first write to fail is the report's: it reads metrics_overview.csv back (its first section)
# before the commit writes the files in their order
assert_err full_disk "$FULL/metrics_overview.csv: cannot write the file: No space left on device; free space on the disk that holds $FULL"
assert_error_names_output full_disk "$FULL"
assert_unchanged full_disk "$FULL" "$T/snap.full"
[ -n "$mounted" ] && umount "$mounted" && trap - EXIT

# --- a read-only --out ----------------------------------------------------------------------
fresh_out "$OUT"
if [ "$(id -u)" = 0 ] && mount --bind "$OUT" "$OUT" && mount -o remount,bind,ro "$OUT"; then
  trap 'umount "$OUT" 2>/dev/null' EXIT
  snapshot "$OUT" "$T/snap.ro"
  run_new read_only "$OUT"
  why="Read-only file system"
  umount "$OUT"; trap - EXIT
else
  chmod a-w "$OUT"
  snapshot "$OUT" "$T/snap.ro"
  run_new read_only "$OUT"
  why="Permission denied"
  chmod u+w "$OUT"
fi
assert_rc read_only 6
assert_err read_only "$OUT: cannot write in the output folder: $why"
assert_error_names_output read_only "$OUT"
assert_unchanged read_only "$OUT" "$T/snap.ro"

# --- two runs on one --out at once: the second is refused, the first's folder untouched ---------
fresh_out "$OUT"
snapshot "$OUT" "$T/snap.lock"
flock "$OUT" "$DEFECTOR" run "$RULES" --data "$T/data" --out "$OUT" --as-of "$NEW_AS_OF" --no-progress \
  >"$T/locked.stdout" 2>"$T/locked.stderr"
RC=$?; ERR=$(cat "$T/locked.stderr")
assert_rc locked 6
assert_err locked "$OUT: another defector run is writing its outputs to this folder; wait for it to end (or give --wait-lock SECONDS), or give this run another --out"
assert_unchanged locked "$OUT" "$T/snap.lock"

# --- a file system without hard links: the commit keeps copies of the old files instead ---------
fresh_out "$OUT"
IOFAIL_PREFIX="$OUT" IOFAIL_NO_LINKS=1 LD_PRELOAD="$IOFAIL" run_new no_links "$OUT"
assert_rc no_links 0
assert_state no_links "$OUT" "$T/state.new"
# ... and undoes a failed commit with them
fresh_out "$OUT"
IOFAIL_PREFIX="$OUT" IOFAIL_NO_LINKS=1 IOFAIL_OPS=rename IOFAIL_N=3 LD_PRELOAD="$IOFAIL" run_new no_links_fail "$OUT"
assert_rc no_links_fail 6
assert_state no_links_fail "$OUT" "$T/state.old"

finish
