/* cli.c: command line -> df_config -> the library, nothing else. Exit codes are df_status.
 * Every option is checked before anything runs: a value that is missing, empty, not a number,
 * past its range or given to a command that does not take it is a usage error (exit 2) that
 * names the option and the values it allows. One table (OPTIONS) says which command takes which
 * option, its short form, its value and its help: the parser, the global help and each command's
 * help all read it. A value is given as `--opt VALUE` or `--opt=VALUE`. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "pool.h"
#include "runlog.h"

enum { RUN = 1, EXPLAIN = 2, TEST = 4, CHECK = 8, BACKTEST = 16, DIFF = 32, ALL = 63, ERASE = 64, MERGE = 128 };
#define NCOMMANDS 8
static const char *const COMMAND_NAMES[] = {"run", "explain", "test", "check", "backtest", "diff", "erase", "merge"};

/* Each command (in COMMAND_NAMES' order): its usage line, its line in the global help, what it does. */
static const struct { const char *usage, *summary, *about; } COMMANDS[] = {
    {"defector run RULES [--data DIR] [-o DIR] [--as-of YYYY-MM-DD] [options]",
     "score every entity and write the outputs",
     "Reads the CSV exports the rule file RULES (e.g. rules/retention.lua) names, gzip or plain,\n"
     "from the data folder, scores every entity (each row of its entity table, e.g. a customer)\n"
     "with the rules, and writes the outputs the rule file declares, with rejects.csv and\n"
     "run_summary.json, into the output folder. A failed run leaves the folder as it was.\n"},
    {"defector explain RULES --customer ID [--data DIR] [--as-of YYYY-MM-DD] [--json] [options]",
     "show why one entity has its score",
     "Scores one entity, the one whose key is ID, and shows every feature with its value, every\n"
     "rule (fired with its reason, or how far it was from firing), then points, score, band and\n"
     "stage. Writes no files.\n"},
    {"defector test RULES [TESTS] [--as-of YYYY-MM-DD] [options]",
     "run the rule file's test cases",
     "Runs the rule test cases in TESTS (default: RULES with .lua replaced by .test.lua), each an\n"
     "entity and a few history rows with the expected score, band, stage and rules, through the\n"
     "real loader and rules; prints PASS/FAIL per case and \"N passed, N failed\".\n"},
    {"defector check RULES [--data DIR] [options]",
     "list every mistake in a rule file without running it",
     "Validates a rule file without running it and prints every problem at once as\n"
     "FILE:LINE: error|warning: what \xe2\x80\x94 how to fix. Exit code 5 when there is an error.\n"},
    {"defector backtest RULES --as-of YYYY-MM-DD [--as-of ...] --horizon DAYS [--data DIR] [-o DIR] [options]",
     "replay the rules at past dates against what happened after",
     "Loads the data once and scores it as of each --as-of date with the history rows dated on\n"
     "or before that date, then compares the scores with the outcome the rule file declares\n"
     "(backtest { outcome = ... }) read DAYS days later: per band and score decile, precision\n"
     "and recall at K, ROC AUC, per rule. Writes backtest_*.csv into the output folder. Entity\n"
     "columns are today's values: features read from them may know the future.\n"},
    {"defector diff OLD.lua NEW.lua [--data DIR] [-o DIR] [--as-of YYYY-MM-DD] [options]",
     "show who a rule edit moves, before the night",
     "Scores the data with both rule files and writes who moves: counts per band and stage\n"
     "before and after (diff_counts.csv), customers entering and leaving the list, changing\n"
     "band or score (diff_changes.csv), stage and band flows (diff_flows.csv), and the rules\n"
     "whose firing changed most (diff_rules.csv).\n"},
    {"defector erase --history DIR --customer ID",
     "erase one customer from the run history",
     "Removes the customer whose key is ID from every night kept in the run history DIR: their\n"
     "rows of each night's snapshot (customers.csv.gz) are dropped and their key in the nights'\n"
     "run_summary.json becomes \"(erased)\"; each file is replaced whole. Prints how many rows\n"
     "in how many nights. The outputs folder of the last night is not touched: run again.\n"},
    {"defector merge RULES SHARD_OUT... [-o DIR] [--history DIR] [options]",
     "merge the partial results of run --shard into the outputs",
     "Reads the partial results that defector run RULES --shard I/N wrote into each shard's\n"
     "output folder (SHARD_OUT, one per shard, in any order) and writes the outputs of the job\n"
     "into the output folder: byte for byte those of one run over the whole data\n"
     "(docs/scale-out.md). The as-of date and --on-rule-error are the shards'. A failed merge\n"
     "leaves the folder as it was.\n"},
};

/* An option: its name, short form, value (NULL: a flag), the commands that take it and its help
 * ('\n' starts a line). An option worded differently for some commands has one entry per wording.
 * docs/defector.1 documents each (tests/scripts/manpage.sh compares it with the help). */
typedef struct option_doc {
    const char *name, *alias, *value;
    int commands;
    const char *help;
} option_doc;
static const option_doc OPTIONS[] = {
    {"--data", NULL, "DIR", RUN | EXPLAIN | BACKTEST | DIFF, "folder holding the input files (default: data)"},
    {"--data", NULL, "DIR", CHECK, "also check the columns against the headers of the files in DIR"},
    {"--out", "-o", "DIR", RUN | BACKTEST | DIFF | MERGE, "folder for the outputs, created if missing (default: out)"},
    {"--shard", NULL, "I/N", RUN,
     "score only the entities whose key hashes to shard I of N (0 <= I <\n"
     "N <= 4096) and write their partial result for defector merge into\n"
     "the output folder (docs/scale-out.md)"},
    {"--as-of", NULL, "DATE", RUN | EXPLAIN,
     "score as of this date, YYYY-MM-DD (default: today in the time zone\n"
     "of --tz); history rows dated after it are counted and ignored"},
    {"--as-of", NULL, "DATE", TEST, "the as-of date of the cases that give none (default: today, as --tz says)"},
    {"--tz", NULL, "ZONE", RUN | EXPLAIN | TEST,
     "the time zone whose today is the default as-of date, e.g.\n"
     "Europe/Paris (default: the rule file's operations { time_zone },\n"
     "else TZ, else UTC)"},
    {"--as-of", NULL, "DATE", BACKTEST, "a date to replay the rules at, YYYY-MM-DD (required; repeat it for\n"
     "several dates, up to 64)"},
    {"--as-of", NULL, "DATE", DIFF, "score as of this date, YYYY-MM-DD (default: today, UTC)"},
    {"--horizon", NULL, "DAYS", BACKTEST, "the outcome is read DAYS days after each as-of date (1 to 36500;\n"
     "required)"},
    {"--customer", NULL, "ID", EXPLAIN, "the key of the entity to explain (required)"},
    {"--customer", NULL, "ID", ERASE, "the key of the customer to erase (required)"},
    {"--history", NULL, "DIR", ERASE, "the run history's folder (required)"},
    {"--json", NULL, NULL, EXPLAIN, "print the explanation as one JSON object"},
    {"--max-rejects", NULL, "N", RUN | EXPLAIN | BACKTEST | DIFF,
     "set up to N malformed rows aside in rejects.csv and go on\n"
     "(0 to 1000000000000; default 0: stop at the first one)"},
    {"--max-reject-share", NULL, "PCT", RUN | BACKTEST,
     "fail the run when more than PCT percent of an input's rows are\n"
     "set aside (above 0, up to 100; default 1)"},
    {"--max-as-of-gap", NULL, "DAYS", RUN | MERGE,
     "warn when the as-of date is more than DAYS days after the newest\n"
     "row of a history (1 to 36500; default 31); also warned: an as-of\n"
     "date before most of a history's rows"},
    {"--on-as-of-gap", NULL, "warn|fail", RUN | MERGE, "warn about such an as-of date (default), or fail the run"},
    {"--history", NULL, "DIR", RUN | MERGE,
     "keep the night in DIR/YYYY-MM-DD (a snapshot per customer, the\n"
     "metrics tables, run_summary.json, the rule file): what the changes\n"
     "tables compare; a night run again is replaced"},
    {"--history-keep", NULL, "DAYS", RUN | MERGE,
     "remove the nights of --history dated more than DAYS days before the\n"
     "as-of date (0 to 36500; default 400; 0: keep every night)"},
    {"--threads", NULL, "N", RUN | EXPLAIN | BACKTEST | DIFF,
     "worker threads (0 to 64; default 0: all cores): a history's text is\n"
     "cut into blocks of whole records parsed in parallel; parts of an\n"
     "export are read in parallel; entities are scored in N Lua states\n"
     "(each at least 500 entities); the outputs are the same for every N"},
    {"--parse-block-kb", NULL, "N", RUN | EXPLAIN | BACKTEST | DIFF, "text per parsing block (1 to 1048576; default 4096)"},
    {"--rule-time-limit", NULL, "S", ALL | MERGE,
     "stop when one entity's rules (or the rule file's top level, or a\n"
     "metrics function) take more than S seconds, with exit code 5\n"
     "(0 to 86400; default 10; 0 = no limit)"},
    {"--rule-memory-limit", NULL, "MB", ALL | MERGE,
     "stop when a Lua state holds more than MB for the rules, with exit\n"
     "code 5 (0 to 1048576; default 4096; 0 = no limit)"},
    {"--on-rule-error", NULL, "stop|skip", RUN | EXPLAIN | BACKTEST | DIFF,
     "stop at a rule that fails (default), or count it as not fired for\n"
     "that entity, list it in rule_errors.csv and go on"},
    {"--status-dir", NULL, "DIR", RUN | MERGE,
     "where status.json (every run, failed or not) and last_success.json\n"
     "(the last run whose outputs were committed) go (default: --out)"},
    {"--strict", NULL, NULL, RUN | MERGE, "any warning fails the run (exit code 4); also operations { strict = true }"},
    {"--no-guards", NULL, NULL, RUN | MERGE,
     "do not compare tonight's figures with the previous night's\n"
     "(operations { guards }): once, after a change checked to be real"},
    {"--wait-lock", NULL, "S", RUN | MERGE,
     "when another run holds the output folder, wait up to S seconds for\n"
     "it before refusing (0 to 86400; default 0: refuse at once)"},
    {"--on-success", NULL, "CMD", RUN | MERGE,
     "after the outputs are committed, run CMD with /bin/sh -c, the output\n"
     "folder in DEFECTOR_OUT (and as CMD's $1); its failure is exit code 9"},
    {"--log", NULL, "FILE", RUN | MERGE, "also append every message, timestamped and levelled, to FILE"},
    {"--log-format", NULL, "text|json", RUN | MERGE, "the log's lines: text (default) or one JSON object a line"},
    {"--file-mode", NULL, "MODE", RUN | MERGE,
     "the octal mode of the files written, e.g. 0600 (default: the rule\n"
     "file's operations { file_mode }, else 0640)"},
    {"--hash-ids", NULL, NULL, RUN,
     "rows in rejects.csv and example keys written as salted hashes\n"
     "(the salt from DEFECTOR_ID_SALT); also operations { hash_ids = true }"},
    {"--progress", NULL, NULL, RUN | EXPLAIN | BACKTEST | DIFF | MERGE, "show a progress line even when stderr is not a terminal"},
    {"--no-progress", NULL, NULL, RUN | EXPLAIN | BACKTEST | DIFF | MERGE, "never show it"},
    {"--quiet", "-q", NULL, RUN | EXPLAIN | BACKTEST | DIFF | MERGE,
     "no progress line and no report of counts on stderr; warnings and\n"
     "errors are still printed"},
    {"--help", "-h", NULL, ALL | ERASE | MERGE, "this help"},
    {"--version", NULL, NULL, ALL | ERASE | MERGE, "the version"},
};
#define NOPTIONS (sizeof OPTIONS / sizeof OPTIONS[0])

static const char *EXIT_CODES =
    "Exit codes: 0 ok, 1 internal error, 2 usage, 3 input file (missing, truncated or corrupt\n"
    "gzip), 4 data (malformed rows, missing columns, too many rows rejected), 5 rule file,\n"
    "6 writing outputs, 7 out of memory, 8 rule test cases failed, 9 the --on-success command\n"
    "failed (the outputs were committed).\n";

/* The version: CMakeLists.txt's project(VERSION), then git describe when the build was configured
 * in a git checkout of the sources (a tarball has none). */
#ifdef DF_GIT_DESCRIBE
#define VERSION_LINE "defector " DF_VERSION " (git " DF_GIT_DESCRIBE ")\n"
#else
#define VERSION_LINE "defector " DF_VERSION "\n"
#endif

/* What one command line asks for. */
typedef struct cli {
    int cmd; /* RUN, EXPLAIN, TEST or CHECK */
    df_config cfg;
    const char *key;   /* explain: the entity's key (--customer) */
    int json;          /* explain --json */
    const char *tests; /* test: the test file (NULL: RULES with .test.lua); diff: the new rule file */
    int32_t dates[64]; /* backtest: the --as-of dates */
    int ndates, horizon;
    int help, version; /* --help, --version: print it, run nothing */
    const char *log;   /* run --log FILE */
    const char *shards[DF_MAX_SHARDS]; /* merge: the shards' output folders */
    int log_json;      /* --log-format json */
} cli;

/* The command whose help a usage error points to (NULL: the global help). */
static const char *help_of;

static int usage_error(const char *fmt, ...) DF_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("defector: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (help_of) fprintf(stderr, "\nRun 'defector %s --help' for its options.\n", help_of);
    else fputs("\nRun 'defector --help' for the commands and options.\n", stderr);
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

/* "I/N" -> index, count; -1 unless two whole numbers with 0 <= I < N <= DF_MAX_SHARDS. */
static int shard_parse(const char *v, int *index, int *count)
{
    char *end;
    if (!v || *v < '0' || *v > '9') return -1;
    long i = strtol(v, &end, 10);
    if (*end != '/' || end[1] < '0' || end[1] > '9') return -1;
    long n = strtol(end + 1, &end, 10);
    if (*end || n < 1 || n > DF_MAX_SHARDS || i < 0 || i >= n) return -1;
    *index = (int)i, *count = (int)n;
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
    if (!strcmp(opt, "--customer")) return text_value(opt, v, c->cmd == ERASE ? "the key of the customer to erase" : "the key of the entity to explain", &c->key);
    if (!strcmp(opt, "--history")) return text_value(opt, v, "the run history's folder", &g->history_dir);
    if (!strcmp(opt, "--status-dir")) return text_value(opt, v, "the folder for status.json", &g->status_dir);
    if (!strcmp(opt, "--on-success")) return text_value(opt, v, "a shell command", &g->on_success);
    if (!strcmp(opt, "--log")) return text_value(opt, v, "the log file", &c->log);
    if (!strcmp(opt, "--shard")) {
        if (shard_parse(v, &g->shard_index, &g->shard_count) != 0)
            return usage_error("--shard: '%s' is not I/N with 0 <= I < N <= %d, e.g. --shard 0/4 (the first of 4 shards)", v, DF_MAX_SHARDS);
        return 0;
    }
    if (!strcmp(opt, "--tz")) return text_value(opt, v, "a time zone like Europe/Paris", &g->time_zone);
    if (!strcmp(opt, "--as-of")) {
        if (df_parse_date(v, strlen(v), &g->as_of) != 0) return usage_error("--as-of: '%s' is not a date; write it as YYYY-MM-DD", v);
        g->as_of_given = 1;
        if (c->cmd == BACKTEST && c->ndates == 64) return usage_error("--as-of: at most 64 dates");
        if (c->cmd == BACKTEST) c->dates[c->ndates++] = g->as_of;
    } else if (!strcmp(opt, "--horizon")) {
        if (!(rc = whole_value(opt, v, 1, 36500, "a number of days", &n))) c->horizon = (int)n;
    } else if (!strcmp(opt, "--file-mode")) {
        char *end;
        long m = strtol(v, &end, 8);
        if (!*v || *end || m < 0 || m > 0777 || v[0] == '-' || v[0] == '+')
            return usage_error("--file-mode: '%s' is not an octal mode like 0640", v);
        if (!(m & 0600) || (m & 0600) != 0600) return usage_error("--file-mode: '%s' leaves the owner unable to read and write the files; give e.g. 0600 or 0640", v);
        g->file_mode = (int)m;
    } else if (!strcmp(opt, "--wait-lock")) {
        rc = decimal_value(opt, v, 0, 86400, "a number of seconds from 0 to 86400", &x);
        if (!rc) g->lock_wait = x;
    } else if (!strcmp(opt, "--log-format")) {
        rc = choice_value(opt, v, "text", "json", &c->log_json);
    } else if (!strcmp(opt, "--max-rejects")) {
        if (!(rc = whole_value(opt, v, 0, 1000000000000LL, "a count of rows", &n))) g->max_rejects = (long)n;
    } else if (!strcmp(opt, "--parse-block-kb")) {
        if (!(rc = whole_value(opt, v, 1, 1048576, "a size in KB", &n))) g->parse_block_kb = (long)n;
    } else if (!strcmp(opt, "--threads")) {
        if (!(rc = whole_value(opt, v, 0, POOL_MAX_THREADS, "a thread count (0: all cores)", &n))) g->threads = (int)n;
    } else if (!strcmp(opt, "--history-keep")) {
        if (!(rc = whole_value(opt, v, 0, 36500, "a number of days (0: keep every night)", &n))) g->history_keep = n ? (int)n : -1;
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

/* Flags: 1 when opt (a name or a short form) is one, and sets it; 0 when not. */
static int set_flag(cli *c, const char *opt)
{
    if (!strcmp(opt, "--json")) c->json = 1;
    else if (!strcmp(opt, "--progress")) c->cfg.progress = 1;
    else if (!strcmp(opt, "--no-progress")) c->cfg.progress = 0;
    else if (!strcmp(opt, "--quiet") || !strcmp(opt, "-q")) c->cfg.quiet = 1;
    else if (!strcmp(opt, "--strict")) c->cfg.strict = 1;
    else if (!strcmp(opt, "--no-guards")) c->cfg.no_guards = 1;
    else if (!strcmp(opt, "--hash-ids")) c->cfg.hash_ids = 1;
    else if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) c->help = 1;
    else if (!strcmp(opt, "--version")) c->version = 1;
    else return 0;
    return 1;
}

static int command_index(int cmd)
{
    int k = 0;
    while (k < NCOMMANDS - 1 && cmd != 1 << k) k++;
    return k;
}

static const char *command_name(int cmd) { return COMMAND_NAMES[command_index(cmd)]; }

/* The entry of the option called name (or by its short form) for command cmd; NULL when cmd does
 * not take it. *known: 1 when some command does. */
static const option_doc *find_option(const char *name, int cmd, int *known)
{
    *known = 0;
    for (size_t k = 0; k < NOPTIONS; k++) {
        const option_doc *o = &OPTIONS[k];
        if (strcmp(name, o->name) && (!o->alias || strcmp(name, o->alias))) continue;
        *known = 1;
        if (o->commands & cmd) return o;
    }
    return NULL;
}

/* argv[*i] is an option, `--opt`, `--opt VALUE` or `--opt=VALUE`: takes it (and its value), or
 * reports a usage error. */
static int take_option(cli *c, int argc, char **argv, int *i)
{
    const char *arg = argv[*i], *eq = arg[1] == '-' ? strchr(arg, '=') : NULL;
    char name[64];
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    if (n >= sizeof name) return usage_error("unknown option %.*s", (int)n, arg);
    memcpy(name, arg, n);
    name[n] = 0;
    int known;
    const option_doc *o = find_option(name, c->cmd, &known);
    if (!known) return usage_error("unknown option %s", name);
    if (!o) return usage_error("%s is not an option of %s", name, command_name(c->cmd));
    if (!o->value) {
        if (eq) return usage_error("%s takes no value (given '%s')", o->name, eq + 1);
        return set_flag(c, o->name), 0;
    }
    if (eq) return set_option(c, o->name, eq + 1);
    if (*i + 1 >= argc) return usage_error("%s needs a value", o->name);
    (*i)++;
    return set_option(c, o->name, argv[*i]);
}

/* The rule file, then (test) the test file. */
static int take_argument(cli *c, const char *a)
{
    if (!*a) return usage_error("an empty argument where the %s file was expected", c->cfg.rules_path ? "test" : "rule");
    if (c->cmd == ERASE) return usage_error("unexpected argument '%s'; erase takes --history DIR --customer ID", a);
    if (!c->cfg.rules_path) c->cfg.rules_path = a;
    else if (c->cmd == MERGE && c->cfg.nmerge == DF_MAX_SHARDS) return usage_error("at most %d shards", DF_MAX_SHARDS);
    else if (c->cmd == MERGE) c->shards[c->cfg.nmerge++] = a, c->cfg.merge_paths = c->shards;
    else if ((c->cmd == TEST || c->cmd == DIFF) && !c->tests) c->tests = a;
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
        if (c->help || c->version) return 0;
    }
    if (c->cmd == ERASE) {
        if (!c->cfg.history_dir || !c->key) return usage_error("erase needs --history DIR and --customer ID");
        return 0;
    }
    if (!c->cfg.rules_path)
        return usage_error("%s needs a rule file, e.g. defector %s rules/retention.lua", command_name(c->cmd), command_name(c->cmd));
    if (c->cmd == EXPLAIN && !c->key) return usage_error("explain needs --customer ID");
    if (c->cmd == BACKTEST && !c->ndates) return usage_error("backtest needs --as-of YYYY-MM-DD (one or more)");
    if (c->cmd == BACKTEST && !c->horizon) return usage_error("backtest needs --horizon DAYS");
    if (c->cmd == MERGE && !c->cfg.nmerge)
        return usage_error("merge needs the output folder of each shard: defector merge RULES OUT0 OUT1 ... -o DIR");
    if (c->cmd == RUN && c->cfg.shard_count && c->cfg.on_success)
        return usage_error("--on-success is the merge's (a shard commits a partial result, not the outputs): give it to defector merge");
    if (c->cmd == DIFF && !c->tests) return usage_error("diff needs two rule files: defector diff OLD.lua NEW.lua");
    if (c->cfg.quiet) c->cfg.progress = 0;
    if (c->log_json && !c->log) return usage_error("--log-format needs --log FILE");
    if (!c->cfg.as_of_given && (c->cmd & (RUN | EXPLAIN | TEST))) { /* today where the user is */
        df_error e = {0};
        if (df_today(c->cfg.time_zone, &c->cfg.as_of, &e) == DF_OK) return 0;
        if (e.status != DF_ERR_NOMEM) return usage_error("%s: %s", e.where, e.message);
        df_error_print(&e, stderr);
        fputs("defector: out of memory\n", stderr);
        return DF_ERR_NOMEM;
    }
    return 0;
}

/* "  -o, --out DIR         folder for ..." and the help's further lines, aligned. */
static void print_option(const option_doc *o, FILE *f)
{
    char left[64];
    snprintf(left, sizeof left, "  %s%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "", o->name,
             o->value ? " " : "", o->value ? o->value : "");
    fprintf(f, strlen(left) < 24 ? "%-24s" : "%s  ", left);
    for (const char *p = o->help; *p;) {
        size_t n = strcspn(p, "\n");
        fprintf(f, "%.*s\n", (int)n, p);
        p += n;
        if (*p) p++, fprintf(f, "%24s", "");
    }
}

/* The global help: every command, every option with the commands that take it, the exit codes. */
static void print_help(FILE *f)
{
    fputs("usage: ", f);
    for (int k = 0; k < NCOMMANDS; k++) fprintf(f, "%s%s\n", k ? "       " : "", COMMANDS[k].usage);
    fputs("       defector help [COMMAND]\n       defector --version\n\nCommands:\n", f);
    for (int k = 0; k < NCOMMANDS; k++) fprintf(f, "  %-9s%s\n", COMMAND_NAMES[k], COMMANDS[k].summary);
    fputs("  help     this help, or one command's: defector help run (or defector run --help)\n"
          "  version  the version, as --version does\n\n"
          "Options (the commands that take one are listed after it; a value is given as\n"
          "--opt VALUE or --opt=VALUE):\n", f);
    for (size_t k = 0; k < NOPTIONS; k++) {
        print_option(&OPTIONS[k], f);
        fprintf(f, "%24s(", "");
        for (int b = 0, first = 1; b < NCOMMANDS; b++)
            if (OPTIONS[k].commands & (1 << b)) fprintf(f, "%s%s", first ? "" : ", ", COMMAND_NAMES[b]), first = 0;
        fputs(")\n", f);
    }
    fputc('\n', f);
    fputs(EXIT_CODES, f);
}

/* One command's help: its usage, what it does, its options. */
static void print_command_help(int cmd, FILE *f)
{
    int k = command_index(cmd);
    fprintf(f, "usage: %s\n\n%s\nOptions (a value is given as --opt VALUE or --opt=VALUE):\n", COMMANDS[k].usage,
            COMMANDS[k].about);
    for (size_t o = 0; o < NOPTIONS; o++)
        if (OPTIONS[o].commands & cmd) print_option(&OPTIONS[o], f);
    fputc('\n', f);
    fputs(EXIT_CODES, f);
}

static void print_failure(const cli *c, df_status st, const df_error *err)
{
    df_error_print(err, stderr);
    if (st == DF_ERR_INTERNAL) fprintf(stderr, "(raised at %s:%d)\n", err->src_file, err->src_line);
    if ((c->cmd == RUN || c->cmd == MERGE) && st == DF_ERR_DELIVERY) fprintf(stderr, "defector: %s; the outputs in %s were committed\n", df_status_name(st), c->cfg.out_dir);
    else if (c->cmd == RUN || c->cmd == BACKTEST || c->cmd == DIFF || c->cmd == MERGE)
        fprintf(stderr, "defector: %s; the outputs in %s were left as they were\n", df_status_name(st), c->cfg.out_dir);
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

static int run_command(cli *c, int argc, char **argv)
{
    df_error err = {0};
    df_status st;
    int failed = 0;
    char buf[4096];
    if (c->log && (st = runlog_start(c->log, c->log_json, argc, argv, &err)) != DF_OK) {
        df_error_print(&err, stderr);
        return st;
    }
    if (c->cmd == RUN || c->cmd == MERGE) st = df_run(&c->cfg, &err);
    else if (c->cmd == EXPLAIN) st = df_explain(&c->cfg, c->key, c->json, stdout, &err);
    else if (c->cmd == ERASE) st = df_erase(c->cfg.history_dir, c->key, stdout, &err);
    else if (c->cmd == BACKTEST) st = df_backtest(&c->cfg, c->dates, c->ndates, c->horizon, &err);
    else if (c->cmd == DIFF) {
        const char *old_rules = c->cfg.rules_path;
        c->cfg.rules_path = c->tests;
        st = df_diff(&c->cfg, old_rules, &err);
    } else if (c->cmd == TEST) st = df_test(&c->cfg, c->tests ? c->tests : default_tests(c->cfg.rules_path, buf, sizeof buf), stdout, &failed, &err);
    else st = df_check(&c->cfg, stdout, &failed, &err);
    if (st != DF_OK) print_failure(c, st, &err);
    int rc = st != DF_OK ? (int)st : failed ? (c->cmd == TEST ? DF_ERR_TESTS : DF_ERR_RULES) : 0;
    if (c->log) runlog_end(rc, df_status_name((df_status)rc));
    return rc;
}

/* The command's defaults, before its options (tests/fuzz/fuzz_cli.c starts from them too). */
static void set_defaults(cli *c, int cmd)
{
    *c = (cli){.cmd = cmd};
    c->cfg.as_of = (int32_t)(time(NULL) / 86400);
    if (cmd == RUN || cmd == EXPLAIN || cmd == BACKTEST || cmd == DIFF || cmd == MERGE)
        c->cfg.data_dir = "data", c->cfg.out_dir = "out", c->cfg.progress = isatty(2);
    if (cmd == TEST) c->cfg.data_dir = "", c->cfg.out_dir = "";
    c->cfg.rule_time_limit = 10, c->cfg.rule_memory_limit = 4096; /* check runs the top level too */
}

/* The command cmd from argv[2] on. */
static int command(int cmd, int argc, char **argv)
{
    cli c;
    set_defaults(&c, cmd);
    help_of = command_name(cmd);
    int rc = parse(&c, argc, argv);
    if (rc) return rc;
    if (c.help) return print_command_help(cmd, stdout), 0;
    if (c.version) return fputs(VERSION_LINE, stdout), 0;
    return run_command(&c, argc, argv);
}

/* The command called name: RUN...CHECK, or 0. */
static int command_of(const char *name)
{
    for (int k = 0; k < NCOMMANDS; k++)
        if (strcmp(name, COMMAND_NAMES[k]) == 0) return 1 << k;
    return 0;
}

/* defector help [COMMAND] */
static int help(int argc, char **argv)
{
    if (argc < 3) return print_help(stdout), 0;
    int cmd = command_of(argv[2]);
    if (!cmd || argc > 3) return usage_error("help takes one of the commands run, explain, test, check, backtest, diff, erase and merge");
    return print_command_help(cmd, stdout), 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return DF_ERR_USAGE;
    }
    const char *a = argv[1];
    if (!strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "help")) return help(argc, argv);
    if (!strcmp(a, "--version") || !strcmp(a, "version")) {
        if (argc > 2) return usage_error("%s takes no arguments", a);
        return fputs(VERSION_LINE, stdout), 0;
    }
    int cmd = command_of(a);
    if (cmd) return command(cmd, argc, argv);
    return usage_error("unknown command '%s'; the commands are run, explain, test, check, backtest, diff, erase, merge, help and version", a);
}
