#!/usr/bin/env bash
# The allocation-failure loop (tests/fixtures/alloc_loop.sh) over the outputs for spreadsheets
# that the engine writes itself: rules/retention-workbook.lua without its workbooks (CSV for
# Excel, fixed decimals, call lists split by owner: typed rows kept, cut and written). Not the
# workbooks: libxlsxwriter 1.1.4 does not check every allocation (a failed one in
# workbook_close can crash the process; the previous outputs then stay, as nothing was
# committed: docs/rules.md, Outputs for spreadsheets).
source "$TESTS_DIR/fixtures/lib.sh"
source "$TESTS_DIR/fixtures/alloc_loop.sh"
make_data "$T/data"
sed '/^-- The same call lists as one workbook/,$d' "$REPO_DIR/rules/retention-workbook.lua" > "$T/csv.lua"
refute setup "the rule file kept a workbook" grep -q "xlsx" "$T/csv.lua"
loop spreadsheet_csv run "$T/csv.lua" --data "$T/data"
check split "the job should split the risk list by owner: $(ls "$T/good")" test -f "$T/good/calls-unassigned.csv"
finish
