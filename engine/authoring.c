/* authoring.c: the library side of the commands for rule authors (include/defector.h): explain
 * (one entity, loaded alone, scored with a trace), test (each case of a test file written as
 * input files into a temporary folder, read by the real loader and checked, one Lua state per
 * case) and check (the rule file against the headers in the data folder). They load and watch
 * their scoring as run does (run.h); the temporary folder is removed however test ends. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "confine.h"
#include "csvload.h"
#include "luaauthor.h"
#include "run.h"

/* Removes a folder of plain files (a test's case files); 0 when it is gone. */
static int remove_flat_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        for (struct dirent *e; (e = readdir(d));) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char *p = path_join(dir, e->d_name);
            if (p) unlink(p);
            free(p);
        }
        closedir(d);
    }
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
    df_status st = run_read_file(cfg->rules_path, &src, &len, err);
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

/* Runs case i and prints its PASS or FAIL line (a FAIL with the case's line in the test file). */
static int report_case(lbridge *b, const test_files *tf, int i, FILE *out)
{
    lb_case kc;
    char msg[4096] = "";
    int pass = 0;
    df_error cerr = {0};
    lb_case_info(b, i, &kc);
    if (test_case(tf, i, &pass, msg, sizeof msg, &cerr) != DF_OK) {
        pass = 0;
        snprintf(msg, sizeof msg, "%s%s%s", cerr.where, cerr.where[0] ? ": " : "", cerr.message);
    }
    if (pass) fprintf(out, "PASS  %s\n", kc.name);
    else if (kc.line > 0) fprintf(out, "FAIL  %s (%s:%d)\n      %s\n", kc.name, tf->tests_path, kc.line, msg);
    else fprintf(out, "FAIL  %s\n      %s\n", kc.name, msg);
    fflush(out); /* before the next case, which the watchdog may end with _exit */
    return pass;
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
    char dir[512] = "";
    df_status st = run_read_file(cfg->rules_path, &rsrc, &rlen, err);
    if (st == DF_OK) st = run_read_file(tests_path, &tsrc, &tlen, err);
    /* stopped by the watchdog, the process leaves no case files behind */
    if (st == DF_OK) st = run_watch(&wd, cfg, NULL, NULL, remove_case_dir, dir, err);
    if (st == DF_OK) st = lb_new(&b, err);
    if (st == DF_OK) lb_budget(b, wd, 0);
    if (st == DF_OK) st = lb_load_cases(b, tests_path, tsrc, tlen, &n, err);
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/defector-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (st == DF_OK && !mkdtemp(dir)) st = DF_FAIL(err, DF_ERR_OUTPUT, dir, "cannot make a temporary folder: %s", strerror(errno));
    test_files tf = {cfg, rsrc, tests_path, tsrc, rlen, tlen, dir, wd};
    for (int i = 1; st == DF_OK && i <= n; i++) {
        if (report_case(b, &tf, i, out)) passed++;
        else (*failed)++;
    }
    if (st == DF_OK) {
        fprintf(out, "%d passed, %d failed\n", passed, *failed);
        if (remove_flat_dir(dir) != 0) fprintf(stderr, "defector: could not remove %s\n", dir);
    }
    lb_free(b);
    watchdog_stop(wd);
    free(rsrc);
    free(tsrc);
    return st;
}

static int is_csv_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 4 && strcmp(name + n - 4, ".csv") == 0) || (n > 7 && strcmp(name + n - 7, ".csv.gz") == 0);
}

/* The values in the data of the columns check asks for (those of files in the folder). */
static df_status data_values(lbridge *b, const df_config *cfg, const char *src, size_t len, const lb_header *headers, int nh,
                             lb_values **values, int *nv, df_error *err)
{
    df_status st = lb_check_needs(b, cfg->rules_path, src, len, cfg->as_of, values, nv, err);
    for (int i = 0; st == DF_OK && i < *nv; i++) {
        int present = 0;
        for (int h = 0; h < nh; h++) present |= strcmp(headers[h].file, (*values)[i].file) == 0;
        if (!present) continue;
        char *path = path_join(cfg->data_dir, (*values)[i].file);
        st = path ? csvload_distinct(path, (*values)[i].column, &(*values)[i].values, 10000, err)
                  : DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
        free(path);
    }
    return st;
}

df_status df_check(const df_config *cfg, FILE *out, int *errors, df_error *err)
{
    char *src = NULL, *text = NULL;
    size_t len = 0;
    lbridge *b = NULL;
    watchdog *wd = NULL;
    lb_header headers[256];
    int nh = 0, warnings = 0;
    *errors = 0;
    df_status st = run_read_file(cfg->rules_path, &src, &len, err);
    DIR *d = NULL;
    if (st == DF_OK && cfg->data_dir && cfg->data_dir[0]) {
        d = opendir(cfg->data_dir);
        if (!d) st = DF_FAIL(err, DF_ERR_IO, cfg->data_dir, "cannot open the data folder: %s", strerror(errno));
        struct dirent *e;
        while (st == DF_OK && d && (e = readdir(d)) && nh < 256) {
            char why[256];
            if (!is_csv_name(e->d_name) || confine_check(cfg->data_dir, e->d_name, why, sizeof why) == -2) continue;
            char *path = path_join(cfg->data_dir, e->d_name);
            headers[nh].file = strdup(e->d_name);
            if (!path || !headers[nh].file) st = DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
            else st = csvload_header(path, &headers[nh].names, &headers[nh].n, err);
            free(path);
            if (st == DF_OK) nh++;
            else free((char *)headers[nh].file);
        }
        if (d) closedir(d);
    }
    if (st == DF_OK) st = run_watch(&wd, cfg, NULL, "defector: rule error", NULL, NULL, err);
    if (st == DF_OK) st = lb_new(&b, err);
    if (st == DF_OK) lb_budget(b, wd, 0);
    lb_values *values = NULL;
    int nv = 0;
    if (st == DF_OK && nh > 0) st = data_values(b, cfg, src, len, headers, nh, &values, &nv, err);
    if (st == DF_OK)
        st = lb_check(b, cfg->rules_path, src, len, cfg->as_of, headers, nh, cfg->data_dir && cfg->data_dir[0], values, nv,
                      &text, errors, &warnings, err);
    for (int i = 0; i < nv; i++) {
        free((char *)values[i].file), free((char *)values[i].column);
        strmap_free(&values[i].values);
    }
    free(values);
    if (st == DF_OK) {
        fputs(text, out);
        if (*errors || warnings) fprintf(out, "%d error(s), %d warning(s)\n", *errors, warnings);
        else fprintf(out, "%s: no problems found\n", cfg->rules_path);
    }
    for (int i = 0; i < nh; i++) {
        for (int k = 0; k < headers[i].n; k++) free(headers[i].names[k]);
        free(headers[i].names);
        free((char *)headers[i].file);
    }
    free(text);
    lb_free(b);
    watchdog_stop(wd);
    free(src);
    return st;
}
