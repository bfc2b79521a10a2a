/* csvload.c: libcsv callbacks -> typed column appends, with line and column tracking.
 *
 * Decompressed text is fed to libcsv one physical line at a time (memchr for '\n'), so the
 * loader always knows the line it is on and where the current record began, and keeps the
 * record's raw text for rejects. A record's cells are parsed into a staging row as libcsv
 * hands them over and appended to the columns only when the whole record is valid: a
 * rejected record leaves no trace in the columns. Only the columns the rule file declares
 * are parsed and stored; the others are skipped at the field callback. */
#define _GNU_SOURCE /* memrchr */
#include <csv.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "csvload.h"
#include "gzsource.h"
#include "pool.h"
#include "progress.h"

#define CHUNK (1u << 20)
#define MAX_RECORD_BYTES (64u << 20)
#define MSG_TEXT 200

typedef struct loader {
    table *t;
    const table *entity;
    const load_opts *o;
    df_error *err;
    const char *disp;
    struct csv_parser p;
    int failed;
    /* header */
    int header_done, nheader, header_cap;
    char **names;
    int *map; /* header field -> column index, -1 = not stored */
    int key_field, date_field;
    /* current record */
    int field;
    uint64_t line, rec_line;
    cell *stage;
    size_t *soff; /* staged text offsets into sbuf, per column */
    char *sbuf;
    size_t slen, scap;
    size_t key_off, key_len;
    uint32_t key_hash; /* history: hash of the row's key, its index slot prefetched */
    int defer_keys;    /* entity block: keys interned (duplicates found) at append */
    int bad_field; /* first field that failed to parse, -1 none */
    const char *bad_reason;
    char *raw;
    size_t rawlen, rawcap;
    const char *rec; /* the record's text for messages: raw, or the line itself (fast path) */
    /* fast path (one-line records): field spans and unescaped text of the current line */
    struct span { const char *s; size_t n; int esc; } *spans;
    int nspans;
    char *unq;
    size_t unqcap;
    char last_key[64]; /* history: the previous row's key and its entity (-1: none) */
    size_t last_key_len;
    int64_t last_owner;
} loader;

static int grow_buf(char **b, size_t *cap, size_t need)
{
    if (*b && need <= *cap) return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    char *n = realloc(*b, c);
    if (!n) return -1;
    *b = n, *cap = c;
    return 0;
}

/* The first n bytes of s as a printable excerpt for a message. */
static void excerpt(char *dst, size_t cap, const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n') dst[k++] = '\\', dst[k++] = 'n';
        else if (ch == '\r') dst[k++] = '\\', dst[k++] = 'r';
        else dst[k++] = (char)ch;
    }
    if (k + 5 >= cap || n > MSG_TEXT) memcpy(dst + k, "...", 3), k += 3;
    dst[k] = 0;
}

static void where_at(loader *L, char *w, size_t cap, int field)
{
    if (field >= 0 && field < L->nheader)
        snprintf(w, cap, "%s:%llu: column %s", L->disp, (unsigned long long)L->rec_line, L->names[field]);
    else
        snprintf(w, cap, "%s:%llu", L->disp, (unsigned long long)L->rec_line);
}

/* Sets a malformed record aside, or fails the load when over the allowed count. */
static void reject(loader *L, int field, const char *reason, const char *text, size_t tn)
{
    char w[512], ex[MSG_TEXT + 8];
    where_at(L, w, sizeof w, field);
    while (tn && (text[tn - 1] == '\n' || text[tn - 1] == '\r')) tn--; /* a record's line end */
    excerpt(ex, sizeof ex, text, tn);
    L->t->st.rejected++;
    uint64_t total = ++*L->o->rejects;
    if ((long)total > L->o->max_rejects) {
        if (L->o->max_rejects == 0)
            DF_FAIL(L->err, DF_ERR_DATA, w, "%s: \"%s\". Fix the export, or run with --max-rejects N to set up to N such rows aside in rejects.csv", reason, ex);
        else
            DF_FAIL(L->err, DF_ERR_DATA, w, "%s: \"%s\". This is rejected row %llu, more than --max-rejects %ld allows", reason, ex, (unsigned long long)total, L->o->max_rejects);
        L->failed = 1;
        return;
    }
    if (!L->o->on_reject) return;
    size_t rn = L->rawlen;
    while (rn && (L->rec[rn - 1] == '\n' || L->rec[rn - 1] == '\r')) rn--;
    const char *col_name = field >= 0 && field < L->nheader ? L->names[field] : NULL;
    L->o->on_reject(L->o->reject_ctx, L->t->file, L->rec_line, col_name, reason, L->rec, rn);
}

static void on_header_field(loader *L, const char *s, size_t n)
{
    if (L->nheader == L->header_cap) {
        int cap = L->header_cap ? L->header_cap * 2 : 32;
        char **names = realloc(L->names, (size_t)cap * sizeof *names);
        if (!names) goto nomem;
        L->names = names, L->header_cap = cap;
    }
    char *name = malloc(n + 1);
    if (!name) goto nomem;
    memcpy(name, s, n);
    name[n] = 0;
    L->names[L->nheader++] = name;
    return;
nomem:
    DF_FAIL(L->err, DF_ERR_NOMEM, L->disp, "out of memory reading the header");
    L->failed = 1;
}

/* Copies a cell's text into the row's staging buffer (libcsv reuses its own); *off gets where. */
static int stage_text(loader *L, const char *s, size_t n, size_t *off)
{
    if (grow_buf(&L->sbuf, &L->scap, L->slen + n) != 0) {
        DF_FAIL(L->err, DF_ERR_NOMEM, L->disp, "out of memory");
        L->failed = 1;
        return -1;
    }
    memcpy(L->sbuf + L->slen, s, n);
    *off = L->slen;
    L->slen += n;
    return 0;
}

static void on_field(void *s, size_t n, void *ud)
{
    loader *L = ud;
    int f = L->field++;
    if (L->failed) return;
    if (!L->header_done) {
        on_header_field(L, s ? s : "", n);
        return;
    }
    if (f >= L->nheader) return;
    if (!s) s = "";
    if (f == L->key_field && L->t->is_history) {
        if (stage_text(L, s, n, &L->key_off) != 0) return;
        L->key_len = n;
        /* the lookup comes when the row ends: start fetching its slot now */
        L->key_hash = strmap_hash(s, n);
        strmap_prefetch(&L->entity->keys, L->key_hash);
    }
    int c = L->map[f];
    if (c < 0) return;
    column *col = &L->t->cols[c];
    if (n == 0 && col->required) {
        if (L->bad_field < 0) {
            L->bad_field = f;
            L->bad_reason = "empty, but the rule file declares this column required";
            L->stage[c].n = 0;
        }
        return;
    }
    if (col->type == COL_TEXT || col->type == COL_CATEGORY) {
        if (stage_text(L, s, n, &L->soff[c]) == 0) L->stage[c].n = n;
        const char *why = column_refuses(col, s, n);
        if (why && L->bad_field < 0) L->bad_field = f, L->bad_reason = why;
        return;
    }
    const char *why = column_parse(col, s, n, &L->stage[c]);
    if (why && L->bad_field < 0) { /* keep the offending text for the message */
        L->bad_field = f;
        L->bad_reason = why;
        if (stage_text(L, s, n, &L->soff[c]) == 0) L->stage[c].n = n;
    }
}

static int setup_header(loader *L)
{
    table *t = L->t;
    t->st.header_columns = (uint64_t)L->nheader;
    L->map = malloc((size_t)(L->nheader ? L->nheader : 1) * sizeof *L->map);
    L->stage = calloc((size_t)t->ncols, sizeof *L->stage);
    L->soff = calloc((size_t)t->ncols, sizeof *L->soff);
    if (!L->map || !L->stage || !L->soff) return DF_FAIL(L->err, DF_ERR_NOMEM, L->disp, "out of memory"), -1;
    int found[DF_MAX_COLUMNS] = {0};
    L->key_field = L->date_field = -1;
    for (int f = 0; f < L->nheader; f++) {
        L->map[f] = table_find_col(t, L->names[f]);
        if (strcmp(L->names[f], t->key) == 0) {
            if (L->key_field >= 0) {
                DF_FAIL(L->err, DF_ERR_DATA, L->disp, "the header names the key column '%s' twice; rename one of them", t->key);
                return -1;
            }
            L->key_field = f;
        }
        if (t->date_col && strcmp(L->names[f], t->date_col) == 0) L->date_field = f;
        int c = L->map[f];
        if (c < 0) {
            if (strcmp(L->names[f], t->key) != 0) t->st.ignored_columns++;
            continue;
        }
        if (found[c]++) {
            DF_FAIL(L->err, DF_ERR_DATA, L->disp, "the header names column '%s' twice; rename one of them", L->names[f]);
            return -1;
        }
    }
    char missing[1024] = "", have[1024] = "";
    if (L->key_field < 0) snprintf(missing, sizeof missing, "%s", t->key);
    for (int c = 0; c < t->ncols; c++) {
        if (found[c] || (strcmp(t->cols[c].name, t->key) == 0 && L->key_field >= 0)) continue;
        size_t k = strlen(missing);
        if (strstr(missing, t->cols[c].name) != missing)
            snprintf(missing + k, sizeof missing - k, "%s%s", k ? ", " : "", t->cols[c].name);
    }
    if (missing[0]) {
        for (int f = 0; f < L->nheader; f++) {
            size_t k = strlen(have);
            snprintf(have + k, sizeof have - k, "%s%s", f ? ", " : "", L->names[f]);
        }
        DF_FAIL(L->err, DF_ERR_DATA, L->disp,
                "missing column(s) %s, which the rule file declares for '%s'. The header has: %s. "
                "Fix the export or the column names in the rule file",
                missing, t->name, L->nheader ? have : "(nothing)");
        return -1;
    }
    return 0;
}

static void commit_row(loader *L)
{
    table *t = L->t;
    for (int c = 0; c < t->ncols; c++) {
        column *col = &t->cols[c];
        if (col->type == COL_TEXT || col->type == COL_CATEGORY) L->stage[c].s = L->sbuf + L->soff[c];
        if (column_append(col, &L->stage[c]) != 0) {
            DF_FAIL(L->err, DF_ERR_NOMEM, L->disp, "out of memory storing row %llu", (unsigned long long)L->rec_line);
            L->failed = 1;
            return;
        }
    }
    t->nrows++;
    t->st.rows_loaded++;
}

static void on_data_row(loader *L)
{
    table *t = L->t;
    t->st.rows_read++;
    if (L->field != L->nheader) {
        char why[160];
        snprintf(why, sizeof why, "wrong number of fields: the header has %d, this row has %d", L->nheader, L->field);
        reject(L, -1, why, L->rec, L->rawlen);
        return;
    }
    if (L->bad_field >= 0) {
        int c = L->map[L->bad_field];
        reject(L, L->bad_field, L->bad_reason, L->sbuf + L->soff[c], L->stage[c].n);
        return;
    }
    if (!t->is_history) {
        const char *k = L->sbuf + L->soff[t->key_col];
        size_t kn = L->stage[t->key_col].n;
        if (kn == 0) {
            reject(L, L->key_field, "empty key", "", 0);
            return;
        }
        if (L->o->only_key && (strlen(L->o->only_key) != kn || memcmp(L->o->only_key, k, kn) != 0)) return;
        if (L->defer_keys) { /* a block: its keys are checked in file order when it is appended */
            commit_row(L);
            return;
        }
        int added;
        if (strmap_intern(&t->keys, k, kn, &added) < 0) {
            DF_FAIL(L->err, DF_ERR_NOMEM, L->disp, "out of memory");
            L->failed = 1;
            return;
        }
        if (!added) {
            table_note_example(t->st.dup_examples, ++t->st.duplicates, k, kn);
            return;
        }
        commit_row(L);
        return;
    }
    /* exports often list an entity's rows together: remember the last key's entity */
    const char *key = L->sbuf + L->key_off;
    int64_t owner;
    if (L->last_owner >= 0 && L->key_len == L->last_key_len && memcmp(key, L->last_key, L->key_len) == 0) {
        owner = L->last_owner;
    } else {
        owner = strmap_find_hashed(&L->entity->keys, key, L->key_len, L->key_hash);
        if (L->key_len <= sizeof L->last_key) {
            memcpy(L->last_key, key, L->key_len);
            L->last_key_len = L->key_len;
            L->last_owner = owner;
        } else {
            L->last_owner = -1;
        }
    }
    if (owner < 0 && L->o->only_key) return; /* another entity's row */
    if (owner < 0) {
        table_note_example(t->st.orphan_examples, ++t->st.orphans, L->sbuf + L->key_off, L->key_len);
        return;
    }
    if (t->date_idx >= 0) {
        int64_t d = L->stage[t->date_idx].i;
        if (d == DF_NA_DATE) {
            reject(L, L->date_field, "empty date (history rows need a date)", "", 0);
            return;
        }
        if (d > L->o->as_of) {
            t->st.future++;
            return;
        }
    }
    if (t->nrows == t->owner_cap) {
        uint64_t cap = t->owner_cap ? t->owner_cap * 2 : 4096;
        uint32_t *o = realloc(t->owner, (size_t)cap * sizeof *o);
        if (!o) {
            DF_FAIL(L->err, DF_ERR_NOMEM, L->disp, "out of memory");
            L->failed = 1;
            return;
        }
        t->owner = o, t->owner_cap = cap;
    }
    t->owner[t->nrows] = (uint32_t)owner;
    commit_row(L);
}

static void reset_record(loader *L)
{
    L->field = 0;
    L->slen = 0;
    L->bad_field = -1;
    L->key_len = 0;
    for (int c = 0; c < L->t->ncols && L->stage; c++) L->stage[c].n = 0;
}

static void on_row(int ch, void *ud)
{
    loader *L = ud;
    (void)ch;
    if (!L->failed) {
        if (!L->header_done) {
            L->header_done = 1;
            if (setup_header(L) != 0) L->failed = 1;
        } else {
            on_data_row(L);
        }
    }
    reset_record(L);
}

static int no_space(unsigned char c)
{
    (void)c;
    return 0; /* never trim: spaces are data */
}

/* A record libcsv refused (a quote in the wrong place): reject it and resume at the next line. */
static void parse_error(loader *L)
{
    if (!L->header_done) {
        DF_FAIL(L->err, DF_ERR_DATA, L->disp, "line %llu: malformed header (a quote in the wrong place)", (unsigned long long)L->line);
        L->failed = 1;
        return;
    }
    L->t->st.rows_read++;
    reject(L, L->field < L->nheader ? L->field : -1,
           "malformed quoting: a '\"' inside an unquoted field, or text after a closing quote (write a quote inside a quoted field as \"\")",
           L->rec, L->rawlen);
    csv_fini(&L->p, NULL, NULL, NULL);
    reset_record(L);
}

/* The common case, a whole record on one line [p, p + n) (its \n or \r\n cut off, no other
 * CR in it), is split here rather than by libcsv, with libcsv's rules under CSV_STRICT and
 * no trimming (see no_space): fields end at commas; a field starting with a quote runs to the
 * closing quote, which must be followed by a comma or the end of the line, and holds "" for a
 * quote; a quote anywhere else is an error. Returns 0 when the line was split (no callback
 * has run yet), -1 when it is anything else (an error, a quoted field going on to the next
 * line, more fields than the header): then libcsv reads it, to report it as it always has. */
static int split_line(loader *L, const char *p, size_t n)
{
    if (!L->spans && !(L->spans = malloc((size_t)(L->nheader + 1) * sizeof *L->spans))) return -1;
    const char *end = p + n;
    int quotes = memchr(p, '"', n) != NULL, k = 0;
    for (;;) {
        if (k > L->nheader) return -1;
        struct span *f = &L->spans[k++];
        if (quotes && p < end && *p == '"') {
            const char *q = p + 1, *c;
            f->esc = 0;
            for (;;) {
                if (!(c = memchr(q, '"', (size_t)(end - q)))) return -1; /* goes on to the next line */
                if (c + 1 < end && c[1] == '"') {
                    f->esc = 1;
                    q = c + 2;
                    continue;
                }
                break;
            }
            f->s = p + 1, f->n = (size_t)(c - p - 1);
            p = c + 1;
            if (p == end) break;
            if (*p != ',') return -1; /* text after the closing quote */
            p++;
        } else {
            const char *c = memchr(p, ',', (size_t)(end - p)), *fe = c ? c : end;
            if (quotes && memchr(p, '"', (size_t)(fe - p))) return -1; /* a quote inside an unquoted field */
            f->s = p, f->n = (size_t)(fe - p), f->esc = 0;
            if (!c) break;
            p = c + 1;
        }
    }
    L->nspans = k;
    return 0;
}

static void fast_line(loader *L)
{
    size_t used = 0;
    for (int i = 0; i < L->nspans; i++) {
        struct span *f = &L->spans[i];
        if (f->esc && i < L->nheader && (L->map[i] >= 0 || i == L->key_field)) { /* "" -> ", into unq (kept until the row ends) */
            char *d = L->unq + used;
            for (size_t j = 0; j < f->n; j++) {
                *d++ = f->s[j];
                if (f->s[j] == '"') j++;
            }
            f->s = L->unq + used;
            f->n = (size_t)(d - f->s);
            used += f->n;
        }
        on_field((void *)f->s, f->n, L);
    }
    on_row('\n', L);
}

/* Feeds [p, end) line by line; with stop_after_header, returns as soon as the header is read
 * and sets *rest to the first byte not fed. */
static int feed_lines(loader *L, const char *p, const char *end, int stop_after_header, const char **rest)
{
    while (p < end && !L->failed && !(stop_after_header && L->header_done)) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *seg = nl ? nl + 1 : end;
        size_t n = (size_t)(seg - p);
        if (nl && L->header_done && L->p.pstate == 0 && !L->o->libcsv_only) {
            size_t len = (size_t)(nl - p);
            if (len && p[len - 1] == '\r') len--;
            if (len && !memchr(p, '\r', len) && split_line(L, p, len) == 0) {
                if (len > L->unqcap) {
                    free(L->unq);
                    L->unqcap = len * 2;
                    if (!(L->unq = malloc(L->unqcap))) {
                        DF_FAIL(L->err, DF_ERR_NOMEM, L->disp, "out of memory");
                        return -1;
                    }
                }
                L->rec_line = L->line;
                L->rec = p, L->rawlen = len;
                fast_line(L);
                L->line++;
                p = seg;
                continue;
            }
        }
        if (L->p.pstate == 0) { /* libcsv's ROW_NOT_BEGUN: a record starts on this line */
            L->rec_line = L->line;
            L->rawlen = 0;
            if (nl && (n == 1 || (n == 2 && p[0] == '\r'))) L->t->st.blank_lines++;
        }
        if (L->rawlen + n > MAX_RECORD_BYTES) {
            DF_FAIL(L->err, DF_ERR_DATA, L->disp,
                    "line %llu: a quoted field opened here runs on for more than %u MB; a closing quote is probably missing",
                    (unsigned long long)L->rec_line, MAX_RECORD_BYTES >> 20);
            L->failed = 1;
            return -1;
        }
        if (grow_buf(&L->raw, &L->rawcap, L->rawlen + n) != 0) {
            DF_FAIL(L->err, DF_ERR_NOMEM, L->disp, "out of memory");
            return -1;
        }
        memcpy(L->raw + L->rawlen, p, n);
        L->rawlen += n;
        L->rec = L->raw;
        if (csv_parse(&L->p, p, n, on_field, on_row, L) < n && !L->failed) parse_error(L);
        if (nl) L->line++;
        p = seg;
    }
    if (rest) *rest = p;
    return L->failed ? -1 : 0;
}

static int feed(loader *L, const char *p, const char *end)
{
    return feed_lines(L, p, end, 0, NULL);
}

static void loader_free(loader *L)
{
    csv_free(&L->p);
    for (int i = 0; i < L->nheader; i++) free(L->names[i]);
    free(L->names);
    free(L->map);
    free(L->stage);
    free(L->soff);
    free(L->sbuf);
    free(L->raw);
    free(L->spans);
    free(L->unq);
}

static df_status finish(loader *L)
{
    if (csv_fini(&L->p, on_field, on_row, L) != 0 && !L->failed) {
        L->t->st.rows_read++;
        reject(L, -1, "unterminated quoted field: the quote opened in this record is never closed", L->raw, L->rawlen);
    }
    if (L->failed) return L->err->status;
    if (!L->header_done)
        return DF_FAIL(L->err, DF_ERR_DATA, L->disp, "the file is empty: expected a header line naming the columns");
    return DF_OK;
}


/* ---- one file parsed by several workers ----
 * The reader (this thread) decompresses, cuts the text into blocks of whole records and hands
 * them to workers; each worker parses its block into a table of its own with a copy of the
 * header, starting at the block's line number; the blocks' tables are appended in order.
 * A newline ends a record only outside quotes: since every record starts outside quotes, the
 * parity of '"' counted from a block's start tells, at each newline, whether it is inside a
 * quoted field ("" counts twice, so it keeps the parity). */

#define BLOCK_BYTES (8u << 20) /* default; load_opts.block_bytes overrides */
#define MAX_BLOCK_BYTES (256u << 20)

typedef struct block_job {
    char *text; /* a buffer of cap bytes, given back to the pool when parsed */
    size_t len, cap;
    uint64_t line;
    table tbl;
    df_error err;
    df_status st;
    int state; /* 0 queued, 1 taken, 2 done */
} block_job;

typedef struct block_pool {
    const loader *head; /* the loader that read the header */
    table *t;
    const table *entity;
    const load_opts *o;
    block_job **jobs;
    int njobs, cap, next_take, next_append, stop;
    /* text buffers parsed and given back, reused by the reader: no fresh pages per block */
    char *spare[8];
    size_t spare_cap[8];
    int nspare;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} block_pool;

/* Called with bp->mu held. */
static void give_back(block_pool *bp, char *buf, size_t cap)
{
    if (bp->nspare < 8) bp->spare[bp->nspare] = buf, bp->spare_cap[bp->nspare++] = cap;
    else free(buf);
}

static char *take_buffer(block_pool *bp, size_t need, size_t *cap)
{
    char *b = NULL;
    pthread_mutex_lock(&bp->mu);
    for (int k = 0; k < bp->nspare; k++)
        if (bp->spare_cap[k] >= need) {
            b = bp->spare[k], *cap = bp->spare_cap[k];
            bp->spare[k] = bp->spare[bp->nspare - 1], bp->spare_cap[k] = bp->spare_cap[--bp->nspare];
            break;
        }
    pthread_mutex_unlock(&bp->mu);
    if (!b && (b = malloc(need))) *cap = need;
    return b;
}

static int copy_header(loader *W, const loader *H)
{
    W->nheader = W->header_cap = H->nheader;
    W->names = calloc((size_t)(H->nheader ? H->nheader : 1), sizeof *W->names);
    W->map = malloc((size_t)(H->nheader ? H->nheader : 1) * sizeof *W->map);
    W->stage = calloc((size_t)W->t->ncols, sizeof *W->stage);
    W->soff = calloc((size_t)W->t->ncols, sizeof *W->soff);
    if (!W->names || !W->map || !W->stage || !W->soff) return -1;
    for (int i = 0; i < H->nheader; i++)
        if (!(W->names[i] = strdup(H->names[i]))) return -1;
    memcpy(W->map, H->map, (size_t)H->nheader * sizeof *W->map);
    W->key_field = H->key_field, W->date_field = H->date_field;
    W->header_done = 1;
    return 0;
}

static void parse_block(block_pool *bp, block_job *j)
{
    uint64_t rejects = 0;
    load_opts lo = *bp->o;
    lo.rejects = &rejects, lo.on_reject = NULL, lo.prog = NULL;
    loader W = {.t = &j->tbl, .entity = bp->entity, .o = &lo, .err = &j->err, .line = j->line, .bad_field = -1,
                .last_owner = -1, .disp = bp->head->disp, .defer_keys = !bp->t->is_history};
    j->tbl.key_col = table_find_col(&j->tbl, j->tbl.key);
    j->tbl.date_idx = j->tbl.date_col ? table_find_col(&j->tbl, j->tbl.date_col) : -1;
    j->st = DF_OK;
    if (csv_init(&W.p, CSV_STRICT | CSV_STRICT_FINI) != 0 || copy_header(&W, bp->head) != 0) {
        j->st = DF_FAIL(&j->err, DF_ERR_NOMEM, W.disp, "out of memory");
    } else {
        csv_set_space_func(&W.p, no_space);
        double c0 = thread_cpu_seconds();
        if (feed(&W, j->text, j->text + j->len) != 0) j->st = j->err.status;
        else j->st = finish(&W);
        j->tbl.st.parse_cpu += thread_cpu_seconds() - c0;
    }
    loader_free(&W);
    pthread_mutex_lock(&bp->mu);
    give_back(bp, j->text, j->cap);
    pthread_mutex_unlock(&bp->mu);
    j->text = NULL;
}

/* One of the pool's tasks: parses blocks as the reader queues them, until it says stop. */
static void block_worker(void *arg, int task)
{
    block_pool *bp = arg;
    (void)task;
    pthread_mutex_lock(&bp->mu);
    for (;;) {
        while (bp->next_take >= bp->njobs && !bp->stop) pthread_cond_wait(&bp->cv, &bp->mu);
        if (bp->next_take >= bp->njobs && bp->stop) break;
        block_job *j = bp->jobs[bp->next_take++];
        j->state = 1;
        pthread_mutex_unlock(&bp->mu);
        parse_block(bp, j);
        pthread_mutex_lock(&bp->mu);
        j->state = 2;
        pthread_cond_broadcast(&bp->cv);
    }
    pthread_mutex_unlock(&bp->mu);
}

/* Appends the finished blocks at the head of the queue, in order; with wait, until all are. */
static df_status append_done(block_pool *bp, int wait_all, df_status st, df_error *err)
{
    pthread_mutex_lock(&bp->mu);
    for (;;) {
        while (bp->next_append < bp->njobs && bp->jobs[bp->next_append]->state == 2) {
            block_job *j = bp->jobs[bp->next_append++];
            pthread_mutex_unlock(&bp->mu);
            if (st == DF_OK && j->st != DF_OK) *err = j->err, st = j->st;
            if (st == DF_OK && bp->t->is_history && table_append_rows(bp->t, &j->tbl) != 0)
                st = DF_FAIL(err, DF_ERR_NOMEM, bp->head->disp, "out of memory joining the blocks");
            if (st == DF_OK && !bp->t->is_history) {
                int64_t dups = table_append_entity_rows(bp->t, &j->tbl);
                if (dups < 0) st = DF_FAIL(err, DF_ERR_NOMEM, bp->head->disp, "out of memory joining the blocks");
                else j->tbl.st.rows_loaded -= (uint64_t)dups;
            }
            if (st == DF_OK) table_add_stats(&bp->t->st, &j->tbl.st);
            table_free(&j->tbl);
            pthread_mutex_lock(&bp->mu);
        }
        /* bound the text in flight: wait while too many blocks are queued */
        int in_flight = bp->njobs - bp->next_append;
        if (!(wait_all ? bp->next_append < bp->njobs : in_flight > 4)) break;
        pthread_cond_wait(&bp->cv, &bp->mu);
    }
    pthread_mutex_unlock(&bp->mu);
    return st;
}

static int submit_block(block_pool *bp, char *text, size_t len, size_t bufcap, uint64_t line)
{
    block_job *j = calloc(1, sizeof *j);
    if (!j || table_clone_spec(&j->tbl, bp->t, bp->t->path) != 0) {
        if (j) table_free(&j->tbl);
        free(j), free(text);
        return -1;
    }
    j->text = text, j->len = len, j->cap = bufcap, j->line = line;
    pthread_mutex_lock(&bp->mu);
    if (bp->njobs == bp->cap) {
        int cap = bp->cap ? bp->cap * 2 : 64;
        block_job **nj = realloc(bp->jobs, (size_t)cap * sizeof *nj);
        if (!nj) {
            pthread_mutex_unlock(&bp->mu);
            table_free(&j->tbl), free(j), free(text);
            return -1;
        }
        bp->jobs = nj, bp->cap = cap;
    }
    bp->jobs[bp->njobs++] = j;
    pthread_cond_broadcast(&bp->cv);
    pthread_mutex_unlock(&bp->mu);
    return 0;
}

/* The end of the last whole record in buf[0, n) (just after a newline outside quotes), or 0. */
static uint64_t count_byte(const char *p, const char *end, char c)
{
    uint64_t k = 0;
    while (p < end && (p = memchr(p, c, (size_t)(end - p)))) k++, p++;
    return k;
}

/* A newline ends a record when the quotes before it, from the block's start, are even. The
 * quotes of the block are counted once (memchr); then newlines are tried from the end back. */
static size_t last_record_end(const char *buf, size_t n)
{
    uint64_t before = count_byte(buf, buf + n, '"'); /* quotes in buf[0, p) */
    size_t p = n;
    for (;;) {
        const char *nl = memrchr(buf, '\n', p);
        if (!nl) return 0;
        before -= count_byte(nl + 1, buf + p, '"');
        if (before % 2 == 0) return (size_t)(nl - buf) + 1;
        p = (size_t)(nl - buf);
    }
}

static df_status load_blocks(loader *H, gzsource *src, const char *rest, const char *rest_end, int workers, df_error *err)
{
    table *t = H->t;
    block_pool bp = {.head = H, .t = t, .entity = H->entity, .o = H->o};
    pthread_mutex_init(&bp.mu, NULL);
    pthread_cond_init(&bp.cv, NULL);
    pool workers_pool; /* the reader waits for the workers: it needs at least one beside it */
    int started = pool_start(&workers_pool, workers, workers, block_worker, &bp);
    df_status st = started ? DF_OK : DF_FAIL(err, DF_ERR_INTERNAL, H->disp, "cannot start the parsing threads");
    size_t target = H->o->block_bytes ? H->o->block_bytes : BLOCK_BYTES;
    size_t cap = 0, len = (size_t)(rest_end - rest);
    /* the text is read straight into the block; at a cut the block itself goes to a worker
     * and only the partial record after the cut is copied into the next buffer */
    char *block = take_buffer(&bp, target + CHUNK + len + 1, &cap);
    if (!block) st = DF_FAIL(err, DF_ERR_NOMEM, H->disp, "out of memory");
    uint64_t line = H->line;
    if (st == DF_OK) memcpy(block, rest, len);
    int eof = 0;
    while (st == DF_OK && !eof) {
        if (len + CHUNK > cap) {
            size_t ncap = cap;
            while (ncap < len + CHUNK) ncap *= 2;
            char *nb = realloc(block, ncap);
            if (!nb) {
                st = DF_FAIL(err, DF_ERR_NOMEM, H->disp, "out of memory");
                break;
            }
            block = nb, cap = ncap;
        }
        long n = gzsource_read(src, block + len, CHUNK, err);
        if (n < 0) {
            st = err->status;
            break;
        }
        if (n == 0) eof = 1;
        t->st.bytes_text += (uint64_t)n;
        progress_update(H->o->prog, gzsource_bytes_in(src), t->st.rows_read);
        len += (size_t)n;
        if (len < target && !eof) continue;
        size_t cut = eof || len > MAX_BLOCK_BYTES ? len : last_record_end(block, len);
        if (cut == 0) continue; /* one record longer than a block: read on */
        size_t ncap = 0;
        char *next = take_buffer(&bp, target + CHUNK + (len - cut) + 1, &ncap);
        if (!next) {
            st = DF_FAIL(err, DF_ERR_NOMEM, H->disp, "out of memory");
            break;
        }
        memcpy(next, block + cut, len - cut);
        uint64_t first_line = line;
        line += count_byte(block, block + cut, '\n');
        if (submit_block(&bp, block, cut, cap, first_line) != 0) st = DF_FAIL(err, DF_ERR_NOMEM, H->disp, "out of memory");
        block = next, cap = ncap, len -= cut;
        if (st == DF_OK) st = append_done(&bp, 0, st, err);
    }
    pthread_mutex_lock(&bp.mu);
    bp.stop = 1;
    pthread_cond_broadcast(&bp.cv);
    pthread_mutex_unlock(&bp.mu);
    st = append_done(&bp, 1, st, err);
    pool_join(&workers_pool);
    for (int k = bp.next_append; k < bp.njobs; k++) table_free(&bp.jobs[k]->tbl), free(bp.jobs[k]->text);
    for (int k = 0; k < bp.njobs; k++) free(bp.jobs[k]);
    free(bp.jobs);
    for (int k = 0; k < bp.nspare; k++) free(bp.spare[k]);
    free(block);
    pthread_mutex_destroy(&bp.mu);
    pthread_cond_destroy(&bp.cv);
    return st;
}

df_status csvload_table(table *t, const table *entity, const load_opts *o, df_error *err)
{
    loader L = {.t = t, .entity = entity, .o = o, .err = err, .line = 1, .bad_field = -1, .last_owner = -1};
    L.disp = o->display ? o->display : t->path;
    t->key_col = table_find_col(t, t->key);
    t->date_idx = t->date_col ? table_find_col(t, t->date_col) : -1;
    if (!t->is_history && !t->keys.slots && strmap_init(&t->keys) != 0) return DF_FAIL(err, DF_ERR_NOMEM, L.disp, "out of memory");
    if (csv_init(&L.p, CSV_STRICT | CSV_STRICT_FINI) != 0) return DF_FAIL(err, DF_ERR_NOMEM, L.disp, "out of memory");
    csv_set_space_func(&L.p, no_space);
    gzsource *src = NULL;
    gzpipe *pipe = NULL;
    df_status st = gzsource_open(t->path, &src, err);
    if (st != DF_OK) goto done;
    t->st.bytes += gzsource_file_size(src);
    /* A file read by several workers: the reader only decompresses and cuts blocks. Not when
     * rows may be set aside (rejects.csv keeps file order) or for one entity. */
    int blocks = o->threads > 1 && o->max_rejects == 0 && !o->only_key;
    st = gzpipe_start(src, CHUNK, !blocks && o->threads > 1 && gzsource_is_gzip(src), &pipe, err);
    if (st != DF_OK) goto done;
    char label[300];
    snprintf(label, sizeof label, "reading %s", t->file);
    progress_phase(o->prog, label, t->st.bytes);
    int first = 1;
    for (;;) {
        const char *buf;
        long n = gzpipe_next(pipe, &buf, err);
        if (n < 0) {
            st = err->status;
            goto done;
        }
        if (n == 0) break;
        const char *p = buf;
        if (first && n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3; /* UTF-8 BOM */
        first = 0;
        t->st.bytes_text += (uint64_t)n;
        progress_update(o->prog, gzsource_bytes_in(src), t->st.rows_read);
        if (blocks && !L.header_done) {
            const char *rest;
            if (feed_lines(&L, p, buf + n, 1, &rest) != 0) {
                st = err->status;
                goto done;
            }
            if (L.header_done) {
                st = load_blocks(&L, src, rest, buf + n, o->threads, err);
                goto done;
            }
            continue;
        }
        double c0 = thread_cpu_seconds();
        int fed = feed(&L, p, buf + n);
        t->st.parse_cpu += thread_cpu_seconds() - c0;
        if (fed != 0) {
            st = err->status;
            goto done;
        }
    }
    st = finish(&L);
done:
    if (st == DF_OK && !o->part) st = csvload_no_rows(t, o, L.disp, err);
    progress_end(o->prog);
    gzpipe_free(pipe); /* joins the read-ahead thread: its CPU time is in src */
    if (src) t->st.decompress_cpu += gzsource_cpu_seconds(src);
    gzsource_free(src);
    loader_free(&L);
    return st;
}

df_status csvload_no_rows(const table *t, const load_opts *o, const char *display, df_error *err)
{
    if (t->is_history || o->only_key || t->nrows > 0) return DF_OK;
    if (t->st.rows_read == 0)
        return DF_FAIL(err, DF_ERR_DATA, display,
                       "no rows: the file has a header line and nothing else, and a run needs at least one "
                       "row of %s; check that the export is complete", t->name);
    return DF_FAIL(err, DF_ERR_DATA, display,
                   "no rows left: all %llu rows were set aside (see rejects.csv), and a run needs at least one %s",
                   (unsigned long long)t->st.rows_read, t->name);
}

/* ---- the header line alone (defector check) ---- */
typedef struct header_reader {
    char **names;
    int n, cap, done, failed;
} header_reader;

static void hdr_field(void *s, size_t n, void *ud)
{
    header_reader *h = ud;
    if (h->done || h->failed) return;
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 16;
        char **nn = realloc(h->names, (size_t)cap * sizeof *nn);
        if (!nn) {
            h->failed = 1;
            return;
        }
        h->names = nn, h->cap = cap;
    }
    char *name = malloc(n + 1);
    if (!name) {
        h->failed = 1;
        return;
    }
    if (n) memcpy(name, s, n);
    name[n] = 0;
    h->names[h->n++] = name;
}

static void hdr_row(int c, void *ud)
{
    (void)c;
    ((header_reader *)ud)->done = 1;
}

df_status csvload_header(const char *path, char ***names, int *n, df_error *err)
{
    header_reader h = {0};
    struct csv_parser p;
    gzsource *src = NULL;
    *names = NULL, *n = 0;
    if (csv_init(&p, CSV_STRICT) != 0) return DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory");
    csv_set_space_func(&p, no_space);
    df_status st = gzsource_open(path, &src, err);
    char buf[65536];
    int first = 1;
    while (st == DF_OK && !h.done && !h.failed) {
        long k = gzsource_read(src, buf, sizeof buf, err);
        if (k < 0) st = err->status;
        if (k <= 0) break;
        const char *b = buf;
        if (first && k >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0) b += 3, k -= 3;
        first = 0;
        for (long i = 0; i < k && !h.done; i++) csv_parse(&p, b + i, 1, hdr_field, hdr_row, &h);
    }
    if (st == DF_OK && !h.done) csv_fini(&p, hdr_field, hdr_row, &h);
    csv_free(&p);
    gzsource_free(src);
    if (st == DF_OK && h.failed) st = DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory");
    if (st != DF_OK) {
        for (int i = 0; i < h.n; i++) free(h.names[i]);
        free(h.names);
        return st;
    }
    *names = h.names, *n = h.n;
    return DF_OK;
}

/* ---- the distinct values of one column (defector check --data) ---- */

typedef struct distinct_reader {
    const char *column;
    int field, want, row_started;
    strmap *values;
    size_t max;
    int failed, header_done;
} distinct_reader;

static void dst_field(void *s, size_t n, void *ud)
{
    distinct_reader *d = ud;
    int f = d->field++;
    if (d->failed) return;
    if (!d->header_done) {
        if (n == strlen(d->column) && memcmp(s, d->column, n) == 0) d->want = f;
        return;
    }
    int added;
    if (f == d->want && d->values->n < d->max && strmap_intern(d->values, s ? s : "", n, &added) < 0) d->failed = 1;
}

static void dst_row(int c, void *ud)
{
    (void)c;
    distinct_reader *d = ud;
    d->header_done = 1, d->field = 0;
}

df_status csvload_distinct(const char *path, const char *colname, strmap *values, size_t max, df_error *err)
{
    distinct_reader d = {.column = colname, .want = -1, .values = values, .max = max};
    struct csv_parser p;
    gzsource *src = NULL;
    if (csv_init(&p, 0) != 0) return DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory");
    csv_set_space_func(&p, no_space);
    df_status st = gzsource_open(path, &src, err);
    char buf[65536];
    int first = 1;
    while (st == DF_OK && !d.failed && (d.want >= 0 || !d.header_done)) {
        long k = gzsource_read(src, buf, sizeof buf, err);
        if (k < 0) st = err->status;
        if (k <= 0) break;
        const char *b = buf;
        if (first && k >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0) b += 3, k -= 3;
        first = 0;
        csv_parse(&p, b, (size_t)k, dst_field, dst_row, &d);
    }
    if (st == DF_OK) csv_fini(&p, dst_field, dst_row, &d);
    csv_free(&p);
    gzsource_free(src);
    if (st == DF_OK && d.failed) st = DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory");
    return st;
}
