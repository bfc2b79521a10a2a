#!/usr/bin/env bash
# reason_codes and reasons of a list: exactly the rules that fired for that entity, in rule
# order, their templates filled with that entity's values (numbers, text, categories, empty
# values). Up to 52 rules the engine plans the texts per combination of fired rules; past that
# it builds them rule by rule: both are checked, against Python evaluating the same conditions,
# at --threads 1 and 3, and as a sort key.
source "$TESTS_DIR/fixtures/lib.sh"

/usr/bin/env python3 - "$T/data" <<'PY'
import gzip, os, random, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rnd = random.Random(5)
with gzip.open(out + "/customers.csv.gz", "wt", encoding="utf-8", newline="") as f:
    f.write("id,a,name,seg,x\n")
    for i in range(2000):
        x = "" if rnd.random() < 0.2 else "%d.%02d" % (rnd.randrange(100), rnd.randrange(100))
        f.write("E%04d,%d,%s,%s,%s\n" % (i, rnd.randrange(64), rnd.choice(["Ann", "Zoë", "B b", ""]),
                                         rnd.choice(["smb", "pro", ""]), x))
with gzip.open(out + "/events.csv.gz", "wt", newline="") as f:
    f.write("id,d\nE0000,2026-10-01\n")
PY
# rules.lua N: N rules; rule k fires when bit (k - 1) % 6 of a is set; every third one has a
# template showing a, name, seg and x (a decimal, empty for some entities)
make_rules() {
  local n=$1 f="$T/rules$1.lua" k
  cat > "$f" <<'LUA'
entity { file = "customers.csv.gz", key = "id",
  columns = { id = "text", a = "int", name = "text", seg = "category", x = "decimal" } }
local ev = history { file = "events.csv.gz", key = "id", date = "d", columns = { d = "date" } }
feature("n", count(ev, {}))
LUA
  for ((k = 1; k <= n; k++)); do
    local bit=$(((k - 1) % 6)) reason="\"static reason $k\""
    [ $((k % 3)) = 0 ] && reason="\"r$k: a={a}, name={name}, seg={seg}, x={x}.\""
    printf 'rule { "r%d", points = 1, when = function(c) return math.floor(c.a / %d) %% 2 == 1 end, reason = %s }\n' \
      "$k" "$((1 << bit))" "$reason" >> "$f"
  done
  cat >> "$f" <<'LUA'
output { file = "reasons.csv", order = { "id" }, columns = { "id", "a", "name", "seg", "x", "reason_codes", "reasons" } }
output { file = "by_codes.csv", order = { "reason_codes", "id" }, columns = { "id", "reason_codes" } }
LUA
}
for n in 8 60; do
  make_rules "$n"
  for t in 1 3; do
    RULES_FILE="$T/rules$n.lua" run_engine "r${n}_$t" "$T/out${n}_$t" --threads "$t"
    assert_rc "r${n}_$t" 0
  done
  for f in reasons.csv by_codes.csv; do
    check "threads$n" "$n rules: $f should have the same bytes at --threads 1 and 3" cmp -s "$T/out${n}_1/$f" "$T/out${n}_3/$f"
  done
  out=$(/usr/bin/env python3 - "$T/out${n}_1" "$n" 2>&1 <<'PY'
import csv, sys
d, n = sys.argv[1], int(sys.argv[2])
rows = list(csv.DictReader(open(d + "/reasons.csv", encoding="utf-8", newline="")))
bad = []
for r in rows:
    a = int(r["a"])
    fired = [k for k in range(1, n + 1) if (a >> ((k - 1) % 6)) & 1]
    codes = ";".join("r%d" % k for k in fired)
    texts = [("r%d: a=%d, name=%s, seg=%s, x=%s." % (k, a, r["name"], r["seg"], r["x"])) if k % 3 == 0
             else "static reason %d" % k for k in fired]
    if r["reason_codes"] != codes: bad.append(f'{r["id"]} codes {r["reason_codes"]!r}, want {codes!r}')
    if r["reasons"] != "; ".join(texts): bad.append(f'{r["id"]} reasons {r["reasons"]!r}, want {"; ".join(texts)!r}')
if len(rows) != 2000 or bad:
    sys.exit(f"{len(rows)} rows, {len(bad)} wrong: " + "; ".join(bad[:3]))
by = list(csv.DictReader(open(d + "/by_codes.csv", encoding="utf-8", newline="")))
want = sorted(by, key=lambda r: (r["reason_codes"].encode(), r["id"].encode()))
if by != want:
    sys.exit("by_codes.csv is not ordered by reason_codes, then id")
PY
)
  check "oracle$n" "$n rules: reason_codes and reasons should name exactly the rules that fired, filled: $out" [ -z "$out" ]
done
finish
