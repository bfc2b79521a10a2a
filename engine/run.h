/* run.h: what a run measured, shared by run.c (which fills it) and summary.c (which writes it),
 * and the stages of a run that explain, test and check reuse (authoring.c). */
#ifndef DF_RUN_H
#define DF_RUN_H

#include "luascore.h"
#include "output.h"
#include "progress.h"
#include "table.h"

typedef struct run_info {
    const df_config *cfg;
    char rules_sha256[65];
    table *tables;
    int ntables;
    uint64_t rejects;
    score_stats score;
    double t_load[DF_MAX_TABLES], t_group, t_total;
    uint64_t peak_rss;
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
/* The watchdog around scoring (watchdog.h), with cfg's budgets; last_line and cleanup are what
 * the command needs said and undone when it stops the process. */
df_status run_watch(watchdog **wd, const df_config *cfg, const table *entity, const char *last_line,
                    void (*cleanup)(void *), void *ctx, df_error *err);

/* Writes run_summary.json into o (committed with the other outputs). */
df_status summary_write(outset *o, const run_info *r, df_error *err);
/* A short human report on stderr: counts, warnings, files written (with cfg->quiet, the warnings only). */
void summary_report(const run_info *r, const outset *o, FILE *f);

#endif
