/* luaapi.h: the output adapters. A df_api (scoreapi.h) is the table of C functions the Lua side
 * calls while scoring; these fill it so that the rows it hands over go into the run's CSV
 * writers (outset), or, for a scoring worker, into writers that only capture rows until they
 * are appended to the run's in entity order. */
#ifndef DF_LUAAPI_H
#define DF_LUAAPI_H

#include "output.h"
#include "progress.h"
#include "scoreapi.h"
#include "workbook.h"

#define API_MAX_FILES 1100 /* outputs split per value (sheets.lua) stop at 1000 files */

typedef struct api_ctx {
    outset *o; /* NULL: a scoring worker's, whose writers only capture rows */
    outset *ho; /* the night's history folder (--history), NULL without one */
    int ho_plain; /* its snapshot uncompressed (one of backtest and diff, kept in memory and parsed at once) */
    df_error *err;
    progress *prog;
    csvw *files[API_MAX_FILES]; /* by the number api->open (or api->capture) returned */
    unsigned char owned[API_MAX_FILES]; /* the run's writers that only keep rows (api->capture) */
    books *books; /* the run's workbooks (NULL for a worker) */
    int n;
    int nomem; /* a capture failed for memory: nothing more is written, the run fails */
    int open_failed; /* an output file could not be created: the run fails with open_err (why, */
    df_error open_err; /* which file), not with the Lua error that follows */
    char *read_back; /* the last output read back (api->read_back), freed by api_free_owned */
} api_ctx;

/* Fills api with the callbacks over ctx; watch is the state's slot in the watchdog, first_failed
 * the parallel parts' shared cell (NULL when scoring in one part). */
void api_init(df_api *api, api_ctx *ctx, df_watch *watch, volatile int *first_failed);
/* The status of a scoring call that ended with st: an output that could not be opened or a
 * capture that failed for memory is the cause (into err), whatever the Lua side made of it. */
df_status api_failure(const api_ctx *ctx, df_status st, df_error *err);
/* Frees the capturing writers of a worker's ctx (the run's own writers belong to its outset). */
void api_free_captures(api_ctx *ctx);
/* Frees the run's writers that only kept rows (api->capture) once the outputs are written, and
 * the last output read back. */
void api_free_owned(api_ctx *ctx);

#endif
