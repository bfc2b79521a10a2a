#!/usr/bin/env bash
# defector-gen's export styles (key style, event order, CRLF, gzip level) and the engine on them:
# the same customers in four key styles (C0000001, prefixed 9-19 characters, UUID, e-mail),
# events in date order with CRLF line ends at gzip level 6, give the same metric files byte
# for byte and the same risk list once each key is mapped back to its customer number; the
# events file is in date order; the default output of the generator is unchanged by the options
# (the outputs of tests/expected/generated_quirks rest on it).
source "$TESTS_DIR/fixtures/lib.sh"
for k in short prefixed uuid email; do
  "$DEFECTOR_GEN" --customers 2000 --seed 9 --keys "$k" --order date --crlf --level 6 --out "$T/$k" 2>/dev/null
  check "gen_$k" "defector-gen --keys $k should write both files" [ -f "$T/$k/events.csv.gz" ]
  DATA="$T/$k" run_engine "run_$k" "$T/out_$k" --threads 2
  assert_rc "run_$k" 0
done
for f in metrics_segment.csv metrics_stage.csv metrics_cohort.csv metrics_service.csv; do
  for k in prefixed uuid email; do
    check "metrics_$k" "$f should be the same bytes with $k keys as with short keys" cmp -s "$T/out_short/$f" "$T/out_$k/$f"
  done
done
out=$(/usr/bin/env python3 - "$T" 2>&1 <<'PY'
import csv, gzip, sys
T = sys.argv[1]
def key_map(style):  # key -> customer number, from the customers file (same row order in every style)
    with gzip.open(f"{T}/{style}/customers.csv.gz", "rt", newline="") as f:
        return {r["customer_id"]: i + 1 for i, r in enumerate(csv.DictReader(f))}
def rows(style):
    m = key_map(style)
    with open(f"{T}/out_{style}/risk_list.csv", newline="") as f:
        rs = list(csv.DictReader(f))
    return sorted(tuple([m[r["customer_id"]]] + [v for k, v in r.items() if k not in ("rank", "customer_id")]) for r in rs)
base = rows("short")
for s in ("prefixed", "uuid", "email"):
    if rows(s) != base: sys.exit(f"risk_list.csv with {s} keys differs from short keys once mapped back")
    if len(set(key_map(s))) != 2000: sys.exit(f"{s}: keys are not unique")
with gzip.open(f"{T}/uuid/events.csv.gz", "rb") as f:
    raw = f.read()
import io
dates = [r["event_date"] for r in csv.DictReader(io.StringIO(raw.decode(), newline=""))]
if raw.count(b"\r\n") != len(dates) + 1: sys.exit("--crlf: every record should end with CRLF (notes hold bare LFs)")
if dates != sorted(dates) or len(dates) < 20000: sys.exit(f"--order date: {len(dates)} events, not in date order")
PY
)
check styles "key styles, date order and CRLF: $out" [ -z "$out" ]
# the default output does not depend on the new options' code paths: the same bytes as the
# options spelled out as their defaults
"$DEFECTOR_GEN" --customers 300 --seed 4 --out "$T/d1" 2>/dev/null
"$DEFECTOR_GEN" --customers 300 --seed 4 --keys short --order shuffled --level 1 --out "$T/d2" 2>/dev/null
for f in customers.csv.gz events.csv.gz; do
  check "defaults_$f" "$f: the defaults spelled out should give the same bytes" cmp -s "$T/d1/$f" "$T/d2/$f"
done
"$DEFECTOR_GEN" --customers 3 --keys long --out "$T/bad" 2>"$T/bad.err"; rc=$?
check bad_keys "an unknown key style should be a usage error naming the styles, got $rc: $(cat "$T/bad.err")" \
  [ "$rc" = 2 ] && grep -q "use short, prefixed, uuid or email" "$T/bad.err"
finish
