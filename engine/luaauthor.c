/* luaauthor.c: the commands for rule authors (see luaauthor.h). explain and test score one
 * entity, row 0 of tables the loader filled with that entity alone, through M.run in its
 * single-entity mode; the cases of a test file stay in the state's registry between calls
 * ("defector.cases"); check hands the rule file and the data folder's headers to M.check. */
#include <lua.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "luaapi.h"
#include "luaauthor.h"

/* Calls M.run for entity row 0 alone (the loader kept that entity alone), with opts {explain = 1,
 * json, result}; leaves run's return value on the stack. The Lua side marks the entity it scores
 * in watch; it is idle again (-1) on return. */
static df_status run_single(lbridge *b, table *tables, int ntables, int32_t as_of, int json, int result,
                            df_watch *watch, df_error *err)
{
    lua_State *L = lb_lua(b);
    api_ctx ctx = {.err = err}; /* no output files are opened in this mode */
    df_api api;
    api_init(&api, &ctx, watch, NULL);
    lb_push_data(L, tables, ntables, as_of);
    lua_pushlightuserdata(L, &api);
    lua_newtable(L);
    lua_pushnumber(L, 1);
    lua_setfield(L, -2, "explain");
    lua_pushboolean(L, json);
    lua_setfield(L, -2, "json");
    lua_pushboolean(L, result);
    lua_setfield(L, -2, "result");
    df_status st = lb_pcall(b, "run", 3, 1, err);
    watch->row = -1;
    return st;
}

df_status lb_explain(lbridge *b, table *tables, int ntables, int32_t as_of, int json, df_watch *watch, char **text,
                     df_error *err)
{
    lua_State *L = lb_lua(b);
    *text = NULL;
    df_status s = run_single(b, tables, ntables, as_of, json, 0, watch, err);
    if (s != DF_OK) return s;
    lua_getfield(L, -1, "explain");
    const char *t = lua_tostring(L, -1);
    *text = t ? strdup(t) : NULL;
    lua_pop(L, 2);
    return *text ? DF_OK : DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
}

df_status lb_load_cases(lbridge *b, const char *path, const char *src, size_t len, int *ncases, df_error *err)
{
    lua_State *L = lb_lua(b);
    lb_set_path(b, path);
    lua_pushlstring(L, src, len);
    lua_pushstring(L, path);
    df_status st = lb_pcall(b, "load_cases", 2, 1, err);
    if (st != DF_OK) return st;
    *ncases = (int)lua_objlen(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "defector.cases");
    return DF_OK;
}

void lb_case_info(lbridge *b, int i, lb_case *c)
{
    lua_State *L = lb_lua(b);
    lua_getfield(L, LUA_REGISTRYINDEX, "defector.cases");
    lua_rawgeti(L, -1, i);
    lua_getfield(L, -1, "name");
    snprintf(c->name, sizeof c->name, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    lua_getfield(L, -2, "as_of");
    snprintf(c->as_of, sizeof c->as_of, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    lua_getfield(L, -3, "line");
    c->line = (int)lua_tonumber(L, -1);
    lua_pop(L, 5);
}

df_status lb_case_files(lbridge *b, int i, const char *dir, char *id, size_t idcap, df_error *err)
{
    lua_State *L = lb_lua(b);
    lua_pushnumber(L, i);
    df_status st = lb_pcall(b, "case_files", 1, 2, err);
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
        int bad = !f || fwrite(text, 1, tl, f) != tl;
        if (f && fclose(f) != 0) bad = 1; /* the last bytes are written here */
        if (!path) st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
        else if (bad) st = DF_FAIL(err, DF_ERR_OUTPUT, path, "cannot write a test input file: %s", strerror(errno));
        free(path);
        lua_pop(L, 3);
    }
    lua_pop(L, 2);
    return st;
}

df_status lb_case_check(lbridge *b, table *tables, int ntables, int32_t as_of, int i, df_watch *watch, int *pass,
                        char *msg, size_t mcap, df_error *err)
{
    lua_State *L = lb_lua(b);
    df_status st = run_single(b, tables, ntables, as_of, 0, 1, watch, err);
    if (st != DF_OK) return st;
    lua_getfield(L, -1, "result");
    lua_remove(L, -2);
    lua_pushnumber(L, i);
    lua_insert(L, -2);
    st = lb_pcall(b, "case_check", 2, 2, err);
    if (st != DF_OK) return st;
    *pass = lua_toboolean(L, -2);
    snprintf(msg, mcap, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    lua_pop(L, 2);
    return DF_OK;
}

/* out.files and out.dialects of check_needs (on top of the stack) into *files and *dls. */
static df_status table_files(lua_State *L, char ***files, dialect **dls, int *n, df_error *err)
{
    lua_getfield(L, -1, "files");
    lua_getfield(L, -2, "dialects");
    int k = (int)lua_objlen(L, -2), ok = 1;
    char **f = calloc((size_t)k + 1, sizeof *f);
    dialect *d = calloc((size_t)k + 1, sizeof *d);
    for (int i = 0; f && d && ok && i < k; i++) {
        lua_rawgeti(L, -2, i + 1);
        f[i] = strdup(lua_tostring(L, -1));
        lua_rawgeti(L, -2, i + 1);
        ok = f[i] && lb_dialect(L, lua_gettop(L), &d[i]) == 0;
        lua_pop(L, 2);
        *n = i + 1;
    }
    lua_pop(L, 2);
    *files = f, *dls = d;
    return f && d && ok ? DF_OK : DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
}

df_status lb_check_needs(lbridge *b, const char *rules_path, const char *src, size_t len, int32_t as_of,
                         lb_values **needs, int *n, char ***files, dialect **dls, int *nfiles, df_error *err)
{
    lua_State *L = lb_lua(b);
    *needs = NULL, *n = 0, *files = NULL, *dls = NULL, *nfiles = 0;
    lb_set_path(b, rules_path);
    lb_push_rule_args(L, rules_path, src, len, as_of);
    df_status st = lb_pcall(b, "check_needs", 4, 1, err);
    if (st != DF_OK) return st;
    st = table_files(L, files, dls, nfiles, err);
    int k = (int)lua_objlen(L, -1);
    lb_values *v = st == DF_OK ? calloc((size_t)k + 1, sizeof *v) : NULL;
    if (!v) {
        lua_pop(L, 1);
        return st == DF_OK ? DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory") : st;
    }
    for (int i = 0; i < k; i++) {
        lua_rawgeti(L, -1, i + 1);
        lua_getfield(L, -1, "file");
        lua_getfield(L, -2, "column");
        v[i].file = strdup(lua_tostring(L, -2));
        v[i].column = strdup(lua_tostring(L, -1));
        lua_pop(L, 3);
        *n = i + 1;
        if (!v[i].file || !v[i].column || strmap_init(&v[i].values) != 0) st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
        if (st != DF_OK) break;
    }
    lua_pop(L, 1);
    *needs = v;
    return st;
}

/* { [file] = { [column] = { values... } } } */
static void push_values(lua_State *L, const lb_values *values, int nvalues)
{
    lua_newtable(L);
    for (int i = 0; i < nvalues; i++) {
        lua_getfield(L, -1, values[i].file);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_newtable(L);
            lua_pushvalue(L, -1);
            lua_setfield(L, -3, values[i].file);
        }
        lua_createtable(L, (int)values[i].values.n, 0);
        for (uint32_t k = 0; k < values[i].values.n; k++) {
            size_t len;
            const char *s = strmap_str(&values[i].values, k, &len);
            lua_pushlstring(L, s, len);
            lua_rawseti(L, -2, (int)k + 1);
        }
        lua_setfield(L, -2, values[i].column);
        lua_pop(L, 1);
    }
}

df_status lb_check(lbridge *b, const char *rules_path, const char *src, size_t len, int32_t as_of,
                   const lb_header *headers, int nheaders, int have_data, const lb_values *values, int nvalues,
                   char **text, int *errors, int *warnings, df_error *err)
{
    lua_State *L = lb_lua(b);
    lb_set_path(b, rules_path);
    lb_push_rule_args(L, rules_path, src, len, as_of);
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
        push_values(L, values, nvalues);
    } else {
        lua_pushnil(L);
        lua_pushnil(L);
    }
    df_status st = lb_pcall(b, "check", 6, 3, err);
    if (st != DF_OK) return st;
    *text = strdup(lua_tostring(L, -3));
    *errors = (int)lua_tonumber(L, -2);
    *warnings = (int)lua_tonumber(L, -1);
    lua_pop(L, 3);
    return *text ? DF_OK : DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
}
