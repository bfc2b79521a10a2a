/* test_core_io.c: bytes in (gzip members, padding, truncation, corruption, the read-ahead pipe)
 * and bytes out (CSV quoting, formula guard, number format, all-or-nothing commit). */
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "gzsource.h"
#include "output.h"
#include "test.h"

static char tmpdir[512];

static char *path_of(const char *name)
{
    static char p[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static void put_file(const char *name, const void *data, size_t n)
{
    FILE *f = fopen(path_of(name), "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

/* gzip of data as one member, in memory */
static unsigned char *gz(const char *data, size_t n, size_t *out_n)
{
    z_stream z = {0};
    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)data, z.avail_in = (uInt)n;
    z.next_out = out, z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    *out_n = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* reads a whole file through gzsource with a small buffer; returns status, fills text */
static df_status read_all(const char *name, char *text, size_t cap, size_t *n, df_error *err, int pipe)
{
    gzsource *s;
    df_status st = gzsource_open(path_of(name), &s, err);
    *n = 0;
    if (st) return st;
    if (pipe) {
        gzpipe *p;
        gzpipe_start(s, 4096, 1, &p, err);
        const char *b;
        long k;
        while ((k = gzpipe_next(p, &b, err)) > 0) {
            if (*n + (size_t)k <= cap) memcpy(text + *n, b, (size_t)k);
            *n += (size_t)k;
        }
        gzpipe_free(p);
        gzsource_free(s);
        return k < 0 ? err->status : DF_OK;
    }
    char buf[777];
    long k;
    while ((k = gzsource_read(s, buf, sizeof buf, err)) > 0) {
        if (*n + (size_t)k <= cap) memcpy(text + *n, buf, (size_t)k);
        *n += (size_t)k;
    }
    gzsource_free(s);
    return k < 0 ? err->status : DF_OK;
}

static void test_gzsource(void)
{
    size_t big = 300000, n, zn1, zn2;
    char *text = malloc(big), *back = malloc(2 * big + 10);
    for (size_t i = 0; i < big; i++) text[i] = (char)("abc,\n\"x"[i % 7] + (i % 13 == 0));
    df_error err;
    put_file("plain.csv", text, big);
    CHECK_INT(read_all("plain.csv", back, 2 * big, &n, &err, 0), DF_OK);
    CHECK(n == big && memcmp(back, text, big) == 0);

    unsigned char *z1 = gz(text, big, &zn1), *z2 = gz("tail\n", 5, &zn2);
    put_file("one.gz", z1, zn1);
    for (int pipe = 0; pipe < 2; pipe++) {
        CHECK_INT(read_all("one.gz", back, 2 * big, &n, &err, pipe), DF_OK);
        CHECK(n == big && memcmp(back, text, big) == 0);
    }

    /* two members, as `cat a.gz b.gz` makes */
    unsigned char *two = malloc(zn1 + zn2 + 16);
    memcpy(two, z1, zn1);
    memcpy(two + zn1, z2, zn2);
    put_file("two.gz", two, zn1 + zn2);
    CHECK_INT(read_all("two.gz", back, 2 * big, &n, &err, 0), DF_OK);
    CHECK_INT(n, big + 5);
    CHECK(memcmp(back + big, "tail\n", 5) == 0);

    /* zero padding after the last member is tolerated; other trailing bytes are not */
    memset(two + zn1, 0, 16);
    put_file("padded.gz", two, zn1 + 16);
    CHECK_INT(read_all("padded.gz", back, 2 * big, &n, &err, 0), DF_OK);
    CHECK_INT(n, big);
    memcpy(two + zn1, "garbage!", 8);
    put_file("garbage.gz", two, zn1 + 8);
    CHECK_INT(read_all("garbage.gz", back, 2 * big, &n, &err, 0), DF_ERR_IO);
    CHECK_CONTAINS(err.message, "corrupt gzip");

    /* cut in the middle */
    put_file("cut.gz", z1, zn1 / 2);
    for (int pipe = 0; pipe < 2; pipe++) {
        CHECK_INT(read_all("cut.gz", back, 2 * big, &n, &err, pipe), DF_ERR_IO);
        CHECK_CONTAINS(err.message, "truncated gzip");
        CHECK_CONTAINS(err.where, "cut.gz");
    }
    /* damaged data: the check sum in the trailer no longer matches (damage inside the deflate
     * data may also read as a stream that ends early: then the message says truncated) */
    memcpy(two, z1, zn1);
    two[zn1 - 8] ^= 0x01;
    put_file("bad.gz", two, zn1);
    for (int pipe = 0; pipe < 2; pipe++) {
        CHECK_INT(read_all("bad.gz", back, 2 * big, &n, &err, pipe), DF_ERR_IO);
        CHECK_CONTAINS(err.message, "corrupt gzip");
        CHECK_CONTAINS(err.message, "incorrect data check");
    }

    CHECK_INT(read_all("no-such-file.gz", back, 2 * big, &n, &err, 0), DF_ERR_IO);
    CHECK_CONTAINS(err.message, "cannot open the file");
    put_file("empty.csv", "", 0);
    CHECK_INT(read_all("empty.csv", back, 2 * big, &n, &err, 0), DF_OK);
    CHECK_INT(n, 0);
    free(text), free(back), free(z1), free(z2), free(two);
}

static char *slurp(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names in dir (hidden ones too), sorted, space-separated. */
static const char *listing(const char *dir)
{
    static char out[1024];
    char *names[64];
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && n < 64 && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
    if (d) closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i) strcat(out, " ");
        strncat(out, names[i], sizeof out - strlen(out) - 2);
        free(names[i]);
    }
    return out;
}

static void test_output(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path_of("out"));
    df_error err;
    outset *o;
    CHECK_INT(outset_new(dir, &o, &err), DF_OK);
    csvw *w = outset_open(o, "t.csv", &err);
    csvw_plain(w, "a", 1), csvw_plain(w, "b", 1), csvw_end_row(w);
    const char *cells[] = {"plain", "with,comma", "say \"hi\"", "two\nlines", "cr\rhere", "=SUM(A1)", "+44 1",
                           "-Smith", "@risk", "\tTab", "\rCR", "=a,b", "mid=dle", "", "José"};
    for (size_t i = 0; i < sizeof cells / sizeof *cells; i++) csvw_text(w, cells[i], strlen(cells[i]));
    csvw_number(w, -5);
    csvw_number(w, 120.5);
    csvw_end_row(w);
    CHECK_INT(w->rows, 1);
    /* not visible before the commit */
    CHECK(access(path_of("out/t.csv"), F_OK) != 0);
    CHECK_INT(outset_commit(o, &err), DF_OK);
    outset_free(o);
    CHECK_STR(slurp(path_of("out/t.csv")),
              "a,b\nplain,\"with,comma\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\rhere\",'=SUM(A1),'+44 1,'-Smith,"
              "'@risk,'\tTab,\"'\rCR\",\"'=a,b\",mid=dle,,José,-5,120.5\n");
    CHECK_STR(listing(dir), ".defector-manifest t.csv");
    CHECK_STR(slurp(path_of("out/.defector-manifest")),
              "# defector: the files the last run wrote in this folder (the next run removes those it does not write again)\nt.csv\n");

    /* a failed run: the previous file stays, no temporaries remain */
    CHECK_INT(outset_new(dir, &o, &err), DF_OK);
    w = outset_open(o, "t.csv", &err);
    csvw_plain(w, "new", 3), csvw_end_row(w);
    csvw *w2 = outset_open(o, "u.csv", &err);
    csvw_plain(w2, "x", 1), csvw_end_row(w2);
    CHECK(outset_open(o, "t.csv", &err) == NULL); /* the same file twice */
    outset_abort(o);
    CHECK_STR(slurp(path_of("out/t.csv")), "a,b\nplain,\"with,comma\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\rhere\",'=SUM(A1),'+44 1,'-Smith,"
                                            "'@risk,'\tTab,\"'\rCR\",\"'=a,b\",mid=dle,,José,-5,120.5\n");
    CHECK_STR(listing(dir), ".defector-manifest t.csv");

    /* names outset_open refuses: they could leave the folder or hide among the engine's files */
    CHECK_INT(outset_new(dir, &o, &err), DF_OK);
    const char *bad[] = {"", "../x.csv", "a/b.csv", ".hidden.csv", ".defector-manifest", "new\nline.csv"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(outset_open(o, bad[i], &err) == NULL);
        CHECK_INT(err.status, DF_ERR_RULES);
    }
    outset_abort(o);
    CHECK_STR(listing(dir), ".defector-manifest t.csv");

    /* a user's file stays; a file of the last run that this run does not write goes */
    put_file("out/notes.txt", "mine", 4);
    CHECK_INT(outset_new(dir, &o, &err), DF_OK);
    w = outset_open(o, "u.csv", &err);
    csvw_plain(w, "u", 1), csvw_end_row(w);
    CHECK_INT(outset_commit(o, &err), DF_OK);
    CHECK_STR(outset_removed(o), "t.csv");
    outset_free(o);
    CHECK_STR(listing(dir), ".defector-manifest notes.txt u.csv");
    CHECK_STR(slurp(path_of("out/u.csv")), "u\n");

    /* rows captured ahead of their order, rank filled in when written */
    CHECK_INT(outset_new(dir, &o, &err), DF_OK);
    w = outset_open(o, "r.csv", &err);
    csvw_plain(w, "rank", 4), csvw_plain(w, "id", 2), csvw_end_row(w);
    const char *ids[] = {"c", "a", "b"};
    for (int i = 0; i < 3; i++) {
        csvw_row_begin(w);
        csvw_row_split(w);
        csvw_text(w, ids[i], 1);
        csvw_row_end(w);
    }
    uint32_t order[] = {1, 2, 0};
    CHECK_INT(csvw_write_rows(w, order, 3), 0);
    CHECK_INT(outset_commit(o, &err), DF_OK);
    outset_free(o);
    CHECK_STR(slurp(path_of("out/r.csv")), "rank,id\n1,a\n2,b\n3,c\n");

    /* a failed run into folders that did not exist leaves none of them behind; one that
       existed already stays */
    char *top = path_of("new"), *deep = path_of("new/a/b");
    CHECK_INT(outset_new(deep, &o, &err), DF_OK);
    w = outset_open(o, "t.csv", &err);
    csvw_plain(w, "x", 1), csvw_end_row(w);
    CHECK(access(deep, F_OK) == 0);
    outset_abort(o);
    CHECK(access(top, F_OK) != 0);
    CHECK_INT(mkdir(top, 0777), 0);
    CHECK_INT(outset_new(deep, &o, &err), DF_OK);
    outset_abort(o);
    CHECK(access(top, F_OK) == 0);
    CHECK(access(path_of("new/a"), F_OK) != 0);
    /* a successful one keeps them */
    CHECK_INT(outset_new(deep, &o, &err), DF_OK);
    w = outset_open(o, "t.csv", &err);
    csvw_plain(w, "x", 1), csvw_end_row(w);
    CHECK_INT(outset_commit(o, &err), DF_OK);
    outset_free(o);
    CHECK_STR(slurp(path_of("new/a/b/t.csv")), "x\n");
}

static void check_num(double v, const char *want)
{
    char b[64];
    format_number(v, b, sizeof b);
    CHECK_STR(b, want);
}

static void test_numbers(void)
{
    check_num(0, "0");
    check_num(-0.0, "0");
    check_num(3, "3");
    check_num(120.5, "120.5");
    check_num(299.43, "299.43");
    check_num(0.1235, "0.1235");
    check_num(-0.5, "-0.5");
    check_num(1234567.25, "1234567.25");
    check_num(1e20, "100000000000000000000");
    check_num(123456789012345, "123456789012345");
    check_num(0.1 + 0.2, "0.3");
    check_num(1e-7, "0.0000001");
    check_num(0.05, "0.05");
    check_num(-14410.68, "-14410.68");
    check_num(0.0001, "0.0001");
    check_num(999999999.5, "999999999.5");
    check_num(1.0 / 3, "0.333333333333333");
}

/* Numbers with few decimals are printed without printf: the same text as "%.15g", for
 * money-like amounts, scaled rates and arbitrary doubles (a fixed seed: the same cases each run). */
static void test_numbers_as_printf(void)
{
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7};
    uint64_t x = 88172645463325252ull;
    long differ = 0;
    for (int i = 0; i < 2000000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        switch (i % 4) {
        case 0: v = (double)(x % 100000000000ull) / 100; break;            /* cents */
        case 1: v = (double)(x % 10000000ull) / p10[(x >> 40) % 8]; break; /* up to 7 decimals */
        case 2: v = (double)(x % 10000) / 10000 * 12 * (double)((x >> 20) % 101) / 100; break;
        default: v = (double)(x >> 11) / 9007199254740992.0 * p10[(x >> 3) % 8] * 100; break;
        }
        if (x & 1) v = -v;
        if (v == floor(v) || fabs(v) < 1e-4 || fabs(v) >= 1e15) continue;
        char a[64], b[64];
        format_number(v, a, sizeof a);
        snprintf(b, sizeof b, "%.15g", v);
        if (strcmp(a, b) != 0 && differ++ < 5) fprintf(stderr, "%.17g: %s, printf %s\n", v, a, b);
    }
    CHECK_INT(differ, 0);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/io-XXXXXX", getenv("TMPDIR_BASE") ? getenv("TMPDIR_BASE") : "/tmp");
    if (!mkdtemp(tmpdir)) return perror("mkdtemp"), 2;
    test_gzsource();
    test_output();
    test_numbers();
    test_numbers_as_printf();
    test_rm_tree(tmpdir);
    TEST_END();
}
