#!/usr/bin/env bash
# One result whatever inflates the files and however many threads read them (issue 9): the same
# export (UUID keys, events in date order, CRLF, gzip -6), also recompressed as several gzip
# members, read with ISA-L and with zlib (DEFECTOR_INFLATE=zlib) at --threads 1 to 4 gives the
# same output files byte for byte; a cut file and a damaged one give the same exit code and the
# same message through both, the damage and not the rows it garbles.
source "$TESTS_DIR/fixtures/lib.sh"
"$DEFECTOR_GEN" --customers 1500 --seed 4 --keys uuid --order date --crlf --level 6 --out "$T/data" 2>/dev/null
mkdir -p "$T/multi"
cp "$T/data/customers.csv.gz" "$T/multi/"
gzip -dc "$T/data/events.csv.gz" > "$T/events.csv"
split -b 300000 "$T/events.csv" "$T/part."
for p in "$T"/part.*; do gzip -c -6 "$p"; done > "$T/multi/events.csv.gz"
check "multi_members" "the recompressed events should hold several gzip members" \
  [ "$(ls "$T"/part.* | wc -l)" -ge 3 ]
for d in data multi; do
  for impl in isa-l zlib; do
    for th in 1 2 3 4; do
      o="$T/out_${d}_${impl}_$th"
      if [ "$impl" = zlib ]; then export DEFECTOR_INFLATE=zlib; else unset DEFECTOR_INFLATE; fi
      DATA="$T/$d" run_engine "run_${d}_${impl}_$th" "$o" --threads "$th" --parse-block-kb 64
      assert_rc "run_${d}_${impl}_$th" 0
      check "inflate_${d}_${impl}_$th" "run_summary.json should say $impl inflated the files" \
        grep -q "\"inflate\": \"$impl\"" "$o/run_summary.json"
      for f in "$T/out_data_isa-l_1"/*.csv; do
        check "same_${d}_${impl}_$th" "$(basename "$f") from $d with $impl at --threads $th should be the bytes of isa-l at 1" \
          cmp -s "$f" "$o/$(basename "$f")"
      done
    done
  done
done
unset DEFECTOR_INFLATE
check "risk_list_rows" "the risk list should not be empty" [ "$(wc -l < "$T/out_data_isa-l_1/risk_list.csv")" -gt 10 ]

# damage: the same verdict through both
mkdir -p "$T/cut" "$T/bad"
cp "$T/data/customers.csv.gz" "$T/cut/" && cp "$T/data/customers.csv.gz" "$T/bad/"
size=$(stat -c %s "$T/data/events.csv.gz")
head -c $((size / 2)) "$T/data/events.csv.gz" > "$T/cut/events.csv.gz"
cp "$T/data/events.csv.gz" "$T/bad/events.csv.gz"
printf '\x55\x55\x55\x55' | dd of="$T/bad/events.csv.gz" bs=1 seek=$((size / 3)) conv=notrunc 2>/dev/null
for d in cut bad; do
  DATA="$T/$d" run_engine "${d}_isal" "$T/o_$d" --threads 2
  rc_isal=$RC; err_isal=$(grep -v "rows read" <<<"$ERR" | sed "s#$T##g")
  DEFECTOR_INFLATE=zlib DATA="$T/$d" run_engine "${d}_zlib" "$T/o_$d" --threads 2
  check "${d}_same_rc" "a $d file: exit code $RC with zlib, $rc_isal with ISA-L" [ "$RC" = "$rc_isal" ]
  err_zlib=$(grep -v "rows read" <<<"$ERR" | sed "s#$T##g")
  check "${d}_same_message" "a $d file: zlib says '$err_zlib', ISA-L '$err_isal'" [ "$err_zlib" = "$err_isal" ]
done
# the damage garbles rows before the member's checksum is reached: the damage is what is said
assert_rc "bad_zlib" 3
assert_err "bad_zlib" "events.csv.gz: corrupt gzip data"
refute "bad_not_rows" "a garbled row should not be reported for a damaged file" grep -q "wrong number of fields" <<<"$ERR"
DATA="$T/cut" run_engine "cut_again" "$T/o_cut" --threads 2
assert_rc "cut_again" 3
assert_err "cut_again" "truncated gzip: the file ends in the middle of the compressed data (after $((size / 2)) bytes)"
finish
