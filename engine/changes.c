/* changes.c: the changes since the previous night (changes {} of the rule file, docs/history.md):
 * this night's snapshot against the previous night's, both read whole from their gzip CSV
 * (written by the engine: RFC 4180, no formula guard). Two tables:
 *   changes file: KEY, change, from, to, score_before, score_after, score_change; one row per
 *     customer and change, the changes in the order of CHANGE_NAMES, each in snapshot order
 *     (this night's; the previous night's for `gone`);
 *   flows file: kind (stage, band), from, to, customers: every pair of the customers of either
 *     night (from empty: new; to empty: gone), in the declared order of the stages and bands.
 * Band up means towards the first declared band (the riskiest). */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <zlib.h>

#include "snapfile.h"

enum { NEW_CUSTOMER, GONE, NEW_ON_LIST, OFF_LIST, BAND_UP, BAND_DOWN, BAND_CHANGED, SCORE_UP, SCORE_DOWN, DEFECTED, NKINDS };
static const char *const CHANGE_NAMES[] = {"new_customer", "gone", "new_on_list", "off_list", "band_up",
                                           "band_down", "band_changed", "score_up", "score_down", "defected"};

/* ---- the changes table ---- */

typedef struct row_list {
    uint64_t *cur, *prev; /* the row in each snapshot (UINT64_MAX: not there) */
    uint64_t n, cap;
} row_list;

static int list_add(row_list *l, uint64_t cur, uint64_t prev)
{
    if (l->n == l->cap) {
        uint64_t cap = l->cap ? l->cap * 2 : 256;
        uint64_t *a = realloc(l->cur, cap * sizeof *a);
        if (!a) return -1;
        l->cur = a;
        uint64_t *b = realloc(l->prev, cap * sizeof *b);
        if (!b) return -1;
        l->prev = b, l->cap = cap;
    }
    l->cur[l->n] = cur, l->prev[l->n++] = prev;
    return 0;
}

static void put_cell(csvw *w, const snap *s, uint64_t i, int k)
{
    size_t n = 0;
    const char *c = i == UINT64_MAX ? "" : snap_cell(s, i, k, &n);
    csvw_text(w, c, n);
}

static void write_change(csvw *w, const snap *cur, const snap *prev, int kind, uint64_t ci, uint64_t pi)
{
    const char *name = CHANGE_NAMES[kind];
    const snap *ks = ci != UINT64_MAX ? cur : prev;
    put_cell(w, ks, ci != UINT64_MAX ? ci : pi, C_KEY);
    csvw_plain(w, name, strlen(name));
    int k = kind == BAND_UP || kind == BAND_DOWN || kind == BAND_CHANGED ? C_BAND
            : kind == NEW_ON_LIST || kind == OFF_LIST                   ? C_ON_LIST
            : kind == DEFECTED                                          ? C_DEFECTED
            : kind == SCORE_UP || kind == SCORE_DOWN                    ? C_SCORE
                                                                        : C_STAGE;
    put_cell(w, prev, pi, k);
    put_cell(w, cur, ci, k);
    put_cell(w, prev, pi, C_SCORE);
    put_cell(w, cur, ci, C_SCORE);
    if (ci != UINT64_MAX && pi != UINT64_MAX) csvw_number(w, snap_num(cur, ci, C_SCORE) - snap_num(prev, pi, C_SCORE));
    else csvw_empty(w);
    csvw_end_row(w);
}

/* The changes of a customer of both nights (rows ci, pi) into lists. */
static int classify(row_list *lists, const snap *cur, const snap *prev, uint64_t ci, uint64_t pi, const history_info *h)
{
    int rc = 0;
    int on_now = snap_is(cur, ci, C_ON_LIST, "true"), on_before = snap_is(prev, pi, C_ON_LIST, "true");
    if (on_now && !on_before) rc |= list_add(&lists[NEW_ON_LIST], ci, pi);
    if (!on_now && on_before) rc |= list_add(&lists[OFF_LIST], ci, pi);
    int bn = snap_rank(cur, ci, C_BAND, h->bands, h->nbands), bp = snap_rank(prev, pi, C_BAND, h->bands, h->nbands);
    size_t n1, n2;
    const char *b1 = snap_cell(cur, ci, C_BAND, &n1), *b2 = snap_cell(prev, pi, C_BAND, &n2);
    if (n1 != n2 || memcmp(b1, b2, n1) != 0) {
        int kind = bn > h->nbands || bp > h->nbands ? BAND_CHANGED : bn < bp ? BAND_UP : BAND_DOWN;
        rc |= list_add(&lists[kind], ci, pi);
    }
    double d = snap_num(cur, ci, C_SCORE) - snap_num(prev, pi, C_SCORE);
    if (h->min_score_change > 0 && d >= h->min_score_change) rc |= list_add(&lists[SCORE_UP], ci, pi);
    if (h->min_score_change > 0 && -d >= h->min_score_change) rc |= list_add(&lists[SCORE_DOWN], ci, pi);
    if (h->defected[0] && snap_is(cur, ci, C_DEFECTED, "true") && !snap_is(prev, pi, C_DEFECTED, "true"))
        rc |= list_add(&lists[DEFECTED], ci, pi);
    return rc;
}

/* ---- the flows table ---- */

typedef struct flow {
    int kind; /* 0 stage, 1 band */
    int from, to; /* declared ranks; n + 1 for a name not declared, n + 2 for none (new, gone) */
    const char *fs, *ts;
    size_t fn, tn;
    uint64_t count;
} flow;

typedef struct flows {
    flow *f;
    int n, cap;
} flows;

static int flow_add(flows *F, int kind, int from, const char *fs, size_t fn, int to, const char *ts, size_t tn)
{
    for (int i = 0; i < F->n; i++) {
        flow *x = &F->f[i];
        if (x->kind == kind && x->fn == fn && x->tn == tn && memcmp(x->fs, fs, fn) == 0 && memcmp(x->ts, ts, tn) == 0 &&
            x->from == from && x->to == to)
            return x->count++, 0;
    }
    if (F->n == F->cap) {
        int cap = F->cap ? F->cap * 2 : 64;
        flow *nf = realloc(F->f, (size_t)cap * sizeof *nf);
        if (!nf) return -1;
        F->f = nf, F->cap = cap;
    }
    F->f[F->n++] = (flow){kind, from, to, fs, ts, fn, tn, 1};
    return 0;
}

static int flow_cmp(const void *a, const void *b)
{
    const flow *x = a, *y = b;
    if (x->kind != y->kind) return x->kind - y->kind;
    if (x->from != y->from) return x->from - y->from;
    int c = memcmp(x->fs, y->fs, x->fn < y->fn ? x->fn : y->fn);
    if (c || x->fn != y->fn) return c ? c : (x->fn < y->fn ? -1 : 1);
    if (x->to != y->to) return x->to - y->to;
    c = memcmp(x->ts, y->ts, x->tn < y->tn ? x->tn : y->tn);
    return c ? c : (x->tn < y->tn ? -1 : x->tn > y->tn);
}

/* The stage and band flow of one customer (ci or pi UINT64_MAX: not there that night). */
static int flow_customer(flows *F, const snap *cur, const snap *prev, uint64_t ci, uint64_t pi, const history_info *h)
{
    int rc = 0;
    for (int kind = 0; kind < 2; kind++) {
        int k = kind ? C_BAND : C_STAGE, n = kind ? h->nbands : h->nstages;
        const char (*names)[64] = kind ? h->bands : h->stages;
        size_t fn = 0, tn = 0;
        const char *fs = pi == UINT64_MAX ? "" : snap_cell(prev, pi, k, &fn), *ts = ci == UINT64_MAX ? "" : snap_cell(cur, ci, k, &tn);
        int from = pi == UINT64_MAX ? n + 2 : snap_rank(prev, pi, k, names, n);
        int to = ci == UINT64_MAX ? n + 2 : snap_rank(cur, ci, k, names, n);
        rc |= flow_add(F, kind, from, fs, fn, to, ts, tn);
    }
    return rc;
}

static void write_flows(csvw *w, flows *F)
{
    qsort(F->f, (size_t)F->n, sizeof *F->f, flow_cmp);
    for (int i = 0; i < F->n; i++) {
        const flow *x = &F->f[i];
        const char *kind = x->kind ? "band" : "stage";
        csvw_plain(w, kind, strlen(kind));
        csvw_text(w, x->fs, x->fn);
        csvw_text(w, x->ts, x->tn);
        csvw_int(w, (int64_t)x->count);
        csvw_end_row(w);
    }
}

static void header(csvw *w, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) csvw_plain(w, names[i], strlen(names[i]));
    csvw_end_row(w);
}

/* Both tables from the two snapshots. */
df_status changes_compare(csvw *cw, csvw *fw, snap *cur, snap *prev, const history_info *h, df_error *err)
{
    row_list lists[NKINDS] = {{0}};
    flows F = {0};
    int rc = 0;
    df_status st = snap_index(prev, err);
    unsigned char *seen = st == DF_OK ? calloc(prev->n ? prev->n : 1, 1) : NULL;
    if (st == DF_OK && !seen) st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    for (uint64_t i = 0; st == DF_OK && i < cur->n && rc == 0; i++) {
        size_t n;
        const char *key = snap_cell(cur, i, C_KEY, &n);
        int64_t p = strmap_find(&prev->keys, key, n);
        if (p < 0) rc |= list_add(&lists[NEW_CUSTOMER], i, UINT64_MAX);
        else seen[p] = 1, rc |= classify(lists, cur, prev, i, (uint64_t)p, h);
        if (fw) rc |= flow_customer(&F, cur, prev, i, p < 0 ? UINT64_MAX : (uint64_t)p, h);
    }
    for (uint64_t p = 0; st == DF_OK && p < prev->n && rc == 0; p++)
        if (!seen[p]) {
            rc |= list_add(&lists[GONE], UINT64_MAX, p);
            if (fw) rc |= flow_customer(&F, cur, prev, UINT64_MAX, p, h);
        }
    if (st == DF_OK && rc) st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory comparing the snapshots");
    for (int k = 0; st == DF_OK && k < NKINDS; k++)
        for (uint64_t j = 0; j < lists[k].n; j++) write_change(cw, cur, prev, k, lists[k].cur[j], lists[k].prev[j]);
    if (st == DF_OK && fw) write_flows(fw, &F);
    for (int k = 0; k < NKINDS; k++) free(lists[k].cur), free(lists[k].prev);
    free(F.f);
    free(seen);
    return st;
}

/* ---- the period since the previous night: churn and revenue retention (period.csv) ---- */

/* Decimal text into millionths (exact); 0 when empty or not a number. */
static int64_t micro(const char *t, size_t n)
{
    int64_t v = 0, frac = 0;
    int neg = 0, places = -1;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (c == '-' && i == 0) neg = 1;
        else if (c == '.' && places < 0) places = 0;
        else if (c >= '0' && c <= '9') {
            if (places < 0) v = v * 10 + (c - '0');
            else if (places < 6) frac = frac * 10 + (c - '0'), places++;
        } else return 0;
    }
    for (int p = places < 0 ? 0 : places; p < 6; p++) frac *= 10;
    return (neg ? -1 : 1) * (v * 1000000 + frac);
}

static void put_micro(csvw *w, int64_t v)
{
    char b[48];
    int n = snprintf(b, sizeof b, "%s%lld.%06lld", v < 0 ? "-" : "", (long long)(llabs(v) / 1000000), (long long)(llabs(v) % 1000000));
    while (b[n - 1] == '0') n--;
    if (b[n - 1] == '.') n--;
    csvw_plain(w, b, (size_t)n);
}

static void put_ratio(csvw *w, double a, double b)
{
    if (b == 0) return csvw_empty(w);
    csvw_number(w, round(a / b * 10000) / 10000);
}

const char *const PERIOD_HEADER[] = {"period_start", "period_end", "customers_start", "churned", "gone", "churn_rate",
                                     "revenue_start", "revenue_retained", "revenue_end", "gross_revenue_retention",
                                     "net_revenue_retention"};

/* The period's row: customers not defected at the previous night, of them those defected (or
 * gone) tonight; their revenue then, kept at most (gross) and tonight (net). */
static df_status write_period(outset *night, const snap *cur, const snap *prev, const char *from, const char *to,
                              const history_info *h, df_error *err)
{
    uint64_t start = 0, churned = 0, gone = 0;
    int64_t r0 = 0, kept = 0, r1 = 0;
    for (uint64_t p = 0; p < prev->n; p++) {
        if (snap_is(prev, p, C_DEFECTED, "true")) continue;
        size_t n, kn;
        const char *t = snap_cell(prev, p, C_REVENUE, &n), *key = snap_cell(prev, p, C_KEY, &kn);
        int64_t a = micro(t, n);
        start++, r0 += a;
        int64_t c = strmap_find(&cur->keys, key, kn);
        if (c < 0 || snap_is(cur, (uint64_t)c, C_DEFECTED, "true")) {
            churned++, gone += c < 0;
            continue;
        }
        t = snap_cell(cur, (uint64_t)c, C_REVENUE, &n);
        int64_t b = micro(t, n);
        r1 += b, kept += b < a ? b : a;
    }
    csvw *w = outset_open(night, "period.csv", err);
    if (!w) return err->status;
    for (int i = 0; i < 11; i++) csvw_plain(w, PERIOD_HEADER[i], strlen(PERIOD_HEADER[i]));
    csvw_end_row(w);
    csvw_plain(w, from, strlen(from)), csvw_plain(w, to, strlen(to));
    csvw_int(w, (int64_t)start), csvw_int(w, (int64_t)churned), csvw_int(w, (int64_t)gone);
    put_ratio(w, (double)churned, (double)start);
    if (h->revenue[0]) {
        put_micro(w, r0), put_micro(w, kept), put_micro(w, r1);
        put_ratio(w, (double)kept, (double)r0), put_ratio(w, (double)r1, (double)r0);
    } else
        for (int i = 0; i < 5; i++) csvw_empty(w);
    csvw_end_row(w);
    return DF_OK;
}

/* Opens the changes tables with their headers (none when not declared). */
df_status changes_open(outset *o, const history_info *h, const char *file, const char *flows_file, csvw **cw, csvw **fw,
                       df_error *err)
{
    *cw = *fw = NULL;
    if (!file[0]) return DF_OK;
    if (!(*cw = outset_open(o, file, err))) return err->status;
    const char *ch[] = {h->key, "change", "from", "to", "score_before", "score_after", "score_change"};
    header(*cw, ch, 7);
    if (!flows_file[0]) return DF_OK;
    if (!(*fw = outset_open(o, flows_file, err))) return err->status;
    const char *fh[] = {"kind", "from", "to", "customers"};
    header(*fw, fh, 4);
    return DF_OK;
}

df_status changes_write(outset *o, outset *night, const df_config *cfg, const history_info *h, char *note, size_t cap,
                        df_error *err)
{
    note[0] = 0;
    csvw *cw, *fw;
    df_status st = changes_open(o, h, h->changes_file, h->flows_file, &cw, &fw, err);
    int wanted = cw || h->churn_file[0];
    const char *what = cw ? h->changes_file : h->churn_file;
    if (st != DF_OK || (!wanted && !(night && h->defected[0]))) return st;
    char date[16];
    df_format_date(cfg->as_of, date);
    if (!night) {
        snprintf(note, cap, "%s: the run keeps no history (no --history): the tables over nights are empty", what);
        return DF_OK;
    }
    char *prev_dir;
    st = history_previous(cfg->history_dir, cfg->as_of, &prev_dir, err);
    if (st != DF_OK) return st;
    if (!prev_dir) {
        if (wanted) snprintf(note, cap, "%s: no previous night in %s before %s: the changes tables are empty", what, cfg->history_dir, date);
        return DF_OK;
    }
    const char *slash = strrchr(prev_dir, '/');
    char prev_date[16];
    snprintf(prev_date, sizeof prev_date, "%s", slash ? slash + 1 : prev_dir);
    char *prev_path = path_join(prev_dir, "customers.csv.gz");
    free(prev_dir);
    st = prev_path ? outset_finish_file(night, "customers.csv.gz", err) : DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    char *cur_path = st == DF_OK ? outset_temp_path(night, "customers.csv.gz") : NULL;
    if (st == DF_OK && !cur_path) st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    snap cur = {0}, prev = {0};
    if (st == DF_OK) st = snap_read(&cur, cur_path, h, err);
    if (st == DF_OK) st = snap_read(&prev, prev_path, h, err);
    if (st == DF_OK && cw) st = changes_compare(cw, fw, &cur, &prev, h, err);
    if (st == DF_OK && h->defected[0]) st = snap_index(&cur, err);
    if (st == DF_OK && h->defected[0]) st = write_period(night, &cur, &prev, prev_date, date, h, err);
    snap_free(&cur), snap_free(&prev);
    free(prev_path), free(cur_path);
    return st;
}
