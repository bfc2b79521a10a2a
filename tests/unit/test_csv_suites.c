/* test_csv_suites.c: the public CSV test suites of tests/data (csv-spectrum, commons-csv,
 * duckdb-csv) against the outcome table tests/data/csv-suites/expected.tsv. Each file is loaded
 * with every column of its header declared as text, the first one the key: as the entity table
 * four ways (one thread, libcsv only, 3-byte reads, two threads) and as a history of that entity
 * four ways (one thread, two threads with 1 KB blocks as --parse-block-kb 1 gives, three threads
 * with 64-byte blocks through libcsv, two threads with 8 MB blocks); reads and blocks are 1000
 * times bigger for the few texts over 256 KB. Every way of a table must
 * give the same outcome, and that outcome must be the table's: rows, duplicates, orphans, or the
 * exit code and the exact error (where: message). Every data file of the suites must be listed.
 *   test_csv_suites            check (CTest)
 *   test_csv_suites --print    print the table as the loader sees it now (to review, then keep) */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>

#include "csvload.h"
#include "test.h"

#define SUITES "data/csv-suites"

typedef struct way {
    const char *name;
    int threads, libcsv_only;
    size_t chunk, block;
} way;

static const way entity_ways[] = {
    {"1 thread", 1, 0, 0, 0}, {"libcsv only", 1, 1, 0, 0}, {"3-byte reads", 1, 0, 3, 0}, {"2 threads", 2, 0, 0, 0}};
static const way history_ways[] = {{"1 thread", 1, 0, 0, 0},
                                   {"2 threads, 1 KB blocks", 2, 0, 0, 1024},
                                   {"3 threads, 64-byte blocks, libcsv", 3, 1, 5, 64},
                                   {"2 threads, 8 MB blocks", 2, 0, 0, 0}};
#define NWAYS 4

/* s with its bytes outside printable ASCII (and \ and tab) written \xNN, into buf */
static void escape(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 5 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c >= 0x7f || c == '\\') n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", c);
        else buf[n++] = (char)c;
    }
    buf[n] = 0;
}

static void spec_table(table *t, const char *path, int history, char **names, int n)
{
    memset(t, 0, sizeof *t);
    t->name = strdup(history ? "events" : "customers");
    t->file = strdup(strrchr(path, '/') + 1);
    t->path = strdup(path);
    t->is_history = history;
    for (int i = 0; i < n && t->ncols < DF_MAX_COLUMNS; i++) {
        int seen = names[i][0] == 0;
        for (int c = 0; c < t->ncols && !seen; c++) seen = strcmp(t->cols[c].name, names[i]) == 0;
        if (!seen) column_init(&t->cols[t->ncols++], names[i], COL_TEXT);
    }
    if (t->ncols == 0) column_init(&t->cols[t->ncols++], "key", COL_TEXT); /* no header: any key */
    t->key = strdup(t->cols[0].name);
}

/* the messages name files as the run does, by path: kept here relative to tests/data */
static void drop_data_dir(char *s)
{
    char dir[4096];
    size_t n = (size_t)snprintf(dir, sizeof dir, "%s/data/", getenv("TESTS_DIR"));
    for (char *p; (p = strstr(s, dir));) memmove(p, p + n, strlen(p + n) + 1);
}

/* One way: its outcome as the table's field of expected.tsv, and the error as "where: message". */
static df_status load_way(table *t, const table *entity, const way *w, char *outcome, char *message, size_t cap)
{
    uint64_t rejects = 0;
    load_opts o = {.rejects = &rejects, .threads = w->threads, .libcsv_only = w->libcsv_only, .chunk = w->chunk,
                   .block_bytes = w->block};
    df_error err;
    memset(&err, 0, sizeof err);
    df_status st = csvload_table(t, entity, &o, &err);
    if (st != DF_OK) {
        char raw[1024];
        snprintf(raw, sizeof raw, "%.200s: %.800s", err.where, err.message);
        drop_data_dir(raw);
        escape(raw, message, cap);
        snprintf(outcome, cap, "error=%d", (int)st);
    } else if (t->is_history) {
        snprintf(message, cap, "-");
        snprintf(outcome, cap, "rows=%llu orphans=%llu", (unsigned long long)t->nrows,
                 (unsigned long long)t->st.orphans);
    } else {
        snprintf(message, cap, "-");
        snprintf(outcome, cap, "cols=%d rows=%llu dups=%llu", t->ncols, (unsigned long long)t->nrows,
                 (unsigned long long)t->st.duplicates);
    }
    return st;
}

typedef struct result {
    char entity[128], history[128], message[2048];
} result;

/* Loads a table every way into *keep (the first way's table); 0 when every way agrees. */
static int load_ways(const char *rel, table *keep, const table *entity, const way *ways, const char *path,
                     char **names, int n, char *outcome, char *message)
{
    int agree = 1, big = 0;
    for (int i = 0; i < NWAYS; i++) {
        table t;
        char o[128], m[2048];
        way w = ways[i];
        if (big && w.chunk) w.chunk = w.chunk * 1000 + 1; /* tiny reads of megabytes take seconds */
        if (big && w.block && w.block < 1024) w.block *= 1000;
        spec_table(&t, path, entity != NULL, names, n);
        load_way(&t, entity, &w, o, m, sizeof m);
        big = big || t.st.bytes_text > (256 << 10);
        if (i == 0) {
            snprintf(outcome, 128, "%s", o);
            snprintf(message, 2048, "%s", m);
        } else if (strcmp(o, outcome) != 0 || strcmp(m, message) != 0) {
            fprintf(stderr, "%s: %s %s gives %s %s, %s gives %s %s\n", rel, entity ? "history" : "entity",
                    ways[i].name, o, m, ways[0].name, outcome, message);
            agree = 0;
        }
        if (i == 0 && keep) *keep = t;
        else table_free(&t);
    }
    return agree ? 0 : -1;
}

static int outcome_of(const char *rel, result *r)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/data/%s", getenv("TESTS_DIR"), rel);
    char **names = NULL;
    int n = 0;
    df_error err;
    if (csvload_header(path, NULL, &names, &n, &err) != DF_OK) names = NULL, n = 0;
    table entity;
    char hmsg[2048];
    int bad = load_ways(rel, &entity, NULL, entity_ways, path, names, n, r->entity, r->message);
    if (strncmp(r->entity, "error", 5) == 0) { /* histories are read against an empty entity */
        table_free(&entity);
        spec_table(&entity, path, 0, names, n);
        strmap_init(&entity.keys);
    }
    bad |= load_ways(rel, NULL, &entity, history_ways, path, names, n, r->history, hmsg);
    if (strcmp(r->message, "-") == 0) snprintf(r->message, sizeof r->message, "%s", hmsg);
    table_free(&entity);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return bad;
}

/* ---- the data files of the suites (everything but their documentation and licences) ---- */
static char *files[1024];
static int nfiles;

static int is_doc(const char *name)
{
    static const char *const docs[] = {"SOURCE.md", "LICENSE", "LICENSE.txt", "NOTICE.txt",
                                       "INDEX.tsv", "README.txt", "README.md", "expected.tsv"};
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++)
        if (strcmp(name, docs[i]) == 0) return 1;
    size_t n = strlen(name);
    return (n > 9 && strcmp(name + n - 9, ".expected") == 0) ||
           (strncmp(name, "test", 4) == 0 && n > 4 && strcmp(name + n - 4, ".txt") == 0); /* commons-csv control files */
}

static size_t data_dir_len;

static int add_file(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    if (type == FTW_F && !is_doc(path + ftw->base) && nfiles < 1024) files[nfiles++] = strdup(path + data_dir_len);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_files(void)
{
    char dir[4096];
    data_dir_len = (size_t)snprintf(dir, sizeof dir, "%s/data/", getenv("TESTS_DIR"));
    static const char *const suites[] = {"csv-spectrum", "csv-suites"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(dir + data_dir_len, sizeof dir - data_dir_len, "%s", suites[i]);
        nftw(dir, add_file, 16, FTW_PHYS);
    }
    qsort(files, (size_t)nfiles, sizeof *files, by_name);
}

static void print_table(void)
{
    printf("# file\tentity\thistory\tmessage\tnote\n");
    for (int i = 0; i < nfiles; i++) {
        result r;
        int bad = outcome_of(files[i], &r);
        printf("%s\t%s\t%s\t%s\t%s\n", files[i], r.entity, r.history, r.message, bad ? "WAYS DIFFER" : "");
    }
}

static void check_table(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/" SUITES "/expected.tsv", getenv("TESTS_DIR"));
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    static char line[8192];
    int listed[1024] = {0}, rows = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '#' || line[0] == 0) continue;
        char *field[5] = {0};
        char *p = line;
        for (int k = 0; k < 5 && p; k++) {
            field[k] = p;
            p = strchr(p, '\t');
            if (p) *p++ = 0;
        }
        CHECK(field[3] != NULL);
        if (!field[3]) continue;
        rows++;
        for (int i = 0; i < nfiles; i++)
            if (strcmp(files[i], field[0]) == 0) listed[i] = 1;
        result r;
        int agree = outcome_of(field[0], &r) == 0;
        test_checks++;
        if (!agree || strcmp(r.entity, field[1]) != 0 || strcmp(r.history, field[2]) != 0 ||
            strcmp(r.message, field[3]) != 0) {
            test_failures++;
            fprintf(stderr, "%s:\n  expected %s | %s | %s\n  got      %s | %s | %s%s\n", field[0], field[1], field[2],
                    field[3], r.entity, r.history, r.message, agree ? "" : " (and the ways differ)");
        }
    }
    fclose(f);
    for (int i = 0; i < nfiles; i++) {
        test_checks++;
        if (!listed[i]) test_failures++, fprintf(stderr, "%s is not in expected.tsv\n", files[i]);
    }
    printf("%d files checked\n", rows);
}

int main(int argc, char **argv)
{
    list_files();
    if (argc > 1 && strcmp(argv[1], "--print") == 0) {
        print_table();
        return 0;
    }
    check_table();
    TEST_END();
}
