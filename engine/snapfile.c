/* snapfile.c: reading a night's snapshot (snapfile.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "snapfile.h"

#define SNAP_MAX_COLS 256 /* the columns of a snapshot read (those after are skipped) */



/* The whole file into *buf (*cap bytes, kept from an earlier read when there is one, grown by
 * doubling): *len bytes. On failure *buf is freed. */
static df_status read_gz(const char *path, char **buf, size_t *cap, size_t *len, df_error *err)
{
    errno = 0;
    gzFile g = gzopen(path, "rb");
    if (!g && (errno == ENOMEM || errno == 0)) return DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory");
    if (!g) return DF_FAIL(err, DF_ERR_IO, path, "cannot read the history snapshot: %s", strerror(errno));
    size_t n = 0;
    if (!*buf) *buf = malloc(*cap = 1 << 20);
    char *b = *buf;
    int k = 0;
    while (b && (k = gzread(g, b + n, (unsigned)(*cap - n))) > 0) {
        n += (size_t)k;
        if (n == *cap) {
            char *nb = realloc(b, *cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    int zerr = Z_OK;
    if (k < 0) gzerror(g, &zerr);
    gzclose(g);
    *buf = b;
    if (!b || zerr == Z_MEM_ERROR || k < 0) {
        free(b), *buf = NULL, *cap = 0;
        if (!b || zerr == Z_MEM_ERROR) return DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory reading the history snapshot");
        return DF_FAIL(err, DF_ERR_IO, path, "the history snapshot is damaged (not whole gzip): run that night again");
    }
    *len = n;
    return DF_OK;
}

/* The next cell at *p (unquoted in place into [*start, *start + *n)); returns the character
 * that ended it: ',' '\n' or 0 at the end of the text. */
int csv_next_cell(char *b, size_t len, size_t *p, size_t *start, size_t *n)
{
    size_t i = *p, o = i;
    *start = i;
    if (i < len && b[i] == '"') {
        for (i++; i < len; i++) {
            if (b[i] == '"') {
                if (i + 1 < len && b[i + 1] == '"') b[o++] = '"', i++;
                else { i++; break; }
            } else b[o++] = b[i];
        }
    } else
        for (; i < len && b[i] != ',' && b[i] != '\n'; i++) o++;
    *n = o - *start;
    int end = i < len ? b[i] : 0;
    *p = i < len ? i + 1 : i;
    return end;
}

/* The header's column of each wanted name (kcol[k]: -1 when absent; one column may be wanted
 * twice, e.g. the backtest's outcome is the defected field). */
static void find_columns(snap *s, size_t *p, const char *want[NCOLS], int kcol[NCOLS])
{
    for (int k = 0; k < NCOLS; k++) kcol[k] = -1;
    int c = 0, end;
    do {
        size_t st, n;
        end = csv_next_cell(s->buf, s->len, p, &st, &n);
        for (int k = 0; k < NCOLS; k++)
            if (kcol[k] < 0 && want[k] && strlen(want[k]) == n && memcmp(want[k], s->buf + st, n) == 0) kcol[k] = c;
        c++;
    } while (end == ',');
}

static void snap_columns(const history_info *h, const char *want[NCOLS])
{
    const char *w[NCOLS] = {h->key, "score", "band", "stage", "on_list", "reason_codes", h->defected[0] ? h->defected : NULL,
                            h->revenue[0] ? h->revenue : NULL, h->outcome[0] ? h->outcome : NULL,
                            h->eligible[0] ? h->eligible : NULL};
    memcpy(want, w, sizeof w);
}

/* The cells of s->buf (s->len bytes, just read or taken): path names it in messages. */
static df_status parse(snap *s, const char *path, const history_info *h, df_error *err)
{
    const char *want[NCOLS];
    snap_columns(h, want);
    int kcol[NCOLS];
    size_t p = 0;
    find_columns(s, &p, want, kcol);
    for (int k = 0; k < NCOLS; k++)
        if (kcol[k] >= SNAP_MAX_COLS)
            return DF_FAIL(err, DF_ERR_DATA, path, "the snapshot's column %s comes after column %d: keep fewer values in snapshot { keep }",
                           want[k], SNAP_MAX_COLS);
    if (kcol[C_KEY] != 0)
        return DF_FAIL(err, DF_ERR_DATA, path, "this snapshot's first column is not %s: it was written for another entity; "
                       "give this rule file another --history folder", h->key);
    if (!s->cells) s->cells = malloc((s->cells_cap = 1024) * sizeof *s->cells);
    while (s->cells && p < s->len) {
        if (s->n == s->cells_cap) {
            uint64_t(*nc)[NCOLS][2] = realloc(s->cells, (s->cells_cap *= 2) * sizeof *s->cells);
            if (!nc) free(s->cells);
            if (!(s->cells = nc)) break;
        }
        uint64_t span[SNAP_MAX_COLS][2];
        int c = 0, end;
        do {
            size_t a, n;
            end = csv_next_cell(s->buf, s->len, &p, &a, &n);
            if (c < SNAP_MAX_COLS) span[c][0] = a, span[c][1] = n;
            c++;
        } while (end == ',');
        for (int k = 0; k < NCOLS; k++) {
            int x = kcol[k];
            s->cells[s->n][k][0] = x >= 0 && x < c ? span[x][0] : 0;
            s->cells[s->n][k][1] = x >= 0 && x < c ? span[x][1] : UINT64_MAX;
        }
        s->n++;
    }
    if (!s->cells) return DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory reading the history snapshot");
    return DF_OK;
}

/* Forgets the rows of an earlier read (its buffers are kept). */
static void reset(snap *s)
{
    if (s->keys.slots) strmap_free(&s->keys);
    s->n = 0, s->len = 0;
}

df_status snap_read(snap *s, const char *path, const history_info *h, df_error *err)
{
    reset(s);
    df_status st = read_gz(path, &s->buf, &s->buf_cap, &s->len, err);
    return st == DF_OK ? parse(s, path, h, err) : st;
}

df_status snap_take(snap *s, char *buf, size_t len, const char *what, const history_info *h, df_error *err)
{
    reset(s);
    free(s->buf);
    s->buf = buf, s->len = s->buf_cap = len;
    return parse(s, what, h, err);
}

void snap_free(snap *s)
{
    free(s->buf);
    free(s->cells);
    if (s->keys.slots) strmap_free(&s->keys);
}

df_status snap_index(snap *s, df_error *err)
{
    if (strmap_init(&s->keys) != 0) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    for (uint64_t i = 0; i < s->n; i++) {
        int added;
        if (strmap_intern(&s->keys, s->buf + s->cells[i][C_KEY][0], s->cells[i][C_KEY][1], &added) < 0)
            return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    }
    return DF_OK;
}

/* Cell k of row i as a NUL-less span; "" when the column is absent. */
const char *snap_cell(const snap *s, uint64_t i, int k, size_t *n)
{
    if (s->cells[i][k][1] == UINT64_MAX) return *n = 0, "";
    *n = s->cells[i][k][1];
    return s->buf + s->cells[i][k][0];
}

int snap_is(const snap *s, uint64_t i, int k, const char *text)
{
    size_t n;
    const char *c = snap_cell(s, i, k, &n);
    return n == strlen(text) && memcmp(c, text, n) == 0;
}

double snap_num(const snap *s, uint64_t i, int k)
{
    char t[64];
    size_t n;
    const char *c = snap_cell(s, i, k, &n);
    if (n == 0 || n >= sizeof t) return 0;
    memcpy(t, c, n), t[n] = 0;
    return strtod(t, NULL);
}

/* The declared position of cell k of row i among names (n of them); n + 1 when not among them. */
int snap_rank(const snap *s, uint64_t i, int k, const char (*names)[64], int n)
{
    for (int r = 0; r < n; r++)
        if (snap_is(s, i, k, names[r])) return r;
    return n + 1;
}

