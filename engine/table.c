/* table.c: lifetime of a table (see table.h). */
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "table.h"

void table_free(table *t)
{
    if (!t) return;
    for (int i = 0; i < t->ncols; i++) column_free(&t->cols[i]);
    if (!t->is_history && t->keys.slots) strmap_free(&t->keys);
    free(t->name);
    free(t->file);
    free(t->path);
    free(t->key);
    free(t->date_col);
    dialect_free(&t->dl);
    free(t->owner);
    free(t->offsets);
    memset(t, 0, sizeof *t);
}

int table_find_col(const table *t, const char *name)
{
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0) return i;
    return -1;
}

/* A table with t's name, key, date column and columns, reading path. */
int table_clone_spec(table *dst, const table *t, const char *path)
{
    memset(dst, 0, sizeof *dst);
    dst->name = strdup(t->name);
    dst->file = strdup(strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
    dst->path = strdup(path);
    dst->key = strdup(t->key);
    dst->date_col = t->date_col ? strdup(t->date_col) : NULL;
    dst->is_history = t->is_history;
    dst->from_history = t->from_history;
    if (dialect_copy(&dst->dl, &t->dl) != 0) return -1;
    dst->key_col = dst->date_idx = -1;
    if (!dst->name || !dst->file || !dst->path || !dst->key || (t->date_col && !dst->date_col)) return -1;
    for (int c = 0; c < t->ncols; c++) {
        column *col = &dst->cols[dst->ncols++];
        if (column_init(col, t->cols[c].name, t->cols[c].type) != 0) return -1;
        col->required = t->cols[c].required;
        col->allowed = t->cols[c].allowed; /* shared, owned by t */
    }
    return 0;
}

static void add_examples(char dst[DF_EXAMPLES][64], uint64_t have, const char src[DF_EXAMPLES][64], uint64_t n)
{
    for (uint64_t i = 0; i < n && i < DF_EXAMPLES && have + i < DF_EXAMPLES; i++) memcpy(dst[have + i], src[i], 64);
}

void table_add_stats(table_stats *d, const table_stats *s)
{
    add_examples(d->dup_examples, d->duplicates, s->dup_examples, s->duplicates);
    add_examples(d->orphan_examples, d->orphans, s->orphan_examples, s->orphans);
    d->bytes += s->bytes, d->bytes_text += s->bytes_text, d->rows_read += s->rows_read;
    d->decompress_cpu += s->decompress_cpu, d->parse_cpu += s->parse_cpu;
    d->rows_loaded += s->rows_loaded, d->rejected += s->rejected, d->duplicates += s->duplicates;
    d->orphans += s->orphans, d->future += s->future, d->blank_lines += s->blank_lines;
    d->empty_keys += s->empty_keys;
    d->empty_rows += s->empty_rows;
    if (s->sha256[0] && !d->sha256[0]) memcpy(d->sha256, s->sha256, sizeof d->sha256);
    else if (s->sha256[0]) { /* parts: chained in the order they are added (name order) */
        char two[130];
        memcpy(two, d->sha256, 64), memcpy(two + 64, s->sha256, 65);
        sha256_hex(two, 128, d->sha256);
    }
    if (s->header_columns)
        d->header_columns = s->header_columns, d->ignored_columns = s->ignored_columns, d->empty_header_cells = s->empty_header_cells;
}

/* Every value of s's dictionary into d's, in s's order; map[k] (when given) the code in d of
 * s's code k. */
static int merge_dict(column *d, const column *s, uint32_t *map)
{
    for (uint32_t k = 0; k < s->dict.n; k++) {
        size_t len;
        const char *str = strmap_str(&s->dict, k, &len);
        int added;
        int64_t code = strmap_intern(&d->dict, str, len, &added);
        if (code < 0) return -1;
        if (map) map[k] = (uint32_t)code;
    }
    return 0;
}

/* The category values of src without rows (a shard's block of other shards' rows: csvload.c's
 * note_categories) into dst's dictionaries, in their order. */
static int append_dicts(table *dst, const table *src)
{
    for (int c = 0; c < dst->ncols; c++)
        if (dst->cols[c].type == COL_CATEGORY && src->cols[c].dict.slots && merge_dict(&dst->cols[c], &src->cols[c], NULL) != 0)
            return -1;
    return 0;
}

/* Appends src's rows to dst (same columns, in the same order), those with keep[r] != 0 when
 * keep is given (nkeep of them); category codes are re-mapped. */
static int append_rows(table *dst, const table *src, const uint8_t *keep, uint64_t nkeep)
{
    uint64_t n = src->nrows, at = dst->nrows;
    if (n == 0) return append_dicts(dst, src); /* a part or block without rows: its arrays may not exist */
    for (int c = 0; c < dst->ncols; c++) {
        column *d = &dst->cols[c];
        const column *s = &src->cols[c];
        if (column_reserve(d, at + nkeep) != 0) return -1;
        uint64_t o = at;
        switch (d->type) {
        case COL_INT:
        case COL_DECIMAL:
            if (!keep) memcpy(d->i64 + at, s->i64, (size_t)n * sizeof *d->i64);
            else for (uint64_t r = 0; r < n; r++) if (keep[r]) d->i64[o++] = s->i64[r];
            break;
        case COL_DATE:
            if (!keep) memcpy(d->date + at, s->date, (size_t)n * sizeof *d->date);
            else for (uint64_t r = 0; r < n; r++) if (keep[r]) d->date[o++] = s->date[r];
            break;
        case COL_CATEGORY: {
            uint32_t *map = malloc((size_t)(s->dict.n ? s->dict.n : 1) * sizeof *map);
            if (!map || merge_dict(d, s, map) != 0) return free(map), -1;
            for (uint64_t r = 0; r < n; r++) if (!keep || keep[r]) d->codes[o++] = map[s->codes[r]];
            free(map);
            break;
        }
        case COL_TEXT:
            for (uint64_t r = 0; r < n; r++) {
                if (keep && !keep[r]) continue;
                cell v;
                v.s = column_text(s, r, &v.n);
                if (column_append(d, &v) != 0) return -1;
            }
            break;
        }
        d->n = at + nkeep;
    }
    if (dst->is_history) {
        if (at + n > dst->owner_cap) {
            uint32_t *o = realloc(dst->owner, (size_t)(at + n) * sizeof *o);
            if (!o) return -1;
            dst->owner = o, dst->owner_cap = at + n;
        }
        memcpy(dst->owner + at, src->owner, (size_t)n * sizeof *dst->owner);
    }
    dst->nrows = at + nkeep;
    return 0;
}

int table_append_rows(table *dst, const table *src) { return append_rows(dst, src, NULL, src->nrows); }

static uint64_t key_bytes(const strmap *m)
{
    return m->slots ? m->arena_cap + (uint64_t)m->offs_cap * 8 + (uint64_t)m->nslots * sizeof(struct strmap_slot) : 0;
}

void table_drop_keys(table *t)
{
    t->keys_bytes += key_bytes(&t->keys);
    strmap_free(&t->keys);
}

uint64_t table_bytes(const table *t, uint64_t n_entities)
{
    uint64_t b = t->keys_bytes + key_bytes(&t->keys);
    for (int c = 0; c < t->ncols; c++) b += column_bytes(&t->cols[c]);
    if (t->offsets) b += (n_entities + 1) * 8;
    b += t->owner_cap * 4;
    return b;
}

void table_note_example(char ex[DF_EXAMPLES][64], uint64_t count, const char *s, size_t n)
{
    if (count > DF_EXAMPLES) return;
    if (n > 63) n = 63;
    memcpy(ex[count - 1], s, n);
    ex[count - 1][n] = 0;
}

int64_t table_append_entity_rows(table *dst, const table *src)
{
    uint8_t *keep = NULL;
    uint64_t dups = 0;
    const column *kc = &src->cols[src->key_col];
    for (uint64_t r = 0; r < src->nrows; r++) {
        size_t n;
        const char *s = column_text(kc, r, &n);
        int added;
        if (strmap_intern(&dst->keys, s, n, &added) < 0) return free(keep), -1;
        if (added) continue;
        if (!keep) {
            if (!(keep = malloc((size_t)src->nrows))) return -1;
            memset(keep, 1, (size_t)src->nrows);
        }
        keep[r] = 0;
        dups++;
        table_note_example(dst->st.dup_examples, ++dst->st.duplicates, s, n);
    }
    int rc = append_rows(dst, src, keep, src->nrows - dups);
    free(keep);
    return rc != 0 ? -1 : (int64_t)dups;
}

