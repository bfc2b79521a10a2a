/* luascore.h: scoring every entity of a run and writing the outputs the rule file declares,
 * in one Lua state or, with threads, in several (contiguous parts of the entities, merged in
 * entity order: the same bytes whatever the number of states). */
#ifndef DF_LUASCORE_H
#define DF_LUASCORE_H

#include "luastate.h"
#include "output.h"
#include "progress.h"
#include "watchdog.h"
#include "workbook.h"

#define DF_MAX_RULES 256
#define DF_MAX_WARNINGS 32

#define DF_MAX_NAMES 64

/* What the rule file says about the run history (snapshot {}, changes {}, its metrics tables,
 * bands and stages in their declared order), for history.c and changes.c. */
typedef struct history_info {
    char key[128];                        /* the entity key: the snapshot's first column */
    int nmetrics;                         /* the metrics {} outputs (copied into the night) */
    char metrics[DF_MAX_NAMES][128];
    int nbands, nstages;
    char bands[DF_MAX_NAMES][64], stages[DF_MAX_NAMES][64];
    char defected[128];                   /* snapshot { defected = ... }: a column, "" none */
    char revenue[128];                    /* snapshot { revenue = ... } */
    char outcome[128], eligible[128];     /* backtest { outcome, eligible } */
    char churn_file[128], trend_files[DF_MAX_NAMES][128], trend_metrics[DF_MAX_NAMES][128];
    int churn_nights, ntrends, trend_nights[DF_MAX_NAMES];
    int nk;                               /* backtest { k }: list sizes */
    int64_t k[DF_MAX_NAMES];
    char changes_file[128], flows_file[128]; /* changes { file, flows }: "" when not declared */
    double min_score_change;              /* changes { min_score_change }: 0 none */
} history_info;

typedef struct score_stats {
    uint64_t entities; /* scored */
    int states; /* Lua states that scored (one per thread; fewer for few entities) */
    double score_seconds, write_seconds;
    int nrules;
    char rule_code[DF_MAX_RULES][64];
    uint64_t rule_fired[DF_MAX_RULES];
    uint64_t rule_errors[DF_MAX_RULES]; /* --on-rule-error skip: failures per rule */
    int has_overrides;
    char overrides_file[512], overrides_expired_list[2048];
    uint64_t overrides_applied, overrides_active, overrides_expired;
    int nwarnings; /* the rule file's warnings (a filter value no row has...), at most DF_MAX_WARNINGS */
    char warnings[DF_MAX_WARNINGS][512];
    history_info hist;
} score_stats;

typedef struct score_opts {
    const char *rules_path;
    int skip_rule_errors; /* 1: a failing rule counts as not fired (rule_errors.csv) */
    int threads;          /* > 1: score in that many Lua states (each builds its own from source) */
    const char *source;   /* the rule file's text */
    size_t source_len;
    watchdog *wd;         /* started by the caller with the budgets; part k writes to its watch k */
    books *books;         /* the run's workbooks (workbook.h), closed by the caller */
    outset *history;      /* the night's history folder (--history), NULL without one */
    int snapshot_only;    /* 1: write the snapshot alone (backtest, diff) */
    int bound_dates;      /* 1: aggregates read only rows dated on or before the as-of date (rows
                             after it were loaded: backtest) */
    int outcome_only;     /* 1: compute only what backtest { outcome, eligible } read (an outcome date) */
    int history_plain;    /* 1: the snapshot uncompressed (backtest and diff: kept in memory, parsed at once) */
    int report_later;     /* 1: the reports are left to lb_report (run: after the tables over nights) */
    const char *history_dir; /* --history DIR (run): calls.lua reads the previous nights' snapshots */
    struct shard_state *shard; /* run --shard: score the shard's entities into a partial (shards.h) */
} score_opts;

/* The rule file's reports (report { }), written into o after lb_run with report_later and after
 * the tables over nights (changes, trend, churn) that they may show. */
df_status lb_report(lbridge *b, outset *o, watchdog *wd, df_error *err);

/* Reads the stats of M.run, M.finish or M.merge (on top of L's stack) into st and pops them. */
void lb_read_stats(lua_State *L, score_stats *st);

/* Scores every entity and writes the outputs the rule file declares into o. */
df_status lb_run(lbridge *b, table *tables, int ntables, int32_t as_of, outset *o, progress *prog,
                 const score_opts *so, score_stats *st, df_error *err);

#endif
