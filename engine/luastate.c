/* luastate.c: one LuaJIT state with the engine's Lua modules (engine/lua/, embedded at build
 * time, see luamods.h) registered in package.preload, and the rule file's declarations turned
 * into the tables to load. Every call into Lua goes through lb_pcall(): an error object
 * {where, message} is the user's error, anything else is reported as an internal error with a
 * traceback. Columns reach Lua as light userdata pointers that the Lua side wraps with
 * ffi.cast: no copy. Values cross from one state to another only by lb_copy_value().
 * Budgets: every call into Lua is watched (the state's df_watch: the watchdog's time budget),
 * and every byte the state allocates goes through lua_alloc(), which counts it against the
 * memory budget: past the budget, or when the system has no memory left, the process ends with
 * one message (exit 5 or 7, see watchdog_fire), as the time budget does. Invariant:
 * lb_pcall() leaves the stack as it found it, less the arguments, plus nres results on success
 * (asserted in debug builds). */
#include <assert.h>
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <luajit.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "confine.h"
#include "history.h"
#include "luamods.h"
#include "luastate.h"
#include "run.h"

/* The state's allocations, counted (see lua_alloc). */
typedef struct lb_mem {
    lua_Alloc f; /* LuaJIT's own allocator, which does the work */
    void *ud;
    int64_t used;    /* bytes held beyond what the engine's modules took (< 0 once some of theirs are freed) */
    int64_t limit;   /* the budget in bytes, 0 = none */
    long fail_at;    /* DEFECTOR_LUA_ALLOC_FAIL=N: the Nth growing allocation fails as if memory were gone (tests) */
    watchdog *wd;    /* says it and ends the process; NULL before lb_budget */
    int watch;       /* the state's watch in wd */
    int soft;        /* lb_test_limits: past the budget an allocation fails (the JIT is off) */
    int ran_out;     /* lb_test_limits: an allocation failed so (lb_test_ran_out) */
} lb_mem;

struct lbridge {
    lua_State *L;
    int module_ref; /* the entry module's table M, in the registry */
    lb_mem mem;
    df_watch *watch; /* NULL: unwatched */
    double ticks;    /* units of user code outside entities, for the watch */
    char path[512];  /* the user's file being run, for messages */
    long insn_budget, insn_left; /* lb_test_limits: VM instructions per call, 0 = none */
    void (*on_line)(const char *source, int line); /* lb_test_lines: every line run, NULL = none */
};

/* Memory gone, or the budget passed: said with what the state runs, and the process ends. An
 * allocation failure is not handed back to LuaJIT: it cannot always unwind one out of
 * JIT-compiled code (it crashes), and a rule's pcall would swallow it. */
static void memory_end(lb_mem *m, df_status st)
{
    char why[200];
    if (st == DF_ERR_RULES)
        snprintf(why, sizeof why, "it used more than %g MB of memory (--rule-memory-limit); does it build up data without end?",
                 (double)m->limit / 1048576.0);
    else
        snprintf(why, sizeof why, "the system could not give the Lua rules more memory; free memory or use a machine with more");
    if (m->wd) watchdog_fire(m->wd, m->watch, st, why);
    fprintf(stderr, "defector: error: out of memory: %s\n", why);
    _exit(st);
}

static void *lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    lb_mem *m = ud;
    if (nsize > osize) {
        int64_t grow = (int64_t)(nsize - osize);
        if (m->limit && m->used + grow > m->limit) {
            if (m->soft) return m->ran_out = 1, NULL;
            memory_end(m, DF_ERR_RULES);
        }
        if (m->fail_at > 0 && --m->fail_at == 0) memory_end(m, DF_ERR_NOMEM);
    }
    void *p = m->f(m->ud, ptr, osize, nsize);
    if (!p && nsize > osize) memory_end(m, DF_ERR_NOMEM);
    if (p || nsize == 0) m->used += (int64_t)nsize - (int64_t)osize;
    return p;
}

#define INSN_STEP 1000 /* the count hook's period, for lb_test_limits */

/* The line hook while a user's file runs from its top level: the line it has reached, for the
 * watchdog's message (the lines of the engine's modules, and LuaJIT's, are not noted); and the
 * count hook of lb_test_limits' instruction budget, and lb_test_lines' callback. */
static void line_hook(lua_State *L, lua_Debug *ar)
{
    void *ud;
    lua_getallocf(L, &ud);
    lbridge *b = (lbridge *)((char *)ud - offsetof(lbridge, mem));
    if (ar->event == LUA_HOOKCOUNT) {
        if ((b->insn_left -= INSN_STEP) < 0) { /* no file:line: an engine error, not the user's */
            b->mem.ran_out = 1;
            lua_pushstring(L, "the instruction budget of lb_test_limits ran out");
            lua_error(L);
        }
        return;
    }
    if (ar->event == LUA_HOOKLINE && b->on_line && lua_getinfo(L, "Sl", ar)) b->on_line(ar->source, ar->currentline);
    if (!b->watch || !lua_getinfo(L, "Sl", ar) || ar->source[0] != '@') return;
    if (strcmp(ar->source + 1, b->path) != 0) return;
    if (ar->event == LUA_HOOKRET) { /* the user's file has run: what follows is the engine's */
        if (strcmp(ar->what, "main") == 0) b->watch->row = -1;
        return;
    }
    b->watch->file = ar->source + 1;
    b->watch->line = ar->currentline;
}

/* native.history_nights(dir, as_of) -> { day, ... }: the committed nights of a run history
 * before as_of (at most 64, oldest first; none when the folder does not exist), what a shard
 * and its merge compare (shards.lua); nil, why when the folder cannot be read. */
static int native_history_nights(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    int32_t as_of = (int32_t)luaL_checknumber(L, 2), dates[64];
    int n = 0;
    df_error err = {0};
    if (history_nights(dir, as_of, dates, 64, &n, &err) != DF_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err.message);
        return 2;
    }
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) lua_pushnumber(L, dates[i]), lua_rawseti(L, -2, i + 1);
    return 1;
}

/* native.read_beside(dir, name) -> text | nil, why: a lookup or override table, read only
 * when it is a file inside the rule file's folder (confine.h). */
static int native_read_beside(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1), *name = luaL_checkstring(L, 2);
    char why[256];
    int fd = confine_open(dir, name, why, sizeof why);
    if (fd < 0) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    luaL_Buffer B;
    luaL_buffinit(L, &B);
    for (;;) {
        char *p = luaL_prepbuffer(&B);
        ssize_t n = read(fd, p, LUAL_BUFFERSIZE);
        if (n <= 0) {
            int e = errno;
            close(fd);
            if (n == 0) break;
            lua_pushnil(L);
            lua_pushstring(L, strerror(e));
            return 2;
        }
        luaL_addsize(&B, (size_t)n);
    }
    luaL_pushresult(&B);
    return 1;
}

/* An unprotected error (an engine bug): one clear line. */
static int at_panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "defector: error: internal error: unprotected Lua error: %s\n", msg ? msg : "(no message)");
    fflush(stderr);
    _exit(DF_ERR_INTERNAL);
}

lua_State *lb_lua(lbridge *b)
{
    return b->L;
}

static int traceback(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TTABLE) return 1; /* a user error: keep the object */
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

/* LuaJIT's "not enough memory", or scan.lua's "out of memory scanning a history" (its C call
 * failed for memory): the run is out of memory; neither the rule file nor the engine is at fault.
 * Only messages that start with these texts (the scoring loop may add the entity, a traceback
 * may follow): an error message can quote the user's data, and a cell reading "out of memory"
 * must not turn a rule error into exit 7 (the lookup fuzzer found one); what a rule file raises
 * starts with its file:line. Once lua_alloc is installed, a real allocation failure ends the
 * process there. */
static int is_memory_error(const char *msg)
{
    static const char *const ours[] = {"not enough memory", "out of memory scanning a history"};
    for (size_t i = 0; msg && i < sizeof ours / sizeof *ours; i++) {
        size_t n = strlen(ours[i]);
        if (strncmp(msg, ours[i], n) == 0) return 1;
    }
    return 0;
}

/* Converts the error on top of the stack into err. */
static df_status lua_failure(lua_State *L, df_error *err)
{
    if (lua_type(L, -1) == LUA_TTABLE) { /* raw: no metamethod runs outside a protected call */
        lua_pushstring(L, "where");
        lua_rawget(L, -2);
        lua_pushstring(L, "message");
        lua_rawget(L, -3);
        lua_pushstring(L, "data"); /* the export is at fault, not the rule file (sequence.lua) */
        lua_rawget(L, -4);
        int data = lua_toboolean(L, -1);
        lua_pop(L, 1);
        lua_pushstring(L, "usage"); /* the command line is (shards.lua: a merge of shards of another job) */
        lua_rawget(L, -4);
        int usage = lua_toboolean(L, -1);
        lua_pop(L, 1);
        lua_pushstring(L, "input"); /* an input file is damaged (nights.lua: a night of the run history) */
        lua_rawget(L, -4);
        int input = lua_toboolean(L, -1);
        lua_pop(L, 1);
        const char *where = lua_tostring(L, -2), *msg = lua_tostring(L, -1);
        df_status st = is_memory_error(msg) ? DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory")
                       : DF_FAIL(err, usage ? DF_ERR_USAGE : input ? DF_ERR_IO : data ? DF_ERR_DATA : DF_ERR_RULES, where ? where : "", "%s",
                                 msg ? msg : "error in the rule file");
        lua_pop(L, 3);
        return st;
    }
    const char *msg = lua_tostring(L, -1);
    df_status st = is_memory_error(msg) ? DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory")
                                        : DF_FAIL(err, DF_ERR_INTERNAL, "", "internal error in the Lua driver: %s", msg ? msg : "(no message)");
    lua_pop(L, 1);
    return st;
}

/* The functions that run a user's file from its top level, and what the watch calls that. */
static const char *top_level_of(const char *fn)
{
    if (strcmp(fn, "declare") == 0 || strcmp(fn, "check") == 0 || strcmp(fn, "check_needs") == 0)
        return "the rule file's top level";
    if (strcmp(fn, "load_cases") == 0) return "the test file's top level";
    return NULL;
}

/* Before a call into Lua: a new unit of user code for the watchdog (the Lua side marks the
 * entities it scores), the line hook where user files run from their top level. */
static void watch_begin(lbridge *b, const char *top)
{
    int mask = (top || b->on_line ? LUA_MASKLINE : 0) | (top ? LUA_MASKRET : 0) | (b->insn_budget ? LUA_MASKCOUNT : 0);
    b->insn_left = b->insn_budget;
    if (mask) lua_sethook(b->L, line_hook, mask, INSN_STEP);
    if (!b->watch) return;
    b->watch->what = top;
    b->watch->file = NULL;
    b->watch->line = 0;
    /* a user's file from its top level: one unit, until its main chunk returns (the line hook,
     * which sees the return); any other call starts idle, and the Lua side
     * marks the user code it runs (an entity, a metrics function): the engine's own work
     * (compiling the plan, sorting and writing the outputs) is not the rule file's budget */
    b->watch->row = top ? -2 - ++b->ticks : -1;
}

static void watch_end(lbridge *b)
{
    lua_sethook(b->L, NULL, 0, 0);
    if (!b->watch) return;
    b->watch->row = -1;
    b->watch->what = NULL;
    b->watch->file = NULL;
    b->watch->line = 0;
}

df_status lb_pcall(lbridge *b, const char *fn, int nargs, int nres, df_error *err)
{
    lua_State *L = b->L;
    int base = lua_gettop(L) - nargs;
    assert(base >= 0);
    lua_pushcfunction(L, traceback);
    lua_rawgeti(L, LUA_REGISTRYINDEX, b->module_ref);
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    lua_insert(L, base + 1); /* function below the arguments */
    lua_insert(L, base + 1); /* handler below the function */
    watch_begin(b, top_level_of(fn));
    int rc = lua_pcall(L, nargs, nres, base + 1);
    lua_remove(L, base + 1); /* the handler */
    df_status st = DF_OK;
    if (rc == LUA_ERRMEM) { /* not from lua_alloc, which ends the process: a limit of LuaJIT's own */
        lua_pop(L, 1);
        st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory in the Lua rules");
    } else if (rc != 0)
        st = lua_failure(L, err);
    watch_end(b);
    assert(lua_gettop(L) == base + (st == DF_OK ? nres : 0));
    return st;
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
    lua_pushstring(L, "defector.main");
    return 0;
}

/* LuaJIT's jit.vmdef (its opcode names, for bytecode.lua) is a file of the LuaJIT installation,
 * loaded once here. Its searcher takes a file it could not open for lack of memory for a missing
 * one, so a failure is tried once more before it is believed. */
static void load_vmdef(lua_State *L)
{
    for (int tries = 0; tries < 2; tries++) {
        lua_getglobal(L, "require");
        lua_pushstring(L, "jit.vmdef");
        if (lua_pcall(L, 1, 0, 0) == 0) return;
        if (tries) lua_error(L);
        lua_pop(L, 1);
    }
}

/* The standard libraries and the engine's modules, in protected mode (lua_cpcall, whose
 * argument is where the entry module's reference goes): a failure, for memory too, is an error
 * returned, not a panic. */
static int open_state(lua_State *L)
{
    int *module_ref = lua_touserdata(L, 1);
    luaL_openlibs(L);
    load_vmdef(L);
    if (preload_modules(L) != 0) lua_error(L);
    lua_call(L, 1, 1);
    *module_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getglobal(L, "package"); /* package.loaded["defector.native"]: the C the modules call */
    lua_getfield(L, -1, "loaded");
    lua_newtable(L);
    lua_pushcfunction(L, native_read_beside);
    lua_setfield(L, -2, "read_beside");
    lua_pushcfunction(L, native_history_nights);
    lua_setfield(L, -2, "history_nights");
    lua_setfield(L, -2, "defector.native");
    lua_pop(L, 2);
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
        return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory creating a Lua state");
    }
    lua_atpanic(b->L, at_panic);
    int rc = lua_cpcall(b->L, open_state, &b->module_ref);
    if (rc != 0) {
        const char *msg = lua_tostring(b->L, -1);
        df_status st = rc == LUA_ERRMEM || is_memory_error(msg)
                           ? DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory")
                           : DF_FAIL(err, DF_ERR_INTERNAL, "", "the engine's Lua modules failed to load: %s", msg ? msg : "");
        lb_free(b);
        return st;
    }
    /* from here on every allocation is counted (the modules' are not) */
    b->mem.f = lua_getallocf(b->L, &b->mem.ud);
    const char *knob = getenv("DEFECTOR_LUA_ALLOC_FAIL");
    b->mem.fail_at = knob ? atol(knob) : 0;
    lua_setallocf(b->L, lua_alloc, &b->mem);
    *out = b;
    return DF_OK;
}

void lb_test_limits(lbridge *b, long instructions, double memory_mb)
{
    luaJIT_setmode(b->L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    b->insn_budget = instructions;
    b->mem.limit = (int64_t)(memory_mb * 1048576.0);
    b->mem.soft = 1;
    b->mem.used = 0;
}

void lb_test_lines(lbridge *b, void (*on_line)(const char *source, int line))
{
    b->on_line = on_line;
}

int lb_test_ran_out(lbridge *b)
{
    int r = b->mem.ran_out;
    b->mem.ran_out = 0;
    return r;
}

void lb_budget(lbridge *b, watchdog *wd, int k)
{
    b->watch = watchdog_watch(wd, k);
    b->mem.wd = wd, b->mem.watch = k;
    b->mem.limit = (int64_t)(watchdog_memory_limit(wd) * 1048576.0);
    b->mem.used = 0;
}

void lb_free(lbridge *b)
{
    if (!b) return;
    if (b->L) {
        /* LuaJIT's own allocator back first: lua_close() hands its whole arena back only to it
         * (with lua_alloc in place every state's memory stayed mapped: found by fuzz_rules) */
        if (b->mem.f) lua_setallocf(b->L, b->mem.f, b->mem.ud);
        lua_close(b->L);
    }
    free(b);
}

/* A copy of string field key of the table at idx into *out (NULL when the field is no string);
 * -1 when the copy cannot be made. */
static int field_str(lua_State *L, int idx, const char *key, char **out)
{
    lua_getfield(L, idx, key);
    int is = lua_isstring(L, -1);
    *out = is ? strdup(lua_tostring(L, -1)) : NULL;
    lua_pop(L, 1);
    return is && !*out ? -1 : 0;
}

/* A category's allowed values: the list on top of the stack. */
static int allow_values(lua_State *L, column *col)
{
    int n = (int)lua_objlen(L, -1);
    const char **v = calloc((size_t)n + 1, sizeof *v);
    size_t *len = calloc((size_t)n + 1, sizeof *len);
    int rc = v && len ? 0 : -1;
    for (int i = 0; rc == 0 && i < n; i++) {
        lua_rawgeti(L, -1, i + 1);
        v[i] = lua_tolstring(L, -1, &len[i]); /* the plan keeps the strings alive */
        lua_pop(L, 1);
    }
    if (rc == 0) rc = column_allow(col, v, len, n);
    free(v), free(len);
    return rc;
}

int lb_dialect(lua_State *L, int idx, dialect *d)
{
    dialect_default(d);
    if (!lua_istable(L, idx)) return 0;
    lua_getfield(L, idx, "delimiter");
    if (lua_isstring(L, -1)) d->delim = lua_tostring(L, -1)[0];
    if (lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "spaces") == 0) d->delim = ' ', d->spaces = 1;
    lua_getfield(L, idx, "decimal");
    if (lua_isstring(L, -1)) d->decimal = lua_tostring(L, -1)[0];
    lua_getfield(L, idx, "thousands");
    if (lua_isstring(L, -1)) d->thousands = lua_tostring(L, -1)[0];
    lua_getfield(L, idx, "blank_is_empty");
    d->blank_empty = lua_toboolean(L, -1);
    lua_getfield(L, idx, "encoding");
    if (lua_isstring(L, -1)) d->encoding = dialect_encoding(lua_tostring(L, -1));
    assert(d->encoding >= 0); /* declare.lua allows only known names */
    lua_getfield(L, idx, "date_format");
    int rc = 0;
    if (lua_isstring(L, -1) && !(d->date_format = strdup(lua_tostring(L, -1)))) rc = -1;
    lua_pop(L, 6);
    d->numbers = d->decimal != '.' || d->thousands != 0;
    return rc;
}

/* A table's plan comes from declare.lua, never from the rule file as such: its shape is the
 * engine's invariant (asserted: name, file and kind are texts, the columns a list of
 * {name = text, type = a known type}), and the stack is left as found. */
static df_status table_from_plan(lua_State *L, int idx, table *t, const char *rules_path, df_error *err)
{
    int top = lua_gettop(L);
    assert(lua_istable(L, idx));
    memset(t, 0, sizeof *t);
    char *kind = NULL;
    int bad = field_str(L, idx, "name", &t->name) | field_str(L, idx, "file", &t->file) |
              field_str(L, idx, "key", &t->key) | field_str(L, idx, "date", &t->date_col) | field_str(L, idx, "kind", &kind);
    assert(bad || (t->name && t->file && kind));
    t->is_history = kind && strcmp(kind, "history") == 0;
    free(kind);
    lua_getfield(L, idx, "interval");
    t->is_interval = lua_toboolean(L, -1);
    lua_getfield(L, idx, "empty_keys");
    t->from_history = lua_toboolean(L, -1);
    lua_pop(L, 2);
    t->key_col = t->date_idx = -1;
    if (bad) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    lua_getfield(L, idx, "dialect");
    int dl_failed = lb_dialect(L, lua_gettop(L), &t->dl);
    lua_pop(L, 1);
    if (dl_failed) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    lua_getfield(L, idx, "columns");
    assert(lua_istable(L, -1));
    int n = (int)lua_objlen(L, -1);
    if (n > DF_MAX_COLUMNS) {
        lua_pop(L, 1);
        return DF_FAIL(err, DF_ERR_RULES, rules_path, "table %s declares %d columns; at most %d are supported", t->name, n, DF_MAX_COLUMNS);
    }
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        lua_getfield(L, -1, "name");
        lua_getfield(L, -2, "type");
        assert(lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING);
        col_type ty = COL_TEXT;
        int known = col_type_from_name(lua_tostring(L, -1), &ty) == 0;
        assert(known);
        (void)known;
        column *col = &t->cols[t->ncols++];
        if (column_init(col, lua_tostring(L, -2), ty) != 0) {
            lua_pop(L, 4);
            return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
        }
        lua_getfield(L, -3, "required");
        col->required = lua_toboolean(L, -1);
        lua_getfield(L, -4, "values");
        int ok = !lua_istable(L, -1) || allow_values(L, col) == 0;
        lua_pop(L, 5);
        if (!ok) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    }
    lua_pop(L, 1);
    assert(lua_gettop(L) == top);
    return DF_OK;
}

void lb_set_path(lbridge *b, const char *path)
{
    snprintf(b->path, sizeof b->path, "%s", path);
}

void lb_push_rule_args(lua_State *L, const char *rules_path, const char *source, size_t len, int32_t as_of)
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
    int top = lua_gettop(L);
    lb_set_path(b, rules_path);
    lb_push_rule_args(L, rules_path, source, len, as_of);
    df_status st = lb_pcall(b, "declare", 4, 1, err);
    if (st != DF_OK) return st;
    assert(lua_istable(L, -1));
    lua_getfield(L, -1, "tables");
    assert(lua_istable(L, -1));
    int n = (int)lua_objlen(L, -1);
    if (n > DF_MAX_TABLES) {
        lua_pop(L, 2);
        return DF_FAIL(err, DF_ERR_RULES, rules_path, "at most %d input tables are supported", DF_MAX_TABLES);
    }
    *ntables = 0;
    for (int pass = 0; pass < 2 && st == DF_OK; pass++) { /* the entity first, then histories in file order */
        for (int i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            lua_getfield(L, -1, "kind");
            assert(lua_type(L, -1) == LUA_TSTRING);
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
    assert(lua_gettop(L) == top);
    assert(st != DF_OK || (*ntables >= 1 && !tables[0].is_history)); /* declare.lua requires the entity */
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

void lb_push_data(lua_State *L, table *tables, int ntables, int32_t as_of)
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

int lb_copy_value(lua_State *from, int idx, lua_State *to)
{
    return copy_value(from, idx, to, 0);
}

/* ---- operations { } (operations.lua): the rule file's settings for running unattended ---- */

static int opt_bool(lua_State *L, const char *k)
{
    lua_getfield(L, -1, k);
    int v = lua_isnil(L, -1) ? -1 : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static void opt_str(lua_State *L, const char *k, char *out, size_t cap)
{
    lua_getfield(L, -1, k);
    snprintf(out, cap, "%s", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "");
    lua_pop(L, 1);
}

static double opt_num(lua_State *L, const char *k)
{
    lua_getfield(L, -1, k);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : -1;
    lua_pop(L, 1);
    return v;
}

df_status lb_operations(lbridge *b, run_ops *ops, df_error *err)
{
    lua_State *L = b->L;
    df_status st = lb_pcall(b, "operations", 0, 1, err);
    if (st != DF_OK) return st;
    char mode[16], same[16];
    memset(ops, 0, sizeof *ops);
    ops->strict = opt_bool(L, "strict"), ops->hash_ids = opt_bool(L, "hash_ids");
    opt_str(L, "time_zone", ops->time_zone, sizeof ops->time_zone);
    opt_str(L, "file_mode", mode, sizeof mode);
    ops->file_mode = mode[0] ? (int)strtol(mode, NULL, 8) : 0;
    opt_str(L, "same_input", same, sizeof same);
    ops->same_input = !strcmp(same, "fail") ? 2 : !strcmp(same, "ignore") ? 0 : 1;
    lua_getfield(L, -1, "guards");
    int n = (int)lua_objlen(L, -1);
    if (n > DF_MAX_GUARDS) st = DF_FAIL(err, DF_ERR_RULES, b->path, "operations: at most %d guards", DF_MAX_GUARDS);
    for (int i = 1; i <= n && st == DF_OK; i++) {
        ops_guard *g = &ops->guards[ops->nguards++];
        lua_rawgeti(L, -1, i);
        opt_str(L, "figure", g->figure, sizeof g->figure);
        g->max_drop = opt_num(L, "max_drop"), g->max_rise = opt_num(L, "max_rise");
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
    return st;
}
