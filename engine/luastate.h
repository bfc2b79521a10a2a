/* luastate.h: a LuaJIT state with the engine's Lua modules loaded (an lbridge), the rule file's
 * declarations read from it, and the few operations the bridge's other files build on:
 * protected calls into the entry module, the column views handed to it, values copied from one
 * state to another. One state per thread that scores; a state is never shared. */
#ifndef DF_LUASTATE_H
#define DF_LUASTATE_H

#include "error.h"
#include "table.h"
#include "watchdog.h"

#define DF_MAX_TABLES 16

typedef struct lbridge lbridge;
typedef struct lua_State lua_State;

df_status lb_new(lbridge **out, df_error *err);
void lb_free(lbridge *b); /* NULL is a no-op */
/* Puts the state under the watchdog's budgets: watch k (time, and what the state runs) and the
 * memory budget, counted from here. A NULL watchdog: no budgets. */
void lb_budget(lbridge *b, watchdog *wd, int k);
/* For fuzzing (tests/fuzz/): budgets that end a call with an error instead of the process, and
 * deterministically: the JIT off, at most `instructions` VM instructions per call into Lua (a
 * count hook; a C function such as a string pattern is not counted), and past memory_mb an
 * allocation fails (LuaJIT unwinds it safely from the interpreter). */
void lb_test_limits(lbridge *b, long instructions, double memory_mb);
/* Whether one of those limits ended a call since the last question (and forgets it). */
int lb_test_ran_out(lbridge *b);
/* For fuzzing: on_line(source, line) for every line of Lua the state runs (the engine's modules
 * and the user's files), for coverage that libFuzzer cannot see in LuaJIT. */
void lb_test_lines(lbridge *b, void (*on_line)(const char *source, int line));
/* Runs the rule file's declarations and fills tables[] (name, file, key, columns) from them;
 * the entity table comes first. */
df_status lb_declare(lbridge *b, const char *rules_path, const char *source, size_t len, int32_t as_of,
                     table *tables, int *ntables, df_error *err);

/* ---- for the bridge's own files (luascore.c, luaauthor.c) ---- */

/* The dialect table at idx (declare.lua's t.dialect; not a table: the default) into *d; -1 on
 * out of memory. */
int lb_dialect(lua_State *L, int idx, dialect *d);

lua_State *lb_lua(lbridge *b);
/* Calls M[fn] with the nargs values on top of the stack, leaving nres results. A Lua error
 * {where, message} becomes the user's error (DF_ERR_RULES), anything else an internal error
 * with a traceback; nothing is left on the stack on failure. */
df_status lb_pcall(lbridge *b, const char *fn, int nargs, int nres, df_error *err);
/* The user's file the next calls run (for messages about memory). */
void lb_set_path(lbridge *b, const char *path);
/* The arguments of M.declare and M.check: source, chunk name, as-of (days and text). */
void lb_push_rule_args(lua_State *L, const char *rules_path, const char *source, size_t len, int32_t as_of);
/* M.run's first argument: {as_of, tables = {name = {n, offsets, cols = {name = view}}}}, the
 * columns as light userdata the Lua side wraps with ffi.cast: no copy. */
void lb_push_data(lua_State *L, table *tables, int ntables, int32_t as_of);
/* Copies the value at idx of `from` (nil, boolean, number, string, or a table of these) onto
 * the stack of `to`. Returns -1 for anything else, or tables nested deeper than 16. */
int lb_copy_value(lua_State *from, int idx, lua_State *to);

#endif
