/* fuzz_rules.c: a rule file's text, loaded and declared: `check` (every finding at once) then the
 * declarations a run loads its tables from, each in a fresh Lua state under deterministic
 * budgets (fuzz_common.h), so that a fuzzed endless loop or allocation ends the call. A file
 * beside the rule file (thresholds.csv) gives lookup{} something to read. Built with
 * -fsanitize=fuzzer (DEFECTOR_FUZZ=ON); tests/unit/test_fuzz_rules.c feeds the corpus
 * (tests/fuzz/corpus/rules/) to the same function in every test run. */
#include <stdint.h>

#include "fuzz_common.h"
#include "luaauthor.h"

#define AS_OF 20758 /* 2026-11-01 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[512];
    if (!path[0]) {
        snprintf(path, sizeof path, "%s/rules.lua", sbx_dir());
        static const char lookup[] = "segment,days\nsmb,30\nenterprise,90\n";
        sbx_write("thresholds.csv", lookup, sizeof lookup - 1);
    }
    const char *src = (const char *)data;
    df_error err = {0};

    lbridge *b = sbx_state();
    char *text = NULL;
    int errors = 0, warnings = 0;
    df_status st = lb_check(b, path, src, size, AS_OF, NULL, 0, 0, NULL, 0, &text, &errors, &warnings, &err);
    sbx_verdict("check", st, &err, lb_test_ran_out(b), 1);
    free(text);
    lb_free(b);

    b = sbx_state();
    table tables[DF_MAX_TABLES];
    int nt = 0;
    memset(&err, 0, sizeof err);
    st = lb_declare(b, path, src, size, AS_OF, tables, &nt, &err);
    sbx_verdict("declare", st, &err, lb_test_ran_out(b), 1);
    for (int i = 0; i < nt; i++) table_free(&tables[i]);
    lb_free(b);
    return 0;
}

/* Made-up rule files: lines of the rule language, sandbox escapes and budget breakers, some cut
 * short, in any order (the replay test's inputs; libFuzzer mutates the corpus instead). */
static const char *const RULE_LINES[] = {
    "entity { file = \"customers.csv.gz\", key = \"customer_id\", columns = { customer_id = \"text\", segment = \"category\", signup_date = \"date\" } }\n",
    "local events = history { file = \"events.csv.gz\", key = \"customer_id\", date = \"event_date\", columns = { event_date = \"date\", event_type = \"category\", amount = \"decimal\" } }\n",
    "feature(\"logins\", count(events, { event_type = \"login\" }))\n",
    "feature(\"spend\", sum(events, \"amount\", { days = 30 }))\n",
    "local t = lookup { file = \"thresholds.csv\", key = \"segment\", default = { days = 1 } }\n",
    "local rows = lookup { file = \"thresholds.csv\" }\n",
    "local sub = lookup { file = \"sub\" }\n",
    "overrides { file = \"thresholds.csv\", key = \"segment\" }\n",
    "rule { \"quiet\", points = 10, when = function(c) return c.logins == 0 end }\n",
    "rule { \"big\", points = 5, when = function(c) return (c.spend or 0) > 100 end, reason = \"spend {spend}\" }\n",
    "rule { \"days\", points = 1, when = function(c) return t[c.segment].days > 3 end }\n",
    "bands { { \"high\", 10 }, { \"low\", 0 } }\n",
    "output { file = \"scores.csv\", columns = { \"customer_id\", \"score\", \"band\" } }\n",
    "metrics { file = \"m.csv\", by = \"segment\", columns = { n = function(row) return 1 end } }\n",
    "while true do end\n",
    "local s = string.rep(\"a\", 30); local _ = s:find(string.rep(\"a*\", 3) .. \"b\")\n",
    "local x = {} for i = 1, 1e9 do x[i] = i end\n",
    "local s = \"x\" for i = 1, 64 do s = s .. s end\n",
    "error(present)\n",
    "error({ where = \"/etc/shadow:1\", message = \"forged\" })\n",
    "error(\"/etc/shadow:1: forged\", 0)\n",
    "assert(false, count(events, {}))\n",
    "local f = tostring(function() end)\n",
    "local ok, e = pcall(error, present)\n",
    "local function r(n) return r(n + 1) + 1 end r(1)\n",
    "local io = io.open(\"/etc/passwd\")\n",
    "getmetatable(\"\").__index = {}\n",
    "events.file = \"/etc/passwd\"\n",
    "AS_OF = 0\n",
    "for i = 1, 10 do end\n",
    "local a = round(1.5) + days_between(AS_OF, AS_OF)\n",
    "end\n",
    "function(\n",
    "--[[\n",
    "\"\\\n",
    "\xef\xbb\xbf\0\xff\n",
};

size_t fuzz_generate(uint32_t *rnd, uint8_t *buf, size_t cap);

size_t fuzz_generate(uint32_t *rnd, uint8_t *buf, size_t cap)
{
    size_t n = 0, nlines = sizeof RULE_LINES / sizeof *RULE_LINES;
    if (sbx_rand(rnd, 4)) sbx_put(buf, &n, cap, RULE_LINES[0]);
    for (uint32_t k = sbx_rand(rnd, 8); k > 0; k--) {
        const char *line = RULE_LINES[sbx_rand(rnd, (uint32_t)nlines)];
        size_t len = strlen(line), keep = sbx_rand(rnd, 6) ? len : sbx_rand(rnd, (uint32_t)len + 1);
        for (size_t i = 0; i < keep && n < cap; i++) buf[n++] = (uint8_t)line[i];
    }
    return n;
}
