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
#include <zlib.h>

#include "history.h"
#include "strmap.h"

enum { NEW_CUSTOMER, GONE, NEW_ON_LIST, OFF_LIST, BAND_UP, BAND_DOWN, BAND_CHANGED, SCORE_UP, SCORE_DOWN, DEFECTED, NKINDS };
static const char *const CHANGE_NAMES[] = {"new_customer", "gone", "new_on_list", "off_list", "band_up",
                                           "band_down", "band_changed", "score_up", "score_down", "defected"};

enum { C_KEY, C_SCORE, C_BAND, C_STAGE, C_ON_LIST, C_DEFECTED, NCOLS };

/* A snapshot read whole: the text unquoted in place, each row's cells of interest as spans. */
typedef struct snap {
    char *buf;
    size_t len;
    uint64_t n;
    uint64_t (*cells)[NCOLS][2]; /* row -> column -> {offset, length}; length UINT64_MAX: no such column */
    strmap keys;                /* the previous night's: key -> row */
} snap;

static df_status read_gz(const char *path, char **buf, size_t *len, df_error *err)
{
    gzFile g = gzopen(path, "rb");
    if (!g) return DF_FAIL(err, DF_ERR_IO, path, "cannot read the history snapshot");
    size_t cap = 1 << 20, n = 0;
    char *b = malloc(cap);
    int k = 0;
    while (b && (k = gzread(g, b + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)k;
        if (n == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    gzclose(g);
    if (!b) return DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory reading the history snapshot");
    if (k < 0) return free(b), DF_FAIL(err, DF_ERR_IO, path, "the history snapshot is damaged (not whole gzip): run that night again");
    *buf = b, *len = n;
    return DF_OK;
}

/* The next cell at *p (unquoted in place into [*start, *start + *n)); returns the character
 * that ended it: ',' '\n' or 0 at the end of the text. */
static int next_cell(char *b, size_t len, size_t *p, size_t *start, size_t *n)
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

/* The header's column of each wanted name (-1: absent). */
static void find_columns(snap *s, size_t *p, const char *want[NCOLS], int col_of[64], int *ncells)
{
    for (int c = 0; c < 64; c++) col_of[c] = -1;
    int c = 0, end;
    do {
        size_t st, n;
        end = next_cell(s->buf, s->len, p, &st, &n);
        for (int k = 0; c < 64 && k < NCOLS; k++)
            if (want[k] && strlen(want[k]) == n && memcmp(want[k], s->buf + st, n) == 0) col_of[c] = k;
        c++;
    } while (end == ',');
    *ncells = c;
}

static df_status snap_read(snap *s, const char *path, const history_info *h, df_error *err)
{
    memset(s, 0, sizeof *s);
    df_status st = read_gz(path, &s->buf, &s->len, err);
    if (st != DF_OK) return st;
    const char *want[NCOLS] = {h->key, "score", "band", "stage", "on_list", h->defected[0] ? h->defected : NULL};
    int col_of[64], ncells;
    size_t p = 0;
    find_columns(s, &p, want, col_of, &ncells);
    if (col_of[0] != C_KEY)
        return DF_FAIL(err, DF_ERR_DATA, path, "this snapshot's first column is not %s: it was written for another entity; "
                       "give this rule file another --history folder", h->key);
    uint64_t cap = 1024;
    s->cells = malloc(cap * sizeof *s->cells);
    while (s->cells && p < s->len) {
        if (s->n == cap && !(s->cells = realloc(s->cells, (cap *= 2) * sizeof *s->cells))) break;
        for (int k = 0; k < NCOLS; k++) s->cells[s->n][k][0] = 0, s->cells[s->n][k][1] = UINT64_MAX;
        int c = 0, end;
        do {
            size_t a, n;
            end = next_cell(s->buf, s->len, &p, &a, &n);
            if (c < 64 && col_of[c] >= 0) s->cells[s->n][col_of[c]][0] = a, s->cells[s->n][col_of[c]][1] = n;
            c++;
        } while (end == ',');
        s->n++;
    }
    if (!s->cells) return DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory reading the history snapshot");
    return DF_OK;
}

static void snap_free(snap *s)
{
    free(s->buf);
    free(s->cells);
    if (s->keys.slots) strmap_free(&s->keys);
}

static df_status snap_index(snap *s, df_error *err)
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
static const char *snap_cell(const snap *s, uint64_t i, int k, size_t *n)
{
    if (s->cells[i][k][1] == UINT64_MAX) return *n = 0, "";
    *n = s->cells[i][k][1];
    return s->buf + s->cells[i][k][0];
}

static int cell_is(const snap *s, uint64_t i, int k, const char *text)
{
    size_t n;
    const char *c = snap_cell(s, i, k, &n);
    return n == strlen(text) && memcmp(c, text, n) == 0;
}

static double cell_num(const snap *s, uint64_t i, int k)
{
    char t[64];
    size_t n;
    const char *c = snap_cell(s, i, k, &n);
    if (n == 0 || n >= sizeof t) return 0;
    memcpy(t, c, n), t[n] = 0;
    return strtod(t, NULL);
}

/* The declared position of cell k of row i among names (n of them); n + 1 when not among them. */
static int rank_of(const snap *s, uint64_t i, int k, const char (*names)[64], int n)
{
    for (int r = 0; r < n; r++)
        if (cell_is(s, i, k, names[r])) return r;
    return n + 1;
}

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
    if (ci != UINT64_MAX && pi != UINT64_MAX) csvw_number(w, cell_num(cur, ci, C_SCORE) - cell_num(prev, pi, C_SCORE));
    else csvw_empty(w);
    csvw_end_row(w);
}

/* The changes of a customer of both nights (rows ci, pi) into lists. */
static int classify(row_list *lists, const snap *cur, const snap *prev, uint64_t ci, uint64_t pi, const history_info *h)
{
    int rc = 0;
    int on_now = cell_is(cur, ci, C_ON_LIST, "true"), on_before = cell_is(prev, pi, C_ON_LIST, "true");
    if (on_now && !on_before) rc |= list_add(&lists[NEW_ON_LIST], ci, pi);
    if (!on_now && on_before) rc |= list_add(&lists[OFF_LIST], ci, pi);
    int bn = rank_of(cur, ci, C_BAND, h->bands, h->nbands), bp = rank_of(prev, pi, C_BAND, h->bands, h->nbands);
    size_t n1, n2;
    const char *b1 = snap_cell(cur, ci, C_BAND, &n1), *b2 = snap_cell(prev, pi, C_BAND, &n2);
    if (n1 != n2 || memcmp(b1, b2, n1) != 0) {
        int kind = bn > h->nbands || bp > h->nbands ? BAND_CHANGED : bn < bp ? BAND_UP : BAND_DOWN;
        rc |= list_add(&lists[kind], ci, pi);
    }
    double d = cell_num(cur, ci, C_SCORE) - cell_num(prev, pi, C_SCORE);
    if (h->min_score_change > 0 && d >= h->min_score_change) rc |= list_add(&lists[SCORE_UP], ci, pi);
    if (h->min_score_change > 0 && -d >= h->min_score_change) rc |= list_add(&lists[SCORE_DOWN], ci, pi);
    if (h->defected[0] && cell_is(cur, ci, C_DEFECTED, "true") && !cell_is(prev, pi, C_DEFECTED, "true"))
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
        int from = pi == UINT64_MAX ? n + 2 : rank_of(prev, pi, k, names, n);
        int to = ci == UINT64_MAX ? n + 2 : rank_of(cur, ci, k, names, n);
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
static df_status compare(csvw *cw, csvw *fw, snap *cur, snap *prev, const history_info *h, df_error *err)
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

df_status changes_write(outset *o, outset *night, const df_config *cfg, const history_info *h, char *note, size_t cap,
                        df_error *err)
{
    note[0] = 0;
    if (!h->changes_file[0]) return DF_OK;
    csvw *cw = outset_open(o, h->changes_file, err), *fw = NULL;
    if (!cw) return err->status;
    const char *ch[] = {h->key, "change", "from", "to", "score_before", "score_after", "score_change"};
    header(cw, ch, 7);
    if (h->flows_file[0]) {
        if (!(fw = outset_open(o, h->flows_file, err))) return err->status;
        const char *fh[] = {"kind", "from", "to", "customers"};
        header(fw, fh, 4);
    }
    char date[16];
    df_format_date(cfg->as_of, date);
    if (!night) {
        snprintf(note, cap, "%s: the run keeps no history (no --history): the changes tables are empty", h->changes_file);
        return DF_OK;
    }
    char *prev_dir = history_previous(cfg->history_dir, cfg->as_of);
    if (!prev_dir) {
        snprintf(note, cap, "%s: no previous night in %s before %s: the changes tables are empty", h->changes_file,
                 cfg->history_dir, date);
        return DF_OK;
    }
    char *prev_path = path_join(prev_dir, "customers.csv.gz");
    free(prev_dir);
    df_status st = prev_path ? outset_finish_file(night, "customers.csv.gz", err) : DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    char *cur_path = st == DF_OK ? outset_temp_path(night, "customers.csv.gz") : NULL;
    if (st == DF_OK && !cur_path) st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    snap cur = {0}, prev = {0};
    if (st == DF_OK) st = snap_read(&cur, cur_path, h, err);
    if (st == DF_OK) st = snap_read(&prev, prev_path, h, err);
    if (st == DF_OK) st = compare(cw, fw, &cur, &prev, h, err);
    snap_free(&cur), snap_free(&prev);
    free(prev_path), free(cur_path);
    return st;
}
