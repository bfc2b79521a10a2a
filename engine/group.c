/* group.c: a counting sort of history rows by their entity row: one pass to count, a prefix
 * sum for the offsets, one pass to place each row, then every column is gathered in the new
 * order. Stable, so rows of one entity keep their file order; O(rows + entities). */
#include <stdlib.h>

#include "group.h"

df_status group_history(table *h, uint64_t n_entities, df_error *err)
{
    uint64_t n = h->nrows;
    uint64_t *offs = calloc((size_t)n_entities + 1, sizeof *offs);
    uint64_t *next = malloc(((size_t)n_entities + 1) * sizeof *next);
    uint32_t *perm = malloc((size_t)(n ? n : 1) * sizeof *perm);
    if (!offs || !next || !perm) {
        free(offs), free(next), free(perm);
        return DF_FAIL(err, DF_ERR_NOMEM, h->name, "out of memory grouping the history rows");
    }
    for (uint64_t i = 0; i < n; i++) offs[h->owner[i] + 1]++;
    for (uint64_t e = 0; e < n_entities; e++) offs[e + 1] += offs[e];
    for (uint64_t e = 0; e <= n_entities; e++) next[e] = offs[e];
    for (uint64_t i = 0; i < n; i++) perm[next[h->owner[i]]++] = (uint32_t)i;
    free(next);
    free(h->owner);
    h->owner = NULL;
    h->owner_cap = 0;
    for (int c = 0; c < h->ncols; c++) {
        if (column_permute(&h->cols[c], perm, n) != 0) {
            free(perm), free(offs);
            return DF_FAIL(err, DF_ERR_NOMEM, h->name, "out of memory grouping the history rows");
        }
    }
    free(perm);
    h->offsets = offs;
    return DF_OK;
}
