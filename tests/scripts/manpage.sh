#!/usr/bin/env bash
# docs/defector.1 against the binary's help, so that they cannot drift apart: the page renders
# without a warning (man-db, groff), its version is project(VERSION), and it documents every
# command, every usage line and every option (long and short forms) that `defector --help` lists.
source "$TESTS_DIR/fixtures/lib.sh"
PAGE="$REPO_DIR/docs/defector.1"

# The page as a reader sees it: plain text, lines wide enough that no option is cut.
LC_ALL=C MANWIDTH=250 man --warnings -l "$PAGE" >"$T/page.txt" 2>"$T/page.err"
RC=$?
ERR=$(cat "$T/page.err")
assert_rc "man -l docs/defector.1" 0
check "man -l docs/defector.1" "warnings while rendering: $ERR" [ -z "$ERR" ]
MAN=$(cat "$T/page.txt")
check "man -l docs/defector.1" "rendered nothing" grep -q "^SYNOPSIS" <<<"$MAN"

# .TH: the version is CMakeLists.txt's
want_version=$(sed -n 's/^project(defector VERSION \([0-9.]*\).*/\1/p' "$REPO_DIR/CMakeLists.txt")
check version "the page's .TH does not name defector $want_version: $(grep '^\.TH' "$PAGE")" \
  grep -q "^\.TH DEFECTOR 1 \"[0-9-]*\" \"defector $want_version\"" "$PAGE"

run_cli help --help
assert_rc --help 0
HELP=$OUTPUT

# every usage line, as the help prints it
usages=$(sed -n 's/^usage: //p; s/^       \(defector .*\)/\1/p' <<<"$HELP")
check usage "the help shows no usage lines" test "$(wc -l <<<"$usages")" -ge 6
while IFS= read -r u; do
  check "usage" "the SYNOPSIS lacks '$u'" grep -qF -- "$u" <<<"$MAN"
done <<<"$usages"

# every command: a paragraph of its own under COMMANDS
commands=$(sed -n '/^Commands:/,/^$/s/^  \([a-z]*\) .*/\1/p' <<<"$HELP")
check commands "the help lists no commands" test "$(wc -l <<<"$commands")" -ge 6
section=$(sed -n '/^COMMANDS/,/^OPTIONS/p' <<<"$MAN")
for c in $commands; do
  check "command $c" "COMMANDS has no paragraph for $c" grep -qE "^ {7}$c( |,|\$)" <<<"$section"
done

# every option, long and short, as a word of the page (--progress is not found in --no-progress)
options=$(grep -oE -- '^  (-[a-z], )?--[a-z][a-z-]*' <<<"$HELP" | grep -oE -- '-[a-z]\b|--[a-z][a-z-]*' | sort -u)
check options "the help lists no options" test "$(wc -l <<<"$options")" -ge 20
opt_section=$(sed -n '/^OPTIONS/,/^EXIT STATUS/p' <<<"$MAN")
for o in $options; do
  check "option $o" "the OPTIONS section does not document $o" grep -qE -- "(^|[^a-z-])$o([^a-z-]|\$)" <<<"$opt_section"
done
# and no option the binary does not know
for o in $(grep -oE -- '(^|[ [(,])--?[a-z][a-z-]*' <<<"$opt_section" | grep -oE -- '--?[a-z][a-z-]*' | sort -u); do
  check "option $o" "the page documents $o, which --help does not list" grep -qxF -- "$o" <<<"$options"
done

# the exit codes: "N  what" under EXIT STATUS, as the help names them
status=$(sed -n '/^EXIT STATUS/,/^FILES/p' <<<"$MAN")
for code in "0 ok" "1 internal" "2 usage" "3 input file" "4 data" "5 rule file" "6 writing outputs" "7 out of memory" "8 (test) rule test"; do
  n=${code%% *} what=${code#* }
  check "exit status $n" "EXIT STATUS lacks '$n  $what'" grep -qE "^ {7}$n +$(sed 's/[()]/\\&/g' <<<"$what")" <<<"$status"
done
finish
