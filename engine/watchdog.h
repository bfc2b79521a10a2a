/* watchdog.h: the time budget of every piece of user code, enforced from outside the Lua states,
 * and the memory budget the states take from it (luastate.c enforces that one in each state's
 * allocator). Each Lua state has a watch (df_watch, scoreapi.h) where it says what it runs: an
 * entity's row and the rule, or (row <= -2) other user code: the rule file's top level, a
 * metrics function, check, a test file. A thread samples the watches; when one unit (an entity,
 * a metrics group, the top level) takes longer than the time budget it prints which file and
 * line, what was running and for which entity, runs the caller's cleanup (removing what the
 * command wrote so far) and ends the process with DF_ERR_RULES: JIT-compiled Lua, or a string
 * pattern inside the C library, cannot be interrupted safely. The memory budget ends the
 * process the same way, from the state's allocator (watchdog_fire). */
#ifndef DF_WATCHDOG_H
#define DF_WATCHDOG_H

#include "error.h"
#include "pool.h"
#include "scoreapi.h"
#include "table.h"

#define WATCHDOG_MAX_WATCHES POOL_MAX_THREADS /* one per Lua state a run may score in */

typedef struct watchdog_opts {
    const char *rules_path;
    double time_limit;     /* seconds one unit of user code may take, 0 = none */
    double memory_limit;   /* MB of Lua memory each state may hold beyond its modules, 0 = none */
    const table *entity;   /* names the entity by its key column; NULL until loaded (watchdog_entity) */
    const char *last_line; /* printed after the error, or NULL */
    void (*cleanup)(void *ctx); /* called from the watchdog's thread just before the end, or NULL */
    void *cleanup_ctx;
} watchdog_opts;

typedef struct watchdog watchdog;

/* Without a time budget no thread is started, but the watches exist all the same. The strings
 * and the entity table in o must outlive the watchdog. */
df_status watchdog_start(watchdog **out, const watchdog_opts *o, df_error *err);
/* Watch k (0 .. WATCHDOG_MAX_WATCHES - 1), one per Lua state; its row is -1 (idle) at the start.
 * NULL for a NULL watchdog. */
df_watch *watchdog_watch(watchdog *wd, int k);
/* The entity table, once loaded (its key names the entity in messages). */
void watchdog_entity(watchdog *wd, const table *entity);
/* The memory budget in MB (0 = none; also for a NULL watchdog). */
double watchdog_memory_limit(const watchdog *wd);
/* Ends the process now for watch k's state (the memory budget, or memory gone: status
 * DF_ERR_RULES or DF_ERR_NOMEM), the way the time budget does: "file:line: what: stopped while
 * scoring key ID: why" (or "out of memory ..."), the cleanup, _exit(status). Safe from the
 * state's own thread, e.g. inside its allocator: LuaJIT cannot always unwind an allocation
 * failure out of JIT-compiled code. */
_Noreturn void watchdog_fire(watchdog *wd, int k, df_status status, const char *why);
/* Stops the thread and frees; NULL is a no-op. */
void watchdog_stop(watchdog *wd);

/* In the cleanup: the status the process ends with, where and what its message says. */
df_status watchdog_fired(const char **where, const char **what);

#endif
