/* column.h: typed columns with an explicit "empty" state.
 *   INT      int64, empty = DF_NA_I64
 *   DECIMAL  int64 micro-units (value * 10^6, exact), empty = DF_NA_I64
 *   DATE     int32 days since 1970-01-01, empty = DF_NA_DATE
 *   CATEGORY uint32 codes into a dictionary (low-cardinality text), code 0 = empty text
 *   TEXT     bytes in an arena, row i = arena[offs[i] .. offs[i+1]), empty = length 0
 * Arrays grow by doubling: no allocation per row. */
#ifndef DF_COLUMN_H
#define DF_COLUMN_H

#include <stddef.h>
#include <stdint.h>

#include "strmap.h"

struct dialect;

typedef enum col_type { COL_INT, COL_DECIMAL, COL_DATE, COL_CATEGORY, COL_TEXT } col_type;

#define DF_NA_I64 INT64_MIN
#define DF_NA_DATE INT32_MIN
#define DF_DECIMAL_SCALE 1000000
#define DF_DECIMAL_DIGITS 6

typedef struct column {
    char *name;
    col_type type;
    int required;    /* an empty value rejects the row */
    /* CATEGORY: the values the rule file allows (category { ... }), or NULL for any; a value
     * outside them rejects the row. Owned by the column that set it (allowed_owner), shared by
     * its copies for parallel parsing. */
    struct allowed *allowed;
    int allowed_owner;
    uint64_t n, cap;
    int64_t *i64;    /* INT, DECIMAL */
    int32_t *date;   /* DATE */
    uint32_t *codes; /* CATEGORY */
    strmap dict;     /* CATEGORY: code -> text; code 0 is "" */
    uint64_t *offs;  /* TEXT: n + 1 offsets */
    char *arena;
    uint64_t arena_len, arena_cap;
} column;

/* A parsed cell waiting to be appended (the loader stages a whole row before committing). */
typedef struct cell {
    int64_t i; /* INT, DECIMAL, DATE, CATEGORY code */
    const char *s;
    size_t n; /* TEXT */
} cell;

int column_init(column *c, const char *name, col_type type);
/* The allowed values of a category column: values[0..n) (copied); -1 on out of memory. */
int column_allow(column *c, const char *const *values, const size_t *lens, int n);
/* NULL when row text s[0..n) may be stored in c, else why not ("not one of ..."). */
const char *column_refuses(const column *c, const char *s, size_t n);
void column_free(column *c);
const char *col_type_name(col_type t);
int col_type_from_name(const char *s, col_type *t);

/* Parses text into a cell of the column's type, in dialect d (NULL: the default: '.' decimals,
 * YYYY-MM-DD dates). Returns NULL on success, else the reason ("not a date (expected
 * YYYY-MM-DD)", ..., with what to declare when the text has another known form; the text of a
 * reason with a hint lasts until the thread's next refusal). Empty text is the empty value. */
const char *column_parse(column *c, const char *s, size_t n, cell *out, const struct dialect *d);
/* Appends a parsed cell; -1 on out of memory. */
int column_append(column *c, const cell *v);
int column_reserve(column *c, uint64_t n);
/* Reorders rows: new row i = old row perm[i] (perm holds n distinct rows). -1 on OOM. */
int column_permute(column *c, const uint32_t *perm, uint64_t n);
/* Bytes held by the column's arrays (for the run summary). */
uint64_t column_bytes(const column *c);

static inline const char *column_text(const column *c, uint64_t row, size_t *n)
{
    if (c->type == COL_CATEGORY) return strmap_str(&c->dict, c->codes[row], n);
    *n = (size_t)(c->offs[row + 1] - c->offs[row]);
    return c->arena + c->offs[row];
}

/* 0, -1 (not an integer), -2 (out of range: values are within +-INT64_MAX, INT64_MIN being
 * the empty marker). */
int parse_int64(const char *s, size_t n, int64_t *out);
/* 0, or -1 with *why: not a decimal, more than 6 places, out of range (+-INT64_MAX micro-units). */
int parse_decimal(const char *s, size_t n, int64_t *out, const char **why);

#endif
