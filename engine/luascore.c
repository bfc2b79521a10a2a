/* luascore.c: scoring in parallel. The entities are cut into contiguous parts, one per Lua
 * state. The main state scores the first part; each worker builds its own state from the same
 * rule file, scores its part into writers that only capture rows, and returns its counts and
 * metric groups. Then, in entity order, the captured rows are appended to the run's writers
 * and the parts merged (M.finish): the outputs are the bytes one state would write. The lowest
 * part that fails stops the parts after it, and its error is the one reported: the error one
 * state would have met first. */
#include <assert.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "luaapi.h"
#include "luascore.h"
#include "pool.h"
#include "shards.h"

#define MIN_PER_WORKER 500

typedef struct worker {
    lbridge *b;
    api_ctx ctx;
    df_api api;
    df_error err;
    df_status st;
    const char *rules_path, *source;
    size_t len;
    int32_t as_of;
    table *tables;
    const score_opts *so;
    int ntables, index; /* index: the worker's part, 1.. (the main state's is 0) */
    uint64_t lo, hi;
    volatile int *first_failed;
    watchdog *wd; /* the run's budgets: this part's state has watch `index` */
} worker;

/* Records that part k failed: the lowest failing part stops the parts after it. */
static void part_failed(volatile int *first_failed, int k)
{
    int cur = __atomic_load_n(first_failed, __ATOMIC_SEQ_CST);
    while (k < cur && !__atomic_compare_exchange_n(first_failed, &cur, k, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
}

/* Pushes M.run's options for scoring entities lo .. hi - 1 as part `index` (mode: NULL for
 * all entities in one state, "defer" for the main state's part, "part" for a worker's). */
static void push_run_opts(lua_State *L, const score_opts *so, uint64_t lo, uint64_t hi, const char *mode, int index)
{
    lua_newtable(L);
    lua_pushboolean(L, so->skip_rule_errors);
    lua_setfield(L, -2, "skip_rule_errors");
    lua_pushboolean(L, so->history != NULL || (so->shard && so->shard->history));
    lua_setfield(L, -2, "history");
    if (so->shard) { /* run --shard: its entities' rows in the whole table (shards.lua) */
        lua_pushlightuserdata(L, so->shard->perm);
        lua_setfield(L, -2, "shard_perm");
    }
    lua_pushboolean(L, so->snapshot_only);
    lua_setfield(L, -2, "snapshot_only");
    lua_pushboolean(L, so->bound_dates);
    lua_setfield(L, -2, "bound_dates");
    lua_pushboolean(L, so->outcome_only);
    lua_setfield(L, -2, "outcome_only");
    lua_pushboolean(L, so->report_later);
    lua_setfield(L, -2, "report_later");
    if (so->history_dir) {
        lua_pushstring(L, so->history_dir);
        lua_setfield(L, -2, "history_dir");
    }
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

/* Worker k (part k + 1), one of the pool's tasks: its own state from the rule file (the tables
 * it declares are not loaded again: it scores over the run's), then M.run over its part; its
 * result stays on its stack. */
static void score_part(void *arg, int k)
{
    worker *w = &((worker *)arg)[k];
    table scratch[DF_MAX_TABLES];
    int nt = 0;
    w->st = lb_new(&w->b, &w->err);
    if (w->st == DF_OK) lb_budget(w->b, w->wd, w->index);
    if (w->st == DF_OK) w->st = lb_declare(w->b, w->rules_path, w->source, w->len, w->as_of, scratch, &nt, &w->err);
    for (int i = 0; i < nt; i++) table_free(&scratch[i]);
    if (w->st != DF_OK) return;
    lua_State *L = lb_lua(w->b);
    lb_push_data(L, w->tables, w->ntables, w->as_of);
    lua_pushlightuserdata(L, &w->api);
    push_run_opts(L, w->so, w->lo, w->hi, "part", w->index);
    w->st = lb_pcall(w->b, "run", 3, 1, &w->err);
    if (w->st == DF_OK && (w->ctx.nomem || w->ctx.open_failed)) lua_pop(L, 1);
    w->st = api_failure(&w->ctx, w->st, &w->err);
    if (w->st != DF_OK) part_failed(w->first_failed, w->index);
}

static void workers_free(worker *ws, int n)
{
    for (int k = 0; k < n; k++) {
        api_free_captures(&ws[k].ctx);
        lb_free(ws[k].b);
    }
    free(ws);
}

/* How many parts: one per thread, each of at least MIN_PER_WORKER entities. */
static int parts_for(uint64_t n, const score_opts *so)
{
    int parts = so->threads > 1 && so->source ? so->threads : 1;
    if (parts > POOL_MAX_THREADS) parts = POOL_MAX_THREADS;
    if ((uint64_t)parts > n / MIN_PER_WORKER) parts = n / MIN_PER_WORKER > 1 ? (int)(n / MIN_PER_WORKER) : 1;
    return parts;
}

/* Prepares the workers for parts 1 .. parts - 1 of n entities. */
static void workers_init(worker *ws, int parts, uint64_t n, const df_api *api, table *tables, int ntables,
                         int32_t as_of, const score_opts *so)
{
    for (int k = 0; k + 1 < parts; k++) {
        worker *w = &ws[k];
        w->ctx.err = &w->err;
        w->api = *api;
        w->api.ctx = &w->ctx;
        w->api.watch = watchdog_watch(so->wd, k + 1);
        w->rules_path = so->rules_path, w->source = so->source, w->len = so->source_len, w->as_of = as_of;
        w->tables = tables, w->ntables = ntables, w->so = so;
        w->index = k + 1, w->first_failed = api->first_failed, w->wd = so->wd;
        w->lo = n * (uint64_t)(k + 1) / (uint64_t)parts, w->hi = n * (uint64_t)(k + 2) / (uint64_t)parts;
    }
}

/* With the main part's nil on the stack: appends each worker's captured rows to the run's
 * writers and replaces the nil with the list of the workers' results, for M.finish. */
static df_status merge_parts(lbridge *b, api_ctx *ctx, worker *ws, int nw, df_error *err)
{
    lua_State *L = lb_lua(b);
    df_status s = DF_OK;
    lua_pop(L, 1); /* run's nil */
    int top = lua_gettop(L);
    lua_newtable(L);
    for (int k = 0; k < nw && s == DF_OK; k++) {
        worker *w = &ws[k];
        for (int f = 0; f < w->ctx.n && s == DF_OK; f++)
            if (f >= ctx->n || csvw_append_rows(ctx->files[f], w->ctx.files[f]) != 0)
                s = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory while merging the scoring threads' rows");
        if (s == DF_OK && lb_copy_value(lb_lua(w->b), -1, L) != 0)
            s = DF_FAIL(err, DF_ERR_INTERNAL, "", "internal error: a scoring thread's part cannot be merged");
        if (s == DF_OK) lua_rawseti(L, -2, k + 1);
    }
    if (s != DF_OK) lua_settop(L, top);
    return s;
}

static void read_overrides(lua_State *L, score_stats *st)
{
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
}

static void read_rules(lua_State *L, score_stats *st)
{
    lua_getfield(L, -1, "rules");
    assert(lua_istable(L, -1)); /* M.run's result: {code, fired, errors} a rule */
    int nr = (int)lua_objlen(L, -1);
    st->nrules = nr > DF_MAX_RULES ? DF_MAX_RULES : nr;
    for (int i = 0; i < st->nrules; i++) {
        lua_rawgeti(L, -1, i + 1);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        lua_rawgeti(L, -3, 3);
        assert(lua_type(L, -3) == LUA_TSTRING);
        snprintf(st->rule_code[i], sizeof st->rule_code[i], "%s", lua_tostring(L, -3));
        st->rule_fired[i] = (uint64_t)lua_tonumber(L, -2);
        st->rule_errors[i] = (uint64_t)lua_tonumber(L, -1);
        lua_pop(L, 4);
    }
    lua_pop(L, 1);
}

static void read_warnings(lua_State *L, score_stats *st)
{
    lua_getfield(L, -1, "warnings");
    int n = lua_istable(L, -1) ? (int)lua_objlen(L, -1) : 0;
    st->nwarnings = n > DF_MAX_WARNINGS ? DF_MAX_WARNINGS : n;
    for (int i = 0; i < st->nwarnings; i++) {
        lua_rawgeti(L, -1, i + 1);
        snprintf(st->warnings[i], sizeof st->warnings[i], "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* t[field] (a list of texts) into names (at most DF_MAX_NAMES). */
static int read_names(lua_State *L, const char *field, char *names, size_t size)
{
    lua_getfield(L, -1, field);
    int n = lua_istable(L, -1) ? (int)lua_objlen(L, -1) : 0;
    if (n > DF_MAX_NAMES) n = DF_MAX_NAMES;
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, -1, i + 1);
        snprintf(names + (size_t)i * size, size, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return n;
}

static void read_text(lua_State *L, const char *field, char *buf, size_t cap)
{
    lua_getfield(L, -1, field);
    snprintf(buf, cap, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "");
    lua_pop(L, 1);
}

/* The result's history = {key, metrics, bands, stages, defected, changes, flows, min_score_change}. */
static void read_history(lua_State *L, history_info *h)
{
    lua_getfield(L, -1, "history");
    if (!lua_istable(L, -1)) return (void)lua_pop(L, 1);
    read_text(L, "key", h->key, sizeof h->key);
    read_text(L, "defected", h->defected, sizeof h->defected);
    read_text(L, "changes", h->changes_file, sizeof h->changes_file);
    read_text(L, "flows", h->flows_file, sizeof h->flows_file);
    lua_getfield(L, -1, "min_score_change");
    h->min_score_change = lua_tonumber(L, -1);
    lua_pop(L, 1);
    h->nmetrics = read_names(L, "metrics", h->metrics[0], sizeof h->metrics[0]);
    read_text(L, "revenue", h->revenue, sizeof h->revenue);
    read_text(L, "churn", h->churn_file, sizeof h->churn_file);
    read_text(L, "outcome", h->outcome, sizeof h->outcome);
    read_text(L, "eligible", h->eligible, sizeof h->eligible);
    lua_getfield(L, -1, "k");
    h->nk = lua_istable(L, -1) ? (int)lua_objlen(L, -1) : 0;
    if (h->nk > DF_MAX_NAMES) h->nk = DF_MAX_NAMES;
    for (int i = 0; i < h->nk; i++) lua_rawgeti(L, -1, i + 1), h->k[i] = (int64_t)lua_tonumber(L, -1), lua_pop(L, 1);
    lua_pop(L, 1);
    lua_getfield(L, -1, "churn_nights");
    h->churn_nights = (int)lua_tonumber(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, -1, "trends"); /* {file, metrics, nights} each */
    h->ntrends = lua_istable(L, -1) ? (int)lua_objlen(L, -1) : 0;
    if (h->ntrends > DF_MAX_NAMES) h->ntrends = DF_MAX_NAMES;
    for (int i = 0; i < h->ntrends; i++) {
        lua_rawgeti(L, -1, i + 1);
        lua_rawgeti(L, -1, 1), lua_rawgeti(L, -2, 2), lua_rawgeti(L, -3, 3);
        snprintf(h->trend_files[i], sizeof h->trend_files[i], "%s", lua_tostring(L, -3));
        snprintf(h->trend_metrics[i], sizeof h->trend_metrics[i], "%s", lua_tostring(L, -2));
        h->trend_nights[i] = (int)lua_tonumber(L, -1);
        lua_pop(L, 4);
    }
    lua_pop(L, 1);
    h->nbands = read_names(L, "bands", h->bands[0], sizeof h->bands[0]);
    h->nstages = read_names(L, "stages", h->stages[0], sizeof h->stages[0]);
    lua_pop(L, 1);
}

/* Reads M.run's (or M.finish's) result, on top of the stack, into st and pops it. */
static void read_stats(lua_State *L, score_stats *st)
{
    int top = lua_gettop(L);
    assert(lua_istable(L, -1));
    lua_getfield(L, -1, "customers"); /* the Lua side's name for the entities scored */
    st->entities = (uint64_t)lua_tonumber(L, -1);
    lua_getfield(L, -2, "score_seconds");
    st->score_seconds = lua_tonumber(L, -1);
    lua_getfield(L, -3, "write_seconds");
    st->write_seconds = lua_tonumber(L, -1);
    lua_pop(L, 3);
    read_overrides(L, st);
    read_rules(L, st);
    read_warnings(L, st);
    read_history(L, &st->hist);
    lua_pop(L, 1);
    assert(lua_gettop(L) == top - 1);
}

void lb_read_stats(lua_State *L, score_stats *st) { read_stats(L, st); }

/* One call of lb_run: what the main state and the workers share. */
typedef struct scoring {
    lbridge *b;
    table *tables;
    int ntables, parts;
    int32_t as_of;
    uint64_t n; /* entities */
    const score_opts *so;
    api_ctx ctx; /* the run's writers */
    df_api api;
    volatile int first_failed;
    worker *ws; /* parts 1 .. parts - 1 */
} scoring;

/* The main state's part (every entity when there is one part); leaves M.run's result. */
static df_status score_main(scoring *sc, df_error *err)
{
    lua_State *L = lb_lua(sc->b);
    lb_push_data(L, sc->tables, sc->ntables, sc->as_of);
    lua_pushlightuserdata(L, &sc->api);
    push_run_opts(L, sc->so, 0, sc->n / (uint64_t)sc->parts, sc->parts > 1 ? "defer" : NULL, 0);
    df_status s = lb_pcall(sc->b, "run", 3, 1, err);
    if (s == DF_OK && (sc->ctx.nomem || sc->ctx.open_failed)) lua_pop(L, 1);
    s = api_failure(&sc->ctx, s, err);
    if (s != DF_OK) part_failed(&sc->first_failed, 0);
    return s;
}

/* After the workers are done: the first failure in entity order (the one a single state would
 * have reported), or the parts merged and finished; M.finish's result replaces M.run's. */
static df_status gather_parts(scoring *sc, df_status s, df_error *err)
{
    lua_State *L = lb_lua(sc->b);
    int nw = sc->parts - 1;
    for (int k = 0; s == DF_OK && k < nw; k++)
        if (sc->ws[k].st != DF_OK) {
            *err = sc->ws[k].err;
            s = sc->ws[k].st;
            lua_pop(L, 1); /* run's nil */
        }
    if (s == DF_OK && nw > 0) s = merge_parts(sc->b, &sc->ctx, sc->ws, nw, err);
    if (sc->ws) workers_free(sc->ws, nw); /* their states are no longer needed by M.finish */
    sc->ws = NULL;
    if (s == DF_OK && nw > 0) {
        s = lb_pcall(sc->b, "finish", 1, 1, err);
        if (s == DF_OK && (sc->ctx.nomem || sc->ctx.open_failed)) lua_pop(L, 1);
        s = api_failure(&sc->ctx, s, err);
    }
    return s;
}

df_status lb_report(lbridge *b, outset *o, watchdog *wd, df_error *err)
{
    api_ctx ctx = {.o = o, .err = err};
    df_api api;
    api_init(&api, &ctx, watchdog_watch(wd, 0), NULL);
    lua_State *L = lb_lua(b);
    lua_pushlightuserdata(L, &api);
    df_status s = api_failure(&ctx, lb_pcall(b, "report", 1, 0, err), err);
    api_free_owned(&ctx);
    return s;
}

df_status lb_run(lbridge *b, table *tables, int ntables, int32_t as_of, outset *o, progress *prog,
                 const score_opts *so, score_stats *st, df_error *err)
{
    scoring sc = {.b = b, .tables = tables, .ntables = ntables, .as_of = as_of, .n = tables[0].nrows, .so = so,
                  .ctx = {.o = o, .ho = so->history, .ho_plain = so->history_plain, .err = err, .prog = prog, .books = so->books}};
    sc.parts = parts_for(sc.n, so);
    sc.first_failed = sc.parts;
    api_init(&sc.api, &sc.ctx, watchdog_watch(so->wd, 0), &sc.first_failed);
    progress_phase_items(prog, "scoring", tables[0].name, sc.n);
    sc.ws = sc.parts > 1 ? calloc((size_t)sc.parts - 1, sizeof *sc.ws) : NULL;
    if (sc.parts > 1 && !sc.ws) sc.parts = 1;
    if (sc.parts > 1) workers_init(sc.ws, sc.parts, sc.n, &sc.api, tables, ntables, as_of, so);
    pool workers; /* a thread that cannot start: its part waits for another thread */
    pool_start(&workers, sc.parts - 1, sc.parts - 1, score_part, sc.ws);
    int top = lua_gettop(lb_lua(b)); /* the stack as found, on every way out */
    df_status s = score_main(&sc, err);
    pool_join(&workers);
    s = gather_parts(&sc, s, err);
    progress_end(prog);
    assert(lua_gettop(lb_lua(b)) == top + (s == DF_OK));
    if (s != DF_OK && sc.ctx.open_failed) *err = sc.ctx.open_err, s = err->status;
    if (s == DF_OK && so->shard) s = shard_take(so->shard, lb_lua(b), sc.ctx.files, &sc.ctx.n, err);
    if (so->shard) api_free_captures(&sc.ctx); /* a shard's writers only capture */
    api_free_owned(&sc.ctx);
    if (s != DF_OK && so->shard && lua_gettop(lb_lua(b)) > top) lua_settop(lb_lua(b), top);
    if (s != DF_OK) return s;
    st->states = sc.parts;
    read_stats(lb_lua(b), st);
    assert(lua_gettop(lb_lua(b)) == top);
    return DF_OK;
}
