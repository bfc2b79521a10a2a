/* fuzz_common.h: what the rule-side fuzz targets share: a folder for the files a rule file may
 * read beside it, a Lua state under lb_test_limits (budgets that end a call, not the process,
 * and deterministically), and the verdict: a rule file may be refused (DF_ERR_RULES) or run out
 * of its budgets, but an internal error, an unprotected Lua error or a sanitizer report is a
 * finding (abort, so that libFuzzer keeps the input). Each target also has a generator,
 * fuzz_generate(), for the replay test's made-up inputs (and tests/fuzz/replay.c's --random).
 * Names here start with sbx_: they do not meet the loader's fuzz.h helpers. */
#ifndef DF_FUZZ_COMMON_H
#define DF_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luastate.h"

#define FUZZ_INSTRUCTIONS 2000000L /* per call into Lua */
#define FUZZ_MEMORY_MB 64.0

/* A folder of its own (beside it: the rule file's lookup tables), made once. */
static const char *sbx_dir(void)
{
    static char dir[256];
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/defector-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) abort();
    }
    return dir;
}

static void sbx_write(const char *name, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", sbx_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) abort();
    fclose(f);
}

/* Under libFuzzer (its LLVMFuzzerMutate linked in), the Lua lines run are coverage too: a counter
 * a (chunk, line), in the section libFuzzer reads extra counters from. Without it no hook. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size) __attribute__((weak));
__attribute__((section("__libfuzzer_extra_counters"))) static uint8_t sbx_lines[1 << 15];

static void sbx_line(const char *source, int line)
{
    uint32_t h = 2166136261u;
    for (const char *c = source; *c; c++) h = (h ^ (uint8_t)*c) * 16777619u;
    h = (h ^ (uint32_t)line) * 16777619u;
    uint8_t *n = &sbx_lines[h % sizeof sbx_lines];
    if (*n < 255) ++*n;
}

static lbridge *sbx_state(void)
{
    lbridge *b = NULL;
    df_error err = {0};
    if (lb_new(&b, &err) != DF_OK) {
        fprintf(stderr, "fuzz: cannot make a Lua state: %s\n", err.message);
        abort();
    }
    lb_test_limits(b, FUZZ_INSTRUCTIONS, FUZZ_MEMORY_MB);
    if (LLVMFuzzerMutate) lb_test_lines(b, sbx_line);
    return b;
}

/* ran_out: one of lb_test_limits' budgets ended a call (lb_test_ran_out; not told by the
 * message, which may quote the input). budget_ok: the input is user code, which may well run
 * out of its budgets; otherwise (a data file read by a fixed rule file) running out is a
 * finding: the engine loops on it. */
static void sbx_verdict(const char *what, df_status st, const df_error *err, int ran_out, int budget_ok)
{
    if (ran_out) {
        if (budget_ok) return;
    } else if (st == DF_OK)
        return;
    else if (st == DF_ERR_RULES && strncmp(err->where, sbx_dir(), strlen(sbx_dir())) == 0)
        return; /* a user's error names the user's file (the rule file, or a file beside it) */
    fprintf(stderr, "FINDING in %s: status %d%s: %s: %s\n", what, (int)st, ran_out ? " (out of budget)" : "",
            err->where, err->message);
    abort();
}

/* The generators' random numbers: a 32-bit LCG, the same sequence everywhere. */
static uint32_t sbx_rand(uint32_t *state, uint32_t n)
{
    *state = *state * 1103515245u + 12345u;
    return (*state >> 16) % n;
}

/* Appends text to buf[*n..cap) as far as it fits. */
static void sbx_put(uint8_t *buf, size_t *n, size_t cap, const char *text)
{
    for (; *text && *n < cap; text++) buf[(*n)++] = (uint8_t)*text;
}

#endif
