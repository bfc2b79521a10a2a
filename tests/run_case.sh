#!/usr/bin/env bash
# End-to-end case runner: tests/cases/NAME/{data/ or data_dir,args,expected/}. data_dir, when
# present, holds a repository-relative folder to read instead of data/ (e.g. sample-data). Runs the engine on data/
# with the rule file and options in `args` (one line, e.g. "rules/retention.lua --as-of 2026-11-01",
# paths relative to the repository), then requires every file in expected/ to match the output
# byte for byte. An `expected/exit_code` file, when present, holds the expected exit status.
set -u
case_dir=$1
name=$(basename "$case_dir")
out="$WORK_DIR/case-$name"
rm -rf "$out" && mkdir -p "$out"
read -r -a args < "$case_dir/args"
rules=${args[0]}
[[ $rules = /* ]] || rules="$REPO_DIR/$rules"
data="$case_dir/data"
[ -f "$case_dir/data_dir" ] && data="$REPO_DIR/$(cat "$case_dir/data_dir")"
cd "$REPO_DIR"
"$DEFECTOR" run "$rules" --data "$data" --out "$out" --no-progress "${args[@]:1}" 2>"$out.stderr"
rc=$?
want_rc=0
[ -f "$case_dir/expected/exit_code" ] && want_rc=$(cat "$case_dir/expected/exit_code")
fail=0
if [ "$rc" != "$want_rc" ]; then
  echo "FAIL $name: exit code $rc, expected $want_rc"; cat "$out.stderr"; fail=1
fi
for f in "$case_dir"/expected/*; do
  b=$(basename "$f")
  [ "$b" = exit_code ] && continue
  if ! cmp -s "$f" "$out/$b"; then
    echo "FAIL $name: $b differs from the expected output"
    diff -u "$f" "$out/$b" | head -40
    fail=1
  fi
done
[ $fail = 0 ] && echo "ok $name"
exit $fail
