/* csvload.h: streams one CSV (gzip or plain) into a table's typed columns: one-line records
 * split by csvload's own fast path, everything else (and every malformed line) by libcsv.
 * Lines end at \n, \r\n or a lone \r. The outcome (rows, cells, rejects, the error and its
 * file:line: column) is the same for every thread count, block size, read size and parse path.
 * A table is read in its declared dialect (t->dl, dialect.h: delimiter, numbers, dates, blank
 * cells, encoding); text is checked to be UTF-8 unless an encoding is declared. */
#ifndef DF_CSVLOAD_H
#define DF_CSVLOAD_H

#include "error.h"
#include "table.h"

typedef struct progress progress;

/* A record set aside (--max-rejects): the file it is in (as the rule file names it), the line
 * where it begins, the column at fault (NULL: the record as a whole), why, and its raw text
 * without its line end. */
typedef void (*load_reject_fn)(void *ctx, const char *file, uint64_t line, const char *col_name, const char *reason,
                               const char *raw, size_t raw_len);

typedef struct load_opts {
    int32_t as_of;        /* history rows dated after it are counted and dropped */
    long max_rejects;     /* malformed rows tolerated; beyond that the load fails */
    uint64_t *rejects;    /* running count over all files */
    load_reject_fn on_reject; /* each record set aside, or NULL */
    void *reject_ctx;
    progress *prog;       /* NULL: no progress line */
    const char *display;  /* name used in messages (default: t->path) */
    int threads;          /* > 1: decompress in a second thread while parsing */
    const char *only_key; /* explain: keep only this entity (and its history rows) */
    size_t block_bytes;   /* threads > 1: text per parsing block of a history (0: 8 MB) */
    int libcsv_only;      /* tests: every line through libcsv (no one-line fast path) */
    size_t max_record;    /* bytes a record may take before its line end (0: 64 MB); tests set less */
    size_t chunk;         /* bytes per read of the text (0: 1 MB); tests set less */
    int part;             /* one part of an export in parts: the "no rows" check is parts_load's */
    const char *id_salt;  /* --hash-ids: a rejected row is quoted in messages as its salted hash */
    const uint8_t *keep;  /* run --shard: a history row of entity e is kept when keep[e] (counted either way) */
} load_opts;

/* Loads t (its path, columns, key and date column set). A history table needs the loaded
 * entity table to resolve its keys. An entity table that ends up without rows is an error
 * (csvload_no_rows), a history without rows is not. */
df_status csvload_table(table *t, const table *entity, const load_opts *o, df_error *err);
/* The entity table t has no rows (a header-only file, every row set aside): an error, DF_ERR_DATA,
 * naming display; DF_OK when t has rows, is a history, or only one entity was asked for. */
df_status csvload_no_rows(const table *t, const load_opts *o, const char *display, df_error *err);

/* Reads only the header line of a CSV (gzip or plain) in dialect dl (NULL: the default):
 * *names (malloc'd, n of them). */
df_status csvload_header(const char *path, const dialect *dl, char ***names, int *n, df_error *err);

/* The distinct values of column `column` of a CSV (gzip or plain), in order of appearance, at
 * most `max`, interned into values (an initialised strmap). A column the header lacks gives
 * none. For defector check --data. */
df_status csvload_distinct(const char *path, const dialect *dl, const char *colname, strmap *values, size_t max, df_error *err);

#endif
