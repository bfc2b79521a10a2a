#!/usr/bin/env bash
# defector explain: one customer's features, every rule fired or how far from firing, the result.
source "$TESTS_DIR/fixtures/lib.sh"
DATA="$TESTS_DIR/cases/boundaries/data"
# ex LABEL [args...]: explain on the boundaries case, as of 2026-11-01
ex() { local label=$1; shift; run_cli "$label" explain "$RULES" --data "$DATA" --as-of "$AS_OF" --no-progress "$@"; }

ex R61 --customer R61
check R61 "explain R61 exit $RC: $ERR" [ "$RC" = 0 ]
for want in "customer_id R61 (as of 2026-11-01)" "days_to_renewal    61" "last_activity      2026-10-31" \
            "renewal_due: days_to_renewal = 61, fires at 0 to 60" "complaints: complaints_90 = 0, fires at >= 2" \
            "detractor: last_nps = (none), fires at <= 6" "points 0, score 0, band low, stage active"; do
  assert_out R61 "$want"
done

ex H1 --customer H1
for want in "FIRED  +20   renewal_due: renewal due in 30 days" "FIRED  +15   detractor: detractor, NPS 5" \
            "calls_unreturned: voicemails_60 = 0, callbacks_60 = 0, fires when voicemails_60 > callbacks_60" \
            "price_increase: price_up_90 = false" "points 55, score 55, band medium, stage pre_renewal" "revenue_at_risk = 4.13"; do
  assert_out H1 "$want"
done

ex CAP --customer CAP --json
check "CAP --json" "explain --json: $OUTPUT" python3 - "$T/CAP.stdout" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["entity"] == "CAP" and j["key"] == "customer_id", j
assert j["score"] == 100 and j["points"] == 105 and j["band"] == "high" and j["stage"] == "post_price_increase", j
fired = [r["code"] for r in j["rules"] if r["fired"]]
assert fired == ["renewal_due", "price_increase", "complaints", "calls_unreturned", "broken_promises", "detractor"], fired
assert j["features"]["complaints_90"] == 3 and j["features"]["last_nps"] == 0
assert j["values"]["revenue_at_risk"] == 1.5
PY

# the guide's example, on sample-data
run_cli sample explain "$RULES" --data "$REPO_DIR/sample-data" --as-of 2026-11-01 --customer C0000042
check sample "sample-data explain: exit $RC: $ERR" [ "$RC" = 0 ]
for want in "customer_id C0000042 (as of 2026-11-01)" "tenure_days        412" "renewal_due: days_to_renewal = 326, fires at 0 to 60" \
            "inactive: days_inactive = 36, fires at > 60" "points 0, score 0, band low, stage active"; do
  assert_out sample "$want"
done

ex nobody --customer nobody
assert_rc "unknown customer" 4
assert_err "unknown customer" 'no row with customer_id = "nobody" in customers.csv.gz'
run_cli no_customer explain "$RULES" --data "$DATA"
assert_rc "explain without --customer" 2
assert_err "explain without --customer" "explain needs --customer"
finish
