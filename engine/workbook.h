/* workbook.h: the run's XLSX workbooks (workbook.c). A workbook is an output file like the
 * others (opened with outset_open, so staged and committed with the set); its sheets are made
 * from writers holding typed cells (output.h), in the order given; a last sheet "run" sums up
 * the run (as-of, rule file and its SHA-256, inputs, rows per output, warnings) when the
 * workbooks are closed, after everything else is written. */
#ifndef DF_WORKBOOK_H
#define DF_WORKBOOK_H

#include "output.h"

typedef struct books books;
struct run_info;

/* as_of: the run's as-of date (days since 1970): the workbooks' creation date, so that the
 * same inputs give the same bytes. NULL on out of memory. */
books *books_new(int32_t as_of);
/* Opens NAME (a .xlsx output of o); its number, or -1 with err set. */
int books_open(books *bs, outset *o, const char *name, df_error *err);
/* How a sheet shows its cells: band_col (-1: none) is the column whose values, one of bands
 * ("high\nmedium\nlow", the riskiest first), get a fill colour; places (one byte a column, '0'
 * to '6', or ' ') the decimals a number of that column shows (its value is kept whole). */
typedef struct sheet_opts {
    int band_col;
    const char *bands, *places;
} sheet_opts;

/* A sheet named sheet of workbook b: the header of typed writer src, then its rows order[0..n)
 * (a rank numbered from 1). */
df_status books_sheet(books *bs, int b, const csvw *src, const char *sheet, const uint32_t *order, size_t n,
                      const sheet_opts *so, df_error *err);
/* Adds each workbook's "run" sheet from r and o, and writes the workbooks into their staging
 * files. */
df_status books_close(books *bs, const struct run_info *r, const outset *o, df_error *err);
void books_free(books *bs); /* NULL is a no-op */

#endif
