/* snapfile.h: a night's snapshot (customers.csv.gz, docs/history.md) read whole: the text
 * unquoted in place and, per row, the cells the comparisons need (key, score, band, stage,
 * on_list, reason_codes and the fields the rule file names: defected, revenue, the backtest's
 * outcome and eligible). Shared by changes.c, trends.c and backtest.c. */
#ifndef DF_SNAPFILE_H
#define DF_SNAPFILE_H

#include "history.h"
#include "strmap.h"

enum { C_KEY, C_SCORE, C_BAND, C_STAGE, C_ON_LIST, C_CODES, C_DEFECTED, C_REVENUE, C_OUTCOME, C_ELIGIBLE, NCOLS };

typedef struct snap {
    char *buf;
    size_t len, buf_cap;
    uint64_t n, cells_cap;
    uint64_t (*cells)[NCOLS][2]; /* row -> column -> {offset, length}; length UINT64_MAX: no such column */
    strmap keys;                 /* after snap_index: key -> row */
} snap;

/* The file at path (gzip) into s (zeroed before its first read); its first column must be h->key.
 * A snap read again keeps its buffers: a backtest reads 2 snapshots a date without fresh pages. */
df_status snap_read(snap *s, const char *path, const history_info *h, df_error *err);
/* The same from a snapshot's bytes in memory (buf malloc'd, owned by s from now on, also on
 * failure); what names it in messages. */
df_status snap_take(snap *s, char *buf, size_t len, const char *what, const history_info *h, df_error *err);
void snap_free(snap *s);
df_status snap_index(snap *s, df_error *err);
/* Cell k of row i (not NUL-terminated); "" when the file has no such column. */
const char *snap_cell(const snap *s, uint64_t i, int k, size_t *n);
int snap_is(const snap *s, uint64_t i, int k, const char *text);
double snap_num(const snap *s, uint64_t i, int k);
/* The position of cell k of row i among names (n of them); n + 1 when not among them. */
int snap_rank(const snap *s, uint64_t i, int k, const char (*names)[64], int n);
/* The next cell of a CSV text at *p (unquoted in place into [*start, *start + *n)); returns the
 * character that ended it: ',' '\n' or 0 at the end. */
int csv_next_cell(char *b, size_t len, size_t *p, size_t *start, size_t *n);

/* changes.c: the changes and flows tables (opened with their headers by changes_open; flows
 * "" for none) from two snapshots (prev is indexed here). */
df_status changes_open(outset *o, const history_info *h, const char *file, const char *flows, csvw **cw, csvw **fw,
                       df_error *err);
df_status changes_compare(csvw *cw, csvw *fw, snap *cur, snap *prev, const history_info *h, df_error *err);

#endif
