#!/usr/bin/env bash
# End-to-end case runner: tests/cases/NAME/{data/ or data_dir,args,expected/,ignored}. data_dir,
# when present, holds a repository-relative folder to read instead of data/ (e.g. sample-data).
# Runs the engine on data/ with the rule file and options in `args` (one line, e.g.
# "rules/retention.lua --as-of 2026-11-01", paths relative to the repository), then requires:
#   - expected/ to exist and hold at least one file (a case that expects nothing checks nothing);
#   - every file in expected/ to match the output byte for byte (`expected/exit_code`, when
#     present, holds the expected exit status instead: default 0);
#   - every file the run wrote to be in expected/ or listed in `ignored` (one file name a line,
#     for outputs that differ from run to run, e.g. run_summary.json with its timings); a file
#     listed there must have been written;
#   - after a run that succeeded, .defector-manifest (the engine's record of the set it
#     committed, commit.c) to list exactly the files the run wrote.
set -u
case_dir=$1
name=$(basename "$case_dir")
out="$WORK_DIR/case-$name"
rm -rf "$out" && mkdir -p "$out"
fail=0
bad() { echo "FAIL $name: $1"; fail=1; }

if [ ! -d "$case_dir/expected" ] || [ -z "$(ls -A "$case_dir/expected")" ]; then
  echo "FAIL $name: $case_dir/expected/ is missing or empty: a case must list the outputs it expects"
  exit 1
fi
read -r -a args < "$case_dir/args"
rules=${args[0]}
[[ $rules = /* ]] || rules="$REPO_DIR/$rules"
data="$case_dir/data"
[ -f "$case_dir/data_dir" ] && data="$REPO_DIR/$(cat "$case_dir/data_dir")"
cd "$REPO_DIR" || exit 1
"$DEFECTOR" run "$rules" --data "$data" --out "$out" --no-progress "${args[@]:1}" 2>"$out.stderr"
rc=$?
want_rc=0
[ -f "$case_dir/expected/exit_code" ] && want_rc=$(cat "$case_dir/expected/exit_code")
if [ "$rc" != "$want_rc" ]; then
  bad "exit code $rc, expected $want_rc"; cat "$out.stderr"
fi
for f in "$case_dir"/expected/* "$case_dir"/expected/.[!.]*; do
  [ -e "$f" ] || continue
  b=$(basename "$f")
  [ "$b" = exit_code ] && continue
  if ! cmp -s "$f" "$out/$b"; then
    bad "$b differs from the expected output"
    diff -u "$f" "$out/$b" | head -40
  fi
done
ignored=()
[ -f "$case_dir/ignored" ] && mapfile -t ignored < <(grep -v '^[[:space:]]*$' "$case_dir/ignored")
for b in "${ignored[@]}"; do
  [ -e "$out/$b" ] || bad "'$b' is listed in ignored but the run did not write it"
done
# the engine's own record of the set it committed (commit.c): exactly the files the run wrote
manifest=.defector-manifest
if [ "$rc" = 0 ]; then
  if [ ! -f "$out/$manifest" ]; then
    bad "the run left no $manifest"
  elif [ "$(grep -v "^#" "$out/$manifest" | sort)" != "$(cd "$out" && find . -mindepth 1 \( -type f -o -type l \) ! -name "$manifest" ! -name status.json ! -name last_success.json | sed 's|^\./||' | sort)" ]; then
    bad "$manifest does not list exactly the files the run wrote: $(grep -v "^#" "$out/$manifest" | tr "\n" " ")"
  fi
fi
while IFS= read -r -d '' f; do
  b=${f#"$out/"}
  [ "$b" = "$manifest" ] && continue
  # the run's status and last-success marker (status.c): beside the outputs, not outputs
  [ "$b" = status.json ] || [ "$b" = last_success.json ] && continue
  [ -e "$case_dir/expected/$b" ] && continue
  listed=0
  for i in "${ignored[@]}"; do [ "$i" = "$b" ] && listed=1; done
  [ $listed = 1 ] || bad "the run wrote '$b', which is neither in expected/ nor listed in ignored"
done < <(find "$out" -mindepth 1 \( -type f -o -type l \) -print0 | sort -z)
[ $fail = 0 ] && echo "ok $name"
exit $fail
