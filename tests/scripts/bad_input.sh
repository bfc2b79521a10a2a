#!/usr/bin/env bash
# Each bad input of the engine's contract: one clear message naming where (file, line, column
# or rule), the right exit code, and the previous outputs left exactly as they were.
source "$TESTS_DIR/fixtures/lib.sh"
make_data "$T/data"
OUT="$T/out"
run_engine "$OUT"
expect_rc 0 "good run"
snapshot "$OUT" "$T/snap.good"

# bad_case LABEL RC FILE CONTENT... : writes CONTENT (printf format) gzipped into a copy of the data
bad_data() {
  local label=$1 file=$2 content=$3
  rm -rf "$T/bad" && cp -r "$T/data" "$T/bad"
  printf "$content" | gzip -n > "$T/bad/$file"
  DATA="$T/bad" run_engine "$OUT"
}
C_HEAD='customer_id,name,segment,region,plan,signup_date,renewal_date,monthly_fee,owner\n'
E_HEAD='customer_id,event_date,event_type,amount,channel,note\n'

bad_data unterminated events.csv.gz "${E_HEAD}C1,2026-09-10,login,,web,\nC2,2026-10-01,complaint,,phone,\"never closed\nC2,2026-10-05,login,,,\n"
expect_rc 4 unterminated; expect_err "events.csv.gz:3" unterminated; expect_err "unterminated quoted field" unterminated
unchanged "$OUT" "$T/snap.good" unterminated

bad_data bad_decimal customers.csv.gz "${C_HEAD}C1,Ann,smb,eu,basic,2026-09-01,,49.90,bob\nC2,Bo,smb,eu,basic,2026-09-01,,\"12,5x\",bob\n"
expect_rc 4 bad_decimal; expect_err "customers.csv.gz:3: column monthly_fee" bad_decimal
expect_err '"12,5x"' bad_decimal; expect_err "not a decimal number" bad_decimal; expect_err "--max-rejects" bad_decimal
unchanged "$OUT" "$T/snap.good" bad_decimal

bad_data bad_date events.csv.gz "${E_HEAD}C1,2026-09-10,login,,web,\nC1,2026-02-30,login,,web,\n"
expect_rc 4 bad_date; expect_err "events.csv.gz:3: column event_date" bad_date; expect_err '"2026-02-30"' bad_date
unchanged "$OUT" "$T/snap.good" bad_date

bad_data field_count events.csv.gz "${E_HEAD}C1,2026-09-10,login,,web,\nC1,2026-09-10,login,,web,\"multi\nline\"\nC1,2026-09-11,login,,web\n"
expect_rc 4 field_count; expect_err "events.csv.gz:5" field_count; expect_err "wrong number of fields: the header has 6, this row has 5" field_count
unchanged "$OUT" "$T/snap.good" field_count

bad_data bad_quote customers.csv.gz "${C_HEAD}C1,Ann \"the\" boss,smb,eu,basic,2026-09-01,,49.90,bob\n"
expect_rc 4 bad_quote; expect_err "customers.csv.gz:2" bad_quote; expect_err "malformed quoting" bad_quote
unchanged "$OUT" "$T/snap.good" bad_quote

bad_data missing_column events.csv.gz 'customer_id,event_date,event_kind,amount\nC1,2026-09-10,login,\n'
expect_rc 4 missing_column; expect_err "missing column(s) event_type" missing_column
expect_err "The header has: customer_id, event_date, event_kind, amount" missing_column
unchanged "$OUT" "$T/snap.good" missing_column

# truncated and corrupt gzip: real gzip streams, cut short or damaged
rm -rf "$T/bad" && cp -r "$T/data" "$T/bad"
python3 -c "
import gzip, random
random.seed(3)
rows = ''.join('C%d,2026-10-%02d,login,,web,note %d\n' % (i % 3 + 1, i % 28 + 1, random.random() * 1e9) for i in range(20000))
data = gzip.compress(('customer_id,event_date,event_type,amount,channel,note\n' + rows).encode())
open('$T/bad/events.csv.gz', 'wb').write(data[:len(data) // 2])
"
DATA="$T/bad" run_engine "$OUT"
expect_rc 3 truncated; expect_err "events.csv.gz" truncated; expect_err "truncated gzip" truncated
unchanged "$OUT" "$T/snap.good" truncated

python3 -c "
import gzip
rows = ''.join('C%d,2026-10-%02d,login,,web,note %d\n' % (i % 3 + 1, i % 28 + 1, i) for i in range(20000))
data = bytearray(gzip.compress(('customer_id,event_date,event_type,amount,channel,note\n' + rows).encode()))
for k in range(200, 260): data[k] ^= 0x5A
open('$T/bad/events.csv.gz', 'wb').write(bytes(data))
"
DATA="$T/bad" run_engine "$OUT"
expect_rc 3 corrupt; expect_err "events.csv.gz" corrupt; expect_err "corrupt gzip" corrupt
unchanged "$OUT" "$T/snap.good" corrupt

rm -f "$T/bad/events.csv.gz"
DATA="$T/bad" run_engine "$OUT"
expect_rc 3 missing_file; expect_err "events.csv.gz: cannot open the file" missing_file
unchanged "$OUT" "$T/snap.good" missing_file

# rule file errors (lines as they are in rules/retention.lua)
L_SCORE=$(grep -n '^score(function' "$RULES" | cut -d: -f1)
L_BANDS=$(grep -n '^bands' "$RULES" | cut -d: -f1)
L_COMPLAINTS=$(grep -n 'return c.complaints_90 >= 2 end' "$RULES" | cut -d: -f1)
sed 's/^score(function(c) return math.min(100, c.points) end)$/score(function(c) return math.min(100, c.points) end/' "$RULES" > "$T/syntax.lua"
RULES_FILE="$T/syntax.lua" run_engine "$OUT"
expect_rc 5 syntax; expect_err "syntax.lua:$L_BANDS: syntax error: ')' expected (to close '(' at line $L_SCORE)" syntax
unchanged "$OUT" "$T/snap.good" syntax

sed 's/return c.complaints_90 >= 2 end/return c.complaints_90 >= 2 and c.renewal_date > 0 end/' "$RULES" > "$T/runtime.lua"
RULES_FILE="$T/runtime.lua" run_engine "$OUT"
expect_rc 5 runtime; expect_err "runtime.lua:$L_COMPLAINTS: rule complaints: attempt to compare" runtime; expect_err "(customer C2; it looked at complaints_90 = 2, renewal_date = nil)" runtime
unchanged "$OUT" "$T/snap.good" runtime

# --on-rule-error skip: the customer gets the other rules; the failure is counted and listed
RULES_FILE="$T/runtime.lua" run_engine "$T/out-skip" --on-rule-error skip
expect_rc 0 skip
expect_err "rule complaints failed for 1 customers and was skipped for them (see rule_errors.csv)" skip
[ "$(cat "$T/out-skip/rule_errors.csv")" = "$(printf 'customer_id,rule,where,error,values\nC2,complaints,%s:%s,attempt to compare number with nil,"complaints_90 = 2, renewal_date = nil"' "$T/runtime.lua" "$L_COMPLAINTS")" ] \
  || fail "rule_errors.csv: $(cat "$T/out-skip/rule_errors.csv")"
grep -q '"complaints": 1' "$T/out-skip/run_summary.json" || fail "run_summary.json rule_errors"
grep -q "^C2," "$T/out-skip/risk_list.csv" && fail "C2 should score 15 (detractor only) without the failed rule"
"$DEFECTOR" run "$RULES" --on-rule-error maybe 2>/dev/null; [ $? = 2 ] || fail "--on-rule-error maybe accepted"

sed 's/return c.complaints_90 >= 2 end/return c.complaints_9 >= 2 end/' "$RULES" > "$T/unknown.lua"
RULES_FILE="$T/unknown.lua" run_engine "$OUT"
expect_rc 5 unknown_field; expect_err "unknown.lua:$L_COMPLAINTS: rule complaints: unknown field 'complaints_9'" unknown_field
unchanged "$OUT" "$T/snap.good" unknown_field

RULES_FILE="$T/no-such-rules.lua" run_engine "$OUT"
expect_rc 3 missing_rules; expect_err "no-such-rules.lua: cannot read the rule file" missing_rules
unchanged "$OUT" "$T/snap.good" missing_rules

# --max-rejects: malformed rows set aside in rejects.csv, the run goes on
rm -rf "$T/bad" && cp -r "$T/data" "$T/bad"
printf "${C_HEAD}C1,Ann,smb,eu,basic,2026-09-01,,49.90,bob\nC2,Bo,smb,eu,basic,2026-13-01,,9.9,bob\nC3,\"Cy\nD\",smb,eu,basic,2026-09-01,,1.5x,bob\nC4,Di,smb,eu,basic,2026-09-01,,7\n" | gzip -n > "$T/bad/customers.csv.gz"
DATA="$T/bad" run_engine "$T/out-rejects" --max-rejects 3
expect_rc 0 max_rejects
python3 - "$T/out-rejects/rejects.csv" <<'PY' || fail "rejects.csv content"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8')))
want_header = ['file', 'line', 'column', 'reason', 'raw']
assert rows[0] == want_header, rows[0]
got = [(r[0], r[1], r[2]) for r in rows[1:]]
want = [('customers.csv.gz', '3', 'signup_date'), ('customers.csv.gz', '4', 'monthly_fee'), ('customers.csv.gz', '6', '')]
assert got == want, got
assert rows[2][4] == 'C3,"Cy\nD",smb,eu,basic,2026-09-01,,1.5x,bob', repr(rows[2][4])
assert 'wrong number of fields' in rows[3][3], rows[3][3]
PY
grep -q '"rows_rejected": 3' "$T/out-rejects/run_summary.json" || fail "run_summary.json does not count 3 rejected rows"
grep -q "3 rejected (see rejects.csv)" "$T/stderr" || fail "the report does not mention the rejected rows: $ERR"
snapshot "$T/out-rejects" "$T/snap.rejects"
DATA="$T/bad" run_engine "$T/out-rejects" --max-rejects 2
expect_rc 4 too_many_rejects; expect_err "more than --max-rejects 2 allows" too_many_rejects
unchanged "$T/out-rejects" "$T/snap.rejects" too_many_rejects

finish
