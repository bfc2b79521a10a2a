#!/usr/bin/env bash
# Outputs for spreadsheets (rules/retention-workbook.lua): the XLSX workbooks read back with
# openpyxl (typed cells equal to the CSV outputs of the same run, ids as text with all their
# digits, a formula-like text a plain string without ', dates as dates, frozen header,
# autofilter, band fills, the run sheet) and converted back to CSV by LibreOffice; the call
# lists split by owner (every customer of the risk list in exactly one list, ranks from 1,
# safe file names); the CSV options (BOM, ';', decimal comma, fixed decimals); the reference
# outputs unchanged beside them; the same bytes run after run and for --threads 1 and 4; a run
# failing while it writes a workbook leaves the previous outputs as they were.
source "$TESTS_DIR/fixtures/lib.sh"
PY=/usr/bin/python3
CHECKER="$TESTS_DIR/fixtures/sheets_check.py"
RULES_FILE="$REPO_DIR/rules/retention-workbook.lua"
# The workbook example is the reference job plus section 7: past their 6-line header, the first
# lines of retention-workbook.lua are retention.lua's whole text, so an edit of one is made to both.
ref_lines=$(wc -l < "$REPO_DIR/rules/retention.lua")
check same-job "rules/retention-workbook.lua has drifted from rules/retention.lua (sections 1-6 must be the same lines)" \
  cmp <(tail -n +7 "$REPO_DIR/rules/retention.lua") <(sed -n "7,${ref_lines}p" "$RULES_FILE")
mkdir -p "$T/data"
for f in customers events; do
  gzip -n -c "$TESTS_DIR/data/spreadsheets/$f.csv" > "$T/data/$f.csv.gz"
  # tests/cases/spreadsheets reads the same customers, committed gzipped
  check "case-data $f" "tests/cases/spreadsheets/data/$f.csv.gz is not tests/data/spreadsheets/$f.csv" \
    cmp "$T/data/$f.csv.gz" "$TESTS_DIR/cases/spreadsheets/data/$f.csv.gz"
done

run_engine run1 "$T/out" --threads 1
assert_rc run1 0
check read-back "the workbooks and CSV files do not match (see above)" $PY "$CHECKER" "$T/out" "$RULES_FILE"

# LibreOffice converts every sheet of calls.xlsx to CSV: the same rows as the split CSV files
mkdir -p "$T/lo"
(cd "$T/lo" && HOME="$T/lo" timeout 120 soffice --headless "-env:UserInstallation=file://$T/lo/profile" \
  --convert-to 'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1' \
  --outdir "$T/lo" "$T/out/calls.xlsx" >"$T/lo.log" 2>&1)
check libreoffice "LibreOffice's CSV of the sheets differs from the CSV files: $(cat "$T/lo.log")" $PY "$CHECKER" lo "$T/out" "$T/lo"

# the same bytes on a second run, and with 4 threads on the sample data (several parts)
run_engine run2 "$T/out2" --threads 1
for f in retention.xlsx calls.xlsx calls-Ann.csv risk_list_excel.csv; do
  check "same-bytes $f" "a second run wrote other bytes into $f" cmp "$T/out/$f" "$T/out2/$f"
done
DATA="$REPO_DIR/sample-data" run_engine sample1 "$T/s1" --threads 1
DATA="$REPO_DIR/sample-data" run_engine sample4 "$T/s4" --threads 4
assert_rc sample4 0
for f in "$T/s1"/*; do
  n=$(basename "$f")
  [ "$n" = run_summary.json ] && continue
  check "threads $n" "$n differs between --threads 1 and 4" cmp "$f" "$T/s4/$n"
done
for f in "$TESTS_DIR"/cases/sample/expected/*; do
  check "reference $(basename "$f")" "$(basename "$f") is not the reference job's output" cmp "$f" "$T/s1/$(basename "$f")"
done

# a run that fails while it writes a workbook (a sheet name no workbook accepts) changes nothing
snapshot "$T/out" "$T/snap"
sed 's/{ "Stages", "metrics_stage.csv" }/{ "Stages: a name longer than thirty-one characters", "metrics_stage.csv" }/' "$RULES_FILE" > "$T/badsheet.lua"
RULES_FILE="$T/badsheet.lua" run_engine badsheet "$T/out"
assert_rc badsheet 5
assert_err badsheet "is not a sheet name a workbook accepts"
assert_unchanged badsheet "$T/out" "$T/snap"

# fixed decimals never round: a value with more decimals is refused, naming the output
sed 's/decimals = { revenue_at_risk = 2 },/decimals = { revenue_at_risk = 2, score = 0 }, -- x/; s/"owner", "score", "band", "stage",/"owner", "score", "band", "stage", "monthly_fee",/' "$RULES_FILE" |
  sed '0,/decimals = { revenue_at_risk = 2, score = 0 }, -- x/s//decimals = { revenue_at_risk = 2, monthly_fee = 2 },/' > "$T/fee.lua"
RULES_FILE="$T/fee.lua" run_engine fee "$T/fee-out"
assert_rc fee 5
assert_err fee "column monthly_fee: 49.905 has more decimals than the 2 of decimals"
assert_one_error fee

# a tab between cells, the formula guard off (for files read by programs), fixed decimals; a
# split by a date names its lists by the date
cat > "$T/tab.lua" <<'LUA'
entity { file = "customers.csv.gz", key = "customer_id",
  columns = { customer_id = "text", name = "text", monthly_fee = "decimal", renewal_date = "date" } }
output { file = "plain.tsv", order = { "customer_id" }, columns = { "customer_id", "name", "monthly_fee" },
  separator = "\t", formula_guard = false, decimals = { monthly_fee = 3 } }
output { file = "by_renewal.csv", order = { "customer_id" }, columns = { "rank", "customer_id" },
  split_by = "renewal_date", unassigned = "no_contract" }
LUA
RULES_FILE="$T/tab.lua" run_engine tab "$T/tab-out"
assert_rc tab 0
check tab-bytes "plain.tsv: $(head -3 "$T/tab-out/plain.tsv" | od -c | head -5)" \
  grep -qxF $'1234567890123456789\t"=HYPERLINK(""http://example.com"",""x"")"\t9.950' "$T/tab-out/plain.tsv"
check tab-quote "plain.tsv: a name with a quote" grep -qxF $'000124\t"Zoë ""Z"" Müller"\t99.000' "$T/tab-out/plain.tsv"
check tab-plus "plain.tsv: +46 kept without guard" grep -qxF $'C-7\t+46 70 123 45 67\t19.950' "$T/tab-out/plain.tsv"
check split-date "by_renewal: files by date" test -f "$T/tab-out/by_renewal-2026-12-01.csv" -a -f "$T/tab-out/by_renewal-no_contract.csv"
check split-date-rows "by_renewal-no_contract.csv: the customers without a renewal date, ranked from 1" \
  cmp "$T/tab-out/by_renewal-no_contract.csv" <(printf 'rank,customer_id\n1,C-10\n2,C-12\n')

# options a workbook does not take, and a decimal comma with ',' between cells
printf 'entity { file = "customers.csv.gz", key = "customer_id", columns = { customer_id = "text" } }\noutput { file = "x.xlsx", columns = { "customer_id" }, bom = true }\n' > "$T/opt.lua"
RULES_FILE="$T/opt.lua" run_engine opt "$T/opt-out"
assert_rc opt 5
assert_err opt "bom, separator, decimal_comma and formula_guard are options of a CSV file, not of a workbook"
printf 'entity { file = "customers.csv.gz", key = "customer_id", columns = { customer_id = "text" } }\noutput { file = "x.csv", columns = { "customer_id" }, decimal_comma = true }\n' > "$T/comma.lua"
RULES_FILE="$T/comma.lua" run_engine comma "$T/comma-out"
assert_rc comma 5
assert_err comma "decimal_comma needs separator"
finish
