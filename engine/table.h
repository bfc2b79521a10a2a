/* table.h: one input table as the rule file declares it, and what loading it found.
 * The entity table (e.g. customers) has one row per key and a key index; a history table has
 * many rows per key, each row carrying its entity row (owner) until group.c orders the rows
 * by entity and fills offsets (history rows of entity e are [offsets[e], offsets[e+1])). */
#ifndef DF_TABLE_H
#define DF_TABLE_H

#include <stdint.h>

#include "column.h"
#include "dialect.h"
#include "strmap.h"

#define DF_MAX_COLUMNS 256
#define DF_EXAMPLES 5

typedef struct table_stats {
    uint64_t bytes;        /* file size on disk */
    uint64_t bytes_text;   /* decompressed bytes */
    double decompress_cpu, parse_cpu; /* CPU seconds: reading and inflating; parsing into columns */
    uint64_t rows_read;    /* data records (header excluded) */
    uint64_t rows_loaded;
    uint64_t rejected;     /* malformed rows (set aside with --max-rejects) */
    uint64_t duplicates;   /* entity: rows whose key was already seen (first kept) */
    uint64_t orphans;      /* history: rows whose key is not an entity */
    uint64_t future;       /* history: rows dated after the as-of date */
    uint64_t blank_lines;  /* empty lines skipped */
    uint64_t empty_rows;   /* rows of empty fields only (Excel's ",,,,") skipped */
    uint64_t empty_header_cells; /* empty cells at the end of the header (Excel), ignored */
    uint64_t empty_keys;   /* from_history: rows without a key, set aside (counted, not bad input) */
    uint64_t header_columns, ignored_columns;
    char sha256[65]; /* the file's SHA-256; of an export in parts: of the parts' hashes in name order */
    char dup_examples[DF_EXAMPLES][64];
    char orphan_examples[DF_EXAMPLES][64];
} table_stats;

typedef struct table {
    char *name;     /* name in the rule file, e.g. "events" */
    char *file;     /* file name in the data folder */
    char *path;     /* data folder + file */
    int is_history;
    int is_interval; /* history with ends (products, contracts): its newest start says nothing of the export's age */
    int from_history; /* entity { from = h } (transactions.lua): the entity is the keys of a history, whose
                         repeats are expected; on it and on that history, rows without a key are counted */
    dialect dl;     /* how the file writes its CSV (delimiter, numbers, dates, encoding) */
    char *key;      /* key column */
    char *date_col; /* history: date column compared with the as-of date (NULL: none) */
    int ncols;
    column cols[DF_MAX_COLUMNS]; /* declared columns; an entity's key column is among them */
    int key_col, date_idx;       /* indexes into cols (-1 when not stored) */
    strmap keys;                 /* entity: key -> row, dropped once the histories are read */
    uint64_t keys_bytes;         /* what keys held, once dropped (for table_bytes) */
    uint32_t *owner;             /* history: entity row of each row (freed by grouping) */
    uint64_t owner_cap;
    uint64_t *offsets;           /* history after grouping: n_entities + 1 */
    uint64_t nrows;
    int parts; /* files read for this table when its name is a pattern (events-*.csv.gz) */
    table_stats st;
} table;

void table_free(table *t);
/* An empty table with t's name, key, date column and columns, reading path. -1 on OOM. */
int table_clone_spec(table *dst, const table *t, const char *path);
/* Appends src's rows (same columns in the same order) to dst, re-mapping category codes. */
int table_append_rows(table *dst, const table *src);
/* The same for entity rows parsed apart (a block): their keys are interned into dst->keys in
 * order, and a key dst already has is a duplicate, counted with an example and left out.
 * Returns the number left out, -1 on out of memory. */
int64_t table_append_entity_rows(table *dst, const table *src);
/* Frees the entity's key index: once every history has found its rows' entities, nothing reads
 * it, and on 1M customers it is 90 MB (slots, keys again, their offsets) of the peak. */
void table_drop_keys(table *t);
/* Bytes the table holds in memory: its columns (capacity), key index (while loading), offsets. */
uint64_t table_bytes(const table *t, uint64_t n_entities);
/* Keeps s as example number count (from 1) when there is room. */
void table_note_example(char ex[DF_EXAMPLES][64], uint64_t count, const char *s, size_t n);
/* Adds the counts of s to d (examples kept up to DF_EXAMPLES). */
void table_add_stats(table_stats *d, const table_stats *s);
int table_find_col(const table *t, const char *name);

#endif
