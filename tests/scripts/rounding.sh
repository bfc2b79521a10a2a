#!/usr/bin/env bash
# round(x, places) in rule files: x is first taken to the decimal it stands for at 15
# significant digits (as a spreadsheet shows it), then rounded half away from zero. Checked on
# 6000 computed values (money amounts times and divided by whole numbers, halves that binary
# cannot hold such as 2.675 and 1.005, negatives, large amounts) against Python's decimal module
# doing the same by its own means; the engine's fast path (most values) and its general one
# (large values, near-halves) must both agree with it, and with --threads 1 and 3.
source "$TESTS_DIR/fixtures/lib.sh"

/usr/bin/env python3 - "$T/data" <<'PY'
import gzip, os, random, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rnd = random.Random(3)
special = ["2.675", "1.005", "0.125", "0.045", "1.115", "8.345", "1234.5", "0.5", "2.5", "0.015",
           "99999999.995", "123456789012.345", "0.000005", "4.35", "1.45"]
with gzip.open(out + "/customers.csv.gz", "wt", newline="") as f:
    f.write("id,a,k,p\n")
    for i in range(6000):
        r = rnd.random()
        if r < 0.15: a = rnd.choice(special)
        elif r < 0.6: a = "%d.%02d" % (rnd.randrange(100000), rnd.randrange(100))
        elif r < 0.8: a = "%d.%06d" % (rnd.randrange(1000), rnd.randrange(1000000))
        elif r < 0.9: a = "%d.%03d" % (rnd.randrange(10 ** 11), rnd.randrange(1000))
        else: a = "%d.%01d5" % (rnd.randrange(100), rnd.randrange(10))
        if rnd.random() < 0.3: a = "-" + a
        f.write("R%05d,%s,%d,%d\n" % (i, a, rnd.choice([1, 1, 1, 3, 7, 12, 100]), rnd.randrange(0, 5)))
with gzip.open(out + "/events.csv.gz", "wt", newline="") as f:
    f.write("id,d\nR00000,2026-10-01\n")
PY
cat > "$T/round.lua" <<'LUA'
entity { file = "customers.csv.gz", key = "id",
  columns = { id = "text", a = "decimal", k = "int", p = "int" } }
local ev = history { file = "events.csv.gz", key = "id", date = "d", columns = { d = "date" } }
feature("n", count(ev, {}))
value("plain", function(c) return round(c.a, c.p) end)
value("scaled", function(c) return round(c.a * c.k / 7, c.p) end)
value("money", function(c) return round(c.a * 12 * c.k / 100, 2) end)
output { file = "r.csv", order = { "id" }, columns = { "id", "a", "k", "p", "plain", "scaled", "money" } }
LUA
for t in 1 3; do
  RULES_FILE="$T/round.lua" run_engine "round$t" "$T/out$t" --threads "$t"
  assert_rc "round$t" 0
done
check threads "r.csv should have the same bytes at --threads 1 and 3" cmp -s "$T/out1/r.csv" "$T/out3/r.csv"
out=$(/usr/bin/env python3 - "$T/out1/r.csv" 2>&1 <<'PY'
import csv, sys
from decimal import Decimal, ROUND_HALF_UP
def spreadsheet_round(y, places):
    d = Decimal("%.15g" % y).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    s = "%.15g" % float(d)
    return "0" if s == "-0" else s
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
bad = []
for r in rows:
    a = int(Decimal(r["a"]) * 1000000) / 1e6  # the engine's double for the decimal
    k, p = int(r["k"]), int(r["p"])
    want = {"plain": spreadsheet_round(a, p), "scaled": spreadsheet_round(a * k / 7, p),
            "money": spreadsheet_round(a * 12 * k / 100, 2)}
    for col, w in want.items():
        if r[col] != w:
            bad.append(f'{r["id"]} {col}: a={r["a"]} k={k} p={p}: {r[col]}, want {w}')
if len(rows) != 6000 or bad:
    sys.exit(f"{len(rows)} rows, {len(bad)} values differ: " + "; ".join(bad[:5]))
PY
)
check oracle "round() should agree with decimal rounding at 15 significant digits: $out" [ -z "$out" ]
# the values binary cannot hold exactly round as written
check halves "2.675 to 2 places should be 2.68 and 1.005 should be 1.01 (as a spreadsheet shows them)" \
  /usr/bin/env python3 -c 'import csv,sys
rows = {(r["a"], r["p"]): r["plain"] for r in csv.DictReader(open(sys.argv[1]))}
sys.exit(0 if rows.get(("2.675", "2"), "2.68") == "2.68" and rows.get(("1.005", "2"), "1.01") == "1.01" and any(a in ("2.675", "1.005") for a, p in rows) else 1)' "$T/out1/r.csv"
finish
