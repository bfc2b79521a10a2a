#!/usr/bin/env bash
# Rule files are untrusted (docs/rules.md, "The sandbox"). tests/rules/sandbox/NAME.lua is
# base.lua with one escape attempt on line 8 (inside a rule's `when`, run for every customer) or
# line 12 (top level). Each must be refused: exit code 5, one message naming NAME.lua and the
# line, the previous outputs byte for byte as they were, nothing written outside them.
source "$TESTS_DIR/fixtures/lib.sh"
make_data4 "$T/data"
SB="$TESTS_DIR/rules/sandbox"
OUT="$T/out"
cd "$T" || exit 1 # relative paths an escape might write ("pwned") land here

RULES_FILE="$SB/base.lua" run_engine base "$OUT"
assert_rc base 0
want=$'customer_id,score,reason_codes\nC1,0,\nC2,10,quiet\nC3,10,quiet\nC4,0,'
check base "list.csv: expected
$want
got
$(cat "$OUT/list.csv" 2>/dev/null)" [ "$(cat "$OUT/list.csv" 2>/dev/null)" = "$want" ]
snapshot "$OUT" "$T/snap.good"
cp -a "$OUT" "$T/out.good" # restored before each attempt, in case an escape got through

# NAME|WHERE (rule = line 8, top = line 12)|what the message must say (extended regex)
ESCAPES=(
  "io_open|top|unknown name 'io'"
  "io_write_file|top|unknown name 'io'"
  "os_execute|top|unknown name 'os'"
  "require_ffi|top|unknown name 'require'"
  "ffi_global|top|unknown name 'ffi'"
  "debug_getinfo|top|unknown name 'debug'"
  "jit|top|unknown name 'jit'"
  "load_bytecode|top|unknown name 'load'|string\\.dump"
  "load_text|top|unknown name 'load'"
  "string_dump|top|'string\\.dump' is not available"
  "string_method_dump|top|'string\\.dump' is not available"
  "loadstring|top|unknown name 'loadstring'"
  "dofile|top|unknown name 'dofile'"
  "loadfile|top|unknown name 'loadfile'"
  "getfenv|top|unknown name 'getfenv'"
  "setfenv|top|unknown name 'setfenv'"
  "string_metatable|top|unknown name 'getmetatable'"
  "string_metatable_index|top|__index"
  "string_patch|top|'string' is read-only"
  "math_patch|top|'math' is read-only"
  "math_random|top|'math\\.random' is not available"
  "global_table|top|unknown name '_G'"
  "newproxy|top|unknown name 'newproxy'"
  "coroutine|top|unknown name 'coroutine'"
  "package|top|unknown name 'package'"
  "collectgarbage|top|unknown name 'collectgarbage'"
  "setmetatable_top|top|unknown name 'setmetatable'"
  "rawset_engine|top|unknown name 'rawset'"
  "global_new|top|cannot set global 'threshold'"
  "global_existing_as_of|top|AS_OF"
  "global_existing_api|top|round"
  "table_decl|top|table declarations are read-only"
  "engine_table_nested|top|read-only"
  "engine_table_aggregate|top|read-only"
  "engine_predicate|top|read-only"
  "input_outside_data|top|file"
  "customer_field_new|rule|rules cannot change the customer"
  "customer_field_existing|rule|rules cannot change the customer"
  "customer_setmetatable|rule|unknown name 'setmetatable'"
  "customer_getmetatable|rule|unknown name 'getmetatable'"
  "customer_rawset|rule|unknown name 'rawset'"
  "rule_global_new|rule|cannot set global 'seen'"
  "rule_global_existing|rule|AS_OF"
  "rule_io|rule|unknown name 'io'"
  "rule_os_exit|rule|unknown name 'os'"
  "rule_debug_sethook|rule|unknown name 'debug'"
)

# every fixture is in the list, so none is silently skipped
for f in "$SB"/*.lua; do
  name=$(basename "$f" .lua)
  [ "$name" = base ] && continue
  refute "$name" "$f is not in ESCAPES: add it with the message it must give" \
    test -z "$(printf '%s\n' "${ESCAPES[@]}" | grep "^$name|")"
done

for entry in "${ESCAPES[@]}"; do
  name=${entry%%|*}; rest=${entry#*|}
  where=${rest%%|*}; msg=${rest#*|}
  line=12; [ "$where" = rule ] && line=8
  f="$SB/$name.lua"
  if [ ! -f "$f" ]; then CHECKS=$((CHECKS + 1)); fail "$name" "missing rule file $f"; continue; fi
  # the fixture is base.lua with exactly its escape line changed
  check "$name" "$f should differ from base.lua on line $line only; diff says: $(diff "$SB/base.lua" "$f" | head -3)" \
    [ "$(diff "$SB/base.lua" "$f" | grep -E '^[0-9]+c[0-9]+$')" = "${line}c${line}" ]

  rm -f "$T/pwned"
  rm -rf "$OUT" && cp -a "$T/out.good" "$OUT"
  RULES_FILE="$f" run_engine "$name" "$OUT"
  if [ "$RC" != 5 ]; then
    # one line per escape that got through (or failed the wrong way); the rest is moot
    CHECKS=$((CHECKS + 1))
    fail "$name" "NOT REFUSED: exit code expected 5, got $RC ($(sed -n "${line}p" "$f" | sed 's/ -- escape:.*//;s/^ *//')); stderr:
$ERR"
    continue
  fi
  assert_err "$name" "$name.lua:$line"
  check "$name" "stderr: expected a message matching /$msg/, got:
$ERR" grep -qE -- "$msg" <<<"$ERR"
  assert_one_error "$name"
  assert_unchanged "$name" "$OUT" "$T/snap.good"
  refute "$name" "the escape wrote a file ($T/pwned)" test -e "$T/pwned"
  refute "$name" "stderr shows the content of /etc/passwd: the rule file read a file outside --data" \
    grep -q "root:x:0:0" <<<"$ERR"
done

finish
