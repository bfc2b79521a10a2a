/* scan.c: the history aggregates of a rule file (count, any, sum, min, max, latest, earliest,
 * count_distinct, most_frequent, active_months, each with a filter) over the rows of each
 * entity, in one pass over a block of entities.
 *
 * Aggregates are taken 64 at a time (a group); for each row a 64-bit mask says which of them
 * the row passes. Most filters test one column against constants (a category's values, a
 * window on the date, amount > 0, present): such a test depends only on which class the
 * column's value falls in (its code; for a number, where it lies among the test's bounds, or
 * empty). The classes of the tested columns index one table, built once, that holds the mask
 * for every combination: a row costs a few loads and compares whatever the number of
 * aggregates. A category with too many codes for the table gets a table of its own; the other
 * tests (on text, against a list of text, a function filter's answers) run one by one. Then
 * any(...) is one OR per row, and counts and the aggregates that take a value are applied for
 * the bits left (those that collect values, and sums of products, row by row: collect.c).
 * Sums are exact int64 (decimals in micro-units); an overflow is reported, never wrapped.
 * Owns its group tables and collections; the spec's arrays are the caller's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "scan.h"

#define GROUP 64           /* aggregates per mask */
#define TABLE_MAX 65536    /* entries of a group's class table */
#define MAX_BOUNDS 32      /* bounds of a number column in the class table */
#define NA_I64 INT64_MIN
#define NA_DATE INT32_MIN

enum { D_CODE, D_I32, D_I64 };

/* A column whose tests go through the class table: a value's class is its code (category), or
 * 0 when empty and 1 + the number of bounds below it (number, date). */
typedef struct dim {
    int col, kind;
    const void *data;
    uint32_t n; /* classes */
    int nb;
    int64_t bound[MAX_BOUNDS]; /* ascending */
    int32_t base;              /* a date dim: days base .. base + span - 1 map to classes */
    uint32_t span;             /* through cls[] (0: count the bounds instead) */
    uint8_t *cls;
} dim;

#define SPAN_MAX 4096

/* A test run row by row, kept once with the aggregates that have it. */
typedef struct cond {
    const df_scan_test *t;
    uint64_t bits;
} cond;

typedef struct group {
    int first, n;
    uint64_t all, count_bits, any_bits, value_bits;
    int ndims;
    dim *dims;
    uint64_t *table;   /* per combination of the dims' classes: the aggregates it lets through */
    int ncat;
    int *catcol;       /* categories too large for the class table: code -> aggregates */
    uint64_t **catmask;
    int nconds;
    cond *conds;       /* the tests run row by row */
    uint64_t *fnbits;  /* per function filter: the aggregates that have it */
    int nvals;
    struct valagg *vals; /* the aggregates that take a value */
} group;

/* An aggregate that takes a value, as the row loop applies it: a number, date or category
 * (compared by rank) without a text tie goes through update() without a branch; the others
 * through apply(). */
typedef struct valagg {
    int bit, k, kind, tie, fast;
    int on_date;         /* the value column is the history's date column */
    const void *data;    /* the value column */
    int ctype;
    const int32_t *rank;
} valagg;

typedef struct acc {
    int64_t n, v;
    __int128 sum; /* a sum, exact whatever the order of its rows; it must fit an int64 in the end */
    uint64_t row;
    int32_t d;
    int has;
} acc;

struct df_scan {
    df_scan_spec spec;
    int ngroups;
    group *groups;
    acc *accs;
    uint32_t *idx;          /* a chunk's class indexes */
    uint64_t *m;            /* a chunk's masks, per group */
    uint32_t *ent;          /* a chunk's rows: their entity, from the block's first (windows from the entity's dates) */
    int rel;                /* the spec has such windows (DF_ST_REL) */
    collection *colls;      /* per aggregate: the values collected (count_distinct...; collect.c) */
    int oom;                /* a collection could not grow */
};

static int fail(char *err, size_t cap, const char *msg)
{
    if (err && cap) snprintf(err, cap, "%s", msg);
    return -1;
}

/* ---- one value against one test (preparing the tables, and the row-by-row tests) ---- */

static int64_t num_at(const df_scan_col *c, uint64_t j)
{
    switch (c->type) {
    case DF_SC_DATE: return ((const int32_t *)c->data)[j];
    case DF_SC_CATEGORY: return ((const uint32_t *)c->data)[j];
    case DF_SC_TEXT: return (int64_t)(c->offs[j + 1] - c->offs[j]);
    default: return ((const int64_t *)c->data)[j];
    }
}

static int is_na(const df_scan_col *c, int64_t v)
{
    switch (c->type) {
    case DF_SC_DATE: return v == NA_DATE;
    case DF_SC_CATEGORY:
    case DF_SC_TEXT: return v == 0;
    default: return v == NA_I64;
    }
}

/* byte order of text a against s[0..n) */
static int text_cmp(const df_scan_col *c, uint64_t j, const char *s, size_t n)
{
    size_t m = (size_t)(c->offs[j + 1] - c->offs[j]);
    int r = memcmp((const char *)c->data + c->offs[j], s, m < n ? m : n);
    return r ? r : (m > n) - (m < n);
}

static int op_holds(int op, int r)
{
    switch (op) {
    case DF_ST_GT: return r > 0;
    case DF_ST_GE: return r >= 0;
    case DF_ST_LT: return r < 0;
    default: return r <= 0;
    }
}

/* Test t on value v of a number, date or category column (v is the code for a category). */
static int value_passes(const df_scan_col *c, const df_scan_test *t, int64_t v)
{
    int na = is_na(c, v);
    switch (t->op) {
    case DF_ST_SET: return t->set[v] != 0;
    case DF_ST_PRESENT: return !na;
    case DF_ST_EMPTY: return na;
    case DF_ST_IN:
        for (int k = 0; !na && k < t->n; k++)
            if (v == t->list[k]) return 1;
        return 0;
    default: break;
    }
    if (na) return 0;
    if (t->exact) return op_holds(t->op, (v > t->i) - (v < t->i));
    double x = (double)v; /* a decimal's operand x comes in micro-units too */
    return op_holds(t->op, (x > t->x) - (x < t->x));
}

/* Test t on row j (any column, any test). */
static int row_passes(const df_scan_spec *sp, const df_scan_test *t, uint64_t j, uint64_t row0, const uint8_t *const *masks)
{
    const df_scan_col *c = &sp->cols[t->col];
    if (t->op == DF_ST_MASK) return masks[t->fn][j - row0] != 0;
    if (c->type != DF_SC_TEXT) return value_passes(c, t, num_at(c, j));
    int present = c->offs[j + 1] != c->offs[j];
    switch (t->op) {
    case DF_ST_PRESENT: return present;
    case DF_ST_EMPTY: return !present;
    case DF_ST_IN:
        for (int k = 0; k < t->n; k++)
            if (text_cmp(c, j, t->texts[k], (size_t)t->lens[k]) == 0) return 1;
        return 0;
    default: return present && op_holds(t->op, text_cmp(c, j, t->texts[0], (size_t)t->lens[0]));
    }
}

/* ---- preparing a group: the class table, category tables, row-by-row tests ---- */

static int in_group(const group *g, const df_scan_test *t) { return t->agg >= g->first && t->agg < g->first + g->n; }
static uint64_t bit_of(const group *g, const df_scan_test *t) { return 1ULL << (t->agg - g->first); }

/* Whether test t can go through the class table of its column. */
static int tabled(const df_scan_spec *sp, const df_scan_test *t)
{
    int ty = sp->cols[t->col].type;
    if (ty == DF_SC_CATEGORY) return t->op == DF_ST_SET;
    if (ty == DF_SC_TEXT || t->op == DF_ST_MASK || t->op == DF_ST_REL) return 0;
    return t->op != DF_ST_GT && t->op != DF_ST_GE && t->op != DF_ST_LT && t->op != DF_ST_LE ? 1 : t->exact;
}

static int add_bound(dim *d, int64_t b)
{
    for (int k = 0; k < d->nb; k++)
        if (d->bound[k] == b) return 0;
    if (d->nb == MAX_BOUNDS) return -1;
    int k = d->nb++;
    while (k > 0 && d->bound[k - 1] > b) d->bound[k] = d->bound[k - 1], k--;
    d->bound[k] = b;
    return 0;
}

/* The bounds test t needs on a number column: its classes must not straddle them. */
static int add_bounds(dim *d, const df_scan_test *t)
{
    switch (t->op) {
    case DF_ST_GT:
    case DF_ST_LE: return add_bound(d, t->i);
    case DF_ST_GE:
    case DF_ST_LT: return t->i == INT64_MIN ? -1 : add_bound(d, t->i - 1);
    case DF_ST_IN:
        for (int k = 0; k < t->n; k++)
            if (t->list[k] == INT64_MIN || add_bound(d, t->list[k] - 1) || add_bound(d, t->list[k])) return -1;
        return 0;
    default: return 0;
    }
}

/* The dim of column col for the group's table tests, or -1 when it cannot be one. */
static int make_dim(const df_scan_spec *sp, const group *g, int col, dim *d)
{
    const df_scan_col *c = &sp->cols[col];
    memset(d, 0, sizeof *d);
    d->col = col, d->data = c->data;
    d->kind = c->type == DF_SC_CATEGORY ? D_CODE : c->type == DF_SC_DATE ? D_I32 : D_I64;
    for (int i = 0; i < sp->ntests; i++) {
        const df_scan_test *t = &sp->tests[i];
        if (t->col == col && in_group(g, t) && d->kind != D_CODE && add_bounds(d, t) != 0) return -1;
    }
    d->n = d->kind == D_CODE ? (c->ncodes ? c->ncodes : 1) : (uint32_t)d->nb + 2;
    return 0;
}

/* A date dim with bounds close together: its classes by day, one load per row. */
static int date_classes(dim *d)
{
    if (d->kind != D_I32 || d->nb == 0 || d->bound[d->nb - 1] - d->bound[0] + 2 > SPAN_MAX) return 0;
    d->base = (int32_t)d->bound[0], d->span = (uint32_t)(d->bound[d->nb - 1] - d->bound[0] + 2);
    d->cls = malloc(d->span);
    if (!d->cls) return -1;
    for (uint32_t k = 0; k < d->span; k++) {
        int64_t x = d->base + (int64_t)k, c = 1;
        for (int b = 0; b < d->nb; b++) c += x > d->bound[b];
        d->cls[k] = (uint8_t)c;
    }
    return 0;
}

/* A value standing for class k of dim d. */
static int64_t representative(const dim *d, uint32_t k)
{
    if (d->kind == D_CODE) return k;
    if (k == 0) return d->kind == D_I32 ? NA_DATE : NA_I64;
    if ((int)k <= d->nb) return d->bound[k - 1];
    return d->nb ? d->bound[d->nb - 1] + 1 : 0;
}

static int cmp_dim_size(const void *a, const void *b)
{
    const dim *x = a, *y = b;
    return (x->n > y->n) - (x->n < y->n);
}

/* The columns whose tests all go through tables, smallest first. */
static int collect_dims(const df_scan_spec *sp, group *g, dim *dims)
{
    int n = 0;
    for (int col = 0; col < sp->ncols; col++) {
        int used = 0, ok = 1;
        for (int i = 0; i < sp->ntests; i++) {
            const df_scan_test *t = &sp->tests[i];
            if (t->col != col || !in_group(g, t)) continue;
            used = 1;
            ok = ok && tabled(sp, t);
        }
        if (used && ok && make_dim(sp, g, col, &dims[n]) == 0) n++;
    }
    qsort(dims, (size_t)n, sizeof *dims, cmp_dim_size);
    return n;
}

static uint64_t table_entry(const df_scan_spec *sp, const group *g, size_t idx)
{
    int64_t v[64];
    for (int k = g->ndims - 1; k >= 0; k--) {
        v[k] = representative(&g->dims[k], (uint32_t)(idx % g->dims[k].n));
        idx /= g->dims[k].n;
    }
    uint64_t m = g->all;
    for (int i = 0; i < sp->ntests; i++) {
        const df_scan_test *t = &sp->tests[i];
        if (!in_group(g, t)) continue;
        for (int k = 0; k < g->ndims; k++)
            if (g->dims[k].col == t->col && !value_passes(&sp->cols[t->col], t, v[k])) m &= ~bit_of(g, t);
    }
    return m;
}

/* A category too large for the class table: its own table code -> aggregates. */
static int add_catmask(const df_scan_spec *sp, group *g, const dim *d)
{
    uint64_t *m = malloc((size_t)d->n * sizeof *m);
    if (!m) return -1;
    for (uint32_t k = 0; k < d->n; k++) m[k] = g->all;
    for (int i = 0; i < sp->ntests; i++) {
        const df_scan_test *t = &sp->tests[i];
        if (t->col != d->col || !in_group(g, t)) continue;
        for (uint32_t k = 0; k < d->n; k++)
            if (!t->set[k]) m[k] &= ~bit_of(g, t);
    }
    g->catcol[g->ncat] = d->col, g->catmask[g->ncat++] = m;
    return 0;
}

static void add_cond(group *g, const df_scan_test *t)
{
    if (t->op == DF_ST_MASK) g->fnbits[t->fn] |= bit_of(g, t);
    g->conds[g->nconds].t = t, g->conds[g->nconds].bits = bit_of(g, t);
    g->nconds++;
}

/* Dims go into the class table while it stays small; a category that does not fit gets its own
 * table; the tests of a number column that does not fit run row by row. */
static int build_tables(const df_scan_spec *sp, group *g)
{
    dim all[64];
    int n = collect_dims(sp, g, all);
    size_t size = 1;
    for (int k = 0; k < n; k++) {
        if (g->ndims < 16 && size * all[k].n <= TABLE_MAX) {
            if (date_classes(&all[k]) != 0) return -1;
            g->dims[g->ndims++] = all[k];
            size *= all[k].n;
        } else if (all[k].kind == D_CODE) {
            if (add_catmask(sp, g, &all[k]) != 0) return -1;
        }
    }
    g->table = malloc(size * sizeof *g->table);
    if (!g->table) return -1;
    for (size_t i = 0; i < size; i++) g->table[i] = table_entry(sp, g, i);
    for (int i = 0; i < sp->ntests; i++) {
        const df_scan_test *t = &sp->tests[i];
        int done = 0;
        for (int k = 0; k < g->ndims; k++) done |= g->dims[k].col == t->col;
        for (int k = 0; k < g->ncat; k++) done |= g->catcol[k] == t->col;
        if (in_group(g, t) && !done) add_cond(g, t);
    }
    return 0;
}

static void add_valagg(const df_scan_spec *sp, group *g, int b)
{
    const df_scan_agg *a = &sp->aggs[g->first + b];
    const df_scan_col *c = &sp->cols[a->col];
    valagg *v = &g->vals[g->nvals++];
    v->bit = b, v->k = g->first + b, v->kind = a->kind, v->tie = a->tie;
    v->data = c->data, v->ctype = c->type, v->rank = c->rank;
    v->fast = c->type != DF_SC_TEXT && a->kind < DF_SA_DISTINCT && a->col2 < 0;
    v->on_date = a->col == sp->date_col;
    g->value_bits |= 1ULL << b;
}

static int prepare_group(struct df_scan *s, group *g, int first)
{
    const df_scan_spec *sp = &s->spec;
    g->first = first, g->n = sp->naggs - first < GROUP ? sp->naggs - first : GROUP;
    g->all = g->n == 64 ? ~0ULL : (1ULL << g->n) - 1;
    g->dims = calloc(16, sizeof *g->dims);
    g->catcol = calloc((size_t)sp->ncols + 1, sizeof *g->catcol);
    g->catmask = calloc((size_t)sp->ncols + 1, sizeof *g->catmask);
    g->conds = calloc((size_t)sp->ntests + 1, sizeof *g->conds);
    g->fnbits = calloc((size_t)sp->nmasks + 1, sizeof *g->fnbits);
    if (!g->dims || !g->catcol || !g->catmask || !g->conds || !g->fnbits) return -1;
    g->vals = calloc((size_t)g->n + 1, sizeof *g->vals);
    if (!g->vals) return -1;
    for (int b = 0; b < g->n; b++) {
        const df_scan_agg *a = &sp->aggs[first + b];
        if (a->kind == DF_SA_COUNT) g->count_bits |= 1ULL << b;
        else if (a->kind == DF_SA_ANY) g->any_bits |= 1ULL << b;
        else add_valagg(sp, g, b);
    }
    return build_tables(sp, g);
}

static int check_spec(const df_scan_spec *sp, char *err, size_t cap)
{
    if (sp->ncols > 64) return fail(err, cap, "a history scan reads at most 64 columns");
    for (int i = 0; i < sp->ntests; i++) {
        const df_scan_test *t = &sp->tests[i];
        if (t->agg < 0 || t->agg >= sp->naggs || t->col < 0 || t->col >= sp->ncols)
            return fail(err, cap, "a scan test names an aggregate or column that does not exist");
        if (t->op == DF_ST_SET && (sp->cols[t->col].type != DF_SC_CATEGORY || !t->set))
            return fail(err, cap, "a set test on a column that is not a category");
        if (t->op == DF_ST_MASK && (t->fn < 0 || t->fn >= sp->nmasks)) return fail(err, cap, "a function filter out of range");
        if (t->op == DF_ST_REL && (sp->cols[t->col].type != DF_SC_DATE || !t->base))
            return fail(err, cap, "a window from the entity's dates on a column that is not a date, or without them");
    }
    for (int k = 0; k < sp->naggs; k++) {
        const df_scan_agg *a = &sp->aggs[k];
        if (a->kind > DF_SA_ANY && (a->col < 0 || a->col >= sp->ncols)) return fail(err, cap, "an aggregate without its column");
        if (a->col2 >= sp->ncols || (a->col2 >= 0 && a->kind != DF_SA_SUM)) return fail(err, cap, "a product outside a sum");
        if (a->kind == DF_SA_MONTHS && sp->cols[a->col].type != DF_SC_DATE) return fail(err, cap, "active months of a column that is not a date");
        if ((a->kind == DF_SA_LATEST || a->kind == DF_SA_EARLIEST) && sp->date_col < 0)
            return fail(err, cap, "latest or earliest on a history without a date column");
    }
    return 0;
}

struct df_scan *df_scan_new(const df_scan_spec *spec, char *err, size_t errcap)
{
    if (check_spec(spec, err, errcap) != 0) return NULL;
    struct df_scan *s = calloc(1, sizeof *s);
    if (!s) return fail(err, errcap, "out of memory preparing a history scan"), NULL;
    s->spec = *spec;
    for (int i = 0; i < spec->ntests; i++) s->rel |= spec->tests[i].op == DF_ST_REL;
    s->ngroups = (spec->naggs + GROUP - 1) / GROUP;
    s->groups = calloc((size_t)s->ngroups + 1, sizeof *s->groups);
    s->accs = calloc((size_t)spec->naggs + 1, sizeof *s->accs);
    s->colls = calloc((size_t)spec->naggs + 1, sizeof *s->colls);
    int bad = !s->groups || !s->accs || !s->colls;
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
        for (int d = 0; gr->dims && d < gr->ndims; d++) free(gr->dims[d].cls);
        free(gr->dims), free(gr->table), free(gr->catcol), free(gr->catmask), free(gr->conds), free(gr->fnbits);
        free(gr->vals);
    }
    free(s->groups);
    free(s->accs);
    for (int k = 0; s->colls && k < s->spec.naggs; k++) collect_free(&s->colls[k]);
    free(s->colls);
    free(s->idx), free(s->m), free(s->ent);
    free(s);
}

/* ---- the masks of a chunk of rows, a column at a time ---- */

#define CHUNK 4096 /* rows whose masks are computed together */

/* idx[r] = idx[r] * d->n + the class of row c0 + r, for the n rows; first: idx is not set yet. */
static void add_classes(const dim *d, uint64_t c0, uint64_t n, uint32_t *restrict idx, int first)
{
    uint32_t mul = first ? 0 : d->n;
    if (d->kind == D_CODE) {
        const uint32_t *x = (const uint32_t *)d->data + c0;
        for (uint64_t r = 0; r < n; r++) idx[r] = idx[r] * mul + x[r];
    } else if (d->span) {
        const int32_t *x = (const int32_t *)d->data + c0;
        for (uint64_t r = 0; r < n; r++) {
            int64_t k = (int64_t)x[r] - d->base;
            k = k < 0 ? 0 : k;
            k = k >= d->span ? d->span - 1 : k;
            uint32_t c = d->cls[k];
            idx[r] = idx[r] * mul + (uint32_t)(x[r] != NA_DATE) * c;
        }
    } else if (d->kind == D_I64 && d->nb <= 1) { /* present, and at most one comparison: the common case */
        const int64_t *x = (const int64_t *)d->data + c0;
        int64_t b0 = d->nb ? d->bound[0] : INT64_MAX;
        for (uint64_t r = 0; r < n; r++) idx[r] = idx[r] * mul + (uint32_t)(x[r] != NA_I64) * (1 + (uint32_t)(x[r] > b0));
    } else if (d->kind == D_I64) {
        const int64_t *x = (const int64_t *)d->data + c0;
        for (uint64_t r = 0; r < n; r++) {
            uint32_t k = 1;
            for (int b = 0; b < d->nb; b++) k += x[r] > d->bound[b];
            idx[r] = idx[r] * mul + (x[r] == NA_I64 ? 0 : k);
        }
    } else {
        const int32_t *x = (const int32_t *)d->data + c0;
        for (uint64_t r = 0; r < n; r++) {
            uint32_t k = 1;
            for (int b = 0; b < d->nb; b++) k += x[r] > d->bound[b];
            idx[r] = idx[r] * mul + (x[r] == NA_DATE ? 0 : k);
        }
    }
}

/* A window from the entity's own date (DF_ST_REL) on the n rows from c0, ent[r] their entity. */
static void rel_window(const df_scan_spec *sp, const cond *cd, uint64_t c0, uint64_t n, const uint32_t *ent, uint64_t *m)
{
    const df_scan_test *t = cd->t;
    const int32_t *d = (const int32_t *)sp->cols[t->col].data + c0;
    for (uint64_t r = 0; r < n; r++) {
        int64_t b = t->base[ent[r]];
        int pass = b != NA_DATE && d[r] != NA_DATE && d[r] >= b + t->lo_days && d[r] <= b + t->hi_days;
        if (!pass) m[r] &= ~cd->bits;
    }
}

/* m[r] = the aggregates of group g that row c0 + r passes, for the n rows; with masks NULL,
 * function filters are left out (they pass). */
static void chunk_masks(const df_scan_spec *sp, const group *g, uint64_t c0, uint64_t n, uint64_t row0,
                        const uint8_t *const *masks, const uint32_t *ent, uint32_t *restrict idx, uint64_t *restrict m)
{
    if (g->ndims == 0) memset(idx, 0, n * sizeof *idx);
    for (int k = 0; k < g->ndims; k++) add_classes(&g->dims[k], c0, n, idx, k == 0);
    for (uint64_t r = 0; r < n; r++) m[r] = g->table[idx[r]];
    for (int c = 0; c < g->ncat; c++) {
        const uint32_t *code = (const uint32_t *)sp->cols[g->catcol[c]].data + c0;
        const uint64_t *cm = g->catmask[c];
        for (uint64_t r = 0; r < n; r++) m[r] &= cm[code[r]];
    }
    for (int c = 0; c < g->nconds; c++) {
        const cond *cd = &g->conds[c];
        if (cd->t->op == DF_ST_MASK && !masks) continue;
        if (cd->t->op == DF_ST_REL) {
            rel_window(sp, cd, c0, n, ent, m);
            continue;
        }
        for (uint64_t r = 0; r < n; r++)
            if ((m[r] & cd->bits) && !row_passes(sp, cd->t, c0 + r, row0, masks)) m[r] &= ~cd->bits;
    }
}

/* ---- applying a row to an aggregate that takes a value ---- */

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

static void dated(const df_scan_spec *sp, const df_scan_agg *ag, const df_scan_col *c, acc *a, uint64_t j, int64_t v)
{
    int32_t d = ((const int32_t *)sp->cols[sp->date_col].data)[j];
    int later = ag->kind == DF_SA_LATEST ? 1 : -1;
    if (!a->has || (later > 0 ? d > a->d : d < a->d)) take(a, v, j, d);
    else if (d == a->d && ag->tie && better(c, v, j, a, ag->tie == 1 ? -1 : 1)) take(a, v, j, d);
}

/* The largest product of two values a sum adds: far from what an __int128 sum overflows at. */
#define PRODUCT_MAX ((__int128)1 << 100)

/* Returns -1 when a sum overflows, or a collection cannot grow (s->oom). */
static int apply(struct df_scan *s, int k, acc *a, uint64_t j)
{
    const df_scan_spec *sp = &s->spec;
    const df_scan_agg *ag = &sp->aggs[k];
    const df_scan_col *c = &sp->cols[ag->col];
    int64_t v = c->type == DF_SC_TEXT && ag->kind >= DF_SA_DISTINCT ? (int64_t)j : num_at(c, j);
    __int128 p;
    switch (ag->kind) {
    case DF_SA_SUM:
        a->has = 1;
        if (ag->col2 < 0) return a->sum += v, 0;
        p = (__int128)v * num_at(&sp->cols[ag->col2], j); /* both present: the scan tests them */
        if (p > PRODUCT_MAX || p < -PRODUCT_MAX) return -1;
        a->sum += p;
        return 0;
    case DF_SA_DISTINCT:
    case DF_SA_MODE:
    case DF_SA_MONTHS:
        if (collect_push(&s->colls[k], v) == 0) return 0;
        s->oom = 1;
        return -1;
    case DF_SA_MIN:
    case DF_SA_MAX:
        if (!a->has || better(c, v, j, a, ag->kind == DF_SA_MAX ? 1 : -1)) take(a, v, j, 0);
        return 0;
    default: dated(sp, ag, c, a, j, v); return 0;
    }
}

/* A value aggregate that takes few of the rows: only those, through apply() (a branch rarely
 * taken costs less than folding every row). */
static int sparse_values(struct df_scan *s, const valagg *v, acc *a, const uint64_t *mbuf, uint64_t j0, uint64_t n)
{
    for (uint64_t r = 0; r < n; r++)
        if (__builtin_expect((mbuf[r] >> v->bit) & 1, 0) && apply(s, v->k, a, j0 + r) != 0) return 1;
    return 0;
}

/* A value aggregate on text: row by row through apply(). */
static int slow_values(struct df_scan *s, const valagg *v, acc *a, const uint64_t *mbuf, uint64_t j0, uint64_t n)
{
    for (uint64_t r = 0; r < n; r++)
        if (((mbuf[r] >> v->bit) & 1) && apply(s, v->k, a, j0 + r) != 0) return 1;
    return 0;
}

/* A sum in micro-units: of a decimal column, or of a product with one. */
static int sum_is_decimal(const df_scan_spec *sp, const df_scan_agg *ag)
{
    return sp->cols[ag->col].type == DF_SC_DECIMAL || (ag->col2 >= 0 && sp->cols[ag->col2].type == DF_SC_DECIMAL);
}

static double result(const df_scan_spec *sp, int k, const acc *a)
{
    const df_scan_agg *ag = &sp->aggs[k];
    if (ag->kind == DF_SA_COUNT) return (double)a->n;
    if (ag->kind == DF_SA_ANY) return a->n ? 1 : 0;
    const df_scan_col *c = &sp->cols[ag->col];
    if (ag->kind == DF_SA_SUM) return sum_is_decimal(sp, ag) ? (double)(int64_t)a->sum / 1e6 : (double)(int64_t)a->sum;
    if (ag->kind == DF_SA_DISTINCT) return (double)a->n;
    if (!a->has) return NAN;
    if (ag->kind == DF_SA_MONTHS) return (double)a->v;
    switch (c->type) {
    case DF_SC_DECIMAL: return (double)a->v / 1e6;
    case DF_SC_TEXT: return (double)a->row;
    default: return (double)a->v;
    }
}

/* ---- blocks ---- */

/* A fast value aggregate over a chunk of rows whose masks are known: the best row so far is
 * kept in locals (no store and reload per row) and updated without a branch on the data.
 * Inlined with constant kind, column type and tie, so each combination gets its own loop.
 * Returns 1 when a sum overflowed. */
static inline __attribute__((always_inline)) int fold(const int kind, const int ctype, const int tie, const df_scan_spec *sp,
                                                      const valagg *v, acc *a, const uint64_t *mbuf, uint64_t j0, uint64_t n)
{
    const int32_t *dates = sp->date_col >= 0 ? (const int32_t *)sp->cols[sp->date_col].data : NULL;
    int64_t best = a->v, bkey = ctype == DF_SC_CATEGORY && a->has ? v->rank[best] : best;
    int32_t bd = a->d;
    uint64_t brow = a->row;
    int has = a->has;
    __int128 sum = a->sum;
    for (uint64_t r = 0; r < n; r++) {
        uint64_t j = j0 + r;
        int sel = (int)((mbuf[r] >> v->bit) & 1);
        int64_t x = ctype == DF_SC_DATE ? ((const int32_t *)v->data)[j]
                  : ctype == DF_SC_CATEGORY ? (int64_t)((const uint32_t *)v->data)[j] : ((const int64_t *)v->data)[j];
        if (kind == DF_SA_SUM) {
            sum += sel ? x : 0;
            continue;
        }
        int64_t key = ctype == DF_SC_CATEGORY ? v->rank[x] : x;
        int32_t d = (kind == DF_SA_LATEST || kind == DF_SA_EARLIEST) ? dates[j] : 0;
        int upd;
        if (kind == DF_SA_MIN) upd = key < bkey;
        else if (kind == DF_SA_MAX) upd = key > bkey;
        else upd = (kind == DF_SA_LATEST ? d > bd : d < bd) | ((d == bd) & (tie == 1 ? key < bkey : tie == 2 ? key > bkey : 0));
        upd = sel & (upd | !has);
        best = upd ? x : best, bkey = upd ? key : bkey, bd = upd ? d : bd, brow = upd ? j : brow;
        has |= sel;
    }
    a->v = best, a->d = bd, a->row = brow, a->has = has | (kind == DF_SA_SUM), a->sum = sum;
    return 0;
}

#define FOLD_TYPES(K, T)                                                                                   \
    switch (v->ctype) {                                                                                    \
    case DF_SC_DATE: return fold(K, DF_SC_DATE, T, sp, v, a, mbuf, j0, n);                                  \
    case DF_SC_CATEGORY: return fold(K, DF_SC_CATEGORY, T, sp, v, a, mbuf, j0, n);                          \
    default: return fold(K, DF_SC_INT, T, sp, v, a, mbuf, j0, n);                                           \
    }

/* latest/earliest of the history's date column itself: the largest/smallest selected date, a
 * max (min) over the rows with no branch and no row kept (a date is its own value). */
static int fold_date(const df_scan_spec *sp, const valagg *v, acc *a, const uint64_t *mbuf, uint64_t j0, uint64_t n)
{
    const int32_t *dates = (const int32_t *)sp->cols[sp->date_col].data + j0;
    const int bit = v->bit;
    uint64_t any = 0;
    int32_t best;
    if (v->kind == DF_SA_LATEST) {
        best = a->has ? a->d : INT32_MIN;
        for (uint64_t r = 0; r < n; r++) {
            int32_t x = (mbuf[r] >> bit) & 1 ? dates[r] : INT32_MIN;
            best = x > best ? x : best;
            any |= mbuf[r];
        }
    } else {
        best = a->has ? a->d : INT32_MAX;
        for (uint64_t r = 0; r < n; r++) {
            int32_t x = (mbuf[r] >> bit) & 1 ? dates[r] : INT32_MAX;
            best = x < best ? x : best;
            any |= mbuf[r];
        }
    }
    a->has |= (int)((any >> bit) & 1);
    a->v = best, a->d = best;
    return 0;
}

static int fold_any(const df_scan_spec *sp, const valagg *v, acc *a, const uint64_t *mbuf, uint64_t j0, uint64_t n)
{
    if ((v->kind == DF_SA_LATEST || v->kind == DF_SA_EARLIEST) && v->on_date) return fold_date(sp, v, a, mbuf, j0, n);
    switch (v->kind) {
    case DF_SA_SUM: return fold(DF_SA_SUM, DF_SC_INT, 0, sp, v, a, mbuf, j0, n);
    case DF_SA_MIN: FOLD_TYPES(DF_SA_MIN, 0)
    case DF_SA_MAX: FOLD_TYPES(DF_SA_MAX, 0)
    case DF_SA_LATEST:
        if (v->tie == 1) { FOLD_TYPES(DF_SA_LATEST, 1) }
        if (v->tie == 2) { FOLD_TYPES(DF_SA_LATEST, 2) }
        FOLD_TYPES(DF_SA_LATEST, 0)
    default:
        if (v->tie == 1) { FOLD_TYPES(DF_SA_EARLIEST, 1) }
        if (v->tie == 2) { FOLD_TYPES(DF_SA_EARLIEST, 2) }
        FOLD_TYPES(DF_SA_EARLIEST, 0)
    }
}

/* Counts in bit-sliced counters: five bit planes (locals of the row loop), added without a
 * branch, emptied into the aggregates every 31 rows. The value aggregates are counted too: how
 * many rows each takes decides how its rows are folded. */
static void flush_counts(uint64_t bits, acc *accs, const uint64_t p[5])
{
    for (uint64_t mc = bits & (p[0] | p[1] | p[2] | p[3] | p[4]); mc; mc &= mc - 1) {
        int b = __builtin_ctzll(mc);
        accs[b].n += (int64_t)(((p[0] >> b) & 1) + 2 * ((p[1] >> b) & 1) + 4 * ((p[2] >> b) & 1) + 8 * ((p[3] >> b) & 1) +
                               16 * ((p[4] >> b) & 1));
    }
}

/* Entity rows a .. b - 1 (their masks at m) into the accumulators of group gr: any(...) as one
 * OR per row, counts in the planes, then each value aggregate. Returns the aggregate whose sum
 * overflowed, or -1. */
static int entity_rows(struct df_scan *s, const group *gr, const uint64_t *m, uint64_t a, uint64_t b)
{
    const df_scan_spec *sp = &s->spec;
    acc *accs = s->accs + gr->first;
    uint64_t any = 0, n = b - a, counted = gr->count_bits | gr->value_bits;
    for (uint64_t r0 = 0; r0 < n; r0 += 31) {
        uint64_t r1 = n - r0 < 31 ? n : r0 + 31, p[5] = {0, 0, 0, 0, 0};
        for (uint64_t r = r0; r < r1; r++) {
            uint64_t c = m[r] & counted, c2 = p[0] & c, c4, c8, c16;
            any |= m[r];
            p[0] ^= c, c4 = p[1] & c2, p[1] ^= c2, c8 = p[2] & c4, p[2] ^= c4, c16 = p[3] & c8, p[3] ^= c8, p[4] |= c16;
        }
        flush_counts(counted, accs, p);
    }
    for (int k = 0; k < gr->nvals; k++) {
        const valagg *v = &gr->vals[k];
        acc *ac = &accs[v->bit];
        int64_t taken = ac->n; /* rows this aggregate takes (the planes counted them) */
        ac->n = 0;
        if (!taken) continue;
        int r = !v->fast ? slow_values(s, v, ac, m, a, n)
              : (uint64_t)taken * 8 < n ? sparse_values(s, v, ac, m, a, n) : fold_any(sp, v, ac, m, a, n);
        if (r) return v->k;
    }
    for (uint64_t ma = any & gr->any_bits; ma; ma &= ma - 1) accs[__builtin_ctzll(ma)].n = 1;
    return -1;
}

/* The scan's working memory: a chunk's class indexes and, per group, masks. */
static int ensure_buffers(struct df_scan *s)
{
    if (s->idx && s->m && (s->ent || !s->rel)) return 0;
    if (!s->idx) s->idx = malloc(CHUNK * sizeof *s->idx);
    if (!s->m) s->m = malloc((size_t)s->ngroups * CHUNK * sizeof *s->m);
    if (!s->ent && s->rel) s->ent = malloc(CHUNK * sizeof *s->ent);
    return s->idx && s->m && (s->ent || !s->rel) ? 0 : -1; /* all or some: the next call tries again */
}

/* ent[r] = the entity of row c0 + r (from lo), for the rows c0 .. c1 - 1 of entities from lo. */
static void chunk_entities(const df_scan_spec *sp, uint64_t lo, uint64_t c0, uint64_t c1, uint32_t *ent)
{
    const uint64_t *off = sp->offsets;
    uint64_t e = lo;
    while (off[e + 1] <= c0) e++;
    for (uint64_t j = c0; j < c1; j++) {
        while (off[e + 1] <= j) e++;
        ent[j - c0] = (uint32_t)(e - lo);
    }
}

/* What an aggregate needs once the entity's rows are done: a collecting one's answer; a sum of
 * the products of two decimals, in micro-units squared, back to micro-units (rounded half away
 * from zero at the 6th decimal, as round() does). -1 when memory runs out. */
static int finish(struct df_scan *s, int k, acc *a)
{
    const df_scan_agg *ag = &s->spec.aggs[k];
    if (ag->kind == DF_SA_SUM && ag->col2 >= 0 && s->spec.cols[ag->col].type == DF_SC_DECIMAL &&
        s->spec.cols[ag->col2].type == DF_SC_DECIMAL) {
        __int128 q = a->sum / 1000000, r = a->sum % 1000000;
        a->sum = q + (r >= 500000) - (r <= -500000);
    }
    if (ag->kind < DF_SA_DISTINCT) return 0;
    collected c;
    if (collect_finish(&s->colls[k], ag->kind, &s->spec.cols[ag->col], &c) != 0) return s->oom = 1, -1;
    a->n = c.n, a->v = c.v, a->row = c.row, a->has = c.has;
    return 0;
}

/* The entity's results into out; returns the aggregate whose sum does not fit an int64, or -1. */
static int entity_done(struct df_scan *s, uint64_t e, uint64_t lo, double *out)
{
    const df_scan_spec *sp = &s->spec;
    double *o = out + (e - lo) * (uint64_t)sp->naggs;
    for (int k = 0; k < sp->naggs; k++) {
        acc *a = &s->accs[k];
        if (finish(s, k, a) != 0) return k;
        if (sp->aggs[k].kind == DF_SA_SUM && (a->sum > INT64_MAX || a->sum < INT64_MIN)) return k;
        o[k] = result(sp, k, a);
    }
    memset(s->accs, 0, (size_t)sp->naggs * sizeof *s->accs);
    return -1;
}

/* The rows of a block, a chunk at a time: the chunk's masks for every group, then each entity
 * whose rows are in it (an entity whose rows go on into the next chunk keeps its accumulators). */
int df_scan_run(struct df_scan *s, uint64_t lo, uint64_t hi, const uint8_t *const *masks, double *out, int32_t *bad)
{
    const df_scan_spec *sp = &s->spec;
    const uint64_t *off = sp->offsets;
    if (ensure_buffers(s) != 0) return bad[0] = -1, -1;
    memset(s->accs, 0, (size_t)sp->naggs * sizeof *s->accs);
    for (int k = 0; k < sp->naggs; k++) s->colls[k].n = 0; /* a block that failed may have left some */
    s->oom = 0;
    uint64_t e = lo, row0 = off[lo];
    for (uint64_t c0 = row0; c0 < off[hi]; c0 += CHUNK) {
        uint64_t c1 = off[hi] - c0 < CHUNK ? off[hi] : c0 + CHUNK;
        if (s->rel) chunk_entities(sp, lo, c0, c1, s->ent);
        for (int g = 0; g < s->ngroups; g++)
            chunk_masks(sp, &s->groups[g], c0, c1 - c0, row0, masks, s->ent, s->idx, s->m + (size_t)g * CHUNK);
        for (; e < hi; e++) {
            uint64_t a = off[e] > c0 ? off[e] : c0, b = off[e + 1] < c1 ? off[e + 1] : c1;
            for (int g = 0; g < s->ngroups && a < b; g++) {
                int k = entity_rows(s, &s->groups[g], s->m + (size_t)g * CHUNK + (a - c0), a, b);
                if (k >= 0) return bad[0] = s->oom ? -1 : k, bad[1] = (int32_t)(e - lo), -1;
            }
            if (off[e + 1] > c1) break; /* goes on in the next chunk */
            int k = entity_done(s, e, lo, out);
            if (k >= 0) return bad[0] = s->oom ? -1 : k, bad[1] = (int32_t)(e - lo), -1;
        }
    }
    for (; e < hi; e++) {
        int k = entity_done(s, e, lo, out);
        if (k >= 0) return bad[0] = s->oom ? -1 : k, bad[1] = (int32_t)(e - lo), -1;
    }
    return 0;
}

int64_t df_scan_candidates(struct df_scan *s, uint64_t lo, uint64_t hi, int32_t fn, uint32_t *rows)
{
    const df_scan_spec *sp = &s->spec;
    uint64_t row0 = sp->offsets[lo], end = sp->offsets[hi];
    uint8_t want[CHUNK];
    int64_t n = 0;
    if (ensure_buffers(s) != 0) return -1;
    for (uint64_t c0 = row0; c0 < end; c0 += CHUNK) {
        uint64_t c1 = end - c0 < CHUNK ? end : c0 + CHUNK;
        memset(want, 0, sizeof want);
        for (int g = 0; g < s->ngroups; g++) {
            const group *gr = &s->groups[g];
            if (!gr->fnbits[fn]) continue;
            if (s->rel) chunk_entities(sp, lo, c0, c1, s->ent);
            chunk_masks(sp, gr, c0, c1 - c0, row0, NULL, s->ent, s->idx, s->m);
            for (uint64_t r = 0; r < c1 - c0; r++) want[r] |= (s->m[r] & gr->fnbits[fn]) != 0;
        }
        for (uint64_t r = 0; r < c1 - c0; r++)
            if (want[r]) rows[n++] = (uint32_t)(c0 + r - row0);
    }
    return n;
}
