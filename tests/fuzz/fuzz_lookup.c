/* fuzz_lookup.c: the bytes of a lookup table and of an overrides file beside a fixed rule file
 * that reads them every way the API allows (a list of rows, rows by key with a default,
 * overrides by key), then declared as a run would. Refusals (DF_ERR_RULES) are expected; an
 * internal error or a sanitizer report is a finding. One Lua state serves many inputs (the rule
 * file is fixed; each declaration makes a new job). Corpus: tests/fuzz/corpus/lookup/, replayed
 * by tests/unit/test_fuzz_lookup.c. */
#include <stdint.h>

#include "fuzz_common.h"

#define AS_OF 20758 /* 2026-11-01 */

static const char RULES[] =
    "entity { file = \"customers.csv.gz\", key = \"customer_id\",\n"
    "         columns = { customer_id = \"text\", segment = \"category\" } }\n"
    "local rows = lookup { file = \"t.csv\" }\n"
    "local n = #rows\n"
    "for i = 1, n do local r = rows[i]; local _ = r and r.segment end\n"
    "local ok, by = pcall(lookup, { file = \"t.csv\", key = \"segment\", default = { days = 1 } })\n"
    "local _ = ok and by.smb\n"
    "pcall(lookup, { file = \"t.csv\", key = \"customer_id\" })\n"
    "overrides { file = \"t.csv\", key = \"customer_id\" }\n"
    "rule { \"r\", points = 1, when = function(c) return by and by[c.segment] ~= nil end }\n"
    "bands { { \"high\", 1 }, { \"low\", 0 } }\n"
    "output { file = \"o.csv\", columns = { \"customer_id\", \"band\" } }\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[512];
    static lbridge *b;
    static int uses;
    if (!path[0]) snprintf(path, sizeof path, "%s/lookups.lua", sbx_dir());
    sbx_write("t.csv", data, size);
    if (!b || ++uses % 1000 == 0) { /* a fresh state now and then: no input depends on much before it */
        lb_free(b);
        b = sbx_state();
    }
    table tables[DF_MAX_TABLES];
    int nt = 0;
    df_error err = {0};
    df_status st = lb_declare(b, path, RULES, sizeof RULES - 1, AS_OF, tables, &nt, &err);
    sbx_verdict("declare", st, &err, lb_test_ran_out(b), 0);
    for (int i = 0; i < nt; i++) table_free(&tables[i]);
    return 0;
}

/* Made-up lookup files: a header and rows of a few cells each, from names, numbers, quotes,
 * separators, line ends and bytes that are not text (the replay test's inputs). */
static const char *const CELLS[] = {
    "segment", "days", "customer_id", "until", "smb", "enterprise", "30", "-1", "1e999", "",
    "\"q\"", "\"a,b\"", "\"un", "\"\"", " ", "2026-12-01", "C1", "\xef\xbb\xbf", "\xff\xfe", "x\0y",
};
static const char *const SEPS[] = { ",", ",", ",", "\n", "\r\n", "\r", ";", "\t", "\"" };

size_t fuzz_generate(uint32_t *rnd, uint8_t *buf, size_t cap);

size_t fuzz_generate(uint32_t *rnd, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    for (uint32_t k = sbx_rand(rnd, 24); k > 0; k--) {
        const char *text = CELLS[sbx_rand(rnd, sizeof CELLS / sizeof *CELLS)];
        if (strcmp(text, "x\0y") == 0 && n + 3 <= cap) { /* a NUL inside a cell */
            memcpy(buf + n, "x\0y", 3);
            n += 3;
        } else
            sbx_put(buf, &n, cap, text);
        sbx_put(buf, &n, cap, SEPS[sbx_rand(rnd, sizeof SEPS / sizeof *SEPS)]);
    }
    return n;
}
