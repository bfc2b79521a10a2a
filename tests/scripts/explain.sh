#!/usr/bin/env bash
# defector explain: one customer's features, every rule fired or how far from firing, the result.
source "$TESTS_DIR/fixtures/lib.sh"
DATA="$TESTS_DIR/cases/boundaries/data"
ex() { "$DEFECTOR" explain "$RULES" --data "$DATA" --as-of 2026-11-01 --no-progress "$@" >"$T/out" 2>"$T/err"; RC=$?; }

ex --customer R61
[ $RC = 0 ] || fail "explain R61 exit $RC: $(cat "$T/err")"
for want in "customer R61 (as of 2026-11-01)" "days_to_renewal    61" "last_activity      2026-10-31" \
            "renewal_due: days_to_renewal = 61, fires at 0 to 60" "complaints: complaints_90 = 0, fires at >= 2" \
            "detractor: last_nps = (none), fires at <= 6" "points 0, score 0, band low, stage active"; do
  grep -qF -- "$want" "$T/out" || fail "explain R61 lacks '$want': $(cat "$T/out")"
done

ex --customer H1
for want in "FIRED  +20   renewal_due: renewal due in 30 days" "FIRED  +15   detractor: detractor, NPS 5" \
            "calls_unreturned: voicemails_60 = 0, callbacks_60 = 0, fires when voicemails_60 > callbacks_60" \
            "price_increase: price_up_90 = false" "points 55, score 55, band medium, stage pre_renewal" "revenue_at_risk = 4.13"; do
  grep -qF -- "$want" "$T/out" || fail "explain H1 lacks '$want': $(cat "$T/out")"
done

ex --customer CAP --json
python3 - "$T/out" <<'PY' || fail "explain --json: $(cat "$T/out")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["customer"] == "CAP"
assert j["score"] == 100 and j["points"] == 105 and j["band"] == "high" and j["stage"] == "post_price_increase", j
fired = [r["code"] for r in j["rules"] if r["fired"]]
assert fired == ["renewal_due", "price_increase", "complaints", "calls_unreturned", "broken_promises", "detractor"], fired
assert j["features"]["complaints_90"] == 3 and j["features"]["last_nps"] == 0
assert j["values"]["revenue_at_risk"] == 1.5
PY

# the guide's example, on sample-data
"$DEFECTOR" explain "$RULES" --data "$REPO_DIR/sample-data" --as-of 2026-11-01 --customer C0000042 >"$T/out" 2>"$T/err" || fail "sample-data explain: $(cat "$T/err")"
for want in "customer C0000042 (as of 2026-11-01)" "tenure_days        412" "renewal_due: days_to_renewal = 326, fires at 0 to 60" \
            "inactive: days_inactive = 36, fires at > 60" "points 0, score 0, band low, stage active"; do
  grep -qF -- "$want" "$T/out" || fail "sample-data explain lacks '$want': $(cat "$T/out")"
done

ex --customer nobody
[ $RC = 4 ] || fail "unknown customer: exit $RC"
grep -qF 'no customer with customer_id = "nobody"' "$T/err" || fail "unknown customer message: $(cat "$T/err")"
"$DEFECTOR" explain "$RULES" --data "$DATA" 2>"$T/err"; [ $? = 2 ] && grep -q "explain needs --customer" "$T/err" || fail "explain without --customer"
finish
