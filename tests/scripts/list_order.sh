#!/usr/bin/env bash
# List order (output { order = ... }): rows sorted by a number, then by text columns compared
# byte by byte (a text key is compared from the column itself, not a string made per row): ties
# on the first key, names that are prefixes of others, empty names, bytes past ASCII (UTF-8),
# descending text, and the same bytes whatever the thread count (parts merged). The order is
# checked against Python sorting the same rows by the bytes of the same fields.
source "$TESTS_DIR/fixtures/lib.sh"

# 600 customers: fees from a few values (many ties), names from a small set with prefixes,
# empty and non-ASCII names, ids not in file order
/usr/bin/env python3 - "$T/data" <<'PY'
import gzip, os, random, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rnd = random.Random(11)
names = ["Ann", "Anna", "ann", "", "Zoë", "Zoe", "Émile", "Emile", "B", "Ä", "a b", "a,b", "\"q\""]
rows = []
for i in range(600):
    cid = "K%05d" % rnd.randrange(100000)
    while any(r[0] == cid for r in rows):
        cid = "K%05d" % rnd.randrange(100000)
    rows.append((cid, rnd.choice(names), rnd.choice(["10.00", "20.50", "7"])))
def q(s):
    return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"') else s
with gzip.open(out + "/customers.csv.gz", "wt", encoding="utf-8", newline="") as f:
    f.write("customer_id,name,monthly_fee\n")
    for cid, name, fee in rows:
        f.write(f"{cid},{q(name)},{fee}\n")
with gzip.open(out + "/events.csv.gz", "wt", encoding="utf-8", newline="") as f:
    f.write("customer_id,event_date\n")
    for cid, _, _ in rows[::3]:
        f.write(f"{cid},2026-10-01\n")
PY
cat > "$T/order.lua" <<'LUA'
entity { file = "customers.csv.gz", key = "customer_id",
  columns = { customer_id = "text", name = "text", monthly_fee = "decimal" } }
local events = history { file = "events.csv.gz", key = "customer_id", date = "event_date",
  columns = { event_date = "date" } }
feature("seen", count(events, {}))
output { file = "by_fee_name.csv", order = { "monthly_fee desc", "name", "customer_id" },
  columns = { "rank", "customer_id", "name", "monthly_fee" } }
output { file = "by_name_desc.csv", order = { "name desc", "customer_id desc" },
  columns = { "customer_id", "name" } }
LUA
for t in 1 3; do
  RULES_FILE="$T/order.lua" run_engine "order$t" "$T/out$t" --threads "$t"
  assert_rc "order$t" 0
done
for f in by_fee_name.csv by_name_desc.csv; do
  check "threads_$f" "$f should have the same bytes at --threads 1 and 3" cmp -s "$T/out1/$f" "$T/out3/$f"
done
# the order Python gives the same rows, comparing texts as UTF-8 bytes
check_order() { # FILE KEY-EXPRESSION
  /usr/bin/env python3 - "$1" "$2" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8", newline="")))
key = eval("lambda r: " + sys.argv[2])
want = sorted(rows, key=key)
if len(rows) != 600 or rows != want:
    bad = next((i for i, (x, y) in enumerate(zip(rows, want)) if x != y), None)
    sys.exit(f"{len(rows)} rows; first out of order at row {bad}: {rows[bad] if bad is not None else ''} (want {want[bad] if bad is not None else ''})")
PY
}
out=$(check_order "$T/out1/by_fee_name.csv" '(-float(r["monthly_fee"]), r["name"].encode("utf-8"), r["customer_id"].encode("utf-8"))' 2>&1)
check fee_name "by_fee_name.csv: fee descending, then name and customer_id byte by byte: $out" [ -z "$out" ]
# name desc then customer_id desc: compare with a reversed sort on the byte strings
out=$(/usr/bin/env python3 - "$T/out1/by_name_desc.csv" 2>&1 <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8", newline="")))
want = sorted(rows, key=lambda r: (r["name"].encode("utf-8"), r["customer_id"].encode("utf-8")), reverse=True)
if len(rows) != 600 or rows != want:
    bad = next((i for i, (x, y) in enumerate(zip(rows, want)) if x != y), None)
    sys.exit(f"first out of order at row {bad}: {rows[bad]} (want {want[bad]})")
PY
)
check name_desc "by_name_desc.csv: name descending, then customer_id descending, byte by byte: $out" [ -z "$out" ]
# the names the data holds all came through, the empty one and the non-ASCII ones included
check names "by_name_desc.csv should list Zoë, Émile, Ä and an empty name" \
  /usr/bin/env python3 -c 'import csv,sys; n={r["name"] for r in csv.DictReader(open(sys.argv[1], encoding="utf-8"))}; sys.exit(0 if {"Zoë","Émile","Ä",""} <= n else 1)' "$T/out1/by_name_desc.csv"
finish
