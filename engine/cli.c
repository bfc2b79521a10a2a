/* cli.c: command line -> df_config -> df_run(), nothing else. Exit codes are df_status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

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
    "                      (default 0: stop at the first one)\n"
    "  --threads N         worker threads (default: all cores): a history's text is cut into\n"
    "                      blocks of whole records parsed in parallel; parts of an export are\n"
    "                      read in parallel; entities are scored in N Lua states (each\n"
    "                      at least 500 entities); the outputs are the same for every N\n"
    "  --parse-block-kb N  text per parsing block (default 8192)\n"
    "  --rule-time-limit S stop the run when one entity's rules (or the rule file's top level,\n"
    "                      or a metrics function) take more than S seconds\n"
    "                      (default 10; 0 = no limit)\n"
    "  --on-rule-error stop|skip  stop at a rule that fails (default), or count it as not\n"
    "                      fired for that entity, list it in rule_errors.csv and go on\n"
    "  --rule-memory-limit MB  stop the run when a Lua state holds more than MB for the rules\n"
    "                      (default 4096; 0 = no limit)\n"
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
    "gzip), 4 data (malformed rows, missing columns), 5 rule file, 6 writing outputs, 7 out of memory,\n"
    "8 rule test cases failed.\n"
    "\n"
    "check: validates a rule file without running it and prints every problem at once as\n"
    "FILE:LINE: error|warning: what — how to fix; with --data, also the columns against the\n"
    "headers of the files there. Exit code 5 when there is an error.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "defector: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun 'defector --help' for the options.\n");
    return DF_ERR_USAGE;
}

static int parse_long(const char *s, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0) return -1;
    *out = v;
    return 0;
}

/* --rule-time-limit S or --rule-memory-limit MB with its value v: 1 when a is one of them, 0 when
 * not, or DF_ERR_USAGE (reported) when v is not a number. */
static int budget_option(const char *a, const char *v, df_config *cfg)
{
    int is_time = strcmp(a, "--rule-time-limit") == 0;
    if (!is_time && strcmp(a, "--rule-memory-limit") != 0) return 0;
    char *end;
    double x = v ? strtod(v, &end) : -1;
    if (!v || !*v || *end || x < 0) return usage_error("%s needs a number of seconds or MB, 0 for no limit", a);
    if (is_time) cfg->rule_time_limit = x;
    else cfg->rule_memory_limit = x;
    return 1;
}

static int cmd_run(int argc, char **argv, int explain)
{
    df_config cfg = {.data_dir = "data", .out_dir = "out", .progress = isatty(2), .rule_time_limit = 10,
                     .rule_memory_limit = 4096};
    const char *key = NULL; /* explain: the entity's key (--customer) */
    int json = 0;
    time_t now = time(NULL);
    cfg.as_of = (int32_t)(now / 86400);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        int b = budget_option(a, v, &cfg);
        if (b == DF_ERR_USAGE) return b;
        if (b) {
            i++;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(USAGE, stdout);
            return 0;
        } else if (strcmp(a, "--data") == 0 && v) cfg.data_dir = v, i++;
        else if (strcmp(a, "--out") == 0 && v) cfg.out_dir = v, i++;
        else if (strcmp(a, "--as-of") == 0 && v) {
            if (df_parse_date(v, strlen(v), &cfg.as_of) != 0) return usage_error("--as-of: '%s' is not a date; write it as YYYY-MM-DD", v);
            i++;
        } else if (strcmp(a, "--max-rejects") == 0 && v) {
            if (parse_long(v, &n) != 0) return usage_error("--max-rejects: '%s' is not a count", v);
            cfg.max_rejects = n, i++;
        } else if (strcmp(a, "--parse-block-kb") == 0 && v) {
            if (parse_long(v, &n) != 0 || n < 1) return usage_error("--parse-block-kb: '%s' is not a size in KB", v);
            cfg.parse_block_kb = n, i++;
        } else if (strcmp(a, "--threads") == 0 && v) {
            if (parse_long(v, &n) != 0 || n > 1024) return usage_error("--threads: '%s' is not a thread count", v);
            cfg.threads = (int)n, i++;
        } else if (strcmp(a, "--on-rule-error") == 0 && v) {
            if (strcmp(v, "stop") && strcmp(v, "skip")) return usage_error("--on-rule-error: '%s'; use stop or skip", v);
            cfg.skip_rule_errors = strcmp(v, "skip") == 0, i++;
        } else if (explain && strcmp(a, "--customer") == 0 && v) key = v, i++;
        else if (explain && strcmp(a, "--json") == 0) json = 1;
        else if (strcmp(a, "--progress") == 0) cfg.progress = 1;
        else if (strcmp(a, "--no-progress") == 0) cfg.progress = 0;
        else if (strcmp(a, "--quiet") == 0) cfg.quiet = 1;
        else if (a[0] == '-' && a[1] == '-') {
            if (!v && (strcmp(a, "--data") == 0 || strcmp(a, "--out") == 0 || strcmp(a, "--as-of") == 0 ||
                       strcmp(a, "--max-rejects") == 0 || strcmp(a, "--threads") == 0 || strcmp(a, "--customer") == 0 || strcmp(a, "--on-rule-error") == 0))
                return usage_error("%s needs a value", a);
            return usage_error("unknown option %s", a);
        } else if (!cfg.rules_path) cfg.rules_path = a;
        else return usage_error("unexpected argument '%s' (one rule file per run)", a);
    }
    if (!cfg.rules_path) return usage_error("%s", "run needs a rule file, e.g. defector run rules/retention.lua");
    if (explain && !key) return usage_error("%s", "explain needs --customer ID");
    df_error err = {0};
    df_status st = explain ? df_explain(&cfg, key, json, stdout, &err) : df_run(&cfg, &err);
    if (st != DF_OK) {
        df_error_print(&err, stderr);
        if (st == DF_ERR_INTERNAL) fprintf(stderr, "(raised at %s:%d)\n", err.src_file, err.src_line);
        if (explain) fprintf(stderr, "defector: %s\n", df_status_name(st));
        else fprintf(stderr, "defector: %s; the outputs in %s were left as they were\n", df_status_name(st), cfg.out_dir);
    }
    return st;
}

static int cmd_check(int argc, char **argv)
{
    df_config cfg = {.data_dir = NULL, .rule_time_limit = 10, .rule_memory_limit = 4096};
    cfg.as_of = (int32_t)(time(NULL) / 86400);
    for (int i = 2; i < argc; i++) {
        int b = budget_option(argv[i], i + 1 < argc ? argv[i + 1] : NULL, &cfg); /* check runs the top level */
        if (b == DF_ERR_USAGE) return b;
        if (b) {
            i++;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0) return fputs(USAGE, stdout), 0;
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) cfg.data_dir = argv[++i];
        else if (argv[i][0] == '-') return usage_error("unknown option %s", argv[i]);
        else if (!cfg.rules_path) cfg.rules_path = argv[i];
        else return usage_error("unexpected argument '%s'", argv[i]);
    }
    if (!cfg.rules_path) return usage_error("%s", "check needs a rule file, e.g. defector check rules/retention.lua");
    df_error err = {0};
    int errors = 0;
    df_status st = df_check(&cfg, stdout, &errors, &err);
    if (st != DF_OK) {
        df_error_print(&err, stderr);
        return st;
    }
    return errors ? DF_ERR_RULES : 0;
}

static int cmd_test(int argc, char **argv)
{
    df_config cfg = {.data_dir = "", .out_dir = "", .rule_time_limit = 10, .rule_memory_limit = 4096};
    cfg.as_of = (int32_t)(time(NULL) / 86400);
    const char *tests = NULL;
    for (int i = 2; i < argc; i++) {
        int b = budget_option(argv[i], i + 1 < argc ? argv[i + 1] : NULL, &cfg);
        if (b == DF_ERR_USAGE) return b;
        if (b) {
            i++;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0) return fputs(USAGE, stdout), 0;
        if (strcmp(argv[i], "--as-of") == 0 && i + 1 < argc) {
            if (df_parse_date(argv[i + 1], strlen(argv[i + 1]), &cfg.as_of) != 0)
                return usage_error("--as-of: '%s' is not a date; write it as YYYY-MM-DD", argv[i + 1]);
            i++;
        } else if (argv[i][0] == '-') return usage_error("unknown option %s", argv[i]);
        else if (!cfg.rules_path) cfg.rules_path = argv[i];
        else if (!tests) tests = argv[i];
        else return usage_error("unexpected argument '%s'", argv[i]);
    }
    if (!cfg.rules_path) return usage_error("%s", "test needs a rule file, e.g. defector test rules/retention.lua");
    char buf[4096];
    if (!tests) {
        size_t n = strlen(cfg.rules_path);
        if (n > 4 && strcmp(cfg.rules_path + n - 4, ".lua") == 0) n -= 4;
        snprintf(buf, sizeof buf, "%.*s.test.lua", (int)n, cfg.rules_path);
        tests = buf;
    }
    df_error err = {0};
    int failed = 0;
    df_status st = df_test(&cfg, tests, stdout, &failed, &err);
    if (st != DF_OK) {
        df_error_print(&err, stderr);
        return st;
    }
    return failed ? DF_ERR_TESTS : 0;
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
    if (strcmp(argv[1], "run") == 0) return cmd_run(argc, argv, 0);
    if (strcmp(argv[1], "explain") == 0) return cmd_run(argc, argv, 1);
    if (strcmp(argv[1], "test") == 0) return cmd_test(argc, argv);
    if (strcmp(argv[1], "check") == 0) return cmd_check(argc, argv);
    return usage_error("unknown command '%s'; the commands are run, explain, test and check", argv[1]);
}
