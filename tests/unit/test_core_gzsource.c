/* test_core_gzsource.c: what gzsource refuses before any byte is parsed (issue 8 points 4 and 6):
 * BGZF files without their end-of-file block, other compressions and UTF-16/32 behind a .gz
 * name or inside gzip, gzip inside gzip; and that looking at the first bytes changes nothing
 * for text it reads (every read size gives the same bytes). The real bzip2/zstd/xz/zip tools
 * are run in tests/scripts/loader_reports.sh. */
#include <unistd.h>
#include <zlib.h>

#include "gzsource.h"
#include "test.h"

static char tmpdir[512];

static const char *put(const char *name, const void *data, size_t n)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
    return path;
}

/* a growing byte buffer */
typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void add(buf *b, const void *data, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

/* data as one gzip member (wbits 31) or raw deflate (wbits -15) */
static void deflate_into(buf *b, const void *data, size_t n, int wbits)
{
    z_stream z = {0};
    deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, (uLong)n) + 32;
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)data, z.avail_in = (uInt)n;
    z.next_out = out, z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    add(b, out, cap - z.avail_out);
    deflateEnd(&z);
    free(out);
}

static void le(unsigned char *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* one BGZF block (a gzip member with the BC extra subfield holding the block size - 1) */
static void bgzf_block(buf *b, const void *data, size_t n)
{
    buf body = {0};
    deflate_into(&body, data, n, -15);
    unsigned char h[18] = {0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0, 'B', 'C', 2, 0, 0, 0};
    le(h + 16, (uint32_t)(18 + body.n + 8 - 1), 2);
    unsigned char tail[8];
    le(tail, (uint32_t)crc32(0, data, (uInt)n), 4);
    le(tail + 4, (uint32_t)n, 4);
    add(b, h, 18);
    add(b, body.p, body.n);
    add(b, tail, 8);
    free(body.p);
}

static const unsigned char bgzf_eof[28] = {0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0, 'B', 'C',
                                           2,    0,    0x1b, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0};

/* Reads path whole with reads of `step` bytes: status, the text in out (malloc'd), *n. */
static df_status read_all(const char *path, size_t step, char **out, size_t *n, df_error *err)
{
    gzsource *s;
    *out = NULL, *n = 0;
    memset(err, 0, sizeof *err);
    df_status st = gzsource_open(path, &s, err);
    if (st) return st;
    buf b = {0};
    char *chunk = malloc(step);
    long k;
    while ((k = gzsource_read(s, chunk, step, err)) > 0) add(&b, chunk, (size_t)k);
    free(chunk);
    gzsource_free(s);
    add(&b, "", 1);
    *out = (char *)b.p, *n = b.n - 1;
    return k < 0 ? err->status : DF_OK;
}

static df_status read_status(const char *path, df_error *err)
{
    char *text;
    size_t n;
    df_status st = read_all(path, 65536, &text, &n, err);
    free(text);
    return st;
}

/* ---- 8.4: BGZF ---- */
static void test_bgzf(void)
{
    char text[40000];
    size_t tn = 0;
    for (int i = 0; tn + 40 < sizeof text; i++) tn += (size_t)snprintf(text + tn, sizeof text - tn, "C%05d,2026-10-%02d,login\n", i, i % 28 + 1);
    buf whole = {0};
    size_t boundary[16];
    int nb = 0;
    for (size_t at = 0; at < tn; at += 5000) {
        bgzf_block(&whole, text + at, tn - at < 5000 ? tn - at : 5000);
        boundary[nb++] = whole.n;
    }
    size_t data_end = whole.n;
    add(&whole, bgzf_eof, sizeof bgzf_eof);
    df_error err;
    char *back;
    size_t n;
    CHECK_INT(read_all(put("whole.bgzf.gz", whole.p, whole.n), 65536, &back, &n, &err), DF_OK);
    CHECK(n == tn && memcmp(back, text, tn) == 0);
    free(back);

    /* cut at a block boundary: every row up to there would read as a whole file */
    for (int k = 0; k < nb; k += 3) {
        CHECK_INT(read_all(put("cut.bgzf.gz", whole.p, boundary[k]), 65536, &back, &n, &err), DF_ERR_IO);
        CHECK_CONTAINS(err.message, "truncated BGZF file: it ends after");
        CHECK_CONTAINS(err.message, "without the end-of-file block bgzip writes");
        CHECK_CONTAINS(err.where, "cut.bgzf.gz");
        free(back);
    }
    CHECK_INT(read_status(put("noeof.bgzf.gz", whole.p, data_end), &err), DF_ERR_IO);
    /* cut inside a block, or inside the end-of-file block: truncated gzip, as before */
    CHECK_INT(read_status(put("mid.bgzf.gz", whole.p, boundary[1] + 10), &err), DF_ERR_IO);
    CHECK_CONTAINS(err.message, "truncated gzip");
    CHECK_INT(read_status(put("halfeof.bgzf.gz", whole.p, whole.n - 5), &err), DF_ERR_IO);
    CHECK_CONTAINS(err.message, "truncated gzip");

    /* two BGZF files one after the other (`cat a.gz b.gz`): an end-of-file block in the middle */
    buf two = {0};
    add(&two, whole.p, whole.n);
    add(&two, whole.p, whole.n);
    CHECK_INT(read_all(put("two.bgzf.gz", two.p, two.n), 4096, &back, &n, &err), DF_OK);
    CHECK_INT(n, 2 * tn);
    free(back);
    /* the second one cut: its own end-of-file block is missing */
    CHECK_INT(read_status(put("two_cut.bgzf.gz", two.p, whole.n + boundary[2]), &err), DF_ERR_IO);
    CHECK_CONTAINS(err.message, "truncated BGZF file");
    /* zero padding after the end-of-file block is tolerated, as after any gzip */
    add(&whole, "\0\0\0\0", 4);
    CHECK_INT(read_status(put("padded.bgzf.gz", whole.p, whole.n), &err), DF_OK);
    /* but a member after the padding is refused: gzip and zlib stop at the zeros and would read
     * fewer rows than we did (fuzz finding 4) */
    add(&whole, whole.p, 28);
    CHECK_INT(read_status(put("member_after_padding.gz", whole.p, whole.n), &err), DF_ERR_IO);
    CHECK_CONTAINS(err.message, "corrupt gzip: unexpected data after the end of the compressed stream and its zero padding at byte");

    /* plain multi-member gzip: no end marker, so a cut between members is not detectable (the
     * documented limit); the members before the cut read whole */
    buf plain = {0};
    deflate_into(&plain, text, 20000, 31);
    size_t first = plain.n;
    deflate_into(&plain, text + 20000, tn - 20000, 31);
    CHECK_INT(read_all(put("members.gz", plain.p, first), 65536, &back, &n, &err), DF_OK);
    CHECK_INT(n, 20000);
    free(back);
    free(whole.p), free(two.p), free(plain.p);
}

/* ---- 8.6: what is not CSV text, said as what it is ---- */
static void refused(const char *label, const void *data, size_t n, const char *msg)
{
    df_error err;
    df_status st = read_status(put(label, data, n), &err);
    if (st != DF_ERR_IO) fprintf(stderr, "case %s\n", label);
    CHECK_INT(st, DF_ERR_IO);
    CHECK_CONTAINS(err.message, msg);
    CHECK_CONTAINS(err.where, label);
}

static void refused_in_gzip(const char *label, const void *data, size_t n, const char *msg)
{
    buf b = {0};
    deflate_into(&b, data, n, 31);
    refused(label, b.p, b.n, msg);
    free(b.p);
}

static void test_not_csv(void)
{
    const char csv[] = "id,name\nC1,Ann\n";
    const char bz[] = "BZh91AY&SY\x01\x02\x03";
    refused("f.bz2.csv.gz", bz, sizeof bz - 1, "this is bzip2-compressed data, not gzip or CSV text (whatever the file name says): recompress it: bunzip2 -c");
    refused("f.zst.csv.gz", "\x28\xb5\x2f\xfd\x24\x0f\x79\x00", 8, "this is zstd-compressed data");
    refused("f.xz.csv.gz", "\xfd\x37\x7a\x58\x5a\x00\x00\x04", 8, "this is xz-compressed data");
    refused("f.zip.csv.gz", "PK\x03\x04\x14\x00\x00\x00", 8, "this is a zip archive (an Excel .xlsx file is one)");
    refused("f.7z.csv.gz", "\x37\x7a\xbc\xaf\x27\x1c\x00\x04", 8, "this is a 7-Zip archive");
    refused("f.lz4.csv.gz", "\x04\x22\x4d\x18\x64\x40", 6, "this is lz4-compressed data");
    refused("f.u16le.csv", "\xff\xfei\0d\0\n\0", 8, "this is UTF-16 text, not gzip or CSV text (whatever the file name says): save it as UTF-8");
    refused("f.u16be.csv", "\xfe\xff\0i\0d\0\n", 8, "this is UTF-16 text");
    refused("f.u32.csv", "\xff\xfe\0\0i\0\0\0", 8, "this is UTF-32 text");
    refused("f.u16nobom.csv", "i\0d\0,\0x\0\n\0", 10, "this is UTF-16 text (a NUL byte beside every letter)");
    refused("f.u16benobom.csv", "\0i\0d\0,\0x\0\n", 10, "this is UTF-16 text (a NUL byte beside every letter)");

    /* inside gzip */
    buf twice = {0};
    deflate_into(&twice, csv, sizeof csv - 1, 31);
    refused_in_gzip("twice.csv.gz", twice.p, twice.n,
                    "this is gzip, but what it holds is gzip data again (the file was compressed twice), not CSV text: gunzip it once");
    refused_in_gzip("u16.csv.gz", "\xff\xfei\0d\0\n\0", 8, "this is gzip, but what it holds is UTF-16 text, not CSV text: save it as UTF-8");
    refused_in_gzip("bz.csv.gz", bz, sizeof bz - 1, "this is gzip, but what it holds is bzip2-compressed data");
    free(twice.p);

    /* text that only looks like a magic is read as text */
    const char *texts[] = {"BZh,name\nC1,x\n", "BZh9,x\n", "PK,x\n", "a\n", "ab", "ab\0\0cd", ""};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        df_error err;
        size_t n = i == 5 ? 6 : strlen(texts[i]); /* NUL bytes, but not every other one: the loader's to refuse */
        CHECK_INT(read_status(put("text.csv", texts[i], n), &err), DF_OK);
    }
}

/* ---- looking at the first bytes hands every byte over, in order, for every read size ---- */
static void test_peek_is_transparent(void)
{
    char text[3000];
    for (size_t i = 0; i < sizeof text; i++) text[i] = "id,x\nC1,\"a\"\r\n"[i % 13];
    buf z = {0};
    deflate_into(&z, text, sizeof text, 31);
    const char *plain = "peek.csv", *gz = "peek.csv.gz";
    put(plain, text, sizeof text);
    put(gz, z.p, z.n);
    size_t steps[] = {1, 2, 3, 63, 64, 65, 100, 4096};
    for (int g = 0; g < 2; g++)
        for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
            for (size_t len = 0; len <= sizeof text; len += len < 70 ? 1 : 977) {
                char path[1024], *back;
                size_t n;
                df_error err;
                snprintf(path, sizeof path, "%s/%s", tmpdir, g ? gz : plain);
                if (!g) put(plain, text, len);
                CHECK_INT(read_all(path, steps[i], &back, &n, &err), DF_OK);
                size_t want = g ? sizeof text : len;
                if (n != want || memcmp(back, text, want) != 0) {
                    fprintf(stderr, "step %zu len %zu gzip %d: %zu bytes back\n", steps[i], len, g, n);
                    CHECK(0);
                }
                free(back);
                if (g) break;
            }
    free(z.p);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/gzsource-XXXXXX", getenv("TMPDIR_BASE") ? getenv("TMPDIR_BASE") : "/tmp");
    if (!mkdtemp(tmpdir)) return perror("mkdtemp"), 2;
    test_bgzf();
    test_not_csv();
    test_peek_is_transparent();
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    TEST_END();
}
