/* luaauthor.h: the commands for rule authors, each one call into the Lua side: explain (one
 * entity, traced), test (cases from a test file, each run through the real loader) and check
 * (every finding of a rule file at once). */
#ifndef DF_LUAAUTHOR_H
#define DF_LUAAUTHOR_H

#include "luastate.h"
#include "strmap.h"
#include "scoreapi.h"

/* Evaluates entity row 0 (the loader kept only that entity) with a trace and returns the
 * report (malloc'd text, or JSON when json = 1) in *text. watch: the state's slot in the
 * watchdog, as in lb_case_check. */
df_status lb_explain(lbridge *b, table *tables, int ntables, int32_t as_of, int json, df_watch *watch, char **text,
                     df_error *err);

/* defector test: loads the cases of a test file (count in *ncases), tells case i's name, as-of
 * date and line in the test file (0 when unknown), writes its input files into dir, and checks
 * a case's result against its expectations (*pass, and msg when it fails). Cases are numbered
 * from 1. */
df_status lb_load_cases(lbridge *b, const char *path, const char *src, size_t len, int *ncases, df_error *err);
typedef struct lb_case {
    char name[512];
    char as_of[32]; /* "YYYY-MM-DD", or "" for the command's */
    int line;
} lb_case;
void lb_case_info(lbridge *b, int i, lb_case *c);
df_status lb_case_files(lbridge *b, int i, const char *dir, char *id, size_t idcap, df_error *err);
df_status lb_case_check(lbridge *b, table *tables, int ntables, int32_t as_of, int i, df_watch *watch, int *pass,
                        char *msg, size_t mcap, df_error *err);

/* defector check: all findings of a rule file at once, "file:line: severity: what — how to fix"
 * per line (malloc'd *text), checked against the headers of the files in the data folder when
 * have_data. */
typedef struct lb_header {
    const char *file;
    char **names;
    int n;
} lb_header;

/* The distinct values of one column of one file, for check --data. */
typedef struct lb_values {
    const char *file, *column;
    strmap values;
} lb_values;

/* The (file, column) pairs whose values check wants from the data: category columns that
 * filters compare with values, when the rule file does not list the column's values; and the
 * files (or patterns) of the rule file's tables, whose headers it wants (*files malloc'd), with
 * the dialect each is declared in (*dls, malloc'd, nfiles of them). */
df_status lb_check_needs(lbridge *b, const char *rules_path, const char *src, size_t len, int32_t as_of,
                         lb_values **needs, int *n, char ***files, dialect **dls, int *nfiles, df_error *err);
df_status lb_check(lbridge *b, const char *rules_path, const char *src, size_t len, int32_t as_of,
                   const lb_header *headers, int nheaders, int have_data, const lb_values *values, int nvalues,
                   char **text, int *errors, int *warnings, df_error *err);

#endif
