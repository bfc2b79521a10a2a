/* error.h: the one error type (include/defector.h: df_error) and the one function that sets it.
 * Every failure goes through df_error_set(), so one breakpoint catches them all; the macro
 * records the engine's own file:line, the caller supplies the user's location (data file
 * line and column, or rule file line and rule) and a message that says how to fix it. */
#ifndef DF_ERROR_H
#define DF_ERROR_H

#include <stdio.h>

#include "defector.h"

#if defined(__GNUC__)
#define DF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DF_PRINTF(a, b)
#endif

df_status df_error_set_at(df_error *err, df_status st, const char *src_file, int src_line,
                          const char *where, const char *fmt, ...) DF_PRINTF(6, 7);

/* DF_FAIL(err, status, where, fmt, ...): sets err and evaluates to status. */
#define DF_FAIL(err, st, where, ...) df_error_set_at((err), (st), __FILE__, __LINE__, (where), __VA_ARGS__)

/* Formats an error for stderr: "defector: error: WHERE: MESSAGE". */
void df_error_print(const df_error *err, FILE *f);

#endif
