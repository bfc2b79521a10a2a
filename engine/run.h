/* run.h: what a run measured, shared by run.c (which fills it) and summary.c (which writes it),
 * and the stages of a run that explain, test and check reuse (authoring.c). */
#ifndef DF_RUN_H
#define DF_RUN_H

#include "luascore.h"
#include "output.h"
#include "progress.h"
#include "table.h"

/* The rule file's operations { } (operations.lua), read once the declarations ran. */
#define DF_MAX_GUARDS 32
typedef struct ops_guard {
    char figure[256];         /* "customers", "rows:TABLE", "list:FILE" */
    double max_drop, max_rise; /* percentages; < 0: not checked */
} ops_guard;
typedef struct run_ops {
    int strict, hash_ids;     /* -1: not given */
    int file_mode;            /* 0: not given */
    char time_zone[128];      /* "": not given */
    int nguards;
    ops_guard guards[DF_MAX_GUARDS];
    int same_input;           /* 0 ignore, 1 warn, 2 fail */
} run_ops;

/* Every warning of a run (loader counts, the rule file's, the guards'): stderr, status.json,
 * and with --strict the reason the run fails. */
#define DF_MAX_RUN_WARNINGS 64
#define STATUS_RUNNING ((df_status)-1)

typedef struct run_info {
    const df_config *cfg;
    char rules_sha256[65];
    table *tables;
    int ntables;
    uint64_t rejects;
    score_stats score;
    double t_load[DF_MAX_TABLES], t_group, t_total;
    uint64_t peak_rss;
    /* running unattended (status.c) */
    run_ops ops;
    const char *salt;         /* DEFECTOR_ID_SALT, with hash_ids */
    int nwarn, nwarn_report;  /* nwarn_report: the first ones, those the report on stderr says */
    char warn[DF_MAX_RUN_WARNINGS][512];
    int committed;            /* the outputs were committed */
    int delivery_rc;          /* --on-success: its exit status (-1: not run) */
    int ntotals;              /* the totals the guards name (total:FILE:COLUMN), once read back */
    char total_name[DF_MAX_GUARDS][256];
    double total[DF_MAX_GUARDS];
    struct shard_state *shard; /* run --shard I/N, or defector merge (shards.h); NULL: neither */
    int merging;               /* defector merge: the tables' counts come from the partials */
} run_info;

/* ---- run.c's stages, shared with authoring.c (explain and test load and score as run does) ---- */

/* cfg with threads = 0 resolved to all cores (at most POOL_MAX_THREADS). */
df_config run_config(const df_config *cfg);
/* A whole file into *buf (malloc'd); what names it in messages ("rule file", "test file"). */
df_status run_read_file(const char *path, const char *what, char **buf, size_t *len, df_error *err);
/* An input the rule file names (dir/name, path in messages) is read only inside --data: a link
 * out of it is refused (a missing file is left to the loader, which says so). */
df_status run_confined(const char *dir, const char *name, const char *path, df_error *err);
/* dir/name.gz when name is missing and that is there, or dir/name without its .gz (malloc'd);
 * NULL when the other form is not there either. The rule file's customers.csv.gz is read from
 * customers.csv and the other way round (run and check alike). */
char *run_other_form(const char *dir, const char *name);
/* Loads r's tables from cfg->data_dir and groups the histories; with o, rows set aside go to
 * rejects.csv in o; with only_key, only that entity (and its history rows) is kept. */
df_status run_load(run_info *r, outset *o, progress *prog, const char *only_key, df_error *err);
/* The first steps of backtest and diff: r->cfg's rule file read (*src, *len), declared as of
 * its as-of date in a new Lua state (*lb: the caller frees it) under the budgets' watchdog (*wd,
 * started: the caller stops it), and its tables loaded into r (rows set aside into rejects.csv
 * of rej when given). */
df_status run_declare_load(run_info *r, outset *rej, lbridge **lb, watchdog **wd, char **src, size_t *len, df_error *err);
/* The watchdog around scoring (watchdog.h), with cfg's budgets; last_line and cleanup are what
 * the command needs said and undone when it stops the process. */
df_status run_watch(watchdog **wd, const df_config *cfg, const table *entity, const char *last_line,
                    void (*cleanup)(void *), void *ctx, df_error *err);

/* ---- status.c: the night's status file, the last-success marker, the guards against the
 * previous night (docs/operations.md) ---- */

/* The run's start (for status.json). */
void status_start(void);
/* The figures of r so far ("customers", "rows:TABLE", "list:FILE"), by calling fn for each. */
void status_figures(const run_info *r, const outset *o, void (*fn)(void *ctx, const char *name, double v), void *ctx);
/* The guards of r->ops against the last success in the status folder; a trip fails (data),
 * a same input warns (into r->warn) or fails. After outset_finish: the totals they name are
 * read back from the finished files. */
df_status status_guards(run_info *r, const outset *o, df_error *err);
/* Writes status.json (and after a commit last_success.json) into the status folder, atomically;
 * st and err: how the run ended, or STATUS_RUNNING (at the start, once the lock is held). A failure to write is said on stderr (the run's exit code
 * stays). */
void status_write(const run_info *r, const outset *o, df_status st, const df_error *err);

/* The rule file's operations { } once lb_declare ran (luastate.c). */
df_status lb_operations(lbridge *b, run_ops *ops, df_error *err);

/* Writes run_summary.json into o (committed with the other outputs). */
df_status summary_write(outset *o, const run_info *r, df_error *err);
/* A short human report on stderr: counts, warnings, files written (with cfg->quiet, the warnings only). */
void summary_report(const run_info *r, const outset *o, FILE *f);

#endif
