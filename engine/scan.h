/* scan.h: history aggregates computed in C over the rows of a block of entities (the structs
 * are in scoreapi.h, shared with the Lua side that describes the scan). */
#ifndef DF_SCAN_H
#define DF_SCAN_H

#include "scoreapi.h"

/* Prepares a scan; NULL with a message in err when the description is inconsistent or memory
 * runs out. The spec's arrays must outlive the scan (the Lua side keeps them). */
struct df_scan *df_scan_new(const df_scan_spec *spec, char *err, size_t errcap);
void df_scan_free(struct df_scan *s);

/* The rows of entities lo .. hi - 1 on which function filter `fn` (a DF_ST_MASK test's fn) must
 * be called: those that pass every other test of an aggregate that has it. Written to rows as
 * offsets from offsets[lo]; returns how many. */
int64_t df_scan_candidates(struct df_scan *s, uint64_t lo, uint64_t hi, int32_t fn, uint32_t *rows);

/* The aggregates of entities lo .. hi - 1 into out[(e - lo) * naggs + k]: count and any as
 * numbers (any: 0 or 1), sums and values as numbers (decimals in units, dates in days,
 * categories as their code, texts as their row), NaN when no row gave a value. masks[fn] holds,
 * for each row from offsets[lo], the result of function filter fn. Returns 0, or -1 when a sum
 * passed what an int64 holds: bad[0] = the aggregate, bad[1] = e - lo. */
int df_scan_run(struct df_scan *s, uint64_t lo, uint64_t hi, const uint8_t *const *masks, double *out, int32_t *bad);

#endif
