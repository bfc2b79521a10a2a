/* diff.c: `defector diff OLD.lua NEW.lua --data DIR` (docs/history.md, The impact of a rule edit):
 * the data scored as of the same date with each rule file (loaded for each: the files may read
 * other columns), each into a snapshot kept in memory; then who moves, as the changes
 * since the previous night would show it with OLD as the previous night:
 *   diff_changes.csv  per customer: entering or leaving the list, band up or down, score change
 *   diff_flows.csv    stage and band flows, OLD -> NEW
 *   diff_counts.csv   customers per band and stage before and after
 *   diff_rules.csv    per rule code: fired before and after, the rules whose firing changed most first
 * and a few lines on stdout ("band high: 120 -> 3320 (+3200)"). Bands and stages are NEW's. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapfile.h"
#include "watchdog.h"

/* Scores cfg's data with rule file `rules` into a snapshot in memory (*buf, *blen bytes). */
static df_status score_file(const df_config *cfg, const char *rules, char **buf, size_t *blen, score_stats *stats,
                            df_error *err)
{
    outset *od = NULL;
    df_config c = *cfg;
    c.rules_path = rules;
    table tables[DF_MAX_TABLES];
    run_info r = {.cfg = &c, .tables = tables};
    char *src = NULL;
    size_t len = 0;
    lbridge *lb = NULL;
    watchdog *wd = NULL;
    df_status st = outset_new_memory(rules, &od, err);
    if (st == DF_OK) st = run_declare_load(&r, NULL, &lb, &wd, &src, &len, err);
    score_opts so = {.rules_path = rules, .skip_rule_errors = c.skip_rule_errors, .threads = c.threads, .source = src,
                     .source_len = len, .wd = wd, .history = od, .snapshot_only = 1, .history_plain = 1};
    if (st == DF_OK) st = lb_run(lb, tables, r.ntables, c.as_of, od, NULL, &so, stats, err);
    watchdog_stop(wd);
    if (st == DF_OK) st = outset_finish_file(od, "customers.csv.gz", err);
    if (st == DF_OK) st = outset_take_memory(od, "customers.csv.gz", buf, blen, err);
    outset_abort(od);
    lb_free(lb);
    for (int i = 0; i < r.ntables; i++) table_free(&tables[i]);
    free(src);
    return st;
}

static uint64_t count_is(const snap *s, int k, const char *name)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < s->n; i++) n += (uint64_t)snap_is(s, i, k, name);
    return n;
}

static void count_row(csvw *w, const char *kind, const char *name, uint64_t a, uint64_t b)
{
    csvw_plain(w, kind, strlen(kind)), csvw_text(w, name, strlen(name));
    csvw_int(w, (int64_t)a), csvw_int(w, (int64_t)b), csvw_int(w, (int64_t)b - (int64_t)a);
    csvw_end_row(w);
}

/* diff_counts.csv, and its lines on stdout. */
static df_status write_counts(outset *o, const snap *old, const snap *now, const history_info *h, df_error *err)
{
    csvw *w = outset_open(o, "diff_counts.csv", err);
    if (!w) return err->status;
    const char *hd[] = {"kind", "name", "before", "after", "change"};
    for (int i = 0; i < 5; i++) csvw_plain(w, hd[i], strlen(hd[i]));
    csvw_end_row(w);
    for (int b = 0; b < h->nbands; b++) {
        uint64_t x = count_is(old, C_BAND, h->bands[b]), y = count_is(now, C_BAND, h->bands[b]);
        count_row(w, "band", h->bands[b], x, y);
        printf("band %s: %llu -> %llu (%+lld)\n", h->bands[b], (unsigned long long)x, (unsigned long long)y, (long long)y - (long long)x);
    }
    for (int s = 0; s < h->nstages; s++)
        count_row(w, "stage", h->stages[s], count_is(old, C_STAGE, h->stages[s]), count_is(now, C_STAGE, h->stages[s]));
    uint64_t x = count_is(old, C_ON_LIST, "true"), y = count_is(now, C_ON_LIST, "true");
    count_row(w, "list", "on_list", x, y);
    printf("on the list: %llu -> %llu (%+lld)\n", (unsigned long long)x, (unsigned long long)y, (long long)y - (long long)x);
    return DF_OK;
}

typedef struct rule_move {
    const char *code;
    uint64_t before, after;
} rule_move;

static long long move_of(const rule_move *m) { return llabs((long long)m->after - (long long)m->before); }

static int by_move(const void *a, const void *b)
{
    const rule_move *x = a, *y = b;
    if (move_of(x) != move_of(y)) return move_of(x) > move_of(y) ? -1 : 1;
    return strcmp(x->code, y->code);
}

/* diff_rules.csv: every rule code of either file, the largest change of firing first. */
static df_status write_rules(outset *o, const score_stats *a, const score_stats *b, df_error *err)
{
    rule_move m[2 * DF_MAX_RULES];
    int n = 0;
    for (int i = 0; i < b->nrules; i++) m[n++] = (rule_move){b->rule_code[i], 0, b->rule_fired[i]};
    for (int i = 0; i < a->nrules; i++) {
        int j = 0;
        while (j < n && strcmp(m[j].code, a->rule_code[i]) != 0) j++;
        if (j == n) m[n++] = (rule_move){a->rule_code[i], 0, 0};
        m[j].before = a->rule_fired[i];
    }
    qsort(m, (size_t)n, sizeof *m, by_move);
    csvw *w = outset_open(o, "diff_rules.csv", err);
    if (!w) return err->status;
    const char *hd[] = {"rule", "fired_before", "fired_after", "change"};
    for (int i = 0; i < 4; i++) csvw_plain(w, hd[i], strlen(hd[i]));
    csvw_end_row(w);
    for (int i = 0; i < n; i++) {
        csvw_text(w, m[i].code, strlen(m[i].code)), csvw_int(w, (int64_t)m[i].before), csvw_int(w, (int64_t)m[i].after);
        csvw_int(w, (int64_t)m[i].after - (int64_t)m[i].before), csvw_end_row(w);
    }
    return DF_OK;
}

/* The tables from the two snapshots' bytes (taken over: freed here). */
static df_status compare_snaps(outset *o, char *bufs[2], const size_t lens[2], const score_stats *a, const score_stats *b,
                               df_error *err)
{
    history_info h = b->hist;
    snprintf(h.defected, sizeof h.defected, "%s", ""); /* no "defected" rows: the same night */
    snap old = {0}, now = {0};
    csvw *cw = NULL, *fw = NULL;
    df_status st = snap_take(&old, bufs[0], lens[0], "the old rule file's snapshot", &h, err);
    df_status st2 = snap_take(&now, bufs[1], lens[1], "the new rule file's snapshot", &h, err);
    bufs[0] = bufs[1] = NULL;
    if (st == DF_OK) st = st2;
    if (st == DF_OK) st = changes_open(o, &h, "diff_changes.csv", "diff_flows.csv", &cw, &fw, err);
    if (st == DF_OK) st = changes_compare(cw, fw, &now, &old, &h, err);
    if (st == DF_OK) st = write_counts(o, &old, &now, &h, err);
    if (st == DF_OK) st = write_rules(o, a, b, err);
    snap_free(&old), snap_free(&now);
    return st;
}

df_status df_diff(const df_config *config, const char *old_rules, df_error *err)
{
    df_config c = run_config(config);
    outset *o = NULL;
    score_stats *stats = calloc(2, sizeof *stats);
    char *bufs[2] = {NULL, NULL};
    size_t lens[2] = {0, 0};
    df_status st = stats ? outset_new(c.out_dir, &o, err) : DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    if (st == DF_OK) st = score_file(&c, old_rules, &bufs[0], &lens[0], &stats[0], err);
    if (st == DF_OK) st = score_file(&c, c.rules_path, &bufs[1], &lens[1], &stats[1], err);
    if (st == DF_OK && strcmp(stats[0].hist.key, stats[1].hist.key) != 0)
        st = DF_FAIL(err, DF_ERR_RULES, c.rules_path, "the two rule files key their entities differently (%s, %s): diff compares the same entities",
                     stats[0].hist.key, stats[1].hist.key);
    if (st == DF_OK) st = compare_snaps(o, bufs, lens, &stats[0], &stats[1], err);
    if (st == DF_OK) st = outset_commit(o, err);
    if (st != DF_OK) outset_abort(o);
    else outset_free(o);
    free(bufs[0]), free(bufs[1]), free(stats);
    return st;
}
