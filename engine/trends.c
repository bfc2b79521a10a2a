/* trends.c: the tables over nights (docs/history.md): trend { metrics = ..., nights = N } writes
 * a metrics table of the rule file for each of the last N nights, tonight's last, each row
 * after the night's date (as_of); churn { nights = N } writes the period rows (churn rate and
 * revenue retention since the night before, period.csv of each night). A past night's table is
 * aligned to tonight's header by column name (a column it lacks is empty; one tonight lacks is
 * left out), so that a rule edit between nights does not shift columns. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapfile.h"

/* A small CSV file read whole: rows of cells (spans into buf, unquoted in place), at most
 * CTAB_COLS a row (a metrics table's further columns are not carried into its trend). */
#define CTAB_COLS 256
typedef struct ctab {
    char *buf;
    size_t len;
    int ncols;         /* the stride of cell: CTAB_COLS (a header ends at its first missing cell) */
    size_t (*cell)[2]; /* row-major: nrows x ncols spans (length SIZE_MAX: missing) */
    size_t nrows;      /* the header is row 0 */
} ctab;

static void ctab_free(ctab *t) { free(t->buf), free(t->cell); }

/* Reads path into t; a missing file leaves t empty (0 rows) and is not an error. */
static df_status ctab_read(const char *path, ctab *t, df_error *err)
{
    memset(t, 0, sizeof *t);
    if (access(path, F_OK) != 0 && errno == ENOENT) return DF_OK;
    df_status st = run_read_file(path, "history table", &t->buf, &t->len, err);
    if (st != DF_OK) return st;
    size_t cap = 64, p = 0, row = 0;
    int max = CTAB_COLS;
    t->cell = malloc(cap * (size_t)max * sizeof *t->cell);
    while (t->cell && p < t->len) {
        if (row == cap) {
            size_t (*nc)[2] = realloc(t->cell, (cap *= 2) * (size_t)max * sizeof *t->cell);
            if (!nc) free(t->cell);
            if (!(t->cell = nc)) break;
        }
        for (int c = 0; c < max; c++) t->cell[row * (size_t)max + (size_t)c][1] = SIZE_MAX;
        int c = 0, end;
        do {
            size_t a, n;
            end = csv_next_cell(t->buf, t->len, &p, &a, &n);
            if (c < max) t->cell[row * (size_t)max + (size_t)c][0] = a, t->cell[row * (size_t)max + (size_t)c][1] = n;
            c++;
        } while (end == ',');
        row++;
    }
    if (!t->cell) return DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory");
    t->nrows = row;
    t->ncols = max;
    return DF_OK;
}

static const char *ctab_at(const ctab *t, size_t r, int c, size_t *n)
{
    size_t *s = t->cell[r * (size_t)t->ncols + (size_t)c];
    if (s[1] == SIZE_MAX) return *n = 0, NULL;
    *n = s[1];
    return t->buf + s[0];
}

/* Tonight's table: the file of o (finished now), or of the night folder. */
static df_status read_tonight(outset *o, const char *name, ctab *t, df_error *err)
{
    df_status st = outset_finish_file(o, name, err);
    char *path = st == DF_OK ? outset_temp_path(o, name) : NULL;
    if (st == DF_OK && !path) st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    if (st == DF_OK) st = ctab_read(path, t, err);
    free(path);
    return st;
}

/* Writes night `date`'s table t under header h, columns matched by name; date first unless NULL. */
static void put_rows(csvw *w, const ctab *t, const ctab *h, const char *date)
{
    int map[CTAB_COLS];
    size_t n, m;
    for (int c = 0; c < h->ncols; c++) {
        const char *name = ctab_at(h, 0, c, &n);
        map[c] = -1;
        for (int k = 0; name && k < t->ncols; k++) {
            const char *x = ctab_at(t, 0, k, &m);
            if (x && m == n && memcmp(x, name, n) == 0) { map[c] = k; break; }
        }
    }
    for (size_t r = 1; r < t->nrows; r++) {
        if (date) csvw_plain(w, date, strlen(date));
        for (int c = 0; c < h->ncols && ctab_at(h, 0, c, &n); c++) {
            const char *x = map[c] >= 0 ? ctab_at(t, r, map[c], &m) : NULL;
            if (x) csvw_text(w, x, m);
            else csvw_empty(w);
        }
        csvw_end_row(w);
    }
}

/* A header from a text ("a,b,c\n"). */
static df_status ctab_text(ctab *t, const char *text, df_error *err)
{
    memset(t, 0, sizeof *t);
    t->len = strlen(text);
    t->buf = strdup(text);
    t->cell = malloc(CTAB_COLS * sizeof *t->cell);
    if (!t->buf || !t->cell) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    size_t p = 0;
    int c = 0, end;
    for (int k = 0; k < CTAB_COLS; k++) t->cell[k][1] = SIZE_MAX;
    do {
        size_t a, n;
        end = csv_next_cell(t->buf, t->len, &p, &a, &n);
        t->cell[c][0] = a, t->cell[c][1] = n;
        c++;
    } while (end == ',' && c < CTAB_COLS);
    t->ncols = CTAB_COLS, t->nrows = 1;
    return DF_OK;
}

/* One table over nights: file `file` from table `name` of each of the last `nights` nights (the
 * past ones from the history folder, tonight's from the outset `tonight`, NULL: none). Its
 * header: as_of and tonight's header (hdr NULL), or hdr (the rows then have no as_of). */
static df_status over_nights(outset *o, outset *tonight, const df_config *cfg, const char *file, const char *name,
                             int nights, const char *hdr, df_error *err)
{
    csvw *w = outset_open(o, file, err);
    if (!w) return err->status;
    ctab now = {0}, head = {0};
    df_status st = tonight ? read_tonight(tonight, name, &now, err) : DF_OK;
    if (st == DF_OK && hdr) st = ctab_text(&head, hdr, err);
    const ctab *H = hdr ? &head : &now;
    size_t n;
    if (!hdr) csvw_plain(w, "as_of", 5);
    for (int c = 0; st == DF_OK && H->nrows && c < H->ncols && ctab_at(H, 0, c, &n); c++) csvw_text(w, ctab_at(H, 0, c, &n), n);
    csvw_end_row(w);
    int32_t *dates = NULL;
    int k = 0;
    if (st == DF_OK && cfg->history_dir && H->nrows && !(dates = malloc((size_t)(nights + 1) * sizeof *dates)))
        st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    if (dates) st = history_nights(cfg->history_dir, cfg->as_of, dates, tonight ? nights - 1 : nights, &k, err);
    for (int i = 0; st == DF_OK && i < k; i++) {
        char date[16], sub[300];
        df_format_date(dates[i], date);
        snprintf(sub, sizeof sub, "%s/%s", date, name);
        char *path = path_join(cfg->history_dir, sub);
        ctab t = {0};
        st = path ? ctab_read(path, &t, err) : DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
        if (st == DF_OK && t.nrows) put_rows(w, &t, H, hdr ? NULL : date);
        ctab_free(&t);
        free(path);
    }
    char today[16];
    df_format_date(cfg->as_of, today);
    if (st == DF_OK && now.nrows) put_rows(w, &now, H, hdr ? NULL : today);
    free(dates);
    ctab_free(&now), ctab_free(&head);
    return st;
}

df_status trends_write(outset *o, outset *night, const df_config *cfg, const history_info *h, df_error *err)
{
    df_status st = DF_OK;
    for (int i = 0; st == DF_OK && i < h->ntrends; i++)
        st = over_nights(o, o, cfg, h->trend_files[i], h->trend_metrics[i], h->trend_nights[i], NULL, err);
    if (st != DF_OK || !h->churn_file[0]) return st;
    int has_period = 0;
    for (int i = 0; night && i < outset_count(night); i++) has_period |= strcmp(outset_file(night, i)->name, "period.csv") == 0;
    char hdr[400] = "";
    for (int i = 0; i < 11; i++) snprintf(hdr + strlen(hdr), sizeof hdr - strlen(hdr), "%s%s", i ? "," : "", PERIOD_HEADER[i]);
    strcat(hdr, "\n");
    return over_nights(o, has_period ? night : NULL, cfg, h->churn_file, "period.csv", h->churn_nights, hdr, err);
}
