#!/usr/bin/env bash
# The I/O fault loop over a whole run (issue 8, point 6): tonight's run into a copy of the earlier
# night's folder (commit_lib.sh), once for every I/O call it makes in --out, that call failing:
#   - every open, write, fsync, rename, unlink, link, mkdir and rmdir, with EIO;
#   - every write and fsync, with ENOSPC (a disk that fills up at that moment);
#   - on a file system without hard links (the old versions are kept as copies), every rename
#     and unlink, with EIO.
# After each: either exit 6, ONE error naming --out or an output file in it (not a temporary)
# with the system's reason, and --out holding the earlier night's files byte for byte; or exit 0
# (the failure came after the commit point) and --out holding tonight's files, a leftover
# temporary folder said on stderr, and then the next run leaves exactly tonight's files.
source "$TESTS_DIR/fixtures/lib.sh"
source "$TESTS_DIR/fixtures/commit_lib.sh"
setup_nights
OUT="$T/out"
state "$T/ref" | grep -v '^[a-z]* \./\.defector-staging' > "$T/state.new.visible"

# calls OPS NO_LINKS: how many calls of OPS tonight's run makes in --out
calls() {
  fresh_out "$OUT"
  rm -f "$T/calls.log"
  IOFAIL_PREFIX="$OUT" IOFAIL_OPS="$1" IOFAIL_NO_LINKS="$2" IOFAIL_LOG="$T/calls.log" LD_PRELOAD="$IOFAIL" run_new count "$OUT"
  [ "$RC" = 0 ] || { fail count "a run that only counts should succeed: $ERR"; echo 0; return; }
  wc -l < "$T/calls.log"
}

# fault_loop LABEL OPS ERRNO REASON NO_LINKS
fault_loop() {
  local label=$1 ops=$2 errno=$3 reason=$4 no_links=$5 total n call
  total=$(calls "$ops" "$no_links")
  check "$label" "tonight's run should make calls of $ops in --out (counted $total)" [ "$total" -gt 5 ]
  for n in $(seq 1 "$total"); do
    fresh_out "$OUT"
    rm -f "$T/calls.log"
    IOFAIL_PREFIX="$OUT" IOFAIL_OPS="$ops" IOFAIL_N=$n IOFAIL_ERRNO=$errno IOFAIL_NO_LINKS=$no_links \
      IOFAIL_LOG="$T/calls.log" LD_PRELOAD="$IOFAIL" run_new "$label" "$OUT"
    call="$label: call $(grep FAILED "$T/calls.log" | sed "s|$OUT|OUT|")"
    case $RC in
      6)
        assert_state "$call" "$OUT" "$T/state.old"
        assert_error_names_output "$call" "$OUT"
        assert_err "$call" "$reason"
        ;;
      0)
        state_visible "$OUT" > "$T/state.now.visible"
        check "$call" "exit 0 but --out does not hold tonight's files: $(diff "$T/state.new.visible" "$T/state.now.visible")" \
          cmp -s "$T/state.new.visible" "$T/state.now.visible"
        if [ -e "$OUT/.defector-staging" ]; then
          assert_err "$call" "their temporary folder .defector-staging could not be removed ($reason); the next run removes it"
        fi
        ;;
      *) fail "$call" "exit code $RC, expected 6 (or 0 after the commit point); stderr: $ERR" ;;
    esac
    if [ -e "$OUT/.defector-staging" ]; then # (after a failure undone, --out was exactly as before)
      run_new "$label-next" "$OUT"
      assert_rc "$call, then the next run" 0
      assert_err "$call, then the next run" "defector: warning: $OUT: removed "
      assert_state "$call, then the next run" "$OUT" "$T/state.new"
    fi
  done
  echo "$label: $total calls failed one by one"
}

fault_loop eio open,write,fsync,rename,unlink,link,mkdir,rmdir EIO "Input/output error" 0
fault_loop enospc write,fsync ENOSPC "No space left on device" 0
fault_loop no_links rename,unlink EIO "Input/output error" 1
finish
