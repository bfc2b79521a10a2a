/* shards.c: run --shard I/N and defector merge (shards.h, docs/scale-out.md): which entities a
 * shard keeps, the entity table cut to them, the partial result it writes (shard.partial), and
 * the merge that reads the N partials and hands them to the Lua side (shards.lua), which writes
 * the outputs through run.lua's finish.
 *
 * shard.partial, in the byte order of the machine (shards and merge run the same build, the
 * header says which): MAGIC, then u32 fields (version, sizeof(table_stats), index, count,
 * ntables, nfiles, history, skip_rule_errors), i32 as-of, the rule file's SHA-256 (72 bytes),
 * u64 entities of the whole table, of the shard, rejected rows, --max-rejects; per table its
 * stats, u64 rows kept, i32 newest date (and 4 bytes), its file name and path (u32 length each); u64 length and the Lua part (string.buffer); per output
 * writer: u32 typed (and 4 bytes), u64 length and its captured rows, u64 span count and spans;
 * last, the SHA-256 (64 hex digits) of all that. */
#include <errno.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "luaapi.h"
#include "luastate.h"
#include "sha256.h"
#include "shards.h"

#define MAGIC "DEFECTOR-SHARD-PARTIAL\n"
#define VERSION 2 /* 2: the SHA-256 of the shard's rejects.csv */

struct shard_part {
    char *buf; /* the whole file */
    size_t len;
    char *path, *dir;
    uint32_t index, count, ntables, nfiles, history, skip;
    int32_t as_of;
    char sha[72];
    char rejects_sha[72]; /* of the rejects.csv the shard wrote beside its partial */
    char ids[72];         /* "plain", or "hashed " and the salt's SHA-256 cut (--hash-ids) */
    uint64_t total, mine, rejects, max_rejects;
    table_stats st[DF_MAX_TABLES];
    uint64_t rows[DF_MAX_TABLES];
    int32_t newest[DF_MAX_TABLES];
    char *names[DF_MAX_TABLES][2]; /* each table's file and path */
    const char *blob;
    size_t blob_len;
    csvw **files; /* captures over buf's bytes (copied: a capture owns its buffers) */
    uint64_t *cursor; /* the merge: the next row of each writer to append */
};

/* FNV-1a, 64 bits: stable across machines and versions (the shard of a key must never move). */
static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

/* The key of entity row i as text: its cell as the file wrote it for text, its digits for a number. */
static const char *key_text(const column *c, uint64_t i, char *buf, size_t cap, size_t *n)
{
    if (c->type == COL_TEXT || c->type == COL_CATEGORY) return column_text(c, i, n);
    long long v = c->type == COL_DATE ? (long long)c->date[i] : (long long)c->i64[i];
    *n = (size_t)snprintf(buf, cap, "%lld", v);
    return buf;
}

df_status shard_route(shard_state *s, const table *entity, df_error *err)
{
    const column *kc = entity->key_col >= 0 ? &entity->cols[entity->key_col] : NULL;
    if (!kc) return DF_FAIL(err, DF_ERR_INTERNAL, entity->file, "internal error: the entity table has no key column to shard by");
    s->total = entity->nrows;
    s->keep = calloc(s->total ? s->total : 1, 1);
    if (!s->keep) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    char buf[32];
    for (uint64_t i = 0; i < s->total; i++) {
        size_t n;
        const char *k = key_text(kc, i, buf, sizeof buf, &n);
        if (fnv1a(k, n) % (uint64_t)s->count == (uint64_t)s->index) s->keep[i] = 1, s->mine++;
    }
    return DF_OK;
}

static int32_t newest_of(const table *t)
{
    int32_t newest = DF_NA_DATE;
    if (t->date_idx < 0) return newest;
    const column *c = &t->cols[t->date_idx];
    for (uint64_t i = 0; i < c->n; i++)
        if (c->date[i] != DF_NA_DATE && c->date[i] > newest) newest = c->date[i];
    return newest;
}

df_status shard_compact(shard_state *s, table *tables, int ntables, df_error *err)
{
    table *e = &tables[0];
    s->perm = malloc((s->mine ? s->mine : 1) * sizeof *s->perm);
    if (!s->perm) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    uint64_t m = 0;
    for (uint64_t i = 0; i < e->nrows; i++)
        if (s->keep[i]) s->perm[m++] = (uint32_t)i;
    for (int c = 0; c < e->ncols; c++)
        if (e->cols[c].n == e->nrows && column_permute(&e->cols[c], s->perm, m) != 0)
            return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    for (int t = 1; t < ntables; t++) {
        table *h = &tables[t];
        s->newest[t] = newest_of(h);
        if (!h->offsets) continue;
        uint64_t *off = malloc((m + 1) * sizeof *off);
        if (!off) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
        for (uint64_t j = 0; j < m; j++) off[j] = h->offsets[s->perm[j]];
        off[m] = h->offsets[e->nrows]; /* the other entities have no rows: these are all of them */
        free(h->offsets);
        h->offsets = off;
    }
    e->nrows = m;
    return DF_OK;
}

df_status shard_take(shard_state *s, lua_State *L, csvw **files, int *n, df_error *err)
{
    size_t len = 0;
    lua_getfield(L, -1, "partial");
    const char *p = lua_tolstring(L, -1, &len);
    if (!p) {
        lua_pop(L, 1);
        return DF_FAIL(err, DF_ERR_INTERNAL, "", "internal error: the shard's scoring gave no partial");
    }
    s->blob = malloc(len ? len : 1);
    s->files = malloc((size_t)(*n ? *n : 1) * sizeof *s->files);
    if (!s->blob || !s->files) return lua_pop(L, 1), DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    memcpy(s->blob, p, len);
    s->blob_len = len;
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_setfield(L, -2, "partial");
    for (int f = 0; f < *n; f++) s->files[f] = files[f], files[f] = NULL;
    s->nfiles = *n;
    *n = 0;
    return DF_OK;
}

/* shard.partial's writer: every byte also into the SHA-256 that ends the file (the merge checks
 * it: a damaged partial is refused, never merged). */
typedef struct pwriter {
    csvw *w;
    sha256_ctx h;
} pwriter;
static void put(pwriter *p, const void *s, size_t n)
{
    if (n == 0) return; /* an empty writer's buffer is NULL */
    csvw_raw(p->w, s, n);
    sha256_update(&p->h, s, n);
}
static void put_u32(pwriter *p, uint32_t v) { put(p, &v, 4); }
static void put_u64(pwriter *p, uint64_t v) { put(p, &v, 8); }

df_status shard_write(shard_state *s, outset *o, const run_info *r, df_error *err)
{
    pwriter w = {.w = outset_open(o, SHARD_FILE, err)};
    if (!w.w) return err->status;
    sha256_init(&w.h);
    put(&w, MAGIC, strlen(MAGIC));
    uint32_t head[] = {VERSION, (uint32_t)sizeof(table_stats), (uint32_t)s->index, (uint32_t)s->count, (uint32_t)r->ntables,
                       (uint32_t)s->nfiles, (uint32_t)s->history, (uint32_t)r->cfg->skip_rule_errors};
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++) put_u32(&w, head[i]);
    put_u32(&w, (uint32_t)r->cfg->as_of);
    char sha[72] = {0}, rsha[72] = {0};
    memcpy(sha, r->rules_sha256, sizeof r->rules_sha256);
    put(&w, sha, sizeof sha);
    char *rej = NULL;
    size_t rlen = 0;
    if (outset_read_back(o, "rejects.csv", &rej, &rlen, err) < 0) return err->status;
    sha256_hex(rej ? rej : "", rlen, rsha); /* the merge checks the rejects.csv it copies */
    free(rej);
    put(&w, rsha, sizeof rsha);
    char ids[72] = "plain";
    if (r->salt) { /* ids hashed alike in every shard: the same salt (a hash of it, never the salt) */
        char salt[65];
        sha256_hex(r->salt, strlen(r->salt), salt);
        snprintf(ids, sizeof ids, "hashed, salt %.16s", salt);
    }
    put(&w, ids, sizeof ids);
    put_u64(&w, s->total), put_u64(&w, s->mine), put_u64(&w, r->rejects), put_u64(&w, (uint64_t)r->cfg->max_rejects);
    for (int t = 0; t < r->ntables; t++) {
        put(&w, &r->tables[t].st, sizeof(table_stats));
        put_u64(&w, t == 0 ? s->mine : r->tables[t].nrows);
        put_u32(&w, (uint32_t)s->newest[t]), put_u32(&w, 0);
        for (int k = 0; k < 2; k++) { /* the file read (customers.csv for customers.csv.gz) and its path */
            const char *x = k ? r->tables[t].path : r->tables[t].file;
            put_u32(&w, (uint32_t)strlen(x)), put(&w, x, strlen(x));
        }
    }
    put_u64(&w, s->blob_len);
    put(&w, s->blob, s->blob_len);
    for (int f = 0; f < s->nfiles; f++) {
        const csvw *c = s->files[f];
        put_u32(&w, (uint32_t)c->typed), put_u32(&w, 0);
        put_u64(&w, c->memlen);
        put(&w, c->membuf, c->memlen);
        put_u64(&w, c->nspans);
        put(&w, c->spans, c->nspans * sizeof(uint64_t));
    }
    char hex[65];
    sha256_final(&w.h, hex);
    csvw_raw(w.w, hex, 64);
    return DF_OK;
}

static void part_free(shard_part *p)
{
    for (uint32_t f = 0; p->files && f < p->nfiles; f++) csvw_capture_free(p->files[f]);
    free(p->files);
    free(p->cursor);
    for (int t = 0; t < DF_MAX_TABLES; t++) free(p->names[t][0]), free(p->names[t][1]);
    free(p->buf);
    free(p->path);
    free(p->dir);
}

void shard_free(shard_state *s)
{
    free(s->keep);
    free(s->perm);
    free(s->blob);
    for (int f = 0; s->files && f < s->nfiles; f++) csvw_capture_free(s->files[f]);
    free(s->files);
    for (int k = 0; s->parts && k < s->count; k++) part_free(&s->parts[k]);
    free(s->parts);
}

/* ---- the merge ---- */

typedef struct reader {
    const char *p, *end;
    int short_read;
} reader;

static const char *take(reader *r, size_t n)
{
    if ((size_t)(r->end - r->p) < n) {
        r->short_read = 1;
        return NULL;
    }
    const char *q = r->p;
    r->p += n;
    return q;
}
static uint32_t get_u32(reader *r)
{
    uint32_t v = 0;
    const char *q = take(r, 4);
    if (q) memcpy(&v, q, 4);
    return v;
}
static uint64_t get_u64(reader *r)
{
    uint64_t v = 0;
    const char *q = take(r, 8);
    if (q) memcpy(&v, q, 8);
    return v;
}

/* A capture over a copy of n bytes and ns spans (csvw_capture_free frees it). */
static csvw *capture_of(reader *r, int typed)
{
    uint64_t len = get_u64(r);
    const char *bytes = take(r, len);
    uint64_t ns = bytes ? get_u64(r) : 0;
    const char *spans = bytes && ns < UINT64_MAX / 8 ? take(r, ns * 8) : NULL;
    if (!spans || ns % 3) return r->short_read = 1, NULL;
    csvw *w = csvw_capture_new();
    if (!w) return NULL;
    w->typed = typed;
    w->membuf = malloc(len ? len : 1);
    w->spans = malloc(ns ? ns * 8 : 8);
    if (!w->membuf || !w->spans) return csvw_capture_free(w), NULL;
    memcpy(w->membuf, bytes, len), memcpy(w->spans, spans, ns * 8);
    w->memlen = w->memcap = len, w->nspans = w->spans_cap = ns;
    return w;
}

static df_status bad_partial(const shard_part *p, const char *why, df_error *err)
{
    return DF_FAIL(err, DF_ERR_IO, p->path, "not a partial result of defector run --shard (%s); give the --out folder of each shard, "
                   "written by the same defector as this merge", why);
}

/* Reads one partial (the whole file); its writers become captures. */
static df_status part_read(shard_part *p, df_error *err)
{
    df_status st = run_read_file(p->path, "partial result", &p->buf, &p->len, err);
    if (st != DF_OK) return st;
    if (p->len < strlen(MAGIC) || memcmp(p->buf, MAGIC, strlen(MAGIC)) != 0) return bad_partial(p, "it does not begin as one", err);
    char hex[65];
    if (p->len >= strlen(MAGIC) + 64) sha256_hex(p->buf, p->len - 64, hex);
    if (p->len < strlen(MAGIC) + 64 || memcmp(hex, p->buf + p->len - 64, 64) != 0)
        return bad_partial(p, "it is cut short or damaged: its checksum does not match", err);
    reader r = {p->buf + strlen(MAGIC), p->buf + p->len - 64, 0};
    uint32_t version = get_u32(&r), stats_size = get_u32(&r);
    if (version != VERSION || stats_size != sizeof(table_stats))
        return bad_partial(p, "it was written by another version of defector", err);
    p->index = get_u32(&r), p->count = get_u32(&r), p->ntables = get_u32(&r), p->nfiles = get_u32(&r);
    p->history = get_u32(&r), p->skip = get_u32(&r);
    p->as_of = (int32_t)get_u32(&r);
    const char *sha = take(&r, sizeof p->sha);
    if (sha) memcpy(p->sha, sha, sizeof p->sha);
    p->sha[64] = 0;
    const char *rsha = take(&r, sizeof p->rejects_sha);
    if (rsha) memcpy(p->rejects_sha, rsha, sizeof p->rejects_sha);
    p->rejects_sha[64] = 0;
    const char *ids = take(&r, sizeof p->ids);
    if (ids) memcpy(p->ids, ids, sizeof p->ids);
    p->ids[sizeof p->ids - 1] = 0;
    p->total = get_u64(&r), p->mine = get_u64(&r), p->rejects = get_u64(&r), p->max_rejects = get_u64(&r);
    if (r.short_read || p->ntables > DF_MAX_TABLES || p->ntables == 0 || p->count == 0 || p->count > SHARD_MAX ||
        p->index >= p->count || p->nfiles > API_MAX_FILES)
        return bad_partial(p, "its header is cut short or out of range", err);
    for (uint32_t t = 0; t < p->ntables; t++) {
        const char *q = take(&r, sizeof(table_stats));
        if (q) memcpy(&p->st[t], q, sizeof(table_stats));
        p->rows[t] = get_u64(&r);
        p->newest[t] = (int32_t)get_u32(&r);
        (void)get_u32(&r);
        for (int k = 0; k < 2; k++) {
            uint32_t n = get_u32(&r);
            const char *x = take(&r, n);
            if (!x) return bad_partial(p, "it is cut short", err);
            if (!(p->names[t][k] = strndup(x, n))) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
        }
    }
    p->blob_len = (size_t)get_u64(&r);
    p->blob = take(&r, p->blob_len);
    if (r.short_read || !p->blob) return bad_partial(p, "it is cut short", err);
    p->files = calloc(p->nfiles ? p->nfiles : 1, sizeof *p->files);
    p->cursor = calloc(p->nfiles ? p->nfiles : 1, sizeof *p->cursor);
    if (!p->files || !p->cursor) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    for (uint32_t f = 0; f < p->nfiles; f++) {
        int typed = (int)get_u32(&r);
        (void)get_u32(&r);
        if (r.short_read || !(p->files[f] = capture_of(&r, typed)))
            return r.short_read ? bad_partial(p, "it is cut short", err) : DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    }
    if (r.p != r.end) return bad_partial(p, "it has bytes after its end", err);
    return DF_OK;
}

/* A shard's --out folder holds shard.partial; a path to the file itself is taken too. */
static df_status part_path(shard_part *p, const char *arg, df_error *err)
{
    struct stat sb;
    if (stat(arg, &sb) != 0)
        return DF_FAIL(err, DF_ERR_IO, arg, "cannot read the partial result: %s; give the --out folder of each shard", strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        p->dir = strdup(arg);
        p->path = path_join(arg, SHARD_FILE);
    } else {
        const char *slash = strrchr(arg, '/');
        p->dir = slash ? strndup(arg, (size_t)(slash - arg)) : strdup(".");
        p->path = strdup(arg);
    }
    return p->dir && p->path ? DF_OK : DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
}

/* The partials must be the N shards of one job: each I of N once, the same date, options, table. */
static df_status same_job(shard_state *s, df_error *err)
{
    shard_part *a = &s->parts[0];
    for (int k = 0; k < s->count; k++) {
        shard_part *p = &s->parts[k];
        if ((int)p->count != s->count)
            return DF_FAIL(err, DF_ERR_USAGE, p->path, "this is shard %u of %u, but %d partials were given; give the "
                           "--out folder of every shard of one job, each once", p->index, p->count, s->count);
        char what[400] = "";
        if (p->as_of != a->as_of) {
            char d1[16], d2[16];
            df_format_date(a->as_of, d1), df_format_date(p->as_of, d2);
            snprintf(what, sizeof what, "as of %s against %s", d2, d1);
        } else if (strcmp(p->sha, a->sha) != 0)
            snprintf(what, sizeof what, "rule file SHA-256 %.12s... against %.12s...", p->sha, a->sha);
        else if (p->total != a->total)
            snprintf(what, sizeof what, "%llu entities against %llu", (unsigned long long)p->total, (unsigned long long)a->total);
        else if (p->skip != a->skip)
            snprintf(what, sizeof what, "--on-rule-error %s against %s", p->skip ? "skip" : "fail", a->skip ? "skip" : "fail");
        else if (p->history != a->history)
            snprintf(what, sizeof what, "%s --history against %s", p->history ? "with" : "without", a->history ? "with" : "without");
        else if (strcmp(p->ids, a->ids) != 0)
            snprintf(what, sizeof what, "ids %s against %s (--hash-ids, DEFECTOR_ID_SALT)", p->ids, a->ids);
        else if (p->ntables != a->ntables || p->nfiles != a->nfiles)
            snprintf(what, sizeof what, "%u tables and %u outputs against %u and %u", p->ntables, p->nfiles, a->ntables, a->nfiles);
        if (what[0])
            return DF_FAIL(err, DF_ERR_USAGE, p->path, "this shard ran another job than %s (%s): run every shard with the same "
                           "rule file, data, --as-of and options", a->path, what);
    }
    for (int k = 1; k < s->count; k++) /* the same bytes of every input: an export replaced while the shards ran */
        for (uint32_t t = 0; t < a->ntables; t++) {
            shard_part *p = &s->parts[k];
            if (strcmp(p->st[t].sha256, a->st[t].sha256) != 0 || p->st[t].rows_read != a->st[t].rows_read)
                return DF_FAIL(err, DF_ERR_USAGE, p->path, "this shard read another %s than %s did (SHA-256 %.12s... against "
                               "%.12s...): the export changed while the shards ran; run every shard again on the same files",
                               p->names[t][0] ? p->names[t][0] : "input", a->path, p->st[t].sha256, a->st[t].sha256);
        }
    uint64_t total = a->total;
    shard_part *sorted = calloc((size_t)(unsigned)s->count, sizeof *sorted);
    if (!sorted) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    for (int k = 0; k < s->count; k++) {
        shard_part *p = &s->parts[k];
        if (sorted[p->index].path) {
            df_status st = DF_FAIL(err, DF_ERR_USAGE, p->path, "shard %u/%u is given twice (also %s); give each shard's "
                                   "--out folder once", p->index, p->count, sorted[p->index].path);
            free(sorted);
            return st;
        }
        sorted[p->index] = *p;
    }
    free(s->parts);
    s->parts = sorted; /* every index 0 .. N-1 is there: N distinct ones of N */
    uint64_t mine = 0;
    for (int k = 0; k < s->count; k++) mine += s->parts[k].mine;
    if (mine != total)
        return DF_FAIL(err, DF_ERR_USAGE, "", "the shards scored %llu entities of %llu: they did not read the same entity "
                       "table; run every shard on the same data", (unsigned long long)mine, (unsigned long long)total);
    return DF_OK;
}

df_status merge_open(shard_state *s, const char *const *paths, int n, df_config *c, df_error *err)
{
    if (n < 1 || n > SHARD_MAX) return DF_FAIL(err, DF_ERR_USAGE, "", "merge needs the --out folders of the shards (1 to %d)", SHARD_MAX);
    s->parts = calloc((size_t)n, sizeof *s->parts);
    if (!s->parts) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    s->count = n;
    df_status st = DF_OK;
    for (int k = 0; k < n && st == DF_OK; k++) {
        st = part_path(&s->parts[k], paths[k], err);
        if (st == DF_OK) st = part_read(&s->parts[k], err);
    }
    if (st == DF_OK) st = same_job(s, err);
    if (st != DF_OK) return st;
    c->as_of = s->parts[0].as_of, c->as_of_given = 1;
    c->skip_rule_errors = (int)s->parts[0].skip;
    c->max_rejects = (long)s->parts[0].max_rejects; /* (for run_summary.json: the shards read the rows) */
    s->total = s->parts[0].total;
    if ((s->parts[0].history != 0) != (c->history_dir != NULL))
        return DF_FAIL(err, DF_ERR_USAGE, s->parts[0].path, "%s", c->history_dir
                       ? "the shards ran without --history, so they kept no snapshot for it: run them with --history too"
                       : "the shards ran with --history (for a merge that keeps the night): give the merge --history DIR");
    return DF_OK;
}

/* rejects.csv as shard 0 wrote it: every shard read every row, so it is the whole base's. */
static df_status copy_rejects(const shard_part *p, outset *o, df_error *err)
{
    char *path = path_join(p->dir, "rejects.csv"), *buf = NULL;
    size_t len = 0;
    if (!path) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    df_status st = run_read_file(path, "rejected rows of shard 0", &buf, &len, err);
    char got[65];
    if (st == DF_OK) sha256_hex(buf, len, got);
    if (st == DF_OK && strcmp(got, p->rejects_sha) != 0)
        st = DF_FAIL(err, DF_ERR_IO, path, "this rejects.csv is not the one shard 0 wrote beside its partial: give the merge "
                     "shard 0's output folder as the shard left it");
    free(path);
    csvw *w = st == DF_OK ? outset_open(o, "rejects.csv", err) : NULL;
    if (w) csvw_raw(w, buf, len), w->rows = p->rejects; /* a row for each row set aside */
    free(buf);
    return st == DF_OK && !w ? err->status : st;
}

df_status merge_load(shard_state *s, run_info *r, outset *o, df_error *err)
{
    shard_part *a = &s->parts[0];
    if (strcmp(a->sha, r->rules_sha256) != 0)
        return DF_FAIL(err, DF_ERR_USAGE, a->path, "the shards ran another rule file (SHA-256 %.12s..., this one is %.12s...): "
                       "merge with the rule file the shards ran", a->sha, r->rules_sha256);
    if ((int)a->ntables != r->ntables)
        return DF_FAIL(err, DF_ERR_USAGE, a->path, "the shards read %u tables, the rule file declares %d: merge with the rule "
                       "file the shards ran", a->ntables, r->ntables);
    df_status st = copy_rejects(a, o, err);
    r->rejects = a->rejects;
    for (int t = 0; st == DF_OK && t < r->ntables; t++) {
        table *tb = &r->tables[t];
        tb->st = a->st[t]; /* every shard parsed every row: the counts of the whole base */
        free(tb->file), free(tb->path);
        tb->file = strdup(a->names[t][0]), tb->path = strdup(a->names[t][1]);
        if (!tb->file || !tb->path) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
        tb->nrows = t == 0 ? s->total : 0;
        int32_t newest = DF_NA_DATE;
        for (int k = 0; t > 0 && k < s->count; k++) {
            tb->nrows += s->parts[k].rows[t];
            if (s->parts[k].newest[t] != DF_NA_DATE && s->parts[k].newest[t] > newest) newest = s->parts[k].newest[t];
        }
        if (t > 0) tb->st.rows_loaded = tb->nrows; /* each row was kept by one shard */
        /* the as-of guard reads a history's newest date from its date column: that one date */
        tb->date_idx = tb->date_col ? table_find_col(tb, tb->date_col) : -1;
        cell c = {.i = newest};
        if (t > 0 && tb->date_idx >= 0 && newest != DF_NA_DATE && column_append(&tb->cols[tb->date_idx], &c) != 0)
            st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    }
    return st;
}

/* The merge's df_merge (shards.lua): append rows of the shards' writer f to the run's, in the
 * order seq gives (the shard of each row; each shard's rows in their order). */
typedef struct merge_api {
    void *ctx;
    int (*append)(void *ctx, int f, const uint16_t *seq, uint64_t n);
    uint64_t entities;
    int32_t shards;
} merge_api;

typedef struct merge_ctx {
    shard_state *s;
    api_ctx *api;
} merge_ctx;

/* 0; -1 out of memory; -2 the partials' rows do not match what their Lua part says (a bug). */
static int merge_append(void *ctx, int f, const uint16_t *seq, uint64_t n)
{
    merge_ctx *m = ctx;
    if (f < 0 || f >= m->api->n || (uint32_t)f >= m->s->parts[0].nfiles) return -2;
    csvw *dst = m->api->files[f];
    for (uint64_t i = 0; i < n; i++) {
        if (seq[i] >= m->s->count) return -2;
        shard_part *p = &m->s->parts[seq[i]];
        const csvw *src = p->files[f];
        if (p->cursor[f] * 3 >= src->nspans || src->typed != dst->typed) return -2;
        if (csvw_append_row(dst, src, p->cursor[f]++) != 0) return m->api->nomem = 1, -1; /* the run fails: exit 7 */
    }
    return 0;
}

df_status merge_score(shard_state *s, lbridge *b, outset *o, const score_opts *so, score_stats *st, df_error *err)
{
    api_ctx ctx = {.o = o, .ho = so->history, .err = err, .books = so->books};
    df_api api;
    api_init(&api, &ctx, watchdog_watch(so->wd, 0), NULL);
    merge_ctx mc = {.s = s, .api = &ctx};
    merge_api mapi = {.ctx = &mc, .append = merge_append, .entities = s->total, .shards = s->count};
    lua_State *L = lb_lua(b);
    int top = lua_gettop(L);
    lua_pushlightuserdata(L, &api);
    lua_pushlightuserdata(L, &mapi);
    lua_createtable(L, s->count, 0);
    for (int k = 0; k < s->count; k++) {
        lua_pushlstring(L, s->parts[k].blob, s->parts[k].blob_len);
        lua_rawseti(L, -2, k + 1);
    }
    lua_newtable(L);
    lua_pushboolean(L, so->skip_rule_errors);
    lua_setfield(L, -2, "skip_rule_errors");
    lua_pushboolean(L, so->history != NULL);
    lua_setfield(L, -2, "history");
    if (so->history_dir) lua_pushstring(L, so->history_dir), lua_setfield(L, -2, "history_dir"); /* calls { } */
    lua_pushboolean(L, so->report_later);
    lua_setfield(L, -2, "report_later");
    df_status r = lb_pcall(b, "merge", 4, 1, err);
    if (r == DF_OK && (ctx.nomem || ctx.open_failed)) lua_pop(L, 1);
    r = api_failure(&ctx, r, err);
    api_free_owned(&ctx);
    if (r == DF_OK) {
        st->states = 1;
        lb_read_stats(L, st);
    }
    lua_settop(L, top);
    return r;
}
