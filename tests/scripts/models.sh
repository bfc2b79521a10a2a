# models.sh: bgnbd { ... } through the engine on CDNOW's real transaction log
# (tests/data/cdnow/CDNOW_sample.txt.gz, tests/rules/models/cdnow.lua), against the published
# numbers of tests/data/cdnow/EXPECTED.md (each to the tolerance its source uses):
#  - the fit over the 39-week calibration: r, alpha, a, b within 0.1% of 0.2426, 4.4137, 0.7929,
#    2.4259, log-likelihood -9582.43; Gamma-Gamma p, q, v = 6.25, 3.74, 15.44 to 2 decimals;
#  - the inputs BTYD builds (x, t_x, T, holdout purchases), E[Y(39)] = 1.226 for customer 1;
#  - with BTYD's parameters given: customer 1516's P(alive) and E[Y(52)], E[X(52)], and the
#    holdout table (actual and expected by calibration frequency);
#  - the same bytes whatever --threads; the fit written and read back gives the same outputs;
#  - a customer with 1000 repeat purchase days long ago: P(alive) 0, no NaN;
#  - explain with a fitted model says to give the parameters, and works once they are given;
#    declaration mistakes say what to write.
source "$TESTS_DIR/fixtures/lib.sh"
PY=/usr/bin/python3
CD="$REPO_DIR/tests/rules/models/cdnow.lua"
AS_OF=1998-06-30

mkdir -p "$T/data"
{ printf 'masterid sampleid date cds sales\r\n'; gzip -dc "$TESTS_DIR/data/cdnow/CDNOW_sample.txt.gz"; } > "$T/data/cdnow_sample.txt"

# ---- the fit, in 1 and in 3 states ----
RULES_FILE="$CD" run_engine fit1 "$T/fit1" --threads 1
assert_rc fit1 0
RULES_FILE="$CD" run_engine fit3 "$T/fit3" --threads 3
assert_rc fit3 0
for f in bgnbd_fit.csv customers.csv holdout.csv; do
  check threads "$f differs between --threads 1 and 3" cmp -s "$T/fit1/$f" "$T/fit3/$f"
done

# a CSV of the run as {key: row}, for the checks in Python
py_check() { # LABEL SCRIPT (reads fit, rows, hold from $1's folder)
  local label=$1 out
  out=$($PY - "$2" <<PY 2>&1
import csv, sys, math
d = sys.argv[1]
fit = {r['parameter']: r['value'] for r in csv.DictReader(open(d + '/bgnbd_fit.csv'))}
rows = {r['sampleid']: r for r in csv.DictReader(open(d + '/customers.csv'))}
hold = list(csv.DictReader(open(d + '/holdout.csv')))
bad = []
def near(what, got, want, tol):
    got = float(got)
    if not abs(got - want) <= tol: bad.append('%s = %.10g, expected %.10g (tolerance %g)' % (what, got, want, tol))
def rel(what, got, want, tol): near(what, got, want, abs(want) * tol)
$3
print('\n'.join(bad))
PY
)
  CHECKS=$((CHECKS + 1))
  [ -z "$out" ] || fail "$label" "$out"
}

py_check fitted "$T/fit1" "
# [CLVTools]/[BTYD] estimates, 0.1%; the log-likelihood as printed (-9582.429)
for k, want in (('r', 0.2426), ('alpha', 4.4137), ('a', 0.7929), ('b', 2.4259)): rel(k, fit[k], want, 1e-3)
near('log_likelihood', fit['log_likelihood'], -9582.43, 0.01)
near('customers', fit['customers'], 2357, 0)
if fit['converged'] != 'true': bad.append('the fit did not converge')
# [L-test] l.169-179, numpy decimal=2: |difference| < 1.5e-2, on the 946 repeat customers
for k, want in (('p', 6.25), ('q', 3.74), ('v', 15.44)): near(k, fit[k], want, 0.015)
near('spend_customers', fit['spend_customers'], 946, 0)
if fit.get('spend_converged') != 'true': bad.append('the spend fit did not converge')
# BTYD's cal.cbs: (x, t.x, T.cal, x.star) of customers 1-3
for key, want in (('0001', (2, 30.428571, 38.85714, 1)), ('0002', (1, 1.714286, 38.85714, 0)), ('0003', (0, 0, 38.85714, 0))):
    for col, w in zip(('x', 't_x', 'T', 'x_star'), want): near(key + ' ' + col, rows[key][col], w, 1e-5)
# [L-test] l.530-539: E[Y(39)] = 1.226 for x=2, t_x=30.43, T=38.86 (customer 1), tolerance 0.001
near('0001 e39', rows['0001']['e39'], 1.226, 0.001)
# Gamma-Gamma inputs: 946 repeat customers, mean repeat spend as lifetimes' summary ([L-utils]: mean 35)
z = [float(r['zbar']) for r in rows.values() if r['zbar'] != '']
near('customers with a mean repeat spend', len(z), 946, 0)
near('their mean', round(sum(z) / len(z)), 35, 0)
# every value present and finite for every customer
for r in rows.values():
    for col in ('p_alive', 'e39', 'e52', 'spend', 'clv', 'new52'):
        if r[col] == '' or not math.isfinite(float(r[col])): bad.append('%s %s = %r' % (r['sampleid'], col, r[col]))
    if not 0 <= float(r['p_alive']) <= 1: bad.append('%s p_alive = %s' % (r['sampleid'], r['p_alive']))
# the rule reads P(alive): its reason shows the value
for r in rows.values():
    if (int(r['x']) > 0 and float(r['p_alive']) < 0.5) != (r['reasons'] == 'P(alive) ' + r['p_alive']): bad.append('reason of ' + r['sampleid'])
"

# ---- BTYD's parameters given: the walkthrough's numbers ----
mkdir -p "$T/btyd"
sed 's/  fit = "bgnbd_fit.csv",/  fit = "bgnbd_fit.csv",\n  params = { r = 0.2425982, alpha = 4.4136842, a = 0.7929899, b = 2.4261667 },\n  spend_params = { p = 6.25, q = 3.74, v = 15.44 },/' "$CD" > "$T/btyd/cdnow.lua"
check btyd "the parameters were not written into the rule file" grep -q 'alpha = 4.4136842' "$T/btyd/cdnow.lua"
RULES_FILE="$T/btyd/cdnow.lua" run_engine btyd "$T/btyd/out"
assert_rc btyd 0
py_check btyd "$T/btyd/out" "
if fit['source'] != 'given' or 'log_likelihood' in fit: bad.append('a given fit is not written as given: %r' % fit)
near('r as given', fit['r'], 0.2425982, 0)
r = rows['1516']   # x=26, t.x=30.85714, T.cal=31
near('1516 x', r['x'], 26, 0); near('1516 t_x', r['t_x'], 30.857142857, 1e-6); near('1516 T', r['T'], 31, 1e-9)
rel('1516 P(alive)', r['p_alive'], 0.9688523, 5e-7)
rel('1516 E[Y(52)]', r['e52'], 25.75659, 5e-6)
rel('E[X(52)]', r['new52'], 1.444004, 1e-6)
want = {'0': (1411, 0.2367116, 0.2250893), '1': (439, 0.6970387, 0.5231364), '2': (214, 1.392523, 1.044126), '3': (100, 1.56, 1.520256),
        '4': (62, 2.532258, 2.163824), '5': (38, 2.947368, 2.653789), '6': (29, 3.862069, 3.503957), '7': (64, 6.359375, 6.157036)}
for h in hold:
    n, act, exp = want[h['bin']]
    near('bin %s customers' % h['bin'], h['customers'], n, 0)
    near('bin %s actual' % h['bin'], h['actual'], act, 1e-6)
    rel('bin %s expected' % h['bin'], h['expected'], exp, 1e-5)  # BTYD's own 2F1: see tests/unit/test_models.c
if len(hold) != 8: bad.append('holdout.csv has %d bins' % len(hold))
"

# ---- the fit written, then given back: the same outputs ----
mkdir -p "$T/back"
cp "$T/fit1/bgnbd_fit.csv" "$T/back/bgnbd_fit.csv"
sed 's/  fit = "bgnbd_fit.csv",/  params = "bgnbd_fit.csv",/' "$CD" > "$T/back/cdnow.lua"
RULES_FILE="$T/back/cdnow.lua" run_engine back "$T/back/out" --threads 2
assert_rc back 0
for f in customers.csv holdout.csv; do
  check back "$f differs when the written fit is given back" cmp -s "$T/fit1/$f" "$T/back/out/$f"
done

# a fit in weeks given to a model in days would be 7 times off: refused
sed 's/unit = "weeks"/unit = "days"/' "$T/back/cdnow.lua" > "$T/back/days.lua"
check back "the unit was not changed" grep -q 'unit = "days"' "$T/back/days.lua"
RULES_FILE="$T/back/days.lua" run_engine back_days "$T/back/days"
assert_rc back_days 5
assert_err back_days 'was fitted with unit = "weeks", this model has unit = "days"'

# ---- shards (docs/scale-out.md): a shard sees part of the customers, so it cannot fit; with the
# fit given (BTYD's, with the fit file written too), 3 shards and their merge write the single
# run's bytes ----
run_cli shard_fit run "$CD" --data "$T/data" --as-of "$AS_OF" -o "$T/shardfit" --shard 0/3 -q
assert_rc shard_fit 5
assert_err shard_fit "bgnbd: a shard (run --shard I/N) sees part of the customers"
assert_err shard_fit 'params = "bgnbd_fit.csv"'
check shard_fit "a refused shard wrote a partial" [ ! -e "$T/shardfit/shard.partial" ]
for i in 0 1 2; do
  run_cli "shard$i" run "$T/btyd/cdnow.lua" --data "$T/data" --as-of "$AS_OF" -o "$T/shard$i" --shard "$i/3" -q
  assert_rc "shard$i" 0
done
run_cli merge merge "$T/btyd/cdnow.lua" "$T/shard0" "$T/shard1" "$T/shard2" -o "$T/merged" -q
assert_rc merge 0
for f in customers.csv holdout.csv bgnbd_fit.csv; do
  check merge "$f differs between one run and the merge of 3 shards" cmp -s "$T/btyd/out/$f" "$T/merged/$f"
done
# a fit file beside the rule file changed after the shards read it: refused, exit 2
mkdir -p "$T/pchg" && cp "$T/back/cdnow.lua" "$T/fit1/bgnbd_fit.csv" "$T/pchg/"
for i in 0 1; do
  run_cli "pchg$i" run "$T/pchg/cdnow.lua" --data "$T/data" --as-of "$AS_OF" -o "$T/pchg/s$i" --shard "$i/2" -q
  assert_rc "pchg$i" 0
done
sed -i 's/^r,0\./r,1./' "$T/pchg/bgnbd_fit.csv"
run_cli pchg merge "$T/pchg/cdnow.lua" "$T/pchg/s0" "$T/pchg/s1" -o "$T/pchg/merged" -q
assert_rc pchg 2
assert_err pchg "it read another bgnbd_fit.csv beside the rule file than the merge reads now"

# ---- explain: a fit needs every customer; given parameters work ----
run_cli explain_fit explain "$CD" --data "$T/data" --as-of "$AS_OF" --customer 1516
assert_rc explain_fit 5
assert_err explain_fit "bgnbd: explain and test see one customer, and the model's parameters are a fit over all of them"
assert_err explain_fit 'params = "bgnbd_fit.csv"'
run_cli explain_given explain "$T/back/cdnow.lua" --data "$T/data" --as-of "$AS_OF" --customer 1516
assert_rc explain_given 0
p1516=$($PY -c "import csv,sys; print([r['p_alive'] for r in csv.DictReader(open(sys.argv[1])) if r['sampleid']=='1516'][0])" "$T/fit1/customers.csv")
assert_out explain_given "p_alive"
check explain_given "explain does not show the run's P(alive) $p1516: $OUTPUT" grep -qF "${p1516:0:8}" "$T/explain_given.stdout"

# ---- a customer with 1000 repeat purchase days long ago: P(alive) is 0, nothing overflows ----
mkdir -p "$T/far"
$PY - "$T/far/log.csv" <<'PY'
import datetime, sys
d0 = datetime.date(1990, 1, 1)
with open(sys.argv[1], 'w') as f:
    f.write('id,date,sales\n')
    for k in range(1001): f.write('A,%s,10\n' % (d0 + datetime.timedelta(days=k)))
    f.write('B,1999-06-01,5\nB,1999-07-01,7\nC,2017-01-01,3\n')
PY
cat > "$T/far/far.lua" <<'EOF'
entity { file = "log.csv", name = "customers", key = "id", columns = { id = "text" } }
local buys = history { file = "log.csv", key = "id", date = "date", columns = { date = "date", sales = "decimal" } }
local m = bgnbd { history = buys, unit = "days", spend = "sales",
  params = { r = 0.2426, alpha = 30.9, a = 0.7929, b = 2.4259 }, spend_params = { p = 6.25, q = 3.74, v = 15.44 } }
feature("x", m.frequency)
feature("p_alive", m.p_alive)
feature("e", m.expected_purchases(365))
feature("clv", m.clv { months = 24, discount = 0.01 })
output { file = "far.csv", order = { "id" }, columns = { "id", "x", "p_alive", "e", "clv" } }
EOF
RULES_FILE="$T/far/far.lua" DATA="$T/far" AS_OF=2017-06-01 run_engine far "$T/far/out"
assert_rc far 0
check far "customer A: $(cat "$T/far/out/far.csv")" grep -qx 'A,1000,0,0,0' "$T/far/out/far.csv"
refute far "a NaN or an infinity: $(cat "$T/far/out/far.csv")" grep -qiE 'nan|inf' "$T/far/out/far.csv"
check far "customer C (one purchase) is not alive for sure: $(cat "$T/far/out/far.csv")" grep -q '^C,0,1,' "$T/far/out/far.csv"

# ---- buyers who never came back: the fit runs to a limit, and says so ----
mkdir -p "$T/once/data"
{ printf 'masterid sampleid date cds sales\r\n'
  for i in 1 2 3 4 5 6 7 8; do printf '%05d %04d 199701%02d 1 1%d.00\r\n' "$i" "$i" "$((i + 1))" "$i"; done; } > "$T/once/data/cdnow_sample.txt"
sed 's/  fit = "bgnbd_fit.csv",/  fit = "bgnbd_fit.csv",\n  spend_params = { p = 6.25, q = 3.74, v = 15.44 },/' "$CD" > "$T/once/cdnow.lua"
RULES_FILE="$T/once/cdnow.lua" DATA="$T/once/data" run_engine once "$T/once/out"
assert_rc once 0
assert_err once "bgnbd: the fit over 8 customers did not converge"
check once "the fit file should say converged,false: $(cat "$T/once/out/bgnbd_fit.csv" 2>/dev/null)" grep -qx 'converged,false' "$T/once/out/bgnbd_fit.csv"


bad_decl() { # LABEL SED MESSAGE
  sed "$2" "$CD" > "$T/$1.lua"
  RULES_FILE="$T/$1.lua" run_engine "$1" "$T/$1"
  assert_rc "$1" 5
  assert_err "$1" "$3"
}
bad_decl no_unit '/unit = "weeks",/d' 'bgnbd: unit must be "days" or "weeks" (got nil)'
bad_decl window 's/  unit = "weeks",/  unit = "weeks", filter = { last_days = 90 },/' 'bgnbd: last_days does not apply to a model'
bad_decl fn_filter 's/  unit = "weeks",/  unit = "weeks", filter = { cds = function(v) return v > 1 end },/' "bgnbd: the filter on 'cds' is a function"
bad_decl late_cal 's/calibration_end = "1997-09-30"/calibration_end = "1999-01-01"/' 'bgnbd: calibration_end 1999-01-01 is after AS_OF 1998-06-30'
bad_decl no_field 's/buyers.expected_spend/buyers.expected_spending/' "bgnbd: a model has no field 'expected_spending'"
bad_decl bad_param 's/  fit = "bgnbd_fit.csv",/  params = { r = 1, alpha = 2, a = -1, b = 1 },/' "bgnbd: params: 'a' must be a positive number (got -1)"
bad_decl same_file 's/fit = "bgnbd_fit.csv"/fit = "holdout.csv"/' 'bgnbd: fit = "holdout.csv" is also the file of the output declared at line'
bad_decl no_file 's/  fit = "bgnbd_fit.csv",/  params = "missing_fit.csv",/' "bgnbd: params: cannot read"
# a filter that keeps no purchase: nothing to fit, never the optimizer's start given as a fit
bad_decl no_rows 's/  unit = "weeks",/  unit = "weeks", filter = { cds = above(1000) },/' "bgnbd: no customer has a purchase"

finish
