/* collect.c: count_distinct, most_frequent and active_months over an entity's selected rows.
 * The values are collected (an int64 each: the number, the date in days, the category's code,
 * or the row of a text), sorted once when the entity's rows are done, and read in runs of equal
 * values: a run per distinct value. O(k log k) for an entity's k rows, memory reused from one
 * entity to the next. Equal means the same bytes for a text, the same code for a category (one
 * code per distinct text), the same exact number otherwise. Owns the collections' buffers. */
#include <stdlib.h>
#include <string.h>

#include "collect.h"

int collect_push(collection *c, int64_t v)
{
    if (c->n == c->cap) {
        uint64_t cap = c->cap ? c->cap * 2 : 64;
        int64_t *nv = realloc(c->v, cap * sizeof *nv);
        if (!nv) return -1;
        c->v = nv, c->cap = cap;
    }
    c->v[c->n++] = v;
    return 0;
}

void collect_free(collection *c)
{
    free(c->v), free(c->keys);
    memset(c, 0, sizeof *c);
}

int64_t collect_month(int32_t days)
{
    int64_t z = (int64_t)days + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    const int64_t m = mp < 10 ? mp + 3 : mp - 9;
    return (yoe + era * 400 + (m <= 2)) * 12 + m - 1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A text value for sorting: its bytes and its row. */
typedef struct tkey {
    const char *s;
    uint64_t n, row;
} tkey;

static int cmp_text(const tkey *x, const tkey *y)
{
    int r = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
    return r ? r : (x->n > y->n) - (x->n < y->n);
}

static int cmp_tkey(const void *a, const void *b)
{
    const tkey *x = a, *y = b;
    int r = cmp_text(x, y);
    return r ? r : (x->row > y->row) - (x->row < y->row); /* equal texts: the first row first */
}

/* Texts: sorted as keys; runs of equal bytes. */
static int finish_text(collection *c, int kind, const df_scan_col *col, collected *out)
{
    if (c->kcap < c->n) {
        void *k = realloc(c->keys, c->n * sizeof(tkey));
        if (!k) return -1;
        c->keys = k, c->kcap = c->n;
    }
    tkey *k = c->keys;
    for (uint64_t i = 0; i < c->n; i++) {
        uint64_t j = (uint64_t)c->v[i];
        k[i].s = (const char *)col->data + col->offs[j], k[i].n = col->offs[j + 1] - col->offs[j], k[i].row = j;
    }
    qsort(k, c->n, sizeof *k, cmp_tkey);
    uint64_t best = 0;
    for (uint64_t i = 0, run; i < c->n; i += run) {
        for (run = 1; i + run < c->n && cmp_text(&k[i], &k[i + run]) == 0; run++) {}
        out->n++;
        if (kind == DF_SA_MODE && run > best) best = run, out->row = k[i].row, out->has = 1; /* ties: the lowest text */
    }
    return 0;
}

/* Numbers, dates and categories: sorted values; for a category the most frequent value's ties
 * go to the lowest text (rank), for the others to the lowest value (the first run). */
static void finish_values(collection *c, int kind, const df_scan_col *col, collected *out)
{
    qsort(c->v, c->n, sizeof *c->v, cmp_i64);
    if (kind == DF_SA_MONTHS) {
        int64_t m0 = collect_month((int32_t)c->v[0]), bits = 0;
        for (uint64_t i = 0; i < c->n; i++) {
            int64_t k = collect_month((int32_t)c->v[i]) - m0;
            if (k <= 52) bits |= (int64_t)1 << k; /* a double holds 53 bits exactly */
        }
        out->v = bits, out->has = 1;
        return;
    }
    uint64_t best = 0;
    for (uint64_t i = 0, run; i < c->n; i += run) {
        for (run = 1; i + run < c->n && c->v[i + run] == c->v[i]; run++) {}
        out->n++;
        int better = run > best || (run == best && col->type == DF_SC_CATEGORY && col->rank[c->v[i]] < col->rank[out->v]);
        if (kind == DF_SA_MODE && better) best = run, out->v = c->v[i], out->has = 1;
    }
}

int collect_finish(collection *c, int kind, const df_scan_col *col, collected *out)
{
    memset(out, 0, sizeof *out);
    int r = 0;
    if (c->n && col->type == DF_SC_TEXT && kind != DF_SA_MONTHS) r = finish_text(c, kind, col, out);
    else if (c->n) finish_values(c, kind, col, out);
    c->n = 0;
    return r;
}
