/* history.h: the run history (--history DIR, docs/history.md): a night folder per as-of date,
 * written like --out (commit.c) and committed before it; the previous night; retention; and the
 * changes since the previous night (changes.c). */
#ifndef DF_HISTORY_H
#define DF_HISTORY_H

#include "luascore.h"
#include "output.h"
#include "run.h"

/* Opens the night folder HISTORY/YYYY-MM-DD of cfg's as-of date (its lock taken). */
df_status history_open(const df_config *cfg, outset **night, df_error *err);
/* Fills the night beside the snapshot: the metrics tables and run_summary.json of the run's
 * output set o (finished early for that), and the rule file's text. */
df_status history_fill(outset *night, outset *o, const history_info *h, const char *src, size_t len, df_error *err);
/* After a committed run: removes night folders dated more than cfg->history_keep days before
 * the as-of date (a warning on stderr for one that cannot be removed). */
void history_prune(const df_config *cfg);
/* The newest committed night of dir dated before as_of: its folder into *path (malloc'd), NULL
 * when there is none (or no folder dir); an error when the folder cannot be read. */
df_status history_previous(const char *dir, int32_t as_of, char **path, df_error *err);

/* The newest committed nights of dir dated before as_of, at most max, oldest first, into
 * dates (days), how many into *count. */
df_status history_nights(const char *dir, int32_t as_of, int32_t *dates, int max, int *count, df_error *err);

/* The header of period.csv (the night's churn and revenue retention since the previous night). */
extern const char *const PERIOD_HEADER[11];

/* The trend tables (trend {}, churn {}) into o: tonight's metrics tables (and period row) after
 * those of the nights before (history_nights). */
df_status trends_write(outset *o, outset *night, const df_config *cfg, const history_info *h, df_error *err);

/* The changes tables (changes {} of the rule file) into o: this night's snapshot (the file of
 * night, finished here) against the previous night's. With no previous night (or no --history)
 * the tables are empty and *note says why (a warning for the summary). */
df_status changes_write(outset *o, outset *night, const df_config *cfg, const history_info *h, char *note,
                        size_t cap, df_error *err);

#endif
