/* scoreapi.h: the C functions and shared state the Lua side calls while scoring, declared once.
 * The text between the ffi markers is also what the Lua side hands to ffi.cdef (embedded by
 * cmake/embed_lua.cmake as module "defector.cdef"), so it must stay plain C declarations: no
 * preprocessor lines, no macros, only types ffi.cdef knows. */
#ifndef DF_SCOREAPI_H
#define DF_SCOREAPI_H

#include <stddef.h>
#include <stdint.h>

/* ffi:begin */
typedef struct df_watch {
    volatile double row;        /* the entity being scored (its row), -1 between phases */
    volatile const char *what;  /* the rule code (or feature, stage...) being evaluated */
} df_watch;

typedef struct df_api {
    void *ctx;
    int (*open)(void *ctx, const char *name);
    void (*text)(void *ctx, int f, const char *s, size_t n);
    void (*plain)(void *ctx, int f, const char *s, size_t n);
    void (*number)(void *ctx, int f, double v);
    void (*empty)(void *ctx, int f);
    void (*end_row)(void *ctx, int f);
    double (*now)(void);
    void (*progress)(void *ctx, double done, double total);
    void (*row_begin)(void *ctx, int f);
    void (*row_split)(void *ctx, int f);
    void (*row_end)(void *ctx, int f);
    int (*write_rows)(void *ctx, int f, const uint32_t *order, size_t n);
    struct df_watch *watch;
    volatile int *first_failed; /* parallel scoring: the lowest part that failed (parts: none) */
} df_api;
/* ffi:end */

#endif
