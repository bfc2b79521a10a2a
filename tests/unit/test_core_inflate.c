/* test_core_inflate.c: zlib and ISA-L through inflate.c give the same bytes, end members at the
 * same byte, and give the same verdict on damaged gzip: every input and output chunk size from
 * 1 byte up, several members with data after them, BGZF headers, empty members, every cut point
 * of a member, a flipped byte at every position of a small member, bad checksums and headers. */
#include <malloc.h>
#include <zlib.h>

#include "inflate.h"
#include "test.h"

/* One gzip member of text[0, n), with extra (BGZF's BC subfield when bgzf). */
static size_t gzip_member(const unsigned char *text, size_t n, int bgzf, unsigned char *out, size_t cap)
{
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return 0;
    unsigned char extra[6] = {'B', 'C', 2, 0, 0, 0};
    gz_header h = {0};
    h.extra = extra, h.extra_len = sizeof extra, h.os = 3;
    if (bgzf) deflateSetHeader(&z, &h);
    z.next_in = (unsigned char *)text, z.avail_in = (uInt)n;
    z.next_out = out, z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return r == Z_STREAM_END ? len : 0;
}

typedef struct result {
    inflate_rc rc;      /* how the member ended: END, BAD, or MORE when the input ran out */
    size_t used, made;  /* input read up to the end (or all of it), output made */
    const char *reason;
    int bgzf;
    unsigned char *out;
} result;

/* Feeds in[0, n) in chunks of inc bytes, output room of outc, until the member ends or fails. */
static result inflate_member(inflate_impl impl, const unsigned char *in, size_t n, size_t inc, size_t outc)
{
    result r = {INFLATE_MORE, 0, 0, NULL, 0, malloc(4 << 20)};
    inflater *z = inflater_new(impl);
    if (!z || !r.out || inflater_member_start(z) != 0) {
        r.rc = INFLATE_NOMEM;
        inflater_free(z);
        return r;
    }
    for (;;) {
        size_t chunk = n - r.used < inc ? n - r.used : inc, room = (4u << 20) - r.made, used, made;
        inflate_rc rc = inflater_run(z, in + r.used, chunk, &used, r.out + r.made, room < outc ? room : outc, &made);
        r.used += used, r.made += made;
        if (rc != INFLATE_MORE) {
            r.rc = rc;
            break;
        }
        if (used == 0 && made == 0) break; /* the input has run out (or nothing moves: r.used < n shows it) */
    }
    if (r.rc == INFLATE_BAD) r.reason = inflater_reason(z);
    r.bgzf = inflater_member_bgzf(z);
    inflater_free(z);
    return r;
}

static unsigned char *sample_text(size_t n)
{
    unsigned char *t = malloc(n);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        t[i] = i % 61 == 60 ? '\n' : (unsigned char)("customer,2026-11-0,complaint;\"renewal\" 0123456789"[(x >> 16) % 48]);
    }
    return t;
}

static void test_chunk_sizes(inflate_impl impl)
{
    size_t n = 300000;
    unsigned char *text = sample_text(n), *gz = malloc(n + 1024);
    size_t gl = gzip_member(text, n, 0, gz, n + 1024);
    CHECK(gl > 0);
    size_t sizes[][2] = {{1, 1}, {1, 65536}, {7, 13}, {4096, 1}, {4096, 65536}, {1 << 20, 1 << 20}, {gl, 100}};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        if (sizes[i][0] == 1 && sizes[i][1] == 1 && impl == INFLATE_ISAL) continue; /* same path as 1 x 65536, slower */
        result r = inflate_member(impl, gz, gl, sizes[i][0], sizes[i][1]);
        CHECK_INT(r.rc, INFLATE_END);
        CHECK_INT(r.used, gl);
        CHECK_INT(r.made, n);
        CHECK(r.made == n && memcmp(r.out, text, n) == 0);
        CHECK_INT(r.bgzf, 0);
        free(r.out);
    }
    free(text), free(gz);
}

/* Two members and bytes after them: each ends exactly where it ends; BGZF seen per member;
 * an empty member (BGZF's end-of-file block) ends with nothing made. */
static void test_members(inflate_impl impl)
{
    unsigned char *text = sample_text(5000), buf[16384];
    size_t a = gzip_member(text, 5000, 1, buf, sizeof buf);
    size_t b = gzip_member(text + 100, 77, 0, buf + a, sizeof buf - a);
    size_t c = gzip_member(text, 0, 1, buf + a + b, sizeof buf - a - b);
    memcpy(buf + a + b + c, "\0\0garbage", 9);
    size_t total = a + b + c + 9;
    for (size_t inc = 1; inc <= total; inc = inc * 3 + 1) {
        result r1 = inflate_member(impl, buf, total, inc, 4096);
        CHECK_INT(r1.rc, INFLATE_END);
        CHECK_INT(r1.used, a);
        CHECK_INT(r1.made, 5000);
        CHECK_INT(r1.bgzf, 1);
        result r2 = inflate_member(impl, buf + a, total - a, inc, 4096);
        CHECK_INT(r2.rc, INFLATE_END);
        CHECK_INT(r2.used, b);
        CHECK(r2.made == 77 && memcmp(r2.out, text + 100, 77) == 0);
        CHECK_INT(r2.bgzf, 0);
        result r3 = inflate_member(impl, buf + a + b, total - a - b, inc, 4096);
        CHECK_INT(r3.rc, INFLATE_END);
        CHECK_INT(r3.used, c);
        CHECK_INT(r3.made, 0);
        CHECK_INT(r3.bgzf, 1);
        free(r1.out), free(r2.out), free(r3.out);
    }
    free(text);
}

/* Damage: both implementations must agree on every case (the engine's messages depend on it). */
static void test_damage(void)
{
    unsigned char *text = sample_text(3000), gz[8192], bad[8192];
    size_t gl = gzip_member(text, 3000, 0, gz, sizeof gz);
    int disagree = 0, accepted = 0;
    for (size_t cut = 0; cut < gl; cut++) { /* a member cut anywhere never ends */
        result z = inflate_member(INFLATE_ZLIB, gz, cut, 512, 4096), s = inflate_member(INFLATE_ISAL, gz, cut, 512, 4096);
        if (z.rc == INFLATE_END || s.rc == INFLATE_END) accepted++;
        if (z.rc != s.rc) disagree++;
        free(z.out), free(s.out);
    }
    CHECK_INT(accepted, 0);
    CHECK_INT(disagree, 0);
    for (size_t pos = 0; pos < gl; pos++) { /* one flipped byte anywhere */
        memcpy(bad, gz, gl);
        bad[pos] ^= 0x5a;
        result z = inflate_member(INFLATE_ZLIB, bad, gl, 512, 4096), s = inflate_member(INFLATE_ISAL, bad, gl, 512, 4096);
        int same = z.rc == s.rc && (z.rc != INFLATE_BAD || strcmp(z.reason, s.reason) == 0);
        if (z.rc == INFLATE_END && z.made == 3000 && memcmp(z.out, text, 3000) == 0 && pos >= 10 && pos < gl - 8)
            same = 0; /* damage inside the data that reads back as the text would be a miss */
        if (!same) {
            disagree++;
            fprintf(stderr, "flip at %zu/%zu: zlib %d %s, isa-l %d %s\n", pos, gl, z.rc, z.reason ? z.reason : "",
                    s.rc, s.reason ? s.reason : "");
        }
        free(z.out), free(s.out);
    }
    CHECK_INT(disagree, 0);
    const char *want[] = {"not a gzip header", "checksum mismatch", "checksum mismatch"};
    size_t where[] = {2, gl - 8, gl - 2}; /* the method byte, the CRC, the length */
    for (int i = 0; i < 3; i++) {
        memcpy(bad, gz, gl);
        bad[where[i]] ^= 1;
        for (int impl = 0; impl < 2; impl++) {
            result r = inflate_member((inflate_impl)impl, bad, gl, gl, 4096);
            CHECK_INT(r.rc, INFLATE_BAD);
            CHECK_STR(r.reason ? r.reason : "", want[i]);
            free(r.out);
        }
    }
    free(text);
}

/* On damaged data ISA-L may copy from its own buffers before it finds the damage: the text it
 * hands out before the error must not depend on what the heap held (the inflater's state is
 * zeroed). Poisons the heap where the state will be allocated, two ways, and compares. */
static result after_poison(const unsigned char *in, size_t n, int byte)
{
    mallopt(M_TRIM_THRESHOLD, 64 << 20); /* freed memory stays in the heap, poisoned */
    void *p[3];
    for (int i = 0; i < 3; i++)
        if ((p[i] = malloc(120000))) memset(p[i], byte, 120000);
    for (int i = 0; i < 3; i++) free(p[i]);
    return inflate_member(INFLATE_ISAL, in, n, 512, 1 << 20);
}

/* BGZF members the gzsource fuzzer made: the first one's damage leaves ISA-L copying bytes it
 * has not written. */
static const unsigned char far_back[] = {0x1f, 0x8b, 0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x06, 0x00, 0x42, 0x43, 0x02, 0x00, 0x23, 0x00, 0x7b, 0xbf, 0x7b, 0x7f, 0x66, 0x0a, 0x97, 0x21, 0x85, 0x00, 0x4c, 0x4c, 0x45, 0xfd, 0x08, 0x00, 0x00, 0x00, 0x1f, 0x8b, 0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x06, 0x00, 0x42, 0x43, 0x02, 0x00, 0x30, 0x00, 0x7b, 0xbf, 0x7b, 0x7f, 0x66, 0x0a, 0x97, 0x21, 0x57, 0x66, 0x8a, 0x4e, 0x22, 0x97, 0xa1, 0x4e, 0x05, 0x97, 0x91, 0x4e, 0x25, 0x17, 0x00, 0x2f, 0x6a, 0xde, 0x43, 0x15, 0x00, 0x00, 0x00, 0x1f, 0x8b, 0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x06, 0x00, 0x42, 0x43, 0x02, 0x00, 0x1b, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

static void test_damage_deterministic(void)
{
    unsigned char *text = sample_text(3000), gz[8192], bad[8192];
    size_t gl = gzip_member(text, 3000, 0, gz, sizeof gz);
    int differ = 0;
    result f1 = after_poison(far_back, sizeof far_back, 0xff), f2 = after_poison(far_back, sizeof far_back, 0x11);
    CHECK_INT(f1.rc, INFLATE_BAD);
    CHECK(f1.rc == f2.rc && f1.made == f2.made && memcmp(f1.out, f2.out, f1.made) == 0);
    free(f1.out), free(f2.out);
    for (size_t pos = 10; pos < gl - 8; pos++) {
        memcpy(bad, gz, gl);
        bad[pos] ^= 0x5a;
        result a = after_poison(bad, gl, 0xff), b = after_poison(bad, gl, 0x11);
        if (a.rc != b.rc || a.made != b.made || memcmp(a.out, b.out, a.made) != 0) differ++;
        free(a.out), free(b.out);
    }
    CHECK_INT(differ, 0);
    free(text);
}

int main(void)
{
    CHECK_INT(inflate_have_isal(), 1); /* scripts/setup installs libisal-dev: the build must have found it */
    setenv("DEFECTOR_INFLATE", "zlib", 1);
    CHECK_INT(inflate_default(), INFLATE_ZLIB);
    unsetenv("DEFECTOR_INFLATE");
    CHECK_INT(inflate_default(), INFLATE_ISAL);
    test_chunk_sizes(INFLATE_ZLIB);
    test_chunk_sizes(INFLATE_ISAL);
    test_members(INFLATE_ZLIB);
    test_members(INFLATE_ISAL);
    test_damage();
    test_damage_deterministic();
    TEST_END();
}
