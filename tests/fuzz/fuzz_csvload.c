/* fuzz_csvload.c: the CSV loader, every parse path against every other (issue 8 point 8a).
 *
 * An input is one flags byte and a CSV text. The flags pick a table (four schemas: entity or
 * history, text, int, decimal, date, category, a required column) and a record limit (48 bytes
 * when bits 2 and 3 are set, else the real 64 MB), and the read and block sizes of the small configurations. The text is
 * loaded seven ways: one thread with 1 MB reads (the reference), libcsv only, tiny reads, tiny
 * reads through libcsv, two and three threads with tiny blocks, two threads with 8 MB blocks
 * reading a gzip copy of the text.
 * All must give the same status, the same error (where and message), and when the load
 * succeeds the same counts, cells, key index and owners. Then with rejects allowed, the four
 * single-thread ways and two threads on the gzip copy (one decompressing, one parsing) must set
 * aside the same records (file, line, column, reason, raw text). Then the seven ways again in an
 * input dialect picked by the text's length (issue 10: ',' with thousands '.', blank cells empty
 * and Windows-1252; ';' with a decimal comma and dd/mm/yyyy dates; "spaces" with yyyymmdd), which
 * must agree with each other just the same.
 * Any difference is a finding: it says which ways differ and how, and aborts. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csvload.h"
#include "fuzz.h"

typedef struct out {
    char *s;
    size_t n, cap;
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(o->s ? o->s + o->n : NULL, o->s ? o->cap - o->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (o->s && o->n + (size_t)k < o->cap) {
            o->n += (size_t)k;
            return;
        }
        o->cap = (o->cap + (size_t)k + 1) * 2;
        o->s = realloc(o->s, o->cap);
        if (!o->s) abort();
    }
}

static void put_bytes(out *o, const char *s, size_t n)
{
    put(o, "%zu:", n);
    for (size_t i = 0; i < n; i++) put(o, "%02x", (unsigned char)s[i]);
    put(o, " ");
}

/* ---- the tables an input can be loaded into ---- */
typedef struct schema {
    int history;
    const char *date;
    int n;
    const char *cols[4]; /* "name:type", "!" at the end: required */
} schema;

static const schema schemas[4] = {
    {0, NULL, 3, {"id:text", "a:text", "n:int"}},
    {0, NULL, 4, {"id:text", "c:category", "d:decimal", "t:date!"}},
    {1, "t", 4, {"id:text", "t:date", "n:int", "c:category"}},
    {1, NULL, 2, {"a:text", "d:decimal"}},
};

/* the dialect tables are made in (the default, or one of the pass over dialects) */
static dialect cur_dl;

static void make_table(table *t, const schema *sc, const char *path)
{
    memset(t, 0, sizeof *t);
    if (dialect_copy(&t->dl, &cur_dl) != 0) abort();
    t->name = strdup(sc->history ? "events" : "customers");
    t->file = strdup("in.csv");
    t->path = strdup(path);
    t->key = strdup("id");
    t->date_col = sc->date ? strdup(sc->date) : NULL;
    t->is_history = sc->history;
    for (int i = 0; i < sc->n; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "%s", sc->cols[i]);
        char *colon = strchr(spec, ':'), *bang = strchr(spec, '!');
        *colon = 0;
        if (bang) *bang = 0;
        col_type ty;
        col_type_from_name(colon + 1, &ty);
        column_init(&t->cols[t->ncols], spec, ty);
        t->cols[t->ncols++].required = bang != NULL;
    }
}

/* the entity table histories are read against: keys 1..9, a, b, C1 */
static table entity;
static int entity_loaded;

static void load_entity(void)
{
    if (entity_loaded) return;
    const char text[] = "id,a,n\n1,,\n2,,\n3,,\n4,,\n5,,\n6,,\n7,,\n8,,\n9,,\na,,\nb,,\nC1,,\n";
    const char *path = fuzz_path("entity.csv");
    if (fuzz_write(path, text, sizeof text - 1) != 0) fuzz_finding("cannot write %s", path);
    make_table(&entity, &schemas[0], path);
    uint64_t rejects = 0;
    load_opts o = {.rejects = &rejects};
    df_error err;
    if (csvload_table(&entity, NULL, &o, &err) != DF_OK) fuzz_finding("the entity table does not load: %s", err.message);
    entity_loaded = 1;
}

/* ---- one way of loading, and what it gave ---- */
typedef struct way {
    const char *name;
    int threads, libcsv_only;
    size_t chunk, block;
    int gz; /* reads the gzip copy of the text */
} way;

static void put_stats(out *o, const table *t)
{
    const table_stats *s = &t->st;
    put(o, "rows_read %llu loaded %llu rejected %llu dups %llu orphans %llu future %llu blank %llu header %llu ignored %llu\n",
        (unsigned long long)s->rows_read, (unsigned long long)s->rows_loaded, (unsigned long long)s->rejected,
        (unsigned long long)s->duplicates, (unsigned long long)s->orphans, (unsigned long long)s->future,
        (unsigned long long)s->blank_lines, (unsigned long long)s->header_columns, (unsigned long long)s->ignored_columns);
    for (int k = 0; k < DF_EXAMPLES; k++) put(o, "ex %s|%s\n", s->dup_examples[k], s->orphan_examples[k]);
}

static void put_cells(out *o, const table *t)
{
    put(o, "nrows %llu\n", (unsigned long long)t->nrows);
    for (uint64_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const column *col = &t->cols[c];
            size_t n;
            const char *s;
            switch (col->type) {
            case COL_INT:
            case COL_DECIMAL: put(o, "%lld ", (long long)col->i64[r]); break;
            case COL_DATE: put(o, "%d ", col->date[r]); break;
            case COL_CATEGORY:
            case COL_TEXT:
                s = column_text(col, r, &n);
                put_bytes(o, s, n);
                break;
            }
        }
        if (t->is_history) put(o, "owner %u", t->owner[r]);
        else {
            size_t n;
            const char *k = column_text(&t->cols[t->key_col], r, &n);
            if (strmap_find(&t->keys, k, n) != (int64_t)r) put(o, "KEY INDEX WRONG");
        }
        put(o, "\n");
    }
    if (!t->is_history) put(o, "keys %u\n", t->keys.n);
}

static void on_reject(void *ctx, const char *file, uint64_t line, const char *col, const char *reason, const char *raw,
                      size_t raw_len)
{
    out *o = ctx;
    put(o, "reject %s:%llu col %s: %s: ", file, (unsigned long long)line, col ? col : "-", reason);
    put_bytes(o, raw, raw_len);
    put(o, "\n");
}

static df_status load_way(const schema *sc, const char *path, const way *w, size_t max_record, long max_rejects, out *o)
{
    table t;
    char gzpath[1024];
    snprintf(gzpath, sizeof gzpath, "%s.gz", path);
    make_table(&t, sc, w->gz ? gzpath : path);
    int32_t as_of;
    df_parse_date("2026-11-01", 10, &as_of);
    uint64_t rejects = 0;
    load_opts lo = {.as_of = as_of, .max_rejects = max_rejects, .rejects = &rejects, .threads = w->threads,
                    .block_bytes = w->block, .chunk = w->chunk, .libcsv_only = w->libcsv_only,
                    .max_record = max_record, .display = "in.csv"};
    if (max_rejects) lo.on_reject = on_reject, lo.reject_ctx = o;
    df_error err;
    memset(&err, 0, sizeof err);
    df_status st = csvload_table(&t, sc->history ? &entity : NULL, &lo, &err);
    put(o, "status %d\n", st);
    if (st != DF_OK) {
        put(o, "where %s\nmessage %s\n", err.where, err.message);
        if (st == DF_ERR_INTERNAL || st == DF_ERR_NOMEM) fuzz_finding("way %s: %s: %s", w->name, err.where, err.message);
    } else {
        put_stats(o, &t);
        put_cells(o, &t);
    }
    table_free(&t);
    return st;
}

/* Ways a and b differ: their outputs, unless b reads the gzip copy and both refuse the input
 * file itself (what the text is, say UTF-16, is then said of the gzip file's content). */
static int outcomes_differ(const out *oa, df_status sa, const way *b, const out *ob, df_status sb)
{
    if (b->gz && sa == DF_ERR_IO && sb == DF_ERR_IO) return 0;
    return ob->n != oa->n || memcmp(ob->s, oa->s, oa->n) != 0;
}

static void differ(const char *what, const way *a, const out *oa, const way *b, const out *ob)
{
    size_t i = 0;
    while (i < oa->n && i < ob->n && oa->s[i] == ob->s[i]) i++;
    size_t from = i > 300 ? i - 300 : 0;
    fuzz_finding("%s: way %s and way %s differ at byte %zu:\n--- %s:\n%.*s\n--- %s:\n%.*s\n", what, a->name, b->name, i,
                 a->name, (int)((oa->n - from) < 1500 ? oa->n - from : 1500), oa->s + from, b->name,
                 (int)((ob->n - from) < 1500 ? ob->n - from : 1500), ob->s + from);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    load_entity();
    unsigned flags = data[0];
    const schema *sc = &schemas[flags & 3];
    size_t max_record = (flags & 12) == 12 ? 48 : 0;
    size_t tiny = 1 + (flags >> 3) % 7, block = 16 + ((flags >> 3) & 3) * 40;
    const char *path = fuzz_path("in.csv");
    if (fuzz_write(path, data + 1, size - 1) != 0) fuzz_finding("cannot write %s", path);
    if (fuzz_write_gz(path, data + 1, size - 1) != 0) fuzz_finding("cannot write %s.gz", path);
    const way ways[] = {
        {"1-thread", 1, 0, 0, 0, 0},
        {"libcsv", 1, 1, 0, 0, 0},
        {"tiny-reads", 1, 0, tiny, 0, 0},
        {"tiny-reads-libcsv", 1, 1, tiny + 3, 0, 0},
        {"2-threads-tiny-blocks", 2, 0, tiny, block, 0},
        {"3-threads-tiny-blocks-libcsv", 3, 1, tiny + 1, block + 7, 0},
        {"2-threads-8MB-blocks-gzip", 2, 0, 0, 0, 1},
    };
    /* with rejects allowed, threads decompress a gzip file in a thread of their own */
    const way reject_ways[] = {ways[0], ways[1], ways[2], ways[3], {"2-threads-gzip-pipe", 2, 0, tiny, 0, 1}};
    enum { NWAYS = sizeof ways / sizeof *ways };
    out o[NWAYS] = {{0}};
    df_status st[NWAYS];
    for (int i = 0; i < NWAYS; i++) {
        st[i] = load_way(sc, path, &ways[i], max_record, 0, &o[i]);
        if (i && outcomes_differ(&o[0], st[0], &ways[i], &o[i], st[i]))
            differ("stop at the first bad row", &ways[0], &o[0], &ways[i], &o[i]);
    }
    for (int i = 0; i < NWAYS; i++) free(o[i].s);
    /* rows set aside (--max-rejects): parsed by one thread, every way */
    enum { NREJ = sizeof reject_ways / sizeof *reject_ways };
    out r[NREJ] = {{0}};
    df_status rs[NREJ];
    for (int i = 0; i < NREJ; i++) {
        rs[i] = load_way(sc, path, &reject_ways[i], max_record, 1000000, &r[i]);
        if (i && outcomes_differ(&r[0], rs[0], &reject_ways[i], &r[i], rs[i]))
            differ("rejects allowed", &reject_ways[0], &r[0], &reject_ways[i], &r[i]);
    }
    for (int i = 0; i < NREJ; i++) free(r[i].s);
    /* the same ways in a declared dialect */
    static char iso[] = "%Y-%m-%d", eu[] = "%d/%m/%Y %H:%M", compact[] = "%Y%m%d";
    static const dialect dls[3] = {
        {.delim = ',', .decimal = '.', .thousands = '.', .numbers = 1, .date_format = iso, .blank_empty = 1, .encoding = ENC_CP1252},
        {.delim = ';', .decimal = ',', .numbers = 1, .date_format = eu, .encoding = ENC_LATIN1},
        {.delim = ' ', .spaces = 1, .decimal = '.', .date_format = compact},
    };
    cur_dl = dls[size % 3];
    out d[NWAYS] = {{0}};
    df_status ds[NWAYS];
    for (int i = 0; i < NWAYS; i++) {
        ds[i] = load_way(sc, path, &ways[i], max_record, 0, &d[i]);
        if (i && outcomes_differ(&d[0], ds[0], &ways[i], &d[i], ds[i])) differ("a declared dialect", &ways[0], &d[0], &ways[i], &d[i]);
    }
    for (int i = 0; i < NWAYS; i++) free(d[i].s);
    dialect_default(&cur_dl);
    return 0;
}

/* ---- replay --random: CSV texts made of the pieces that matter, mostly of the right type ---- */
static const char *const names[] = {"x", "\"a,b\"", "z", "\"x\"", "y", "\"\"", "t"};
static const char *const any[] = {
    "", "\"\"", "x y", " 1", "\"a,b\"", "\"a\"\"b\"", "\"line\nbreak\"", "\"cr\rinside\"", "\"crlf\r\ninside\"",
    "\"\"\"\"", "\"2026-10-01\"", "0123456789012345678901234567890123456789012345678901234567890123456789"};
static const char *const bad[] = {"a\"b", "\"a\"b", "\"open", "\"a\0b\"", "x\0", "1e3", "2026-02-30", "1.2345678",
                                  "-9223372036854775808", "10000000000000", "2026-1-01", "\"a\"\r"};
static const char *const keys[] = {"1", "2", "3", "a", "b", "C1", "9", "zz", "\"1\"", "1", "2", "C1"};
static const char *const ints[] = {"1", "-5", "+7", "", "9223372036854775807", "-9223372036854775807", "0", "\"12\""};
static const char *const decimals[] = {"12.5", "-0.000001", "9223372036854.775807", "7.", ".5", "", "+3", "\"1.5\""};
static const char *const dates[] = {"2026-10-01", "2027-01-01", "2026-11-01", "2026-11-02", "0000-01-01", "2024-02-29"};
static const char *const cats[] = {"login", "complaint", "", "\"x,y\"", "login", "\"\""};
static const char *const ends[] = {"\n", "\r\n", "\r", "\n", "\r\n\n", "\n\r"};

static size_t add(uint8_t *buf, size_t n, size_t cap, const char *s, size_t len)
{
    if (n + len > cap) len = cap - n;
    memcpy(buf + n, s, len);
    return n + len;
}

static size_t len_of(const char *v) /* the values holding a NUL */
{
    if (v[0] == '"' && v[1] == 'a' && v[2] == 0) return 5;
    if (v[0] == 'x' && v[1] == 0) return 2;
    return strlen(v);
}

#define PICK(a) a[fuzz_rand(rnd, sizeof a / sizeof *a)]

/* a value for a column of header name `name` (k: its type letter in the schema, 0: undeclared) */
static const char *value_for(uint32_t *rnd, const char *name, char type)
{
    if (fuzz_rand(rnd, 40) == 0) return PICK(bad);
    if (strcmp(name, "id") == 0) return fuzz_rand(rnd, 30) ? PICK(keys) : "";
    switch (type) {
    case 'i': return PICK(ints);
    case 'd': return type == 'd' && name[0] == 't' ? PICK(dates) : PICK(decimals);
    case 'c': return PICK(cats);
    default: return PICK(any);
    }
}

size_t fuzz_generate(uint32_t *rnd, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    buf[n++] = (uint8_t)fuzz_rand(rnd, 256);
    const schema *sc = &schemas[buf[0] & 3];
    const char *end = PICK(ends);
    int mixed = fuzz_rand(rnd, 4) == 0, ncols = 0;
    const char *cols[8];
    char types[8];
    for (int c = 0; c < sc->n; c++) cols[ncols] = sc->cols[c], types[ncols++] = sc->cols[c][strcspn(sc->cols[c], ":") + 1];
    if (sc->history && !sc->date) cols[ncols] = "id:", types[ncols++] = 0;
    if (fuzz_rand(rnd, 2)) cols[ncols] = fuzz_rand(rnd, 10) ? PICK(names) : "id", types[ncols++] = 0;
    if (fuzz_rand(rnd, 3) == 0) { /* in another order */
        int i = (int)fuzz_rand(rnd, (uint32_t)ncols), j = (int)fuzz_rand(rnd, (uint32_t)ncols);
        const char *tc = cols[i];
        char tt = types[i];
        cols[i] = cols[j], types[i] = types[j], cols[j] = tc, types[j] = tt;
    }
    if (fuzz_rand(rnd, 8) == 0) n = add(buf, n, cap, "\xEF\xBB\xBF", 3);
    char name[8][16];
    for (int c = 0; c < ncols; c++) {
        size_t len = strcspn(cols[c], ":");
        snprintf(name[c], sizeof name[c], "%.*s", (int)len, cols[c]);
        if (types[c] == 'd' && name[c][0] == 't') types[c] = 'd'; /* t: a date column */
        if (c) n = add(buf, n, cap, ",", 1);
        n = add(buf, n, cap, cols[c], len);
    }
    n = add(buf, n, cap, end, strlen(end));
    int rows = (int)fuzz_rand(rnd, 14);
    for (int r = 0; r < rows && n < cap - 300; r++) {
        if (fuzz_rand(rnd, 10) == 0) { /* a blank line */
            n = add(buf, n, cap, end, strlen(end));
            continue;
        }
        int fields = fuzz_rand(rnd, 30) ? ncols : (int)fuzz_rand(rnd, (uint32_t)ncols + 2);
        for (int f = 0; f < fields; f++) {
            const char *v = value_for(rnd, f < ncols ? name[f] : "x", f < ncols ? types[f] : 0);
            if (f) n = add(buf, n, cap, ",", 1);
            n = add(buf, n, cap, v, len_of(v));
        }
        const char *e = mixed ? PICK(ends) : end;
        if (r < rows - 1 || fuzz_rand(rnd, 2)) n = add(buf, n, cap, e, strlen(e));
    }
    return n;
}
