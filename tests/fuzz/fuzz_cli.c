/* fuzz_cli.c: a libFuzzer target for the command line (engine/cli.c, included whole so that its
 * static parser is reached) and the date parser (engine/error.c). Not part of the engine.
 *
 * Input: a first byte 'D' fuzzes df_parse_date with the rest; otherwise the first byte picks the
 * command (run, explain, test, check) and the rest, cut at NUL bytes, is its arguments (values
 * as `--opt VALUE` and `--opt=VALUE`). The
 * parser either refuses the line (a usage error, exit code 2) or gives a configuration that
 * holds everywhere what the options promise: each value in its documented range, no empty
 * folder, a valid as-of date, and each whole number exactly the digits given (no wrap-around).
 * A date the parser accepts formats back to the same ten characters.
 *
 * Built two ways: with clang -fsanitize=fuzzer (tests/fuzz/build.sh, for long runs), and with
 * tests/fuzz/replay.c as fuzz_cli_replay, which CTest runs over tests/fuzz/corpus/cli (every
 * input there, seeds and past findings, must pass). */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

/* cli.c's messages go nowhere: a sanitizer's report still reaches the real stderr (fd 2) */
static FILE *fuzz_sink;
#undef stderr
#define stderr fuzz_sink
#define main defector_cli_main
#include "../../engine/cli.c"
#undef main
#undef stderr

/* parse() never runs a command: these keep the linker content without the engine's core */
df_status df_run(const df_config *cfg, df_error *err) { return (void)cfg, (void)err, DF_OK; }
df_status df_explain(const df_config *cfg, const char *key, int json, FILE *out, df_error *err)
{
    return (void)cfg, (void)key, (void)json, (void)out, (void)err, DF_OK;
}
df_status df_test(const df_config *cfg, const char *tests_path, FILE *out, int *failed, df_error *err)
{
    return (void)cfg, (void)tests_path, (void)out, (void)failed, (void)err, DF_OK;
}
df_status df_check(const df_config *cfg, FILE *out, int *errors, df_error *err)
{
    return (void)cfg, (void)out, (void)errors, (void)err, DF_OK;
}
df_status df_erase(const char *history, const char *key, FILE *out, df_error *err)
{
    return (void)history, (void)key, (void)out, (void)err, DF_OK;
}
df_status df_backtest(const df_config *cfg, const int32_t *as_of, int n, int horizon, df_error *err)
{
    return (void)cfg, (void)as_of, (void)n, (void)horizon, (void)err, DF_OK;
}
df_status df_diff(const df_config *cfg, const char *old_rules, df_error *err) { return (void)cfg, (void)old_rules, (void)err, DF_OK; }

static void need(int ok, const char *what, const char *detail)
{
    if (ok) return;
    fprintf(stdout, "fuzz_cli: broken promise: %s (%s)\n", what, detail ? detail : "");
    fflush(stdout);
    abort();
}

/* The value the last `opt VALUE` or `opt=VALUE` of argv gave (NULL when none), argv walked as
 * parse() walks it: an option's value is never taken for an option ("--data --threads" gives
 * --data the value "--threads"); `--x=VALUE` is one argument. */
static const char *last_value(int argc, char **argv, const char *opt)
{
    const char *v = NULL;
    size_t n = strlen(opt);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1]) continue;
        if (!strncmp(a, opt, n) && a[n] == '=') v = a + n + 1;
        if (a[1] == '-' && strchr(a, '=')) continue;
        cli probe;
        set_defaults(&probe, RUN);
        if (set_flag(&probe, a) || i + 1 >= argc) continue;
        if (!strcmp(a, opt)) v = argv[i + 1];
        i++;
    }
    return v;
}

/* A whole-number option's value: only digits, and exactly the number the digits say. */
static void same_number(int argc, char **argv, const char *opt, long long got)
{
    const char *v = last_value(argc, argv, opt);
    if (!v) return;
    need(*v != 0, "a whole number from no digits", opt);
    long long x = 0;
    for (const char *p = v; *p; p++) {
        need(*p >= '0' && *p <= '9', "a whole number with something else than digits", opt);
        need(x <= (LLONG_MAX - (*p - '0')) / 10, "a whole number past what a long long holds", opt);
        x = x * 10 + (*p - '0');
    }
    need(x == got, "a whole number other than its digits say", opt);
}

static int between(double x, double lo, double hi)
{
    return x >= lo && x <= hi; /* false for NaN */
}

static void check_config(const cli *c, int argc, char **argv)
{
    const df_config *g = &c->cfg;
    if (c->help || c->version) return;
    need(g->rules_path && *g->rules_path, "a rule file", NULL);
    if (c->cmd & (RUN | EXPLAIN)) need(g->data_dir && *g->data_dir && g->out_dir && *g->out_dir, "a folder", NULL);
    if (c->cmd == CHECK && g->data_dir) need(*g->data_dir, "an empty --data for check", NULL);
    if (c->cmd == EXPLAIN) need(c->key && *c->key, "a key to explain", NULL);
    if (c->cmd == TEST && c->tests) need(*c->tests, "an empty test file name", NULL);
    need(between(g->threads, 0, POOL_MAX_THREADS), "--threads in range", NULL);
    need(g->parse_block_kb == 0 || between((double)g->parse_block_kb, 1, 1048576), "--parse-block-kb in range", NULL);
    need(between((double)g->max_rejects, 0, 1e12), "--max-rejects in range", NULL);
    need(between(g->rule_time_limit, 0, 86400), "--rule-time-limit in range", NULL);
    need(between(g->rule_memory_limit, 0, 1048576), "--rule-memory-limit in range", NULL);
    need(g->max_reject_share == 0 || (g->max_reject_share > 0 && g->max_reject_share <= 1), "--max-reject-share in range", NULL);
    need(!last_value(argc, argv, "--max-reject-share") || g->max_reject_share > 0, "--max-reject-share given as 0", NULL);
    need(g->max_as_of_gap == 0 || between(g->max_as_of_gap, 1, 36500), "--max-as-of-gap in range", NULL);
    need(g->skip_rule_errors == 0 || g->skip_rule_errors == 1, "--on-rule-error", NULL);
    need(g->as_of_gap_fails == 0 || g->as_of_gap_fails == 1, "--on-as-of-gap", NULL);
    char b[11];
    int32_t back;
    df_format_date(g->as_of, b);
    need(df_parse_date(b, 10, &back) == 0 && back == g->as_of, "a valid as-of date", b);
    same_number(argc, argv, "--threads", g->threads);
    same_number(argc, argv, "--parse-block-kb", g->parse_block_kb);
    same_number(argc, argv, "--max-rejects", g->max_rejects);
    same_number(argc, argv, "--max-as-of-gap", g->max_as_of_gap);
}

/* A date the parser takes formats back to the same text. */
static void fuzz_date(const uint8_t *data, size_t size)
{
    int32_t d;
    if (df_parse_date((const char *)data, size, &d) != 0) return;
    char b[11];
    df_format_date(d, b);
    need(size == 10 && memcmp(b, data, 10) == 0, "a date that does not format back", b);
}

#define MAX_ARGS 40

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_sink) fuzz_sink = fopen("/dev/null", "w");
    if (size == 0) return 0;
    if (data[0] == 'D') {
        fuzz_date(data + 1, size - 1);
        return 0;
    }
    int cmd = 1 << (data[0] % 4);
    char *text = malloc(size); /* the arguments, each ended by a NUL (the last one added) */
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    char *argv[MAX_ARGS + 3] = {"defector", (char *)command_name(cmd)};
    int argc = 2;
    for (char *p = text; p < text + size && argc < MAX_ARGS + 2; p += strlen(p) + 1) argv[argc++] = p;
    if (argc > 2 && text + size - 1 == argv[argc - 1] && !*argv[argc - 1]) argc--; /* the added NUL alone */
    argv[argc] = NULL;
    cli c;
    set_defaults(&c, cmd);
    int rc = parse(&c, argc, argv);
    need(rc == 0 || rc == DF_ERR_USAGE, "a refusal other than a usage error", NULL);
    if (rc == 0) check_config(&c, argc, argv);
    free(text);
    return 0;
}

/* For replay --random: a command and a few options, each with a value from a list of the kinds
 * that break parsers (empty, signs, huge, not a number, another option). */
size_t fuzz_generate(uint32_t *rnd, uint8_t *buf, size_t cap)
{
    static const char *opts[] = {"--data", "--out", "--as-of", "--threads", "--parse-block-kb", "--max-rejects",
                                 "--rule-time-limit", "--rule-memory-limit", "--max-reject-share",
                                 "--max-as-of-gap", "--on-as-of-gap", "--on-rule-error", "--no-progress", "--customer",
                                 "rules.lua", "-", "--", "-o", "-q", "--quiet=", "--threads=", "--max-rejects=",
                                 "--parse-block-kb=", "--max-as-of-gap=", "--max-reject-share=", "--out=", "--as-of="};
    static const char *vals[] = {"", "0", "1", "-1", "+3", "2", "99999999999", "9223372036854775807",
                                 "-9223372036854775808", "18446744073709551616", "1e3", "0x10", " 5", "5 ",
                                 "nan", "inf", "2026-02-29", "2024-02-29", "2026-13-01", "fail", "warn", "skip",
                                 "--threads", "out", "1%", "100", "36500", "36501", "1048576", "1048577"};
    size_t n = 0;
    if (cap < 2) return 0;
    if (fuzz_rand(rnd, 8) == 0) { /* a date */
        buf[n++] = 'D';
        const char *v = vals[fuzz_rand(rnd, sizeof vals / sizeof *vals)];
        size_t k = strlen(v) < cap - n ? strlen(v) : cap - n;
        memcpy(buf + n, v, k);
        return n + k;
    }
    buf[n++] = (uint8_t)fuzz_rand(rnd, 4);
    for (uint32_t i = 0, parts = 1 + fuzz_rand(rnd, 8); i < parts; i++) {
        const char *p = fuzz_rand(rnd, 3) ? opts[fuzz_rand(rnd, sizeof opts / sizeof *opts)]
                                          : vals[fuzz_rand(rnd, sizeof vals / sizeof *vals)];
        size_t k = strlen(p);
        if (n + k + 1 > cap) break;
        memcpy(buf + n, p, k);
        n += k;
        if (k && p[k - 1] == '=') { /* "--threads=" takes its value in the same argument */
            const char *v = vals[fuzz_rand(rnd, sizeof vals / sizeof *vals)];
            k = strlen(v);
            if (n + k + 1 > cap) break;
            memcpy(buf + n, v, k);
            n += k;
        }
        buf[n++] = 0;
    }
    return n;
}
