/* authoring.c: the library side of the commands for rule authors (include/defector.h): explain
 * (one entity, loaded alone, scored with a trace), test (each case of a test file written as
 * input files into a temporary folder, read by the real loader and checked, one Lua state per
 * case) and check (the rule file against the headers in the data folder). They load and watch
 * their scoring as run does (run.h); the temporary folder is removed however test ends. */
#define _GNU_SOURCE /* getdents64 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csvload.h"
#include "luaauthor.h"
#include "parts.h"
#include "run.h"

/* Removes a folder of plain files (a test's case files); 0 when it is gone. No shell, and no
 * allocation: it runs when memory has run out too, and from the watchdog before it ends the
 * process. The names are read with getdents64 into a buffer on the stack and unlinked relative
 * to the folder; it reads again from the start until a pass finds nothing left to remove. */
static int remove_flat_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int removed = 1, passes = 0; fd >= 0 && removed && passes < 16; passes++) {
        _Alignas(struct dirent64) char buf[8192];
        ssize_t n;
        removed = 0;
        lseek(fd, 0, SEEK_SET);
        while ((n = getdents64(fd, buf, sizeof buf)) > 0) {
            for (ssize_t off = 0; off < n;) {
                const struct dirent64 *e = (const struct dirent64 *)(buf + off);
                off += e->d_reclen;
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && unlinkat(fd, e->d_name, 0) == 0) removed = 1;
            }
        }
    }
    if (fd >= 0) close(fd);
    return rmdir(dir);
}

static void remove_case_dir(void *dir)
{
    remove_flat_dir(dir);
}

df_status df_explain(const df_config *config, const char *key, int json, FILE *out, df_error *err)
{
    const df_config c = run_config(config), *cfg = &c;
    table tables[DF_MAX_TABLES];
    run_info r = {.cfg = cfg, .tables = tables};
    char *src = NULL, *text = NULL;
    size_t len = 0;
    lbridge *lb = NULL;
    watchdog *wd = NULL;
    progress *prog = progress_new(cfg->progress);
    df_status st = run_read_file(cfg->rules_path, "rule file", &src, &len, err);
    if (st == DF_OK) st = run_watch(&wd, cfg, NULL, "defector: rule error", NULL, NULL, err);
    if (st == DF_OK) st = lb_new(&lb, err);
    if (st == DF_OK) lb_budget(lb, wd, 0);
    if (st == DF_OK) st = lb_declare(lb, cfg->rules_path, src, len, cfg->as_of, tables, &r.ntables, err);
    if (st == DF_OK) st = run_load(&r, NULL, prog, key, err);
    if (st == DF_OK && tables[0].nrows == 0)
        st = DF_FAIL(err, DF_ERR_DATA, tables[0].path, "no row with %s = \"%s\" in %s (keys match byte for byte)",
                     tables[0].key, key, tables[0].file);
    if (st == DF_OK) watchdog_entity(wd, &tables[0]);
    if (st == DF_OK) st = lb_explain(lb, tables, r.ntables, cfg->as_of, json, watchdog_watch(wd, 0), &text, err);
    watchdog_stop(wd);
    if (st == DF_OK) fputs(text, out);
    free(text);
    progress_free(prog);
    lb_free(lb);
    for (int i = 0; i < r.ntables; i++) table_free(&tables[i]);
    free(src);
    return st;
}

/* What every case of a test run reads: the rule file, the test file, the folder for case files. */
typedef struct test_files {
    const df_config *cfg;
    const char *rules_src, *tests_path, *tests_src;
    size_t rules_len, tests_len;
    const char *dir;
    watchdog *wd; /* the command's budgets; its cleanup removes dir */
} test_files;

/* Removes every "dir/" from s: a case's files are named as the rule file names them, not by the
 * temporary folder they were written to. */
static void strip_dir(char *s, const char *dir)
{
    size_t n = strlen(dir);
    for (char *p = s; (p = strstr(p, dir));) {
        if (p[n] == '/') memmove(p, p + n + 1, strlen(p + n + 1) + 1);
        else p += n;
    }
}

/* Restates err (a failure loading case c's rows) as the case's, at its line in the test file:
 * "t.test.lua:9: case 'name': customers.csv.gz:2: column signup_date: not a date ...". */
static df_status case_error(df_error *err, const test_files *tf, const lb_case *c)
{
    char where[sizeof err->where], msg[sizeof err->message];
    strip_dir(err->where, tf->dir);
    strip_dir(err->message, tf->dir);
    if (c->line > 0) snprintf(where, sizeof where, "%s:%d", tf->tests_path, c->line);
    else snprintf(where, sizeof where, "%s", tf->tests_path);
    snprintf(msg, sizeof msg, "case '%.200s': %.300s%s%.1500s", c->name, err->where, err->where[0] ? ": " : "",
             err->message);
    return DF_FAIL(err, err->status, where, "%s", msg);
}

/* One case of a test file: its own Lua state and rule declarations (for its as-of date), its
 * rows written as the input files into tf->dir and read by the real loader. */
static df_status test_case(const test_files *tf, int i, int *pass, char *msg, size_t mcap, df_error *err)
{
    char id[256];
    lb_case kc = {.line = 0};
    table tables[DF_MAX_TABLES];
    lbridge *b = NULL;
    int ncases = 0;
    df_config c = *tf->cfg;
    c.data_dir = tf->dir;
    run_info r = {.cfg = &c, .tables = tables};
    df_status st = lb_new(&b, err);
    if (st == DF_OK) lb_budget(b, tf->wd, 0);
    if (st == DF_OK) st = lb_load_cases(b, tf->tests_path, tf->tests_src, tf->tests_len, &ncases, err);
    if (st == DF_OK) {
        lb_case_info(b, i, &kc);
        if (kc.as_of[0]) df_parse_date(kc.as_of, strlen(kc.as_of), &c.as_of);
        st = lb_declare(b, c.rules_path, tf->rules_src, tf->rules_len, c.as_of, tables, &r.ntables, err);
    }
    for (int k = 0; st == DF_OK && k < r.ntables; k++) /* casetest.lua writes the case files in the default form */
        dialect_free(&tables[k].dl), dialect_default(&tables[k].dl);
    if (st == DF_OK) st = lb_case_files(b, i, tf->dir, id, sizeof id, err);
    if (st == DF_OK && run_load(&r, NULL, NULL, id, err) != DF_OK) st = case_error(err, tf, &kc);
    if (st == DF_OK && tables[0].nrows == 0) {
        DF_FAIL(err, DF_ERR_DATA, "", "its %s row was not loaded (is its key column %s empty?)", tables[0].name,
                tables[0].key);
        st = case_error(err, tf, &kc);
    }
    if (st == DF_OK) watchdog_entity(tf->wd, &tables[0]);
    if (st == DF_OK) st = lb_case_check(b, tables, r.ntables, c.as_of, i, watchdog_watch(tf->wd, 0), pass, msg, mcap, err);
    watchdog_entity(tf->wd, NULL); /* the tables go */
    lb_free(b);
    for (int k = 0; k < r.ntables; k++) table_free(&tables[k]);
    return st;
}

/* Runs case i and prints its PASS or FAIL line (a FAIL with the case's line in the test file)
 * into *pass. Out of memory is the command's failure (into err), not the case's. */
static df_status report_case(lbridge *b, const test_files *tf, int i, FILE *out, int *pass, df_error *err)
{
    lb_case kc;
    char msg[4096] = "";
    df_error cerr = {0};
    *pass = 0;
    lb_case_info(b, i, &kc);
    if (test_case(tf, i, pass, msg, sizeof msg, &cerr) != DF_OK) {
        if (cerr.status == DF_ERR_NOMEM) return *err = cerr, DF_ERR_NOMEM;
        *pass = 0;
        snprintf(msg, sizeof msg, "%s%s%s", cerr.where, cerr.where[0] ? ": " : "", cerr.message);
    }
    if (*pass) fprintf(out, "PASS  %s\n", kc.name);
    else if (kc.line > 0) fprintf(out, "FAIL  %s (%s:%d)\n      %s\n", kc.name, tf->tests_path, kc.line, msg);
    else fprintf(out, "FAIL  %s\n      %s\n", kc.name, msg);
    fflush(out); /* before the next case, which the watchdog may end with _exit */
    return DF_OK;
}

/* The folder for the case files: a new one in $TMPDIR (default /tmp). */
static df_status make_case_dir(char *dir, size_t cap, df_error *err)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    if ((size_t)snprintf(dir, cap, "%s/defector-test-XXXXXX", tmp) >= cap)
        return DF_FAIL(err, DF_ERR_OUTPUT, "", "TMPDIR is too long (%zu bytes): set it to a shorter folder", strlen(tmp));
    if (mkdtemp(dir)) return DF_OK;
    if (errno == ENOMEM) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    return DF_FAIL(err, DF_ERR_OUTPUT, tmp, "cannot make a temporary folder for the case files here: %s; set TMPDIR to a "
                   "folder that exists and can be written", strerror(errno));
}

/* The test file; a missing one is said as such, with how to write one. */
static df_status read_tests(const char *path, char **buf, size_t *len, df_error *err)
{
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return DF_FAIL(err, DF_ERR_IO, path,
                       "the test file does not exist. Create it beside the rule file with one case per entity to "
                       "check, e.g. case { \"a quiet customer\", as_of = \"2026-11-01\", customer = { ... }, "
                       "events = { ... }, expect = { score = 0 } } (docs/rules.md, \"Test cases\"), or name "
                       "another test file: defector test RULES TESTS");
    return run_read_file(path, "test file", buf, len, err);
}

df_status df_test(const df_config *config, const char *tests_path, FILE *out, int *failed, df_error *err)
{
    const df_config c = run_config(config), *cfg = &c;
    char *rsrc = NULL, *tsrc = NULL;
    size_t rlen = 0, tlen = 0;
    lbridge *b = NULL;
    watchdog *wd = NULL;
    int n = 0, passed = 0;
    *failed = 0;
    char dir[4096] = ""; /* the case files' folder, once made */
    df_status st = run_read_file(cfg->rules_path, "rule file", &rsrc, &rlen, err);
    if (st == DF_OK) st = read_tests(tests_path, &tsrc, &tlen, err);
    /* stopped by the watchdog, the process leaves no case files behind */
    if (st == DF_OK) st = run_watch(&wd, cfg, NULL, NULL, remove_case_dir, dir, err);
    if (st == DF_OK) st = lb_new(&b, err);
    if (st == DF_OK) lb_budget(b, wd, 0);
    if (st == DF_OK) st = lb_load_cases(b, tests_path, tsrc, tlen, &n, err);
    if (st == DF_OK) st = make_case_dir(dir, sizeof dir, err);
    int made = st == DF_OK;
    test_files tf = {cfg, rsrc, tests_path, tsrc, rlen, tlen, dir, wd};
    for (int i = 1, pass; st == DF_OK && i <= n; i++) {
        st = report_case(b, &tf, i, out, &pass, err);
        if (st == DF_OK) *(pass ? &passed : failed) += 1;
    }
    if (st == DF_OK) fprintf(out, "%d passed, %d failed\n", passed, *failed);
    if (made && remove_flat_dir(dir) != 0) fprintf(stderr, "defector: could not remove %s\n", dir);
    lb_free(b);
    watchdog_stop(wd);
    free(rsrc);
    free(tsrc);
    return st;
}

/* What check reads from the data folder: the header of each file the rule file names (a
 * pattern: its first part), keyed by that name, and the values filters ask about. A file that
 * is not there has no header: check says so. */
typedef struct check_data {
    char **files; /* the rule file's tables' files (or patterns) */
    dialect *dls; /* the dialect each is declared in */
    int nfiles;
    lb_header headers[DF_MAX_TABLES];
    int nh;
    lb_values *values; /* those of files that are there */
    int nv;
} check_data;

/* The paths a table's file name stands for in dir: itself when it is there, the parts a
 * pattern matches; none when nothing is there. */
static df_status data_paths(const char *dir, const char *file, char ***paths, int *n, df_error *err)
{
    *paths = NULL, *n = 0;
    if (strpbrk(file, "*?")) {
        df_error ignored;
        char **p = NULL;
        int k = 0;
        df_status st = parts_expand(dir, file, &p, &k, &ignored);
        if (st == DF_ERR_NOMEM) return DF_FAIL(err, st, "", "out of memory");
        if (st == DF_OK) *paths = p, *n = k;
        return DF_OK;
    }
    char *path = path_join(dir, file);
    if (!path) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    if (access(path, F_OK) != 0) {
        free(path);
        if (!(path = run_other_form(dir, file))) return DF_OK; /* customers.csv for customers.csv.gz */
    }
    char **p = malloc(sizeof *p);
    if (!p) {
        free(path);
        return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    }
    p[0] = path, *paths = p, *n = 1;
    return DF_OK;
}

/* The header of the first file the table's name stands for, when there is one. */
/* The dialect file is declared in (the default for a file check does not know). */
static const dialect *file_dialect(const check_data *d, const char *file)
{
    for (int i = 0; i < d->nfiles; i++)
        if (strcmp(d->files[i], file) == 0) return &d->dls[i];
    return NULL;
}

static df_status read_header(check_data *d, const char *dir, const char *file, df_error *err)
{
    char **paths;
    int n;
    df_status st = data_paths(dir, file, &paths, &n, err);
    if (st != DF_OK || n == 0 || d->nh == DF_MAX_TABLES) return parts_free(paths, n), st;
    const char *slash = strrchr(paths[0], '/');
    if ((st = run_confined(dir, slash ? slash + 1 : paths[0], paths[0], err)) != DF_OK) return parts_free(paths, n), st;
    lb_header *h = &d->headers[d->nh];
    h->file = strdup(file);
    st = h->file ? csvload_header(paths[0], file_dialect(d, file), &h->names, &h->n, err) : DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    if (st == DF_OK) d->nh++;
    else free((char *)h->file);
    parts_free(paths, n);
    return st;
}

static int has_header(const check_data *d, const char *file)
{
    for (int i = 0; i < d->nh; i++)
        if (strcmp(d->headers[i].file, file) == 0) return 1;
    return 0;
}

static void free_values(lb_values *v)
{
    free((char *)v->file), free((char *)v->column);
    strmap_free(&v->values);
}

/* The values of v's column in every file v's name stands for (at most 10000). */
static df_status read_values(lb_values *v, const dialect *dl, const char *dir, df_error *err)
{
    char **paths;
    int n;
    df_status st = data_paths(dir, v->file, &paths, &n, err);
    for (int i = 0; st == DF_OK && i < n; i++) st = csvload_distinct(paths[i], dl, v->column, &v->values, 10000, err);
    parts_free(paths, n);
    return st;
}

/* Headers and values from cfg->data_dir; the values of files that are not there are dropped
 * (no value is known of them, which is not "no row has this value"). */
static df_status check_read_data(lbridge *b, const df_config *cfg, const char *src, size_t len, check_data *d, df_error *err)
{
    DIR *dir = opendir(cfg->data_dir);
    if (!dir) return DF_FAIL(err, errno == ENOMEM ? DF_ERR_NOMEM : DF_ERR_IO, cfg->data_dir, "cannot open the data folder: %s", strerror(errno));
    closedir(dir);
    df_status st = lb_check_needs(b, cfg->rules_path, src, len, cfg->as_of, &d->values, &d->nv, &d->files, &d->dls, &d->nfiles, err);
    for (int i = 0; st == DF_OK && i < d->nfiles; i++)
        if (!has_header(d, d->files[i])) st = read_header(d, cfg->data_dir, d->files[i], err);
    int kept = 0;
    for (int i = 0; i < d->nv; i++) {
        if (st == DF_OK && has_header(d, d->values[i].file)) st = read_values(&d->values[i], file_dialect(d, d->values[i].file), cfg->data_dir, err);
        if (st == DF_OK && has_header(d, d->values[i].file)) d->values[kept++] = d->values[i];
        else free_values(&d->values[i]);
    }
    d->nv = kept;
    return st;
}

static void check_data_free(check_data *d)
{
    for (int i = 0; i < d->nv; i++) free_values(&d->values[i]);
    free(d->values);
    for (int i = 0; i < d->nh; i++) {
        for (int k = 0; k < d->headers[i].n; k++) free(d->headers[i].names[k]);
        free(d->headers[i].names);
        free((char *)d->headers[i].file);
    }
    for (int i = 0; d->dls && i < d->nfiles; i++) dialect_free(&d->dls[i]);
    free(d->dls);
    parts_free(d->files, d->nfiles);
}

df_status df_check(const df_config *cfg, FILE *out, int *errors, df_error *err)
{
    char *src = NULL, *text = NULL;
    size_t len = 0;
    lbridge *b = NULL;
    watchdog *wd = NULL;
    check_data d = {0};
    int warnings = 0, have_data = cfg->data_dir && cfg->data_dir[0];
    *errors = 0;
    df_status st = run_read_file(cfg->rules_path, "rule file", &src, &len, err);
    if (st == DF_OK) st = run_watch(&wd, cfg, NULL, "defector: rule error", NULL, NULL, err);
    if (st == DF_OK) st = lb_new(&b, err);
    if (st == DF_OK) lb_budget(b, wd, 0);
    if (st == DF_OK && have_data) st = check_read_data(b, cfg, src, len, &d, err);
    if (st == DF_OK)
        st = lb_check(b, cfg->rules_path, src, len, cfg->as_of, d.headers, d.nh, have_data, d.values, d.nv, &text, errors,
                      &warnings, err);
    if (st == DF_OK) {
        fputs(text, out);
        if (*errors || warnings) fprintf(out, "%d error(s), %d warning(s)\n", *errors, warnings);
        else fprintf(out, "%s: no problems found\n", cfg->rules_path);
    }
    check_data_free(&d);
    free(text);
    lb_free(b);
    watchdog_stop(wd);
    free(src);
    return st;
}
