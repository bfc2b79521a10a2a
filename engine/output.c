/* output.c: CSV writers (RFC 4180, \n line ends, UTF-8 as given, formula guard) and the
 * all-or-nothing commit of a run's output files (see output.h). Invariant: until commit,
 * nothing outside the temporaries ".NAME.tmp-PID" has been touched in the output folder. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output.h"

#define MAX_FILES 64
#define WBUF (1u << 20)

struct outset {
    char *dir;
    int n;
    int committed;
    int nmade, made_cap;      /* folders this run created for --out, outermost first, */
    char **made;              /* removed again when the run fails */
    csvw files[MAX_FILES];
};

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

/* Creates dir and its missing parents; the ones it created are remembered in o->made. */
static int mkdirs(outset *o, const char *dir)
{
    char tmp[4096];
    if (!dir[0]) return errno = ENOENT, -1;
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) return errno = ENAMETOOLONG, -1;
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p != 0) continue;
        char c = *p;
        *p = 0;
        if (mkdir(tmp, 0777) == 0) {
            if (o->nmade == o->made_cap) {
                int cap = o->made_cap ? o->made_cap * 2 : 8;
                char **m = realloc(o->made, (size_t)cap * sizeof *m);
                if (!m) return rmdir(tmp), errno = ENOMEM, -1;
                o->made = m, o->made_cap = cap;
            }
            if (!(o->made[o->nmade] = strdup(tmp))) return rmdir(tmp), errno = ENOMEM, -1;
            o->nmade++;
        } else if (errno != EEXIST) {
            return -1;
        }
        *p = c;
        if (!c) return 0;
    }
}

/* A failed run leaves --out as it found it: the folders it created are removed (only if empty). */
static void remove_made(const outset *o)
{
    for (int i = o->nmade - 1; i >= 0; i--) rmdir(o->made[i]);
}

df_status outset_new(const char *dir, outset **out, df_error *err)
{
    *out = NULL;
    outset *o = calloc(1, sizeof *o);
    if (!o || !(o->dir = strdup(dir))) {
        free(o);
        return DF_FAIL(err, DF_ERR_NOMEM, dir, "out of memory");
    }
    if (mkdirs(o, dir) != 0) {
        df_status st = DF_FAIL(err, DF_ERR_OUTPUT, dir, "cannot create the output folder: %s", strerror(errno));
        outset_free(o);
        return st;
    }
    *out = o;
    return DF_OK;
}

csvw *outset_open(outset *o, const char *name, df_error *err)
{
    if (o->n == MAX_FILES) return DF_FAIL(err, DF_ERR_OUTPUT, name, "too many output files (at most %d)", MAX_FILES), NULL;
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->files[i].name, name) == 0)
            return DF_FAIL(err, DF_ERR_RULES, name, "the output file is declared twice"), NULL;
    csvw *w = &o->files[o->n];
    memset(w, 0, sizeof *w);
    char tmpname[512];
    snprintf(tmpname, sizeof tmpname, ".%s.tmp-%ld", name, (long)getpid());
    w->name = strdup(name);
    w->tmp = path_join(o->dir, tmpname);
    w->final = path_join(o->dir, name);
    w->buf = malloc(WBUF);
    if (!w->name || !w->tmp || !w->final || !w->buf) goto nomem;
    w->f = fopen(w->tmp, "wb");
    if (!w->f) {
        DF_FAIL(err, DF_ERR_OUTPUT, w->tmp, "cannot create the file: %s", strerror(errno));
        goto fail;
    }
    setvbuf(w->f, w->buf, _IOFBF, WBUF);
    o->n++;
    return w;
nomem:
    DF_FAIL(err, DF_ERR_NOMEM, name, "out of memory");
fail:
    free(w->name), free(w->tmp), free(w->final), free(w->buf);
    memset(w, 0, sizeof *w);
    return NULL;
}

int outset_count(const outset *o) { return o->n; }
const csvw *outset_file(const outset *o, int i) { return &o->files[i]; }

static void close_file(csvw *w, int remove_tmp)
{
    if (w->f) fclose(w->f);
    w->f = NULL;
    if (remove_tmp && w->tmp) unlink(w->tmp);
}

df_status outset_commit(outset *o, df_error *err)
{
    for (int i = 0; i < o->n; i++) {
        csvw *w = &o->files[i];
        if (fflush(w->f) != 0 || ferror(w->f) || fsync(fileno(w->f)) != 0) {
            df_status st = DF_FAIL(err, DF_ERR_OUTPUT, w->tmp, "cannot write the file: %s (is the disk full?)", strerror(errno));
            return st;
        }
        fclose(w->f);
        w->f = NULL;
    }
    for (int i = 0; i < o->n; i++) {
        csvw *w = &o->files[i];
        if (rename(w->tmp, w->final) != 0)
            return DF_FAIL(err, DF_ERR_OUTPUT, w->final, "cannot move the finished file into place: %s", strerror(errno));
    }
    int dfd = open(o->dir, O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    o->committed = 1;
    return DF_OK;
}

void outset_free(outset *o)
{
    if (!o) return;
    for (int i = 0; i < o->n; i++) {
        csvw *w = &o->files[i];
        free(w->membuf);
        free(w->spans);
        close_file(w, 1); /* after a commit the temporaries are gone already */
        free(w->name), free(w->tmp), free(w->final), free(w->buf);
    }
    if (!o->committed) remove_made(o);
    for (int i = 0; i < o->nmade; i++) free(o->made[i]);
    free(o->made);
    free(o->dir);
    free(o);
}

void outset_abort(outset *o) { outset_free(o); }

void outset_unlink_temps(const outset *o)
{
    if (!o) return;
    for (int i = 0; i < o->n; i++) unlink(o->files[i].tmp);
    remove_made(o);
}

/* Bytes out: into the capture buffer while a row is captured, else to the file. A capture
 * that cannot grow sets nomem (reported by csvw_row_end). */
static void out(csvw *w, const char *s, size_t n)
{
    if (n == 0) return; /* an empty text may come as a NULL pointer (an empty Lua buffer) */
    if (!w->capturing) {
        fwrite(s, 1, n, w->f);
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
    else out(w, &c, 1);
}

static void put_field(csvw *w, const char *s, size_t n, int guard)
{
    if (w->ncells++) out1(w, ',');
    int g = guard && n > 0 && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r');
    int q = 0;
    for (size_t i = 0; i < n && !q; i++) q = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
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

void csvw_text(csvw *w, const char *s, size_t n) { put_field(w, s, n, 1); }
void csvw_plain(csvw *w, const char *s, size_t n) { put_field(w, s, n, 0); }
void csvw_empty(csvw *w) { put_field(w, "", 0, 0); }

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

void csvw_number(csvw *w, double v)
{
    char b[64];
    int n = format_number(v, b, sizeof b);
    put_field(w, b, (size_t)n, 0);
}

void csvw_int(csvw *w, int64_t v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", (long long)v);
    put_field(w, b, (size_t)n, 0);
}

void csvw_end_row(csvw *w)
{
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

csvw *csvw_capture_new(void) { return calloc(1, sizeof(csvw)); }

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

int csvw_write_rows(csvw *w, const uint32_t *order, size_t n)
{
    if (w->nomem) return -1;
    for (size_t k = 0; k < n; k++) {
        const uint64_t *sp = &w->spans[3 * (uint64_t)order[k]];
        uint64_t start = sp[0], split = sp[1], end = sp[2];
        if (split == NO_SPLIT) {
            fwrite(w->membuf + start, 1, end - start, w->f);
        } else {
            int comma = (split & SPLIT_COMMA) != 0;
            split &= ~SPLIT_COMMA;
            fwrite(w->membuf + start, 1, split - start, w->f);
            fprintf(w->f, comma ? ",%zu" : "%zu", k + 1);
            fwrite(w->membuf + split, 1, end - split, w->f);
        }
        putc('\n', w->f);
        w->rows++;
    }
    return 0;
}
