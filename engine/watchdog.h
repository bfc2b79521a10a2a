/* watchdog.h: the time and memory budgets of scoring, enforced from outside the Lua states.
 * Each state scoring has a watch (df_watch, scoreapi.h) where the Lua side writes the entity
 * row and rule it is evaluating; a thread samples the watches. When one entity takes longer
 * than the time budget, or the process grows by more than the memory budget after the start,
 * it prints which rule file, rule and entity, runs the caller's cleanup (removing what the
 * command wrote so far) and ends the process with DF_ERR_RULES: JIT-compiled Lua cannot be
 * interrupted safely. */
#ifndef DF_WATCHDOG_H
#define DF_WATCHDOG_H

#include "error.h"
#include "pool.h"
#include "scoreapi.h"
#include "table.h"

#define WATCHDOG_MAX_WATCHES POOL_MAX_THREADS /* one per Lua state a run may score in */

typedef struct watchdog_opts {
    const char *rules_path;
    double time_limit;     /* seconds one entity may take, 0 = none */
    double memory_limit;   /* MB the process may grow by, 0 = none */
    const table *entity;   /* names the entity by its key column */
    const char *last_line; /* printed after the error, or NULL */
    void (*cleanup)(void *ctx); /* called from the watchdog's thread just before the end, or NULL */
    void *cleanup_ctx;
} watchdog_opts;

typedef struct watchdog watchdog;

/* Without a budget no thread is started, but the watches exist all the same. The strings and
 * the entity table in o must outlive the watchdog. */
df_status watchdog_start(watchdog **out, const watchdog_opts *o, df_error *err);
/* Watch k (0 .. WATCHDOG_MAX_WATCHES - 1), one per Lua state; its row is -1 (idle) at the start. */
df_watch *watchdog_watch(watchdog *wd, int k);
/* Stops the thread and frees; NULL is a no-op. */
void watchdog_stop(watchdog *wd);

#endif
