/* luaapi.h: the output adapters. A df_api (scoreapi.h) is the table of C functions the Lua side
 * calls while scoring; these fill it so that the rows it hands over go into the run's CSV
 * writers (outset), or, for a scoring worker, into writers that only capture rows until they
 * are appended to the run's in entity order. */
#ifndef DF_LUAAPI_H
#define DF_LUAAPI_H

#include "output.h"
#include "progress.h"
#include "scoreapi.h"

#define API_MAX_FILES 64

typedef struct api_ctx {
    outset *o; /* NULL: a scoring worker's, whose writers only capture rows */
    df_error *err;
    progress *prog;
    csvw *files[API_MAX_FILES]; /* by the number api->open returned */
    int n;
    int nomem; /* a capture failed for memory: nothing more is written, the run fails */
    int open_failed; /* an output file could not be created: the run fails with open_err (why, */
    df_error open_err; /* which file), not with the Lua error that follows */
} api_ctx;

/* Fills api with the callbacks over ctx; watch is the state's slot in the watchdog, first_failed
 * the parallel parts' shared cell (NULL when scoring in one part). */
void api_init(df_api *api, api_ctx *ctx, df_watch *watch, volatile int *first_failed);
/* Frees the capturing writers of a worker's ctx (the run's own writers belong to its outset). */
void api_free_captures(api_ctx *ctx);

#endif
