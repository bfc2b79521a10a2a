/* csvload.c: CSV text -> typed column appends, with line and column tracking.
 *
 * Decompressed text is cut into physical lines, a line ending at "\n", "\r\n" or a lone "\r"
 * (a CRLF split between two chunks is one line end). A record on one line is split by the fast
 * path below; anything else (a quoted field spanning lines, every malformed line) is fed to
 * libcsv, line by line with its line end. So the loader always knows the line it is on and
 * where the current record began, and keeps the record's raw text for rejects. A record's
 * cells are parsed into a staging row and appended to the columns only when the whole record
 * is valid: a rejected record leaves no trace in the columns. Only the columns the rule file
 * declares are parsed and stored; the others are skipped at the field callback.
 *
 * Invariant: what a file gives (rows, cells, rejects, or the error with its position) does not
 * depend on how its text is cut into chunks or blocks, on the thread count or on the parse path
 * (fast path or libcsv). Hence: a record that has not ended within its first max_record bytes is
 * refused once exactly that many bytes are parsed; after a quoting error the rest of the line
 * is skipped and the record rejected at the line's end; the parallel reader (below) cuts blocks
 * only where a record starts, and whatever it cannot cut it leaves to this same loader. */
#define _GNU_SOURCE /* memrchr */
#include <csv.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "csvload.h"
#include "gzsource.h"
#include "pool.h"
#include "progress.h"
#include "sha256.h"

#define CHUNK (1u << 20)
#define MAX_RECORD_BYTES ((size_t)64 << 20)
#define MSG_TEXT 200

#define MALFORMED_QUOTING                                                                                      \
    "malformed quoting: a '\"' inside an unquoted field, or text after a closing quote (write a quote inside " \
    "a quoted field as \"\")"

typedef struct loader {
    table *t;
    const table *entity;
    const load_opts *o;
    df_error *err;
    const char *disp;
    struct csv_parser p;
    int failed;
    char delim;      /* the declared delimiter (t->dl; ',' by default) */
    int check_utf8;  /* text cells and header names are checked to be UTF-8 (no encoding declared) */
    int filled;      /* fields of the current record that are not empty (0: an empty row, skipped) */
    int empty_tail;  /* empty cells at the end of the header: a row may leave them out */
    int header_only; /* csvload_header: stop at the header, no table */
    size_t max_record;
    /* header */
    int header_done, nheader, header_cap;
    char **names;
    int *map; /* header field -> column index, -1 = not stored */
    int key_field, date_field;
    /* current line and record */
    uint64_t line, rec_line;
    int pending_cr;  /* the text fed last ended with a CR: a LF next is part of its line end */
    int skip_line;   /* a quoting error: the rest of the line is skipped, the record rejected at its end */
    int skip_field;
    int has_nul;     /* a NUL byte was in the text fed: fields are searched for it */
    const char *lf, *cr; /* the next LF and CR in the text being fed (NULL: not searched yet) */
    int field;
    cell *stage;
    size_t *soff; /* staged text offsets into sbuf, per column */
    char *sbuf;
    size_t slen, scap;
    size_t key_off, key_len;
    uint32_t key_hash; /* history: hash of the row's key, its index slot prefetched */
    const char *ahead_s; /* the next line's key as look_ahead hashed it (ahead_h) */
    size_t ahead_n;
    uint32_t ahead_h;
    const char *ahead2_s; /* the same for the line after it */
    size_t ahead2_n;
    uint32_t ahead2_h;
    int defer_keys;    /* entity block: keys interned (duplicates found) at append */
    int bad_field;     /* first field that failed to parse, -1 none */
    const char *bad_reason;
    char bad_why[700]; /* a copy of bad_reason (a hint's text lasts only until the next refusal) */
    size_t bad_off, bad_len; /* its text, in sbuf */
    char *raw;
    size_t rawlen, rawcap;
    const char *rec; /* the record's text for messages: raw, or the line itself (fast path) */
    /* fast path (one-line records): field spans and unescaped text of the current line */
    struct span { const char *s; size_t n; int esc; } *spans;
    int nspans, span_cap; /* span_cap: delimiter = "spaces" only (split_line sizes spans itself) */
    int sp_open;          /* delimiter = "spaces": a line cut by the end of the text fed waits in raw */
    char *unq;
    size_t unqcap;
    char last_key[64]; /* history: the previous row's key and its entity (-1: none) */
    size_t last_key_len;
    uint32_t last_key_hash;
    int64_t last_owner;
} loader;

static void loader_init(loader *L, table *t, const table *entity, const load_opts *o, df_error *err)
{
    memset(L, 0, sizeof *L);
    L->t = t, L->entity = entity, L->o = o, L->err = err;
    L->line = 1, L->bad_field = -1, L->last_owner = -1;
    L->disp = o->display ? o->display : t->path;
    L->delim = t->dl.delim ? t->dl.delim : ',';
    L->check_utf8 = t->dl.encoding == ENC_UTF8;
    L->max_record = o->max_record ? o->max_record : MAX_RECORD_BYTES;
}

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

static void fail_nomem(loader *L)
{
    DF_FAIL(L->err, DF_ERR_NOMEM, L->disp, "out of memory");
    L->failed = 1;
}

/* The first n bytes of s as a printable excerpt for a message. */
static void excerpt(char *dst, size_t cap, const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n') dst[k++] = '\\', dst[k++] = 'n';
        else if (ch == '\r') dst[k++] = '\\', dst[k++] = 'r';
        else if (ch == 0) dst[k++] = '\\', dst[k++] = '0';
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
    if (L->o->id_salt) { /* personal data: the record, not its text (rejects.csv hashes it alike) */
        size_t rn = L->rawlen;
        while (rn && (L->rec[rn - 1] == '\n' || L->rec[rn - 1] == '\r')) rn--;
        sha256_id(L->o->id_salt, L->rec, rn, ex);
    } else {
        excerpt(ex, sizeof ex, text, tn);
    }
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

/* Text that is not UTF-8 in a file without a declared encoding: the file is in another
 * encoding (Windows-1252, Latin-1), and every such text would go out garbled under a UTF-8
 * label: the load stops, whatever --max-rejects allows. */
static void not_utf8(loader *L, int field, const char *s, size_t n, size_t at)
{
    char w[512], ex[4 * MSG_TEXT + 8];
    size_t k = 0;
    where_at(L, w, sizeof w, field);
    for (size_t i = 0; i < n && i < MSG_TEXT; i++) { /* bytes past ASCII as \xNN: the terminal would garble them */
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x80 || ch < 0x20) k += (size_t)snprintf(ex + k, sizeof ex - k, "\\x%02X", ch);
        else ex[k++] = (char)ch;
    }
    ex[k] = 0;
    DF_FAIL(L->err, DF_ERR_DATA, w,
            "not UTF-8 text: byte 0x%02X at byte %zu of \"%s\". The file is in another encoding: declare it for this "
            "input, e.g. encoding = \"windows-1252\" (Excel on Windows) or encoding = \"latin-1\", or export it again as UTF-8",
            (unsigned char)s[at], at + 1, ex);
    L->failed = 1;
}

static void on_header_field(loader *L, const char *s, size_t n)
{
    const char *nul = memchr(s, 0, n);
    if (nul) {
        char ex[MSG_TEXT + 8];
        excerpt(ex, sizeof ex, s, n);
        char w[512];
        snprintf(w, sizeof w, "%s:%llu", L->disp, (unsigned long long)L->rec_line);
        DF_FAIL(L->err, DF_ERR_DATA, w,
                "the header's column %d (\"%s\") holds a NUL byte (\\0) at its byte %zu: the file is not plain "
                "CSV text there (binary data, NUL padding, or UTF-16); remove the NUL bytes or export it again as UTF-8",
                L->nheader + 1, ex, (size_t)(nul - s) + 1);
        L->failed = 1;
        return;
    }
    size_t bad_at = L->check_utf8 ? utf8_invalid_at(s, n) : n;
    if (bad_at < n) return not_utf8(L, -1, s, n, bad_at);
    if (L->nheader == L->header_cap) {
        int cap = L->header_cap ? L->header_cap * 2 : 32;
        char **names = realloc(L->names, (size_t)cap * sizeof *names);
        if (!names) return fail_nomem(L);
        L->names = names, L->header_cap = cap;
    }
    char *name = malloc(n + 1);
    if (!name) return fail_nomem(L);
    if (n) memcpy(name, s, n);
    name[n] = 0;
    L->names[L->nheader++] = name;
}

/* Copies a cell's text into the row's staging buffer (libcsv reuses its own); *off gets where. */
static int stage_text(loader *L, const char *s, size_t n, size_t *off)
{
    if (grow_buf(&L->sbuf, &L->scap, L->slen + n) != 0) {
        fail_nomem(L);
        return -1;
    }
    if (n) memcpy(L->sbuf + L->slen, s, n);
    *off = L->slen;
    L->slen += n;
    return 0;
}

/* The record's first bad field: f, why, and its text for the message. */
static void bad(loader *L, int f, const char *why, const char *s, size_t n)
{
    if (L->bad_field >= 0) return;
    snprintf(L->bad_why, sizeof L->bad_why, "%s", why);
    L->bad_field = f, L->bad_reason = L->bad_why, L->bad_len = 0;
    if (stage_text(L, s, n, &L->bad_off) == 0) L->bad_len = n;
}

/* The length of the run of spaces and tabs at the start of s[0, n). */
static size_t strspn_n(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    return i;
}

static void on_field(void *s, size_t n, void *ud)
{
    loader *L = ud;
    int f = L->field++;
    if (L->failed) return;
    if (!s) s = "";
    if (!L->header_done) {
        on_header_field(L, s, n);
        return;
    }
    if (n && L->t->dl.blank_empty && strspn_n(s, n) == n) n = 0; /* only spaces and tabs: empty */
    L->filled += n != 0;
    if (f >= L->nheader) return;
    if (L->has_nul && memchr(s, 0, n)) {
        bad(L, f, "a NUL byte (\\0) in this field: the file is not plain CSV text here (binary data or NUL "
                  "padding); remove the NUL bytes", s, n);
        return;
    }
    if (f == L->key_field && L->t->is_history) {
        size_t bad_at = L->check_utf8 ? utf8_invalid_at(s, n) : n;
        if (bad_at < n) return not_utf8(L, f, s, n, bad_at);
        if (stage_text(L, s, n, &L->key_off) != 0) return;
        L->key_len = n;
        /* the lookup comes when the row ends: start fetching its slot now (unless the line
         * before already did: the same bytes of the same text, see look_ahead) */
        if (s == L->ahead_s && n == L->ahead_n) {
            L->key_hash = L->ahead_h;
        } else {
            L->key_hash = strmap_hash(s, n);
            strmap_prefetch(&L->entity->keys, L->key_hash);
        }
    }
    int c = L->map[f];
    if (c < 0) return;
    column *col = &L->t->cols[c];
    if (n == 0 && col->required) {
        bad(L, f, "empty, but the rule file declares this column required", "", 0);
        return;
    }
    if (col->type == COL_TEXT || col->type == COL_CATEGORY) {
        size_t bad_at = L->check_utf8 ? utf8_invalid_at(s, n) : n;
        if (bad_at < n) return not_utf8(L, f, s, n, bad_at);
        if (stage_text(L, s, n, &L->soff[c]) == 0) L->stage[c].n = n;
        const char *why = column_refuses(col, s, n);
        if (why) bad(L, f, why, s, n);
        return;
    }
    const char *why = column_parse(col, s, n, &L->stage[c], &L->t->dl);
    if (why) bad(L, f, why, s, n);
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
    while (L->empty_tail < L->nheader - 1 && L->names[L->nheader - 1 - L->empty_tail][0] == 0) L->empty_tail++;
    t->st.empty_header_cells = (uint64_t)L->empty_tail;
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
            if (strcmp(L->names[f], t->key) != 0 && f < L->nheader - L->empty_tail) t->st.ignored_columns++;
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
        if (found[c] || strcmp(t->cols[c].name, t->key) == 0) continue; /* the key: listed above */
        size_t k = strlen(missing);
        snprintf(missing + k, sizeof missing - k, "%s%s", k ? ", " : "", t->cols[c].name);
    }
    if (missing[0]) {
        for (int f = 0; f < L->nheader; f++) { /* an empty name as "", a long one shortened */
            size_t k = strlen(have), n = strlen(L->names[f]);
            if (n == 0) snprintf(have + k, sizeof have - k, "%s\"\"", f ? ", " : "");
            else if (n > 40) snprintf(have + k, sizeof have - k, "%s%.40s... (%zu bytes)", f ? ", " : "", L->names[f], n);
            else snprintf(have + k, sizeof have - k, "%s%s", f ? ", " : "", L->names[f]);
        }
        char sep = dialect_sniff(&t->dl, L->names, L->nheader);
        if (sep == ' ')
            DF_FAIL(L->err, DF_ERR_DATA, L->disp,
                    "missing column(s) %s, which the rule file declares for '%s': the header is one column with runs of "
                    "spaces in it (%s). If the columns are aligned with spaces, declare delimiter = \"spaces\" in the rule "
                    "file's %s { ... } for this input", missing, t->name, have, t->is_history ? "history" : "entity");
        else if (sep)
            DF_FAIL(L->err, DF_ERR_DATA, L->disp,
                    "missing column(s) %s, which the rule file declares for '%s': this file is separated by '%s', not "
                    "'%s' (the header read as: %s). Declare delimiter = \"%s\" in the rule file's %s { ... } for this input",
                    missing, t->name, sep == '\t' ? "\\t" : (char[2]){sep, 0}, L->delim == '\t' ? "\\t" : (char[2]){L->delim, 0},
                    L->nheader ? have : "(nothing)", sep == '\t' ? "\\t" : (char[2]){sep, 0}, t->is_history ? "history" : "entity");
        else
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

/* A row another shard keeps: its category values still enter the dictionaries, in the order a
 * run meets them, so that a shard's dictionaries are the whole base's (a filter's value that
 * matches no row is warned of alike in every shard and in a run; the codes are a run's). */
static void note_categories(loader *L)
{
    table *t = L->t;
    for (int c = 0; c < t->ncols; c++) {
        column *col = &t->cols[c];
        int added;
        if (col->type == COL_CATEGORY && strmap_intern(&col->dict, L->sbuf + L->soff[c], L->stage[c].n, &added) < 0) {
            DF_FAIL(L->err, DF_ERR_NOMEM, L->disp, "out of memory storing row %llu", (unsigned long long)L->rec_line);
            L->failed = 1;
            return;
        }
    }
}

static void on_data_row(loader *L)
{
    table *t = L->t;
    if (L->filled == 0 && L->field > 0) { /* ",,,," (Excel's rows below the data): no value at all */
        t->st.empty_rows++;
        return;
    }
    t->st.rows_read++;
    if (L->field != L->nheader && !(L->field < L->nheader && L->field >= L->nheader - L->empty_tail)) {
        char why[160];
        snprintf(why, sizeof why, "wrong number of fields: the header has %d, this row has %d", L->nheader, L->field);
        reject(L, -1, why, L->rec, L->rawlen);
        return;
    }
    if (L->bad_field >= 0) {
        reject(L, L->bad_field, L->bad_reason, L->sbuf + L->bad_off, L->bad_len);
        return;
    }
    /* an empty key is bad data in any table: the row is rejected (or set aside) with its line */
    size_t kn = t->is_history ? L->key_len : L->stage[t->key_col].n;
    if (kn == 0 && t->from_history) { /* entity { from = h }: a row of no customer, counted */
        t->st.empty_keys++;
        return;
    }
    if (kn == 0) {
        char why[200];
        snprintf(why, sizeof why, "empty key: %s is empty, and every row needs one", t->key);
        reject(L, L->key_field, why, L->rec, L->rawlen);
        return;
    }
    if (!t->is_history && t->from_history && t->date_idx >= 0) { /* entity { from = h }: a customer from */
        int64_t d = L->stage[t->date_idx].i;                     /* a row on or before the as-of date */
        if (d == DF_NA_DATE || d > L->o->as_of) return;          /* (the history counts those rows) */
    }
    if (!t->is_history) {
        const char *k = L->sbuf + L->soff[t->key_col];
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
    if (L->last_owner >= 0 && L->key_hash == L->last_key_hash && L->key_len == L->last_key_len &&
        memcmp(key, L->last_key, L->key_len) == 0) {
        owner = L->last_owner;
    } else {
        owner = strmap_find_hashed(&L->entity->keys, key, L->key_len, L->key_hash);
        if (L->key_len <= sizeof L->last_key) {
            memcpy(L->last_key, key, L->key_len);
            L->last_key_len = L->key_len;
            L->last_key_hash = L->key_hash;
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
    if (L->o->keep && !L->o->keep[owner]) { /* another shard's entity (shards.h) */
        note_categories(L);
        return;
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
    L->filled = 0;
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
            if (!L->header_only && setup_header(L) != 0) L->failed = 1;
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

/* libcsv back at the start of a record (as csv_fini leaves it, without its callbacks). */
static void parser_reset(loader *L)
{
    L->p.pstate = 0, L->p.quoted = 0, L->p.spaces = 0, L->p.entry_pos = 0, L->p.status = 0;
}

/* libcsv stopped on a byte: a quote in the wrong place (or no memory). In the header that ends
 * the load; in a record the rest of the line is skipped and the record rejected at its end. */
static void parse_error(loader *L)
{
    if (csv_error(&L->p) == CSV_ENOMEM) return fail_nomem(L);
    parser_reset(L);
    if (!L->header_done) {
        char w[512];
        snprintf(w, sizeof w, "%s:%llu", L->disp, (unsigned long long)L->rec_line);
        DF_FAIL(L->err, DF_ERR_DATA, w, "malformed header: %s", MALFORMED_QUOTING);
        L->failed = 1;
        return;
    }
    L->skip_line = 1;
    L->skip_field = L->field < L->nheader ? L->field : -1;
}

static void end_skip(loader *L)
{
    L->skip_line = 0;
    L->t->st.rows_read++;
    reject(L, L->skip_field, MALFORMED_QUOTING, L->raw, L->rawlen);
    reset_record(L);
}

/* A record that has not ended within its first max_record bytes: nothing after it can be read
 * with confidence (where would the next record start?), so the load stops. */
static void too_long(loader *L)
{
    char w[512];
    int in_quotes = L->p.quoted && L->p.pstate == 2; /* libcsv's FIELD_BEGUN inside quotes */
    where_at(L, w, sizeof w, L->header_done && L->field < L->nheader ? L->field : -1);
    size_t mb = L->max_record >> 20;
    if (in_quotes)
        DF_FAIL(L->err, DF_ERR_DATA, w,
                "a quoted field opened in this record runs on for more than %zu %s: its closing quote is probably "
                "missing; fix the export (a quote inside a quoted field is written \"\")",
                mb ? mb : L->max_record, mb ? "MB" : "bytes");
    else
        DF_FAIL(L->err, DF_ERR_DATA, w,
                "this record runs on for more than %zu %s without a line end: the file is probably not CSV, or "
                "not cut into lines (\\n, \\r\\n or \\r); a record may take at most that much",
                mb ? mb : L->max_record, mb ? "MB" : "bytes");
    L->failed = 1;
}

/* Keeps the record's raw text (for rejects), at most max_record + 2 bytes of it. */
static int raw_add(loader *L, const char *p, size_t n)
{
    size_t room = L->max_record + 2 - L->rawlen;
    if (n > room) n = room;
    if (n && grow_buf(&L->raw, &L->rawcap, L->rawlen + n) != 0) {
        fail_nomem(L);
        return -1;
    }
    if (n) memcpy(L->raw + L->rawlen, p, n);
    L->rawlen += n;
    L->rec = L->raw;
    return 0;
}

/* The common case, a whole record on one line [p, p + n) (its line end cut off; a line holds
 * no CR), is split here rather than by libcsv, with libcsv's rules under CSV_STRICT and
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
            if (*p != L->delim) return -1; /* text after the closing quote */
            p++;
        } else {
            const char *c = memchr(p, L->delim, (size_t)(end - p)), *fe = c ? c : end;
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

/* A whole one-line record [p, p + n) by the fast path: 0, or -1 when it is not one (nothing
 * has been called yet; libcsv reads it). */
static int fast_record(loader *L, const char *p, size_t n)
{
    if (split_line(L, p, n) != 0) return -1;
    if (n > L->unqcap) {
        free(L->unq);
        L->unqcap = n * 2;
        if (!(L->unq = malloc(L->unqcap))) {
            L->unqcap = 0;
            fail_nomem(L);
            return 0;
        }
    }
    L->rec = p, L->rawlen = n;
    fast_line(L);
    return 0;
}

/* libcsv grows a field's buffer by a fixed step (128 bytes): a field of megabytes took one
 * realloc per 128 bytes, each a full copy when realloc cannot grow in place (always under
 * ASan: a 64 MB field never finished). With the step kept at the buffer's size, or the size of
 * the text about to be parsed if more, it doubles, and one step makes room for that text. */
static void csv_grow_doubling(struct csv_parser *p, size_t next)
{
    size_t n = csv_get_buffer_size(p);
    if (n < next) n = next; /* the text about to be parsed fits after one step */
    csv_set_blk_size(p, n > 128 ? n : 128);
}

/* One piece of a line through libcsv: its text [p, p + cn) and its line end [p + cn, p + cn + tn)
 * (tn = 0: the line goes on in the next chunk). libcsv sees at most max_record bytes of a record. */
static void slow_piece(loader *L, const char *p, size_t cn, size_t tn)
{
    if (L->skip_line) {
        if (raw_add(L, p, cn + tn) == 0 && tn) end_skip(L);
        return;
    }
    size_t room = L->max_record - L->rawlen, k = cn < room ? cn : room;
    if (raw_add(L, p, k) != 0) return;
    csv_grow_doubling(&L->p, k);
    if (csv_parse(&L->p, p, k, on_field, on_row, L) < k && !L->failed) {
        parse_error(L);
        if (L->failed || raw_add(L, p + k, cn - k + tn) != 0) return;
        if (tn) end_skip(L);
        return;
    }
    if (L->failed) return;
    if (k < cn) return too_long(L);
    if (!tn || raw_add(L, p + cn, tn) != 0) return;
    csv_parse(&L->p, p + cn, tn, on_field, on_row, L); /* a line end: never an error */
    if (!L->failed && L->p.pstate != 0 && L->rawlen > L->max_record) too_long(L);
}

/* The end of the line starting at p: the first LF or CR in [p, end), or end. The positions
 * found are kept for the next lines (a bare-CR file would otherwise be searched to its end for
 * a LF at every line). */
static const char *line_end(loader *L, const char *p, const char *end)
{
    if (!L->lf || L->lf < p) L->lf = memchr(p, '\n', (size_t)(end - p)), L->lf = L->lf ? L->lf : end;
    if (!L->cr || L->cr < p) L->cr = memchr(p, '\r', (size_t)(end - p)), L->cr = L->cr ? L->cr : end;
    return L->lf < L->cr ? L->lf : L->cr;
}

/* delimiter = "spaces" (whitespace-aligned text such as CDNOW_master.txt): the fields are the
 * runs of bytes between runs of spaces and tabs, those at the line's ends ignored, no quoting.
 * Every line of such a file is split here, the header too, never by libcsv. */
static int split_spaces(loader *L, const char *p, size_t n)
{
    const char *end = p + n;
    int k = 0;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (p == end) break;
        const char *f = p;
        while (p < end && *p != ' ' && *p != '\t') p++;
        if (k == L->span_cap) {
            int cap = k ? 2 * k : 16;
            struct span *sp = realloc(L->spans, (size_t)cap * sizeof *sp);
            if (!sp) return fail_nomem(L), -1;
            L->spans = sp, L->span_cap = cap;
        }
        L->spans[k++] = (struct span){f, (size_t)(p - f), 0};
    }
    L->nspans = k;
    return 0;
}

static void spaces_record(loader *L, const char *p, size_t n)
{
    if (split_spaces(L, p, n) != 0) return;
    if (L->nspans == 0) { /* a line of spaces only */
        L->t->st.blank_lines++;
        return;
    }
    L->rec = p, L->rawlen = n;
    fast_line(L);
}

/* One line of a "spaces" file, or the part of it in this chunk (tn = 0: it goes on). */
static void spaces_piece(loader *L, const char *p, size_t cn, size_t tn)
{
    if (!L->sp_open) {
        L->rec_line = L->line, L->rawlen = 0;
        if (tn) {
            if (cn > L->max_record) return too_long(L);
            return spaces_record(L, p, cn);
        }
    }
    if (raw_add(L, p, cn) != 0) return;
    if (L->rawlen > L->max_record) return too_long(L);
    L->sp_open = !tn;
    if (tn) spaces_record(L, L->raw, L->rawlen);
}

/* One line (or the part of it in this chunk): text [p, p + cn), line end of tn bytes. */
static void feed_line(loader *L, const char *p, size_t cn, size_t tn)
{
    if (L->t->dl.spaces) return spaces_piece(L, p, cn, tn);
    if (L->p.pstate == 0 && !L->skip_line) { /* libcsv's ROW_NOT_BEGUN: a record may start here */
        if (cn == 0) { /* an empty line */
            L->t->st.blank_lines++;
            return;
        }
        L->rec_line = L->line;
        L->rawlen = 0;
        if (tn && L->header_done && !L->o->libcsv_only && cn <= L->max_record && fast_record(L, p, cn) == 0) return;
    }
    slow_piece(L, p, cn, tn);
}

/* A history whose key is the first field: lookups are pipelined two lines ahead (events in
 * date order give no locality by entity: each row's lookup is a cache miss, longer than
 * parsing one row). The key of the line after next is hashed and its slot prefetched; the next
 * line's slot, fetched one line ago, says where the rest of a key over 16 bytes lies in the
 * arena, and that is prefetched too. Only hints: a quoted or long key prefetches nothing useful,
 * and on_field reuses a hash only for the very bytes it was computed from. */
static int key_ahead(loader *L, const char *line, const char *end, uint32_t *h, size_t *n)
{
    size_t room = (size_t)(end - line) < 64 ? (size_t)(end - line) : 64;
    const char *c = room ? memchr(line, L->delim, room) : NULL;
    if (!c || *line == '"') return -1;
    *n = (size_t)(c - line), *h = strmap_hash(line, *n);
    strmap_prefetch(&L->entity->keys, *h);
    return 0;
}

static void look_ahead(loader *L, const char *next, const char *end)
{
    const strmap *keys = &L->entity->keys;
    if (next == L->ahead2_s) {
        L->ahead_s = next, L->ahead_n = L->ahead2_n, L->ahead_h = L->ahead2_h;
        if (L->ahead_n > 16) strmap_prefetch_rest(keys, L->ahead_h, L->ahead_n);
    } else {
        L->ahead_s = key_ahead(L, next, end, &L->ahead_h, &L->ahead_n) == 0 ? next : NULL;
    }
    L->ahead2_s = NULL;
    if (next >= end) return;
    const char *e = line_end(L, next, end);
    size_t tn = e < end ? (*e == '\r' && e + 1 < end && e[1] == '\n' ? 2 : 1) : 0;
    if (tn && key_ahead(L, e + tn, end, &L->ahead2_h, &L->ahead2_n) == 0) L->ahead2_s = e + tn;
}

/* Feeds [p, end) line by line; with stop_after_header, returns as soon as the header is read
 * and sets *rest to the first byte not fed. */
static int feed_lines(loader *L, const char *p, const char *end, int stop_after_header, const char **rest)
{
    int ahead = L->t->is_history && L->key_field == 0 && L->entity && L->entity->keys.slots;
    L->ahead_s = L->ahead2_s = NULL; /* a hash kept from another buffer could match a pointer in this one */
    L->lf = L->cr = NULL;
    if (!L->has_nul && p < end && memchr(p, 0, (size_t)(end - p))) L->has_nul = 1;
    if (L->pending_cr && p < end) { /* the LF of a CRLF whose CR ended the text fed last */
        L->pending_cr = 0;
        if (*p == '\n') {
            if (L->p.pstate != 0 && !L->failed) slow_piece(L, p, 0, 1); /* inside a quoted field */
            p++;
        }
    }
    while (p < end && !L->failed && !(stop_after_header && L->header_done)) {
        const char *e = line_end(L, p, end);
        size_t cn = (size_t)(e - p), tn = 0;
        if (e < end) tn = *e == '\r' && e + 1 < end && e[1] == '\n' ? 2 : 1;
        if (ahead && L->header_done) look_ahead(L, e + tn, end);
        feed_line(L, p, cn, tn);
        if (tn) L->line++;
        if (tn == 1 && *e == '\r' && e + 1 == end) L->pending_cr = 1;
        p = e + tn;
    }
    L->ahead_s = L->ahead2_s = NULL;
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

/* The end of the text: the last record (no line end), a record left open, the empty file. */
static df_status finish(loader *L)
{
    if (!L->failed && L->sp_open) { /* a "spaces" file's last line, without a line end */
        L->sp_open = 0;
        spaces_record(L, L->raw, L->rawlen);
    }
    if (!L->failed && L->skip_line) {
        end_skip(L);
    } else if (!L->failed && csv_fini(&L->p, on_field, on_row, L) != 0) {
        parser_reset(L);
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
 * A line end (LF, CRLF, lone CR) ends a record only outside quotes: since every record starts
 * outside quotes, the parity of '"' counted from a block's start tells, at each line end,
 * whether it is inside a quoted field ("" counts twice, so it keeps the parity). In well-formed
 * text that is exactly where libcsv ends records; text where the two differ has a quoting error
 * before the difference, in a block parsed before it, and that error is what the load reports.
 * What the reader cannot cut into blocks (a record longer than max_record, a read error with
 * text still uncut, no thread to parse on) it leaves to the header's loader, which reads on
 * from there exactly as the single-threaded path does: the same outcome either way. */

#define BLOCK_BYTES (4u << 20) /* default; load_opts.block_bytes overrides */

typedef struct block_job {
    char *text; /* a buffer of cap bytes, given back to the pool when parsed */
    size_t len, cap;
    uint64_t line;
    int last; /* the end of the file: the block's end is the text's end */
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
    int max_queued; /* blocks read but not yet appended: the workers plus one, so none waits */
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
    W->names = calloc((size_t)(H->nheader ? H->nheader : 1), sizeof *W->names);
    W->map = malloc((size_t)(H->nheader ? H->nheader : 1) * sizeof *W->map);
    W->stage = calloc((size_t)(W->t->ncols ? W->t->ncols : 1), sizeof *W->stage);
    W->soff = calloc((size_t)(W->t->ncols ? W->t->ncols : 1), sizeof *W->soff);
    if (!W->names || !W->map || !W->stage || !W->soff) return -1;
    W->nheader = W->header_cap = H->nheader; /* only now: loader_free frees that many names */
    for (int i = 0; i < H->nheader; i++)
        if (!(W->names[i] = strdup(H->names[i]))) return -1;
    memcpy(W->map, H->map, (size_t)H->nheader * sizeof *W->map);
    W->key_field = H->key_field, W->date_field = H->date_field, W->empty_tail = H->empty_tail;
    W->header_done = 1;
    return 0;
}

/* A block that is not the file's last ends where a record ends (see above): anything else
 * would be a bug in the cutting, said as such rather than read as something else. */
static df_status block_end(loader *W, int last)
{
    if (last) return finish(W);
    if (!W->failed && (W->p.pstate != 0 || W->skip_line))
        return DF_FAIL(W->err, DF_ERR_INTERNAL, W->disp,
                       "internal error: a parsing block was cut inside the record at line %llu; please report this "
                       "(--threads 1 reads the file)", (unsigned long long)W->rec_line);
    return W->failed ? W->err->status : DF_OK;
}

static void parse_block(block_pool *bp, block_job *j)
{
    uint64_t rejects = 0;
    load_opts lo = *bp->o;
    lo.rejects = &rejects, lo.on_reject = NULL, lo.prog = NULL, lo.display = bp->head->disp;
    loader W;
    loader_init(&W, &j->tbl, bp->entity, &lo, &j->err);
    W.line = j->line, W.defer_keys = !bp->t->is_history;
    j->tbl.key_col = table_find_col(&j->tbl, j->tbl.key);
    j->tbl.date_idx = j->tbl.date_col ? table_find_col(&j->tbl, j->tbl.date_col) : -1;
    j->st = DF_OK;
    if (csv_init(&W.p, CSV_STRICT | CSV_STRICT_FINI) != 0 || copy_header(&W, bp->head) != 0) {
        j->st = DF_FAIL(&j->err, DF_ERR_NOMEM, W.disp, "out of memory");
    } else {
        csv_set_space_func(&W.p, no_space);
        csv_set_delim(&W.p, (unsigned char)W.delim);
        double c0 = thread_cpu_seconds();
        if (feed(&W, j->text, j->text + j->len) != 0) j->st = j->err.status;
        else j->st = block_end(&W, j->last);
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
        if (!(wait_all ? bp->next_append < bp->njobs : in_flight > bp->max_queued)) break;
        pthread_cond_wait(&bp->cv, &bp->mu);
    }
    pthread_mutex_unlock(&bp->mu);
    return st;
}

/* Queues text[0, len) as a block starting at `line`; the buffer is the block's from now on. */
static int submit_block(block_pool *bp, char *text, size_t len, size_t bufcap, uint64_t line, int last)
{
    block_job *j = calloc(1, sizeof *j);
    if (!j || table_clone_spec(&j->tbl, bp->t, bp->t->path) != 0) {
        if (j) table_free(&j->tbl);
        free(j), free(text);
        return -1;
    }
    j->text = text, j->len = len, j->cap = bufcap, j->line = line, j->last = last;
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

static uint64_t count_byte(const char *p, const char *end, char c)
{
    uint64_t k = 0;
    while (p < end && (p = memchr(p, c, (size_t)(end - p)))) k++, p++;
    return k;
}

/* Line ends in [p, end), as the loader counts them: LF, CRLF (once), lone CR. A CR just before
 * end is a lone CR: the reader never cuts between the CR and the LF of a CRLF. */
static uint64_t count_line_ends(const char *p, const char *end)
{
    uint64_t k = count_byte(p, end, '\n');
    for (const char *r = p; r < end && (r = memchr(r, '\r', (size_t)(end - r))); r++)
        if (r + 1 == end || r[1] != '\n') k++;
    return k;
}

/* Where the reader may cut: after a line end with an even count of '"' before it, counted from
 * the block's start. Kept as the text comes in, each byte looked at once (scanned), plus the
 * backward look from the end of each new stretch for its last such line end. */
typedef struct cutter {
    size_t scanned; /* bytes looked at; a CR at the end waits for the byte after it */
    uint64_t quotes; /* '"' in [0, scanned) */
    size_t best;    /* the last place to cut found so far, 0: none */
} cutter;

static void find_cuts(cutter *c, const char *buf, size_t n)
{
    size_t end = n;
    if (end > c->scanned && buf[end - 1] == '\r') end--; /* CR, or the CR of a CRLF? */
    if (end <= c->scanned) return;
    uint64_t total = c->quotes + count_byte(buf + c->scanned, buf + end, '"'), after = 0;
    for (size_t i = end; i-- > c->scanned;) {
        char ch = buf[i];
        if (ch == '"') after++;
        else if ((ch == '\n' || (ch == '\r' && buf[i + 1] != '\n')) && (total - after) % 2 == 0) {
            c->best = i + 1;
            break;
        }
    }
    c->quotes = total, c->scanned = end;
}

/* The reader's state: the block being filled, its first line, the cuts in it. */
typedef struct reader {
    block_pool *bp;
    char *block;
    size_t len, cap, chunk;
    uint64_t line;
    cutter cut;
} reader;

/* Hands block[0, at) to the workers and starts the next block with the rest. */
static df_status cut_block(reader *r, size_t at, size_t target, df_error *err)
{
    const char *disp = r->bp->head->disp;
    size_t ncap = 0, rest = r->len - at;
    char *next = take_buffer(r->bp, target + r->chunk + rest + 1, &ncap);
    if (!next) return DF_FAIL(err, DF_ERR_NOMEM, disp, "out of memory");
    memcpy(next, r->block + at, rest);
    uint64_t first_line = r->line;
    r->line += count_line_ends(r->block, r->block + at);
    int sent = submit_block(r->bp, r->block, at, r->cap, first_line, 0);
    r->block = next, r->cap = ncap, r->len = rest;
    r->cut = (cutter){0};
    find_cuts(&r->cut, r->block, r->len);
    return sent == 0 ? DF_OK : DF_FAIL(err, DF_ERR_NOMEM, disp, "out of memory");
}

/* Reads on from src, feeding H, as the single-threaded path does; then the end of the text. */
static df_status read_on(loader *H, gzsource *src, size_t chunk)
{
    table *t = H->t;
    char *buf = malloc(chunk);
    df_status st = buf ? DF_OK : DF_FAIL(H->err, DF_ERR_NOMEM, H->disp, "out of memory");
    while (st == DF_OK) {
        long n = gzsource_read(src, buf, chunk, H->err);
        if (n < 0) st = H->err->status;
        if (n <= 0) break;
        t->st.bytes_text += (uint64_t)n;
        progress_update(H->o->prog, gzsource_bytes_in(src), t->st.rows_read);
        double c0 = thread_cpu_seconds();
        if (feed(H, buf, buf + n) != 0) st = H->err->status;
        t->st.parse_cpu += thread_cpu_seconds() - c0;
    }
    free(buf);
    return st == DF_OK ? finish(H) : st;
}

/* Reads src into blocks for the workers, until the end of the text, a failed block, or what
 * the reader leaves to H (*left): a record too long for a block, or a read error (*rd, after
 * the text read before it, which is H's to parse first). */
static df_status read_blocks(reader *r, loader *H, gzsource *src, int *left, df_status *rd, df_error *rd_err,
                             df_error *err)
{
    block_pool *bp = r->bp;
    table *t = H->t;
    size_t target = H->o->block_bytes ? H->o->block_bytes : BLOCK_BYTES;
    int skip_lf = H->pending_cr && r->len == 0; /* the header's CR ended the last chunk */
    H->pending_cr = 0;
    df_status st = DF_OK;
    for (;;) {
        if (r->len + r->chunk > r->cap) {
            size_t ncap = r->cap;
            while (ncap < r->len + r->chunk) ncap *= 2;
            char *nb = realloc(r->block, ncap);
            if (!nb) return DF_FAIL(err, DF_ERR_NOMEM, H->disp, "out of memory");
            r->block = nb, r->cap = ncap;
        }
        long n = gzsource_read(src, r->block + r->len, r->chunk, rd_err);
        if (n < 0) return *left = 1, *rd = rd_err->status, DF_OK;
        if (n == 0) { /* the end: the rest is the last block */
            if (r->len == 0) return DF_OK;
            if (submit_block(bp, r->block, r->len, r->cap, r->line, 1) != 0)
                st = DF_FAIL(err, DF_ERR_NOMEM, H->disp, "out of memory");
            r->block = NULL, r->len = 0; /* the block's now, freed or not */
            return st;
        }
        t->st.bytes_text += (uint64_t)n;
        progress_update(H->o->prog, gzsource_bytes_in(src), t->st.rows_read);
        if (skip_lf && r->block[0] == '\n') memmove(r->block, r->block + 1, (size_t)--n);
        skip_lf = 0;
        r->len += (size_t)n;
        find_cuts(&r->cut, r->block, r->len);
        if (r->len - r->cut.best > H->max_record) { /* a record too long for a block: H reads it */
            *left = 1;
            return r->cut.best ? cut_block(r, r->cut.best, target, err) : DF_OK;
        }
        if (r->len < target || r->cut.best == 0) continue;
        if ((st = cut_block(r, r->cut.best, target, err)) != DF_OK) return st;
        if ((st = append_done(bp, 0, DF_OK, err)) != DF_OK) return st;
    }
}

static df_status load_blocks(loader *H, gzsource *src, const char *rest, const char *rest_end, int workers, size_t chunk,
                             df_error *err)
{
    block_pool bp = {.head = H, .t = H->t, .entity = H->entity, .o = H->o, .max_queued = workers + 1};
    pthread_mutex_init(&bp.mu, NULL);
    pthread_cond_init(&bp.cv, NULL);
    size_t len = (size_t)(rest_end - rest), target = H->o->block_bytes ? H->o->block_bytes : BLOCK_BYTES;
    reader r = {.bp = &bp, .chunk = chunk, .line = H->line, .len = len};
    r.block = take_buffer(&bp, target + chunk + len + 1, &r.cap);
    df_status st = r.block ? DF_OK : DF_FAIL(err, DF_ERR_NOMEM, H->disp, "out of memory"), rd = DF_OK;
    df_error rd_err;
    int left = 1; /* no thread to parse on: H reads it all */
    pool workers_pool;
    int pooled = st == DF_OK, started = pooled ? pool_start(&workers_pool, workers, workers, block_worker, &bp) : 0;
    if (st == DF_OK) {
        memcpy(r.block, rest, len);
        find_cuts(&r.cut, r.block, r.len);
        if (started) left = 0, st = read_blocks(&r, H, src, &left, &rd, &rd_err, err);
    }
    pthread_mutex_lock(&bp.mu);
    bp.stop = 1;
    pthread_cond_broadcast(&bp.cv);
    pthread_mutex_unlock(&bp.mu);
    st = append_done(&bp, 1, st, err);
    if (pooled) pool_join(&workers_pool); /* none started: the tasks run here, see the stop at once */
    if (st == DF_OK && left) { /* H reads on from the text not cut, at its line */
        H->line = r.line;
        double c0 = thread_cpu_seconds();
        if (feed(H, r.block, r.block + r.len) != 0) st = H->err->status;
        H->t->st.parse_cpu += thread_cpu_seconds() - c0;
        if (st == DF_OK && rd != DF_OK) *err = rd_err, st = rd;
        else if (st == DF_OK) st = read_on(H, src, chunk);
    }
    for (int k = bp.next_append; k < bp.njobs; k++) table_free(&bp.jobs[k]->tbl), free(bp.jobs[k]->text);
    for (int k = 0; k < bp.njobs; k++) free(bp.jobs[k]);
    free(bp.jobs);
    for (int k = 0; k < bp.nspare; k++) free(bp.spare[k]);
    free(r.block);
    pthread_mutex_destroy(&bp.mu);
    pthread_cond_destroy(&bp.cv);
    return st;
}

/* A row found bad in a gzip file may be the damage of the file itself: inflating goes on past
 * damaged data until the member's checksum, handing out garbled text before it. The rest of
 * the file is then read (src, once nothing else reads it); a gzip error there is the one to
 * report (exit 3, "copy it again"), not the garbled row (exit 4, "fix the export"). Only on the
 * way to a data error. */
static df_status damage_first(gzsource *src, df_status st, df_error *err)
{
    df_error e;
    memset(&e, 0, sizeof e);
    char *scratch = malloc(1 << 16);
    if (!scratch) return st;
    long n;
    while ((n = gzsource_read(src, scratch, 1 << 16, &e)) > 0) {}
    free(scratch);
    if (n < 0 && e.status == DF_ERR_IO) {
        *err = e;
        return e.status;
    }
    return st;
}

df_status csvload_table(table *t, const table *entity, const load_opts *o, df_error *err)
{
    loader L;
    loader_init(&L, t, entity, o, err);
    size_t chunk = o->chunk ? o->chunk : CHUNK;
    t->key_col = table_find_col(t, t->key);
    t->date_idx = t->date_col ? table_find_col(t, t->date_col) : -1;
    if (!t->is_history && !t->keys.slots && strmap_init(&t->keys) != 0) return DF_FAIL(err, DF_ERR_NOMEM, L.disp, "out of memory");
    if (csv_init(&L.p, CSV_STRICT | CSV_STRICT_FINI) != 0) return DF_FAIL(err, DF_ERR_NOMEM, L.disp, "out of memory");
    csv_set_space_func(&L.p, no_space);
    csv_set_delim(&L.p, (unsigned char)L.delim);
    gzsource *src = NULL;
    gzpipe *pipe = NULL;
    df_status st = gzsource_open(t->path, &src, err);
    if (st != DF_OK) goto done;
    gzsource_set_encoding(src, t->dl.encoding);
    t->st.bytes += gzsource_file_size(src);
    /* A file read by several workers: the reader only decompresses and cuts blocks. Not when
     * rows may be set aside (rejects.csv keeps file order) or for one entity. */
    int blocks = o->threads > 1 && o->max_rejects == 0 && !o->only_key;
    st = gzpipe_start(src, chunk, !blocks && o->threads > 1 && gzsource_is_gzip(src), &pipe, err);
    if (st != DF_OK) goto done;
    char label[300];
    snprintf(label, sizeof label, "reading %s", t->file);
    progress_phase(o->prog, label, t->st.bytes);
    for (;;) {
        const char *buf;
        long n = gzpipe_next(pipe, &buf, err);
        if (n < 0) {
            st = err->status;
            goto done;
        }
        if (n == 0) break;
        t->st.bytes_text += (uint64_t)n;
        progress_update(o->prog, gzsource_bytes_in(src), t->st.rows_read);
        if (blocks && !L.header_done) {
            const char *rest;
            if (feed_lines(&L, buf, buf + n, 1, &rest) != 0) {
                st = err->status;
                goto done;
            }
            if (L.header_done) {
                st = load_blocks(&L, src, rest, buf + n, o->threads, chunk, err);
                goto done;
            }
            continue;
        }
        double c0 = thread_cpu_seconds();
        int fed = feed(&L, buf, buf + n);
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
    if (st == DF_OK && gzsource_sha256(src, t->st.sha256) != 0) /* after the thread: it reads src */
        st = DF_FAIL(err, DF_ERR_IO, L.disp, "cannot read the file: %s", strerror(errno));
    if (st == DF_ERR_DATA && src && gzsource_is_gzip(src)) st = damage_first(src, st, err);
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

/* ---- the header line alone (defector check): the loader, stopped at the header ---- */
df_status csvload_header(const char *path, const dialect *dl, char ***names, int *n, df_error *err)
{
    table t;
    memset(&t, 0, sizeof t);
    t.path = (char *)path;
    if (dl) t.dl = *dl; /* borrowed: t is not freed */
    uint64_t rejects = 0;
    load_opts o = {.rejects = &rejects};
    loader L;
    loader_init(&L, &t, NULL, &o, err);
    L.header_only = 1;
    *names = NULL, *n = 0;
    if (csv_init(&L.p, CSV_STRICT) != 0) return DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory");
    csv_set_space_func(&L.p, no_space);
    csv_set_delim(&L.p, (unsigned char)L.delim);
    gzsource *src = NULL;
    df_status st = gzsource_open(path, &src, err);
    if (st == DF_OK) gzsource_set_encoding(src, t.dl.encoding);
    char *buf = st == DF_OK ? malloc(65536) : NULL;
    if (st == DF_OK && !buf) st = DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory");
    while (st == DF_OK && !L.header_done) {
        long k = gzsource_read(src, buf, 65536, err);
        if (k < 0) st = err->status;
        if (k <= 0) break;
        if (feed_lines(&L, buf, buf + k, 1, NULL) != 0) st = err->status;
    }
    if (st == DF_OK && !L.header_done) csv_fini(&L.p, on_field, on_row, &L); /* a header without line end */
    if (st == DF_OK && L.failed) st = err->status;
    free(buf);
    gzsource_free(src);
    if (st == DF_OK) {
        *names = L.names, *n = L.nheader;
        L.names = NULL, L.nheader = 0;
    }
    loader_free(&L);
    return st;
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

/* The fields of each line of a "spaces" file to d (see split_spaces). */
static df_status distinct_spaces(gzsource *src, distinct_reader *d, df_error *err)
{
    char buf[65536], *line = NULL;
    size_t len = 0, cap = 0;
    long k;
    df_status st = DF_OK;
    while (st == DF_OK && !d->failed && (d->want >= 0 || !d->header_done) && (k = gzsource_read(src, buf, sizeof buf, err)) >= 0) {
        for (long i = 0; i <= k && st == DF_OK; i++) {
            if (i < k && buf[i] != '\n' && buf[i] != '\r') {
                if (grow_buf(&line, &cap, len + 1) != 0) st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
                else line[len++] = buf[i];
                continue;
            }
            if (i == k && k > 0) break; /* the line goes on in the next read */
            int nf = 0;
            for (size_t p = 0; p < len;) {
                while (p < len && (line[p] == ' ' || line[p] == '\t')) p++;
                size_t f = p;
                while (p < len && line[p] != ' ' && line[p] != '\t') p++;
                if (p > f) dst_field(line + f, p - f, d), nf++;
            }
            if (nf) dst_row('\n', d);
            len = 0;
        }
        if (k == 0) break;
    }
    free(line);
    if (st == DF_OK && k < 0) st = err->status;
    return st;
}

df_status csvload_distinct(const char *path, const dialect *dl, const char *colname, strmap *values, size_t max, df_error *err)
{
    distinct_reader d = {.column = colname, .want = -1, .values = values, .max = max};
    struct csv_parser p;
    gzsource *src = NULL;
    if (csv_init(&p, 0) != 0) return DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory");
    csv_set_space_func(&p, no_space);
    csv_set_delim(&p, (unsigned char)(dl && dl->delim ? dl->delim : ','));
    df_status st = gzsource_open(path, &src, err);
    if (st == DF_OK && dl) gzsource_set_encoding(src, dl->encoding);
    if (st == DF_OK && dl && dl->spaces) {
        st = distinct_spaces(src, &d, err);
        csv_free(&p);
        gzsource_free(src);
        return st == DF_OK && d.failed ? DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory") : st;
    }
    char buf[65536];
    while (st == DF_OK && !d.failed && (d.want >= 0 || !d.header_done)) {
        long k = gzsource_read(src, buf, sizeof buf, err);
        if (k < 0) st = err->status;
        if (k <= 0) break;
        csv_grow_doubling(&p, (size_t)k);
        csv_parse(&p, buf, (size_t)k, dst_field, dst_row, &d);
    }
    if (st == DF_OK) csv_fini(&p, dst_field, dst_row, &d);
    csv_free(&p);
    gzsource_free(src);
    if (st == DF_OK && d.failed) st = DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory");
    return st;
}
