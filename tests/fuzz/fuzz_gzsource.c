/* fuzz_gzsource.c: bytes in (issue 8 point 8b). An input is a whole file: gzip (one member,
 * several, BGZF, cut, damaged, padded) or anything else. It is read five ways: reads of 1, 7,
 * 4096 and 1 MB bytes, and through the threaded read-ahead pipe. All five must give the same
 * bytes, or the same error. Then zlib's own gzread is the oracle: when gzread fails (a cut or
 * damaged stream), gzsource must fail too; when both succeed they must give the same text
 * (gzsource leaving out a UTF-8 byte order mark); a plain file reads as itself. gzsource may
 * refuse more than gzread (trailing garbage, a BGZF file without its end-of-file block, text
 * that is not CSV), never less: a silent wrong result is the finding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz.h"
#include "gzsource.h"

typedef struct got {
    df_status st;
    char msg[2600];
    char *text;
    size_t n;
} got;

static void append(got *g, const char *p, size_t k, size_t *cap)
{
    if (g->n + k > *cap) {
        *cap = (g->n + k) * 2 + 16;
        g->text = realloc(g->text, *cap);
        if (!g->text) abort();
    }
    memcpy(g->text + g->n, p, k);
    g->n += k;
}

static void read_way(const char *path, size_t step, int pipe, got *g)
{
    memset(g, 0, sizeof *g);
    df_error err;
    memset(&err, 0, sizeof err);
    gzsource *s;
    size_t cap = 0;
    g->st = gzsource_open(path, &s, &err);
    if (g->st == DF_OK && pipe) {
        gzpipe *p;
        g->st = gzpipe_start(s, step, 1, &p, &err);
        const char *b;
        long k = 0;
        while (g->st == DF_OK && (k = gzpipe_next(p, &b, &err)) > 0) append(g, b, (size_t)k, &cap);
        if (k < 0) g->st = err.status;
        gzpipe_free(p);
        gzsource_free(s);
    } else if (g->st == DF_OK) {
        char *buf = malloc(step);
        long k;
        while ((k = gzsource_read(s, buf, step, &err)) > 0) {
            if ((size_t)k > step) fuzz_finding("gzsource_read returned %ld bytes for a buffer of %zu", k, step);
            append(g, buf, (size_t)k, &cap);
        }
        if (k < 0) g->st = err.status;
        free(buf);
        gzsource_free(s);
    }
    if (g->st != DF_OK) {
        snprintf(g->msg, sizeof g->msg, "%s: %s", err.where, err.message);
        if (g->st != DF_ERR_IO) fuzz_finding("status %d (not 3): %s", g->st, g->msg);
    }
}

/* zlib's reading of the file: 0 and the text, or -1 when it reports an error */
static int zlib_read(const char *path, got *g)
{
    memset(g, 0, sizeof *g);
    gzFile f = gzopen(path, "rb");
    if (!f) return -1;
    char buf[8192];
    size_t cap = 0;
    int k;
    while ((k = gzread(f, buf, sizeof buf)) > 0) append(g, buf, (size_t)k, &cap);
    int errnum = Z_OK;
    gzerror(f, &errnum);
    gzclose(f);
    return k < 0 || errnum != Z_OK ? -1 : 0;
}

static int bom(const char *p, size_t n) { return n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path("in.gz");
    if (fuzz_write(path, data, size) != 0) fuzz_finding("cannot write %s", path);
    static const size_t steps[] = {1 << 20, 1, 7, 4096};
    got g[5];
    for (int i = 0; i < 5; i++) {
        read_way(path, i < 4 ? steps[i] : 4096, i == 4, &g[i]);
        if (i && (g[i].st != g[0].st || strcmp(g[i].msg, g[0].msg) != 0 || g[i].n != g[0].n ||
                  (g[0].n && memcmp(g[i].text, g[0].text, g[0].n) != 0)))
            fuzz_finding("read way %d differs from reads of 1 MB: status %d vs %d, %zu vs %zu bytes, '%s' vs '%s'", i,
                         g[i].st, g[0].st, g[i].n, g[0].n, g[i].msg, g[0].msg);
    }
    int gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (g[0].st == DF_OK && !gzip) { /* a plain file is its own text, without a UTF-8 BOM */
        int b = bom((const char *)data, size);
        if (g[0].n != size - (size_t)b || (g[0].n && memcmp(g[0].text, data + b, g[0].n) != 0))
            fuzz_finding("a plain file read as other bytes (%zu of %zu)", g[0].n, size);
    }
    if (gzip) {
        got z;
        int zr = zlib_read(path, &z);
        if (zr != 0 && g[0].st == DF_OK)
            fuzz_finding("zlib's gzread reports an error, gzsource read %zu bytes and none", g[0].n);
        if (zr == 0 && g[0].st == DF_OK) {
            int b = bom(z.text, z.n);
            if (z.n - (size_t)b != g[0].n || (g[0].n && memcmp(z.text + b, g[0].text, g[0].n) != 0))
                fuzz_finding("gzsource read %zu bytes, zlib's gzread %zu other ones", g[0].n, z.n);
        }
        free(z.text);
    }
    for (int i = 0; i < 5; i++) free(g[i].text);
    return 0;
}

/* ---- replay --random: gzip files made, then cut, damaged, joined or padded ---- */
static size_t gz_member(uint8_t *out, size_t cap, const uint8_t *in, size_t n, int bgzf)
{
    z_stream z = {0};
    deflateInit2(&z, 6, Z_DEFLATED, bgzf ? -15 : 31, 8, Z_DEFAULT_STRATEGY);
    size_t h = bgzf ? 18 : 0;
    if (cap < h + 8) return 0;
    z.next_in = (uint8_t *)in, z.avail_in = (uInt)n;
    z.next_out = out + h, z.avail_out = (uInt)(cap - h - 8);
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        deflateEnd(&z);
        return 0;
    }
    size_t body = cap - h - 8 - z.avail_out;
    deflateEnd(&z);
    if (!bgzf) return body;
    static const uint8_t head[16] = {0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0, 'B', 'C', 2, 0};
    memcpy(out, head, 16);
    size_t total = h + body + 8;
    out[16] = (uint8_t)((total - 1) & 0xff), out[17] = (uint8_t)((total - 1) >> 8);
    uLong crc = crc32(0, in, (uInt)n);
    for (int i = 0; i < 4; i++) out[h + body + i] = (uint8_t)(crc >> (8 * i)), out[h + body + 4 + i] = (uint8_t)(n >> (8 * i));
    return total;
}

size_t fuzz_generate(uint32_t *rnd, uint8_t *buf, size_t cap)
{
    static const char *texts[] = {"id,a\n1,x\n2,y\n", "\xEF\xBB\xBFid\n1\n", "", "i\0d\0\n\0", "a,b\r\nc,d\r\n",
                                  "BZh91AY&SY", "\x1f\x8b"};
    static const uint8_t eof[28] = {0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0, 'B', 'C', 2, 0, 0x1b, 0, 3, 0};
    size_t n = 0;
    int members = 1 + (int)fuzz_rand(rnd, 3), bgzf = fuzz_rand(rnd, 2);
    for (int m = 0; m < members && n + 600 < cap; m++) {
        uint8_t text[400];
        size_t tn = 0;
        while (tn < 300 && fuzz_rand(rnd, 4)) {
            const char *t = texts[fuzz_rand(rnd, 7)];
            size_t len = t[0] == 'i' && t[1] == 0 ? 6 : strlen(t);
            memcpy(text + tn, t, len), tn += len;
        }
        n += gz_member(buf + n, cap - n, text, tn, bgzf);
    }
    if (bgzf && fuzz_rand(rnd, 3)) memcpy(buf + n, eof, 28), n += 28;
    switch (fuzz_rand(rnd, 6)) {
    case 0: n = n ? fuzz_rand(rnd, (uint32_t)n) : 0; break;                       /* cut anywhere */
    case 1: if (n) buf[fuzz_rand(rnd, (uint32_t)n)] ^= (uint8_t)(1 + fuzz_rand(rnd, 255)); break; /* one byte damaged */
    case 2: memset(buf + n, 0, 5), n += 5; break;                                 /* zero padding */
    case 3: memcpy(buf + n, "junk", 4), n += 4; break;                            /* trailing garbage */
    default: break;
    }
    return n;
}
