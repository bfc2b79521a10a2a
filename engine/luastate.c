/* luastate.c: one LuaJIT state with the engine's Lua modules (engine/lua/, embedded at build
 * time, see luamods.h) registered in package.preload, and the rule file's declarations turned
 * into the tables to load. Every call into Lua goes through lb_pcall(): an error object
 * {where, message} is the user's error, anything else is reported as an internal error with a
 * traceback. Columns reach Lua as light userdata pointers that the Lua side wraps with
 * ffi.cast: no copy. Values cross from one state to another only by lb_copy_value(). */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#include "luamods.h"
#include "luastate.h"

struct lbridge {
    lua_State *L;
    int module_ref; /* the entry module's table M, in the registry */
};

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

/* LuaJIT's "not enough memory", or "out of memory" from an engine module whose C call failed
 * for memory, however wrapped (a rule's failure, an internal error): the run is out of memory;
 * neither the rule file nor the engine is at fault. */
static int is_memory_error(const char *msg)
{
    return msg && (strstr(msg, "not enough memory") || strstr(msg, "out of memory"));
}

/* Converts the error on top of the stack into err. */
static df_status lua_failure(lua_State *L, df_error *err)
{
    if (lua_type(L, -1) == LUA_TTABLE) {
        lua_getfield(L, -1, "where");
        lua_getfield(L, -2, "message");
        const char *where = lua_tostring(L, -2), *msg = lua_tostring(L, -1);
        df_status st = is_memory_error(msg) ? DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory")
                                            : DF_FAIL(err, DF_ERR_RULES, where ? where : "", "%s", msg ? msg : "error in the rule file");
        lua_pop(L, 3);
        return st;
    }
    const char *msg = lua_tostring(L, -1);
    df_status st = is_memory_error(msg) ? DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory")
                                        : DF_FAIL(err, DF_ERR_INTERNAL, "", "internal error in the Lua driver: %s", msg ? msg : "(no message)");
    lua_pop(L, 1);
    return st;
}

df_status lb_pcall(lbridge *b, const char *fn, int nargs, int nres, df_error *err)
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
    if (rc != 0) return lua_failure(L, err);
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
    int rc = lua_cpcall(b->L, open_state, &b->module_ref);
    if (rc != 0) {
        const char *msg = lua_tostring(b->L, -1);
        df_status st = rc == LUA_ERRMEM || is_memory_error(msg)
                           ? DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory")
                           : DF_FAIL(err, DF_ERR_INTERNAL, "", "the engine's Lua modules failed to load: %s", msg ? msg : "");
        lb_free(b);
        return st;
    }
    *out = b;
    return DF_OK;
}

void lb_free(lbridge *b)
{
    if (!b) return;
    if (b->L) lua_close(b->L);
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

static df_status table_from_plan(lua_State *L, int idx, table *t, const char *rules_path, df_error *err)
{
    memset(t, 0, sizeof *t);
    char *kind = NULL;
    int bad = field_str(L, idx, "name", &t->name) | field_str(L, idx, "file", &t->file) |
              field_str(L, idx, "key", &t->key) | field_str(L, idx, "date", &t->date_col) | field_str(L, idx, "kind", &kind);
    t->is_history = kind && strcmp(kind, "history") == 0;
    free(kind);
    t->key_col = t->date_idx = -1;
    if (bad) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
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
        lua_getfield(L, -4, "values");
        int ok = !lua_istable(L, -1) || allow_values(L, col) == 0;
        lua_pop(L, 5);
        if (!ok) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    }
    lua_pop(L, 1);
    return DF_OK;
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
    lb_push_rule_args(L, rules_path, source, len, as_of);
    df_status st = lb_pcall(b, "declare", 4, 1, err);
    if (st != DF_OK) return st;
    lua_getfield(L, -1, "tables");
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
