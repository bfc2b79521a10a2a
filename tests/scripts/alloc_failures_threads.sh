#!/usr/bin/env bash
# The allocation-failure loop (tests/fixtures/alloc_loop.sh) over a run on two threads: 1,100
# customers (defector-gen, fixed seed), so that the history is parsed in blocks by a worker and
# the customers are scored in two Lua states whose outputs are captured and merged. Before:
# a crash (loader_free read the names of a header copy that had failed: csvload.c).
source "$TESTS_DIR/fixtures/lib.sh"
source "$TESTS_DIR/fixtures/alloc_loop.sh"
"$DEFECTOR_GEN" --customers 1100 --events-per-customer 2 --seed 7 --as-of "$AS_OF" --out "$T/data" >/dev/null
THREADS=2
loop threads run "$RULES" --data "$T/data"
check threads "the job should score in two states: $(grep scoring_states "$T/good/run_summary.json")" \
  grep -q '"scoring_states": 2,' "$T/good/run_summary.json"
finish
