#!/usr/bin/env bash
# Input dialects (issue 10): exports from Excel and other systems read as they are, with their
# form declared in the rule file (docs/rules.md, "Reading exports from Excel and other systems").
#  - a German Excel export (Windows-1252, CRLF, ';', 1.200,99, dd/mm/yyyy, an empty cell at the end
#    of each line, ';;;;' lines below the data) gives the same bytes as its ISO/UTF-8 twin
#    (tests/data/dialects), for every thread count and parsing block size;
#  - real exports: UCI Online Retail (time of day in the date, its Spark and its original UCI
#    form), IBM Telco (" " for an empty TotalCharges, a file name with '-'), CDNOW (yyyymmdd), the
#    numbers checked against Python's csv module;
#  - each mismatch says what to declare; invalid UTF-8 stops the run; customers.csv is found for
#    customers.csv.gz, and a similar name is offered.
source "$TESTS_DIR/fixtures/lib.sh"
D="$TESTS_DIR/data"
PY=/usr/bin/python3

# ---- the twin exports: the same outputs, byte for byte ----
excel_rules() { # rules/retention.lua reading the Excel files, the dialect declared ($1: extra edits)
  sed -e 's/file = "customers.csv.gz",/file = "customers.csv", delimiter = ";", decimal = ",", thousands = ".", date_format = "%d\/%m\/%Y", encoding = "windows-1252",/' \
      -e 's/file = "events.csv.gz",/file = "events.csv", delimiter = ";", decimal = ",", thousands = ".", date_format = "%d\/%m\/%Y", encoding = "windows-1252",/' \
      -e "${1:-}" "$RULES"
}
excel_rules > "$T/excel.lua"
check twin "the Excel rule file does not declare the dialect" grep -q 'delimiter = ";"' "$T/excel.lua"
DATA="$D/dialects/iso" run_engine iso "$T/iso"
assert_rc iso 0
check iso "the twin does not hold the names that make the encoding matter" grep -q 'Stark; Müller “Nord”' "$T/iso/risk_list.csv"
check iso "the twin does not hold the euro sign" grep -q 'Åsa Ødegård – €uro' "$T/iso/risk_list.csv"
for way in "--threads 1" "--threads 2" "--threads 3 --parse-block-kb 1" "--threads 4 --parse-block-kb 16" "--threads 2 --max-rejects 5"; do
  label="excel $way"
  RULES_FILE="$T/excel.lua" DATA="$D/dialects/excel" run_engine "excel" "$T/excel" $way
  assert_rc "$label" 0
  for f in "$T"/iso/*.csv; do
    check "$label" "$(basename "$f") differs from the ISO/UTF-8 twin's" cmp -s "$f" "$T/excel/$(basename "$f")"
  done
  assert_err "$label" "customers.csv: 250 rows read, 250 loaded, 3 rows of empty fields only skipped"
  assert_err "$label" "events.csv: 5063 rows read, 5063 loaded, 3 rows of empty fields only skipped (such as the \",,,,\" lines Excel writes), 2 empty cells at the end of the header ignored"
  check "$label" "run_summary.json does not count the empty rows and header cells" \
    grep -q '"blank_lines": 0, "empty_rows": 3, "empty_header_cells": 2' "$T/excel/run_summary.json"
done
# the same as a gzip file (Excel's file compressed for the night's transfer)
mkdir -p "$T/excelgz" && gzip -n -c "$D/dialects/excel/customers.csv" > "$T/excelgz/customers.csv.gz" && cp "$D/dialects/excel/events.csv" "$T/excelgz/"
RULES_FILE="$(excel_rules 's/"customers.csv", delimiter/"customers.csv.gz", delimiter/' > "$T/excelgz.lua"; echo "$T/excelgz.lua")" \
  DATA="$T/excelgz" run_engine excelgz "$T/excelgz-out" --threads 2
assert_rc excelgz 0
check excelgz "risk_list.csv differs from the twin's" cmp -s "$T/iso/risk_list.csv" "$T/excelgz-out/risk_list.csv"
# the encoding matters: read as Latin-1, the curly quotes of Windows-1252 are other characters
excel_rules 's/windows-1252/latin-1/g' > "$T/latin1.lua"
RULES_FILE="$T/latin1.lua" DATA="$D/dialects/excel" run_engine latin1 "$T/latin1"
assert_rc latin1 0
refute latin1 "Latin-1 read the Windows-1252 quotes as Windows-1252 does" grep -q '“Nord”' "$T/latin1/risk_list.csv"
check latin1 "Latin-1 did not convert ü" grep -q 'Stark; Müller' "$T/latin1/risk_list.csv"
# check --data reads the headers in the declared dialect
run_cli check_excel check "$T/excel.lua" --data "$D/dialects/excel"
assert_rc check_excel 0
check check_excel "check finds problems in the declared Excel files: $OUTPUT" [ "$OUTPUT" = "$T/excel.lua: no problems found" ]

# ---- what each undeclared difference says ----
# a misspelt option is refused, not ignored (the file would then be read as ',')
excel_rules 's/ delimiter = ";",/ delimeter = ";",/' > "$T/typo.lua"
run_cli check_typo check "$T/typo.lua"
assert_rc check_typo 5
assert_out check_typo "typo.lua:11: error: entity: unknown option 'delimeter'; the options are file, name, key, date, columns, required, delimiter, decimal"
assert_out check_typo "typo.lua:26: error: history: unknown option 'delimeter'"
# decimal = "," with the default ',' between fields cannot be: said where it is declared
excel_rules 's/ delimiter = ";",//' > "$T/commas.lua"
RULES_FILE="$T/commas.lua" DATA="$D/dialects/excel" run_engine commas "$T/o"
assert_rc commas 5
assert_err commas "commas.lua:11: entity: 'decimal' and 'delimiter' are both \",\"; an export with a decimal comma is usually separated by \";\": declare delimiter = \";\""
excel_rules 's/ delimiter = ";", decimal = ",", thousands = ".",//' > "$T/nodelim.lua"
RULES_FILE="$T/nodelim.lua" DATA="$D/dialects/excel" run_engine nodelim "$T/o"
assert_rc nodelim 4
assert_err nodelim "customers.csv: missing column(s) customer_id, monthly_fee, name, owner, renewal_date, segment, signup_date, which the rule file declares for 'customers': this file is separated by ';', not ','"
assert_err nodelim "Declare delimiter = \";\" in the rule file's entity { ... } for this input"
assert_one_error nodelim
run_cli check_nodelim check "$T/nodelim.lua" --data "$D/dialects/excel"
assert_rc check_nodelim 5
check check_nodelim "check does not say one finding per file: $OUTPUT" [ "$(tail -n 1 <<<"$OUTPUT")" = "2 error(s), 0 warning(s)" ]
assert_out check_nodelim "customers.csv is not comma-separated: its header is one column, 'customer_id;name;segment;region;plan;signup_date;renewal_date;monthly_fee;owner;' — this file is separated by ';': declare delimiter = \";\" in its entity { ... }"
excel_rules 's/ date_format = "%d\/%m\/%Y",//' > "$T/nodate.lua"
RULES_FILE="$T/nodate.lua" DATA="$D/dialects/excel" run_engine nodate "$T/o"
assert_rc nodate 4
assert_err nodate "customers.csv:2: column signup_date: not a date (expected YYYY-MM-DD, e.g. 2026-03-31). Declare the form the export writes for this input: date_format = \"%d/%m/%Y\": \"23/12/2025\""
# 01/02/2026 fits both orders: both are named, neither is chosen
printf 'customer_id;signup_date;monthly_fee\r\nC1;01/02/2026;1\r\n' > "$T/ambiguous.csv"
mkdir -p "$T/amb" && mv "$T/ambiguous.csv" "$T/amb/customers.csv"
cat > "$T/amb.lua" <<'LUA'
entity { file = "customers.csv", key = "customer_id", delimiter = ";", columns = { signup_date = "date", monthly_fee = "decimal" } }
output { file = "out.csv", columns = { "customer_id", "signup_date" } }
LUA
RULES_FILE="$T/amb.lua" DATA="$T/amb" run_engine amb "$T/o"
assert_rc amb 4
assert_err amb "date_format = \"%d/%m/%Y\" or \"%m/%d/%Y\" (the engine never guesses between them: check which one the export writes)"
excel_rules 's/ decimal = ",", thousands = ".",//' > "$T/nodec.lua"
RULES_FILE="$T/nodec.lua" DATA="$D/dialects/excel" run_engine nodec "$T/o"
assert_rc nodec 4
assert_err nodec "customers.csv:2: column monthly_fee: not a decimal number (expected digits with an optional sign and '.', e.g. -12.50). If the export writes a decimal comma (19,95), declare decimal = \",\" for this input: \"19,95\""
excel_rules 's/ thousands = ".",//' > "$T/noth.lua"
RULES_FILE="$T/noth.lua" DATA="$D/dialects/excel" run_engine noth "$T/o"
assert_rc noth 4
assert_err noth "customers.csv:7: column monthly_fee: not a decimal number in the declared form"
assert_err noth "if the export writes 1.234,50, declare thousands = \".\" too: \"1.200,92\""
# not UTF-8 and no encoding declared: the run stops, whatever --max-rejects allows
excel_rules 's/ encoding = "windows-1252",//' > "$T/noenc.lua"
for extra in "" "--max-rejects 1000 --max-reject-share 100"; do
  RULES_FILE="$T/noenc.lua" DATA="$D/dialects/excel" run_engine "noenc $extra" "$T/o" $extra
  assert_rc "noenc $extra" 4
  assert_err "noenc $extra" "customers.csv:2: column name: not UTF-8 text: byte 0xF8 at byte 2 of \"S\\xF8ren M\\xFCller & S\\xF6hne\". The file is in another encoding: declare it for this input, e.g. encoding = \"windows-1252\""
  assert_one_error "noenc $extra"
done
# a UTF-8 file with a byte order mark reads as one without
mkdir -p "$T/bom"
for f in customers events; do { printf '\xEF\xBB\xBF'; zcat "$D/dialects/iso/$f.csv.gz"; } | gzip -n > "$T/bom/$f.csv.gz"; done
DATA="$T/bom" run_engine bom "$T/bom-out"
assert_rc bom 0
check bom "risk_list.csv differs with a BOM" cmp -s "$T/iso/risk_list.csv" "$T/bom-out/risk_list.csv"

# ---- customers.csv for customers.csv.gz, and "did you mean" ----
mkdir -p "$T/plain"
zcat "$D/dialects/iso/customers.csv.gz" > "$T/plain/customers.csv"
cp "$D/dialects/iso/events.csv.gz" "$T/plain/"
DATA="$T/plain" run_engine plain "$T/plain-out"
assert_rc plain 0
assert_err plain "defector: note: customers.csv.gz is not in $T/plain; reading customers.csv instead"
check plain "risk_list.csv differs when read from customers.csv" cmp -s "$T/iso/risk_list.csv" "$T/plain-out/risk_list.csv"
run_cli check_plain check "$RULES" --data "$T/plain"
assert_rc check_plain 0
check check_plain "check does not read customers.csv for customers.csv.gz: $OUTPUT" [ "$OUTPUT" = "$RULES: no problems found" ]
mv "$T/plain/customers.csv" "$T/plain/Customers.CSV"
DATA="$T/plain" run_engine didyoumean "$T/plain-out"
assert_rc didyoumean 3
assert_err didyoumean "customers.csv.gz: no such file in the data folder; did you mean Customers.CSV? Rename the file or fix file = \"customers.csv.gz\" in the rule file"

# ---- real exports, as they are ----
# the numbers of a file computed by Python's csv module (an independent reader)
py_retail() {
  $PY - "$1" "$2" <<'PY'
import csv, gzip, sys, datetime
from decimal import Decimal
rows = list(csv.DictReader(gzip.open(sys.argv[1], 'rt', encoding='utf-8', newline='')))
fmt = sys.argv[2]
by = {}
for r in rows:
    d = datetime.datetime.strptime(r['InvoiceDate'], fmt).date()
    c = by.setdefault(r['Country'], [0, 0, Decimal(0), 0, 0, d, d, 0])
    c[0] += 1; c[1] += int(r['Quantity']); c[2] += Decimal(r['UnitPrice'])
    c[3] += r['InvoiceNo'].startswith('C'); c[4] += r['CustomerID'] == ''
    c[5] = min(c[5], d); c[6] = max(c[6], d); c[7] += d <= datetime.date(2010, 12, 31)
print('Country,lines,quantity,prices,cancelled,no_customer,first,last,in_2010')
for k in sorted(by, key=lambda s: s.encode()):
    c = by[k]
    p = format(c[2].normalize(), 'f')
    print(','.join([k, str(c[0]), str(c[1]), p, str(c[3]), str(c[4]), str(c[5]), str(c[6]), str(c[7])]))
PY
}
RULES_FILE="$REPO_DIR/tests/rules/dialects/online_retail.lua" DATA="$D/online-retail" AS_OF=2011-12-31 run_engine retail "$T/retail"
assert_rc retail 0
assert_err retail "online-retail-all.csv.gz: 3613 rows read, 3613 loaded"
py_retail "$D/online-retail/online-retail-all.csv.gz" "%Y-%m-%d %H:%M:%S" > "$T/retail-py.csv"
check retail "countries.csv differs from Python's count: $(diff "$T/retail-py.csv" "$T/retail/countries.csv" | head -5)" \
  cmp -s "$T/retail-py.csv" "$T/retail/countries.csv"
check retail "the cut has no line without a CustomerID" grep -q '^United Kingdom,[0-9]*,[0-9]*,[0-9.]*,[0-9]*,[1-9]' "$T/retail/countries.csv"
# the original UCI form of the date, 12/1/2010 8:26: the same outputs
mkdir -p "$T/uci" && cp "$D/online-retail/online-retail-uci.csv.gz" "$T/uci/online-retail-all.csv.gz"
sed 's|date_format = "%Y-%m-%d %H:%M:%S"|date_format = "%m/%d/%Y %H:%M"|' "$REPO_DIR/tests/rules/dialects/online_retail.lua" > "$T/uci.lua"
for t in 1 3; do
  RULES_FILE="$T/uci.lua" DATA="$T/uci" AS_OF=2011-12-31 run_engine uci "$T/uci-out" --threads $t --parse-block-kb 4
  assert_rc "uci --threads $t" 0
  check "uci --threads $t" "countries.csv differs between the UCI and the ISO form of the date" cmp -s "$T/retail/countries.csv" "$T/uci-out/countries.csv"
done
py_retail "$D/online-retail/online-retail-uci.csv.gz" "%m/%d/%Y %H:%M" > "$T/uci-py.csv"
check uci "Python reads the UCI form otherwise" cmp -s "$T/retail-py.csv" "$T/uci-py.csv"
# without the format: every row refused, with the format to declare
sed '/date_format/d' "$REPO_DIR/tests/rules/dialects/online_retail.lua" > "$T/retail-nofmt.lua"
RULES_FILE="$T/retail-nofmt.lua" DATA="$D/online-retail" AS_OF=2011-12-31 run_engine retail_nofmt "$T/o"
assert_rc retail_nofmt 4
assert_err retail_nofmt "date_format = \"%Y-%m-%d %H:%M:%S\"; a time of day is checked and dropped, the date kept: \"2010-12-01 08:26:00\""

# IBM Telco: no name = for Telco-Customer-Churn.csv; TotalCharges " " read as empty
RULES_FILE="$REPO_DIR/tests/rules/dialects/telco.lua" DATA="$D/telco-churn" run_engine telco "$T/telco"
assert_rc telco 0
assert_err telco "scored 1207 Telco_Customer_Churn"
$PY - "$D/telco-churn/Telco-Customer-Churn.csv" > "$T/telco-py.csv" <<'PY'
import csv, sys
from decimal import Decimal
by = {}
for r in csv.DictReader(open(sys.argv[1], newline='', encoding='utf-8')):
    c = by.setdefault((r['Contract'], r['Churn']), [0, 0, Decimal(0), Decimal(0), 0])
    c[0] += 1; c[1] += r['TotalCharges'].strip() == ''
    c[2] += Decimal(r['MonthlyCharges']); c[3] += Decimal(r['TotalCharges'].strip() or 0); c[4] += int(r['tenure'])
print('Contract,Churn,customers,no_total,monthly,total,tenure')
for k in sorted(by):
    c = by[k]
    print(','.join(list(k) + [str(c[0]), str(c[1]), format(c[2].normalize(), 'f'), format(c[3].normalize(), 'f'), str(c[4])]))
PY
check telco "churn_by_contract.csv differs from Python's: $(diff "$T/telco-py.csv" "$T/telco/churn_by_contract.csv" | head -5)" \
  cmp -s "$T/telco-py.csv" "$T/telco/churn_by_contract.csv"
check telco "the 11 blank TotalCharges are not counted as empty" [ "$(awk -F, 'NR > 1 { n += $4 } END { print n }' "$T/telco/churn_by_contract.csv")" = 11 ]
run_cli check_telco check "$REPO_DIR/tests/rules/dialects/telco.lua" --data "$D/telco-churn"
assert_rc check_telco 0
check check_telco "check finds problems in the Telco rule file: $OUTPUT" [ "$OUTPUT" = "$REPO_DIR/tests/rules/dialects/telco.lua: no problems found" ]
# a file name that gives no table name: one finding, not one for each use of the table
$PY - "$REPO_DIR/tests/rules/dialects/online_retail.lua" > "$T/noname.lua" <<'PY'
import sys
s = open(sys.argv[1]).read()
i = s.index('local lines = history {')
print(s[:i] + s[i:].replace('online-retail-all.csv.gz', '---.csv.gz', 1), end='')
PY
run_cli check_noname check "$T/noname.lua"
assert_rc check_noname 5
check check_noname "check does not give one finding: $OUTPUT" [ "$OUTPUT" = "$T/noname.lua:13: error: history: no table name can be made from the file name \"---.csv.gz\"; add name = \"...\"
1 error(s), 0 warning(s)" ]
sed '/blank_is_empty/d' "$REPO_DIR/tests/rules/dialects/telco.lua" > "$T/telco-noblank.lua"
RULES_FILE="$T/telco-noblank.lua" DATA="$D/telco-churn" run_engine telco_noblank "$T/o"
assert_rc telco_noblank 4
assert_err telco_noblank "column TotalCharges: not a decimal number (expected digits with an optional sign and '.', e.g. -12.50): the cell holds only spaces; if blank cells mean empty, declare blank_is_empty = true for this input"

# CDNOW's log as published: columns aligned with spaces, CRLF, yyyymmdd
$PY - "$D/cdnow/CDNOW_master.txt" > "$T/cdnow-py.csv" <<'PY'
import sys
from decimal import Decimal
lines = open(sys.argv[1], newline='').read().split('\r\n')
head, rows = lines[0].split(), [l.split() for l in lines[1:] if l.strip()]
first, by = {}, {}
for r in rows:
    first[r[0]] = min(first.get(r[0], r[1]), r[1])
for r in rows:
    g = by.setdefault(first[r[0]][:4] + '-' + first[r[0]][4:6], [set(), 0, 0, Decimal(0), 0])
    g[0].add(r[0]); g[1] += 1; g[2] += int(r[2]); g[3] += Decimal(r[3]); g[4] += r[1] <= '19971231'
print('cohort,customers,purchases,cds,dollars,in_1997')
for k in sorted(by):
    g = by[k]
    print(','.join([k, str(len(g[0])), str(g[1]), str(g[2]), format(g[3].quantize(Decimal('0.01')), 'f'), str(g[4])]))
PY
for way in "--threads 1" "--threads 3 --parse-block-kb 1"; do
  RULES_FILE="$REPO_DIR/tests/rules/dialects/cdnow.lua" DATA="$D/cdnow" AS_OF=1998-07-31 run_engine cdnow "$T/cdnow" $way
  assert_rc "cdnow $way" 0
  assert_err "cdnow $way" "CDNOW_master.txt: 3316 rows read, 3316 loaded"
  check "cdnow $way" "cohorts.csv differs from Python's: $(diff "$T/cdnow-py.csv" "$T/cdnow/cohorts.csv" | head -5)" \
    cmp -s "$T/cdnow-py.csv" "$T/cdnow/cohorts.csv"
done
check cdnow "the cut does not hold 1000 customers" grep -q '^1997-01,966,' "$T/cdnow/cohorts.csv"
run_cli check_cdnow check "$REPO_DIR/tests/rules/dialects/cdnow.lua" --data "$D/cdnow"
assert_rc check_cdnow 0
# undeclared: one finding that says the columns are aligned with spaces
sed '/delimiter = "spaces"/d' "$REPO_DIR/tests/rules/dialects/cdnow.lua" > "$T/cdnow-comma.lua"
run_cli check_cdnow_comma check "$T/cdnow-comma.lua" --data "$D/cdnow"
assert_rc check_cdnow_comma 5
assert_out check_cdnow_comma "CDNOW_master.txt is not comma-separated: its header is one column, ' customer_id  date number_of_cds  dollar_value'"
RULES_FILE="$T/cdnow-comma.lua" DATA="$D/cdnow" AS_OF=1998-07-31 run_engine cdnow_comma "$T/o"
assert_rc cdnow_comma 4
assert_err cdnow_comma "If the columns are aligned with spaces, declare delimiter = \"spaces\" in the rule file's entity { ... } for this input"

finish
