/* output.c: the CSV writers (RFC 4180, \n line ends, UTF-8 as given, formula guard), also used
 * for run_summary.json, and number formatting. A writer buffers WBUF bytes and writes them with
 * write(2) into its descriptor (a temporary file of the staging folder, see commit.c); the
 * first failed write is kept in err (later bytes are dropped) and reported by csvw_finish,
 * with the file's final name. Rows whose order is known only at the end are captured in
 * memory first (csvw_row_begin). What a writer has written can be read back (csvw_read_back:
 * the report shows the cells of the CSV files). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "output.h"

#define WBUF (1u << 20)

char *path_join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 2);
    if (!s) return NULL;
    memcpy(s, a, na);
    s[na] = '/';
    memcpy(s + na + 1, b, nb + 1);
    return s;
}

csvw *csvw_new_file(int fd, const char *name, const char *final)
{
    csvw *w = calloc(1, sizeof *w);
    if (w) {
        w->fd = fd;
        w->sep = ',', w->guard = 1;
        w->name = strdup(name);
        w->final = strdup(final);
        w->buf = malloc(WBUF);
    }
    if (!w || !w->name || !w->final || !w->buf) {
        if (w) w->fd = -1;
        csvw_free(w);
        close(fd);
        return NULL;
    }
    return w;
}

csvw *csvw_new_memory(const char *name)
{
    csvw *w = calloc(1, sizeof *w);
    if (w) {
        w->fd = -1, w->in_memory = 1;
        w->sep = ',', w->guard = 1;
        w->name = strdup(name);
        w->final = strdup(name);
        w->buf = malloc(WBUF);
    }
    if (w && w->name && w->final && w->buf) return w;
    csvw_free(w);
    return NULL;
}

/* Appends n bytes of p to a writer in memory (grown by doubling); ENOMEM kept in err. */
static void append_memory(csvw *w, const char *p, size_t n)
{
    if (w->file_len + n > w->file_cap) {
        size_t cap = w->file_cap ? w->file_cap : WBUF;
        while (cap < w->file_len + n) cap *= 2;
        char *f = realloc(w->file, cap);
        if (!f) {
            w->err = ENOMEM;
            return;
        }
        w->file = f, w->file_cap = cap;
    }
    memcpy(w->file + w->file_len, p, n);
    w->file_len += n;
}

int csvw_take_memory(csvw *w, char **buf, size_t *len)
{
    *buf = NULL, *len = 0;
    if (!w->in_memory || !w->finished) return errno = EINVAL, -1;
    if (w->err) return errno = w->err, -1;
    *buf = w->file, *len = w->file_len;
    w->file = NULL, w->file_len = w->file_cap = 0;
    return 0;
}

/* Writes n bytes of p to the file; a failure is kept in err and the bytes are dropped. */
static void write_all(csvw *w, const char *p, size_t n)
{
    if (w->in_memory) {
        if (!w->err) append_memory(w, p, n);
        return;
    }
    size_t done = 0;
    while (done < n && !w->err) {
        ssize_t k = write(w->fd, p + done, n - done);
        if (k > 0) done += (size_t)k;
        else if (k == 0) w->err = EIO;
        else if (errno != EINTR) w->err = errno;
    }
}

/* The buffer through the deflate stream (flush: Z_FINISH, the end of the file). */
static void deflate_buf(csvw *w, int flush)
{
    char out[65536];
    z_stream *z = w->gz;
    z->next_in = (Bytef *)w->buf, z->avail_in = (uInt)w->buflen;
    int r;
    do {
        z->next_out = (Bytef *)out, z->avail_out = sizeof out;
        r = deflate(z, flush);
        if (r == Z_STREAM_ERROR) {
            if (!w->err) w->err = EIO;
            return;
        }
        write_all(w, out, sizeof out - z->avail_out);
    } while (z->avail_out == 0 || (flush == Z_FINISH && r != Z_STREAM_END));
}

/* Writes the buffer out; a failure is kept in err and the bytes are dropped. */
static void flush_buf(csvw *w)
{
    if (w->gz) deflate_buf(w, Z_NO_FLUSH);
    else write_all(w, w->buf, w->buflen);
    w->buflen = 0;
}

int csvw_gzip(csvw *w)
{
    z_stream *z = calloc(1, sizeof *z);
    if (!z) return -1;
    /* level 1 (a snapshot of 1M customers: 13 MB against 9 MB at level 6, for a third of the CPU,
     * in the serial part of the run), gzip header (15 + 16), no file name or time in it: the
     * same bytes every run */
    if (deflateInit2(z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return free(z), -1;
    w->gz = z;
    return 0;
}

static void gz_end(csvw *w)
{
    if (!w->gz) return;
    deflateEnd(w->gz);
    free(w->gz);
    w->gz = NULL;
}

int csvw_finish(csvw *w)
{
    if (w->finished) return 0;
    if (w->in_memory) {
        flush_buf(w);
        w->finished = 1;
        return w->err ? (errno = w->err, -1) : 0;
    }
    if (w->fd < 0) return errno = w->err ? w->err : EBADF, -1;
    if (w->gz) deflate_buf(w, Z_FINISH), w->buflen = 0, gz_end(w);
    else flush_buf(w);
    w->finished = 1;
    if (!w->err && fsync(w->fd) != 0) w->err = errno;
    if (close(w->fd) != 0 && !w->err) w->err = errno;
    w->fd = -1;
    if (w->err) return errno = w->err, -1;
    return 0;
}

int fd_read_all(int fd, char **buf, size_t *len)
{
    *buf = NULL, *len = 0;
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < 0) return -1;
    char *b = malloc((size_t)size + 1);
    if (!b) return errno = ENOMEM, -1;
    size_t done = 0;
    while (done < (size_t)size) {
        ssize_t k = pread(fd, b + done, (size_t)size - done, (off_t)done);
        if (k > 0) done += (size_t)k;
        else if (k == 0 || errno != EINTR) return free(b), errno = k == 0 ? EIO : errno, -1;
    }
    b[done] = 0;
    *buf = b, *len = done;
    return 0;
}

int csvw_read_back(csvw *w, char **buf, size_t *len)
{
    *buf = NULL, *len = 0;
    if (w->fd < 0) return errno = EBADF, -1;
    flush_buf(w);
    if (w->err) return errno = w->err, -1;
    return fd_read_all(w->fd, buf, len);
}

void csvw_free(csvw *w)
{
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    gz_end(w);
    free(w->membuf);
    free(w->spans);
    free(w->file);
    free(w->name), free(w->final), free(w->buf);
    free(w);
}

/* Bytes to the file (not captured). */
static void put_file(csvw *w, const char *s, size_t n)
{
    if ((w->fd < 0 && !w->in_memory) || w->err) return;
    while (n > 0) {
        if (w->buflen == WBUF) flush_buf(w);
        size_t k = WBUF - w->buflen < n ? WBUF - w->buflen : n;
        memcpy(w->buf + w->buflen, s, k);
        w->buflen += k, s += k, n -= k;
    }
}

/* Bytes out: into the capture buffer while a row is captured, else to the file. A capture
 * that cannot grow sets nomem (reported by csvw_row_end). */
static void out(csvw *w, const char *s, size_t n)
{
    if (n == 0) return; /* an empty text may come as a NULL pointer (an empty Lua buffer) */
    if (!w->capturing) {
        put_file(w, s, n);
        return;
    }
    if (w->memlen + n > w->memcap) {
        size_t cap = w->memcap ? w->memcap * 2 : 65536;
        while (cap < w->memlen + n) cap *= 2;
        char *b = realloc(w->membuf, cap);
        if (!b) {
            w->nomem = 1;
            return;
        }
        w->membuf = b, w->memcap = cap;
    }
    memcpy(w->membuf + w->memlen, s, n);
    w->memlen += n;
}

static void out1(csvw *w, char c)
{
    if (w->capturing && w->memlen < w->memcap) w->membuf[w->memlen++] = c;
    else if (!w->capturing && w->buflen < WBUF && w->buf) w->buf[w->buflen++] = c;
    else out(w, &c, 1);
}

static void typed_cell(csvw *w, int tag, const void *p, size_t n);

static void put_field(csvw *w, const char *s, size_t n, int guard)
{
    if (w->typed) {
        uint32_t len = (uint32_t)n;
        typed_cell(w, guard ? TC_TEXT : TC_PLAIN, &len, sizeof len);
        out(w, s, n);
        return;
    }
    char sep = w->sep;
    if (w->ncells++) out1(w, sep);
    int g = guard && w->guard && n > 0 && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r');
    int q = 0;
    for (size_t i = 0; i < n && !q; i++) q = s[i] == sep || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!q) {
        if (g) out1(w, '\'');
        out(w, s, n);
        return;
    }
    out1(w, '"');
    if (g) out1(w, '\'');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '"') continue;
        out(w, s + start, i + 1 - start);
        out1(w, '"');
        start = i + 1;
    }
    out(w, s + start, n - start);
    out1(w, '"');
}

void csvw_raw(csvw *w, const char *s, size_t n) { out(w, s, n); }

void csvw_printf(csvw *w, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        out(w, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        w->err = w->err ? w->err : ENOMEM;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    out(w, big, (size_t)n);
    free(big);
}

void csvw_text(csvw *w, const char *s, size_t n) { put_field(w, s, n, 1); }
void csvw_plain(csvw *w, const char *s, size_t n) { put_field(w, s, n, 0); }
void csvw_empty(csvw *w)
{
    if (w->typed) typed_cell(w, TC_EMPTY, NULL, 0);
    else put_field(w, "", 0, 0);
}

/* buf holds "[-]d.ddde+XX" (n bytes): the same 15 significant digits without an exponent. */
static int fixed_digits(char *buf, size_t cap, int n)
{
    char digits[24];
    int nd = 0, neg = buf[0] == '-';
    const char *e = memchr(buf, 'e', (size_t)n);
    for (const char *p = buf + neg; p < e && nd < 20; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    int exp = atoi(e + 1), k = 0;
    if (exp + 2 + neg >= (int)cap) return n;
    if (neg) buf[k++] = '-';
    for (int i = 0; i <= exp; i++) buf[k++] = i < nd ? digits[i] : '0';
    buf[k] = 0;
    return k;
}

/* v with at most 6 decimals and 15 significant digits (money, rates): its digits without
 * printf, the same text as "%.15g" gives. v is the double nearest to r / 10^k, and 15-digit
 * decimals are far wider apart than doubles, so r / 10^k is what "%.15g" rounds v to; the
 * smallest such k leaves no trailing zero. Returns 0 when v is not such a number. */
static int short_decimal(double v, char *buf, size_t cap)
{
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e9) || cap < 32) return 0;
    for (int k = 1; k <= 6; k++) {
        double r = nearbyint(a * p10[k]);
        if (r >= 1e15 || r / p10[k] != a) continue;
        char tmp[24];
        int n = 0, j = 0;
        uint64_t u = (uint64_t)r;
        do tmp[n++] = (char)('0' + u % 10); while ((u /= 10) != 0);
        while (n <= k) tmp[n++] = '0'; /* 0.05: at least one digit before the point */
        if (v < 0) buf[j++] = '-';
        while (n > k) buf[j++] = tmp[--n];
        buf[j++] = '.';
        while (n) buf[j++] = tmp[--n];
        buf[j] = 0;
        return j;
    }
    return 0;
}

int format_number(double v, char *buf, size_t cap)
{
    if (v != v) return snprintf(buf, cap, "NaN");
    if (isinf(v)) return snprintf(buf, cap, v > 0 ? "Infinity" : "-Infinity");
    if (v == 0) return snprintf(buf, cap, "0");
    if (v == floor(v) && fabs(v) < 1e15) { /* a whole number: its digits, without printf */
        char tmp[24];
        int n = 0, neg = v < 0;
        uint64_t u = (uint64_t)(neg ? -v : v);
        do tmp[n++] = (char)('0' + u % 10); while ((u /= 10) != 0);
        if ((size_t)(n + neg) >= cap) return snprintf(buf, cap, "%.0f", v);
        int k = 0;
        if (neg) buf[k++] = '-';
        while (n) buf[k++] = tmp[--n];
        buf[k] = 0;
        return k;
    }
    int n = short_decimal(v, buf, cap);
    if (n > 0) return n;
    n = snprintf(buf, cap, "%.15g", v);
    if (!memchr(buf, 'e', (size_t)n)) return n;
    if (fabs(v) >= 1e15) return fixed_digits(buf, cap, n); /* 1.23e+17 -> 123000000000000000 */
    /* very large or very small: fixed notation, 15 significant digits at most */
    int e = (int)floor(log10(fabs(v)));
    int dec = e >= 14 ? 0 : 14 - e;
    if (dec > 30) dec = 30;
    n = snprintf(buf, cap, "%.*f", dec, v);
    if (dec > 0) {
        while (n > 0 && buf[n - 1] == '0') buf[--n] = 0;
        if (n > 0 && buf[n - 1] == '.') buf[--n] = 0;
    }
    return n;
}

/* A number's text into the file: with a decimal comma when asked. */
static void put_number(csvw *w, char *b, int n)
{
    if (w->dec_comma)
        for (int i = 0; i < n; i++)
            if (b[i] == '.') b[i] = ',';
    put_field(w, b, (size_t)n, 0);
}

void csvw_number(csvw *w, double v)
{
    if (w->typed) {
        typed_cell(w, TC_NUM, &v, sizeof v);
        return;
    }
    char b[64];
    int n = format_number(v, b, sizeof b);
    put_number(w, b, n);
}

void csvw_fixed(csvw *w, double v, int places)
{
    if (w->typed) {
        unsigned char pl = (unsigned char)places;
        typed_cell(w, TC_FIXED, &v, sizeof v);
        out(w, (const char *)&pl, 1);
        return;
    }
    char b[96];
    int n = format_number(v, b, 64);
    const char *dot = memchr(b, '.', (size_t)n);
    int dec = dot ? n - (int)(dot - b) - 1 : 0;
    if (!isfinite(v)) {
    } else if (dec > places) { /* more digits than asked: the rule file checks values before */
        n = snprintf(b, sizeof b, "%.*f", places, v);
    } else {
        if (!dot && places > 0) b[n++] = '.';
        while (dec < places) b[n++] = '0', dec++;
        b[n] = 0;
    }
    put_number(w, b, n);
}

void csvw_date(csvw *w, int32_t days, const char *s, size_t n)
{
    if (!w->typed) {
        put_field(w, s, n, 0);
        return;
    }
    unsigned char len = (unsigned char)(n > 255 ? 255 : n);
    typed_cell(w, TC_DATE, &days, sizeof days);
    out(w, (const char *)&len, 1);
    out(w, s, len);
}

void csvw_int(csvw *w, int64_t v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", (long long)v);
    put_field(w, b, (size_t)n, 0);
}

void csvw_end_row(csvw *w)
{
    if (w->typed) { /* a row written cell by cell (a header, a metrics table): captured too */
        if (!w->capturing) csvw_row_begin(w);
        if (!w->header_done) {
            w->hdr_start = w->cur_start, w->hdr_end = w->memlen;
            w->capturing = 0, w->ncells = 0, w->header_done = 1;
        } else if (csvw_row_end(w) != 0) {
            w->nomem = 1;
        }
        return;
    }
    out1(w, '\n');
    w->ncells = 0;
    if (w->header_done) w->rows++;
    w->header_done = 1;
}

#define NO_SPLIT UINT64_MAX
#define SPLIT_COMMA (1ull << 62)

int csvw_row_begin(csvw *w)
{
    w->capturing = 1;
    w->ncells = 0;
    w->cur_start = w->memlen;
    w->cur_split = NO_SPLIT;
    return w->nomem ? -1 : 0;
}

void csvw_row_split(csvw *w)
{
    if (w->typed) {
        typed_cell(w, TC_RANK, NULL, 0);
        return;
    }
    w->cur_split = w->memlen | (w->ncells ? SPLIT_COMMA : 0);
    w->ncells++;
}

int csvw_row_end(csvw *w)
{
    uint64_t end = w->memlen;
    w->capturing = 0;
    w->ncells = 0;
    if (w->nspans + 3 > w->spans_cap) {
        uint64_t cap = w->spans_cap ? w->spans_cap * 2 : 3 * 4096;
        uint64_t *sp = realloc(w->spans, (size_t)cap * sizeof *sp);
        if (!sp) return -1;
        w->spans = sp, w->spans_cap = cap;
    }
    w->spans[w->nspans++] = w->cur_start;
    w->spans[w->nspans++] = w->cur_split;
    w->spans[w->nspans++] = end;
    return w->nomem ? -1 : 0;
}

csvw *csvw_capture_new(void)
{
    csvw *w = calloc(1, sizeof(csvw));
    if (w) w->fd = -1, w->sep = ',', w->guard = 1;
    return w;
}

void csvw_capture_free(csvw *w)
{
    if (!w) return;
    free(w->membuf);
    free(w->spans);
    free(w);
}

int csvw_append_rows(csvw *dst, csvw *src)
{
    if (src->nspans == 0) return 0;
    uint64_t off = dst->memlen;
    dst->capturing = 1;
    out(dst, src->membuf, src->memlen);
    dst->capturing = 0;
    if (dst->nomem) return -1;
    if (dst->nspans + src->nspans > dst->spans_cap) {
        uint64_t cap = dst->nspans + src->nspans;
        uint64_t *sp = realloc(dst->spans, (size_t)cap * sizeof *sp);
        if (!sp) return -1;
        dst->spans = sp, dst->spans_cap = cap;
    }
    for (uint64_t i = 0; i < src->nspans; i += 3) {
        uint64_t split = src->spans[i + 1];
        dst->spans[dst->nspans++] = src->spans[i] + off;
        dst->spans[dst->nspans++] = split == NO_SPLIT ? NO_SPLIT : ((split & ~SPLIT_COMMA) + off) | (split & SPLIT_COMMA);
        dst->spans[dst->nspans++] = src->spans[i + 2] + off;
    }
    return 0;
}

int csvw_append_row(csvw *dst, const csvw *src, uint64_t i)
{
    const uint64_t *sp = &src->spans[3 * i];
    uint64_t off = dst->memlen, start = sp[0], split = sp[1];
    dst->capturing = 1;
    out(dst, src->membuf + start, sp[2] - start);
    dst->capturing = 0;
    if (dst->nomem) return -1;
    if (dst->nspans + 3 > dst->spans_cap) {
        uint64_t cap = dst->spans_cap ? dst->spans_cap * 2 : 3 * 4096;
        uint64_t *p = realloc(dst->spans, (size_t)cap * sizeof *p);
        if (!p) return -1;
        dst->spans = p, dst->spans_cap = cap;
    }
    dst->spans[dst->nspans++] = off;
    dst->spans[dst->nspans++] = split == NO_SPLIT ? NO_SPLIT : ((split & ~SPLIT_COMMA) - start + off) | (split & SPLIT_COMMA);
    dst->spans[dst->nspans++] = dst->memlen;
    return 0;
}

int csvw_write_rows(csvw *w, const uint32_t *order, size_t n)
{
    if (w->nomem) return -1;
    for (size_t k = 0; k < n; k++) {
        const uint64_t *sp = &w->spans[3 * (uint64_t)order[k]];
        uint64_t start = sp[0], split = sp[1], end = sp[2];
        if (split == NO_SPLIT) {
            put_file(w, w->membuf + start, end - start);
        } else {
            int comma = (split & SPLIT_COMMA) != 0;
            split &= ~SPLIT_COMMA;
            put_file(w, w->membuf + start, split - start);
            char rank[32];
            int rn = comma ? snprintf(rank, sizeof rank, "%c%zu", w->sep, k + 1) : snprintf(rank, sizeof rank, "%zu", k + 1);
            put_file(w, rank, (size_t)rn);
            put_file(w, w->membuf + split, end - split);
        }
        put_file(w, "\n", 1);
        w->rows++;
    }
    return 0;
}

/* ---- spreadsheet options and typed cells ---- */

void csvw_configure(csvw *w, char sep, int dec_comma, int guard, int bom, int typed)
{
    w->sep = sep, w->dec_comma = dec_comma, w->guard = guard, w->typed = typed;
    if (bom && !typed) put_file(w, "\xEF\xBB\xBF", 3);
}

/* A typed cell's tag and fixed part; outside a captured row a row is started (a header, a
 * metrics row written cell by cell). */
static void typed_cell(csvw *w, int tag, const void *p, size_t n)
{
    if (!w->capturing) csvw_row_begin(w);
    w->ncells++;
    out1(w, (char)tag);
    out(w, p, n);
}

void tcell_next(const char **p, tcell *c)
{
    const char *q = *p;
    uint32_t len;
    unsigned char small;
    memset(c, 0, sizeof *c);
    c->tag = (unsigned char)*q++;
    switch (c->tag) {
    case TC_TEXT:
    case TC_PLAIN:
        memcpy(&len, q, sizeof len);
        c->s = q + sizeof len, c->n = len;
        q += sizeof len + len;
        break;
    case TC_NUM: memcpy(&c->v, q, sizeof c->v), q += sizeof c->v; break;
    case TC_FIXED:
        memcpy(&c->v, q, sizeof c->v), q += sizeof c->v;
        c->places = (unsigned char)*q++;
        break;
    case TC_DATE:
        memcpy(&c->days, q, sizeof c->days), q += sizeof c->days;
        small = (unsigned char)*q++;
        c->s = q, c->n = small, q += small;
        break;
    default: break; /* EMPTY, RANK */
    }
    *p = q;
}

uint64_t csvw_typed_rows(const csvw *w) { return w->nspans / 3; }

void csvw_typed_row(const csvw *w, int64_t i, const char **start, const char **end)
{
    if (i < 0) {
        *start = w->membuf + w->hdr_start, *end = w->membuf + w->hdr_end;
        return;
    }
    const uint64_t *sp = &w->spans[3 * (uint64_t)i];
    *start = w->membuf + sp[0], *end = w->membuf + sp[2];
}

/* One typed row as CSV into dst; rank is its position in its list. */
static void emit_row(csvw *dst, const char *p, const char *end, uint64_t rank)
{
    tcell c;
    while (p < end) {
        tcell_next(&p, &c);
        switch (c.tag) {
        case TC_TEXT: put_field(dst, c.s, c.n, 1); break;
        case TC_PLAIN:
        case TC_DATE: put_field(dst, c.s, c.n, 0); break;
        case TC_NUM: csvw_number(dst, c.v); break;
        case TC_FIXED: csvw_fixed(dst, c.v, c.places); break;
        case TC_RANK: csvw_int(dst, (int64_t)rank); break;
        default: csvw_empty(dst); break;
        }
    }
    csvw_end_row(dst);
}

void csvw_emit(csvw *dst, const csvw *src, const uint32_t *order, size_t n)
{
    const char *a, *b;
    if (!dst->header_done) {
        csvw_typed_row(src, -1, &a, &b);
        emit_row(dst, a, b, 0);
    }
    for (size_t k = 0; k < n; k++) {
        csvw_typed_row(src, order[k], &a, &b);
        emit_row(dst, a, b, k + 1);
    }
}
