/* output.h: CSV writers for a set of output files that are committed together.
 * Each file is written to a temporary name in the output folder and renamed into place only
 * by outset_commit(), after every file of the run is complete; outset_abort() removes the
 * temporaries, so a failed run leaves the previous outputs untouched. */
#ifndef DF_OUTPUT_H
#define DF_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef struct csvw {
    FILE *f;
    char *name, *tmp, *final;
    char *buf;
    int ncells; /* cells written in the current row */
    uint64_t rows; /* data rows (header excluded) */
    int header_done;
    /* rows rendered ahead of their order (see csvw_row_begin), into a buffer of their own */
    int capturing, nomem;
    char *membuf;
    size_t memlen, memcap;
    uint64_t *spans; /* per row: start, split (| SPLIT_COMMA), end in membuf */
    uint64_t nspans, spans_cap;
    uint64_t cur_start, cur_split;
} csvw;

typedef struct outset outset;

df_status outset_new(const char *dir, outset **out, df_error *err);
/* Opens NAME (a plain file name) for writing; NULL with err set on failure. */
csvw *outset_open(outset *o, const char *name, df_error *err);
df_status outset_commit(outset *o, df_error *err);
void outset_abort(outset *o); /* also frees; NULL is a no-op */
void outset_free(outset *o);
/* Removes the temporaries without touching anything else: for the watchdog, just before it ends
 * the process (another thread may still be writing them). */
void outset_unlink_temps(const outset *o);
int outset_count(const outset *o);
const csvw *outset_file(const outset *o, int i);

/* A text cell: a leading = + - @ TAB or CR gets a ' so a spreadsheet shows it as text;
 * quoted when it holds , " CR or LF. */
void csvw_text(csvw *w, const char *s, size_t n);
/* A cell written as is (numbers, codes), quoted only when needed, never guarded. */
void csvw_plain(csvw *w, const char *s, size_t n);
void csvw_number(csvw *w, double v);
void csvw_int(csvw *w, int64_t v);
void csvw_empty(csvw *w);
void csvw_end_row(csvw *w); /* the first row ended is the header */

/* Rows whose order is known only at the end: csvw_row_begin() starts capturing a row's cells in
 * memory, csvw_row_split() marks where a rank column goes (filled in when written), and
 * csvw_row_end() closes the row. csvw_write_rows() then writes the captured rows in the given
 * order, numbering the rank from 1. Returns -1 on out of memory. */
int csvw_row_begin(csvw *w);
void csvw_row_split(csvw *w);
int csvw_row_end(csvw *w);
int csvw_write_rows(csvw *w, const uint32_t *order, size_t n);
/* A writer that only captures rows (no file): a scoring worker's, appended to the run's real
 * writer with csvw_append_rows() (src's rows after dst's, in their order). */
csvw *csvw_capture_new(void);
void csvw_capture_free(csvw *w);
int csvw_append_rows(csvw *dst, csvw *src);

/* "dir/file", malloc'd (NULL on out of memory). */
char *path_join(const char *dir, const char *file);

/* Formats a number plainly: integers without a point, others with at most 15 significant
 * digits and no exponent, trailing zeros dropped. Returns the length. */
int format_number(double v, char *buf, size_t cap);

#endif
