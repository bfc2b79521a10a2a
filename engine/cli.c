/* cli.c: command line -> df_config -> the library, nothing else. Exit codes are df_status.
 * Every option is checked before anything runs: a value that is missing, empty, not a number,
 * past its range or given to a command that does not take it is a usage error (exit 2) that
 * names the option and the values it allows. One table says which command takes which option. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "pool.h"

static const char *USAGE =
    "usage: defector run RULES [--data DIR] [--out DIR] [--as-of YYYY-MM-DD] [options]\n"
    "       defector explain RULES --customer ID [--data DIR] [--as-of YYYY-MM-DD] [--json] [budgets]\n"
    "       defector test RULES [TESTS] [--as-of YYYY-MM-DD] [budgets]\n"
    "       defector check RULES [--data DIR]\n"
    "\n"
    "run: reads the CSV exports a rule file names (gzip or plain) from the data folder, scores every\n"
    "entity (each row of its entity table, e.g. a customer) with the rules, and writes the outputs\n"
    "the rule file declares, with rejects.csv and run_summary.json, into the output folder. A\n"
    "failed run leaves the folder as it was.\n"
    "\n"
    "  RULES               the rule file, e.g. rules/retention.lua\n"
    "  --data DIR          folder holding the input files (default: data)\n"
    "  --out DIR           folder for the outputs, created if missing (default: out)\n"
    "  --as-of DATE        score as of this date, YYYY-MM-DD (default: today, UTC);\n"
    "                      history rows dated after it are counted and ignored\n"
    "  --max-rejects N     set up to N malformed rows aside in rejects.csv and go on\n"
    "                      (0 to 1000000000000; default 0: stop at the first one)\n"
    "  --max-reject-share PCT  fail the run when more than PCT percent of an input's rows are\n"
    "                      set aside (above 0, up to 100; default 1)\n"
    "  --max-as-of-gap DAYS  warn when the as-of date is more than DAYS days after the newest\n"
    "                      row of a history (1 to 36500; default 31); also warned: an as-of\n"
    "                      date before most of a history's rows\n"
    "  --on-as-of-gap warn|fail  warn about such an as-of date (default), or fail the run\n"
    "  --threads N         worker threads (0 to 64; default 0: all cores): a history's text is\n"
    "                      cut into blocks of whole records parsed in parallel; parts of an\n"
    "                      export are read in parallel; entities are scored in N Lua states\n"
    "                      (each at least 500 entities); the outputs are the same for every N\n"
    "  --parse-block-kb N  text per parsing block (1 to 1048576; default 4096)\n"
    "  --rule-time-limit S stop the run when one entity's rules (or the rule file's top level,\n"
    "                      or a metrics function) take more than S seconds\n"
    "                      (0 to 86400; default 10; 0 = no limit)\n"
    "  --on-rule-error stop|skip  stop at a rule that fails (default), or count it as not\n"
    "                      fired for that entity, list it in rule_errors.csv and go on\n"
    "  --rule-memory-limit MB  stop the run when a Lua state holds more than MB for the rules\n"
    "                      (0 to 1048576; default 4096; 0 = no limit)\n"
    "  --progress          show a progress line even when stderr is not a terminal\n"
    "  --no-progress       never show it\n"
    "  --quiet             no report on stderr (errors are still printed)\n"
    "  --help, --version\n"
    "\n"
    "explain: scores one entity, the one whose key is ID (--customer ID), and shows every feature\n"
    "with its value, every rule (fired with its reason, or how far it was from firing), then\n"
    "points, score, band and stage. Writes no files. --json prints the same as one JSON object.\n"
    "\n"
    "explain, test and check take run's budgets, --rule-time-limit S and --rule-memory-limit MB,\n"
    "with the same defaults: user code that exceeds one (an entity's rules, the rule file's top\n"
    "level, a metrics function...) stops the command with exit code 5.\n"
    "\n"
    "test: runs the rule test cases in TESTS (default: RULES with .lua replaced by .test.lua),\n"
    "each an entity and a few history rows with the expected score, band, stage and rules,\n"
    "through the real loader and rules; prints PASS/FAIL per case and \"N passed, N failed\".\n"
    "\n"
    "Exit codes: 0 ok, 1 internal error, 2 usage, 3 input file (missing, truncated or corrupt\n"
    "gzip), 4 data (malformed rows, missing columns, too many rows rejected), 5 rule file,\n"
    "6 writing outputs, 7 out of memory, 8 rule test cases failed.\n"
    "\n"
    "check: validates a rule file without running it and prints every problem at once as\n"
    "FILE:LINE: error|warning: what — how to fix; with --data, also the columns against the\n"
    "headers of the files there. Exit code 5 when there is an error.\n";

enum { RUN = 1, EXPLAIN = 2, TEST = 4, CHECK = 8 };
static const char *const COMMAND_NAMES[] = {"run", "explain", "test", "check"};

/* What one command line asks for. */
typedef struct cli {
    int cmd; /* RUN, EXPLAIN, TEST or CHECK */
    df_config cfg;
    const char *key;   /* explain: the entity's key (--customer) */
    int json;          /* explain --json */
    const char *tests; /* test: the test file (NULL: RULES with .test.lua) */
    int help;
} cli;

static int usage_error(const char *fmt, ...) DF_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("defector: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nRun 'defector --help' for the options.\n", stderr);
    return DF_ERR_USAGE;
}

/* A whole number in [lo, hi]: only digits (no sign, no spaces), checked before it can overflow. */
static int whole_value(const char *opt, const char *v, long long lo, long long hi, const char *unit, long long *out)
{
    long long x = 0;
    int bad = !*v;
    for (const char *p = v; !bad && *p; p++) {
        if (*p < '0' || *p > '9') bad = 1;
        else if (x > (hi - (*p - '0')) / 10) return usage_error("%s: '%s' is too large: give %s from %lld to %lld", opt, v, unit, lo, hi);
        else x = x * 10 + (*p - '0');
    }
    if (bad) return usage_error("%s: '%s' is not a whole number: give %s from %lld to %lld", opt, v, unit, lo, hi);
    if (x < lo) return usage_error("%s: '%s' is too small: give %s from %lld to %lld", opt, v, unit, lo, hi);
    *out = x;
    return 0;
}

/* A decimal number in [lo, hi] ("12", "0.5", "2.25"): digits with at most one point. */
static int decimal_value(const char *opt, const char *v, double lo, double hi, const char *what, double *out)
{
    int digits = 0, points = 0, bad = 0;
    for (const char *p = v; *p; p++) {
        if (*p >= '0' && *p <= '9') digits++;
        else if (*p == '.' && !points) points++;
        else bad = 1;
    }
    double x = bad || !digits ? 0 : strtod(v, NULL);
    if (bad || !digits || x < lo || x > hi) return usage_error("%s: '%s' is not %s", opt, v, what);
    *out = x;
    return 0;
}

/* One of two words: 0 for a, 1 for b. */
static int choice_value(const char *opt, const char *v, const char *a, const char *b, int *out)
{
    if (strcmp(v, a) && strcmp(v, b)) return usage_error("%s: '%s'; use %s or %s", opt, v, a, b);
    *out = strcmp(v, b) == 0;
    return 0;
}

static int text_value(const char *opt, const char *v, const char *what, const char **out)
{
    if (!*v) return usage_error("%s: the value is empty; give %s", opt, what);
    *out = v;
    return 0;
}

/* Options with a value. Each sets its field of c from v (never NULL), or reports a usage error. */
static int set_option(cli *c, const char *opt, const char *v)
{
    df_config *g = &c->cfg;
    long long n;
    double x;
    int rc = 0;
    if (!strcmp(opt, "--data")) return text_value(opt, v, "the folder that holds the input files", &g->data_dir);
    if (!strcmp(opt, "--out")) return text_value(opt, v, "the folder for the outputs", &g->out_dir);
    if (!strcmp(opt, "--customer")) return text_value(opt, v, "the key of the entity to explain", &c->key);
    if (!strcmp(opt, "--as-of")) {
        if (df_parse_date(v, strlen(v), &g->as_of) != 0) return usage_error("--as-of: '%s' is not a date; write it as YYYY-MM-DD", v);
    } else if (!strcmp(opt, "--max-rejects")) {
        if (!(rc = whole_value(opt, v, 0, 1000000000000LL, "a count of rows", &n))) g->max_rejects = (long)n;
    } else if (!strcmp(opt, "--parse-block-kb")) {
        if (!(rc = whole_value(opt, v, 1, 1048576, "a size in KB", &n))) g->parse_block_kb = (long)n;
    } else if (!strcmp(opt, "--threads")) {
        if (!(rc = whole_value(opt, v, 0, POOL_MAX_THREADS, "a thread count (0: all cores)", &n))) g->threads = (int)n;
    } else if (!strcmp(opt, "--max-as-of-gap")) {
        if (!(rc = whole_value(opt, v, 1, 36500, "a number of days", &n))) g->max_as_of_gap = (int)n;
    } else if (!strcmp(opt, "--rule-time-limit")) {
        if (!(rc = decimal_value(opt, v, 0, 86400, "a number of seconds from 0 (no limit) to 86400", &x))) g->rule_time_limit = x;
    } else if (!strcmp(opt, "--rule-memory-limit")) {
        if (!(rc = decimal_value(opt, v, 0, 1048576, "a number of MB from 0 (no limit) to 1048576", &x))) g->rule_memory_limit = x;
    } else if (!strcmp(opt, "--max-reject-share")) {
        rc = decimal_value(opt, v, 0, 100, "a percentage above 0 and at most 100 (for none at all, use --max-rejects 0)", &x);
        if (!rc && x == 0) rc = usage_error("%s: '%s' is not a percentage above 0 and at most 100 (for none at all, use --max-rejects 0)", opt, v);
        if (!rc) g->max_reject_share = x / 100;
    } else if (!strcmp(opt, "--on-rule-error")) {
        rc = choice_value(opt, v, "stop", "skip", &g->skip_rule_errors);
    } else if (!strcmp(opt, "--on-as-of-gap")) {
        rc = choice_value(opt, v, "warn", "fail", &g->as_of_gap_fails);
    } else {
        return -1;
    }
    return rc;
}

/* Flags: 1 when opt is one (and sets it), 0 when not. */
static int set_flag(cli *c, const char *opt)
{
    if (!strcmp(opt, "--json")) c->json = 1;
    else if (!strcmp(opt, "--progress")) c->cfg.progress = 1;
    else if (!strcmp(opt, "--no-progress")) c->cfg.progress = 0;
    else if (!strcmp(opt, "--quiet")) c->cfg.quiet = 1;
    else if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) c->help = 1;
    else return 0;
    return 1;
}

/* Which commands take which option. */
static const struct { const char *name; int commands; } OPTIONS[] = {
    {"--data", RUN | EXPLAIN | CHECK}, {"--out", RUN}, {"--as-of", RUN | EXPLAIN | TEST},
    {"--max-rejects", RUN | EXPLAIN}, {"--max-reject-share", RUN}, {"--max-as-of-gap", RUN},
    {"--on-as-of-gap", RUN}, {"--threads", RUN | EXPLAIN}, {"--parse-block-kb", RUN | EXPLAIN},
    {"--rule-time-limit", RUN | EXPLAIN | TEST | CHECK}, {"--rule-memory-limit", RUN | EXPLAIN | TEST | CHECK},
    {"--on-rule-error", RUN | EXPLAIN}, {"--customer", EXPLAIN}, {"--json", EXPLAIN},
    {"--progress", RUN | EXPLAIN}, {"--no-progress", RUN | EXPLAIN}, {"--quiet", RUN | EXPLAIN},
    {"--help", RUN | EXPLAIN | TEST | CHECK}, {"-h", RUN | EXPLAIN | TEST | CHECK},
};

static const char *command_name(int cmd)
{
    return COMMAND_NAMES[cmd == RUN ? 0 : cmd == EXPLAIN ? 1 : cmd == TEST ? 2 : 3];
}

/* argv[*i] is an option: takes it (and its value), or reports a usage error. */
static int take_option(cli *c, int argc, char **argv, int *i)
{
    const char *opt = argv[*i];
    int known = -1;
    for (size_t k = 0; k < sizeof OPTIONS / sizeof OPTIONS[0]; k++)
        if (!strcmp(opt, OPTIONS[k].name)) known = (int)k;
    if (known < 0) return usage_error("unknown option %s", opt);
    if (!(OPTIONS[known].commands & c->cmd)) return usage_error("%s is not an option of %s", opt, command_name(c->cmd));
    if (set_flag(c, opt)) return 0;
    if (*i + 1 >= argc) return usage_error("%s needs a value", opt);
    (*i)++;
    return set_option(c, opt, argv[*i]);
}

/* The rule file, then (test) the test file. */
static int take_argument(cli *c, const char *a)
{
    if (!*a) return usage_error("an empty argument where the %s file was expected", c->cfg.rules_path ? "test" : "rule");
    if (!c->cfg.rules_path) c->cfg.rules_path = a;
    else if (c->cmd == TEST && !c->tests) c->tests = a;
    else if (c->cmd == RUN) return usage_error("unexpected argument '%s' (one rule file per run)", a);
    else return usage_error("unexpected argument '%s'", a);
    return 0;
}

static int parse(cli *c, int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int rc = a[0] == '-' && a[1] ? take_option(c, argc, argv, &i) : take_argument(c, a);
        if (rc) return rc;
        if (c->help) return 0;
    }
    if (!c->cfg.rules_path)
        return usage_error("%s needs a rule file, e.g. defector %s rules/retention.lua", command_name(c->cmd), command_name(c->cmd));
    if (c->cmd == EXPLAIN && !c->key) return usage_error("explain needs --customer ID");
    return 0;
}

static void print_failure(const cli *c, df_status st, const df_error *err)
{
    df_error_print(err, stderr);
    if (st == DF_ERR_INTERNAL) fprintf(stderr, "(raised at %s:%d)\n", err->src_file, err->src_line);
    if (c->cmd == RUN) fprintf(stderr, "defector: %s; the outputs in %s were left as they were\n", df_status_name(st), c->cfg.out_dir);
    else if (c->cmd == EXPLAIN || st == DF_ERR_NOMEM) fprintf(stderr, "defector: %s\n", df_status_name(st));
}

/* test's default test file: RULES with .lua replaced by .test.lua. */
static const char *default_tests(const char *rules, char *buf, size_t cap)
{
    size_t n = strlen(rules);
    if (n > 4 && strcmp(rules + n - 4, ".lua") == 0) n -= 4;
    snprintf(buf, cap, "%.*s.test.lua", (int)n, rules);
    return buf;
}

static int run_command(cli *c)
{
    df_error err = {0};
    df_status st;
    int failed = 0;
    char buf[4096];
    if (c->cmd == RUN) st = df_run(&c->cfg, &err);
    else if (c->cmd == EXPLAIN) st = df_explain(&c->cfg, c->key, c->json, stdout, &err);
    else if (c->cmd == TEST) st = df_test(&c->cfg, c->tests ? c->tests : default_tests(c->cfg.rules_path, buf, sizeof buf), stdout, &failed, &err);
    else st = df_check(&c->cfg, stdout, &failed, &err);
    if (st != DF_OK) {
        print_failure(c, st, &err);
        return st;
    }
    if (failed) return c->cmd == TEST ? DF_ERR_TESTS : DF_ERR_RULES;
    return 0;
}

/* The command's defaults, before its options (tests/fuzz/fuzz_cli.c starts from them too). */
static void set_defaults(cli *c, int cmd)
{
    *c = (cli){.cmd = cmd};
    c->cfg.as_of = (int32_t)(time(NULL) / 86400);
    if (cmd == RUN || cmd == EXPLAIN) c->cfg.data_dir = "data", c->cfg.out_dir = "out", c->cfg.progress = isatty(2);
    if (cmd == TEST) c->cfg.data_dir = "", c->cfg.out_dir = "";
    c->cfg.rule_time_limit = 10, c->cfg.rule_memory_limit = 4096; /* check runs the top level too */
}

static int command(int cmd, int argc, char **argv)
{
    cli c;
    set_defaults(&c, cmd);
    int rc = parse(&c, argc, argv);
    if (rc) return rc;
    if (c.help) return fputs(USAGE, stdout), 0;
    return run_command(&c);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(USAGE, stderr);
        return DF_ERR_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("defector %s\n", DF_VERSION);
        return 0;
    }
    for (int k = 0; k < 4; k++)
        if (strcmp(argv[1], COMMAND_NAMES[k]) == 0) return command(1 << k, argc, argv);
    return usage_error("unknown command '%s'; the commands are run, explain, test and check", argv[1]);
}
