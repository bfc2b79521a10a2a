/* luabridge.h: the LuaJIT side of a run. One Lua state per worker; the rule file runs in a
 * sandbox; the per-customer loop runs inside LuaJIT over FFI views of the C columns. */
#ifndef DF_LUABRIDGE_H
#define DF_LUABRIDGE_H

#include "output.h"
#include "progress.h"
#include "table.h"

#define DF_MAX_TABLES 16
#define DF_MAX_RULES 256

typedef struct lbridge lbridge;

typedef struct score_stats {
    uint64_t customers;
    int states; /* Lua states that scored (one per thread; fewer for few customers) */
    double score_seconds, write_seconds;
    int nrules;
    char rule_code[DF_MAX_RULES][64];
    uint64_t rule_fired[DF_MAX_RULES];
    uint64_t rule_errors[DF_MAX_RULES]; /* --on-rule-error skip: failures per rule */
    int has_overrides;
    char overrides_file[512], overrides_expired_list[2048];
    uint64_t overrides_applied, overrides_active, overrides_expired;
} score_stats;

/* Budgets for scoring, enforced by a watchdog thread (see luabridge.c). */
typedef struct lb_limits {
    const char *rules_path;
    double time_limit;   /* seconds per customer, 0 = none */
    double memory_limit; /* MB the scoring phase may add, 0 = none */
    int skip_rule_errors; /* 1: a failing rule counts as not fired (rule_errors.csv) */
    int threads;          /* > 1: score in that many Lua states (each builds its own from source) */
    const char *source;   /* the rule file's text */
    size_t source_len;
} lb_limits;

df_status lb_new(lbridge **out, df_error *err);
void lb_free(lbridge *b);
/* Runs the rule file's declarations and fills tables[] (name, file, key, columns) from them;
 * the entity table comes first. */
df_status lb_declare(lbridge *b, const char *rules_path, const char *source, size_t len, int32_t as_of,
                     table *tables, int *ntables, df_error *err);
/* Scores every entity and writes the outputs the rule file declares into o. */
df_status lb_run(lbridge *b, table *tables, int ntables, int32_t as_of, outset *o, progress *prog,
                 const lb_limits *lim, score_stats *st, df_error *err);

/* Evaluates entity row 0 (the loader kept only that customer) with a trace and returns the
 * report (malloc'd text, or JSON when json = 1) in *text. */
df_status lb_explain(lbridge *b, table *tables, int ntables, int32_t as_of, int json, char **text, df_error *err);

/* defector test: loads the cases of a test file (count in *ncases), tells case i's name and
 * as-of date, writes its input files into dir, and checks a case's result against its
 * expectations (*pass, and msg when it fails). Cases are numbered from 1. */
df_status lb_load_cases(lbridge *b, const char *path, const char *src, size_t len, int *ncases, df_error *err);
void lb_case_info(lbridge *b, int i, char *name, size_t ncap, char *as_of, size_t acap);
df_status lb_case_files(lbridge *b, int i, const char *dir, char *id, size_t idcap, df_error *err);
df_status lb_case_check(lbridge *b, table *tables, int ntables, int32_t as_of, int i, int *pass, char *msg,
                        size_t mcap, df_error *err);

/* defector check: all findings of a rule file at once, "file:line: severity: what — how to fix"
 * per line (malloc'd *text), checked against the headers of the files in the data folder when
 * have_data. */
typedef struct lb_header {
    const char *file;
    char **names;
    int n;
} lb_header;
df_status lb_check(lbridge *b, const char *rules_path, const char *src, size_t len, int32_t as_of,
                   const lb_header *headers, int nheaders, int have_data, char **text, int *errors, int *warnings,
                   df_error *err);

#endif
