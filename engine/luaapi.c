/* luaapi.c: the df_api callbacks (see luaapi.h). open() gives the Lua side a number per output
 * file; the cell callbacks write through csvw; the row_* callbacks capture rows whose order is
 * known only at the end; write_rows() writes them in that order. A capture that fails for
 * memory sets nomem: from then on nothing is written and the caller reports the failure. The
 * history scans (scan.c) are handed over as they are. */
#include <stdlib.h>

#include "luaapi.h"
#include <string.h>

#include "models.h"
#include "scan.h"

static int api_open(void *ctx, const char *name)
{
    api_ctx *a = ctx;
    if (a->n == API_MAX_FILES) return -1;
    csvw *w = a->o ? outset_open(a->o, name, a->err) : csvw_capture_new();
    if (!w && a->o && !a->open_failed) a->open_failed = 1, a->open_err = *a->err;
    if (!w && !a->o) a->nomem = 1;
    if (!w) return -1;
    a->files[a->n] = w;
    return a->n++;
}
/* A file of the history night (api->open_history): gzip when its name ends in .gz (but for a
 * snapshot of backtest and diff, ho_plain: kept in memory and parsed at once); a worker captures its rows like any
 * other. */
static int api_open_history(void *ctx, const char *name)
{
    api_ctx *a = ctx;
    if (a->o && !a->ho) return -1;
    if (!a->o) return api_open(ctx, name);
    if (a->n == API_MAX_FILES) return -1;
    csvw *w = outset_open(a->ho, name, a->err);
    size_t n = strlen(name);
    if (w && !a->ho_plain && n > 3 && strcmp(name + n - 3, ".gz") == 0 && csvw_gzip(w) != 0) {
        w = NULL;
        DF_FAIL(a->err, DF_ERR_NOMEM, name, "out of memory");
    }
    if (!w && !a->open_failed) a->open_failed = 1, a->open_err = *a->err;
    if (!w) return -1;
    a->files[a->n] = w;
    return a->n++;
}

/* File f's writer, or NULL once a capture failed for memory (nomem): nothing more is written,
 * the run fails. */
static csvw *live(void *ctx, int f)
{
    api_ctx *a = ctx;
    return a->nomem ? NULL : a->files[f];
}
static void api_text(void *ctx, int f, const char *s, size_t n)
{
    csvw *w = live(ctx, f);
    if (w) csvw_text(w, s, n);
}
static void api_text_at(void *ctx, int f, const uint64_t *offs, const char *arena, uint64_t row)
{
    csvw *w = live(ctx, f);
    if (w) csvw_text(w, arena + offs[row], (size_t)(offs[row + 1] - offs[row]));
}
static void api_plain(void *ctx, int f, const char *s, size_t n)
{
    csvw *w = live(ctx, f);
    if (w) csvw_plain(w, s, n);
}
static void api_number(void *ctx, int f, double v)
{
    csvw *w = live(ctx, f);
    if (w) csvw_number(w, v);
}
static void api_empty(void *ctx, int f)
{
    csvw *w = live(ctx, f);
    if (w) csvw_empty(w);
}
static void api_end_row(void *ctx, int f)
{
    csvw *w = live(ctx, f);
    if (w) csvw_end_row(w);
    if (w && w->nomem) ((api_ctx *)ctx)->nomem = 1; /* a typed row kept in memory */
}
static void api_progress(void *ctx, double done, double total)
{
    (void)total;
    progress_update(((api_ctx *)ctx)->prog, (uint64_t)done, (uint64_t)done);
}

/* Capturing can only fail for memory; the failure is kept and reported by write_rows. */
static void api_row_begin(void *ctx, int f)
{
    csvw *w = live(ctx, f);
    if (w && csvw_row_begin(w) != 0) ((api_ctx *)ctx)->nomem = 1;
}
static void api_row_split(void *ctx, int f)
{
    csvw *w = live(ctx, f);
    if (w) csvw_row_split(w);
}
static void api_row_end(void *ctx, int f)
{
    csvw *w = live(ctx, f);
    if (w && csvw_row_end(w) != 0) ((api_ctx *)ctx)->nomem = 1;
}
static int api_write_rows(void *ctx, int f, const uint32_t *order, size_t n)
{
    api_ctx *a = ctx;
    if (a->nomem) return -1;
    return csvw_write_rows(a->files[f], order, n);
}

/* ---- outputs for spreadsheets (sheets.lua) ---- */

static void api_configure(void *ctx, int f, int sep, int dec_comma, int guard, int bom, int typed)
{
    csvw *w = live(ctx, f);
    if (w) csvw_configure(w, (char)sep, dec_comma, guard, bom, typed);
}
static void api_fixed(void *ctx, int f, double v, int places)
{
    csvw *w = live(ctx, f);
    if (w) csvw_fixed(w, v, places);
}
static void api_date(void *ctx, int f, int32_t days, const char *s, size_t n)
{
    csvw *w = live(ctx, f);
    if (w) csvw_date(w, days, s, n);
}
/* A writer that only keeps rows, owned by ctx (a worker's are all of that kind). */
static int api_capture(void *ctx)
{
    api_ctx *a = ctx;
    if (a->n == API_MAX_FILES) return -1;
    csvw *w = csvw_capture_new();
    if (!w) return a->nomem = 1, -1;
    a->owned[a->n] = a->o != NULL;
    a->files[a->n] = w;
    return a->n++;
}
static int api_emit(void *ctx, int src, int dst, const uint32_t *order, size_t n)
{
    api_ctx *a = ctx;
    if (a->nomem || a->files[src]->nomem) return a->nomem = 1, -1;
    csvw_emit(a->files[dst], a->files[src], order, n);
    return 0;
}
/* A failure of a workbook is kept like one of an output file (open_failed): the cause reported. */
static int book_failed(api_ctx *a)
{
    if (!a->open_failed) a->open_failed = 1, a->open_err = *a->err;
    return -1;
}
static int api_book(void *ctx, const char *name)
{
    api_ctx *a = ctx;
    if (!a->books || !a->o) return -1;
    int b = books_open(a->books, a->o, name, a->err);
    return b < 0 ? book_failed(a) : b;
}
static int api_sheet(void *ctx, int book, int src, const char *name, const uint32_t *order, size_t n, int band_col,
                     const char *bands, const char *places)
{
    api_ctx *a = ctx;
    if (a->nomem || a->files[src]->nomem) return a->nomem = 1, -1;
    sheet_opts so = {.band_col = band_col, .bands = bands, .places = places};
    if (books_sheet(a->books, book, a->files[src], name, order, n, &so, a->err) != DF_OK) return book_failed(a);
    return 0;
}

/* ---- the report (report.lua) ---- */

static int api_read_back(void *ctx, const char *name, const char **data, size_t *len)
{
    api_ctx *a = ctx;
    *data = NULL, *len = 0;
    free(a->read_back); /* the one before is copied by now; "" only frees it */
    a->read_back = NULL;
    if (!a->o) return 1;
    int rc = outset_read_back(a->o, name, &a->read_back, len, a->err);
    if (rc < 0) return book_failed(a); /* the cause (exit 6 or 7), not the Lua error that follows */
    *data = a->read_back;
    return rc;
}
static void api_raw(void *ctx, int f, const char *s, size_t n)
{
    csvw *w = live(ctx, f);
    if (w) csvw_raw(w, s, n);
}

void api_free_owned(api_ctx *ctx)
{
    free(ctx->read_back);
    ctx->read_back = NULL;
    for (int f = 0; f < ctx->n; f++)
        if (ctx->owned[f]) csvw_capture_free(ctx->files[f]), ctx->files[f] = NULL, ctx->owned[f] = 0;
}

void api_init(df_api *api, api_ctx *ctx, df_watch *watch, volatile int *first_failed)
{
    *api = (df_api){.ctx = ctx,
                    .open = api_open,
                    .text = api_text,
                    .plain = api_plain,
                    .number = api_number,
                    .empty = api_empty,
                    .end_row = api_end_row,
                    .now = now_seconds,
                    .progress = api_progress,
                    .row_begin = api_row_begin,
                    .row_split = api_row_split,
                    .row_end = api_row_end,
                    .write_rows = api_write_rows,
                    .watch = watch,
                    .first_failed = first_failed,
                    .scan_new = df_scan_new,
                    .scan_candidates = df_scan_candidates,
                    .scan_run = df_scan_run,
                    .scan_free = df_scan_free,
                    .text_at = api_text_at,
                    .configure = api_configure,
                    .fixed = api_fixed,
                    .date = api_date,
                    .capture = api_capture,
                    .emit = api_emit,
                    .book = api_book,
                    .sheet = api_sheet,
                    .read_back = api_read_back,
                    .raw = api_raw,
                    .open_history = api_open_history,
                    .models = &df_models};
}

df_status api_failure(const api_ctx *ctx, df_status st, df_error *err)
{
    if (ctx->open_failed) {
        *err = ctx->open_err;
        return err->status;
    }
    if (ctx->nomem) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory keeping the rows of the outputs");
    return st;
}

void api_free_captures(api_ctx *ctx)
{
    for (int f = 0; f < ctx->n; f++) csvw_capture_free(ctx->files[f]);
    ctx->n = 0;
}
