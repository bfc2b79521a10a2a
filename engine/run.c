/* run.c: one run, stage by stage: the output folder (locked, left consistent) -> rule
 * declarations -> load the entity table -> load and group each history -> score and write
 * outputs (into the staging folder) -> run summary -> commit. Any failure aborts the output
 * set, so the output folder keeps its previous files (output.h, commit.c). Plausibility guards
 * between the stages: an input with more rows rejected than --max-reject-share allows fails the
 * run; an as-of date far from a history's dates is a warning (or with --on-as-of-gap fail, an
 * error). */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "confine.h"
#include "csvload.h"
#include "group.h"
#include "history.h"
#include "luascore.h"
#include "parts.h"
#include "pool.h"
#include "progress.h"
#include "run.h"
#include "sha256.h"
#include "workbook.h"
#include "deliver.h"
#include "shards.h"

df_status run_read_file(const char *path, const char *what, char **buf, size_t *len, df_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f && errno == ENOMEM) return DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory opening the %s", what);
    if (!f) return DF_FAIL(err, DF_ERR_IO, path, "cannot read the %s: %s", what, strerror(errno));
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (!b) {
            fclose(f);
            return DF_FAIL(err, DF_ERR_NOMEM, path, "out of memory");
        }
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = realloc(b, cap *= 2);
        if (!nb) free(b);
        b = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return DF_FAIL(err, DF_ERR_IO, path, "cannot read the %s", what);
    }
    /* UTF-8, with or without a byte order mark, and CRLF line ends are Lua source as they are;
     * UTF-16 (Windows Notepad's "Unicode") would read as a syntax error on line 1. */
    if (n >= 2 && ((b[0] == '\xff' && b[1] == '\xfe') || (b[0] == '\xfe' && b[1] == '\xff'))) {
        free(b);
        return DF_FAIL(err, DF_ERR_RULES, path, "the %s is saved as UTF-16: save it as UTF-8 (in Notepad: Save as, Encoding UTF-8)", what);
    }
    *buf = b, *len = n;
    return DF_OK;
}

/* Where rows set aside go (rejects.csv), and the first of the table being loaded, for the
 * message of the reject-share guard (a failed run leaves no rejects.csv to look at). */
typedef struct reject_log {
    csvw *w;
    char first[400];
    const char *salt; /* hash_ids: the raw row is written as its salted hash */
} reject_log;

/* "line 2, column InvoiceDate: not a date ...: \"12/1/2010 8:26,...\"" (the raw text cut short,
 * on one line). */
static void note_first_reject(reject_log *g, uint64_t line, const char *col_name, const char *reason, const char *raw,
                              size_t raw_len)
{
    char ex[104];
    size_t n = raw_len < 100 ? raw_len : 100;
    for (size_t i = 0; i < n; i++) ex[i] = (unsigned char)raw[i] < 0x20 ? ' ' : raw[i];
    snprintf(ex + n, sizeof ex - n, "%s", raw_len > n ? "..." : "");
    snprintf(g->first, sizeof g->first, "line %llu%s%s: %s: \"%s\"", (unsigned long long)line, col_name ? ", column " : "",
             col_name ? col_name : "", reason, ex);
}

/* load_opts.on_reject: one row of rejects.csv (file, line, column, reason, raw). */
static void write_reject(void *ctx, const char *file, uint64_t line, const char *col_name, const char *reason,
                         const char *raw, size_t raw_len)
{
    reject_log *g = ctx;
    csvw *w = g->w;
    char hashed[24];
    if (g->salt) { /* personal data: the row itself never leaves the run, only its hash */
        sha256_id(g->salt, raw, raw_len, hashed);
        raw = hashed, raw_len = strlen(hashed);
    }
    if (!g->first[0]) note_first_reject(g, line, col_name, reason, raw, raw_len);
    char lb[32];
    int ln = snprintf(lb, sizeof lb, "%llu", (unsigned long long)line);
    csvw_text(w, file, strlen(file));
    csvw_plain(w, lb, (size_t)ln);
    if (col_name) csvw_text(w, col_name, strlen(col_name));
    else csvw_empty(w);
    csvw_text(w, reason, strlen(reason));
    csvw_text(w, raw, raw_len);
    csvw_end_row(w);
}

static df_status open_rejects(outset *o, csvw **out, df_error *err)
{
    csvw *w = outset_open(o, "rejects.csv", err);
    if (!w) return err->status;
    const char *h[] = {"file", "line", "column", "reason", "raw"};
    for (int i = 0; i < 5; i++) csvw_plain(w, h[i], strlen(h[i]));
    csvw_end_row(w);
    *out = w;
    return DF_OK;
}

/* ---- plausibility guards (issue 8): a run on input it cannot use fails or warns; it never
 * ends in normal-looking outputs. Each guard is one function; df_run calls them. ---- */

static double reject_share_limit(const df_config *cfg)
{
    return cfg->max_reject_share > 0 ? cfg->max_reject_share : DF_DEFAULT_REJECT_SHARE;
}

/* Fails (data) when more of t's rows were set aside than --max-reject-share allows. */
static df_status guard_reject_share(const table *t, const df_config *cfg, const char *first, df_error *err)
{
    double share = reject_share_limit(cfg), got = t->st.rows_read ? (double)t->st.rejected / (double)t->st.rows_read : 0;
    if (t->st.rejected == 0 || got <= share) return DF_OK;
    return DF_FAIL(err, DF_ERR_DATA, t->file,
                   "%llu of %llu rows (%.3g%%) were rejected, more than --max-reject-share %.3g%% allows; the first: %s. "
                   "So many rows refused usually means a column in another format than the rule file declares: fix "
                   "the column's type in the rule file or the export, or raise --max-reject-share if these rows may "
                   "really be left out",
                   (unsigned long long)t->st.rejected, (unsigned long long)t->st.rows_read, 100 * got, 100 * share,
                   first[0] ? first : "(not recorded)");
}

/* The newest date of a history's loaded rows (DF_NA_DATE when none or no date column). */
static int32_t newest_date(const table *t)
{
    int32_t newest = DF_NA_DATE;
    if (!t->is_history || t->date_idx < 0) return newest;
    const column *c = &t->cols[t->date_idx];
    for (uint64_t i = 0; i < c->n; i++)
        if (c->date[i] != DF_NA_DATE && c->date[i] > newest) newest = c->date[i];
    return newest;
}

/* What is implausible about the as-of date for history t: msg gets it ("" when nothing). */
static void as_of_problem(const table *t, const df_config *cfg, char *msg, size_t cap)
{
    char as_of[16], last[16];
    int gap = cfg->max_as_of_gap > 0 ? cfg->max_as_of_gap : DF_DEFAULT_AS_OF_GAP;
    int32_t newest = newest_date(t);
    uint64_t loaded = t->st.rows_loaded, future = t->st.future;
    msg[0] = 0;
    df_format_date(cfg->as_of, as_of);
    if (t->is_history && t->date_idx >= 0 && future > loaded) {
        snprintf(msg, cap,
                 "%s: %llu of its %llu dated rows are after the as-of date %s and were ignored: is --as-of right (it "
                 "defaults to today)?",
                 t->file, (unsigned long long)future, (unsigned long long)(future + loaded), as_of);
    } else if (newest != DF_NA_DATE && (int64_t)cfg->as_of - newest > gap && !t->is_interval) {
        df_format_date(newest, last);
        snprintf(msg, cap,
                 "%s: its newest row is dated %s, %lld days before the as-of date %s (more than --max-as-of-gap %d): "
                 "features over recent days find nothing and every entity looks inactive; is --as-of right (it "
                 "defaults to today), or is the export old?",
                 t->file, last, (long long)cfg->as_of - newest, as_of, gap);
    }
}

/* The as-of date against each history's dates: a warning into warnings[] (at most max), or with
 * --on-as-of-gap fail a data error. */
static df_status guard_as_of(const run_info *r, char (*warnings)[512], int max, int *n, df_error *err)
{
    char msg[512];
    *n = 0;
    for (int i = 1; i < r->ntables; i++) {
        as_of_problem(&r->tables[i], r->cfg, msg, sizeof msg);
        if (!msg[0]) continue;
        if (r->cfg->as_of_gap_fails)
            return DF_FAIL(err, DF_ERR_DATA, "", "%s (--on-as-of-gap fail; with --on-as-of-gap warn the run goes on)", msg);
        if (*n < max) snprintf(warnings[(*n)++], 512, "%s", msg);
    }
    return DF_OK;
}

/* Adds the guards' warnings to the rule file's (run_summary.json "warnings" and stderr). */
static void add_warnings(score_stats *s, char (*warnings)[512], int n)
{
    for (int i = 0; i < n && s->nwarnings < DF_MAX_WARNINGS; i++)
        memcpy(s->warnings[s->nwarnings++], warnings[i], sizeof s->warnings[0]);
}

df_status run_confined(const char *dir, const char *name, const char *path, df_error *err)
{
    char why[256];
    if (confine_check(dir, name, why, sizeof why) != -2) return DF_OK;
    return DF_FAIL(err, DF_ERR_IO, path, "refused: %s; an input must be a file in the --data folder (a link to another file of that folder is followed)", why);
}

char *run_other_form(const char *dir, const char *name)
{
    char alt[1024];
    size_t n = strlen(name);
    if (n > 3 && strcmp(name + n - 3, ".gz") == 0) snprintf(alt, sizeof alt, "%.*s", (int)(n - 3), name);
    else snprintf(alt, sizeof alt, "%s.gz", name);
    char *path = path_join(dir, alt);
    if (path && access(path, F_OK) == 0) return path;
    free(path);
    return NULL;
}

/* A file in dir whose name is name's but for case, or whose name up to its first '.' is
 * name's (customers.txt for customers.csv.gz), into buf; 0 when there is one. */
static int similar_file(const char *dir, const char *name, char *buf, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    size_t stem = strcspn(name, ".");
    int found = -1;
    for (struct dirent *e; found != 0 && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (strcasecmp(e->d_name, name) == 0 || (strcspn(e->d_name, ".") == stem && strncasecmp(e->d_name, name, stem) == 0))
            found = 0, snprintf(buf, cap, "%s", e->d_name);
    }
    closedir(d);
    return found;
}

/* The rule file names customers.csv.gz and --data holds customers.csv (or the other way
 * round): that file is read, and stderr says so. Any other missing file: an error that names
 * a similar file when there is one ("did you mean"). */
static df_status find_input(const df_config *cfg, table *t, df_error *err)
{
    if (access(t->path, F_OK) == 0 || errno != ENOENT) return DF_OK;
    char alt[1024], *path = run_other_form(cfg->data_dir, t->file);
    if (path) {
        const char *slash = strrchr(path, '/');
        char *file = strdup(slash ? slash + 1 : path);
        if (!file) return free(path), DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
        fprintf(stderr, "defector: note: %s is not in %s; reading %s instead (the same table, %s)\n", t->file,
                cfg->data_dir, file, strstr(file, ".gz") ? "compressed" : "not compressed");
        free(t->file), free(t->path);
        t->file = file, t->path = path;
        return DF_OK;
    }
    if (similar_file(cfg->data_dir, t->file, alt, sizeof alt) == 0)
        return DF_FAIL(err, DF_ERR_IO, t->path, "no such file in the data folder; did you mean %s? Rename the file or fix "
                       "file = \"%s\" in the rule file", alt, t->file);
    return DF_OK; /* the loader says it is missing, as always */
}

df_status run_load(run_info *r, outset *o, progress *prog, const char *only_key, df_error *err)
{
    const df_config *cfg = r->cfg;
    reject_log rej = {.salt = r->salt};
    df_status st = o ? open_rejects(o, &rej.w, err) : DF_OK;
    if (st != DF_OK) return st;
    for (int i = 0; i < r->ntables && st == DF_OK; i++) {
        table *t = &r->tables[i];
        t->path = path_join(cfg->data_dir, t->file);
        if (!t->path) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
        rej.first[0] = 0;
        load_opts lo = {.as_of = cfg->as_of, .max_rejects = cfg->max_rejects, .rejects = &r->rejects,
                        .on_reject = rej.w ? write_reject : NULL, .reject_ctx = &rej, .prog = prog,
                        .threads = cfg->threads, .only_key = only_key, .block_bytes = (size_t)cfg->parse_block_kb * 1024,
                        .id_salt = r->salt, .keep = i > 0 && r->shard ? r->shard->keep : NULL};
        double t0 = now_seconds();
        if (strpbrk(t->file, "*?")) { /* an export in parts: events-*.csv.gz */
            char **paths = NULL;
            int n = 0;
            st = parts_expand(cfg->data_dir, t->file, &paths, &n, err);
            for (int k = 0; st == DF_OK && k < n; k++) {
                const char *slash = strrchr(paths[k], '/');
                st = run_confined(cfg->data_dir, slash ? slash + 1 : paths[k], paths[k], err);
            }
            if (st == DF_OK) st = parts_load(t, &r->tables[0], paths, n, &lo, cfg->threads, err);
            t->parts = n;
            parts_free(paths, n);
        } else {
            st = find_input(cfg, t, err);
            if (st == DF_OK) st = run_confined(cfg->data_dir, t->file, t->path, err);
            if (st == DF_OK) st = csvload_table(t, &r->tables[0], &lo, err);
        }
        r->t_load[i] = now_seconds() - t0;
        if (st == DF_OK && o) st = guard_reject_share(t, cfg, rej.first, err); /* a run, not explain or test */
        if (st == DF_OK && i == 0 && r->shard) st = shard_route(r->shard, t, err); /* run --shard: its entities */
    }
    if (st != DF_OK) return st;
    table_drop_keys(&r->tables[0]); /* every history has its rows' entities now */
    double t0 = now_seconds();
    for (int i = 1; i < r->ntables && st == DF_OK; i++) st = group_history(&r->tables[i], r->tables[0].nrows, err);
    r->t_group = now_seconds() - t0;
    return st;
}

df_status run_declare_load(run_info *r, outset *rej, lbridge **lb, watchdog **wd, char **src, size_t *len, df_error *err)
{
    const df_config *c = r->cfg;
    df_status st = run_read_file(c->rules_path, "rule file", src, len, err);
    if (st == DF_OK) st = lb_new(lb, err);
    if (st == DF_OK) st = run_watch(wd, c, NULL, "defector: rule error; the outputs were left as they were", NULL, NULL, err);
    if (st == DF_OK) lb_budget(*lb, *wd, 0);
    if (st == DF_OK) st = lb_declare(*lb, c->rules_path, *src, *len, c->as_of, r->tables, &r->ntables, err);
    if (st == DF_OK) st = run_load(r, rej, NULL, NULL, err);
    if (st == DF_OK) watchdog_entity(*wd, &r->tables[0]);
    return st;
}

df_status run_watch(watchdog **wd, const df_config *cfg, const table *entity, const char *last_line,
                    void (*cleanup)(void *), void *ctx, df_error *err)
{
    watchdog_opts wo = {.rules_path = cfg->rules_path, .time_limit = cfg->rule_time_limit,
                        .memory_limit = cfg->rule_memory_limit, .entity = entity, .last_line = last_line,
                        .cleanup = cleanup, .cleanup_ctx = ctx};
    return watchdog_start(wd, &wo, err);
}

df_config run_config(const df_config *cfg)
{
    df_config c = *cfg;
    c.threads = pool_threads(cfg->threads);
    return c;
}

/* What the watchdog's cleanup needs: the run's outset (NULL until it is made) and the run, whose
 * status file says why it was stopped. */
typedef struct run_ends {
    outset *volatile o;
    run_info *r;
} run_ends;

static void unlink_temps(void *ctx)
{
    run_ends *e = ctx;
    if (e->o) outset_unlink_temps(e->o);
    df_error err = {0};
    const char *where, *what;
    err.status = watchdog_fired(&where, &what);
    err.src_file = "engine/watchdog.c";
    snprintf(err.where, sizeof err.where, "%s", where);
    snprintf(err.message, sizeof err.message, "%s", what);
    status_write(e->r, NULL, err.status, &err);
}

/* glibc raises its mmap threshold to the size of each large block freed (up to 32 MB), after
 * which the parsing blocks and growing arrays come from the heap: copied when they grow, and
 * freed into holes it keeps (100 MB of the peak on 1M customers). A fixed threshold keeps every
 * large array in its own mapping: grown by mremap, given back when freed. */
static void memory_setup(void)
{
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
}

/* ---- running unattended (docs/operations.md) ---- */

/* The rule file's operations { } fill what the command line left unset. A time zone declared
 * there moves a default as-of date: *redeclare is then 1 (the declarations ran with the other). */
static df_status apply_operations(df_config *c, run_info *r, int *redeclare, df_error *err)
{
    const run_ops *ops = &r->ops;
    *redeclare = 0;
    if (!c->strict && ops->strict == 1) c->strict = 1;
    if (!c->hash_ids && ops->hash_ids == 1) c->hash_ids = 1;
    if (!c->file_mode && ops->file_mode) c->file_mode = ops->file_mode;
    if (!c->time_zone && ops->time_zone[0]) {
        c->time_zone = ops->time_zone;
        if (!c->as_of_given) {
            int32_t today;
            df_status st = df_today(c->time_zone, &today, err);
            if (st != DF_OK) return st;
            *redeclare = today != c->as_of;
            c->as_of = today;
        }
    }
    if (c->hash_ids && !(r->salt = getenv("DEFECTOR_ID_SALT")) && !r->merging) /* the merge's ids come hashed */
        return DF_FAIL(err, DF_ERR_USAGE, "DEFECTOR_ID_SALT",
                       "hashing ids (--hash-ids or operations { hash_ids = true }) needs a secret salt in the environment "
                       "variable DEFECTOR_ID_SALT (keep it out of the rule file), e.g. in the systemd unit or crontab");
    return DF_OK;
}

static void warn_add(run_info *r, const char *fmt, ...) DF_PRINTF(2, 3);
static void warn_add(run_info *r, const char *fmt, ...)
{
    if (r->nwarn >= DF_MAX_RUN_WARNINGS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->warn[r->nwarn++], sizeof r->warn[0], fmt, ap);
    va_end(ap);
}

/* Every warning of the run, in the words of the report on stderr (summary.c). */
static void collect_warnings(run_info *r)
{
    for (int i = 0; i < r->ntables; i++) {
        const table *t = &r->tables[i];
        const table_stats *s = &t->st;
        char date[16];
        df_format_date(r->cfg->as_of, date);
        if (s->duplicates && !t->from_history)
            warn_add(r, "%s: %llu rows repeat a %s already seen (e.g. %s); the first row of each was kept", t->file,
                     (unsigned long long)s->duplicates, t->key, s->dup_examples[0]);
        if (s->orphans)
            warn_add(r, "%s: %llu rows name a %s that is not in %s (e.g. %s); they were ignored", t->file,
                     (unsigned long long)s->orphans, t->key, r->tables[0].file, s->orphan_examples[0]);
        if (s->future)
            warn_add(r, "%s: %llu rows are dated after the as-of date %s; they were ignored", t->file, (unsigned long long)s->future, date);
    }
    for (int i = 0; i < r->score.nwarnings; i++) warn_add(r, "%s", r->score.warnings[i]);
    for (int i = 0; i < r->score.nrules; i++)
        if (r->score.rule_errors[i])
            warn_add(r, "rule %s failed for %llu %s and was skipped for them (see rule_errors.csv)", r->score.rule_code[i],
                     (unsigned long long)r->score.rule_errors[i], r->tables[0].name);
}

/* With hash_ids, the keys the run shows as examples (duplicates, orphans) are their hashes. */
static void hash_examples(run_info *r)
{
    for (int i = 0; r->salt && i < r->ntables; i++) {
        table_stats *s = &r->tables[i].st;
        for (uint64_t k = 0; k < DF_EXAMPLES && k < s->duplicates; k++)
            sha256_id(r->salt, s->dup_examples[k], strlen(s->dup_examples[k]), s->dup_examples[k]);
        for (uint64_t k = 0; k < DF_EXAMPLES && k < s->orphans; k++)
            sha256_id(r->salt, s->orphan_examples[k], strlen(s->orphan_examples[k]), s->orphan_examples[k]);
    }
}

/* --strict: any warning fails the night; each is said on stderr (the report that lists them
 * comes only after a commit) and listed in status.json. */
static df_status strict_check(const run_info *r, df_error *err)
{
    if (!r->cfg->strict || r->nwarn == 0) return DF_OK;
    for (int i = 0; i < r->nwarn; i++) fprintf(stderr, "defector: warning: %s\n", r->warn[i]);
    return DF_FAIL(err, DF_ERR_DATA, "", "strict mode (--strict or operations { strict = true }): %d warning%s (above, and in "
                   "status.json) fail the run; fix what they say, or run without strict mode", r->nwarn, r->nwarn == 1 ? "" : "s");
}

/* The declarations, and operations { } applied to c; again when its time zone moved the as-of. */
static df_status declare(lbridge **lb, df_config *c, run_info *r, watchdog *wd, const char *src, size_t len, df_error *err)
{
    int again = 0;
    df_status st = DF_OK;
    for (int pass = 0; pass < 2 && st == DF_OK && (pass == 0 || again); pass++) {
        if (pass) {
            for (int i = 0; i < r->ntables; i++) table_free(&r->tables[i]);
            r->ntables = 0;
            lb_free(*lb);
            *lb = NULL;
            st = lb_new(lb, err);
            if (st == DF_OK) lb_budget(*lb, wd, 0);
        }
        if (st == DF_OK) st = lb_declare(*lb, c->rules_path, src, len, c->as_of, r->tables, &r->ntables, err);
        if (st == DF_OK) st = lb_operations(*lb, &r->ops, err);
        if (st == DF_OK && pass == 0) st = apply_operations(c, r, &again, err);
    }
    return st;
}

df_status df_run(const df_config *config, df_error *err)
{
    double t0 = now_seconds();
    status_start();
    memory_setup();
    df_config c = run_config(config), *cfg = &c;
    table tables[DF_MAX_TABLES];
    static run_info r; /* static: the watchdog's cleanup may read it from its thread at the end */
    memset(&r, 0, sizeof r);
    r.cfg = cfg, r.tables = tables, r.delivery_rc = -1;
    char *src = NULL;
    size_t len = 0;
    lbridge *lb = NULL;
    run_ends ends = {.o = NULL, .r = &r};
    watchdog *wd = NULL;
    progress *prog = progress_new(cfg->progress);
    char warnings[DF_MAX_WARNINGS][512];
    int nwarnings = 0;
    shard_state shard = {.index = cfg->shard_index, .count = cfg->shard_count, .history = cfg->history_dir != NULL};
    int sharded = cfg->shard_count > 0, merging = cfg->nmerge > 0; /* run --shard I/N; defector merge (shards.h) */
    if (sharded || merging) r.shard = &shard, r.merging = merging;
    /* the output folder first: its lock, and what a killed run left undone is undone (even when
     * this run then fails) */
    df_status st = cfg->data_dir && cfg->data_dir[0] && cfg->out_dir && cfg->out_dir[0]
                       ? DF_OK
                       : DF_FAIL(err, DF_ERR_USAGE, "", "the data folder and the output folder must be named");
    outset *o = NULL;
    int busy = 0;
    if (st == DF_OK) st = outset_new_with(cfg->out_dir, cfg->file_mode, cfg->lock_wait, &busy, &o, err);
    ends.o = o;
    if (st == DF_OK) status_write(&r, NULL, STATUS_RUNNING, NULL); /* a run killed from here on stays "running" */
    outset *night = NULL; /* --history: the night folder, committed before --out (by the merge, not a shard) */
    if (st == DF_OK && merging) st = merge_open(&shard, cfg->merge_paths, cfg->nmerge, &c, err);
    if (st == DF_OK && cfg->history_dir && !sharded) st = history_open(cfg, &night, err);
    if (st == DF_OK) st = run_read_file(cfg->rules_path, "rule file", &src, &len, err);
    if (st == DF_OK) {
        sha256_hex(src, len, r.rules_sha256);
        st = lb_new(&lb, err);
    }
    /* the budgets watch every piece of user code, the declarations too */
    if (st == DF_OK)
        st = run_watch(&wd, cfg, NULL, "defector: rule error; the outputs were left as they were", unlink_temps, &ends, err);
    if (st == DF_OK) lb_budget(lb, wd, 0);
    if (st == DF_OK) st = declare(&lb, &c, &r, wd, src, len, err);
    if (st == DF_OK && cfg->file_mode) { /* the rule file's, before any file: the outputs' and the night's */
        outset_set_mode(o, cfg->file_mode);
        if (night) outset_set_mode(night, cfg->file_mode);
    }
    if (st == DF_OK) st = merging ? merge_load(&shard, &r, o, err) : run_load(&r, o, prog, NULL, err);
    if (st == DF_OK && sharded) st = shard_compact(&shard, tables, r.ntables, err);
    if (st == DF_OK && !merging) hash_examples(&r); /* the merge's: the shards' (hashed) */
    if (st == DF_OK && !sharded) st = guard_as_of(&r, warnings, DF_MAX_WARNINGS, &nwarnings, err); /* the whole base's */
    if (st == DF_OK) watchdog_entity(wd, &tables[0]);
    books *bks = books_new(cfg->as_of);
    if (st == DF_OK && !bks) st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    score_opts so = {.rules_path = cfg->rules_path, .skip_rule_errors = cfg->skip_rule_errors, .threads = cfg->threads,
                     .source = src, .source_len = len, .wd = wd, .books = bks, .history = night, .report_later = 1,
                     .history_dir = cfg->history_dir /* calls { }: cool-down over nights, save rate (calls.lua) */,
                     .shard = sharded ? &shard : NULL};
    /* a shard scores its entities into its partial (its writers only capture: no outputs) */
    if (st == DF_OK && merging) st = merge_score(&shard, lb, o, &so, &r.score, err);
    else if (st == DF_OK) st = lb_run(lb, tables, r.ntables, cfg->as_of, sharded ? NULL : o, prog, &so, &r.score, err);
    if (st == DF_OK && sharded) st = shard_write(&shard, o, &r, err);
    char note[512] = "";
    if (st == DF_OK && !sharded) st = changes_write(o, night, cfg, &r.score.hist, note, sizeof note, err);
    if (st == DF_OK && note[0] && nwarnings < DF_MAX_WARNINGS) memcpy(warnings[nwarnings++], note, sizeof note);
    if (st == DF_OK && !sharded) st = trends_write(o, night, cfg, &r.score.hist, err);
    if (st == DF_OK && !sharded) st = lb_report(lb, o, wd, err); /* last: it may show the tables over nights */
    watchdog_stop(wd);
    if (st == DF_OK) add_warnings(&r.score, warnings, nwarnings);
    if (st == DF_OK) collect_warnings(&r), r.nwarn_report = r.nwarn;
    if (st == DF_OK) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        r.peak_rss = (uint64_t)ru.ru_maxrss * 1024;
        r.t_total = now_seconds() - t0;
        st = summary_write(o, &r, err);
    }
    if (st == DF_OK) st = books_close(bks, &r, o, err);
    books_free(bks);
    /* the guards against the previous night and strict mode, on the finished files (a total
     * is read back from its file), before anything is committed; then the night of the run
     * history (--history), then the outputs */
    if (st == DF_OK) st = outset_finish(o, err);
    if (st == DF_OK && !config->no_guards && !sharded) st = status_guards(&r, o, err); /* the merge's: the whole base */
    if (st == DF_OK && !sharded) st = strict_check(&r, err);
    if (st == DF_OK && night) st = history_fill(night, o, &r.score.hist, src, len, err);
    if (st == DF_OK && night) st = outset_commit(night, err);
    if (st == DF_OK) st = outset_commit(o, err);
    if (st == DF_OK && night) history_prune(cfg);
    if (st == DF_OK) r.committed = 1, summary_report(&r, o, stderr); /* with --quiet, the warnings only */
    for (int i = r.nwarn_report; st == DF_OK && i < r.nwarn; i++) fprintf(stderr, "defector: warning: %s\n", r.warn[i]); /* the guards' */
    if (st == DF_OK && cfg->on_success && !sharded) {
        char as_of[16];
        df_format_date(cfg->as_of, as_of);
        st = deliver_run(cfg->on_success, cfg->out_dir, as_of, cfg->rules_path, &r.delivery_rc, err);
    }
    if (!busy) status_write(&r, o, st, err); /* (refused by the lock: the status is the running night's) */
    if (st != DF_OK && !r.committed) outset_abort(o);
    else outset_free(o);
    if (st != DF_OK && !r.committed) outset_abort(night);
    else outset_free(night);
    progress_free(prog);
    lb_free(lb);
    for (int i = 0; i < r.ntables; i++) table_free(&tables[i]);
    shard_free(&shard);
    free(src);
    return st;
}
