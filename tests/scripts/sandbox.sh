#!/usr/bin/env bash
# Rule files are untrusted: every way out of the sandbox is refused with a message naming the
# rule file and line, exit code 5, and the previous outputs untouched.
source "$TESTS_DIR/fixtures/lib.sh"
make_data "$T/data"
OUT="$T/out"
RULES_FILE="$TESTS_DIR/rules/minimal.lua" run_engine "$OUT"
expect_rc 0 "minimal rule file"
grep -q "^C1,0,$" "$OUT/list.csv" && grep -q "^C2,10,quiet$" "$OUT/list.csv" || fail "minimal outputs: $(cat "$OUT/list.csv")"
snapshot "$OUT" "$T/snap.good"

# try LABEL WHERE CODE MESSAGE: CODE is added at the top level (WHERE=top) or inside a rule (WHERE=rule)
try() {
  local label=$1 where=$2 code=$3 msg=$4
  local f="$T/$label.lua"
  if [ "$where" = end ]; then
    { cat "$TESTS_DIR/rules/minimal.lua"; printf '%s\n' "$code"; } > "$f"
  elif [ "$where" = top ]; then
    { head -n 1 "$TESTS_DIR/rules/minimal.lua"; printf '%s\n' "$code"; tail -n +2 "$TESTS_DIR/rules/minimal.lua"; } > "$f"
  else
    sed "s|when = function(c) return c.logins == 0 end|when = function(c) $code; return c.logins == 0 end|" "$TESTS_DIR/rules/minimal.lua" > "$f"
  fi
  RULES_FILE="$f" run_engine "$OUT"
  expect_rc 5 "$label"
  expect_err "$label.lua:" "$label"
  expect_err "$msg" "$label"
  unchanged "$OUT" "$T/snap.good" "$label"
  [ -e "$T/pwned" ] && fail "$label: the escape wrote a file"
}
P="$T/pwned"
try io_open       top  "io.open('$P', 'w')"                        "unknown name 'io'"
try os_execute    top  "os.execute('touch $P')"                    "unknown name 'os'"
try require_ffi   top  "local ffi = require('ffi')"                "unknown name 'require'"
try ffi_global    top  "ffi.C.system('touch $P')"                  "unknown name 'ffi'"
try debug_lib     top  "debug.getinfo(1)"                          "unknown name 'debug'"
try jit_lib       top  "jit.off()"                                 "unknown name 'jit'"
try load_text     top  "load('return 1')"                          "unknown name 'load'"
try loadstring    top  "loadstring('return 1')"                    "unknown name 'loadstring'"
try dofile        top  "dofile('/etc/passwd')"                     "unknown name 'dofile'"
try loadfile      top  "loadfile('/etc/passwd')"                   "unknown name 'loadfile'"
try string_dump   top  "local s = string.dump(function() end)"     "'string.dump' is not available"
try string_method top  "local s = ('x').dump(function() end)"      "'string.dump' is not available"
try getfenv       top  "local e = getfenv(1)"                      "unknown name 'getfenv'"
try setfenv       top  "setfenv(1, {})"                            "unknown name 'setfenv'"
try getmetatable  top  "local m = getmetatable('')"                "unknown name 'getmetatable'"
try setmetatable  top  "setmetatable({}, {})"                      "unknown name 'setmetatable'"
try rawset        top  "rawset({}, 'x', 1)"                        "unknown name 'rawset'"
try global_table  top  "local g = _G"                              "unknown name '_G'"
try collectgarbage top "collectgarbage('stop')"                    "unknown name 'collectgarbage'"
try new_global    top  "threshold = 5"                             "cannot set global 'threshold'"
try string_patch  top  "string.upper = function() return 'x' end"  "'string' is read-only"
try math_patch    top  "math.min = function() return 0 end"        "'math' is read-only"
try math_random   top  "local r = math.random()"                   "'math.random' is not available"
try table_decl    end  "events.file = '/etc/passwd'"               "table declarations are read-only"
try customer_write rule "c.logins = 1"                             "rules cannot change the customer"
try rule_global   rule "seen = 1"                                  "cannot set global 'seen'"
try rule_io       rule "io.write('x')"                             "unknown name 'io'"
finish
