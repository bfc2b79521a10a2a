#!/usr/bin/env bash
# Dependency order (issue 7, point 1): the engine computes features, rules, points, score, band,
# stage and values in the order they read each other, whatever order the rule file declares
# them in, and a customer never sees a value computed for another customer.
#   - a feature declared above the features it reads gets each customer's own value, at
#     --threads 1 to 4 and in explain;
#   - rules/retention.lua reversed and shuffled (seeded) gives the bytes of the original;
#   - a rule reading c.stage fires exactly for the customers in that stage; a rule reading a
#     value declared below it sees that customer's value;
#   - cycles (a rule reading c.score or c.band, a stage reading the score read by a rule, two
#     features reading each other, a feature, stage or score reading itself) and reads of names
#     never defined are refused before anything is read, naming the lines;
#   - a dynamic read c["..." .. "..."] of a field not computed yet fails loudly; of one computed
#     earlier it works;
#   - a write to c is refused with its line.
source "$TESTS_DIR/fixtures/lib.sh"
"$DEFECTOR_GEN" --customers 3000 --seed 5 --out "$T/data" 2>/dev/null || { fail gen "the generator failed"; finish; }
NODATA="$T/no-such-folder" # a run refused "before anything is read" exits 5 here, not 3

# above_tenure NAME LUA: retention.lua with LUA just above tenure_days (the first feature)
above_tenure() {
  awk -v s="$2" '/^feature\("tenure_days"/ { print s } { print }' "$RULES" > "$T/$1.lua"
}
# before_outputs NAME LUA: retention.lua with LUA at the end of the declarations (before output {)
before_outputs() {
  { sed '/^output {/,$d' "$RULES"; printf '%s\n' "$2"; sed -n '/^output {/,$p' "$RULES"; } > "$T/$1.lua"
}
# all_output NAME COLUMNS...: appends a list of every customer, by customer_id, to $T/NAME.lua
all_output() {
  local f="$T/$1.lua"; shift
  local cols
  cols=$(printf '"%s", ' "$@")
  printf '\noutput { file = "all.csv", order = { "customer_id" }, columns = { %s } }\n' "${cols%, }" >> "$f"
}
line_of() { grep -nF -- "$2" "$1" | head -n 1 | cut -d: -f1; } # FILE TEXT: first line holding TEXT
states() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['scoring_states'])" "$1"; }
# pycheck LABEL WHAT python-args...: one check by a Python script that exits 0 when it holds
pycheck() {
  local label=$1 what=$2 out rc; shift 2
  out=$(python3 "$@" 2>&1); rc=$?
  check "$label" "$what: $(tail -n 4 <<<"$out")" [ "$rc" = 0 ]
}
# rows.py CSV EXPR [N]: EXPR holds for every row r of CSV (codes(r): its reason codes), which
# has rows (N of them)
cat > "$T/rows.py" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
expr, want = sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None
def codes(r): return r["reason_codes"].split(";") if r["reason_codes"] else []
bad = [r for r in rows if not eval(expr, {"codes": codes, "int": int}, {"r": r})]
if bad or not rows or (want is not None and len(rows) != want):
    sys.exit(f"{len(bad)} of {len(rows)} rows fail {expr}; the first: {bad[:2]}")
PY
same_csvs() { # LABEL DIR-A DIR-B: every CSV file of A has the same bytes in B
  local f
  for f in "$2"/*.csv; do
    check "$1" "$(basename "$f") differs between $(basename "$2") and $(basename "$3"): $(diff "$f" "$3/$(basename "$f")" 2>&1 | head -4)" \
      cmp -s "$f" "$3/$(basename "$f")"
  done
}

# the reference job as it ships, the bytes every reordering must give
for t in 1 2; do
  RULES_FILE="$RULES" run_engine "orig$t" "$T/orig$t" --threads "$t"
  assert_rc "orig$t" 0
done

# --- 1. a feature declared above the features it reads -------------------------------------
above_tenure early 'feature("early", function(c) return c.days_inactive end)'
sed -i 's/"revenue_at_risk", "reason_codes", "reasons" }/"revenue_at_risk", "reason_codes", "reasons", "early", "days_inactive" }/' "$T/early.lua"
all_output early customer_id early days_inactive
check early_file "the risk list of early.lua should name early and days_inactive" grep -q '"reasons", "early", "days_inactive" }' "$T/early.lua"
for t in 1 2 3 4; do
  RULES_FILE="$T/early.lua" run_engine "early$t" "$T/early$t" --threads "$t"
  assert_rc "early$t" 0
  for f in risk_list.csv all.csv; do
    pycheck "early$t" "--threads $t, $f: early must equal days_inactive on every row (the customer's own value)" \
      "$T/rows.py" "$T/early$t/$f" 'r["early"] == r["days_inactive"] != ""'
  done
  for f in metrics_segment.csv metrics_stage.csv metrics_cohort.csv metrics_service.csv; do
    check "early$t" "$f: adding the feature 'early' changed it" cmp -s "$T/orig1/$f" "$T/early$t/$f"
  done
done
n=$(states "$T/early4/run_summary.json")
check early_states "--threads 4 on 3000 customers should score in 4 Lua states (parts beginning mid-file), got $n" [ "$n" = 4 ]
check early_threads "all.csv should be the same bytes at --threads 1 and 4" cmp -s "$T/early1/all.csv" "$T/early4/all.csv"
# explain computes the same for a customer, whoever precedes it in the file
for id in C0000002 C0003000; do
  run_cli "explain_$id" explain "$T/early.lua" --data "$T/data" --as-of "$AS_OF" --customer "$id" --json
  want=$(grep "^$id," "$T/early1/all.csv" | cut -d, -f3)
  pycheck "explain_$id" "explain --customer $id: early and days_inactive should both be $want ($ERR)" \
    -c 'import json, sys; f = json.load(open(sys.argv[1]))["features"]; assert str(f["early"]) == sys.argv[2] == str(f["days_inactive"]), f' \
    "$T/explain_$id.stdout" "$want"
done

# --- 2. the reference job reversed and shuffled ---------------------------------------------
# permute.py SRC OUT reverse|shuffle SEED move|keep: the declaration statements of sections 2,
# 3 and 4 (features; rules; score, bands, stages, values) reordered within their section, each
# multi-line statement whole, with the comment lines just above it; `local` statements stay at
# the top of their section (above their first use). keep: the rules keep their order.
cat > "$T/permute.py" <<'PY'
import random, re, sys
src, out, mode, seed, rules = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
START = re.compile(r"^(feature|rule|score|bands|stages|value|local)\b")
sections, cur = [], []
for ln in open(src).read().split("\n"):
    if ln.startswith("-----"):
        sections.append(cur); cur = [ln]
    else:
        cur.append(ln)
sections.append(cur)
assert len(sections) == 6, "retention.lua should have 5 sections, each after a ----- line"
rnd = random.Random(seed)
def reorder(sec, is_rules):
    i = 1
    while i < len(sec) and sec[i].startswith("--"):
        i += 1
    head, stmts, pending = sec[:i], [], []
    for ln in sec[i:]:
        if START.match(ln):
            stmts.append(pending + [ln]); pending = []
        elif ln.startswith("--"):
            pending.append(ln)
        elif ln.strip():
            stmts[-1].append(ln)
    assert not pending, pending
    locs = [s for s in stmts if s[-1].startswith("local") or s[0].startswith("local")]
    decls = [s for s in stmts if s not in locs]
    if not (is_rules and rules == "keep"):
        if mode == "reverse": decls.reverse()
        else: rnd.shuffle(decls)
    res = head + [""]
    for s in locs + decls:
        res += s + [""]
    return res
sections[2:5] = [reorder(s, k == 1) for k, s in enumerate(sections[2:5])]
open(out, "w").write("\n".join("\n".join(s) for s in sections))
PY
# compare.py ORIG NEW RULES keep|move: every CSV file of ORIG has the same bytes in NEW, and
# run_summary.json the same rules_fired; with move (the rules were reordered) risk_list.csv may
# differ only in the order of reason_codes / reasons, which must follow RULES' declaration order
cat > "$T/compare.py" <<'PY'
import csv, glob, json, os, re, sys
a, b, rules_file, mode = sys.argv[1:5]
bad = []
for f in sorted(glob.glob(a + "/*.csv")):
    name = os.path.basename(f)
    if not os.path.exists(f"{b}/{name}"):
        bad.append(f"{name} is missing"); continue
    if open(f, "rb").read() == open(f"{b}/{name}", "rb").read(): continue
    if mode != "move" or name != "risk_list.csv":
        bad.append(f"{name} differs"); continue
    order = re.findall(r'^rule \{ "([^"]+)"', open(rules_file).read(), re.M)
    ra, rb = list(csv.DictReader(open(f))), list(csv.DictReader(open(f"{b}/{name}")))
    if len(ra) != len(rb): bad.append(f"{name}: {len(ra)} rows, now {len(rb)}"); continue
    for x, y in zip(ra, rb):
        other = [k for k in x if k not in ("reason_codes", "reasons") and x[k] != y[k]]
        ca, cb = x["reason_codes"].split(";"), y["reason_codes"].split(";")
        if other or sorted(ca) != sorted(cb) or sorted(x["reasons"].split("; ")) != sorted(y["reasons"].split("; ")):
            bad.append(f"{name} differs beyond the order of reason_codes / reasons: {dict(x)} / {dict(y)}"); break
        if cb != sorted(cb, key=order.index):
            bad.append(f"{name}: reason_codes {cb} not in the declaration order {order}"); break
fired = [json.load(open(d + "/run_summary.json"))["rules_fired"] for d in (a, b)]
if fired[0] != fired[1]: bad.append(f"run_summary.json rules_fired: {fired[0]} / {fired[1]}")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY

variant() { # NAME [ORIGINAL OUT-PREFIX]: runs $T/perm/NAME.lua at --threads 1 and 2 and compares
  # with the original rule file's outputs (default: retention.lua's, $T/orig1 and $T/orig2)
  local name=$1 orig=${2:-$RULES} prefix=${3:-$T/orig} t mode=move
  [ "${name%-keep}" != "$name" ] && mode=keep
  check "$name" "$name.lua: the features should not be in the original order" \
    [ "$(grep -o '^feature("[a-z_0-9]*"' "$T/perm/$name.lua")" != "$(grep -o '^feature("[a-z_0-9]*"' "$orig")" ]
  for t in 1 2; do
    RULES_FILE="$T/perm/$name.lua" run_engine "$name-$t" "$T/perm/out-$name-$t" --threads "$t"
    assert_rc "$name-$t" 0
    pycheck "$name-$t" "$name.lua, --threads $t: the outputs differ from the original's" \
      "$T/compare.py" "$prefix$t" "$T/perm/out-$name-$t" "$T/perm/$name.lua" "$mode"
  done
}
mkdir -p "$T/perm"
# rules keep their order: every output the same bytes; rules moved: the same but the order of
# reason_codes / reasons in the risk list (which follows the declaration order)
python3 "$T/permute.py" "$RULES" "$T/perm/reverse-keep.lua" reverse 0 keep
python3 "$T/permute.py" "$RULES" "$T/perm/reverse.lua" reverse 0 move
check reverse_first "reverse.lua: the first feature should be defected, the first rule inactive" \
  [ "$(grep -m1 -o '^feature("[a-z_]*"' "$T/perm/reverse.lua")|$(grep -m1 -o '^rule { "[a-z_]*"' "$T/perm/reverse.lua")" = 'feature("defected"|rule { "inactive"' ]
variant reverse-keep
variant reverse
for seed in 7 2026; do
  python3 "$T/permute.py" "$RULES" "$T/perm/shuffle$seed-keep.lua" shuffle "$seed" keep
  python3 "$T/permute.py" "$RULES" "$T/perm/shuffle$seed.lua" shuffle "$seed" move
  variant "shuffle$seed-keep"
  variant "shuffle$seed"
done
# early.lua (section 1: features reading features declared below them) shuffled too
python3 "$T/permute.py" "$T/early.lua" "$T/perm/early19-keep.lua" shuffle 19 keep
variant early19-keep "$T/early.lua" "$T/early"
# the reversed job on the committed sample data, and its test cases
RULES_FILE="$RULES" DATA="$REPO_DIR/sample-data" run_engine sample "$T/sample" --threads 1
RULES_FILE="$T/perm/reverse-keep.lua" DATA="$REPO_DIR/sample-data" run_engine sample_rev "$T/sample-rev" --threads 2
assert_rc sample_rev 0
same_csvs sample_rev "$T/sample" "$T/sample-rev"
run_cli test_shuffled test "$T/perm/shuffle7-keep.lua" "$REPO_DIR/rules/retention.test.lua"
check test_shuffled "rules/retention.test.lua against shuffle7-keep.lua: exit $RC, $(grep -A1 '^FAIL' <<<"$OUTPUT" | head -4) $ERR" \
  grep -qE '^[0-9]+ passed, 0 failed$' <<<"$OUTPUT"

# --- 3. rules reading stages and values ------------------------------------------------------
# gone reads c.stage (stages read no score): it fires for exactly the defected customers
above_tenure gone 'rule { "gone", points = 5, when = function(c) return c.stage == "defected" end, reason = "gone" }'
all_output gone customer_id stage defected reason_codes
for t in 1 2 3 4; do
  RULES_FILE="$T/gone.lua" run_engine "gone$t" "$T/gone$t" --threads "$t"
  assert_rc "gone$t" 0
  check "gone$t" "metrics_stage.csv should not change (stages do not depend on rules)" cmp -s "$T/orig1/metrics_stage.csv" "$T/gone$t/metrics_stage.csv"
  pycheck "gone$t" "--threads $t: rule gone should fire for exactly the customers whose stage is defected" \
    "$T/rows.py" "$T/gone$t/all.csv" '("gone" in codes(r)) == (r["stage"] == "defected") and (r["stage"] != "defected" or r["defected"] == "true")' 3000
done
check gone_threads "all.csv should be the same bytes at --threads 1 and 4" cmp -s "$T/gone1/all.csv" "$T/gone4/all.csv"
# explain: a defected customer and the customer after it
pair=$(python3 - "$T/gone1/all.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
i = next(i for i in range(len(rows) - 1) if rows[i]["stage"] == "defected" and rows[i + 1]["stage"] != "defected")
print(rows[i]["customer_id"], rows[i + 1]["customer_id"])
PY
)
read -r gone_id next_id <<<"$pair"
run_cli explain_gone explain "$T/gone.lua" --data "$T/data" --as-of "$AS_OF" --customer "$gone_id"
assert_out explain_gone "FIRED  +5    gone: gone"
assert_out explain_gone "stage defected"
run_cli explain_next explain "$T/gone.lua" --data "$T/data" --as-of "$AS_OF" --customer "$next_id"
refute explain_next "explain $next_id (after the defected $gone_id): gone should not fire: $OUTPUT" grep -q "FIRED.*gone" <<<"$OUTPUT"

# a rule reading a value declared below it (values sit after the rules in the file)
above_tenure valrule $'rule { "valrule", points = 1, when = function(c) return c.dbl > 100 end }\nvalue("dbl", function(c) return c.days_inactive * 2 end)'
all_output valrule customer_id dbl days_inactive reason_codes
RULES_FILE="$T/valrule.lua" run_engine valrule "$T/valrule" --threads 3
assert_rc valrule 0
pycheck valrule "--threads 3: dbl should be 2 x days_inactive, and valrule fire exactly when dbl > 100" \
  "$T/rows.py" "$T/valrule/all.csv" 'int(r["dbl"]) == 2 * int(r["days_inactive"]) and ("valrule" in codes(r)) == (int(r["dbl"]) > 100)' 3000
check valrule "valrule should fire for some customers" grep -q '"valrule": [1-9]' "$T/valrule/run_summary.json"

# --- 4. refused before anything is read: cycles, names never defined -------------------------
# refused NAME TEXT...: `check` and `run` (on a data folder that does not exist: refused before
# reading) both exit 5 and say each TEXT
refused() {
  local name=$1 want; shift
  run_cli "$name-check" check "$T/$name.lua"
  assert_rc "$name-check" 5
  for want in "$@"; do assert_out "$name-check" "$want"; done
  RULES_FILE="$T/$name.lua" DATA="$NODATA" run_engine "$name-run" "$T/out-$name"
  assert_rc "$name-run" 5
  assert_one_error "$name-run"
  for want in "$@"; do assert_err "$name-run" "$want"; done
  refute "$name-run" "$name.lua should be refused before any input is read: $ERR" grep -q "rows read" <<<"$ERR"
  check "$name-run" "a refused run should create no output folder" [ ! -e "$T/out-$name" ]
}
SCORE_LINE=$(line_of "$RULES" "score(function(c)")
BANDS_LINE=$(line_of "$RULES" "bands {")

before_outputs score_rule 'rule { "hot", points = 5, when = function(c) return c.score > 50 end }'
L=$(line_of "$T/score_rule.lua" 'rule { "hot"')
refused score_rule "score_rule.lua:$L:" "rule hot (line $L) reads score" "score (line $SCORE_LINE)" "points of every rule"

above_tenure band_rule 'rule { "high_band", points = 5, when = function(c) return c.band == "high" end }'
L=$(line_of "$T/band_rule.lua" 'rule { "high_band"')
refused band_rule "band_rule.lua:$L:" "rule high_band (line $L) reads band" "band (line $((BANDS_LINE + 1)))" "score (line $((SCORE_LINE + 1)))"

# a stage reading the score, and a rule reading the stage: score -> points -> rule -> stage -> score
above_tenure stage_score 'rule { "gone", points = 5, when = function(c) return c.stage == "defected" end }'
sed -i 's/{ "onboarding",          function(c) return c.tenure_days < 90 end },/{ "onboarding",          function(c) return c.score < 10 end },/' "$T/stage_score.lua"
L=$(line_of "$T/stage_score.lua" 'rule { "gone"')
S=$(line_of "$T/stage_score.lua" 'stages {')
check stage_score "the stage onboarding should read c.score" grep -q 'return c.score < 10' "$T/stage_score.lua"
refused stage_score "stage_score.lua:$L:" "rule gone (line $L) reads stage" "stage (line $S) reads score" "score (line $((SCORE_LINE + 1)))"

above_tenure mutual $'feature("ping", function(c) return c.pong end)\nfeature("pong", function(c) return c.ping end)'
L=$(line_of "$T/mutual.lua" 'feature("ping"')
refused mutual "mutual.lua:$L:" "feature ping (line $L) reads pong" "feature pong (line $((L + 1))) reads ping"

# a function reading its own field would get the value computed for another customer (the
# one at the same place in the previous block): refused like any other cycle
self_read() { # NAME LINE-TEXT [LINE-TEXT2]: $T/NAME.lua reads itself, refused naming the line
  # holding LINE-TEXT (or LINE-TEXT2: a stage's condition or the stages { line)
  local L L2
  L=$(line_of "$T/$1.lua" "$2")
  L2=$(line_of "$T/$1.lua" "${3:-$2}")
  run_cli "$1-check" check "$T/$1.lua"
  assert_rc "$1-check" 5
  check "$1-check" "check $1.lua: expected an error at line $L${3:+ or $L2}, got: $OUTPUT" \
    grep -qE "$1\.lua:($L|$L2): error:" <<<"$OUTPUT"
  RULES_FILE="$T/$1.lua" DATA="$NODATA" run_engine "$1-run" "$T/out-$1"
  assert_rc "$1-run" 5
  check "$1-run" "run $1.lua: expected an error at line $L${3:+ or $L2}, got: $ERR" grep -qE "$1\.lua:($L|$L2):" <<<"$ERR"
}
above_tenure self_feature 'feature("seen_before", function(c) return (c.seen_before or 0) + 1 end)'
self_read self_feature 'feature("seen_before"'
before_outputs self_value 'value("again", function(c) return c.again end)'
self_read self_value 'value("again"'
sed 's/{ "onboarding",          function(c) return c.tenure_days < 90 end },/{ "onboarding",          function(c) return c.stage == "lapsed" end },/' "$RULES" > "$T/self_stage.lua"
self_read self_stage 'return c.stage == "lapsed"' 'stages {'
sed 's/^score(function(c) return math.min(100, c.points) end)/score(function(c) return math.min(100, c.points + (c.score or 0)) end)/' "$RULES" > "$T/self_score.lua"
self_read self_score 'score(function(c)'
# what such a file computes, if it runs: never another customer's value
all_output self_feature customer_id seen_before
RULES_FILE="$T/self_feature.lua" run_engine self_values "$T/self-values" --threads 1
if [ "$RC" = 0 ]; then
  check self_values "feature seen_before ran: it must be 1 for every customer (nothing else is its own value), got: $(cut -d, -f2 "$T/self-values/all.csv" | sort | uniq -c | sort -rn | head -4 | tr '\n' ' ')" \
    bash -c "[ \"\$(tail -n +2 '$T/self-values/all.csv' | cut -d, -f2 | sort -u)\" = 1 ]"
fi

# reason_codes are known once every rule ran: a rule reading them depends on itself
above_tenure reads_codes 'rule { "again", points = 1, when = function(c) return c.reason_codes ~= "" end }'
L=$(line_of "$T/reads_codes.lua" 'rule { "again"')
run_cli reads_codes-check check "$T/reads_codes.lua"
assert_rc reads_codes-check 5
assert_out reads_codes-check "reads_codes.lua:$L: error:"
RULES_FILE="$T/reads_codes.lua" run_engine reads_codes-run "$T/out-reads_codes"
assert_rc reads_codes-run 5
assert_one_error reads_codes-run
assert_err reads_codes-run "reads_codes.lua:$L:"
assert_err reads_codes-run "rule again"

# a name never defined: the line and "did you mean"
above_tenure undefined 'feature("quiet", function(c) return c.days_inactiv > 30 end)'
L=$(line_of "$T/undefined.lua" 'feature("quiet"')
refused undefined "undefined.lua:$L:" "feature quiet reads c.days_inactiv, which is never defined" "did you mean 'days_inactive'?"
before_outputs undefined_rule $'rule { "typo", points = 1,\n  when = function(c) return c.complaints_9 >= 2 end }'
L=$(line_of "$T/undefined_rule.lua" 'c.complaints_9 >=')
refused undefined_rule "undefined_rule.lua:$L:" "rule typo reads c.complaints_9, which is never defined" "did you mean 'complaints_90'?"

# --- 5. dynamic reads -------------------------------------------------------------------------
# of fields computed earlier (whatever the declaration order): they work
above_tenure dyn_ok $'feature("dyn_inactive", function(c) return c["days_" .. "inactive"] end)\nfeature("dyn_tenure", function(c) local k = "tenure_days"; return c[k] end)'
all_output dyn_ok customer_id dyn_inactive days_inactive dyn_tenure tenure_days
RULES_FILE="$T/dyn_ok.lua" run_engine dyn_ok "$T/dyn_ok" --threads 2
assert_rc dyn_ok 0
pycheck dyn_ok "c[\"days_\" .. \"inactive\"] and c[k] should read the customer's own values" \
  "$T/rows.py" "$T/dyn_ok/all.csv" 'r["dyn_inactive"] == r["days_inactive"] != "" and r["dyn_tenure"] == r["tenure_days"] != ""' 3000
# of a field computed later: a loud error, the same at every --threads, never a value
before_outputs dyn_score 'rule { "dyn_score", points = 5, when = function(c) return c["sc" .. "ore"] > 50 end }'
L=$(line_of "$T/dyn_score.lua" 'rule { "dyn_score"')
for t in 1 4; do
  RULES_FILE="$T/dyn_score.lua" run_engine "dyn_score$t" "$T/out-dyn_score" --threads "$t"
  assert_rc "dyn_score$t" 5
  assert_one_error "dyn_score$t"
  assert_err "dyn_score$t" "dyn_score.lua:$L: rule dyn_score: read c.score before it was computed"
  assert_err "dyn_score$t" "(customer_id C0000001"
done
RULES_FILE="$T/dyn_score.lua" run_engine dyn_score_skip "$T/dyn-skip" --threads 2 --on-rule-error skip
assert_rc dyn_score_skip 0
check dyn_score_skip "with --on-rule-error skip, rule_errors.csv should list the rule for all 3000 customers" \
  [ "$(grep -c ',dyn_score,.*read c.score before it was computed' "$T/dyn-skip/rule_errors.csv")" = 3000 ]
refute dyn_score_skip "dyn_score must never fire" grep -q dyn_score "$T/dyn-skip/risk_list.csv"
# a field that (through another) reads the dynamic one: it cannot be computed first
sed 's/^feature("days_inactive",     function(c) return AS_OF - (c.last_activity or c.signup_date) end)/feature("dyn", function(c) return c["days_" .. "inactive"] end)\nfeature("days_inactive", function(c) return AS_OF - (c.last_activity or c.signup_date) + (c.dyn_zero or 0) end)\nfeature("dyn_zero", function(c) return c.dyn and 0 end)/' \
  "$RULES" > "$T/dyn_later.lua"
L=$(line_of "$T/dyn_later.lua" 'feature("dyn",')
check dyn_later "dyn_later.lua should declare dyn" [ -n "$L" ]
RULES_FILE="$T/dyn_later.lua" run_engine dyn_later "$T/out-dyn_later" --threads 3
assert_rc dyn_later 5
assert_one_error dyn_later
assert_err dyn_later "dyn_later.lua:$L: feature dyn: read c.days_inactive before it was computed"

# --- 6. rules cannot change the customer -----------------------------------------------------
before_outputs writes $'rule { "w", points = 1, when = function(c)\n  c.x = 1\n  return true end }'
L=$(line_of "$T/writes.lua" '  c.x = 1')
refused writes "writes.lua:$L:" "rules cannot change the entity: rule w sets c.x"
before_outputs writes_helper $'local function mark(c)\n  c.days_inactive = 0\nend\nrule { "w2", points = 1, when = function(c) mark(c); return true end }'
L=$(line_of "$T/writes_helper.lua" '  c.days_inactive = 0')
refused writes_helper "writes_helper.lua:$L:" "rule w2 sets c.days_inactive"

# --- 7. named functions (local function f(x)) as a list's or a metric's filter -------------
# they are pasted into the generated code like literals; whatever the parameter is called,
# each entity is tested on its own values
sed -e 's/^local function at_risk(c) return c.not_defected and c.score >= 30 end/local function at_risk(row) return row.not_defected and row.score >= 30 end/' \
    -e 's/^local function still_customer(c) return c.not_defected end/local function still_customer(x) return x.not_defected end/' \
  "$RULES" > "$T/named.lua"
check named_file "named.lua should declare at_risk(row) and still_customer(x)" \
  [ "$(grep -cE '^local function (at_risk\(row\)|still_customer\(x\))' "$T/named.lua")" = 2 ]
for t in 1 3; do
  RULES_FILE="$T/named.lua" run_engine "named$t" "$T/named$t" --threads "$t"
  assert_rc "named$t" 0
  same_csvs "named$t" "$T/orig1" "$T/named$t"
done
finish
