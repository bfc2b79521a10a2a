#!/bin/bash
# transactions.sh: the rule API for transaction exports (docs/rules.md, "Transaction exports"):
# rules/retail.lua on the Online Retail cuts as they are, checked against an independent Python
# computation (tests/fixtures/retail_check.py: distinct orders, exact sums of Quantity x
# UnitPrice, the retention triangle, the lines without a CustomerID counted); CDNOW's purchase
# frequency as distinct days (tests/fixtures/cdnow_frequency.py); then the edges on small files
# (texts and categories, ties, empty cells, decimal x decimal, windows from an entity's date)
# and each mistake refused with what to do.
source "$TESTS_DIR/fixtures/lib.sh"
RETAIL="$REPO_DIR/rules/retail.lua"
PY=/usr/bin/python3

# 1. retail.lua on the every-150th-line cut (lines without a CustomerID among them)
D1="$REPO_DIR/tests/data/online-retail"
run_cli retail run "$RETAIL" --data "$D1" -o "$T/retail" --as-of 2011-12-09 --no-progress
assert_rc retail 0
assert_err retail "online-retail-all.csv.gz: 3613 rows read, 2717 loaded, 896 without a CustomerID set aside"
refute retail "no warning about repeated keys for entity { from = ... }: $ERR" grep -q "repeat a CustomerID" <<<"$ERR"
check retail-py "$($PY "$TESTS_DIR/fixtures/retail_check.py" "$D1/online-retail-all.csv.gz" "$T/retail" 2011-12-09 2>&1 | tail -5)" \
  $PY "$TESTS_DIR/fixtures/retail_check.py" "$D1/online-retail-all.csv.gz" "$T/retail" 2011-12-09
for th in 1 3; do
  run_cli "retail-t$th" run "$RETAIL" --data "$D1" -o "$T/retail-t$th" --as-of 2011-12-09 --threads "$th" -q
  assert_rc "retail-t$th" 0
  for f in risk_list.csv customers.csv countries.csv retention_triangle.csv; do
    check "threads-$th" "$f differs with --threads $th" cmp -s "$T/retail/$f" "$T/retail-t$th/$f"
  done
done
# the triangle's shape: a rate is empty for a month the cohort has not reached
shape=$(awk -F, '$1 == "2011-11" { print ($16 != "") ":" ($17 == "") }' "$T/retail/retention_triangle.csv")
check shape "cohort 2011-11 at 2011-12-09: a rate for month 1, none for month 2 (got $shape)" [ "$shape" = "1:1" ]

# retail.test.lua: a case for each rule, through the real loader (a customer from its lines)
run_cli retail-cases test "$RETAIL"
assert_rc retail-cases 0
assert_out retail-cases "6 passed, 0 failed"

# 2. every line of 85 customers (whole histories: repeat orders, returns, the months active)
mkdir -p "$T/d2" && cp "$REPO_DIR/tests/data/online-retail-customers/online-retail-customers.csv.gz" "$T/d2/online-retail-all.csv.gz"
for as_of in 2011-12-09 2011-06-30; do
  run_cli "retail2-$as_of" run "$RETAIL" --data "$T/d2" -o "$T/retail2-$as_of" --as-of "$as_of" -q
  assert_rc "retail2-$as_of" 0
  check "retail2-py-$as_of" "$($PY "$TESTS_DIR/fixtures/retail_check.py" "$T/d2/online-retail-all.csv.gz" "$T/retail2-$as_of" "$as_of" 2>&1 | tail -5)" \
    $PY "$TESTS_DIR/fixtures/retail_check.py" "$T/d2/online-retail-all.csv.gz" "$T/retail2-$as_of" "$as_of"
done

# 3. CDNOW: repeat purchases are distinct days (39 of these 1000 customers have more rows than days)
CD="$REPO_DIR/tests/data/cdnow"
for as_of in 1997-09-30 1998-06-30; do
  run_cli "cdnow-$as_of" run "$REPO_DIR/tests/rules/transactions/cdnow.lua" --data "$CD" -o "$T/cdnow-$as_of" --as-of "$as_of" -q
  assert_rc "cdnow-$as_of" 0
  check "cdnow-py-$as_of" "$($PY "$TESTS_DIR/fixtures/cdnow_frequency.py" "$CD/CDNOW_master.txt" "$T/cdnow-$as_of/frequency.csv" "${as_of//-/}" 2>&1 | tail -5)" \
    $PY "$TESTS_DIR/fixtures/cdnow_frequency.py" "$CD/CDNOW_master.txt" "$T/cdnow-$as_of/frequency.csv" "${as_of//-/}"
done

# 4. edges, on a customer table and a history small enough to count by hand
mkdir -p "$T/e"
printf 'id,signup\nA,2026-01-10\nB,2026-02-01\nC,\n' > "$T/e/customers.csv"
printf 'id,day,order_no,kind,label,qty,price,rate\n%s' \
'A,2026-01-10,o1,x,beta,2,0.105,0.333333
A,2026-01-10,o1,y,alpha,1,0.5,0.333333
A,2026-01-20,o2,y,beta,3,,0.5
A,2026-02-15,,x,alpha,-1,0.5,0.1
A,2026-04-20,o3,x,,1,1.25,0.2
B,2026-02-01,o9,y,b,1,10,1
B,2026-02-01,o9,x,a,1,10,1
' > "$T/e/lines.csv"
cat > "$T/e/edges.lua" <<'EOF'
entity { file = "customers.csv", key = "id", columns = { id = "text", signup = "date" } }
local l = history { file = "lines.csv", key = "id", date = "day",
  columns = { day = "date", order_no = "text", kind = "category", label = "text", qty = "int", price = "decimal", rate = "decimal" } }
feature("orders",     count_distinct(l, "order_no", {}))           -- an empty cell is no value
feature("kinds",      count_distinct(l, "kind", {}))
feature("top_label",  most_frequent(l, "label", {}))               -- ties: the lowest text
feature("top_kind",   most_frequent(l, "kind", {}))
feature("amount",     sum(l, product("qty", "price"), {}))        -- a row with an empty price adds nothing
feature("rate_price", sum(l, product("price", "rate"), {}))       -- decimal x decimal, rounded at 6 places once
feature("first_30",   count(l, { days_from = { "signup", 0, 30 } }))
feature("after_1",    count_distinct(l, "day", { days_from = { "signup", 1, 1000 } }))
feature("months",     active_months(l, { qty = above(0) }))
output { file = "edges.csv", order = { "id" },
  columns = { "id", "orders", "kinds", "top_label", "top_kind", "amount", "rate_price", "first_30", "after_1", "months" } }
EOF
run_cli edges run "$T/e/edges.lua" --data "$T/e" -o "$T/e/out" --as-of 2026-06-01 -q
assert_rc edges 0
# A: orders o1 o2 o3; kinds x y; labels beta 2, alpha 2 (empty not a value) -> alpha; kind x 3 -> x;
#    amount 2*0.105 + 1*0.5 + (-1)*0.5 + 1*1.25 = 1.46; price*rate 0.034999965 + 0.1666665 + 0.05 + 0.25
#    = 0.501666465 -> 0.501666; days_from signup 0..30: 3 rows; days after signup: 01-20, 02-15, 04-20;
#    months with qty > 0 from January: 0 and 3 -> 1 + 8 = 9
# B: one order, kinds x y tie 1:1 -> x (the lowest text), labels a b -> a; C: no rows, no signup
want='id,orders,kinds,top_label,top_kind,amount,rate_price,first_30,after_1,months
A,3,2,alpha,x,1.46,0.501666,3,3,9
B,1,2,a,x,20,20,2,0,1
C,0,0,,,0,0,0,0,'
check edges "edges.csv: $(diff <(echo "$want") "$T/e/out/edges.csv")" [ "$(cat "$T/e/out/edges.csv")" = "$want" ]

# 5. mistakes, each refused before any data is read (exit 5), saying what to do
refused() { # LABEL TEXT-EXPECTED LUA-LINES...
  local label=$1 text=$2; shift 2
  { echo 'entity { file = "customers.csv", key = "id", columns = { id = "text", signup = "date" } }'
    echo 'local l = history { file = "lines.csv", key = "id", date = "day", columns = { day = "date", order_no = "text", qty = "int", price = "decimal", label = "text" } }'
    printf '%s\n' "$@"
    echo 'output { file = "o.csv", columns = { "id" } }'; } > "$T/e/$label.lua"
  run_cli "$label" run "$T/e/$label.lua" --data "$T/e" -o "$T/e/$label" --as-of 2026-06-01
  assert_rc "$label" 5
  assert_err "$label" "$text"
}
refused product-max 'product(...) is a per-row amount to add up' 'feature("x", count_distinct(l, product("qty", "price"), {}))'
refused product-text "product of 'label', a text column" 'feature("x", sum(l, product("qty", "label"), {}))'
refused from-anchor "days_from counts from 'nope', which is not a date of the customer" 'feature("x", count(l, { days_from = { "nope", 0, 9 } }))'
refused from-order 'from and to are whole numbers of days, from <= to' 'feature("x", count(l, { days_from = { "signup", 9, 0 } }))'
refused from-chain "days_from counts from 'f', which is not a date" 'feature("f", earliest(l, "day", { days_from = { "signup", 0, 9 } }))' \
  'feature("x", count(l, { days_from = { "f", 0, 9 } }))'
refused tri-rows 'count different rows' 'feature("f", earliest(l, "day", { qty = above(0) }))' 'feature("m", active_months(l, {}))' \
  'retention_triangle { file = "t.csv", first = "f", active = "m", cohort = "cohort", periods = 6 }'
refused tri-periods 'periods must be a whole number of months from 1 to 52' 'feature("f", earliest(l, "day", {}))' 'feature("m", active_months(l, {}))' \
  'retention_triangle { file = "t.csv", first = "f", active = "m", cohort = "cohort", periods = 60 }'
refused distinct-col "count_distinct(history, \"column\", {filter}): name the column" 'feature("x", count_distinct(l, {}))'
# entity { from = h } takes the history's file, key and dialect: nothing else
cat > "$T/e/from.lua" <<'EOF'
local l = history { file = "lines.csv", key = "id", date = "day", columns = { day = "date" } }
entity { from = l, key = "id" }
output { file = "o.csv", columns = { "id" } }
EOF
run_cli from-opts run "$T/e/from.lua" --data "$T/e" -o "$T/e/from" --as-of 2026-06-01
assert_rc from-opts 5
assert_err from-opts "entity { from = lines }: 'key' is taken from the history; only name may be given"
finish
