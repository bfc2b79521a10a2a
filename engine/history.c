/* history.c: the night folders of --history (the format: docs/history.md). A night is an
 * output folder of its own (commit.c): opened with its lock before scoring, filled with the
 * snapshot (written by the Lua side through open_history), the metrics tables, the run summary
 * and the rule file, and committed before --out. Only folders named YYYY-MM-DD are the
 * engine's; a night without its manifest, or with a journal left, is not committed and never
 * read. Retention removes whole night folders by date. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "history.h"

/* The date a night folder's name says (YYYY-MM-DD exactly), or DF_NA_DATE. */
static int32_t night_date(const char *name)
{
    int32_t d;
    if (strlen(name) != 10 || name[4] != '-' || name[7] != '-') return DF_NA_DATE;
    if (df_parse_date(name, 10, &d) != 0) return DF_NA_DATE;
    return d;
}

df_status history_open(const df_config *cfg, outset **night, df_error *err)
{
    char date[16];
    df_format_date(cfg->as_of, date);
    char *dir = path_join(cfg->history_dir, date);
    if (!dir) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    df_status st = outset_new(dir, night, err);
    free(dir);
    return st;
}

/* Copies file name of o (finished now) into the night, byte for byte. */
static df_status copy_output(outset *night, outset *o, const char *name, df_error *err)
{
    df_status st = outset_finish_file(o, name, err);
    if (st != DF_OK) return st;
    char *path = outset_temp_path(o, name), *buf = NULL;
    size_t len = 0;
    if (!path) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    st = run_read_file(path, "output", &buf, &len, err);
    free(path);
    if (st != DF_OK) return st;
    csvw *w = outset_open(night, name, err);
    if (w) csvw_raw(w, buf, len);
    free(buf);
    return w ? DF_OK : err->status;
}

df_status history_fill(outset *night, outset *o, const history_info *h, const char *src, size_t len, df_error *err)
{
    df_status st = DF_OK;
    for (int i = 0; st == DF_OK && i < h->nmetrics; i++) st = copy_output(night, o, h->metrics[i], err);
    if (st == DF_OK) st = copy_output(night, o, "run_summary.json", err);
    if (st != DF_OK) return st;
    csvw *w = outset_open(night, "rules.lua", err);
    if (!w) return err->status;
    csvw_raw(w, src, len);
    return DF_OK;
}

/* Whether night folder dir/name is committed: its manifest is there, no journal is left. */
static int committed(const char *dir, const char *name)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/%s/.defector-manifest", dir, name);
    if (access(p, F_OK) != 0) return 0;
    snprintf(p, sizeof p, "%s/%s/.defector-staging/.journal", dir, name);
    if (access(p, F_OK) == 0) return 0;
    snprintf(p, sizeof p, "%s/%s/customers.csv.gz", dir, name);
    return access(p, F_OK) == 0;
}

/* Opens folder dir: *d NULL when it does not exist (no nights), an error when it cannot be read. */
static df_status open_nights(const char *dir, DIR **d, df_error *err)
{
    *d = opendir(dir);
    if (*d || errno == ENOENT) return DF_OK;
    if (errno == ENOMEM) return DF_FAIL(err, DF_ERR_NOMEM, dir, "out of memory");
    return DF_FAIL(err, DF_ERR_OUTPUT, dir, "cannot read the history folder: %s", strerror(errno));
}

df_status history_previous(const char *dir, int32_t as_of, char **path, df_error *err)
{
    DIR *d;
    *path = NULL;
    df_status st = open_nights(dir, &d, err);
    if (st != DF_OK || !d) return st;
    int32_t best = DF_NA_DATE;
    char name[300] = "";
    for (struct dirent *e; (e = readdir(d));) {
        int32_t t = night_date(e->d_name);
        if (t == DF_NA_DATE || t >= as_of || (best != DF_NA_DATE && t <= best)) continue;
        if (!committed(dir, e->d_name)) continue;
        best = t;
        snprintf(name, sizeof name, "%s", e->d_name);
    }
    closedir(d);
    if (best == DF_NA_DATE) return DF_OK;
    *path = path_join(dir, name);
    return *path ? DF_OK : DF_FAIL(err, DF_ERR_NOMEM, dir, "out of memory");
}

static int by_date(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

df_status history_nights(const char *dir, int32_t as_of, int32_t *dates, int max, int *count, df_error *err)
{
    DIR *d = NULL;
    *count = 0;
    df_status st = max > 0 ? open_nights(dir, &d, err) : DF_OK;
    if (st != DF_OK || !d) return st;
    int n = 0, cap = 64;
    int32_t *all = malloc((size_t)cap * sizeof *all);
    for (struct dirent *e; all && (e = readdir(d));) {
        int32_t t = night_date(e->d_name);
        if (t == DF_NA_DATE || t >= as_of || !committed(dir, e->d_name)) continue;
        if (n == cap) {
            int32_t *na = realloc(all, (size_t)(cap *= 2) * sizeof *na);
            if (!na) free(all);
            all = na;
            if (!all) break;
        }
        all[n++] = t;
    }
    closedir(d);
    if (!all) return DF_FAIL(err, DF_ERR_NOMEM, dir, "out of memory");
    qsort(all, (size_t)n, sizeof *all, by_date);
    int k = n < max ? n : max;
    memcpy(dates, all + n - k, (size_t)k * sizeof *dates);
    free(all);
    *count = k;
    return DF_OK;
}

/* Removes folder fd/name and what is in it (a night: files, and a staging folder of files). */
static int remove_tree(int fd, const char *name)
{
    int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) return -1;
    DIR *d = fdopendir(sub);
    if (!d) return close(sub), -1;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (unlinkat(sub, e->d_name, 0) != 0) {
            if (errno == EISDIR || errno == EPERM) rc |= remove_tree(sub, e->d_name);
            else rc = -1;
        }
    }
    closedir(d);
    return unlinkat(fd, name, AT_REMOVEDIR) == 0 ? rc : -1;
}

void history_prune(const df_config *cfg)
{
    int keep = cfg->history_keep == 0 ? DF_DEFAULT_HISTORY_KEEP : cfg->history_keep;
    if (keep < 0) return;
    DIR *d = opendir(cfg->history_dir);
    if (!d) return;
    int fd = dirfd(d);
    for (struct dirent *e; (e = readdir(d));) {
        int32_t t = night_date(e->d_name);
        if (t == DF_NA_DATE || (int64_t)cfg->as_of - t <= keep) continue;
        if (remove_tree(fd, e->d_name) != 0)
            fprintf(stderr, "defector: warning: cannot remove the old night %s/%s (--history-keep %d): %s\n",
                    cfg->history_dir, e->d_name, keep, strerror(errno));
    }
    closedir(d);
}
