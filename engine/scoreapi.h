/* scoreapi.h: the C functions and shared state the Lua side calls while scoring, declared once.
 * The text between the ffi markers is also what the Lua side hands to ffi.cdef (embedded by
 * cmake/embed_lua.cmake as module "defector.cdef"), so it must stay plain C declarations: no
 * preprocessor lines, no macros, only types ffi.cdef knows. */
#ifndef DF_SCOREAPI_H
#define DF_SCOREAPI_H

#include <stddef.h>
#include <stdint.h>

/* ffi:begin */
/* A history scan: the aggregates of one history table over the rows of a block of entities,
 * computed in C (engine/scan.c) from a description the Lua side builds (engine/lua/scan.lua).
 * Column types, aggregate kinds and test operators: */
enum { DF_SC_INT, DF_SC_DECIMAL, DF_SC_DATE, DF_SC_CATEGORY, DF_SC_TEXT };
enum { DF_SA_COUNT, DF_SA_ANY, DF_SA_SUM, DF_SA_MIN, DF_SA_MAX, DF_SA_LATEST, DF_SA_EARLIEST,
       DF_SA_DISTINCT, DF_SA_MODE, DF_SA_MONTHS }; /* the last three collect values (engine/collect.c) */
enum {
    DF_ST_SET,     /* category: set[code] != 0 */
    DF_ST_MASK,    /* a function filter: masks[fn][row - first row of the block] != 0 */
    DF_ST_PRESENT, /* the cell has a value (text: not empty) */
    DF_ST_EMPTY,
    DF_ST_GT, DF_ST_GE, DF_ST_LT, DF_ST_LE, /* int, decimal, date: against i (or x when !exact); text: against texts[0] */
    DF_ST_IN,      /* int, decimal, date: one of list[0..n); text: one of texts[0..n) */
    DF_ST_REL      /* date: base[e] + lo_days <= date <= base[e] + hi_days, base[e] the entity's own date
                      (e from the first entity of the block; DF_NA_DATE: no row passes) */
};

typedef struct df_scan_col {
    int32_t type;        /* DF_SC_* */
    const void *data;    /* int64_t* (int, decimal micro-units), int32_t* (date), uint32_t* (category), char* (text arena) */
    const uint64_t *offs; /* text: row i is data[offs[i] .. offs[i+1]) */
    const int32_t *rank; /* category: code -> rank of its text in byte order (min, max, ties) */
    uint32_t ncodes;     /* category: size of its dictionary */
} df_scan_col;

typedef struct df_scan_test {
    int32_t agg;         /* the aggregate this test belongs to */
    int32_t op;          /* DF_ST_* */
    int32_t col;
    int32_t exact;       /* comparisons: 1 = compare with i, 0 = with x */
    int64_t i;
    double x;
    const uint8_t *set;  /* SET: by code (ncodes bytes) */
    int32_t fn;          /* MASK: which mask */
    int32_t n;           /* IN: entries in list or texts */
    const int64_t *list;
    const char *const *texts;
    const int32_t *lens;
    const int32_t *base; /* REL: per entity of the block */
    int32_t lo_days, hi_days;
} df_scan_test;

typedef struct df_scan_agg {
    int32_t kind;        /* DF_SA_* */
    int32_t col;         /* the value column, -1 for count and any */
    int32_t tie;         /* latest, earliest on one date: 0 the first in the file, 1 the lowest value, 2 the highest */
    int32_t col2;        /* sum: the column col is multiplied by, row by row (product(a, b)); -1 none */
} df_scan_agg;

/* Customer models (engine/models.c): BG/NBD (r, alpha, a, b) and Gamma-Gamma (p, q, v)
 * parameters, the figures of a fit, and the per-customer inputs computed from a history. Times
 * are in the model's unit (days or weeks); x is the number of repeat purchase days. */
typedef struct df_bgnbd { double r, alpha, a, b; } df_bgnbd;
typedef struct df_gg { double p, q, v; } df_gg;
typedef struct df_fit {
    double ll;           /* the log-likelihood at the parameters */
    int64_t customers;   /* customers in the fit */
    int64_t distinct;    /* distinct (x, t_x, T) the likelihood was summed over (BG/NBD) */
    int32_t iterations, converged;
} df_fit;
typedef struct df_rfm_spec {
    const uint64_t *offsets; /* entity e's rows are [offsets[e], offsets[e+1]) */
    const int32_t *dates;    /* the history's date column, days */
    const int64_t *amounts;  /* the spend column (int, or decimal micro-units), NULL for none */
    double amount_scale;     /* 1e6 for a decimal column, 1 for an int */
    int32_t cal_end, as_of;  /* purchase days after cal_end and up to as_of are the holdout's */
} df_rfm_spec;
typedef struct df_rfm_out {  /* per entity, indexed from lo */
    int32_t *x;              /* repeat purchase days in the calibration; -1: no purchase */
    int32_t *first, *last;   /* first and last purchase day (calibration) */
    int32_t *holdout;        /* purchase days after cal_end, up to as_of */
    double *spend;           /* mean spend of the repeat purchase days (a day's rows summed), NaN when none */
} df_rfm_out;
typedef struct df_models_api {
    /* rows: candidate rows of entities lo .. hi - 1 as offsets from offsets[lo], ascending; 0
     * ok, or 1 + the entity (from lo) whose purchase row has an empty spend */
    int64_t (*rfm)(const df_rfm_spec *s, uint64_t lo, uint64_t hi, const uint32_t *rows, int64_t nrows, df_rfm_out *out);
    /* fits over the customers with x >= 0 (t_x, T in the unit); 0 ok, -1 out of memory */
    int (*bgnbd_fit)(const int32_t *x, const double *tx, const double *T, int64_t n, df_bgnbd *p, df_fit *f);
    double (*bgnbd_ll)(const df_bgnbd *p, double x, double tx, double T);
    double (*p_alive)(const df_bgnbd *p, double x, double tx, double T);
    double (*expected)(const df_bgnbd *p, double x, double tx, double T, double t);
    double (*expected_new)(const df_bgnbd *p, double t);
    double (*prob_n)(const df_bgnbd *p, double t, int32_t n);
    int (*gg_fit)(const int32_t *x, const double *m, int64_t n, df_gg *p, df_fit *f);
    double (*gg_spend)(const df_gg *p, double x, double m);
    double (*clv)(const df_bgnbd *p, double x, double tx, double T, double spend, int32_t months,
                  double per_month, double discount);
} df_models_api;

typedef struct df_scan_spec {
    const uint64_t *offsets; /* entity e's rows are [offsets[e], offsets[e+1]) */
    int32_t date_col;        /* the history's date column, -1 when none */
    int32_t ncols, naggs, ntests, nmasks;
    const df_scan_col *cols;
    const df_scan_agg *aggs;
    const df_scan_test *tests;
} df_scan_spec;

struct df_scan;

typedef struct df_watch {
    volatile double row;        /* the entity being scored (its row) >= 0; -1 idle; <= -2 other user
                                   code (top level, metrics functions...): a new value per unit */
    volatile const char *what;  /* the rule code (or feature, stage, "the rule file's top level"...) */
    volatile const char *file;  /* the user's file running, NULL for the rule file */
    volatile int32_t line;      /* its line (of the rule, or the line reached at the top level), 0 unknown */
    char pad[36];               /* a cache line each: states scoring in parallel write theirs often */
} df_watch;

typedef struct df_api {
    void *ctx;
    int (*open)(void *ctx, const char *name);
    void (*text)(void *ctx, int f, const char *s, size_t n);
    void (*plain)(void *ctx, int f, const char *s, size_t n);
    void (*number)(void *ctx, int f, double v);
    void (*empty)(void *ctx, int f);
    void (*end_row)(void *ctx, int f);
    double (*now)(void);
    void (*progress)(void *ctx, double done, double total);
    void (*row_begin)(void *ctx, int f);
    void (*row_split)(void *ctx, int f);
    void (*row_end)(void *ctx, int f);
    int (*write_rows)(void *ctx, int f, const uint32_t *order, size_t n);
    struct df_watch *watch;
    volatile int *first_failed; /* parallel scoring: the lowest part that failed (parts: none) */
    /* history scans (engine/scan.c) */
    struct df_scan *(*scan_new)(const struct df_scan_spec *spec, char *err, size_t errcap);
    int64_t (*scan_candidates)(struct df_scan *s, uint64_t lo, uint64_t hi, int32_t test, uint32_t *rows);
    int (*scan_run)(struct df_scan *s, uint64_t lo, uint64_t hi, const uint8_t *const *masks, double *out,
                    int32_t *bad);
    void (*scan_free)(struct df_scan *s);
    /* a text cell straight from a text column: row's bytes arena[offs[row] .. offs[row+1]) */
    void (*text_at)(void *ctx, int f, const uint64_t *offs, const char *arena, uint64_t row);
    /* outputs for spreadsheets (engine/lua/sheets.lua): a file's CSV options, or typed cells
     * (typed = 1) for a writer that only keeps rows (capture) until they are emitted as a CSV
     * file or a workbook sheet; a number with fixed decimals; a date (days, and its text) */
    void (*configure)(void *ctx, int f, int sep, int dec_comma, int guard, int bom, int typed);
    void (*fixed)(void *ctx, int f, double v, int places);
    void (*date)(void *ctx, int f, int32_t days, const char *s, size_t n);
    int (*capture)(void *ctx);
    int (*emit)(void *ctx, int src, int dst, const uint32_t *order, size_t n);
    int (*book)(void *ctx, const char *name);
    int (*sheet)(void *ctx, int book, int src, const char *name, const uint32_t *order, size_t n, int band_col,
                 const char *bands, const char *places);
    /* the report (engine/lua/report.lua): the bytes of an output this run has written so far
     * (read back from its staged file: the report shows the same cells), into *data until the
     * next call; 0 ok, 1 no such output, -1 it cannot be read (errno). raw: bytes as they are. */
    int (*read_back)(void *ctx, const char *name, const char **data, size_t *len);
    void (*raw)(void *ctx, int f, const char *s, size_t n);
    /* a file of the night's history folder (--history; gzip when its name ends in .gz): like
     * open, -1 when the run keeps no history */
    int (*open_history)(void *ctx, const char *name);
    /* customer models (engine/models.c) */
    const df_models_api *models;
} df_api;
/* ffi:end */

#endif
