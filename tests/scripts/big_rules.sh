#!/usr/bin/env bash
# Rule files past the usual sizes. The time budget is the rule file's, not the engine's: its top
# level is timed until its main chunk returns, and compiling the plan, sorting and writing the
# outputs are not timed (a 6000-line function took the declaration past 0.2 s of the engine's
# own work, and was stopped as "the rule file's top level"; under ASan aggregate_matrix's 7530
# features were stopped so at 10 s). A rule whose function is longer than a loop body LuaJIT can
# compile (its jump range) is called instead of pasted into the generated code: it was an
# internal error, "control structure too long" with the whole generated code.
source "$TESTS_DIR/fixtures/lib.sh"
mkdir -p "$T/data"
write_gz "$T/data/customers.csv.gz" $'customer_id,segment\nC1,s1\nC2,s2\nC3,x\n'
big_rule() { # FILE N: one rule whose `when` has N if statements
  {
    echo 'entity { file = "customers.csv.gz", key = "customer_id", columns = { customer_id = "text", segment = "category" } }'
    echo 'rule { "big", points = 1, when = function(c)'
    echo '  local x = 0'
    for ((i = 0; i < $2; i++)); do echo "  if c.segment == \"s$i\" then x = x + $i end"; done
    echo '  return x > 0'
    echo 'end }'
    echo 'bands { { "high", 1 }, { "low", 0 } }'
    echo 'output { file = "o.csv", columns = { "customer_id", "band", "points" } }'
  } > "$1"
}
want='customer_id,band,points
C1,high,1
C2,high,1
C3,low,0'

big_rule "$T/engine_time.lua" 6000
RULES_FILE="$T/engine_time.lua" run_engine engine_time "$T/out1" --rule-time-limit 0.2
assert_rc engine_time 0
check engine_time "o.csv: $(cat "$T/out1/o.csv" 2>/dev/null)" [ "$(cat "$T/out1/o.csv" 2>/dev/null)" = "$want" ]
run_cli engine_time_check check "$T/engine_time.lua" --rule-time-limit 0.2
assert_rc engine_time_check 0

big_rule "$T/too_long.lua" 12000
RULES_FILE="$T/too_long.lua" run_engine too_long "$T/out2"
assert_rc too_long 0
check too_long "o.csv: $(cat "$T/out2/o.csv" 2>/dev/null)" [ "$(cat "$T/out2/o.csv" 2>/dev/null)" = "$want" ]
finish
