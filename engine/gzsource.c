/* gzsource.c: bytes in. A file is gzip when it starts with the gzip magic (1f 8b), whatever
 * its name; otherwise it is read as plain text. Gzip members are inflated one after another
 * (exports made by `cat a.gz b.gz` or by parallel compressors are multi-member); zero bytes
 * after the last member are tolerated, anything else there is reported as corruption.
 * Invariant: `in` holds [in_pos, in_len) unread compressed bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <zlib.h>

#include "gzsource.h"
#include "progress.h"

#define IN_CAP (1u << 18)

struct gzsource {
    FILE *f;
    const char *path;
    int gzip;
    int stream_open; /* inside a gzip member (inflate initialised and not at its end) */
    int eof;         /* no more bytes from the file */
    z_stream z;
    unsigned char in[IN_CAP];
    size_t in_pos, in_len;
    uint64_t consumed, size;
    double cpu; /* thread CPU time spent reading and inflating */
};

static int fill(gzsource *s)
{
    if (s->in_pos < s->in_len || s->eof) return 0;
    s->in_len = fread(s->in, 1, IN_CAP, s->f);
    s->in_pos = 0;
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
    if (fill(s) != 0) {
        gzsource_free(s);
        return DF_FAIL(err, DF_ERR_IO, path, "cannot read the file: %s", strerror(errno));
    }
    s->gzip = s->in_len >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
    if (s->gzip && inflateInit2(&s->z, 15 + 16) != Z_OK) {
        gzsource_free(s);
        return DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory starting zlib");
    }
    s->stream_open = s->gzip;
    *out = s;
    return DF_OK;
}

/* After a member's end: another member, trailing zero padding, or garbage. */
static int next_member(gzsource *s, df_error *err)
{
    for (;;) {
        if (fill(s) != 0) return DF_FAIL(err, DF_ERR_IO, s->path, "read error: %s", strerror(errno)), -1;
        if (s->in_pos == s->in_len) return 0; /* clean end */
        if (s->in[s->in_pos] == 0x1f) {
            inflateReset(&s->z);
            s->stream_open = 1;
            return 0;
        }
        if (s->in[s->in_pos] != 0) {
            DF_FAIL(err, DF_ERR_IO, s->path,
                    "corrupt gzip: unexpected data after the end of the compressed stream at byte %llu; "
                    "re-create the export or check that it was copied completely",
                    (unsigned long long)(s->consumed));
            return -1;
        }
        s->in_pos++, s->consumed++;
    }
}

static long read_plain(gzsource *s, char *buf, size_t cap, df_error *err)
{
    size_t n = 0;
    while (n < cap) {
        if (fill(s) != 0) return DF_FAIL(err, DF_ERR_IO, s->path, "read error: %s", strerror(errno)), -1;
        if (s->in_pos == s->in_len) break;
        size_t k = s->in_len - s->in_pos;
        if (k > cap - n) k = cap - n;
        memcpy(buf + n, s->in + s->in_pos, k);
        s->in_pos += k, s->consumed += k, n += k;
    }
    return (long)n;
}

static long read_gzip(gzsource *s, char *buf, size_t cap, df_error *err);

long gzsource_read(gzsource *s, char *buf, size_t cap, df_error *err)
{
    double t0 = thread_cpu_seconds();
    long n = s->gzip ? read_gzip(s, buf, cap, err) : read_plain(s, buf, cap, err);
    s->cpu += thread_cpu_seconds() - t0;
    return n;
}

double gzsource_cpu_seconds(const gzsource *s) { return s->cpu; }

static long read_gzip(gzsource *s, char *buf, size_t cap, df_error *err)
{
    size_t n = 0;
    while (n < cap && s->stream_open) {
        if (fill(s) != 0) return DF_FAIL(err, DF_ERR_IO, s->path, "read error: %s", strerror(errno)), -1;
        if (s->in_pos == s->in_len) {
            DF_FAIL(err, DF_ERR_IO, s->path,
                    "truncated gzip: the file ends in the middle of the compressed data (after %llu bytes); "
                    "the export was probably cut off, copy it again",
                    (unsigned long long)s->consumed);
            return -1;
        }
        s->z.next_in = s->in + s->in_pos;
        s->z.avail_in = (uInt)(s->in_len - s->in_pos);
        s->z.next_out = (unsigned char *)buf + n;
        s->z.avail_out = (uInt)(cap - n);
        int rc = inflate(&s->z, Z_NO_FLUSH);
        size_t used = (s->in_len - s->in_pos) - s->z.avail_in;
        s->in_pos += used, s->consumed += used;
        n = cap - s->z.avail_out;
        if (rc == Z_STREAM_END) {
            s->stream_open = 0;
            if (next_member(s, err) != 0) return -1;
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            DF_FAIL(err, DF_ERR_IO, s->path,
                    "corrupt gzip data near byte %llu (%s); re-create the export or check that it was copied completely",
                    (unsigned long long)s->consumed, s->z.msg ? s->z.msg : "inflate failed");
            return -1;
        }
    }
    return (long)n;
}

uint64_t gzsource_bytes_in(const gzsource *s) { return s->consumed; }
uint64_t gzsource_file_size(const gzsource *s) { return s->size; }
int gzsource_is_gzip(const gzsource *s) { return s->gzip; }

void gzsource_free(gzsource *s)
{
    if (!s) return;
    if (s->gzip) inflateEnd(&s->z);
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
