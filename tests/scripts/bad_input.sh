#!/usr/bin/env bash
# Every bad input of the run contract, one at a time, into an output folder that holds a good
# run's outputs: the right exit code (4 data, 3 input file, 5 rule file), ONE message on stderr
# naming the file and line (the column for a type error; the rule and the customer for a rule
# that fails) with the offending text, and the output folder byte for byte as it was, with no
# temporary file left. Then --on-rule-error skip (the failure listed in rule_errors.csv) and
# --max-rejects: rows set aside in rejects.csv, and a run with more bad rows than allowed
# failing without touching the outputs.
source "$TESTS_DIR/fixtures/lib.sh"
make_data4 "$T/data"
OUT="$T/out"
RULES_DIR="$TESTS_DIR/rules/rule_errors"

run_engine good "$OUT"
assert_rc good 0
check good "no risk_list.csv after a good run; stderr: $ERR" test -s "$OUT/risk_list.csv"
snapshot "$OUT" "$T/snap.good"

# bad_data LABEL FILE CONTENT: a copy of the good data with FILE replaced by CONTENT, gzipped
bad_data() {
  local d
  d=$(copy_data "data-$1")
  write_gz "$d/$2" "$3"
  DATA="$d" run_engine "$1" "$OUT"
}
# bad_gzip LABEL FILE PYTHON: FILE's bytes are `data` in PYTHON, which writes `out`
bad_gzip() {
  local d
  d=$(copy_data "data-$1")
  python3 - "$d/$2" <<PY || fail "$1" "could not make the damaged gzip file"
import gzip, sys, random
path = sys.argv[1]
data = open(path, 'rb').read()
$3
open(path, 'wb').write(bytes(out))
PY
  DATA="$d" run_engine "$1" "$OUT"
}
# refused LABEL RC TEXT...: exit code RC, one error message holding every TEXT, OUT unchanged
refused() {
  local label=$1 rc=$2; shift 2
  assert_rc "$label" "$rc"
  for s in "$@"; do assert_err "$label" "$s"; done
  assert_one_error "$label"
  assert_unchanged "$label" "$OUT" "$T/snap.good"
}

C1=$'C1,"Smith, Ann",smb,eu,basic,2026-09-01,2026-12-01,49.90,bob\n'
E_OK=$'C1,2026-09-10,login,,web,\nC2,2026-10-01,complaint,,phone,"bad\nservice"\n' # lines 2-4

# --- malformed CSV -----------------------------------------------------------------------
bad_data unterminated_quote customers.csv.gz "$C_HEAD"$'\n'"$C1"$'C2,"Bo,consumer,us,pro,2020-01-15,,9.9,\nC3,X,smb,eu,basic,2024-02-29,,99,ann\n'
refused unterminated_quote 4 "customers.csv.gz:3" "unterminated quoted field" 'C2,"Bo'

# the record starts on line 5, after a quoted note that spans lines 3-4
bad_data unterminated_quote_events events.csv.gz "$E_HEAD"$'\n'"$E_OK"$'C2,2026-10-05,complaint,,phone,"never closed\nC3,2026-10-20,voicemail,,,\n'
refused unterminated_quote_events 4 "events.csv.gz:5" "unterminated quoted field" '"never closed'

bad_data stray_quote customers.csv.gz "$C_HEAD"$'\n'"$C1"$'C2,Ann "the" boss,consumer,us,pro,2020-01-15,,9.9,\n'
refused stray_quote 4 "customers.csv.gz:3" "malformed quoting" 'Ann "the'

bad_data too_many_fields customers.csv.gz "$C_HEAD"$'\n'"$C1"$'C2,José,consumer,us,pro,2020-01-15,,9.9,,extra\n'
refused too_many_fields 4 "customers.csv.gz:3" "wrong number of fields" "extra"

bad_data too_few_fields events.csv.gz "$E_HEAD"$'\n'"$E_OK"$'C2,2026-10-05,complaint,,phone,\nC3,2026-10-20,voicemail\n'
refused too_few_fields 4 "events.csv.gz:6" "wrong number of fields: the header has 6, this row has 3" "C3,2026-10-20,voicemail"

# --- a value that is not of its column's type --------------------------------------------
bad_data bad_decimal customers.csv.gz "$C_HEAD"$'\n'"$C1"$'C2,José,consumer,us,pro,2020-01-15,,"12,5x",\n'
refused bad_decimal 4 "customers.csv.gz:3: column monthly_fee" '"12,5x"' "not a decimal number" "--max-rejects"

bad_data bad_date customers.csv.gz "$C_HEAD"$'\n'"$C1"$'C2,José,consumer,us,pro,2020-01-15,,9.9,\nC3,X,enterprise,us,pro,2026-02-30,,99,ann\n'
refused bad_date 4 "customers.csv.gz:4: column signup_date" '"2026-02-30"'

bad_data bad_event_date events.csv.gz "$E_HEAD"$'\n'"$E_OK"$'C2,2026/10/05,complaint,,phone,\n'
refused bad_event_date 4 "events.csv.gz:5: column event_date" '"2026/10/05"'

bad_data bad_amount events.csv.gz "$E_HEAD"$'\n'"$E_OK"$'C2,2026-10-06,nps,three,,\n'
refused bad_amount 4 "events.csv.gz:5: column amount" '"three"'

bad_data too_precise customers.csv.gz "$C_HEAD"$'\n'"$C1"$'C2,José,consumer,us,pro,2020-01-15,,9.1234567,\n'
refused too_precise 4 "customers.csv.gz:3: column monthly_fee" '"9.1234567"'

# --- missing required column ------------------------------------------------------------
bad_data missing_column customers.csv.gz $'customer_id,name,segment,region,plan,signup_date,renewal_date,owner\nC1,Ann,smb,eu,basic,2026-09-01,,bob\n'
refused missing_column 4 "customers.csv.gz" "missing column(s) monthly_fee" \
  "The header has: customer_id, name, segment, region, plan, signup_date, renewal_date, owner"

bad_data missing_key_column events.csv.gz $'id,event_date,event_type,amount,channel,note\nC1,2026-09-10,login,,web,\n'
refused missing_key_column 4 "events.csv.gz" "missing column(s) customer_id"

# --- gzip: truncated, corrupt; missing file ----------------------------------------------
bad_gzip truncated_gzip events.csv.gz 'out = data[:len(data) // 2]'
refused truncated_gzip 3 "events.csv.gz" "truncated gzip"

bad_gzip truncated_trailer events.csv.gz 'out = data[:-4]'
refused truncated_trailer 3 "events.csv.gz" "truncated gzip"

# a large file cut short: read by several threads, block by block
bad_gzip truncated_big events.csv.gz '
random.seed(7)
rows = "".join("C%d,2026-10-%02d,login,,web,note %d\n" % (i % 4 + 1, i % 28 + 1, random.getrandbits(40)) for i in range(300000))
full = gzip.compress(("customer_id,event_date,event_type,amount,channel,note\n" + rows).encode(), 6)
out = full[:int(len(full) * 0.7)]'
refused truncated_big 3 "events.csv.gz" "truncated gzip"

bad_gzip corrupt_gzip customers.csv.gz '
out = bytearray(data)
for k in range(14, len(out) - 12): out[k] ^= 0x5A'
refused corrupt_gzip 3 "customers.csv.gz" "corrupt gzip"

bad_gzip corrupt_crc events.csv.gz '
out = bytearray(data)
out[-6] ^= 0x01'
refused corrupt_crc 3 "events.csv.gz" "corrupt gzip"

# a larger file with damaged bytes inside its compressed data
bad_gzip corrupt_big events.csv.gz '
rows = "".join("C%d,2026-10-%02d,login,,web,note %d\n" % (i % 3 + 1, i % 28 + 1, i) for i in range(20000))
out = bytearray(gzip.compress(("customer_id,event_date,event_type,amount,channel,note\n" + rows).encode()))
for k in range(200, 260): out[k] ^= 0x5A'
refused corrupt_big 3 "events.csv.gz" "corrupt gzip"

d=$(copy_data data-missing_file)
rm -f "$d/events.csv.gz"
DATA="$d" run_engine missing_file "$OUT"
refused missing_file 3 "events.csv.gz: cannot open the file"

# --- rule file errors (tests/rules/rule_errors/valid.lua, and rules/retention.lua, each with
# one line changed) ----------------------------------------------------------------------
# lines as they are in rules/retention.lua
L_SCORE=$(grep -n '^score(function' "$RULES" | cut -d: -f1)
L_BANDS=$(grep -n '^bands' "$RULES" | cut -d: -f1)
L_COMPLAINTS=$(grep -n 'return c.complaints_90 >= 2 end' "$RULES" | cut -d: -f1)
RULES_FILE="$T/no-such-rules.lua" run_engine missing_rules "$OUT"
refused missing_rules 3 "no-such-rules.lua: cannot read the rule file"

RULES_FILE="$RULES_DIR/valid.lua" run_engine valid_rules "$T/out-valid"
assert_rc valid_rules 0
assert_err valid_rules "to $T/out-valid"

# line 9 without the comma after the points
sed '9s/points = 20, when/points = 20 when/' "$RULES_DIR/valid.lua" > "$T/syntax_error.lua"
RULES_FILE="$T/syntax_error.lua" run_engine syntax_error "$OUT"
refused syntax_error 5 "syntax_error.lua:9:" "syntax error" "near 'when'"

# an unclosed call: the error is found on a later line, and names where the call was opened
sed 's/^score(function(c) return math.min(100, c.points) end)$/score(function(c) return math.min(100, c.points) end/' "$RULES" > "$T/syntax.lua"
RULES_FILE="$T/syntax.lua" run_engine syntax_unclosed "$OUT"
refused syntax_unclosed 5 "syntax.lua:$L_BANDS: syntax error: ')' expected (to close '(' at line $L_SCORE)"

# line 9 reading a field no column, feature or value declares (a typo for complaints_90)
sed '9s/c.complaints_90 >= 2/c.complaint_90 >= 2/' "$RULES_DIR/valid.lua" > "$T/unknown_field.lua"
RULES_FILE="$T/unknown_field.lua" run_engine unknown_field "$OUT"
# found before anything is read: the line, the name, and the name it was probably meant to be
refused unknown_field 5 "unknown_field.lua:9: rule complaints reads c.complaint_90, which is never defined" "did you mean 'complaints_90'?"

sed 's/return c.complaints_90 >= 2 end/return c.complaints_90 >= 2 and c.renewal_date > 0 end/' "$RULES" > "$T/runtime.lua"
RULES_FILE="$T/runtime.lua" run_engine runtime_error "$OUT"
# said in the rule's words: which field held what, for which customer, and how to guard it
refused runtime_error 5 "runtime.lua:$L_COMPLAINTS: rule complaints: c.renewal_date (empty) compared with number 0 (customer_id C2)" \
  "test c.renewal_date ~= nil first"

# an entity table over the column limit, declared after its history: refused, not half declared
python3 - "$RULES" "$T/too_many_columns.lua" <<'PY'
import sys
src = open(sys.argv[1]).read()
cols = "".join('    extra%d = "text",\n' % i for i in range(300))
src = src.replace('    customer_id  = "text",\n', cols + '    customer_id  = "text",\n', 1)
i, j = src.index("entity {"), src.index("local events = history {")
k = src.index("}\n", src.index('required = { "event_date" }')) + 2
open(sys.argv[2], "w").write(src[:i] + src[j:k] + "\n" + src[i:j] + src[k:])
PY
RULES_FILE="$T/too_many_columns.lua" run_engine too_many_columns "$OUT"
refused too_many_columns 5 "too_many_columns.lua: table customers declares 307 columns; at most 256 are supported"

# --on-rule-error skip: the customer gets the other rules; the failure is counted and listed
RULES_FILE="$T/runtime.lua" run_engine skip "$T/out-skip" --on-rule-error skip
assert_rc skip 0
assert_err skip "rule complaints failed for 1 customers and was skipped for them (see rule_errors.csv)"
want=$(printf 'customer_id,rule,where,error,values\nC2,complaints,%s:%s,"c.renewal_date (empty) compared with number 0 — c.renewal_date is empty for this entity: test c.renewal_date ~= nil first, use between(c.renewal_date, lo, hi) (false when empty), or list the column in required","complaints_90 = 2, renewal_date = nil"' "$T/runtime.lua" "$L_COMPLAINTS")
check skip "rule_errors.csv: $(cat "$T/out-skip/rule_errors.csv" 2>/dev/null)" [ "$(cat "$T/out-skip/rule_errors.csv" 2>/dev/null)" = "$want" ]
check skip "run_summary.json rule_errors" grep -q '"complaints": 1' "$T/out-skip/run_summary.json"
refute skip "C2 should score 15 (detractor only) without the failed rule, below the risk list" \
  grep -q "^[0-9]*,C2," "$T/out-skip/risk_list.csv"
run_cli on_rule_error_maybe run "$RULES" --on-rule-error maybe
assert_rc "--on-rule-error maybe" 2

# --- a failed run into a folder that does not exist yet leaves nothing behind -------------
d=$(copy_data data-fresh)
write_gz "$d/customers.csv.gz" "$C_HEAD"$'\n'"$C1"$'C2,José,consumer,us,pro,2020-13-15,,9.9,\n'
DATA="$d" run_engine fresh_out "$T/fresh-out"
assert_rc fresh_out 4
refute fresh_out "a failed run should leave a missing --out folder missing ('left as it was'); found: $(ls -A "$T/fresh-out" 2>/dev/null | tr '\n' ' ')(folder created)" \
  test -e "$T/fresh-out"

# --- --max-rejects ----------------------------------------------------------------------
# 5 malformed rows: customers lines 3 (date), 4-5 (decimal, a name spanning two lines),
# 7 (field count); events lines 3 (decimal), 4 (a quote inside an unquoted field).
d=$(copy_data data-rejects)
write_gz "$d/customers.csv.gz" "$C_HEAD"$'\n'\
$'C1,Ann,smb,eu,basic,2026-09-01,2026-12-01,49.90,bob\n'\
$'C2,Bo,smb,eu,basic,2026-13-01,,9.9,bob\n'\
$'C3,"Cy\nD",smb,eu,basic,2026-09-01,,1.5x,bob\n'\
$'C4,Di,smb,eu,basic,2025-05-05,,7,\n'\
$'C5,Ed,smb,eu,basic,2025-05-05,,7\n'
write_gz "$d/events.csv.gz" "$E_HEAD"$'\n'\
$'C1,2026-09-10,login,,web,\n'\
$'C4,2026-10-01,nps,ten,,\n'\
$'C4,2026-10-02,login,,web,say "hi" there\n'\
$'C4,2026-10-03,complaint,,web,\n'
DATA="$d" run_engine max_rejects "$OUT" --max-rejects 5 --max-reject-share 100 # (60% and 50%: guards.sh has the share)
assert_rc max_rejects 0
assert_err max_rejects "customers.csv.gz: 5 rows read, 2 loaded, 3 rejected (see rejects.csv)"
assert_err max_rejects "events.csv.gz: 4 rows read, 2 loaded, 2 rejected (see rejects.csv)"
check max_rejects "rejects.csv is not as expected (see above)" python3 - "$OUT/rejects.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8')))
ok = True
def bad(msg):
    global ok
    ok = False
    print("  rejects.csv: " + msg)
if not rows or rows[0] != ['file', 'line', 'column', 'reason', 'raw']:
    bad("header: expected file,line,column,reason,raw, got %r" % (rows[:1],))
body = sorted(rows[1:], key=lambda r: (r[0], int(r[1]) if r[1:] and r[1].isdigit() else 0))
# file, line, column (None: not checked), text the reason must hold, raw
want = [
    ('customers.csv.gz', '3', 'signup_date', '', 'C2,Bo,smb,eu,basic,2026-13-01,,9.9,bob'),
    ('customers.csv.gz', '4', 'monthly_fee', '', 'C3,"Cy\nD",smb,eu,basic,2026-09-01,,1.5x,bob'),
    ('customers.csv.gz', '7', '', 'wrong number of fields', 'C5,Ed,smb,eu,basic,2025-05-05,,7'),
    ('events.csv.gz', '3', 'amount', '', 'C4,2026-10-01,nps,ten,,'),
    ('events.csv.gz', '4', None, '', 'C4,2026-10-02,login,,web,say "hi" there'),
]
if len(body) != len(want):
    bad("expected %d rows, got %d: %r" % (len(want), len(body), body))
for got, w in zip(body, want):
    if len(got) != 5:
        bad("row %r has %d fields, expected 5" % (got, len(got))); continue
    f, line, col, reason, raw = got
    if (f, line) != w[:2]: bad("expected file,line %s,%s, got %s,%s" % (w[0], w[1], f, line))
    if w[2] is not None and col != w[2]: bad("%s:%s: column expected %r, got %r" % (f, line, w[2], col))
    if not reason.strip(): bad("%s:%s: empty reason" % (f, line))
    if w[3] not in reason: bad("%s:%s: reason expected to contain %r, got %r" % (f, line, w[3], reason))
    if raw.rstrip('\r\n') != w[4]: bad("%s:%s: raw expected %r, got %r" % (f, line, w[4], raw))
sys.exit(0 if ok else 1)
PY
check max_rejects "run_summary.json does not count the rejected rows" python3 - "$OUT/run_summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
ins = {i["table"]: i for i in s["inputs"]}
assert s["rows_rejected"] == 5, s["rows_rejected"]
assert ins["customers"]["rows_rejected"] == 3 and ins["customers"]["rows_loaded"] == 2, ins["customers"]
assert ins["events"]["rows_rejected"] == 2 and ins["events"]["rows_loaded"] == 2, ins["events"]
assert s["outputs"]["rejects.csv"]["rows"] == 5, s["outputs"]
PY
refute max_rejects "a rejected customer is in risk_list.csv" grep -q "^[0-9]*,C[235]," "$OUT/risk_list.csv"
snapshot "$OUT" "$T/snap.rejects"

# one more malformed row (events line 6) than --max-rejects 5 allows
d2=$(copy_data data-too-many)
cp "$d/customers.csv.gz" "$d2/customers.csv.gz"
write_gz "$d2/events.csv.gz" "$E_HEAD"$'\n'\
$'C1,2026-09-10,login,,web,\n'\
$'C4,2026-10-01,nps,ten,,\n'\
$'C4,2026-10-02,login,,web,say "hi" there\n'\
$'C4,2026-10-03,complaint,,web,\n'\
$'C4,2026-10-32,complaint,,web,\n'
DATA="$d2" run_engine too_many_rejects "$OUT" --max-rejects 5 --max-reject-share 100
assert_rc too_many_rejects 4
assert_err too_many_rejects "events.csv.gz:6"
assert_err too_many_rejects "more than --max-rejects 5 allows"
assert_err too_many_rejects "2026-10-32"
assert_one_error too_many_rejects
assert_unchanged too_many_rejects "$OUT" "$T/snap.rejects"

finish
