#!/usr/bin/env bash
# The morning report (report { } in the rule file; engine/lua/report.lua, charts.lua):
#   - the reference job's report.html of the sample data, opened in headless Chromium
#     (tests/fixtures/report_browser.py): no console error, no network request, no sideways
#     scrolling at 390 px, figures, every chart's marks and the tables' cells equal to the CSV
#     files, text alternatives, WCAG AA contrast, A4 print without cut charts; screenshots at
#     1280 and 390 px and the PDF kept in build/test-artifacts/report/;
#   - the checker itself fails on a page with each of those faults put in (a negative control);
#   - the same bytes for --threads 1 to 4;
#   - a CSV output with ';' and decimal commas shown with its own cells; an optional section
#     whose output this run does not write left out, one whose output it writes shown;
#   - mistakes in report { } found by check, with their line and a fix.
source "$TESTS_DIR/fixtures/lib.sh"
PY=/usr/bin/python3
BROWSER="$TESTS_DIR/fixtures/report_browser.py"
ART="$BUILD_DIR/test-artifacts/report"
rm -rf "$ART" && mkdir -p "$ART"

# --- the reference job's report, the same bytes for every thread count ----------------------
for t in 1 2 3 4; do
  DATA="$REPO_DIR/sample-data" run_engine "sample$t" "$T/out$t" --threads $t
  assert_rc "sample$t" 0
done
for t in 2 3 4; do
  check "threads$t" "report.html differs between --threads 1 and $t" cmp "$T/out1/report.html" "$T/out$t/report.html"
done
check manifest "report.html is not in the committed set: $(cat "$T/out1/.defector-manifest")" grep -qx report.html "$T/out1/.defector-manifest"
refute staged "the staging folder is left behind" test -e "$T/out1/.defector-staging"

# --- in the browser ---------------------------------------------------------------------------
OUT=$(timeout 120 $PY "$BROWSER" "$T/out1/report.html" "$ART" 2>&1)
check browser "the report fails in Chromium:
$OUT" [ $? = 0 ]
echo "$OUT" | tail -1
for f in report-1280.png report-1280-top.png report-390.png report.pdf; do
  check "artifact $f" "no $f in $ART" test -s "$ART/$f"
done

# --- negative control: each fault the checker looks for, put into a copy of the page ---------
mkdir -p "$T/bad"
cp "$T/out1"/*.csv "$T/bad/"
$PY - "$T/out1/report.html" "$T/bad/report.html" <<'PY'
import sys
s = open(sys.argv[1], encoding="utf-8").read()
s = s.replace("</main>", '<section class="card"><h2>faults</h2><img src="http://192.0.2.1/logo.png" alt="">'
              '<div style="width:900px">a wide box</div><p style="color:#b0b0b0">faint text</p>'
              '<script>console.error("boom")</script></section></main>', 1)
s = s.replace("</style>", "figure{break-inside:auto!important;page-break-inside:auto!important}</style>", 1)
s = s.replace('data-row="2" data-column="customers" data-value="242"', 'data-row="2" data-column="customers" data-value="243"', 1)
s = s.replace('<span class="v">2,830</span>', '<span class="v">2,831</span>', 1)
s = s.replace('<td data-column="cohort">2023-Q1</td>', '<td data-column="cohort">2023-Q2</td>', 1)
open(sys.argv[2], "w", encoding="utf-8").write(s)
PY
BAD=$(timeout 120 $PY "$BROWSER" "$T/bad/report.html" "$T/bad-art" 2>&1)
check bad_rc "the checker passed a page with faults: $BAD" [ $? = 1 ]
for want in "network request: http://192.0.2.1/logo.png" "at 390 px the page scrolls sideways" "console error: boom" \
  "contrast" "has break-inside auto, not avoid" "chart Customers by segment and risk band: its marks" \
  "figure customers shows '2,831'" "column cohort shows '2023-Q2', the CSV '2023-Q1'"; do
  check "bad: $want" "the checker did not report '$want' on the faulty page:
$BAD" grep -qF "$want" <<<"$BAD"
done

# --- another dialect, optional sections -------------------------------------------------------
make_data "$T/data"
cat > "$T/dialect.lua" <<'LUA'
entity { file = "customers.csv.gz", key = "customer_id",
  columns = { customer_id = "text", segment = "category", monthly_fee = "decimal" } }
metrics { file = "fees.csv", group_by = { "segment" }, separator = ";", decimal_comma = true,
  columns = { "segment", { "fee", sum("monthly_fee", 2) }, { "customers", count() } } }
metrics { file = "total.csv", columns = { { "share", function(row) return 0.125 end }, { "fee", sum("monthly_fee", 2) } } }
report { file = "r.html", title = "Fees <&>", sections = {
  { "bars", "Fees per segment", from = "fees.csv", x = "segment", y = "fee" },
  { "figures", "Total", from = "total.csv", percent = { "share" } },
  { "line", "Later nights", from = "trends.csv", x = "night", y = "at_risk", optional = true },
  { "table", "Totals again", from = "total.csv", optional = true },
} }
LUA
RULES_FILE="$T/dialect.lua" run_engine dialect "$T/dialect-out"
assert_rc dialect 0
H="$T/dialect-out/r.html"
check dialect_file "fees.csv is not written with ';' and decimal commas: $(cat "$T/dialect-out/fees.csv")" grep -qx 'enterprise;99;1' "$T/dialect-out/fees.csv"
check dialect_cell "the smb fee should be the cell 49,9 of fees.csv" grep -qF 'data-row="3" data-column="fee" data-value="49,9"' "$H"
check dialect_label "the smb fee should be shown as 49,9" grep -qF '>49,9</text>' "$H"
check percent "0.125 should be shown as 12.5%" grep -qF '<span class="v">12.5%</span>' "$H"
check escaped "the title should be escaped" grep -qF '<h1>Fees &lt;&amp;&gt;</h1>' "$H"
refute optional_absent "the optional section of an output this run does not write is shown" grep -qF 'Later nights' "$H"
check optional_present "the optional section of an output this run writes is missing" grep -qF 'Totals again' "$H"
refute external "the page refers to something outside it" grep -qiE '(src|href)=|@import|url\(' "$H"

# --- mistakes, found by check with their line -------------------------------------------------
line=$(grep -n '^report {' "$RULES" | cut -d: -f1)
bad_rules() { sed "$2" "$RULES" > "$T/$1.lua"; run_cli "$1" check "$T/$1.lua"; }
bad_rules unknown_file 's/from = "metrics_stage.csv"/from = "metrics_stag.csv"/'
assert_rc unknown_file 5
assert_out unknown_file "$T/unknown_file.lua:$line: error: report report.html, section 'The defector pipeline: customers per stage': no output writes 'metrics_stag.csv' — did you mean 'metrics_stage.csv'?"
bad_rules unknown_column 's/x = "cohort", y = "retention_rate"/x = "cohort", y = "retention_rat"/'
assert_out unknown_column "section 'Retention by signup cohort': 'retention_rat' is not a column of metrics_cohort.csv — did you mean 'retention_rate'?"
bad_rules unknown_kind 's/{ "line", "Retention/{ "lines", "Retention/'
assert_out unknown_kind "report report.html: section 5: unknown kind 'lines' — the kinds are figures, bars, funnel, line, table, top (did you mean 'line'?)"
bad_rules grouped_figures 's/{ "figures", "At a glance", from = "metrics_overview.csv",/{ "figures", "At a glance", from = "metrics_segment.csv",/'
assert_out grouped_figures "figures show the one row of a metrics table without group_by; metrics_segment.csv has a row per segment, band"
bad_rules unknown_option 's/series = "band" },/series = "band", colour = "red" },/'
assert_out unknown_option "unknown option 'colour' for bars — a bars section takes from, optional, percent, reverse, series, x, y"
bad_rules split_source 's/from = "risk_list.csv", by = "owner"/from = "calls.csv", by = "owner"/'
cat >> "$T/split_source.lua" <<'LUA'
output { file = "calls.csv", where = at_risk, columns = { "customer_id", "owner" }, split_by = "owner" }
LUA
run_cli split_source check "$T/split_source.lua"
assert_out split_source "'calls.csv' is split by owner into several files — name an output that is not split"
# --- the tables over nights: written before the report, shown by it ---------------------------
cp "$RULES" "$T/nights.lua"
cat >> "$T/nights.lua" <<'LUA'
changes { file = "changes.csv", flows = "flows.csv" }
trend { file = "trend_stage.csv", metrics = "metrics_stage.csv", nights = 30 }
report {
  file = "nightly.html",
  sections = {
    { "table", "Stage and band moves since the previous night", from = "flows.csv" },
    { "bars", "Customers per stage, night by night", from = "trend_stage.csv", x = "as_of", y = "customers", series = "stage" },
  },
}
LUA
run_cli nights-check check "$T/nights.lua"
assert_rc nights-check 0
for d in 2026-10-01 2026-11-01; do
  RULES_FILE="$T/nights.lua" DATA="$REPO_DIR/sample-data" AS_OF=$d run_engine "nights-$d" "$T/nights-out" --history "$T/nights-h"
  assert_rc "nights-$d" 0
done
nights_msg=$($PY - "$T/nights-out" 2>&1 <<'PY'
import csv, sys
from html.parser import HTMLParser
out = sys.argv[1]
class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.src = None; s.rows = {}; s.cell = None; s.marks = {}
    def handle_starttag(s, tag, a):
        a = dict(a)
        if tag == "table" and "data-source" in a: s.src = a["data-source"]; s.rows[s.src] = []
        if tag == "tr" and s.src and "data-row" in a: s.rows[s.src].append([])
        if tag == "td" and s.src: s.cell = ""
        if "data-value" in a and "data-row" in a: s.marks.setdefault(a.get("data-column"), []).append(a["data-value"])
    def handle_endtag(s, tag):
        if tag == "td" and s.cell is not None: s.rows[s.src][-1].append(s.cell); s.cell = None
        if tag == "table": s.src = None
    def handle_data(s, d):
        if s.cell is not None: s.cell += d
p = P(); p.feed(open(out + "/nightly.html", encoding="utf-8").read())
flows = list(csv.reader(open(out + "/flows.csv")))[1:]
assert len(flows) > 0, "flows.csv is empty on the second night"
got = [[c.replace(",", "") for c in r] for r in p.rows["flows.csv"]]
assert got == flows, (got[:3], flows[:3])
trend = list(csv.DictReader(open(out + "/trend_stage.csv")))
assert {r["as_of"] for r in trend} == {"2026-10-01", "2026-11-01"}, "trend holds two nights"
assert sorted(p.marks["customers"], key=int) == sorted((r["customers"] for r in trend), key=int), "trend marks"
PY
)
nights_rc=$?
check nights "the report's tables over nights are not the CSV files' rows: $nights_msg" [ "$nights_rc" = 0 ]
run_cli shipped check "$RULES"
check shipped "check finds problems in the shipped rule file: $OUTPUT" [ "$RC" = 0 ]
finish
