/* group.c: history rows ordered by their entity row, in place. A counting sort gives each row
 * its place (one pass to count, a prefix sum for the offsets, one pass turning the row's entity
 * in h->owner into the row's place: dest), then the rows are moved there without a second copy
 * of any column, so grouping needs no more memory than loading did:
 *   1. an in-place bucket pass (American flag sort) on the place's high bits: rows are swapped
 *      into the bucket of places they belong to, each bucket filled from its start, so the
 *      swaps touch 64 sequential streams per column rather than random rows;
 *   2. inside each bucket, the rows are put in place through a bucket-sized scratch array.
 * Stable (rows of one entity keep their file order, the places say so); O(rows + entities).
 * A text column is gathered into a new copy before the passes (column_permute). */
#include <stdlib.h>
#include <string.h>

#include "group.h"

#define BUCKET_BITS 6 /* 64 buckets: 256 streams of swaps with 4 columns, within the TLB's reach (4096: 0.5 s slower on M) */

typedef struct lane { /* a fixed-width column's array */
    char *p;
    size_t w; /* 4 or 8 */
} lane;

static df_status nomem(table *h, df_error *err)
{
    return DF_FAIL(err, DF_ERR_NOMEM, h->name, "out of memory grouping the history rows");
}

static int lanes_of(table *h, lane *L)
{
    int nl = 0;
    for (int c = 0; c < h->ncols; c++) {
        column *col = &h->cols[c];
        if (col->type == COL_INT || col->type == COL_DECIMAL) L[nl++] = (lane){(char *)col->i64, 8};
        else if (col->type == COL_DATE) L[nl++] = (lane){(char *)col->date, 4};
        else if (col->type == COL_CATEGORY) L[nl++] = (lane){(char *)col->codes, 4};
    }
    return nl;
}

static void swap_rows(const lane *L, int nl, uint32_t *dest, uint64_t a, uint64_t b)
{
    uint32_t d = dest[a];
    dest[a] = dest[b], dest[b] = d;
    for (int k = 0; k < nl; k++) {
        if (L[k].w == 8) {
            uint64_t *q = (uint64_t *)(void *)L[k].p, t = q[a];
            q[a] = q[b], q[b] = t;
        } else {
            uint32_t *q = (uint32_t *)(void *)L[k].p, t = q[a];
            q[a] = q[b], q[b] = t;
        }
    }
}

/* Pass 1: bucket b holds places [b << s, (b + 1) << s); cur[b] is its first row not yet known to
 * belong there. A row found in the wrong bucket is swapped to the first such row of its own. */
static void bucket_pass(const lane *L, int nl, uint32_t *dest, uint64_t n, int s, uint64_t *cur, uint64_t nb)
{
    for (uint64_t b = 0; b < nb; b++) cur[b] = b << s;
    for (uint64_t b = 0; b < nb; b++) {
        uint64_t end = (b + 1) << s < n ? (b + 1) << s : n;
        while (cur[b] < end) {
            uint64_t i = cur[b], tb = dest[i] >> s;
            if (tb == b) {
                cur[b]++;
                continue;
            }
            while (dest[cur[tb]] >> s == tb) cur[tb]++; /* already there: leave it */
            swap_rows(L, nl, dest, i, cur[tb]++);
        }
    }
}

/* Pass 2: inside each bucket, every row to its place through scratch (1 << s elements). */
static void place_pass(const lane *L, int nl, const uint32_t *dest, uint64_t n, int s, char *scratch)
{
    for (uint64_t lo = 0; lo < n; lo += (uint64_t)1 << s) {
        uint64_t hi = lo + ((uint64_t)1 << s) < n ? lo + ((uint64_t)1 << s) : n;
        for (int k = 0; k < nl; k++) {
            if (L[k].w == 8) {
                uint64_t *q = (uint64_t *)(void *)L[k].p, *t = (uint64_t *)(void *)scratch;
                for (uint64_t i = lo; i < hi; i++) t[dest[i] - lo] = q[i];
            } else {
                uint32_t *q = (uint32_t *)(void *)L[k].p, *t = (uint32_t *)(void *)scratch;
                for (uint64_t i = lo; i < hi; i++) t[dest[i] - lo] = q[i];
            }
            memcpy(L[k].p + lo * L[k].w, scratch, (size_t)(hi - lo) * L[k].w);
        }
    }
}

/* The text columns are gathered: perm[new row] = old row, the inverse of dest. */
static int gather_text(table *h, const uint32_t *dest, uint64_t n)
{
    uint32_t *perm = NULL;
    for (int c = 0; c < h->ncols; c++) {
        if (h->cols[c].type != COL_TEXT) continue;
        if (!perm) {
            if (!(perm = malloc((size_t)(n ? n : 1) * sizeof *perm))) return -1;
            for (uint64_t i = 0; i < n; i++) perm[dest[i]] = (uint32_t)i;
        }
        if (column_permute(&h->cols[c], perm, n) != 0) {
            free(perm);
            return -1;
        }
    }
    free(perm);
    return 0;
}

/* Turns h->owner (each row's entity) into dest (each row's place); offs[e] is entity e's first. */
static void places(table *h, uint64_t n_entities, uint64_t *offs, uint64_t *next)
{
    uint64_t n = h->nrows;
    for (uint64_t i = 0; i < n; i++) offs[h->owner[i] + 1]++;
    for (uint64_t e = 0; e < n_entities; e++) offs[e + 1] += offs[e];
    memcpy(next, offs, ((size_t)n_entities + 1) * sizeof *next);
    for (uint64_t i = 0; i < n; i++) h->owner[i] = (uint32_t)next[h->owner[i]]++;
}

df_status group_history(table *h, uint64_t n_entities, df_error *err)
{
    uint64_t n = h->nrows;
    int s = 0;
    while (n >> s > ((uint64_t)1 << BUCKET_BITS)) s++;
    uint64_t nb = n ? ((n - 1) >> s) + 1 : 0;
    uint64_t *offs = calloc((size_t)n_entities + 1, sizeof *offs);
    uint64_t *next = malloc(((size_t)n_entities + 1) * sizeof *next);
    uint64_t *cur = malloc((size_t)(nb + 1) * sizeof *cur);
    char *scratch = malloc(((size_t)1 << s) * 8);
    if (!offs || !next || !cur || !scratch) {
        free(offs), free(next), free(cur), free(scratch);
        return nomem(h, err);
    }
    places(h, n_entities, offs, next);
    free(next);
    if (gather_text(h, h->owner, n) != 0) {
        free(offs), free(cur), free(scratch);
        return nomem(h, err);
    }
    lane L[DF_MAX_COLUMNS];
    int nl = lanes_of(h, L);
    bucket_pass(L, nl, h->owner, n, s, cur, nb);
    place_pass(L, nl, h->owner, n, s, scratch);
    free(cur), free(scratch);
    free(h->owner);
    h->owner = NULL;
    h->owner_cap = 0;
    h->offsets = offs;
    return DF_OK;
}
