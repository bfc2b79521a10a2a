/* parts.c: see parts.h. Invariant: after parts_load, t holds the rows of part 0, then part 1, ...
 * each in file order, exactly as if the parts had been one file read in that order. */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "parts.h"
#include "pool.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends dir/name to *p (count, capacity *cap); -1 on out of memory. */
static int add_path(char ***p, int *count, int *cap, const char *dir, const char *name)
{
    if (*count == *cap) {
        int c = *cap ? *cap * 2 : 16;
        char **q = realloc(*p, (size_t)c * sizeof *q);
        if (!q) return -1;
        *p = q, *cap = c;
    }
    char *s = path_join(dir, name);
    if (!s) return -1;
    (*p)[(*count)++] = s;
    return 0;
}

/* The folder is read with readdir and each name matched with fnmatch, not with glob(): glibc's
 * glob frees a list twice when an allocation fails inside it (found by the allocation-failure
 * loop), and it would take pattern characters in the folder's own name for patterns. */
df_status parts_expand(const char *dir, const char *pattern, char ***paths, int *n, df_error *err)
{
    *paths = NULL, *n = 0;
    DIR *d = opendir(dir);
    if (!d) return DF_FAIL(err, DF_ERR_IO, dir, "cannot list the files matching %s: %s", pattern, strerror(errno));
    char **p = NULL;
    int count = 0, cap = 0, nomem = 0, bad = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            bad = errno;
            break;
        }
        if (fnmatch(pattern, e->d_name, FNM_PERIOD) == 0 && add_path(&p, &count, &cap, dir, e->d_name) != 0) {
            nomem = 1;
            break;
        }
    }
    closedir(d);
    df_status st = DF_OK;
    if (nomem) st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    else if (bad) st = DF_FAIL(err, DF_ERR_IO, dir, "cannot list the files matching %s: %s", pattern, strerror(bad));
    else if (count == 0) {
        char where[1024];
        snprintf(where, sizeof where, "%s/%s", dir, pattern);
        st = DF_FAIL(err, DF_ERR_IO, where, "no file matches this name (check --data and the file name the rule file gives)");
    }
    if (st != DF_OK) {
        parts_free(p, count);
        return st;
    }
    qsort(p, (size_t)count, sizeof *p, cmp_str);
    *paths = p, *n = count;
    return DF_OK;
}

void parts_free(char **paths, int n)
{
    for (int i = 0; paths && i < n; i++) free(paths[i]);
    free(paths);
}

typedef struct part_job {
    table *parts;
    char **paths;
    const table *entity;
    const load_opts *o;
    df_error *errs;
    df_status *sts;
} part_job;

/* Reads part i into its own table (no rejects: parts are read in parallel only without them). */
static void load_part(void *arg, int i)
{
    part_job *j = arg;
    uint64_t rejects = 0;
    load_opts lo = *j->o;
    lo.rejects = &rejects, lo.on_reject = NULL, lo.prog = NULL, lo.display = NULL;
    j->sts[i] = csvload_table(&j->parts[i], j->entity, &lo, &j->errs[i]);
}

static df_status load_parallel(table *t, const table *entity, char **paths, int n, const load_opts *o, int threads,
                               df_error *err)
{
    table *parts = calloc((size_t)n, sizeof *parts);
    df_error *errs = calloc((size_t)n, sizeof *errs);
    df_status *sts = calloc((size_t)n, sizeof *sts);
    df_status st = DF_OK;
    if (!parts || !errs || !sts) st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    for (int i = 0; st == DF_OK && i < n; i++)
        if (table_clone_spec(&parts[i], t, paths[i]) != 0) st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    if (st == DF_OK) {
        part_job j = {.parts = parts, .paths = paths, .entity = entity, .o = o, .errs = errs, .sts = sts};
        pool_run(n, threads, load_part, &j); /* a thread that cannot start: the others read its parts */
        for (int i = 0; i < n && st == DF_OK; i++) /* the first failing part, in file order */
            if (sts[i] != DF_OK) *err = errs[i], st = sts[i];
    }
    for (int i = 0; st == DF_OK && i < n; i++) {
        if (table_append_rows(t, &parts[i]) != 0) st = DF_FAIL(err, DF_ERR_NOMEM, t->path, "out of memory joining the parts");
        table_add_stats(&t->st, &parts[i].st);
        table_free(&parts[i]);
    }
    for (int i = 0; parts && i < n; i++) table_free(&parts[i]);
    free(parts), free(errs), free(sts);
    return st;
}

df_status parts_load(table *t, const table *entity, char **paths, int n, const load_opts *o, int threads, df_error *err)
{
    if (t->is_history && o->max_rejects == 0 && threads > 1 && n > 1)
        return load_parallel(t, entity, paths, n, o, threads, err);
    df_status st = DF_OK;
    load_opts po = *o;
    po.part = 1;
    o = &po;
    for (int i = 0; i < n && st == DF_OK; i++) {
        table part;
        if (table_clone_spec(&part, t, paths[i]) != 0) {
            table_free(&part); /* what the clone took before it failed */
            return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
        }
        if (!t->is_history) { /* keys must be unique across the parts: read into t itself */
            char *pattern_path = t->path, *file = t->file;
            t->path = part.path, t->file = part.file;
            table_stats before = t->st;
            memset(&t->st, 0, sizeof t->st);
            st = csvload_table(t, entity, o, err);
            table_stats mine = t->st;
            t->st = before;
            table_add_stats(&t->st, &mine);
            t->path = pattern_path, t->file = file;
        } else {
            st = csvload_table(&part, entity, o, err);
            if (st == DF_OK && table_append_rows(t, &part) != 0) st = DF_FAIL(err, DF_ERR_NOMEM, t->path, "out of memory joining the parts");
            table_add_stats(&t->st, &part.st);
        }
        table_free(&part);
    }
    return st == DF_OK ? csvload_no_rows(t, o, t->path, err) : st;
}
