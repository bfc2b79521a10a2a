/* collect.h: the history aggregates that need every value of an entity's rows before they can
 * answer (count_distinct, most_frequent, active_months): scan.c hands each selected row's value
 * to a collection, and asks for the answer when the entity's rows are done. */
#ifndef DF_COLLECT_H
#define DF_COLLECT_H

#include <stdint.h>

#include "scoreapi.h"

typedef struct collection {
    int64_t *v;   /* values (numbers, dates, category codes) or, for a text column, rows */
    void *keys;   /* scratch for sorting texts */
    uint64_t n, cap, kcap;
} collection;

/* The answer of a collecting aggregate: n (count_distinct), v/row/has (most_frequent: the value,
 * the row of a text value, whether any), or v as a bit mask (active_months). */
typedef struct collected {
    int64_t n, v;
    uint64_t row;
    int has;
} collected;

/* Appends a value; -1 when memory runs out. */
int collect_push(collection *c, int64_t v);
/* The answer of aggregate kind (DF_SA_DISTINCT, DF_SA_MODE, DF_SA_MONTHS) over the values of
 * column col collected so far, then empties c; -1 when memory runs out. */
int collect_finish(collection *c, int kind, const df_scan_col *col, collected *out);
void collect_free(collection *c);
/* The calendar month of a date in days since 1970-01-01, as year * 12 + month - 1. */
int64_t collect_month(int32_t days);

#endif
