#!/usr/bin/env bash
# scripts/dask-shards on a Dask LocalCluster of 2 worker processes: 3 shards and their merge give
# the single run's bytes (with --history: the night too), while the first attempt of shard 1 is
# killed (SIGKILL, its defector process in the middle of its run: the retry finds the folder it
# left) and retried, the progress saying so; a shard that fails every attempt stops the job
# before the merge, naming it, and the output folder is left as it was.
source "$TESTS_DIR/fixtures/lib.sh"
"$DEFECTOR_GEN" --customers 4000 --seed 21 --quirks --out "$T/data" 2>/dev/null || { fail gen "the generator failed"; finish; }
DRIVER="$REPO_DIR/scripts/dask-shards"
# a defector that is killed the first time it runs shard 1/3 (and always fails shard 2/3 once
# $T/fail-always exists)
cat > "$T/defector" <<EOF
#!/bin/bash
out=
for ((k = 1; k <= \$#; k++)); do [ "\${!k}" = -o ] && { k=\$((k + 1)); out=\${!k}; }; done
case " \$* " in
*" --shard 1/3 "*)
  if mkdir "$T/killed" 2>/dev/null; then
    "$DEFECTOR" "\$@" & pid=\$!
    for i in \$(seq 500); do [ -d "\$out/.defector-staging" ] && break; sleep 0.01; done
    kill -9 \$pid; wait \$pid; echo "killed shard 1 (its run: \$?)" > "$T/killed/what"
    kill -9 \$\$
  fi ;;
*" --shard 2/3 "*)
  [ -e "$T/fail-always" ] && { echo "defector: error: a disk that is full (simulated)" >&2; exit 6; }
  [ -e "$T/fail-rules" ] && { echo "defector: error: rules.lua:3: a rule error (simulated)" >&2; exit 5; } ;;
esac
exec "$DEFECTOR" "\$@"
EOF
chmod +x "$T/defector"

cd "$T" || exit 1
mkdir -p one many
(cd one && "$DEFECTOR" run "$RULES" --data "$T/data" -o out --as-of 2026-11-01 --history hist --max-rejects 5 --no-progress -q) \
  || fail single "the single run failed"
t0=$(date +%s)
(cd many && /usr/bin/python3 "$DRIVER" --local 2 --shards 3 --rules "$RULES" --data "$T/data" --work work --out out \
  --as-of 2026-11-01 --history hist --defector "$T/defector" -- --max-rejects 5 --threads 1) 2>"$T/driver.stderr"
rc=$?
check driver "the driver should succeed, exit $rc: $(cat "$T/driver.stderr")" [ "$rc" = 0 ]
check driver "the driver took $(( $(date +%s) - t0 )) s, more than 50" [ $(( $(date +%s) - t0 )) -le 50 ]
check killed "shard 1's first attempt should have been killed: $(cat "$T/killed/what" 2>&1)" grep -q "its run: 137" "$T/killed/what"
grep -q "shard 1/3 failed (killed by signal 9)" "$T/driver.stderr" || fail progress "the progress should say that shard 1 was killed: $(cat "$T/driver.stderr")"
grep -q "retrying (attempt 2 of 3)" "$T/driver.stderr" || fail progress "the progress should say that shard 1 is retried: $(cat "$T/driver.stderr")"
grep -q "shard 1/3 done in .* (attempt 2)" "$T/driver.stderr" || fail progress "shard 1's second attempt should be done: $(cat "$T/driver.stderr")"
grep -q "3 of 3 done" "$T/driver.stderr" || fail progress "the progress should count the shards done: $(cat "$T/driver.stderr")"
grep -q "merged into $T/many/out in" "$T/driver.stderr" || fail progress "the progress should say the merge is done: $(cat "$T/driver.stderr")"
for f in one/out/*.csv one/out/report.html one/hist/2026-11-01/*; do
  b=${f#one/}
  case $b in *run_summary.json) continue ;; esac
  check same "$b differs between one run and the Dask job of 3 shards" cmp -s "$f" "many/$b"
done
check same "the Dask job should have written the risk list" [ -s many/out/risk_list.csv ]

# a shard that fails on every attempt: no merge, the outputs as they were
touch "$T/fail-always"
snapshot many/out "$T/out.snap"
(cd many && /usr/bin/python3 "$DRIVER" --local 2 --shards 3 --rules "$RULES" --data "$T/data" --work work2 --out out \
  --as-of 2026-11-01 --history hist --retries 1 --defector "$T/defector") 2>"$T/fail.stderr"
rc=$?
check fail "a shard failing every attempt should fail the driver with its exit status 6, got $rc" [ "$rc" = 6 ]
grep -q "shard 2/3 failed (exit 6) after 2 attempts: defector: error: a disk that is full (simulated)" "$T/fail.stderr" \
  || fail fail "the driver should name the shard and why: $(cat "$T/fail.stderr")"
grep -q "not merged" "$T/fail.stderr" || fail fail "the driver should say it did not merge: $(cat "$T/fail.stderr")"
assert_unchanged fail many/out "$T/out.snap"

# a rule error fails the same way every time: not retried
rm -f "$T/fail-always" && touch "$T/fail-rules"
(cd many && /usr/bin/python3 "$DRIVER" --local 2 --shards 3 --rules "$RULES" --data "$T/data" --work work3 --out out \
  --as-of 2026-11-01 --history hist --retries 2 --defector "$T/defector") 2>"$T/rules.stderr"
rc=$?
check rules "a shard with a rule error should fail the driver with exit 5, got $rc" [ "$rc" = 5 ]
grep -q "shard 2/3 failed (exit 5, not retried: a rule error)" "$T/rules.stderr" || fail rules "the driver should not retry a rule error: $(cat "$T/rules.stderr")"
check rules "a rule error should be tried once" [ "$(grep -c 'shard 2/3 failed' "$T/rules.stderr")" = 1 ]
assert_unchanged rules many/out "$T/out.snap"
rm -f "$T/fail-rules"

# what the driver refuses
/usr/bin/python3 "$DRIVER" --local 1 --shards 2 --rules "$RULES" --data d --work w --out o --as-of 2026-11-01 -- --shard 0/2 2>"$T/opts.stderr"
rc=$?
check opts "--shard after -- should be a usage error (2), got $rc" [ "$rc" = 2 ]
grep -q -- "--shard after -- is the driver's to set" "$T/opts.stderr" || fail opts "the driver should say --shard is its own: $(cat "$T/opts.stderr")"
check opts "a refused driver run should start nothing" [ ! -e w ]
finish
