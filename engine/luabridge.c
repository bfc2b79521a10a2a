/* luabridge.c: LuaJIT state, the embedded Lua modules (engine/lua/), and the two calls
 * into it: declare (rule file -> tables to load) and run (columns -> outputs). Columns are
 * handed over as light userdata pointers that the prelude wraps with ffi.cast: no copy.
 * Every call into Lua is protected; an error object {where, message} is the user's error,
 * anything else is reported as an internal error with a traceback. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "luabridge.h"
#include "luamods.h"
#include "scan.h"
#include "scoreapi.h"

struct lbridge {
    lua_State *L;
    int module_ref;
};

typedef struct api_ctx {
    outset *o; /* NULL: a scoring worker's, whose writers only capture rows */
    df_error *err;
    progress *prog;
    csvw *files[64];
    int n;
    int nomem;
} api_ctx;

static int api_open(void *ctx, const char *name)
{
    api_ctx *a = ctx;
    if (a->n == 64) return -1;
    csvw *w = a->o ? outset_open(a->o, name, a->err) : csvw_capture_new();
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

static void api_scans(df_api *a)
{
    a->scan_new = df_scan_new, a->scan_candidates = df_scan_candidates, a->scan_run = df_scan_run, a->scan_free = df_scan_free;
}

/* The watchdog: a thread that samples which customer is being scored. When one customer takes
 * longer than the time budget, or scoring grows the process by more than the memory budget, it
 * says which rule file, rule and customer, removes the run's temporary outputs and ends the
 * process: JIT-compiled Lua cannot be interrupted safely, and the previous outputs were never
 * touched. */
#define MAX_WORKERS 16

typedef struct watchdog {
    df_watch w[MAX_WORKERS]; /* one per Lua state scoring */
    int nw;
    const lb_limits *lim;
    const table *entity;
    const outset *o;
    double rss0;
    int stop, running;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} watchdog;

static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return (double)res * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static void watchdog_fire(watchdog *wd, double row, const char *what, const char *fmt, double limit)
{
    char id[128] = "?";
    const table *t = wd->entity;
    if (row >= 0 && row < (double)t->nrows && t->key_col >= 0) {
        size_t n;
        const char *s = column_text(&t->cols[t->key_col], (uint64_t)row, &n);
        snprintf(id, sizeof id, "%.*s", (int)(n < 100 ? n : 100), s);
    }
    char why[256];
    snprintf(why, sizeof why, fmt, limit);
    fprintf(stderr, "defector: error: %s%s%s: stopped while scoring customer %s: %s\n", wd->lim->rules_path,
            what ? ": " : "", what ? what : "", id, why);
    fprintf(stderr, "defector: rule error; the outputs were left as they were\n");
    outset_unlink_temps(wd->o);
    _exit(DF_ERR_RULES);
}

static void *watchdog_main(void *arg)
{
    watchdog *wd = arg;
    double last_row[MAX_WORKERS], since[MAX_WORKERS];
    for (int k = 0; k < MAX_WORKERS; k++) last_row[k] = -2, since[k] = now_seconds();
    pthread_mutex_lock(&wd->mu);
    while (!wd->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&wd->cv, &wd->mu, &ts);
        if (wd->stop) break;
        double rss = wd->lim->memory_limit > 0 ? rss_mb() : 0;
        for (int k = 0; k < wd->nw; k++) {
            /* a sampling read of what LuaJIT stores (plain aligned 8-byte stores, atomic on the
             * platforms LuaJIT runs on): ThreadSanitizer reports it, by design */
            double row = wd->w[k].row, t = now_seconds();
            const char *what = (const char *)wd->w[k].what;
            if (row != last_row[k]) last_row[k] = row, since[k] = t;
            else if (row >= 0 && wd->lim->time_limit > 0 && t - since[k] > wd->lim->time_limit)
                watchdog_fire(wd, row, what, "one customer took more than %g s (--rule-time-limit); does a rule loop forever?",
                              wd->lim->time_limit);
            if (row >= 0 && wd->lim->memory_limit > 0 && rss - wd->rss0 > wd->lim->memory_limit)
                watchdog_fire(wd, row, what, "scoring used more than %g MB (--rule-memory-limit); does a rule build up data without end?",
                              wd->lim->memory_limit);
        }
    }
    pthread_mutex_unlock(&wd->mu);
    return NULL;
}

static int watchdog_start(watchdog *wd, const lb_limits *lim, const table *entity, const outset *o, int nw)
{
    memset(wd, 0, sizeof *wd);
    wd->nw = nw;
    for (int k = 0; k < MAX_WORKERS; k++) wd->w[k].row = -1;
    wd->lim = lim, wd->entity = entity, wd->o = o;
    if (!lim || (lim->time_limit <= 0 && lim->memory_limit <= 0)) return 0;
    wd->rss0 = rss_mb();
    pthread_mutex_init(&wd->mu, NULL);
    pthread_cond_init(&wd->cv, NULL);
    if (pthread_create(&wd->th, NULL, watchdog_main, wd) != 0) return -1;
    wd->running = 1;
    return 0;
}

static void watchdog_stop(watchdog *wd)
{
    if (!wd->running) return;
    pthread_mutex_lock(&wd->mu);
    wd->stop = 1;
    pthread_cond_signal(&wd->cv);
    pthread_mutex_unlock(&wd->mu);
    pthread_join(wd->th, NULL);
    pthread_mutex_destroy(&wd->mu);
    pthread_cond_destroy(&wd->cv);
}

static int traceback(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TTABLE) return 1; /* a user error: keep the object */
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

/* Converts the error on top of the stack into err. */
static df_status lua_failure(lbridge *b, df_error *err)
{
    lua_State *L = b->L;
    if (lua_type(L, -1) == LUA_TTABLE) {
        lua_getfield(L, -1, "where");
        lua_getfield(L, -2, "message");
        const char *where = lua_tostring(L, -2), *msg = lua_tostring(L, -1);
        df_status st = DF_FAIL(err, DF_ERR_RULES, where ? where : "", "%s", msg ? msg : "error in the rule file");
        lua_pop(L, 3);
        return st;
    }
    const char *msg = lua_tostring(L, -1);
    df_status st = DF_FAIL(err, DF_ERR_INTERNAL, "", "internal error in the Lua driver: %s", msg ? msg : "(no message)");
    lua_pop(L, 1);
    return st;
}

static df_status pcall_module(lbridge *b, const char *fn, int nargs, int nres, df_error *err)
{
    lua_State *L = b->L;
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback);
    lua_rawgeti(L, LUA_REGISTRYINDEX, b->module_ref);
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    lua_insert(L, base + 1); /* function below the arguments */
    lua_insert(L, base + 1); /* handler below the function */
    int rc = lua_pcall(L, nargs, nres, base + 1);
    lua_remove(L, base + 1); /* the handler */
    if (rc == LUA_ERRMEM) {
        lua_pop(L, 1);
        return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory in the Lua rules");
    }
    if (rc != 0) return lua_failure(b, err);
    return DF_OK;
}

/* Registers every embedded module in package.preload, then pushes require and the name of the
 * entry module (the caller calls it). Returns -1 with a message on the stack on failure. */
static int preload_modules(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    for (const df_lua_module *m = df_lua_modules; m->name; m++) {
        if (luaL_loadbuffer(L, m->text, m->len, m->chunkname) != 0) return -1;
        lua_setfield(L, -2, m->name);
    }
    lua_pop(L, 2);
    lua_getglobal(L, "require");
    lua_pushstring(L, "defector.prelude");
    return 0;
}

df_status lb_new(lbridge **out, df_error *err)
{
    *out = NULL;
    lbridge *b = calloc(1, sizeof *b);
    if (!b) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    b->L = luaL_newstate();
    if (!b->L) {
        free(b);
        return DF_FAIL(err, DF_ERR_NOMEM, "", "cannot create a Lua state (LuaJIT needs its memory below 2 GB on some systems)");
    }
    luaL_openlibs(b->L);
    if (preload_modules(b->L) != 0 || lua_pcall(b->L, 1, 1, 0) != 0) {
        df_status st = DF_FAIL(err, DF_ERR_INTERNAL, "", "the engine's Lua modules failed to load: %s", lua_tostring(b->L, -1));
        lb_free(b);
        return st;
    }
    b->module_ref = luaL_ref(b->L, LUA_REGISTRYINDEX);
    *out = b;
    return DF_OK;
}

void lb_free(lbridge *b)
{
    if (!b) return;
    if (b->L) lua_close(b->L);
    free(b);
}

static char *field_str(lua_State *L, int idx, const char *key)
{
    lua_getfield(L, idx, key);
    char *s = lua_isstring(L, -1) ? strdup(lua_tostring(L, -1)) : NULL;
    lua_pop(L, 1);
    return s;
}

static df_status table_from_plan(lua_State *L, int idx, table *t, const char *rules_path, df_error *err)
{
    memset(t, 0, sizeof *t);
    t->name = field_str(L, idx, "name");
    t->file = field_str(L, idx, "file");
    t->key = field_str(L, idx, "key");
    t->date_col = field_str(L, idx, "date");
    char *kind = field_str(L, idx, "kind");
    t->is_history = kind && strcmp(kind, "history") == 0;
    free(kind);
    t->key_col = t->date_idx = -1;
    lua_getfield(L, idx, "columns");
    int n = (int)lua_objlen(L, -1);
    if (n > DF_MAX_COLUMNS) {
        lua_pop(L, 1);
        return DF_FAIL(err, DF_ERR_RULES, rules_path, "table %s declares %d columns; at most %d are supported", t->name, n, DF_MAX_COLUMNS);
    }
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        lua_getfield(L, -1, "name");
        lua_getfield(L, -2, "type");
        col_type ty;
        col_type_from_name(lua_tostring(L, -1), &ty);
        column *col = &t->cols[t->ncols++];
        if (column_init(col, lua_tostring(L, -2), ty) != 0) {
            lua_pop(L, 4);
            return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
        }
        lua_getfield(L, -3, "required");
        col->required = lua_toboolean(L, -1);
        lua_pop(L, 4);
    }
    lua_pop(L, 1);
    return DF_OK;
}

/* The arguments of M.declare and M.check: source, chunk name, as-of (days and text). */
static void push_rule_args(lua_State *L, const char *rules_path, const char *source, size_t len, int32_t as_of)
{
    char as_of_text[16];
    df_format_date(as_of, as_of_text);
    lua_pushlstring(L, source, len);
    lua_pushstring(L, rules_path);
    lua_pushnumber(L, as_of);
    lua_pushstring(L, as_of_text);
}

df_status lb_declare(lbridge *b, const char *rules_path, const char *source, size_t len, int32_t as_of,
                     table *tables, int *ntables, df_error *err)
{
    lua_State *L = b->L;
    push_rule_args(L, rules_path, source, len, as_of);
    df_status st = pcall_module(b, "declare", 4, 1, err);
    if (st != DF_OK) return st;
    lua_getfield(L, -1, "tables");
    int n = (int)lua_objlen(L, -1);
    if (n > DF_MAX_TABLES) {
        lua_pop(L, 2);
        return DF_FAIL(err, DF_ERR_RULES, rules_path, "at most %d input tables are supported", DF_MAX_TABLES);
    }
    *ntables = 0;
    for (int pass = 0; pass < 2; pass++) { /* the entity first, then histories in file order */
        for (int i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            lua_getfield(L, -1, "kind");
            int is_entity = strcmp(lua_tostring(L, -1), "entity") == 0;
            lua_pop(L, 1);
            if (is_entity == (pass == 0)) {
                st = table_from_plan(L, lua_gettop(L), &tables[*ntables], rules_path, err);
                (*ntables)++;
            }
            lua_pop(L, 1);
            if (st != DF_OK) break;
        }
    }
    lua_pop(L, 2);
    return st;
}

static void push_lud(lua_State *L, const char *key, const void *p)
{
    lua_pushlightuserdata(L, (void *)p);
    lua_setfield(L, -2, key);
}

static void push_column(lua_State *L, const column *c)
{
    lua_newtable(L);
    lua_pushstring(L, col_type_name(c->type));
    lua_setfield(L, -2, "type");
    switch (c->type) {
    case COL_INT:
    case COL_DECIMAL: push_lud(L, "ptr", c->i64); break;
    case COL_DATE: push_lud(L, "ptr", c->date); break;
    case COL_CATEGORY:
        push_lud(L, "ptr", c->codes);
        lua_createtable(L, (int)c->dict.n, 1);
        for (uint32_t i = 0; i < c->dict.n; i++) {
            size_t n;
            const char *s = strmap_str(&c->dict, i, &n);
            lua_pushlstring(L, s, n);
            lua_rawseti(L, -2, (int)i);
        }
        lua_setfield(L, -2, "dict");
        break;
    case COL_TEXT:
        push_lud(L, "offs", c->offs);
        push_lud(L, "arena", c->arena ? c->arena : "");
        break;
    }
}

static void push_data(lua_State *L, table *tables, int ntables, int32_t as_of)
{
    lua_newtable(L);
    lua_pushnumber(L, as_of);
    lua_setfield(L, -2, "as_of");
    lua_newtable(L);
    for (int i = 0; i < ntables; i++) {
        table *t = &tables[i];
        lua_newtable(L);
        lua_pushnumber(L, (lua_Number)t->nrows);
        lua_setfield(L, -2, "n");
        if (t->offsets) push_lud(L, "offsets", t->offsets);
        lua_newtable(L);
        for (int c = 0; c < t->ncols; c++) {
            push_column(L, &t->cols[c]);
            lua_setfield(L, -2, t->cols[c].name);
        }
        lua_setfield(L, -2, "cols");
        lua_setfield(L, -2, t->name);
    }
    lua_setfield(L, -2, "tables");
}

/* Copies the value at idx of `from` (nil, boolean, number, string, or a table of these) onto
 * the stack of `to`: how a worker's part reaches the main state. */
static int copy_value(lua_State *from, int idx, lua_State *to, int depth)
{
    if (idx < 0) idx = lua_gettop(from) + idx + 1;
    switch (lua_type(from, idx)) {
    case LUA_TNIL: lua_pushnil(to); return 0;
    case LUA_TBOOLEAN: lua_pushboolean(to, lua_toboolean(from, idx)); return 0;
    case LUA_TNUMBER: lua_pushnumber(to, lua_tonumber(from, idx)); return 0;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(from, idx, &n);
        lua_pushlstring(to, s, n);
        return 0;
    }
    case LUA_TTABLE:
        if (depth > 16) return -1;
        lua_newtable(to);
        lua_pushnil(from);
        while (lua_next(from, idx)) {
            if (copy_value(from, -2, to, depth + 1) != 0 || copy_value(from, -1, to, depth + 1) != 0) {
                lua_pop(from, 2);
                return -1;
            }
            lua_rawset(to, -3);
            lua_pop(from, 1);
        }
        return 0;
    default: return -1;
    }
}

/* Scoring in parallel: the customers are cut into contiguous parts, one per Lua state. The
 * main state scores the first part; each worker builds its own state from the same rule file,
 * scores its part into writers that only capture rows, and returns its counts and metric
 * groups. Then, in customer order, the captured rows are appended to the run's writers and the
 * parts merged (M.finish): the outputs are the bytes one state would write. */
#define MIN_PER_WORKER 500

typedef struct worker {
    lbridge *b;
    pthread_t th;
    int started;
    api_ctx ctx;
    df_api api;
    df_error err;
    df_status st;
    const char *rules_path, *source;
    size_t len;
    int32_t as_of;
    table *tables;
    int ntables, skip, index; /* index: the worker's part, 1.. (the main state's is 0) */
    uint64_t lo, hi;
    volatile int *first_failed;
} worker;

/* Records that part k failed: the lowest failing part stops the parts after it. */
static void part_failed(volatile int *first_failed, int k)
{
    int cur = __atomic_load_n(first_failed, __ATOMIC_SEQ_CST);
    while (k < cur && !__atomic_compare_exchange_n(first_failed, &cur, k, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
}

/* Pushes M.run's options for scoring customers lo .. hi - 1 as part `index` (mode: NULL for
 * all customers in one state, "defer" for the main state's part, "part" for a worker's). */
static void push_run_opts(lua_State *L, int skip, uint64_t lo, uint64_t hi, const char *mode, int index)
{
    lua_newtable(L);
    lua_pushboolean(L, skip);
    lua_setfield(L, -2, "skip_rule_errors");
    if (!mode) return;
    lua_pushnumber(L, (double)lo);
    lua_setfield(L, -2, "lo");
    lua_pushnumber(L, (double)hi);
    lua_setfield(L, -2, "hi");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, mode);
    lua_pushnumber(L, index);
    lua_setfield(L, -2, "part_index");
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    table scratch[DF_MAX_TABLES];
    int nt = 0;
    w->st = lb_new(&w->b, &w->err);
    if (w->st == DF_OK) w->st = lb_declare(w->b, w->rules_path, w->source, w->len, w->as_of, scratch, &nt, &w->err);
    for (int i = 0; i < nt; i++) table_free(&scratch[i]);
    if (w->st != DF_OK) return NULL;
    lua_State *L = w->b->L;
    push_data(L, w->tables, w->ntables, w->as_of);
    lua_pushlightuserdata(L, &w->api);
    push_run_opts(L, w->skip, w->lo, w->hi, "part", w->index);
    w->st = pcall_module(w->b, "run", 3, 1, &w->err);
    if (w->st == DF_OK && w->ctx.nomem) w->st = DF_FAIL(&w->err, DF_ERR_NOMEM, "", "out of memory keeping the rows of a scoring thread");
    if (w->st != DF_OK) part_failed(w->first_failed, w->index);
    return NULL;
}

static void workers_free(worker *ws, int n)
{
    for (int k = 0; k < n; k++) {
        if (ws[k].started) pthread_join(ws[k].th, NULL);
        for (int f = 0; f < ws[k].ctx.n; f++) csvw_capture_free(ws[k].ctx.files[f]);
        lb_free(ws[k].b);
    }
    free(ws);
}

df_status lb_run(lbridge *b, table *tables, int ntables, int32_t as_of, outset *o, progress *prog,
                 const lb_limits *lim, score_stats *st, df_error *err)
{
    lua_State *L = b->L;
    uint64_t n = tables[0].nrows;
    int parts = lim && lim->threads > 1 && lim->source ? lim->threads : 1;
    if (parts > MAX_WORKERS) parts = MAX_WORKERS;
    if ((uint64_t)parts > n / MIN_PER_WORKER) parts = n / MIN_PER_WORKER > 1 ? (int)(n / MIN_PER_WORKER) : 1;
    api_ctx ctx = {.o = o, .err = err, .prog = prog};
    watchdog wd;
    if (watchdog_start(&wd, lim, &tables[0], o, parts) != 0) return DF_FAIL(err, DF_ERR_INTERNAL, "", "cannot start the watchdog thread");
    volatile int first_failed = parts;
    df_api api = {&ctx, api_open, api_text, api_plain, api_number, api_empty, api_end_row, now_seconds, api_progress,
                  api_row_begin, api_row_split, api_row_end, api_write_rows, &wd.w[0], &first_failed, NULL, NULL, NULL, NULL};
    api_scans(&api);
    progress_phase_items(prog, "scoring", "customers", n);
    worker *ws = parts > 1 ? calloc((size_t)parts - 1, sizeof *ws) : NULL;
    if (parts > 1 && !ws) parts = 1;
    for (int k = 0; k + 1 < parts; k++) {
        worker *w = &ws[k];
        w->ctx.err = &w->err;
        w->api = api;
        w->api.ctx = &w->ctx;
        w->api.watch = &wd.w[k + 1];
        w->rules_path = lim->rules_path, w->source = lim->source, w->len = lim->source_len, w->as_of = as_of;
        w->tables = tables, w->ntables = ntables, w->skip = lim->skip_rule_errors;
        w->index = k + 1, w->first_failed = &first_failed;
        w->lo = n * (uint64_t)(k + 1) / (uint64_t)parts, w->hi = n * (uint64_t)(k + 2) / (uint64_t)parts;
        w->started = pthread_create(&w->th, NULL, worker_main, w) == 0;
        if (!w->started) w->st = DF_FAIL(&w->err, DF_ERR_INTERNAL, "", "cannot start a scoring thread");
    }
    push_data(L, tables, ntables, as_of);
    lua_pushlightuserdata(L, &api);
    push_run_opts(L, lim && lim->skip_rule_errors, 0, n / (uint64_t)parts, parts > 1 ? "defer" : NULL, 0);
    df_status s = pcall_module(b, "run", 3, 1, err);
    if (s == DF_OK && ctx.nomem) {
        lua_pop(L, 1);
        s = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory keeping the rows of the outputs");
    }
    if (s != DF_OK) part_failed(&first_failed, 0);
    for (int k = 0; k + 1 < parts; k++) {
        if (ws[k].started) pthread_join(ws[k].th, NULL);
        ws[k].started = 0;
    }
    watchdog_stop(&wd);
    /* the first failure in customer order is the one a single state would have reported */
    for (int k = 0; s == DF_OK && k + 1 < parts; k++)
        if (ws[k].st != DF_OK) {
            *err = ws[k].err;
            s = ws[k].st;
            lua_pop(L, 1); /* run's nil */
        }
    if (s == DF_OK && parts > 1) {
        lua_pop(L, 1); /* run's nil */
        int top = lua_gettop(L);
        lua_newtable(L);
        for (int k = 0; k + 1 < parts && s == DF_OK; k++) {
            worker *w = &ws[k];
            for (int f = 0; f < w->ctx.n && s == DF_OK; f++)
                if (f >= ctx.n || csvw_append_rows(ctx.files[f], w->ctx.files[f]) != 0)
                    s = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory while merging the scoring threads' rows");
            if (s == DF_OK && copy_value(w->b->L, -1, L, 0) != 0)
                s = DF_FAIL(err, DF_ERR_INTERNAL, "", "internal error: a scoring thread's part cannot be merged");
            if (s == DF_OK) lua_rawseti(L, -2, k + 1);
        }
        workers_free(ws, parts - 1);
        ws = NULL;
        if (s == DF_OK) s = pcall_module(b, "finish", 1, 1, err);
        else lua_settop(L, top);
    }
    if (ws) workers_free(ws, parts - 1);
    progress_end(prog);
    if (s != DF_OK) return s;
    st->states = parts;
    lua_getfield(L, -1, "customers");
    st->customers = (uint64_t)lua_tonumber(L, -1);
    lua_getfield(L, -2, "score_seconds");
    st->score_seconds = lua_tonumber(L, -1);
    lua_getfield(L, -3, "write_seconds");
    st->write_seconds = lua_tonumber(L, -1);
    lua_pop(L, 3);
    lua_getfield(L, -1, "overrides");
    st->has_overrides = lua_istable(L, -1);
    if (st->has_overrides) {
        lua_getfield(L, -1, "file");
        snprintf(st->overrides_file, sizeof st->overrides_file, "%s", lua_tostring(L, -1));
        lua_getfield(L, -2, "expired_list");
        snprintf(st->overrides_expired_list, sizeof st->overrides_expired_list, "%s", lua_tostring(L, -1));
        lua_getfield(L, -3, "applied");
        lua_getfield(L, -4, "active");
        lua_getfield(L, -5, "expired");
        st->overrides_applied = (uint64_t)lua_tonumber(L, -3);
        st->overrides_active = (uint64_t)lua_tonumber(L, -2);
        st->overrides_expired = (uint64_t)lua_tonumber(L, -1);
        lua_pop(L, 5);
    }
    lua_pop(L, 1);
    lua_getfield(L, -1, "rules");
    int nr = (int)lua_objlen(L, -1);
    st->nrules = nr > DF_MAX_RULES ? DF_MAX_RULES : nr;
    for (int i = 0; i < st->nrules; i++) {
        lua_rawgeti(L, -1, i + 1);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        lua_rawgeti(L, -3, 3);
        snprintf(st->rule_code[i], sizeof st->rule_code[i], "%s", lua_tostring(L, -3));
        st->rule_fired[i] = (uint64_t)lua_tonumber(L, -2);
        st->rule_errors[i] = (uint64_t)lua_tonumber(L, -1);
        lua_pop(L, 4);
    }
    lua_pop(L, 2);
    return DF_OK;
}

/* Calls M.run for entity row 0 alone (the loader kept one customer), with opts {explain = 1,
 * json, result}; leaves run's return value on the stack. */
static df_status run_single(lbridge *b, table *tables, int ntables, int32_t as_of, int json, int result, df_error *err)
{
    lua_State *L = b->L;
    api_ctx ctx = {.err = err}; /* no output files are opened in this mode */
    df_watch w = {-1, NULL};
    df_api api = {&ctx, api_open, api_text, api_plain, api_number, api_empty, api_end_row, now_seconds, api_progress,
                  api_row_begin, api_row_split, api_row_end, api_write_rows, &w, NULL, NULL, NULL, NULL, NULL};
    api_scans(&api);
    push_data(L, tables, ntables, as_of);
    lua_pushlightuserdata(L, &api);
    lua_newtable(L);
    lua_pushnumber(L, 1);
    lua_setfield(L, -2, "explain");
    lua_pushboolean(L, json);
    lua_setfield(L, -2, "json");
    lua_pushboolean(L, result);
    lua_setfield(L, -2, "result");
    return pcall_module(b, "run", 3, 1, err);
}

df_status lb_explain(lbridge *b, table *tables, int ntables, int32_t as_of, int json, char **text, df_error *err)
{
    lua_State *L = b->L;
    *text = NULL;
    df_status s = run_single(b, tables, ntables, as_of, json, 0, err);
    if (s != DF_OK) return s;
    lua_getfield(L, -1, "explain");
    const char *t = lua_tostring(L, -1);
    *text = t ? strdup(t) : NULL;
    lua_pop(L, 2);
    return *text ? DF_OK : DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
}

/* ---- defector test: cases from a test file, each run through the real loader ---- */

df_status lb_load_cases(lbridge *b, const char *path, const char *src, size_t len, int *ncases, df_error *err)
{
    lua_State *L = b->L;
    lua_pushlstring(L, src, len);
    lua_pushstring(L, path);
    df_status st = pcall_module(b, "load_cases", 2, 1, err);
    if (st != DF_OK) return st;
    *ncases = (int)lua_objlen(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "defector.cases");
    return DF_OK;
}

void lb_case_info(lbridge *b, int i, char *name, size_t ncap, char *as_of, size_t acap)
{
    lua_State *L = b->L;
    lua_getfield(L, LUA_REGISTRYINDEX, "defector.cases");
    lua_rawgeti(L, -1, i);
    lua_getfield(L, -1, "name");
    snprintf(name, ncap, "%s", lua_tostring(L, -1));
    lua_getfield(L, -2, "as_of");
    snprintf(as_of, acap, "%s", lua_tostring(L, -1));
    lua_pop(L, 4);
}

df_status lb_case_files(lbridge *b, int i, const char *dir, char *id, size_t idcap, df_error *err)
{
    lua_State *L = b->L;
    lua_pushnumber(L, i);
    df_status st = pcall_module(b, "case_files", 1, 2, err);
    if (st != DF_OK) return st;
    snprintf(id, idcap, "%s", lua_tostring(L, -1));
    int n = (int)lua_objlen(L, -2);
    for (int k = 1; k <= n && st == DF_OK; k++) {
        lua_rawgeti(L, -2, k);
        lua_getfield(L, -1, "file");
        lua_getfield(L, -2, "text");
        size_t tl;
        const char *text = lua_tolstring(L, -1, &tl);
        char *path = path_join(dir, lua_tostring(L, -2));
        FILE *f = path ? fopen(path, "wb") : NULL;
        if (!f || fwrite(text, 1, tl, f) != tl) st = DF_FAIL(err, DF_ERR_OUTPUT, path ? path : dir, "cannot write a test input file");
        if (f) fclose(f);
        free(path);
        lua_pop(L, 3);
    }
    lua_pop(L, 2);
    return st;
}

df_status lb_case_check(lbridge *b, table *tables, int ntables, int32_t as_of, int i, int *pass, char *msg,
                        size_t mcap, df_error *err)
{
    lua_State *L = b->L;
    df_status st = run_single(b, tables, ntables, as_of, 0, 1, err);
    if (st != DF_OK) return st;
    lua_getfield(L, -1, "result");
    lua_remove(L, -2);
    lua_pushnumber(L, i);
    lua_insert(L, -2);
    st = pcall_module(b, "case_check", 2, 2, err);
    if (st != DF_OK) return st;
    *pass = lua_toboolean(L, -2);
    snprintf(msg, mcap, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    lua_pop(L, 2);
    return DF_OK;
}

df_status lb_check(lbridge *b, const char *rules_path, const char *src, size_t len, int32_t as_of,
                   const lb_header *headers, int nheaders, int have_data, char **text, int *errors, int *warnings,
                   df_error *err)
{
    lua_State *L = b->L;
    push_rule_args(L, rules_path, src, len, as_of);
    if (have_data) {
        lua_newtable(L);
        for (int i = 0; i < nheaders; i++) {
            lua_createtable(L, headers[i].n, 0);
            for (int k = 0; k < headers[i].n; k++) {
                lua_pushstring(L, headers[i].names[k]);
                lua_rawseti(L, -2, k + 1);
            }
            lua_setfield(L, -2, headers[i].file);
        }
    } else {
        lua_pushnil(L);
    }
    df_status st = pcall_module(b, "check", 5, 3, err);
    if (st != DF_OK) return st;
    *text = strdup(lua_tostring(L, -3));
    *errors = (int)lua_tonumber(L, -2);
    *warnings = (int)lua_tonumber(L, -1);
    lua_pop(L, 3);
    return *text ? DF_OK : DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
}
