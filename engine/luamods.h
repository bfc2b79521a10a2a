/* luamods.h: the engine's Lua modules (engine/lua/NAME.lua) and FFI declarations (scoreapi.h),
 * embedded at build time by cmake/embed_lua.cmake into a table that lb_new() registers in
 * package.preload. */
#ifndef DF_LUAMODS_H
#define DF_LUAMODS_H

#include <stddef.h>

typedef struct df_lua_module {
    const char *name;      /* "defector.scan" */
    const char *chunkname; /* "@engine/lua/scan.lua": tracebacks name the real file */
    const char *text;
    size_t len;
} df_lua_module;

/* Ends with an entry whose name is NULL. */
extern const df_lua_module df_lua_modules[];

#endif
