/* gzsource.c: bytes in. A file is gzip when it starts with the gzip magic (1f 8b), whatever
 * its name; otherwise it is read as plain text. Gzip members are inflated one after another
 * (exports made by `cat a.gz b.gz` or by parallel compressors are multi-member); zero bytes
 * after the last member are tolerated, anything else there is reported as corruption.
 * A BGZF file (bgzip: members carrying the "BC" extra field) ends with an empty member, its
 * end-of-file block: without it the file was cut off, and is refused. A plain multi-member file
 * cut exactly between two members cannot be told from a whole one (gzip has no end marker).
 * The first bytes of the text are looked at before any is handed out (peek): another
 * compression (bzip2, zstd, xz, zip, ...), gzip inside gzip, or UTF-16/32 text are refused
 * with what the file is and how to fix it, rather than read as CSV; a UTF-8 byte order mark
 * there is not handed out.
 * Invariant: `in` holds [in_pos, in_len) unread compressed bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include "gzsource.h"
#include "dialect.h"
#include "inflate.h"
#include "progress.h"
#include "sha256.h"

#define IN_CAP (1u << 18)
#define OUT_CAP (1u << 18)
#define PEEK 64

struct gzsource {
    FILE *f;
    const char *path;
    int gzip;
    int stream_open; /* inside a gzip member (inflate initialised and not at its end) */
    int eof;         /* no more bytes from the file */
    inflater *inf;   /* zlib or ISA-L (inflate.c) */
    unsigned char *out; /* text inflated ahead: [out_pos, out_len) not yet handed out */
    size_t out_pos, out_len;
    int out_failed; /* out_fail follows the text in out */
    df_error out_fail;
    uint64_t member_at; /* the file offset where the current member starts */
    int bgzf;        /* the first member is BGZF */
    int ended_bgzf;  /* the last member read was an empty BGZF member (the end-of-file block) */
    uint64_t members; /* members inflated to their end */
    unsigned char in[IN_CAP];
    size_t in_pos, in_len;
    uint64_t consumed, size;
    sha256_ctx hash; /* over the file's bytes as they are read (the status file's fingerprint) */
    char peek[PEEK]; /* the first bytes of the text, read before any is handed out */
    size_t peek_len, peek_pos;
    int peeked;
    int failed;     /* an error, handed out with every read from now on */
    df_error fail;
    double cpu; /* thread CPU time spent reading and inflating */
    /* a declared 8-bit encoding (dialect.h ENC_*, 0: none): the text is converted to UTF-8 as
     * it is read; raw bytes read ahead in [raw_pos, raw_len), a character cut by the end of
     * the caller's buffer in [pend_pos, pend_len) */
    int enc;
    char *raw;
    size_t raw_pos, raw_len;
    char pend[3];
    int pend_pos, pend_len;
};

/* Starts (or restarts, for the next member) inflating. */
static int member_start(gzsource *s, int first)
{
    if (first && (!(s->inf = inflater_new(inflate_default())) || !(s->out = malloc(OUT_CAP)))) return -1;
    s->member_at = s->consumed;
    return inflater_member_start(s->inf);
}

static int fill(gzsource *s)
{
    if (s->in_pos < s->in_len || s->eof) return 0;
    s->in_len = fread(s->in, 1, IN_CAP, s->f);
    s->in_pos = 0;
    sha256_update(&s->hash, s->in, s->in_len);
    if (s->in_len == 0) {
        s->eof = 1;
        return ferror(s->f) ? -1 : 0;
    }
    return 0;
}

df_status gzsource_open(const char *path, gzsource **out, df_error *err)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return DF_FAIL(err, DF_ERR_IO, path, "cannot open the file: %s (check --data and the file name the rule file gives)", strerror(errno));
    if (S_ISDIR(st.st_mode))
        return DF_FAIL(err, DF_ERR_IO, path, "is a folder, not a file");
    gzsource *s = calloc(1, sizeof *s);
    if (!s) return DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory opening the file");
    s->f = fopen(path, "rb");
    if (!s->f) {
        free(s);
        return DF_FAIL(err, DF_ERR_IO, path, "cannot open the file: %s", strerror(errno));
    }
    s->path = path;
    s->size = (uint64_t)st.st_size;
    sha256_init(&s->hash);
    if (fill(s) != 0) {
        gzsource_free(s);
        return DF_FAIL(err, DF_ERR_IO, path, "cannot read the file: %s", strerror(errno));
    }
    s->gzip = s->in_len >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
    if (s->gzip && member_start(s, 1) != 0) {
        gzsource_free(s);
        return DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory starting to inflate the file");
    }
    s->stream_open = s->gzip;
    *out = s;
    return DF_OK;
}

/* After a member's end: another member, trailing zero padding, or garbage. A BGZF file ends
 * with its end-of-file block. */
static int next_member(gzsource *s, df_error *err)
{
    int bgzf = inflater_member_bgzf(s->inf);
    if (s->members++ == 0) s->bgzf = bgzf;
    s->ended_bgzf = bgzf && inflater_member_out(s->inf) == 0;
    int padding = 0; /* zeros after a member end the stream: gzip and zlib read nothing after them */
    for (;;) {
        if (fill(s) != 0) return DF_FAIL(err, DF_ERR_IO, s->path, "read error: %s", strerror(errno)), -1;
        if (s->in_pos == s->in_len) { /* the end of the file */
            if (!s->bgzf || s->ended_bgzf) return 0;
            DF_FAIL(err, DF_ERR_IO, s->path,
                    "truncated BGZF file: it ends after %llu bytes without the end-of-file block bgzip writes; "
                    "the export was cut off at a block boundary, copy it again",
                    (unsigned long long)s->consumed);
            return -1;
        }
        if (s->in[s->in_pos] == 0x1f && !padding) {
            if (member_start(s, 0) != 0) return DF_FAIL(err, DF_ERR_NOMEM, s->path, "out of memory starting a gzip member"), -1;
            s->stream_open = 1;
            return 0;
        }
        if (s->in[s->in_pos] != 0) {
            DF_FAIL(err, DF_ERR_IO, s->path,
                    "corrupt gzip: unexpected data after the end of the compressed stream%s at byte %llu "
                    "(gzip and zlib would read none of it); re-create the export or check that it was copied completely",
                    padding ? " and its zero padding" : "", (unsigned long long)(s->consumed));
            return -1;
        }
        padding = 1;
        s->in_pos++, s->consumed++;
    }
}

static int read_plain(gzsource *s, char *buf, size_t cap, size_t *got, df_error *err)
{
    size_t n = 0;
    while (n < cap) {
        if (fill(s) != 0) return *got = n, DF_FAIL(err, DF_ERR_IO, s->path, "read error: %s", strerror(errno)), -1;
        if (s->in_pos == s->in_len) break;
        size_t k = s->in_len - s->in_pos;
        if (k > cap - n) k = cap - n;
        memcpy(buf + n, s->in + s->in_pos, k);
        s->in_pos += k, s->consumed += k, n += k;
    }
    *got = n;
    return 0;
}

static int read_gzip(gzsource *s, char *buf, size_t cap, size_t *got, df_error *err);

/* Up to cap bytes of text. The bytes before an error are handed out first and the error with
 * the next read, so every read size sees the same text before it. */
static long read_text(gzsource *s, char *buf, size_t cap, df_error *err)
{
    if (s->failed) return *err = s->fail, -1;
    size_t got = 0;
    int rc = s->gzip ? read_gzip(s, buf, cap, &got, err) : read_plain(s, buf, cap, &got, err);
    if (rc == 0) return (long)got;
    s->failed = 1, s->fail = *err;
    return got ? (long)got : -1;
}

static const char utf16_fix[] = "save it as UTF-8 (in Excel: Save As \"CSV UTF-8\"; or iconv -f UTF-16 -t UTF-8)";

/* What the first bytes of the text say it is, when it is not text this engine reads (bzip2:
 * see is_bzip2). */
static const struct not_csv {
    const char *magic;
    size_t n;
    const char *what, *fix;
} not_csv[] = {
    {"\x1f\x8b", 2, "gzip data again (the file was compressed twice)", "gunzip it once and read the result"},
    {"\x28\xb5\x2f\xfd", 4, "zstd-compressed data", "recompress it: zstd -dc FILE | gzip > FILE.csv.gz"},
    {"\xfd\x37\x7a\x58\x5a\x00", 6, "xz-compressed data", "recompress it: xz -dc FILE | gzip > FILE.csv.gz"},
    {"PK\x03\x04", 4, "a zip archive (an Excel .xlsx file is one)",
     "unzip it and gzip the CSV inside, or save the sheet as \"CSV UTF-8\""},
    {"PK\x05\x06", 4, "an empty zip archive", "export the table again as CSV"},
    {"\x37\x7a\xbc\xaf\x27\x1c", 6, "a 7-Zip archive", "extract it and gzip the CSV inside"},
    {"\x04\x22\x4d\x18", 4, "lz4-compressed data", "recompress it: lz4 -dc FILE | gzip > FILE.csv.gz"},
    {"\xff\xfe\x00\x00", 4, "UTF-32 text", "save it as UTF-8 (iconv -f UTF-32 -t UTF-8)"},
    {"\x00\x00\xfe\xff", 4, "UTF-32 text", "save it as UTF-8 (iconv -f UTF-32 -t UTF-8)"},
    {"\xff\xfe", 2, "UTF-16 text", utf16_fix},
    {"\xfe\xff", 2, "UTF-16 text", utf16_fix},
};

/* "BZh", the block size '1'..'9', then the magic of a block or of the stream's end: a header
 * line starting "BZh" is still text. */
static int is_bzip2(const unsigned char *p, size_t n)
{
    return n >= 10 && memcmp(p, "BZh", 3) == 0 && p[3] >= '1' && p[3] <= '9' &&
           (memcmp(p + 4, "1AY&SY", 6) == 0 || memcmp(p + 4, "\x17\x72\x45\x38\x50\x90", 6) == 0);
}

/* UTF-16 without a byte order mark: every other byte NUL (ASCII in UTF-16), the others not. */
static int utf16_pattern(const unsigned char *p, size_t n)
{
    n &= ~(size_t)1;
    if (n < 4) return 0;
    int zero[2] = {0, 0};
    for (size_t i = 0; i < n; i++) zero[i & 1] += p[i] == 0;
    int half = (int)(n / 2);
    return (zero[0] == half && zero[1] == 0) || (zero[1] == half && zero[0] == 0);
}

/* Reads the first PEEK bytes of the text and refuses text this engine cannot read as CSV. */
static int peek(gzsource *s, df_error *err)
{
    s->peeked = 1;
    while (s->peek_len < PEEK) {
        long k = read_text(s, s->peek + s->peek_len, PEEK - s->peek_len, err);
        if (k < 0) return -1;
        if (k == 0) break;
        s->peek_len += (size_t)k;
    }
    const unsigned char *p = (const unsigned char *)s->peek;
    const char *what = NULL, *fix = NULL;
    for (size_t i = 0; !what && i < sizeof not_csv / sizeof *not_csv; i++)
        if (s->peek_len >= not_csv[i].n && memcmp(p, not_csv[i].magic, not_csv[i].n) == 0)
            what = not_csv[i].what, fix = not_csv[i].fix;
    if (!what && is_bzip2(p, s->peek_len))
        what = "bzip2-compressed data", fix = "recompress it: bunzip2 -c FILE | gzip > FILE.csv.gz";
    if (!what && utf16_pattern(p, s->peek_len)) what = "UTF-16 text (a NUL byte beside every letter)", fix = utf16_fix;
    if (!what) {
        if (s->peek_len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) s->peek_pos = 3; /* UTF-8 BOM */
        return 0;
    }
    if (s->gzip)
        DF_FAIL(err, DF_ERR_IO, s->path, "this is gzip, but what it holds is %s, not CSV text: %s", what, fix);
    else
        DF_FAIL(err, DF_ERR_IO, s->path, "this is %s, not gzip or CSV text (whatever the file name says): %s", what, fix);
    return -1;
}

static long read_utf8(gzsource *s, char *buf, size_t cap, df_error *err);

void gzsource_set_encoding(gzsource *s, int enc)
{
    s->enc = enc;
}

/* The text converted from s->enc to UTF-8: cap bytes, fewer only at the end (as read_utf8). */
static long read_converted(gzsource *s, char *buf, size_t cap, df_error *err)
{
    enum { RAW = 1 << 16 };
    if (!s->raw && !(s->raw = malloc(RAW))) return DF_FAIL(err, DF_ERR_NOMEM, s->path, "out of memory"), -1;
    size_t n = 0;
    while (n < cap) {
        while (s->pend_pos < s->pend_len && n < cap) buf[n++] = s->pend[s->pend_pos++];
        if (n == cap) break;
        if (s->raw_pos == s->raw_len) {
            long k = read_utf8(s, s->raw, RAW, err);
            if (k < 0) return n ? (long)n : -1; /* the error again at the next read */
            if (k == 0) break;
            s->raw_pos = 0, s->raw_len = (size_t)k;
        }
        while (s->raw_pos < s->raw_len && n < cap) {
            unsigned char b = (unsigned char)s->raw[s->raw_pos++];
            if (b < 0x80) {
                buf[n++] = (char)b;
                continue;
            }
            s->pend_len = dialect_byte_utf8(s->enc, b, s->pend), s->pend_pos = 0;
            while (s->pend_pos < s->pend_len && n < cap) buf[n++] = s->pend[s->pend_pos++];
        }
    }
    return (long)n;
}

long gzsource_read(gzsource *s, char *buf, size_t cap, df_error *err)
{
    return s->enc ? read_converted(s, buf, cap, err) : read_utf8(s, buf, cap, err);
}

/* The file's text as it is (a UTF-8 BOM left out). */
static long read_utf8(gzsource *s, char *buf, size_t cap, df_error *err)
{
    double t0 = thread_cpu_seconds();
    long n = 0;
    if (!s->peeked && peek(s, err) != 0) n = -1;
    if (n == 0 && s->peek_pos < s->peek_len) {
        size_t k = s->peek_len - s->peek_pos < cap ? s->peek_len - s->peek_pos : cap;
        memcpy(buf, s->peek + s->peek_pos, k);
        s->peek_pos += k, n = (long)k;
    }
    if (n >= 0 && (size_t)n < cap) {
        long k = read_text(s, buf + n, cap - (size_t)n, err);
        if (k >= 0) n += k;
        else if (n == 0) n = -1; /* else the peeked bytes now, the error next time */
    }
    s->cpu += thread_cpu_seconds() - t0;
    return n;
}

double gzsource_cpu_seconds(const gzsource *s) { return s->cpu; }

/* Inflates into buf until it is full, the members end or an error; *got bytes made. */
static int inflate_some(gzsource *s, unsigned char *buf, size_t cap, size_t *got, df_error *err)
{
    size_t n = 0;
    int rc = 0;
    while (n < cap && s->stream_open && rc == 0) {
        if (fill(s) != 0) {
            rc = DF_FAIL(err, DF_ERR_IO, s->path, "read error: %s", strerror(errno));
            break;
        }
        int at_end = s->in_pos == s->in_len; /* the inflater may still hold text: what it gives, then truncated */
        size_t used, made;
        inflate_rc zr = inflater_run(s->inf, s->in + s->in_pos, s->in_len - s->in_pos, &used, buf + n, cap - n, &made);
        s->in_pos += used, s->consumed += used, n += made;
        if (zr == INFLATE_END) {
            s->stream_open = 0;
            if (next_member(s, err) != 0) rc = err->status;
        } else if (zr == INFLATE_NOMEM) {
            rc = DF_FAIL(err, DF_ERR_NOMEM, s->path, "out of memory inflating the file");
        } else if (zr == INFLATE_BAD) {
            rc = DF_FAIL(err, DF_ERR_IO, s->path,
                         "corrupt gzip data (%s) in the gzip member that starts at byte %llu; re-create the export "
                         "or check that it was copied completely",
                         inflater_reason(s->inf), (unsigned long long)s->member_at);
        } else if (at_end && made == 0) {
            rc = DF_FAIL(err, DF_ERR_IO, s->path,
                         "truncated gzip: the file ends in the middle of the compressed data (after %llu bytes); "
                         "the export was probably cut off, copy it again",
                         (unsigned long long)s->consumed);
        }
    }
    *got = n;
    return rc ? -1 : 0;
}

/* The text is inflated into out, OUT_CAP bytes at a time whatever the caller reads, and copied
 * out from there: how much text comes before damaged data then cannot depend on read sizes (with
 * ISA-L it would: what it has decoded but not yet written out when it meets the damage is lost). */
static int read_gzip(gzsource *s, char *buf, size_t cap, size_t *got, df_error *err)
{
    size_t n = 0;
    int rc = 0;
    while (n < cap) {
        if (s->out_pos < s->out_len) {
            size_t k = s->out_len - s->out_pos < cap - n ? s->out_len - s->out_pos : cap - n;
            memcpy(buf + n, s->out + s->out_pos, k);
            s->out_pos += k, n += k;
            continue;
        }
        if (s->out_failed) {
            *err = s->out_fail;
            rc = -1;
            break;
        }
        if (!s->stream_open) break;
        s->out_pos = s->out_len = 0;
        if (inflate_some(s, s->out, OUT_CAP, &s->out_len, &s->out_fail) != 0) s->out_failed = 1;
    }
    *got = n;
    return rc;
}

uint64_t gzsource_bytes_in(const gzsource *s) { return s->consumed; }

int gzsource_sha256(gzsource *s, char hex[65])
{
    while (!s->eof) { /* the reader stopped early: the rest of the file, for the hash alone */
        s->in_pos = s->in_len;
        if (fill(s) != 0) return -1;
    }
    sha256_final(&s->hash, hex);
    return 0;
}
uint64_t gzsource_file_size(const gzsource *s) { return s->size; }
int gzsource_is_gzip(const gzsource *s) { return s->gzip; }

void gzsource_free(gzsource *s)
{
    if (!s) return;
    inflater_free(s->inf);
    free(s->out);
    free(s->raw);
    if (s->f) fclose(s->f);
    free(s);
}

/* gzpipe: a ring of NBUF chunks between one decompressing thread and the parsing caller.
 * Invariant: slots [head, head + count) are filled, in order; the producer waits while the
 * ring is full and the consumer while it is empty. The consumer's current chunk stays
 * reserved (not reusable) until its next call. */
#define NBUF 4

struct gzpipe {
    gzsource *src;
    size_t chunk;
    int threaded;
    char *buf[NBUF];
    long len[NBUF];
    int head, count, held; /* held: the consumer still reads slot head */
    int done, stop;        /* producer finished (end or error); consumer asks to stop */
    df_error err;
    df_status status;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void *producer(void *arg)
{
    gzpipe *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->count == NBUF && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        int slot = (p->head + p->count) % NBUF;
        pthread_mutex_unlock(&p->mu);
        long n = gzsource_read(p->src, p->buf[slot], p->chunk, &p->err);
        pthread_mutex_lock(&p->mu);
        if (n < 0) p->status = p->err.status;
        if (n <= 0) p->done = 1;
        else p->len[slot] = n, p->count++;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (n <= 0) return NULL;
    }
}

df_status gzpipe_start(gzsource *src, size_t chunk, int threaded, gzpipe **out, df_error *err)
{
    *out = NULL;
    gzpipe *p = calloc(1, sizeof *p);
    if (!p) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    p->src = src, p->chunk = chunk, p->threaded = threaded;
    for (int i = 0; i < (threaded ? NBUF : 1); i++) {
        if (!(p->buf[i] = malloc(chunk))) {
            gzpipe_free(p);
            return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
        }
    }
    if (threaded) {
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->cv, NULL);
        if (pthread_create(&p->th, NULL, producer, p) != 0) {
            pthread_mutex_destroy(&p->mu);
            pthread_cond_destroy(&p->cv);
            p->threaded = 0; /* fall back to reading in this thread */
        }
    }
    *out = p;
    return DF_OK;
}

long gzpipe_next(gzpipe *p, const char **buf, df_error *err)
{
    if (!p->threaded) {
        *buf = p->buf[0];
        return gzsource_read(p->src, p->buf[0], p->chunk, err);
    }
    pthread_mutex_lock(&p->mu);
    if (p->held) { /* release the chunk returned last time */
        p->head = (p->head + 1) % NBUF;
        p->count--;
        p->held = 0;
        pthread_cond_broadcast(&p->cv);
    }
    while (p->count == 0 && !p->done) pthread_cond_wait(&p->cv, &p->mu);
    long n;
    if (p->count > 0) {
        *buf = p->buf[p->head];
        n = p->len[p->head];
        p->held = 1;
    } else if (p->status != DF_OK) {
        *err = p->err;
        n = -1;
    } else {
        n = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return n;
}

void gzpipe_free(gzpipe *p)
{
    if (!p) return;
    if (p->threaded) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->th, NULL);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
    }
    for (int i = 0; i < NBUF; i++) free(p->buf[i]);
    free(p);
}
