#!/usr/bin/env bash
# `cmake --install` of this build into a temporary prefix: the files land where GNUInstallDirs
# puts them, the installed binary runs from there (outside the sources) on the installed rule
# file and sample data with the same outputs as the build's, the installed manual page renders
# with man and names every command. And the version from sources without their git history (a
# tarball): project(VERSION) alone.
source "$TESTS_DIR/fixtures/lib.sh"
for v in BUILD_DIR DEFECTOR_GEN; do
  [ -n "${!v:-}" ] || { echo "FAIL: environment variable $v is not set (run through ctest)"; exit 1; }
done
P="$T/prefix"
cmake --install "$BUILD_DIR" --prefix "$P" >"$T/install.log" 2>&1
RC=$? ERR=$(cat "$T/install.log")
assert_rc "cmake --install" 0

for f in bin/defector bin/defector-gen share/man/man1/defector.1 share/defector/rules/retention.lua \
  share/defector/rules/retention.test.lua share/defector/sample-data/customers.csv.gz \
  share/defector/sample-data/events.csv.gz share/doc/defector/README.md share/doc/defector/docs/rules.md; do
  check "installed files" "no $P/$f" test -f "$P/$f"
done
check "installed files" "bin/defector is not executable" test -x "$P/bin/defector"
for f in "$REPO_DIR"/rules/api/*; do
  check "installed files" "rules/api/$(basename "$f") not installed" cmp -s "$f" "$P/share/defector/rules/api/$(basename "$f")"
done
# README's links to docs/*.md hold in the installed copy
for link in $(grep -oE '\(docs/[a-z-]+\.md\)' "$REPO_DIR/README.md" | tr -d '()' | sort -u); do
  check "installed docs" "README links $link, not installed beside it" test -f "$P/share/doc/defector/$link"
done

# --- the installed binary, run from elsewhere -------------------------------------------------
export PATH="$P/bin:$PATH"
mkdir -p "$T/elsewhere" && cd "$T/elsewhere" || exit 1
DEFECTOR=defector # from PATH: the installed one
check "installed binary" "defector on PATH is $(command -v defector), not $P/bin/defector" \
  [ "$(command -v defector)" = "$P/bin/defector" ]
run_cli version --version
assert_rc --version 0
built=$("$BUILD_DIR/defector" --version)
check --version "installed '$OUTPUT', built '$built'" [ "$OUTPUT" = "$built" ]
run_cli help run --help
assert_rc "run --help" 0

SHARE="$P/share/defector"
run_cli run run "$SHARE/rules/retention.lua" --data "$SHARE/sample-data" -o results --as-of 2026-11-01 -q
assert_rc "installed run" 0
check "installed run" "no results/risk_list.csv" test -f results/risk_list.csv
"$BUILD_DIR/defector" run "$REPO_DIR/rules/retention.lua" --data "$REPO_DIR/sample-data" --out "$T/built-out" \
  --as-of 2026-11-01 --no-progress 2>/dev/null
for f in "$T/built-out"/*.csv; do
  check "installed run" "$(basename "$f") differs from the build's run" cmp -s "$f" "results/$(basename "$f")"
done
run_cli test test "$SHARE/rules/retention.lua"
assert_rc "installed test" 0
assert_out "installed test" " passed, 0 failed"
run_cli check check "$SHARE/rules/retention.lua" --data "$SHARE/sample-data"
assert_rc "installed check" 0
DEFECTOR="$P/bin/defector-gen"
run_cli gen --customers 10 --out gen
assert_rc "installed defector-gen" 0
check "installed defector-gen" "no gen/events.csv.gz" test -f gen/events.csv.gz

# --- the manual page: by path, and found by man in the prefix ---------------------------------
LC_ALL=C MANWIDTH=200 man -l "$P/share/man/man1/defector.1" >"$T/man.txt" 2>"$T/man.err"
RC=$? ERR=$(cat "$T/man.err") OUTPUT=$(cat "$T/man.txt")
assert_rc "man -l" 0
for c in "defector run RULES" "defector explain RULES" "defector test RULES" "defector check RULES" \
  "defector help [COMMAND]" "defector --version" "EXIT STATUS" "-o, --out DIR" "-q, --quiet"; do
  assert_out "man -l" "$c"
done
LC_ALL=C MANPATH="$P/share/man" man -w defector >"$T/manw.txt" 2>&1
RC=$? ERR=$(cat "$T/manw.txt") OUTPUT=$ERR
assert_rc "MANPATH=prefix man -w defector" 0
check "MANPATH=prefix man -w defector" "found $OUTPUT, not the installed page" \
  [ "$OUTPUT" = "$P/share/man/man1/defector.1" ]

# with the prefix's bin on PATH (as README's ~/.local), man finds the page without MANPATH
LC_ALL=C man -w defector >"$T/manpath.txt" 2>&1
RC=$? ERR=$(cat "$T/manpath.txt") OUTPUT=$ERR
assert_rc "PATH=prefix/bin man -w defector" 0
check "PATH=prefix/bin man -w defector" "found $OUTPUT, not the installed page" \
  [ "$OUTPUT" = "$P/share/man/man1/defector.1" ]

# --- the version of sources without their git history ----------------------------------------
# A copy of the sources inside this build folder: in a git checkout, that is inside a repository
# that is not theirs, whose describe must not be taken for theirs; elsewhere, a plain tarball.
mkdir -p "$T/src"
(cd "$REPO_DIR" && tar --exclude='./build*' --exclude=./.git --exclude=./out -cf - .) | tar -C "$T/src" -xf -
cmake -S "$T/src" -B "$T/src-build" >"$T/configure.log" 2>&1
RC=$? ERR=$(cat "$T/configure.log") OUTPUT=$ERR
want_version=$(sed -n 's/^project(defector VERSION \([0-9.]*\).*/\1/p' "$REPO_DIR/CMakeLists.txt")
assert_rc "configure without git" 0
assert_out "configure without git" "defector $want_version (not a git checkout)"
flags=$(cat "$T/src-build/CMakeFiles/defector.dir/flags.make" 2>&1)
check "configure without git" "the CLI's flags lack DF_VERSION=\"$want_version\": $flags" grep -qF "DF_VERSION=\\\"$want_version\\\"" <<<"$flags"
refute "configure without git" "the CLI gets a git describe: $flags" grep -q DF_GIT_DESCRIBE <<<"$flags"
rm -rf "$T/src" "$T/src-build"
finish
