/* defector: public API of the batch retention engine.
 *
 * The engine streams gzip (or plain) CSV exports into typed columns, runs a Lua rule file
 * over every entity (a row of the entity table, e.g. a customer) and its grouped histories,
 * and writes the outputs the rule file declares (CSV tables plus run_summary.json)
 * atomically into an output folder.
 * The CLI (engine/cli.c) is a thin layer over df_run(). */
#ifndef DEFECTOR_H
#define DEFECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* DF_VERSION, "X.Y.Z", comes from project(VERSION) in CMakeLists.txt (a compile definition). */
#ifndef DF_VERSION
#error "DF_VERSION is set by CMakeLists.txt from project(VERSION): build with CMake"
#endif

#define DF_DEFAULT_HISTORY_KEEP 400

/* The defaults of the plausibility guards (df_config.max_reject_share, .max_as_of_gap). */
#define DF_DEFAULT_REJECT_SHARE 0.01
#define DF_DEFAULT_AS_OF_GAP 31

/* Status codes double as the CLI's exit codes. */
typedef enum df_status {
    DF_OK = 0,
    DF_ERR_INTERNAL = 1, /* a bug: please report it */
    DF_ERR_USAGE = 2,    /* bad command line */
    DF_ERR_IO = 3,       /* missing/unreadable input, truncated or corrupt gzip */
    DF_ERR_DATA = 4,     /* malformed rows, missing columns, too many rejects */
    DF_ERR_RULES = 5,    /* rule file: syntax, declaration or runtime error */
    DF_ERR_OUTPUT = 6,   /* cannot write the outputs */
    DF_ERR_NOMEM = 7,    /* out of memory */
    DF_ERR_TESTS = 8,    /* defector test: some rule test cases failed */
    DF_ERR_DELIVERY = 9  /* run --on-success: the outputs were committed, the command failed */
} df_status;

typedef struct df_error {
    df_status status;
    const char *src_file; /* where in the engine it was raised (for us) */
    int src_line;
    char where[512];    /* where in the user's data or rules (for the user), may be empty */
    char message[2048]; /* what is wrong and how to fix it */
} df_error;

#define DF_MAX_SHARDS 4096 /* shards of one job (run --shard I/N, defector merge) */

typedef struct df_config {
    const char *rules_path; /* the rule file */
    const char *data_dir;   /* folder holding the input files the rule file names */
    const char *out_dir;    /* folder for the outputs, created if missing */
    int32_t as_of;          /* days since 1970-01-01 */
    int threads;            /* worker threads; 0 = all cores */
    double rule_time_limit; /* seconds one entity's evaluation may take; 0 = no limit */
    double rule_memory_limit; /* MB the scoring phase may add to the process; 0 = no limit */
    int skip_rule_errors;   /* 1: a rule that fails counts as not fired (rule_errors.csv); 0: stop */
    long parse_block_kb;    /* text per parsing block when threads > 1 (0: 4096 KB) */
    long max_rejects;       /* malformed rows tolerated (to rejects.csv); 0 = stop on the first */
    /* Plausibility guards of df_run (README "Guards"): */
    double max_reject_share; /* share of an input's rows that may be rejected, 0..1 (0: the default
                                DF_DEFAULT_REJECT_SHARE; 1: no limit); past it the run fails (data) */
    int max_as_of_gap;      /* days the as-of date may lie after a history's newest row (0: the
                               default DF_DEFAULT_AS_OF_GAP); past it, or before most of its rows, a warning */
    int as_of_gap_fails;    /* 1: that warning fails the run instead (data) */
    int progress;           /* 1: progress line on stderr */
    int quiet;              /* 1: of the report on stderr, the warnings only */
    /* Running unattended (docs/operations.md); the rule file's operations { } fills what the
     * command line leaves unset: */
    const char *status_dir; /* where status.json and last_success.json go (NULL: out_dir) */
    int strict;             /* 1: any warning fails the run (data) */
    double lock_wait;       /* seconds to wait for the output folder's lock (0: refuse at once) */
    const char *on_success; /* shell command run after a successful commit (NULL: none) */
    int file_mode;          /* mode of the files written (0: the rule file's, else 0640) */
    int hash_ids;           /* 1: ids and raw rows hashed in rejects.csv, messages and examples */
    const char *time_zone;  /* --tz (NULL: the rule file's, else TZ, else UTC) */
    int as_of_given;        /* 0: as_of is today in the time zone (df_today), and the rule file may move it */
    int no_guards;          /* 1: the guards against the previous night are not checked (once, after a real change) */
    const char *history_dir; /* --history: the run history's folder (docs/history.md); NULL none */
    int history_keep;       /* --history-keep: days of nights kept (0: the default
                               DF_DEFAULT_HISTORY_KEEP; -1: all) */
    /* Past one machine (docs/scale-out.md): run --shard I/N scores the entities whose key hashes
     * to shard I of N and writes its partial result into out_dir; defector merge reads the
     * partials of merge_paths (the shards' out_dir) and writes the outputs of one run. */
    int shard_index, shard_count; /* shard_count 0: not a shard; at most DF_MAX_SHARDS */
    const char *const *merge_paths;
    int nmerge;             /* > 0: df_run merges the partials (defector merge) */
} df_config;

/* Runs the job. On failure fills *err (when err != NULL) and leaves out_dir untouched. */
df_status df_run(const df_config *cfg, df_error *err);

/* explain: scores one entity (its key matched byte for byte) with the rule file and
 * writes every feature, every rule (fired, or how far from firing), score, band and stage to out,
 * as text or (json = 1) JSON. Writes no files. */
df_status df_explain(const df_config *cfg, const char *key, int json, FILE *out, df_error *err);

/* test: runs the cases of a rule test file (each an entity with a few history rows and the
 * expected score, band, stage, rules or feature values) through the real loader and the rule
 * file, printing PASS/FAIL per case and "N passed, N failed"; *failed counts the failures. */
df_status df_test(const df_config *cfg, const char *tests_path, FILE *out, int *failed, df_error *err);

/* check: validates a rule file without running the job (syntax, unknown names and fields, outputs,
 * bands, stages, and with cfg->data_dir the columns against the files' headers), printing every
 * finding as "file:line: severity: what — how to fix"; *errors counts the errors. */
df_status df_check(const df_config *cfg, FILE *out, int *errors, df_error *err);

/* erase: the customer whose key is key out of every committed night of the run history in
 * history (docs/operations.md): their snapshot rows dropped, their key in the nights' run
 * summaries replaced; one line on out says how many rows in how many nights. */
df_status df_erase(const char *history, const char *key, FILE *out, df_error *err);
/* backtest: replays the rule file at each of the n as-of dates (history rows dated on or before
 * each) and compares the scores with the outcome the rule file declares, read horizon days
 * later; writes backtest_*.csv into cfg->out_dir (docs/history.md, Backtest). */
df_status df_backtest(const df_config *cfg, const int32_t *as_of, int n, int horizon, df_error *err);

/* diff: scores cfg->data_dir as of cfg->as_of with the rule files old_rules and cfg->rules_path
 * and writes who moves (diff_*.csv) into cfg->out_dir. */
df_status df_diff(const df_config *cfg, const char *old_rules, df_error *err);

/* "YYYY-MM-DD" -> days since 1970-01-01; returns 0 on success, -1 when not a valid date. */
int df_parse_date(const char *s, size_t n, int32_t *days);
/* days since 1970-01-01 -> "YYYY-MM-DD" (buf of at least 11 bytes). */
void df_format_date(int32_t days, char *buf);

/* Today's date in time zone tz ("Area/City"; NULL or "": TZ from the environment, else UTC) as
 * days since 1970-01-01. "Now" is the clock, or DEFECTOR_NOW=YYYY-MM-DDTHH:MM:SSZ (for tests
 * only). A zone that is not in the system's time zone database is an error (usage). */
df_status df_today(const char *tz, int32_t *days, df_error *err);

/* Human-readable name of a status. */
const char *df_status_name(df_status s);

#endif
