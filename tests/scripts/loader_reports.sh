#!/usr/bin/env bash
# The loader bugs users reported (issue 8), each run through the command line as it was reported,
# with the outcome it must have now: the right rows, or one clear error (exit code, file, line,
# what to do) with the previous outputs untouched. The finer cases are in the unit tests
# (test_core_csvload.c, test_core_gzsource.c, test_core_values.c), the CSV suites
# (test_csv_suites.c) and the fuzz targets (tests/fuzz).
source "$TESTS_DIR/fixtures/lib.sh"
SAMPLE="$REPO_DIR/sample-data"
OUT="$T/out"
run_engine good "$OUT" --data "$SAMPLE"
assert_rc good 0
snapshot "$OUT" "$T/snap.good"
cp "$OUT/risk_list.csv" "$T/risk_list.good"

# refused LABEL RC TEXT...: exit code RC, one error message holding every TEXT, OUT unchanged
refused() {
  local label=$1 rc=$2; shift 2
  assert_rc "$label" "$rc"
  for s in "$@"; do assert_err "$label" "$s"; done
  assert_one_error "$label"
  assert_unchanged "$label" "$OUT" "$T/snap.good"
}
# sample LABEL: a copy of sample-data at $T/LABEL (echoes the path)
sample() { rm -rf "${T:?}/$1" && cp -r "$SAMPLE" "$T/$1" && echo "$T/$1"; }
# loaded LABEL TABLE N: the run's report says N rows of TABLE were loaded
loaded() { assert_err "$1" "$2.csv.gz: $3 rows read, $3 loaded"; }

# --- 8.5: a header-only file: no customers is an error, no events is not ------------------
d=$(sample header_only)
zcat "$SAMPLE/customers.csv.gz" | head -1 | gzip -n > "$d/customers.csv.gz"
run_engine header_only_customers "$OUT" --data "$d"
refused header_only_customers 4 "customers.csv.gz: no rows: the file has a header line and nothing else"
for t in 1 2; do
  cp "$SAMPLE/customers.csv.gz" "$d/customers.csv.gz"
  zcat "$SAMPLE/events.csv.gz" | head -1 | gzip -n > "$d/events.csv.gz"
  run_engine "header_only_events$t" "$T/out-he$t" --data "$d" --threads $t
  assert_rc "header_only_events$t" 0
  assert_err "header_only_events$t" "events.csv.gz: 0 rows read, 0 loaded"
  loaded "header_only_events$t" customers 3000
done

# --- 8.2: a decimal past what 64 bits hold is refused, not wrapped around ------------------
d=$(sample big_decimal)
zcat "$SAMPLE/customers.csv.gz" | sed '3s/,20.28,/,10000000000000,/' | gzip -n > "$d/customers.csv.gz"
run_engine big_decimal "$OUT" --data "$d"
refused big_decimal 4 "customers.csv.gz:3: column monthly_fee" "out of range: a decimal goes from" '"10000000000000"'

# --- 8.1: lines that end in a lone CR: every customer, the same outputs, every thread count ---
d=$(sample bare_cr)
zcat "$SAMPLE/customers.csv.gz" | tr '\n' '\r' | sed 's/\r$//' | gzip -n > "$d/customers.csv.gz"
for t in 1 2; do
  run_engine "bare_cr$t" "$T/out-cr$t" --data "$d" --threads $t
  assert_rc "bare_cr$t" 0
  loaded "bare_cr$t" customers 3000
  check "bare_cr$t" "risk_list.csv differs from the one of the LF file" cmp -s "$T/out-cr$t/risk_list.csv" "$T/risk_list.good"
done
# over 1 MB of text, events too, cut into blocks of 64 KB: the records at the reads' and blocks' ends
"$DEFECTOR_GEN" --customers 15000 --events-per-customer 3 --out "$T/gen" >/dev/null 2>&1
run_engine gen_lf "$T/out-gen-lf" --data "$T/gen" --threads 1
assert_rc gen_lf 0
mkdir -p "$T/gen-cr"
for f in customers events; do zcat "$T/gen/$f.csv.gz" | tr '\n' '\r' | gzip -n -1 > "$T/gen-cr/$f.csv.gz"; done
for args in "--threads 1" "--threads 2" "--threads 2 --parse-block-kb 64"; do
  label="gen_cr_${args// /}"
  run_engine "$label" "$T/out-$label" --data "$T/gen-cr" $args
  assert_rc "$label" 0
  loaded "$label" customers 15000
  for f in risk_list.csv metrics_segment.csv metrics_cohort.csv; do
    check "$label" "$f differs from the one of the LF files" cmp -s "$T/out-$label/$f" "$T/out-gen-lf/$f"
  done
done
# an error on the line it is on
zcat "$SAMPLE/events.csv.gz" | sed '5000s/^\(C[0-9]*\),[0-9-]*,/\1,2025-02-29,/' | tr '\n' '\r' | gzip -n > "$d/events.csv.gz"
for t in 1 2; do
  run_engine "bare_cr_error$t" "$OUT" --data "$d" --threads $t
  refused "bare_cr_error$t" 4 "events.csv.gz:5000: column event_date" "not a date"
done

# --- 8.3: a field of 100 MB without a quote: refused the same way by one thread or two -------
d=$(sample long_field)
python3 - "$d/customers.csv.gz" <<'PY'
import gzip, sys
with gzip.open(sys.argv[1], 'wb', compresslevel=1) as f:
    f.write(b'customer_id,name,segment,region,plan,signup_date,renewal_date,monthly_fee,owner\n')
    f.write(b'C0000001,Ann,smb,west,basic,2025-01-01,,10,bob\nC0000002,')
    for _ in range(100): f.write(b'x' * (1 << 20))
    f.write(b',smb,west,basic,2025-01-01,,10,bob\n')
PY
for t in 1 2; do
  run_engine "long_field$t" "$OUT" --data "$d" --threads $t
  refused "long_field$t" 4 "customers.csv.gz:3: column name: this record runs on for more than 64 MB without a line end"
done

# --- 8.6: a NUL byte in the header or in a field, named where it is --------------------------
d=$(sample nul)
{ printf 'customer_id\0'; zcat "$SAMPLE/customers.csv.gz" | sed '1s/^customer_id//'; } | gzip -n > "$d/customers.csv.gz"
run_engine nul_header "$OUT" --data "$d"
refused nul_header 4 "customers.csv.gz:1: the header's column 1 (\"customer_id\\0\") holds a NUL byte"
zcat "$SAMPLE/customers.csv.gz" | sed '7s/,enterprise,/,enter\x00prise,/' | gzip -n > "$d/customers.csv.gz"
run_engine nul_field "$OUT" --data "$d"
refused nul_field 4 "customers.csv.gz:7: column segment: a NUL byte (\\0) in this field"

# --- 8.7: an empty key is bad data, in the customers and in the events, with its line ---------
d=$(sample empty_key)
zcat "$SAMPLE/events.csv.gz" | sed '9s/^C[0-9]*,/,/' | gzip -n > "$d/events.csv.gz"
for t in 1 2; do
  run_engine "empty_key_events$t" "$OUT" --data "$d" --threads $t
  refused "empty_key_events$t" 4 "events.csv.gz:9: column customer_id: empty key: customer_id is empty, and every row needs one"
done
run_engine empty_key_set_aside "$T/out-ek" --data "$d" --max-rejects 5
assert_rc empty_key_set_aside 0
check empty_key_set_aside "rejects.csv does not list the row of line 9 with its reason" \
  grep -q '^events.csv.gz,9,customer_id,"empty key: customer_id is empty, and every row needs one",' "$T/out-ek/rejects.csv"
refute empty_key_set_aside "a warning with a blank example" grep -q '(e.g. )' "$T/empty_key_set_aside.stderr"
cp "$SAMPLE/events.csv.gz" "$d/events.csv.gz"
zcat "$SAMPLE/customers.csv.gz" | sed '4s/^C[0-9]*,/,/' | gzip -n > "$d/customers.csv.gz"
run_engine empty_key_customers "$OUT" --data "$d"
refused empty_key_customers 4 "customers.csv.gz:4: column customer_id: empty key: customer_id is empty, and every row needs one"

# --- 8.6: other compressions and UTF-16 named .gz: what the file is, exit 3 ----------------
zcat "$SAMPLE/customers.csv.gz" > "$T/customers.csv"
# not_csv LABEL COMMAND MESSAGE: customers.csv.gz made by COMMAND (reading customers.csv)
not_csv() {
  local d
  d=$(sample "$1")
  (cd "$T" && eval "$2") > "$d/customers.csv.gz"
  run_engine "$1" "$OUT" --data "$d"
  refused "$1" 3 "customers.csv.gz: $3"
}
not_csv bzip2 'bzip2 -c customers.csv' "this is bzip2-compressed data, not gzip or CSV text (whatever the file name says): recompress it"
not_csv zstd 'zstd -q -c customers.csv' "this is zstd-compressed data, not gzip or CSV text"
not_csv xz 'xz -c customers.csv' "this is xz-compressed data, not gzip or CSV text"
not_csv zip 'rm -f c.zip && zip -q c.zip customers.csv && cat c.zip' "this is a zip archive (an Excel .xlsx file is one), not gzip or CSV text"
not_csv double_gzip 'gzip -c customers.csv | gzip -c' "this is gzip, but what it holds is gzip data again (the file was compressed twice)"
not_csv utf16 'iconv -f UTF-8 -t UTF-16 customers.csv | gzip -c' "this is gzip, but what it holds is UTF-16 text, not CSV text: save it as UTF-8"
not_csv utf16le_plain 'iconv -f UTF-8 -t UTF-16LE customers.csv' "this is UTF-16 text (a NUL byte beside every letter), not gzip or CSV text"

# --- 8.4: a BGZF file cut at a block boundary is truncated, not 92 rows --------------------
# bgzf OUT [BLOCKS]: events.csv.gz as BGZF blocks of 64 KB of text (bgzip's layout), with its
# end-of-file block; BLOCKS: keep only the first BLOCKS blocks (a cut at a block boundary)
bgzf() {
  python3 - "$SAMPLE/events.csv.gz" "$1" "${2:-}" <<'PY'
import gzip, struct, sys, zlib
text = gzip.open(sys.argv[1], 'rb').read()
def block(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = c.compress(data) + c.flush()
    head = b'\x1f\x8b\x08\x04' + b'\0' * 4 + b'\0\xff' + struct.pack('<HBBHH', 6, 66, 67, 2, 18 + len(body) + 8 - 1)
    return head + body + struct.pack('<II', zlib.crc32(data), len(data))
blocks = [block(text[i:i + 65280]) for i in range(0, len(text), 65280)]
eof = bytes.fromhex('1f8b08040000000000ff0600424302001b0003000000000000000000')
keep = int(sys.argv[3]) if sys.argv[3] else None
open(sys.argv[2], 'wb').write(b''.join(blocks[:keep]) + (eof if keep is None else b''))
PY
}
d=$(sample bgzf)
for t in 1 2; do
  bgzf "$d/events.csv.gz"
  run_engine "bgzf_whole$t" "$T/out-bgzf$t" --data "$d" --threads $t
  assert_rc "bgzf_whole$t" 0
  loaded "bgzf_whole$t" events 64249
  check "bgzf_whole$t" "a BGZF copy of the events gives other outputs" cmp -s "$T/out-bgzf$t/risk_list.csv" "$T/risk_list.good"
  bgzf "$d/events.csv.gz" 1
  run_engine "bgzf_cut$t" "$OUT" --data "$d" --threads $t
  refused "bgzf_cut$t" 3 "events.csv.gz: truncated BGZF file: it ends after" "without the end-of-file block bgzip writes"
done

finish
