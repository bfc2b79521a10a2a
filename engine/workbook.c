/* workbook.c: XLSX workbooks through libxlsxwriter (see workbook.h). Cells keep their types:
 * numbers are number cells (fixed decimals with the format "0.00"...), dates date cells
 * (yyyy-mm-dd), text string cells, never formulas and never with a ' in front (a string cell is
 * not evaluated, whatever it starts with), so ids keep their leading zeros and all their digits.
 * Each sheet has its header row frozen, an autofilter, column widths from its longest cells
 * and, on a list with a band column, the band cells filled (the riskiest band red). The file is
 * written by libxlsxwriter at books_close into the staging file outset_open made (constant
 * memory mode: rows go to temporary files in the staging folder as they are written), with a
 * fixed creation date (the as-of date): the same inputs give the same bytes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xlsxwriter.h>

#include "run.h"
#include "workbook.h"

#define MAX_BOOKS 16
#define MAX_WIDTH 60
#define NBANDS 3

typedef struct book {
    lxw_workbook *wb;
    csvw *file; /* the output's staging file (its rows: the data rows of every sheet) */
    char *name, *tmpdir;
    lxw_format *bold, *date, *fixed[7], *band[NBANDS];
} book;

struct books {
    book b[MAX_BOOKS];
    int n;
    int32_t as_of;
    char *scratch; /* a cell's text with its NUL, for libxlsxwriter */
    size_t cap;
};

books *books_new(int32_t as_of)
{
    books *bs = calloc(1, sizeof *bs);
    if (bs) bs->as_of = as_of;
    return bs;
}

void books_free(books *bs)
{
    if (!bs) return;
    for (int i = 0; i < bs->n; i++) {
        lxw_workbook_free(bs->b[i].wb); /* a workbook never closed: nothing was written */
        free(bs->b[i].name), free(bs->b[i].tmpdir);
    }
    free(bs->scratch);
    free(bs);
}

/* The formats every sheet uses; -1 when one cannot be made (out of memory). */
static int make_formats(book *k)
{
    static const char *fixed[] = {"0", "0.0", "0.00", "0.000", "0.0000", "0.00000", "0.000000"};
    static const uint32_t fills[NBANDS] = {0xF8CBAD, 0xFFE699, 0xC6EFCE}; /* red, amber, green */
    if (!(k->bold = workbook_add_format(k->wb))) return -1;
    format_set_bold(k->bold);
    if (!(k->date = workbook_add_format(k->wb))) return -1;
    format_set_num_format(k->date, "yyyy-mm-dd");
    for (int i = 0; i < 7; i++) {
        if (!(k->fixed[i] = workbook_add_format(k->wb))) return -1;
        format_set_num_format(k->fixed[i], fixed[i]);
    }
    for (int i = 0; i < NBANDS; i++) {
        if (!(k->band[i] = workbook_add_format(k->wb))) return -1;
        format_set_bg_color(k->band[i], fills[i]);
        format_set_pattern(k->band[i], LXW_PATTERN_SOLID);
    }
    return 0;
}

int books_open(books *bs, outset *o, const char *name, df_error *err)
{
    if (bs->n == MAX_BOOKS)
        return DF_FAIL(err, DF_ERR_RULES, name, "more than %d workbooks: gather outputs as sheets of fewer workbooks", MAX_BOOKS), -1;
    csvw *w = outset_open(o, name, err);
    if (!w) return -1;
    book *k = &bs->b[bs->n];
    char *path = outset_temp_path(o, name);
    k->name = strdup(name);
    k->tmpdir = path ? strdup(path) : NULL;
    if (k->tmpdir) *strrchr(k->tmpdir, '/') = 0; /* the staging folder: temporary files beside the file */
    lxw_workbook_options opt = {.constant_memory = LXW_TRUE, .tmpdir = k->tmpdir};
    k->wb = path && k->name && k->tmpdir ? workbook_new_opt(path, &opt) : NULL;
    free(path);
    if (!k->wb) {
        free(k->name), free(k->tmpdir);
        k->name = k->tmpdir = NULL;
        return DF_FAIL(err, DF_ERR_NOMEM, name, "out of memory"), -1;
    }
    lxw_doc_properties props = {.created = (time_t)bs->as_of * 86400};
    k->file = w;
    bs->n++; /* freed with the books from now on */
    if (workbook_set_properties(k->wb, &props) != LXW_NO_ERROR || make_formats(k) != 0)
        return DF_FAIL(err, DF_ERR_NOMEM, name, "out of memory"), -1;
    return bs->n - 1;
}

/* s[0..n) with a NUL, in the books' scratch buffer (NULL on out of memory). */
static const char *cstr(books *bs, const char *s, size_t n)
{
    if (n + 1 > bs->cap) {
        size_t cap = bs->cap ? bs->cap : 256;
        while (cap < n + 1) cap *= 2;
        char *b = realloc(bs->scratch, cap);
        if (!b) return NULL;
        bs->scratch = b, bs->cap = cap;
    }
    memcpy(bs->scratch, s, n);
    bs->scratch[n] = 0;
    return bs->scratch;
}

/* Characters as a spreadsheet counts them (UTF-8 continuation bytes do not count). */
static size_t chars(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

/* Which band text s[0..n) is (0 the riskiest), or -1. */
static int band_of(const char *bands, const char *s, size_t n)
{
    int i = 0;
    for (const char *p = bands; p && *p && i < NBANDS; i++) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, s, n) == 0) return i;
        p = e ? e + 1 : NULL;
    }
    return -1;
}

/* A day count as the datetime of a date cell; 0 when outside what a spreadsheet shows. */
static int excel_date(int32_t days, lxw_datetime *dt)
{
    char t[16];
    df_format_date(days, t);
    dt->year = atoi(t), dt->month = atoi(t + 5), dt->day = atoi(t + 8);
    dt->hour = dt->min = 0, dt->sec = 0;
    return dt->year >= 1900 && dt->year <= 9999 && days > -25567; /* after 1900-01-01 */
}

typedef struct sheet_ctx {
    books *bs;
    book *k;
    lxw_worksheet *ws;
    int band_col;
    const char *bands, *places; /* places: NULL or one byte a column, see sheet_opts */
    uint16_t ncols;
    size_t width[LXW_COL_MAX > 1024 ? 1024 : LXW_COL_MAX];
} sheet_ctx;

/* The decimals the sheet shows in column col (-1: as the number has them). */
static int column_places(const sheet_ctx *sc, lxw_col_t col)
{
    if (!sc->places || col >= strlen(sc->places) || sc->places[col] == ' ') return -1;
    return sc->places[col] - '0';
}

/* Writes cell c at (row, col); its width into sc->width. */
static lxw_error put_cell(sheet_ctx *sc, lxw_row_t row, lxw_col_t col, const tcell *c, uint64_t rank)
{
    lxw_worksheet *ws = sc->ws;
    lxw_format *f = NULL;
    lxw_datetime dt;
    char num[64];
    size_t w = 0;
    int places;
    lxw_error e = LXW_NO_ERROR;
    switch (c->tag) {
    case TC_TEXT:
    case TC_PLAIN: {
        if (c->n == 0) break;
        if (row == 0) f = sc->k->bold;
        else if (col == sc->band_col) {
            int b = band_of(sc->bands, c->s, c->n);
            f = b >= 0 ? sc->k->band[b] : NULL;
        }
        const char *s = cstr(sc->bs, c->s, c->n);
        e = s ? worksheet_write_string(ws, row, col, s, f) : LXW_ERROR_MEMORY_MALLOC_FAILED;
        w = chars(c->s, c->n);
        break;
    }
    case TC_NUM:
    case TC_FIXED:
        w = (size_t)format_number(c->v, num, sizeof num);
        places = c->tag == TC_FIXED ? c->places : column_places(sc, col);
        if (!isfinite(c->v)) e = worksheet_write_string(ws, row, col, num, NULL);
        else e = worksheet_write_number(ws, row, col, c->v, places >= 0 ? sc->k->fixed[places > 6 ? 6 : places] : NULL);
        if (places >= 0) w += (size_t)places + 1;
        break;
    case TC_DATE:
        if (excel_date(c->days, &dt)) e = worksheet_write_datetime(ws, row, col, &dt, sc->k->date);
        else e = worksheet_write_string(ws, row, col, cstr(sc->bs, c->s, c->n), NULL);
        w = 10;
        break;
    case TC_RANK:
        e = worksheet_write_number(ws, row, col, (double)rank, NULL);
        w = (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)rank);
        break;
    default: break;
    }
    if (col < sizeof sc->width / sizeof sc->width[0] && w > sc->width[col]) sc->width[col] = w;
    return e;
}

/* One typed row [p, end) as sheet row `row`. */
static lxw_error put_row(sheet_ctx *sc, lxw_row_t row, const char *p, const char *end, uint64_t rank)
{
    tcell c;
    lxw_col_t col = 0;
    lxw_error e = LXW_NO_ERROR;
    while (p < end && e == LXW_NO_ERROR) {
        tcell_next(&p, &c);
        e = put_cell(sc, row, col++, &c, rank);
    }
    if (col > sc->ncols) sc->ncols = col;
    return e;
}

static df_status sheet_error(const book *k, const char *sheet, lxw_error e, df_error *err)
{
    if (e == LXW_ERROR_MAX_STRING_LENGTH_EXCEEDED)
        return DF_FAIL(err, DF_ERR_OUTPUT, k->name, "sheet %s: a text holds more than the 32767 characters a spreadsheet cell can; write this output as CSV instead", sheet);
    if (e == LXW_ERROR_MEMORY_MALLOC_FAILED) return DF_FAIL(err, DF_ERR_NOMEM, k->name, "out of memory writing sheet %s", sheet);
    return DF_FAIL(err, DF_ERR_OUTPUT, k->name, "sheet %s: %s", sheet, lxw_strerror(e));
}

/* The sheet's frozen header, autofilter and column widths. */
static void sheet_finish(sheet_ctx *sc, lxw_row_t last)
{
    worksheet_freeze_panes(sc->ws, 1, 0);
    if (sc->ncols > 0) worksheet_autofilter(sc->ws, 0, 0, last, (lxw_col_t)(sc->ncols - 1));
    for (lxw_col_t c = 0; c < sc->ncols && c < sizeof sc->width / sizeof sc->width[0]; c++) {
        size_t w = sc->width[c] + 2 + (c == 0 ? 0 : 0);
        worksheet_set_column(sc->ws, c, c, (double)(w < 8 ? 8 : w > MAX_WIDTH ? MAX_WIDTH : w), NULL);
    }
}

df_status books_sheet(books *bs, int b, const csvw *src, const char *sheet, const uint32_t *order, size_t n,
                      const sheet_opts *so, df_error *err)
{
    book *k = &bs->b[b];
    if (n + 1 > LXW_ROW_MAX)
        return DF_FAIL(err, DF_ERR_OUTPUT, k->name,
                       "sheet %s would have %zu rows; a sheet holds at most %d rows under its header: write this "
                       "output as CSV, or split it (split_by)", sheet, n, LXW_ROW_MAX - 1);
    sheet_ctx *sc = calloc(1, sizeof *sc);
    if (!sc) return DF_FAIL(err, DF_ERR_NOMEM, k->name, "out of memory");
    *sc = (sheet_ctx){.bs = bs, .k = k, .band_col = so->band_col, .bands = so->bands, .places = so->places};
    sc->ws = workbook_add_worksheet(k->wb, sheet);
    if (!sc->ws) {
        free(sc);
        return DF_FAIL(err, DF_ERR_RULES, k->name, "'%s' is not a sheet name a workbook accepts (at most 31 characters, none of []:*?/\\, each name once)", sheet);
    }
    const char *a, *e;
    csvw_typed_row(src, -1, &a, &e);
    lxw_error x = put_row(sc, 0, a, e, 0);
    for (size_t i = 0; i < n && x == LXW_NO_ERROR; i++) {
        csvw_typed_row(src, order[i], &a, &e);
        x = put_row(sc, (lxw_row_t)(i + 1), a, e, i + 1);
    }
    if (x == LXW_NO_ERROR) sheet_finish(sc, (lxw_row_t)n);
    free(sc);
    if (x != LXW_NO_ERROR) return sheet_error(k, sheet, x, err);
    k->file->rows += n;
    return DF_OK;
}

/* ---- the run sheet ---- */

typedef struct run_rows {
    sheet_ctx *sc;
    lxw_row_t row;
    lxw_error e;
} run_rows;

/* A row of the run sheet: what, name, rows (< 0: none), detail (NULL: none). */
static void run_row(run_rows *rr, const char *what, const char *name, double rows, const char *detail)
{
    tcell c = {.tag = TC_PLAIN};
    const char *cells[] = {what, name};
    for (int i = 0; i < 2 && rr->e == LXW_NO_ERROR; i++) {
        c.s = cells[i], c.n = strlen(cells[i]);
        rr->e = put_cell(rr->sc, rr->row, (lxw_col_t)i, &c, 0);
    }
    if (rows >= 0 && rr->e == LXW_NO_ERROR) rr->e = put_cell(rr->sc, rr->row, 2, &(tcell){.tag = TC_NUM, .v = rows}, 0);
    if (detail && rr->e == LXW_NO_ERROR) {
        c.s = detail, c.n = strlen(detail);
        rr->e = put_cell(rr->sc, rr->row, 3, &c, 0);
    }
    rr->row++;
}

static void run_lines(run_rows *rr, const run_info *r, const outset *o)
{
    char t[16], detail[200];
    run_row(rr, "what", "name", -1, "detail");
    if (rr->e == LXW_NO_ERROR) rr->e = put_cell(rr->sc, 0, 2, &(tcell){.tag = TC_PLAIN, .s = "rows", .n = 4}, 0);
    df_format_date(r->cfg->as_of, t);
    run_row(rr, "as_of", t, -1, NULL);
    run_row(rr, "rules", r->cfg->rules_path, -1, r->rules_sha256);
    for (int i = 0; i < r->ntables; i++) {
        const table_stats *s = &r->tables[i].st;
        snprintf(detail, sizeof detail, "%llu rows read, %llu rejected", (unsigned long long)s->rows_read,
                 (unsigned long long)s->rejected);
        run_row(rr, "input", r->tables[i].file, (double)s->rows_loaded, detail);
    }
    for (int i = 0; i < outset_count(o); i++) {
        const csvw *x = outset_file(o, i);
        if (strcmp(x->name, "run_summary.json") != 0) run_row(rr, "output", x->name, (double)x->rows, NULL);
    }
    for (int i = 0; i < r->score.nwarnings; i++) run_row(rr, "warning", "", -1, r->score.warnings[i]);
}

static df_status run_sheet(books *bs, book *k, const run_info *r, const outset *o, df_error *err)
{
    sheet_ctx *sc = calloc(1, sizeof *sc);
    if (!sc) return DF_FAIL(err, DF_ERR_NOMEM, k->name, "out of memory");
    *sc = (sheet_ctx){.bs = bs, .k = k, .band_col = -1, .ncols = 4};
    sc->ws = workbook_add_worksheet(k->wb, "run");
    run_rows rr = {.sc = sc, .e = sc->ws ? LXW_NO_ERROR : LXW_ERROR_SHEETNAME_ALREADY_USED};
    if (sc->ws) run_lines(&rr, r, o);
    if (rr.e == LXW_NO_ERROR) sheet_finish(sc, rr.row - 1);
    free(sc);
    return rr.e == LXW_NO_ERROR ? DF_OK : sheet_error(k, "run", rr.e, err);
}

df_status books_close(books *bs, const run_info *r, const outset *o, df_error *err)
{
    df_status st = DF_OK;
    for (int i = 0; i < bs->n && st == DF_OK; i++) {
        book *k = &bs->b[i];
        st = run_sheet(bs, k, r, o, err);
        if (st != DF_OK) break;
        lxw_error e = workbook_close(k->wb);
        k->wb = NULL;
        if (e != LXW_NO_ERROR)
            st = DF_FAIL(err, DF_ERR_OUTPUT, k->name, "cannot write the workbook: %s; check the disk that holds the output folder and run again", lxw_strerror(e));
    }
    return st;
}
