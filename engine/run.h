/* run.h: what a run measured, shared by run.c (which fills it) and summary.c (which writes it). */
#ifndef DF_RUN_H
#define DF_RUN_H

#include "luascore.h"
#include "output.h"
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

/* Writes run_summary.json into o (committed with the other outputs). */
df_status summary_write(outset *o, const run_info *r, df_error *err);
/* A short human report on stderr. */
void summary_report(const run_info *r, const outset *o, FILE *f);

#endif
