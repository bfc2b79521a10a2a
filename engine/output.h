/* output.h: a run's output files and the folder they go to.
 *
 * csvw (output.c): a CSV writer (also used for run_summary.json), buffered over a descriptor;
 * the first failed write is kept in err and reported when the file is finished.
 *
 * outset (commit.c): the output folder (--out) of one run. Its contract: after the run, --out
 * holds exactly this run's output set (every file opened with outset_open, whatever its name,
 * and the manifest .defector-manifest that lists them) plus files the engine never wrote;
 * files an earlier run wrote (listed in its manifest) that this run does not are removed in the
 * same commit. Whatever single failure or kill happens, the folder ends up with the complete
 * old set or the complete new one: files are written into the staging folder
 * .defector-staging inside --out, and the commit is a journal (see commit.c). One run at a
 * time per folder (a lock); every run first undoes what a killed run left half done. */
#ifndef DF_OUTPUT_H
#define DF_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef struct csvw {
    int fd; /* the temporary file in the staging folder; -1 for a capture-only writer */
    int err; /* the first errno a write of this file met (0: none) */
    char *name, *final; /* "risk_list.csv", "OUT/risk_list.csv" (for messages) */
    char *buf;
    size_t buflen;
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
    /* spreadsheet options (csvw_configure): the separator, a decimal comma, the formula guard */
    char sep;
    int dec_comma, guard;
    /* typed: cells are kept as typed records (see TYPED CELLS below), not as CSV text, for a
     * workbook sheet or an output split in several lists; the header row is [hdr_start, hdr_end) */
    int typed;
    uint64_t hdr_start, hdr_end;
    /* gzip (csvw_gzip): the file's bytes go through this deflate stream (NULL: written as they are) */
    struct z_stream_s *gz;
    int finished; /* finished early (outset_finish_file): the commit does not finish it again */
    /* a writer in memory (csvw_new_memory): the file's bytes accumulate here, not in a file */
    int in_memory;
    char *file;
    size_t file_len, file_cap;
} csvw;

typedef struct outset outset;

/* Opens the output folder dir (created with its missing parents), takes its lock, undoes what
 * a killed run left (saying so on stderr) and makes the staging folder. */
df_status outset_new(const char *dir, outset **out, df_error *err);
/* The same, its files created with mode (0: 0640) and, when another run holds the lock, waiting
 * up to lock_wait seconds for it before refusing (exit 6, naming the holder's pid and start;
 * *busy = 1 then). */
df_status outset_new_with(const char *dir, int mode, double lock_wait, int *busy, outset **out, df_error *err);
/* An outset with no folder: its files are writers in memory (csvw_new_memory), their bytes
 * taken with outset_take_memory once finished (outset_finish_file); never committed. */
df_status outset_new_memory(const char *name, outset **out, df_error *err);
df_status outset_take_memory(outset *o, const char *name, char **buf, size_t *len, df_error *err);
/* The mode of the files opened from now on. */
void outset_set_mode(outset *o, int mode);
/* Opens NAME (a plain file name) for writing; NULL with err set on failure. */
csvw *outset_open(outset *o, const char *name, df_error *err);
/* Finishes every file (written out, fsynced, closed, still in the staging folder: readable at
 * outset_temp_path) without committing; the commit then goes on from there. */
df_status outset_finish(outset *o, df_error *err);
/* Finishes every file and commits the set (see commit.c); on failure the folder holds the
 * previous set and err names the file (or the folder) and how to fix it. */
df_status outset_commit(outset *o, df_error *err);
void outset_abort(outset *o); /* also frees; NULL is a no-op */
void outset_free(outset *o);
/* Removes the staging folder without touching anything else: for the watchdog, just before it
 * ends the process (another thread may still be writing its files). */
void outset_unlink_temps(const outset *o);
int outset_count(const outset *o);
/* The bytes written so far into output name (for the report, which shows the cells of the CSV
 * files): 0 with *buf (malloc'd, *len bytes); 1 when the run has not opened that output; -1 with
 * err set (a failed write: the message the commit would give; out of memory). */
int outset_read_back(outset *o, const char *name, char **buf, size_t *len, df_error *err);
/* Finishes file name of o now (written, fsynced, closed; the commit keeps it as it is), so that
 * its bytes can be read from outset_temp_path() before the commit. */
df_status outset_finish_file(outset *o, const char *name, df_error *err);
/* The folder o writes into. */
const char *outset_dir(const outset *o);
/* The path of name's file in the staging folder (malloc'd): for a writer that writes by path
 * (a workbook, see workbook.c) into the file outset_open made. */
char *outset_temp_path(const outset *o, const char *name);
const csvw *outset_file(const outset *o, int i);
/* After a commit: the files of earlier runs it removed, as "a, b" ("" when none). */
const char *outset_removed(const outset *o);
/* A name outset_open accepts: not empty, no '/', no leading '.', no control character. */
int output_name_ok(const char *name);

/* ---- csvw (output.c) ---- */

/* A writer over fd (owned from now on), named name, whose final path is final (both copied). */
csvw *csvw_new_file(int fd, const char *name, const char *final);
/* A writer whose "file" is a buffer in memory (a backtest's scratch snapshot: no page cache,
 * no fsync, no reading back): csvw_take_memory hands the bytes over once it is finished. */
csvw *csvw_new_memory(const char *name);
/* The bytes of a finished writer in memory, handed over (*buf malloc'd, *len bytes; the writer
 * holds none after); -1 with errno when the writer is not in memory or ran out of memory. */
int csvw_take_memory(csvw *w, char **buf, size_t *len);
/* Writes what is buffered, fsyncs and closes; -1 with errno (and w->err) when any write of the
 * file failed. The file is closed either way. */
int csvw_finish(csvw *w);
/* The bytes written so far (what is buffered is written first), read back from the file into
 * *buf (malloc'd, *len bytes); -1 with errno when the file cannot be written or read. */
int csvw_read_back(csvw *w, char **buf, size_t *len);
/* The whole file open as fd into *buf (malloc'd, NUL-terminated, *len bytes); -1 with errno. */
int fd_read_all(int fd, char **buf, size_t *len);
/* From now on the file is written gzip-compressed (before anything is written); -1 on out of memory. */
int csvw_gzip(csvw *w);
/* Closes without writing what is left (a failed run); frees. NULL is a no-op. */
void csvw_free(csvw *w);

/* Bytes as they are, and printf-formatted text (run_summary.json). */
void csvw_raw(csvw *w, const char *s, size_t n);
void csvw_printf(csvw *w, const char *fmt, ...) DF_PRINTF(2, 3);

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
/* Appends captured row i of src (src's spans, 0-based) after dst's rows (the merge of shards). */
int csvw_append_row(csvw *dst, const csvw *src, uint64_t i);

/* ---- spreadsheet options and typed cells ----
 * csvw_configure: sep ',' ';' or '\t'; dec_comma: numbers with a decimal comma; guard: the
 * formula guard of text cells (1 by default); bom: a UTF-8 byte order mark first (a file writer
 * only); typed: keep typed cells instead of CSV text (before any cell is written). */
void csvw_configure(csvw *w, char sep, int dec_comma, int guard, int bom, int typed);
/* A number with exactly places decimals (49.90); a date (its days since 1970 and its text). */
void csvw_fixed(csvw *w, double v, int places);
void csvw_date(csvw *w, int32_t days, const char *s, size_t n);

/* TYPED CELLS: in a typed writer each cell is a record: a tag byte, then for TEXT and PLAIN a
 * uint32 length and the bytes, NUM a double, FIXED a double and a places byte, DATE an int32
 * and a length byte and the text; EMPTY and RANK (the row's position in its list, from 1) have
 * nothing more. Rows are spans like captured CSV rows. */
enum { TC_TEXT = 1, TC_PLAIN, TC_NUM, TC_FIXED, TC_DATE, TC_EMPTY, TC_RANK };
typedef struct tcell {
    int tag;
    const char *s; /* TEXT, PLAIN, DATE */
    size_t n;
    double v; /* NUM, FIXED */
    int places; /* FIXED */
    int32_t days; /* DATE */
} tcell;
/* Decodes the cell at *p (below end) into c and moves *p past it. */
void tcell_next(const char **p, tcell *c);
/* Row i of typed writer w (i = -1: the header) as [*start, *end). */
void csvw_typed_row(const csvw *w, int64_t i, const char **start, const char **end);
uint64_t csvw_typed_rows(const csvw *w);
/* Writes rows order[0..n) of typed writer src as CSV into dst (with dst's options), the header
 * first when dst has none yet, a rank numbered from 1. */
void csvw_emit(csvw *dst, const csvw *src, const uint32_t *order, size_t n);

/* "dir/file", malloc'd (NULL on out of memory). */
char *path_join(const char *dir, const char *file);

/* Formats a number plainly: integers without a point, others with at most 15 significant
 * digits and no exponent, trailing zeros dropped. Returns the length. */
int format_number(double v, char *buf, size_t cap);

#endif
