/* run.c: one run, stage by stage: the output folder (locked, left consistent) -> rule
 * declarations -> load the entity table -> load and group each history -> score and write
 * outputs (into the staging folder) -> run summary -> commit. Any failure aborts the output
 * set, so the output folder keeps its previous files (output.h, commit.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "confine.h"
#include "csvload.h"
#include "group.h"
#include "luascore.h"
#include "parts.h"
#include "pool.h"
#include "progress.h"
#include "run.h"
#include "sha256.h"

df_status run_read_file(const char *path, char **buf, size_t *len, df_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return DF_FAIL(err, DF_ERR_IO, path, "cannot read the rule file: %s", strerror(errno));
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
        return DF_FAIL(err, DF_ERR_IO, path, "cannot read the rule file");
    }
    *buf = b, *len = n;
    return DF_OK;
}

/* load_opts.on_reject: one row of rejects.csv (file, line, column, reason, raw). */
static void write_reject(void *ctx, const char *file, uint64_t line, const char *col_name, const char *reason,
                         const char *raw, size_t raw_len)
{
    csvw *w = ctx;
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

/* An input the rule file names is read only inside --data: a link out of it is refused (a
 * missing file is left to the loader, which says so). */
static df_status confined(const char *dir, const char *name, const char *path, df_error *err)
{
    char why[256];
    if (confine_check(dir, name, why, sizeof why) != -2) return DF_OK;
    return DF_FAIL(err, DF_ERR_IO, path, "refused: %s; an input must be a file in the --data folder (a link to another file of that folder is followed)", why);
}

df_status run_load(run_info *r, outset *o, progress *prog, const char *only_key, df_error *err)
{
    const df_config *cfg = r->cfg;
    csvw *rej = NULL;
    df_status st = o ? open_rejects(o, &rej, err) : DF_OK;
    if (st != DF_OK) return st;
    for (int i = 0; i < r->ntables && st == DF_OK; i++) {
        table *t = &r->tables[i];
        t->path = path_join(cfg->data_dir, t->file);
        if (!t->path) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
        load_opts lo = {.as_of = cfg->as_of, .max_rejects = cfg->max_rejects, .rejects = &r->rejects,
                        .on_reject = rej ? write_reject : NULL, .reject_ctx = rej, .prog = prog,
                        .threads = cfg->threads, .only_key = only_key, .block_bytes = (size_t)cfg->parse_block_kb * 1024};
        double t0 = now_seconds();
        if (strpbrk(t->file, "*?")) { /* an export in parts: events-*.csv.gz */
            char **paths = NULL;
            int n = 0;
            st = parts_expand(cfg->data_dir, t->file, &paths, &n, err);
            for (int k = 0; st == DF_OK && k < n; k++) {
                const char *slash = strrchr(paths[k], '/');
                st = confined(cfg->data_dir, slash ? slash + 1 : paths[k], paths[k], err);
            }
            if (st == DF_OK) st = parts_load(t, &r->tables[0], paths, n, &lo, cfg->threads, err);
            t->parts = n;
            parts_free(paths, n);
        } else {
            st = confined(cfg->data_dir, t->file, t->path, err);
            if (st == DF_OK) st = csvload_table(t, &r->tables[0], &lo, err);
        }
        r->t_load[i] = now_seconds() - t0;
    }
    if (st != DF_OK) return st;
    double t0 = now_seconds();
    for (int i = 1; i < r->ntables && st == DF_OK; i++) st = group_history(&r->tables[i], r->tables[0].nrows, err);
    r->t_group = now_seconds() - t0;
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

static void unlink_temps(void *po) /* po: the run's outset *, NULL until it is made */
{
    outset *o = *(outset *volatile *)po;
    if (o) outset_unlink_temps(o);
}

df_status df_run(const df_config *config, df_error *err)
{
    double t0 = now_seconds();
    const df_config c = run_config(config), *cfg = &c;
    table tables[DF_MAX_TABLES];
    run_info r = {.cfg = cfg, .tables = tables};
    char *src = NULL;
    size_t len = 0;
    lbridge *lb = NULL;
    outset *o = NULL;
    watchdog *wd = NULL;
    progress *prog = progress_new(cfg->progress);
    /* the output folder first: its lock, and what a killed run left undone is undone (even when
     * this run then fails) */
    df_status st = outset_new(cfg->out_dir, &o, err);
    if (st == DF_OK) st = run_read_file(cfg->rules_path, &src, &len, err);
    if (st == DF_OK) {
        sha256_hex(src, len, r.rules_sha256);
        st = lb_new(&lb, err);
    }
    /* the budgets watch every piece of user code, the declarations too */
    if (st == DF_OK)
        st = run_watch(&wd, cfg, NULL, "defector: rule error; the outputs were left as they were", unlink_temps, &o, err);
    if (st == DF_OK) lb_budget(lb, wd, 0);
    if (st == DF_OK) st = lb_declare(lb, cfg->rules_path, src, len, cfg->as_of, tables, &r.ntables, err);
    if (st == DF_OK) st = run_load(&r, o, prog, NULL, err);
    if (st == DF_OK) watchdog_entity(wd, &tables[0]);
    score_opts so = {cfg->rules_path, cfg->skip_rule_errors, cfg->threads, src, len, wd};
    if (st == DF_OK) st = lb_run(lb, tables, r.ntables, cfg->as_of, o, prog, &so, &r.score, err);
    watchdog_stop(wd);
    if (st == DF_OK) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        r.peak_rss = (uint64_t)ru.ru_maxrss * 1024;
        r.t_total = now_seconds() - t0;
        st = summary_write(o, &r, err);
    }
    if (st == DF_OK) st = outset_commit(o, err);
    if (st == DF_OK && !cfg->quiet) summary_report(&r, o, stderr);
    if (st != DF_OK) outset_abort(o);
    else outset_free(o);
    progress_free(prog);
    lb_free(lb);
    for (int i = 0; i < r.ntables; i++) table_free(&tables[i]);
    free(src);
    return st;
}
