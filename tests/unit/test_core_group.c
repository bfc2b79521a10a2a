/* test_core_group.c: group_history orders history rows by entity in place (group.c: a bucket
 * pass, then a pass inside each bucket). Checked against what grouping means, for sizes around
 * the bucket edges and owners spread every way: each entity's rows contiguous at its offsets,
 * in file order, with every column's values moved together (a text column too). */
#include "../../engine/group.h"
#include "test.h"

static uint32_t rnd(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* A history of n rows over ne entities: row i has int i, date i * 3, amount -i, text "r<i>". */
static void make(table *h, uint64_t n, uint64_t ne, int spread, uint32_t seed, uint32_t *owner_copy)
{
    memset(h, 0, sizeof *h);
    h->name = "events", h->is_history = 1, h->ncols = 4;
    column_init(&h->cols[0], "i", COL_INT);
    column_init(&h->cols[1], "d", COL_DATE);
    column_init(&h->cols[2], "t", COL_TEXT);
    column_init(&h->cols[3], "a", COL_DECIMAL);
    h->owner = malloc((size_t)(n ? n : 1) * sizeof *h->owner);
    h->owner_cap = n;
    for (uint64_t i = 0; i < n; i++) {
        char s[32];
        int k = snprintf(s, sizeof s, "r%llu", (unsigned long long)i);
        cell v = {.i = (int64_t)i};
        column_append(&h->cols[0], &v);
        v.i = (int64_t)(i * 3);
        column_append(&h->cols[1], &v);
        v = (cell){.s = s, .n = (size_t)k};
        column_append(&h->cols[2], &v);
        v = (cell){.i = -(int64_t)i};
        column_append(&h->cols[3], &v);
        /* spread 0: random; 1: already grouped; 2: reversed; 3: date-ordered round robin */
        uint64_t e = spread == 0 ? rnd(&seed) % ne : spread == 1 ? i * ne / n : spread == 2 ? ne - 1 - i * ne / n : i % ne;
        h->owner[i] = owner_copy[i] = (uint32_t)e;
    }
    h->nrows = n;
}

static void check_grouped(table *h, uint64_t n, uint64_t ne, const uint32_t *owner)
{
    int bad = 0;
    CHECK_INT(h->offsets[0], 0);
    CHECK_INT(h->offsets[ne], n);
    CHECK(h->owner == NULL);
    for (uint64_t e = 0; e < ne && !bad; e++) {
        int64_t prev = -1;
        for (uint64_t r = h->offsets[e]; r < h->offsets[e + 1] && !bad; r++) {
            int64_t i = h->cols[0].i64[r];
            size_t k;
            const char *s = column_text(&h->cols[2], r, &k);
            char want[32];
            int wk = snprintf(want, sizeof want, "r%lld", (long long)i);
            if (i <= prev || owner[i] != e || h->cols[1].date[r] != i * 3 || h->cols[3].i64[r] != -i ||
                k != (size_t)wk || memcmp(s, want, k) != 0) {
                fprintf(stderr, "n=%llu entity %llu row %llu: holds old row %lld (previous %lld)\n",
                        (unsigned long long)n, (unsigned long long)e, (unsigned long long)r, (long long)i, (long long)prev);
                bad = 1;
            }
            prev = i;
        }
    }
    CHECK_INT(bad, 0);
}

int main(void)
{
    const uint64_t sizes[] = {0, 1, 2, 4095, 4096, 4097, 8193, 100003};
    const uint64_t ents[] = {1, 7, 1000, 50000};
    for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++)
        for (size_t b = 0; b < sizeof ents / sizeof *ents; b++)
            for (int spread = 0; spread < 4; spread++) {
                uint64_t n = sizes[a], ne = ents[b];
                uint32_t *owner = malloc((size_t)(n ? n : 1) * sizeof *owner);
                table h;
                df_error err;
                make(&h, n, ne, spread, (uint32_t)(a * 31 + b * 7 + (size_t)spread), owner);
                CHECK_INT(group_history(&h, ne, &err), DF_OK);
                check_grouped(&h, n, ne, owner);
                for (int c = 0; c < h.ncols; c++) column_free(&h.cols[c]);
                free(h.offsets), free(owner);
            }
    TEST_END();
}
