/* test_core_csvload.c: the loader on real CSV edge cases: the csv-spectrum suite, BOM, CRLF,
 * quotes and line breaks, blank lines, typed parsing with file:line:column errors, rejects,
 * duplicate keys, orphans and future-dated history rows, gzip input. */
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "csvload.h"
#include "group.h"
#include "test.h"

static char tmpdir[512];

static const char *write_file(const char *name, const char *content, size_t n, int gz)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, content, (unsigned)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(content, 1, n, f);
        fclose(f);
    }
    return path;
}

/* a table of the given columns ("name:type" ...) reading path */
static void mk_table(table *t, const char *path, const char *key, int history, const char *date, int n, ...)
{
    memset(t, 0, sizeof *t);
    t->name = strdup(history ? "events" : "customers");
    t->file = strdup(strrchr(path, '/') + 1);
    t->path = strdup(path);
    t->key = strdup(key);
    t->date_col = date ? strdup(date) : NULL;
    t->is_history = history;
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        char spec[128];
        snprintf(spec, sizeof spec, "%s", va_arg(ap, const char *));
        char *colon = strchr(spec, ':');
        *colon = 0;
        char *bang = strchr(colon + 1, '!'); /* "name:type!": required */
        if (bang) *bang = 0;
        col_type ty;
        col_type_from_name(colon + 1, &ty);
        column_init(&t->cols[t->ncols], spec, ty);
        t->cols[t->ncols++].required = bang != NULL;
    }
    va_end(ap);
}

static int libcsv_only; /* load(): every line through libcsv */

/* What the loader handed to on_reject, one "file|line|column|reason|raw" line per record. */
typedef struct seen_rejects {
    char text[2048];
} seen_rejects;

static void note_reject(void *ctx, const char *file, uint64_t line, const char *col_name, const char *reason,
                        const char *raw, size_t raw_len)
{
    seen_rejects *s = ctx;
    size_t k = strlen(s->text);
    snprintf(s->text + k, sizeof s->text - k, "%s|%llu|%s|%s|%.*s\n", file, (unsigned long long)line,
             col_name ? col_name : "(none)", reason, (int)raw_len, raw);
}

static df_status load(table *t, const table *entity, long max_rejects, uint64_t *rejects, seen_rejects *rej,
                      df_error *err)
{
    int32_t as_of;
    df_parse_date("2026-11-01", 10, &as_of);
    load_opts o = {.as_of = as_of, .max_rejects = max_rejects, .rejects = rejects, .libcsv_only = libcsv_only,
                   .on_reject = rej ? note_reject : NULL, .reject_ctx = rej};
    memset(err, 0, sizeof *err);
    return csvload_table(t, entity, &o, err);
}

static const char *text_at(const table *t, int col, uint64_t row)
{
    static char buf[4096];
    size_t n;
    const char *s = column_text(&t->cols[col], row, &n);
    snprintf(buf, sizeof buf, "%.*s", (int)n, s);
    return buf;
}

/* ---- csv-spectrum: every cell of every case ---- */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\\' && r[1]) {
            r++;
            *w++ = *r == 'n' ? '\n' : *r == 'r' ? '\r' : *r == 't' ? '\t' : *r;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
}

static int split_tabs(char *line, char **cells, int max)
{
    int n = 0;
    line[strcspn(line, "\n")] = 0;
    for (char *p = line; n < max;) {
        cells[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab) break;
        *tab = 0;
        p = tab + 1;
    }
    for (int i = 0; i < n; i++) unescape(cells[i]);
    return n;
}

static void spectrum_case(const char *name)
{
    char csv[1024], exp[1024];
    snprintf(csv, sizeof csv, "%s/data/csv-spectrum/%s.csv", getenv("TESTS_DIR"), name);
    snprintf(exp, sizeof exp, "%s/data/csv-spectrum/%s.expected", getenv("TESTS_DIR"), name);
    FILE *f = fopen(exp, "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[8192], *cells[16];
    fgets(line, sizeof line, f);
    int nh = split_tabs(line, cells, 16);
    table t;
    memset(&t, 0, sizeof t);
    t.name = strdup(name), t.file = strdup(name), t.path = strdup(csv), t.key = strdup(cells[0]);
    for (int i = 0; i < nh; i++) column_init(&t.cols[t.ncols++], cells[i], COL_TEXT);
    uint64_t rejects = 0;
    df_error err;
    df_status st = load(&t, NULL, 0, &rejects, NULL, &err);
    if (st != DF_OK) fprintf(stderr, "%s: %s: %s\n", name, err.where, err.message);
    CHECK_INT(st, DF_OK);
    uint64_t row = 0;
    while (fgets(line, sizeof line, f)) {
        int n = split_tabs(line, cells, 16);
        CHECK_INT(n, nh);
        for (int c = 0; c < n && row < t.nrows; c++) {
            CHECK_STR(text_at(&t, c, row), cells[c]);
        }
        row++;
    }
    CHECK_INT(t.nrows, row);
    fclose(f);
    table_free(&t);
}

static void test_spectrum(void)
{
    const char *cases[] = {"comma_in_quotes", "empty", "empty_crlf", "escaped_quotes", "json", "newlines",
                           "newlines_crlf", "quotes_and_newlines", "simple", "simple_crlf", "utf8"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) spectrum_case(cases[i]);

    /* a bare quote inside an unquoted field is not RFC 4180: rejected with line and column */
    char csv[1024];
    snprintf(csv, sizeof csv, "%s/data/csv-spectrum/location_coordinates.csv", getenv("TESTS_DIR"));
    table t;
    mk_table(&t, csv, "Cities", 0, NULL, 2, "Cities:text", "Location Coordinates:text");
    uint64_t rejects = 0;
    df_error err;
    CHECK_INT(load(&t, NULL, 0, &rejects, NULL, &err), DF_ERR_DATA);
    CHECK_CONTAINS(err.where, "location_coordinates.csv:2: column Location Coordinates");
    CHECK_CONTAINS(err.message, "malformed quoting");
    table_free(&t);
}

/* ---- quirks of real exports ---- */
static void test_quirks(void)
{
    const char data[] = "\xEF\xBB\xBF" "extra,amount,id,when,name\r\n"
                        "x,49.90,C1,2026-01-31,\"Smith, \"\"Ann\"\"\"\r\n"
                        "\r\n"
                        "y,9.9,C2,2024-02-29,\"two\r\nlines\"\r\n"
                        "z,-1.5,C3,,  spaced  \r\n"
                        ",,C4,2000-02-29,last row without newline";
    const char *path = write_file("quirks.csv.gz", data, sizeof data - 1, 1);
    table t;
    mk_table(&t, path, "id", 0, NULL, 4, "id:text", "name:text", "amount:decimal", "when:date");
    uint64_t rejects = 0;
    df_error err;
    df_status st = load(&t, NULL, 0, &rejects, NULL, &err);
    if (st) fprintf(stderr, "%s: %s\n", err.where, err.message);
    CHECK_INT(st, DF_OK);
    CHECK_INT(t.nrows, 4);
    CHECK_INT(t.st.blank_lines, 1);
    CHECK_INT(t.st.ignored_columns, 1);
    CHECK_INT(t.st.header_columns, 5);
    CHECK_STR(text_at(&t, 0, 0), "C1");
    CHECK_STR(text_at(&t, 1, 0), "Smith, \"Ann\"");
    CHECK_STR(text_at(&t, 1, 1), "two\r\nlines");
    CHECK_STR(text_at(&t, 1, 2), "  spaced  ");
    CHECK_STR(text_at(&t, 1, 3), "last row without newline");
    CHECK_INT(t.cols[2].i64[0], 49900000);
    CHECK_INT(t.cols[2].i64[1], 9900000);
    CHECK_INT(t.cols[2].i64[2], -1500000);
    CHECK_INT(t.cols[2].i64[3], DF_NA_I64);
    int32_t d;
    df_parse_date("2024-02-29", 10, &d);
    CHECK_INT(t.cols[3].date[1], d);
    CHECK_INT(t.cols[3].date[2], DF_NA_DATE);
    CHECK_INT(strmap_find(&t.keys, "C3", 2), 2);
    table_free(&t);
}

/* ---- errors name file, line (of the record's start), column and text ---- */
static void expect_error(const char *label, const char *content, const char *where, const char *msg)
{
    const char *path = write_file("bad.csv", content, strlen(content), 0);
    table t;
    mk_table(&t, path, "id", 0, NULL, 3, "id:text", "n:int", "d:date");
    uint64_t rejects = 0;
    df_error err;
    df_status st = load(&t, NULL, 0, &rejects, NULL, &err);
    if (st != DF_ERR_DATA) fprintf(stderr, "case %s\n", label);
    CHECK_INT(st, DF_ERR_DATA);
    CHECK_CONTAINS(err.where, where);
    CHECK_CONTAINS(err.message, msg);
    table_free(&t);
}

static void test_errors(void)
{
    expect_error("int", "id,n,d\nA,1,2026-01-01\nB,x1,2026-01-01\n", "bad.csv:3: column n", "not an integer");
    expect_error("int text", "id,n,d\nB,x1,2026-01-01\n", "bad.csv:2", "\"x1\"");
    expect_error("date", "id,n,d\nA,1,2026-02-29\n", "bad.csv:2: column d", "not a date");
    expect_error("after multiline", "id,n,d\n\"A\nB\nC\",1,2026-01-01\nD,2,01/02/2026\n", "bad.csv:5: column d", "\"01/02/2026\"");
    expect_error("field count", "id,n,d\nA,1\n", "bad.csv:2", "the header has 3, this row has 2");
    expect_error("too many", "id,n,d\nA,1,2026-01-01,x\n", "bad.csv:2", "this row has 4");
    expect_error("lone CR ends a record", "id,n,d\nA,1\r2,2026-01-01\n", "bad.csv:2", "the header has 3, this row has 2");
    expect_error("text of a one-line record", "id,n,d\nA,1,2026-01-01\nB,2,2026-13-01\n", "bad.csv:3: column d", "\"2026-13-01\"");
    expect_error("unterminated", "id,n,d\nA,1,2026-01-01\n\"B,2,2026-01-01\nC,3,2026-01-01\n", "bad.csv:3", "unterminated quoted field");
    expect_error("quote in field", "id,n,d\nA\"x,1,2026-01-01\n", "bad.csv:2: column id", "malformed quoting");
    expect_error("text after quote", "id,n,d\n\"A\"x,1,2026-01-01\n", "bad.csv:2", "malformed quoting");
    expect_error("empty key", "id,n,d\n,1,2026-01-01\n", "bad.csv:2: column id", "empty key");
    expect_error("missing column", "id,d\nA,2026-01-01\n", "bad.csv", "missing column(s) n");
    expect_error("missing column header", "id,d\nA,2026-01-01\n", "bad.csv", "The header has: id, d");
    expect_error("empty file", "", "bad.csv", "the file is empty");
    expect_error("no trimming", "id,n,d\nA, 1,2026-01-01\n", "bad.csv:2: column n", "\" 1\"");
}

/* ---- the one-line fast path reads every line as libcsv does: random lines of commas, quotes,
 * CRs, spaces and letters, loaded both ways, give the same rows, cells, rejects and errors ---- */
static uint32_t rnd_state = 12345;
static uint32_t rnd(uint32_t n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 16) % n;
}

typedef struct loaded {
    df_status st;
    char msg[3072];
    uint64_t nrows, rejected, blank;
    char cells[64][3][64];
} loaded;

static void load_both_ways(const char *path, long max_rejects, loaded *r, int slow)
{
    table t;
    df_error err;
    uint64_t rejects = 0;
    mk_table(&t, path, "id", 0, NULL, 3, "id:text", "a:text", "n:int");
    libcsv_only = slow;
    memset(r, 0, sizeof *r);
    r->st = load(&t, NULL, max_rejects, &rejects, NULL, &err);
    libcsv_only = 0;
    if (r->st != DF_OK) snprintf(r->msg, sizeof r->msg, "%s: %s", err.where, err.message);
    r->nrows = t.nrows, r->rejected = t.st.rejected, r->blank = t.st.blank_lines;
    for (uint64_t i = 0; i < t.nrows && i < 64; i++)
        for (int c = 0; c < 3; c++) {
            if (c == 2) snprintf(r->cells[i][c], 64, "%lld", (long long)t.cols[c].i64[i]);
            else snprintf(r->cells[i][c], 64, "%.63s", text_at(&t, c, i));
        }
    table_free(&t);
}

static void test_fast_path_matches_libcsv(void)
{
    static const char *tok[] = {"x", "y", ",", ",", "\"", "\"\"", "\r", " ", "1", "2", "\"x,y\"", "\"a\"\"b\"", ""};
    int differ = 0;
    for (int doc = 0; doc < 3000 && differ < 3; doc++) {
        char text[2048];
        size_t n = (size_t)snprintf(text, sizeof text, "id,a,n\n");
        int lines = 1 + (int)rnd(6);
        for (int l = 0; l < lines; l++) {
            /* mostly well-formed rows (id, a, n) with random quoting, sometimes random tokens */
            if (rnd(3)) {
                int k = (int)rnd(40);
                n += (size_t)snprintf(text + n, sizeof text - n, "%s%d%s,%s,%s", rnd(4) ? "" : "\"", k, "", 
                                      (const char *[]){"plain", "\"q,uoted\"", "\"say \"\"hi\"\"\"", "", "\"\"", "sp ace"}[rnd(6)],
                                      (const char *[]){"1", "-2", "", "x", "\"3\""}[rnd(5)]);
                if (text[n - 1] == '"' && rnd(5) == 0) text[n++] = 'z'; /* text after a closing quote */
            } else {
                int toks = (int)rnd(9);
                for (int i = 0; i < toks; i++) n += (size_t)snprintf(text + n, sizeof text - n, "%s", tok[rnd(13)]);
            }
            if (l < lines - 1 || rnd(2)) n += (size_t)snprintf(text + n, sizeof text - n, "%s", rnd(3) ? "\n" : "\r\n");
        }
        const char *path = write_file("diff.csv", text, n, 0);
        for (int mr = 0; mr < 2; mr++) {
            loaded *a = malloc(sizeof *a), *b = malloc(sizeof *b);
            load_both_ways(path, mr ? 1000 : 0, a, 0);
            load_both_ways(path, mr ? 1000 : 0, b, 1);
            if (a->st != b->st || strcmp(a->msg, b->msg) != 0 || a->nrows != b->nrows || a->rejected != b->rejected ||
                a->blank != b->blank || memcmp(a->cells, b->cells, sizeof a->cells) != 0) {
                fprintf(stderr, "fast path and libcsv differ (max-rejects %d) on:\n%.*s\n-- fast: %d %s rows %llu rejected %llu\n"
                                "-- libcsv: %d %s rows %llu rejected %llu\n",
                        mr ? 1000 : 0, (int)n, text, a->st, a->msg, (unsigned long long)a->nrows, (unsigned long long)a->rejected,
                        b->st, b->msg, (unsigned long long)b->nrows, (unsigned long long)b->rejected);
                differ++;
            }
            free(a), free(b);
        }
    }
    CHECK_INT(differ, 0);
}

/* ---- an entity file read in blocks by several workers: the rows, the key index and the
 * duplicates (within a block and across blocks, examples in file order) as read by one ---- */
static void load_entity(const char *path, int threads, table *t, df_status *st, uint64_t *rejects)
{
    int32_t as_of;
    df_parse_date("2026-11-01", 10, &as_of);
    load_opts o = {.as_of = as_of, .rejects = rejects, .threads = threads, .block_bytes = 1024};
    df_error err;
    mk_table(t, path, "id", 0, NULL, 4, "id:text", "name:text", "seg:category", "fee:decimal");
    *st = csvload_table(t, NULL, &o, &err);
}

static void test_entity_blocks(void)
{
    static char data[400000];
    size_t n = (size_t)snprintf(data, sizeof data, "id,name,seg,fee\n");
    for (int i = 0; i < 5000; i++) {
        int id = i % 9 == 4 ? i - 3 : i % 13 == 6 ? i / 2 : i; /* repeats close by and far back */
        n += (size_t)snprintf(data + n, sizeof data - n, "C%05d,\"Name %d, \"\"x\"\"\",%s,%d.%02d\n", id, i,
                              (const char *[]){"smb", "consumer", "enterprise"}[i % 3], i, i % 100);
    }
    const char *path = write_file("entity_blocks.csv.gz", data, n, 1);
    table a, b;
    df_status sa, sb;
    uint64_t ra = 0, rb = 0;
    load_entity(path, 1, &a, &sa, &ra);
    load_entity(path, 3, &b, &sb, &rb);
    CHECK_INT(sa, DF_OK);
    CHECK_INT(sb, DF_OK);
    CHECK(a.st.duplicates > 500);
    CHECK_INT(b.st.duplicates, a.st.duplicates);
    CHECK_INT(b.st.rows_loaded, a.st.rows_loaded);
    CHECK_INT(b.nrows, a.nrows);
    CHECK_INT(b.keys.n, a.keys.n);
    for (int k = 0; k < DF_EXAMPLES; k++) CHECK_STR(b.st.dup_examples[k], a.st.dup_examples[k]);
    int differ = 0;
    for (uint64_t r = 0; r < a.nrows && r < b.nrows; r++) {
        char ka[4096];
        snprintf(ka, sizeof ka, "%s", text_at(&a, 0, r));
        if (strcmp(ka, text_at(&b, 0, r)) != 0 || strmap_find(&b.keys, ka, strlen(ka)) != (int64_t)r) differ++;
        snprintf(ka, sizeof ka, "%s", text_at(&a, 1, r));
        if (strcmp(ka, text_at(&b, 1, r)) != 0 || a.cols[3].i64[r] != b.cols[3].i64[r]) differ++;
        size_t la, lb;
        const char *sa_ = strmap_str(&a.cols[2].dict, a.cols[2].codes[r], &la);
        const char *sb_ = strmap_str(&b.cols[2].dict, b.cols[2].codes[r], &lb);
        if (la != lb || memcmp(sa_, sb_, la) != 0) differ++;
    }
    CHECK_INT(differ, 0);
    table_free(&a);
    table_free(&b);
}

/* ---- required columns: an empty value is bad input, naming line and column ---- */
static void test_required(void)
{
    const char data[] = "id,n,d,s\nA,1,2026-01-01,x\nB,,2026-01-02,y\nC,3,,z\nD,4,2026-01-04,\n\"E\",,,\n";
    const char *path = write_file("req.csv", data, sizeof data - 1, 0);
    table t;
    df_error err;
    uint64_t rejects = 0;
    mk_table(&t, path, "id", 0, NULL, 4, "id:text", "n:int", "d:date!", "s:text!");
    CHECK_INT(load(&t, NULL, 0, &rejects, NULL, &err), DF_ERR_DATA);
    CHECK_CONTAINS(err.where, "req.csv:4: column d");
    CHECK_CONTAINS(err.message, "empty, but the rule file declares this column required");
    table_free(&t);
    /* set aside with --max-rejects: B stays (n is not required), C, D and E go */
    mk_table(&t, path, "id", 0, NULL, 4, "id:text", "n:int", "d:date!", "s:text!");
    rejects = 0;
    CHECK_INT(load(&t, NULL, 10, &rejects, NULL, &err), DF_OK);
    CHECK_INT(t.nrows, 2);
    CHECK_INT(rejects, 3);
    CHECK_STR(text_at(&t, 0, 1), "B");
    CHECK(t.cols[1].i64[1] == DF_NA_I64);
    table_free(&t);
}

/* ---- --max-rejects: bad rows set aside through on_reject, the rest loaded ---- */
static void test_rejects(void)
{
    const char data[] = "id,n,d\nA,1,2026-01-01\nB,zz,2026-01-01\nC,3\r\nD,4,2026-01-04\n";
    const char *path = write_file("rej.csv", data, sizeof data - 1, 0);
    df_error err;
    table t;
    mk_table(&t, path, "id", 0, NULL, 3, "id:text", "n:int", "d:date");
    uint64_t rejects = 0;
    seen_rejects seen = {""};
    CHECK_INT(load(&t, NULL, 2, &rejects, &seen, &err), DF_OK);
    CHECK_INT(t.nrows, 2);
    CHECK_INT(t.st.rejected, 2);
    CHECK_INT(rejects, 2);
    CHECK_STR(text_at(&t, 0, 1), "D");
    CHECK_STR(seen.text, "rej.csv|3|n|not an integer (expected digits with an optional sign)|B,zz,2026-01-01\n"
                         "rej.csv|4|(none)|wrong number of fields: the header has 3, this row has 2|C,3\n");
    table_free(&t);

    /* one more than allowed fails, naming the row */
    mk_table(&t, path, "id", 0, NULL, 3, "id:text", "n:int", "d:date");
    rejects = 0;
    CHECK_INT(load(&t, NULL, 1, &rejects, NULL, &err), DF_ERR_DATA);
    CHECK_CONTAINS(err.where, "rej.csv:4");
    CHECK_CONTAINS(err.message, "more than --max-rejects 1");
    table_free(&t);
}

/* ---- entity keys, history orphans, future rows, grouping ---- */
static void test_entity_history(void)
{
    const char cust[] = "id,seg\nC1,a\nC2,b\nC1,dup\nC3,a\n";
    const char ev[] = "when,id,kind,amt\n2026-10-01,C2,x,1\n2026-10-02,C9,x,2\n2026-11-02,C1,x,3\n"
                      "2026-11-01,C1,y,4\n2026-01-01,C2,y,5\n2026-10-05,C1,x,\n";
    table c, h;
    mk_table(&c, write_file("cust.csv", cust, sizeof cust - 1, 0), "id", 0, NULL, 2, "id:text", "seg:category");
    uint64_t rejects = 0;
    df_error err;
    CHECK_INT(load(&c, NULL, 0, &rejects, NULL, &err), DF_OK);
    CHECK_INT(c.nrows, 3);
    CHECK_INT(c.st.duplicates, 1);
    CHECK_STR(c.st.dup_examples[0], "C1");
    CHECK_STR(text_at(&c, 1, 0), "a"); /* the first row of a repeated key is kept */
    CHECK_INT(c.cols[1].codes[0], c.cols[1].codes[2]);
    mk_table(&h, write_file("ev.csv", ev, sizeof ev - 1, 0), "id", 1, "when", 3, "when:date", "kind:category", "amt:decimal");
    CHECK_INT(load(&h, &c, 0, &rejects, NULL, &err), DF_OK);
    CHECK_INT(h.st.rows_read, 6);
    CHECK_INT(h.st.orphans, 1);
    CHECK_STR(h.st.orphan_examples[0], "C9");
    CHECK_INT(h.st.future, 1);
    CHECK_INT(h.nrows, 4);
    CHECK_INT(group_history(&h, c.nrows, &err), DF_OK);
    /* C1: rows 2026-11-01 (4) then 2026-10-05 (empty), file order; C2: 1 then 5; C3: none */
    CHECK_INT(h.offsets[0], 0);
    CHECK_INT(h.offsets[1], 2);
    CHECK_INT(h.offsets[2], 4);
    CHECK_INT(h.offsets[3], 4);
    CHECK_INT(h.cols[2].i64[0], 4000000);
    CHECK_INT(h.cols[2].i64[1], DF_NA_I64);
    CHECK_INT(h.cols[2].i64[2], 1000000);
    CHECK_INT(h.cols[2].i64[3], 5000000);
    CHECK_STR(text_at(&h, 1, 0), "y");
    CHECK_STR(text_at(&h, 1, 1), "x");
    table_free(&c);
    table_free(&h);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/csvload-XXXXXX", getenv("TMPDIR_BASE") ? getenv("TMPDIR_BASE") : "/tmp");
    if (!mkdtemp(tmpdir)) return perror("mkdtemp"), 2;
    test_spectrum();
    test_quirks();
    test_errors();
    test_rejects();
    test_required();
    test_entity_blocks();
    test_fast_path_matches_libcsv();
    test_entity_history();
    test_rm_tree(tmpdir);
    TEST_END();
}
