/* scan.c: the history aggregates of a rule file (count, any, sum, min, max, latest, earliest,
 * each with a filter) over the rows of each entity, in one pass over a block of entities.
 *
 * Aggregates are taken 64 at a time (a group); for each row a 64-bit mask says which of them
 * the row still passes. Every category column tested gets a table code -> mask (an aggregate
 * that does not test the column has its bit set for every code), so all category filters of a
 * row cost one load and an AND per column; every other test (a window on the date, a
 * comparison, present, a function filter's precomputed result) is kept once, with the mask of
 * the aggregates that have it, and clears their bits when the row fails it. The aggregates
 * left in the mask are then applied. Sums are exact int64 (decimals in micro-units) and an
 * overflow is reported, never wrapped. Owns its group tables; the spec's arrays are the
 * caller's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"

#define GROUP 64
#define NA_I64 INT64_MIN
#define NA_DATE INT32_MIN

typedef struct cond {
    const df_scan_test *t;
    uint64_t bits; /* the aggregates of the group that have this test */
} cond;

typedef struct group {
    int first, n;
    uint64_t all;
    int ncat;
    int *catcol;        /* category columns tested */
    uint64_t **catmask; /* per such column: code -> aggregates the code lets through */
    int nconds;
    cond *conds;
    uint64_t *fnbits;   /* per function filter: the aggregates of the group that have it */
} group;

typedef struct acc {
    int64_t n, v;
    uint64_t row;
    int32_t d;
    int has;
} acc;

struct df_scan {
    df_scan_spec spec;
    int ngroups;
    group *groups;
    acc *accs;
};

static int fail(char *err, size_t cap, const char *msg)
{
    if (err && cap) snprintf(err, cap, "%s", msg);
    return -1;
}

/* ---- preparing: the tests of a group merged, category tests folded into code masks ---- */

static int same_test(const df_scan_test *a, const df_scan_test *b)
{
    return a->op == b->op && a->col == b->col && a->exact == b->exact && a->i == b->i && a->x == b->x &&
           a->fn == b->fn && a->n == 0 && b->n == 0;
}

static int cat_index(group *g, int col, uint32_t ncodes)
{
    for (int c = 0; c < g->ncat; c++)
        if (g->catcol[c] == col) return c;
    uint64_t *m = malloc((ncodes ? ncodes : 1) * sizeof *m);
    if (!m) return -1;
    for (uint32_t k = 0; k < ncodes; k++) m[k] = g->all;
    g->catcol[g->ncat] = col, g->catmask[g->ncat] = m;
    return g->ncat++;
}

static int add_set(group *g, const df_scan_spec *sp, const df_scan_test *t)
{
    const df_scan_col *col = &sp->cols[t->col];
    int c = cat_index(g, t->col, col->ncodes);
    if (c < 0) return -1;
    uint64_t bit = 1ULL << (t->agg - g->first);
    for (uint32_t k = 0; k < col->ncodes; k++)
        if (!t->set[k]) g->catmask[c][k] &= ~bit;
    return 0;
}

static void add_cond(group *g, const df_scan_test *t)
{
    uint64_t bit = 1ULL << (t->agg - g->first);
    if (t->op == DF_ST_MASK) g->fnbits[t->fn] |= bit;
    for (int c = 0; c < g->nconds; c++)
        if (same_test(g->conds[c].t, t)) {
            g->conds[c].bits |= bit;
            return;
        }
    g->conds[g->nconds].t = t, g->conds[g->nconds].bits = bit;
    g->nconds++;
}

static int prepare_group(struct df_scan *s, group *g, int first)
{
    const df_scan_spec *sp = &s->spec;
    g->first = first, g->n = sp->naggs - first < GROUP ? sp->naggs - first : GROUP;
    g->all = g->n == 64 ? ~0ULL : (1ULL << g->n) - 1;
    g->catcol = calloc((size_t)sp->ncols + 1, sizeof *g->catcol);
    g->catmask = calloc((size_t)sp->ncols + 1, sizeof *g->catmask);
    g->conds = calloc((size_t)sp->ntests + 1, sizeof *g->conds);
    g->fnbits = calloc((size_t)sp->nmasks + 1, sizeof *g->fnbits);
    if (!g->catcol || !g->catmask || !g->conds || !g->fnbits) return -1;
    for (int i = 0; i < sp->ntests; i++) {
        const df_scan_test *t = &sp->tests[i];
        if (t->agg < first || t->agg >= first + g->n) continue;
        if (t->op == DF_ST_SET) {
            if (add_set(g, sp, t) != 0) return -1;
        } else {
            add_cond(g, t);
        }
    }
    return 0;
}

static int check_spec(const df_scan_spec *sp, char *err, size_t cap)
{
    for (int i = 0; i < sp->ntests; i++) {
        const df_scan_test *t = &sp->tests[i];
        if (t->agg < 0 || t->agg >= sp->naggs || t->col < 0 || t->col >= sp->ncols)
            return fail(err, cap, "a scan test names an aggregate or column that does not exist");
        if (t->op == DF_ST_SET && (sp->cols[t->col].type != DF_SC_CATEGORY || !t->set))
            return fail(err, cap, "a set test on a column that is not a category");
        if (t->op == DF_ST_MASK && (t->fn < 0 || t->fn >= sp->nmasks)) return fail(err, cap, "a function filter out of range");
    }
    for (int k = 0; k < sp->naggs; k++) {
        const df_scan_agg *a = &sp->aggs[k];
        if (a->kind > DF_SA_ANY && (a->col < 0 || a->col >= sp->ncols)) return fail(err, cap, "an aggregate without its column");
        if ((a->kind == DF_SA_LATEST || a->kind == DF_SA_EARLIEST) && sp->date_col < 0)
            return fail(err, cap, "latest or earliest on a history without a date column");
    }
    return 0;
}

struct df_scan *df_scan_new(const df_scan_spec *spec, char *err, size_t errcap)
{
    if (check_spec(spec, err, errcap) != 0) return NULL;
    struct df_scan *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->spec = *spec;
    s->ngroups = (spec->naggs + GROUP - 1) / GROUP;
    s->groups = calloc((size_t)s->ngroups + 1, sizeof *s->groups);
    s->accs = calloc((size_t)spec->naggs + 1, sizeof *s->accs);
    int bad = !s->groups || !s->accs;
    for (int g = 0; !bad && g < s->ngroups; g++) bad = prepare_group(s, &s->groups[g], g * GROUP) != 0;
    if (bad) {
        df_scan_free(s);
        fail(err, errcap, "out of memory preparing a history scan");
        return NULL;
    }
    return s;
}

void df_scan_free(struct df_scan *s)
{
    if (!s) return;
    for (int g = 0; s->groups && g < s->ngroups; g++) {
        group *gr = &s->groups[g];
        for (int c = 0; c < gr->ncat; c++) free(gr->catmask[c]);
        free(gr->catcol), free(gr->catmask), free(gr->conds), free(gr->fnbits);
    }
    free(s->groups);
    free(s->accs);
    free(s);
}

/* ---- one row ---- */

static int64_t num_at(const df_scan_col *c, uint64_t j)
{
    switch (c->type) {
    case DF_SC_DATE: return ((const int32_t *)c->data)[j];
    case DF_SC_CATEGORY: return ((const uint32_t *)c->data)[j];
    case DF_SC_TEXT: return (int64_t)(c->offs[j + 1] - c->offs[j]);
    default: return ((const int64_t *)c->data)[j];
    }
}

static int present(const df_scan_col *c, uint64_t j)
{
    int64_t v = num_at(c, j);
    switch (c->type) {
    case DF_SC_DATE: return v != NA_DATE;
    case DF_SC_CATEGORY:
    case DF_SC_TEXT: return v != 0;
    default: return v != NA_I64;
    }
}

/* byte order of text a against s[0..n) */
static int text_cmp(const df_scan_col *c, uint64_t j, const char *s, size_t n)
{
    size_t m = (size_t)(c->offs[j + 1] - c->offs[j]);
    int r = memcmp((const char *)c->data + c->offs[j], s, m < n ? m : n);
    return r ? r : (m > n) - (m < n);
}

static int compare(const df_scan_col *c, const df_scan_test *t, uint64_t j)
{
    if (c->type == DF_SC_TEXT) return text_cmp(c, j, t->texts[0], (size_t)t->lens[0]);
    int64_t v = num_at(c, j);
    if (t->exact) return (v > t->i) - (v < t->i);
    double x = (double)v; /* a decimal's operand x comes in micro-units too */
    return (x > t->x) - (x < t->x);
}

static int one_of(const df_scan_col *c, const df_scan_test *t, uint64_t j)
{
    for (int k = 0; k < t->n; k++) {
        if (c->type == DF_SC_TEXT ? text_cmp(c, j, t->texts[k], (size_t)t->lens[k]) == 0 : num_at(c, j) == t->list[k])
            return 1;
    }
    return 0;
}

static int passes(const df_scan_spec *sp, const df_scan_test *t, uint64_t j, uint64_t row0, const uint8_t *const *masks)
{
    const df_scan_col *c = &sp->cols[t->col];
    switch (t->op) {
    case DF_ST_MASK: return masks[t->fn][j - row0] != 0;
    case DF_ST_PRESENT: return present(c, j);
    case DF_ST_EMPTY: return !present(c, j);
    case DF_ST_IN: return present(c, j) && one_of(c, t, j);
    default: break;
    }
    if (!present(c, j)) return 0;
    int r = compare(c, t, j);
    switch (t->op) {
    case DF_ST_GT: return r > 0;
    case DF_ST_GE: return r >= 0;
    case DF_ST_LT: return r < 0;
    default: return r <= 0;
    }
}

/* The aggregates of group g that row j passes; with masks NULL, function filters are left out. */
static uint64_t row_bits(const df_scan_spec *sp, const group *g, uint64_t j, uint64_t row0, const uint8_t *const *masks)
{
    uint64_t m = g->all;
    for (int c = 0; c < g->ncat; c++) m &= g->catmask[c][((const uint32_t *)sp->cols[g->catcol[c]].data)[j]];
    for (int c = 0; m && c < g->nconds; c++) {
        const cond *cd = &g->conds[c];
        if (!(m & cd->bits) || (cd->t->op == DF_ST_MASK && !masks)) continue;
        if (!passes(sp, cd->t, j, row0, masks)) m &= ~cd->bits;
    }
    return m;
}

/* ---- applying a row to an aggregate ---- */

static int better(const df_scan_col *c, int64_t v, uint64_t j, const acc *a, int want)
{
    int r;
    if (c->type == DF_SC_TEXT) {
        size_t n = (size_t)(c->offs[a->row + 1] - c->offs[a->row]);
        r = text_cmp(c, j, (const char *)c->data + c->offs[a->row], n);
    } else if (c->type == DF_SC_CATEGORY) {
        r = (c->rank[v] > c->rank[a->v]) - (c->rank[v] < c->rank[a->v]);
    } else {
        r = (v > a->v) - (v < a->v);
    }
    return want > 0 ? r > 0 : r < 0;
}

static void take(acc *a, int64_t v, uint64_t j, int32_t d)
{
    a->v = v, a->row = j, a->d = d, a->has = 1;
}

static int dated(const df_scan_spec *sp, const df_scan_agg *ag, const df_scan_col *c, acc *a, uint64_t j, int64_t v)
{
    int32_t d = ((const int32_t *)sp->cols[sp->date_col].data)[j];
    int later = ag->kind == DF_SA_LATEST ? 1 : -1;
    if (!a->has || (later > 0 ? d > a->d : d < a->d)) take(a, v, j, d);
    else if (d == a->d && ag->tie && better(c, v, j, a, ag->tie == 1 ? -1 : 1)) take(a, v, j, d);
    return 0;
}

static int apply(const df_scan_spec *sp, int k, acc *a, uint64_t j)
{
    const df_scan_agg *ag = &sp->aggs[k];
    if (ag->kind == DF_SA_COUNT || ag->kind == DF_SA_ANY) {
        a->n++;
        return 0;
    }
    const df_scan_col *c = &sp->cols[ag->col];
    int64_t v = num_at(c, j);
    switch (ag->kind) {
    case DF_SA_SUM:
        a->has = 1;
        return __builtin_add_overflow(a->v, v, &a->v) ? -1 : 0;
    case DF_SA_MIN:
    case DF_SA_MAX:
        if (!a->has || better(c, v, j, a, ag->kind == DF_SA_MAX ? 1 : -1)) take(a, v, j, 0);
        return 0;
    default: return dated(sp, ag, c, a, j, v);
    }
}

static double result(const df_scan_spec *sp, int k, const acc *a)
{
    const df_scan_agg *ag = &sp->aggs[k];
    if (ag->kind == DF_SA_COUNT) return (double)a->n;
    if (ag->kind == DF_SA_ANY) return a->n ? 1 : 0;
    const df_scan_col *c = &sp->cols[ag->col];
    if (ag->kind == DF_SA_SUM) return c->type == DF_SC_DECIMAL ? (double)a->v / 1e6 : (double)a->v;
    if (!a->has) return NAN;
    switch (c->type) {
    case DF_SC_DECIMAL: return (double)a->v / 1e6;
    case DF_SC_TEXT: return (double)a->row;
    default: return (double)a->v;
    }
}

/* ---- blocks ---- */

int df_scan_run(struct df_scan *s, uint64_t lo, uint64_t hi, const uint8_t *const *masks, double *out, int32_t *bad)
{
    const df_scan_spec *sp = &s->spec;
    int na = sp->naggs;
    uint64_t row0 = sp->offsets[lo];
    for (uint64_t e = lo; e < hi; e++) {
        memset(s->accs, 0, (size_t)na * sizeof *s->accs);
        for (int g = 0; g < s->ngroups; g++) {
            const group *gr = &s->groups[g];
            for (uint64_t j = sp->offsets[e]; j < sp->offsets[e + 1]; j++) {
                uint64_t m = row_bits(sp, gr, j, row0, masks);
                while (m) {
                    int k = gr->first + __builtin_ctzll(m);
                    m &= m - 1;
                    if (apply(sp, k, &s->accs[k], j) != 0) {
                        bad[0] = k, bad[1] = (int32_t)(e - lo);
                        return -1;
                    }
                }
            }
        }
        double *o = out + (e - lo) * (uint64_t)na;
        for (int k = 0; k < na; k++) o[k] = result(sp, k, &s->accs[k]);
    }
    return 0;
}

int64_t df_scan_candidates(struct df_scan *s, uint64_t lo, uint64_t hi, int32_t fn, uint32_t *rows)
{
    const df_scan_spec *sp = &s->spec;
    uint64_t row0 = sp->offsets[lo];
    int64_t n = 0;
    for (uint64_t j = row0; j < sp->offsets[hi]; j++) {
        for (int g = 0; g < s->ngroups; g++) {
            const group *gr = &s->groups[g];
            if (gr->fnbits[fn] && (row_bits(sp, gr, j, row0, NULL) & gr->fnbits[fn])) {
                rows[n++] = (uint32_t)(j - row0);
                break;
            }
        }
    }
    return n;
}
