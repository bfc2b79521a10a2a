/* status.c: what a night leaves for the morning, whatever happened (docs/operations.md).
 *   status.json        every run (success or failure): start, end, exit code, the error and
 *                      where, every warning, the inputs read (bytes, SHA-256), the figures
 *   last_success.json  the status of the last run whose outputs were committed
 * Both live in the status folder (--status-dir, default --out), are written atomically (a
 * temporary, fsynced, renamed, the folder fsynced) with the run's file mode, and are not outputs:
 * not in the manifest, not part of the all-or-nothing commit, so a failed run writes its status
 * and leaves the outputs as they were. The guards against the previous night compare tonight's
 * figures with last_success.json's, which this file writes and reads back (a flat layout). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "run.h"
#include "sha256.h"

static time_t started;
static struct timespec started_mono;

void status_start(void)
{
    df_error e;
    if (clock_now(&started, &e) != DF_OK) started = time(NULL);
    clock_gettime(CLOCK_MONOTONIC, &started_mono);
}

/* ---- the text, in a buffer of its own: writing the status allocates nothing, so a run that
 * ran out of memory (or is ended by a budget, from the watchdog's thread) still says so ---- */

#define TEXT_CAP (1 << 18)
static char text_buf[TEXT_CAP], prev_buf[1 << 16];

typedef struct text {
    char *s;
    size_t n, cap;
    int nomem; /* did not fit */
} text;

static void add(text *t, const char *fmt, ...) DF_PRINTF(2, 3);
static void add(text *t, const char *fmt, ...)
{
    if (t->nomem) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
    va_end(ap);
    if (k < 0 || t->n + (size_t)k >= t->cap) t->nomem = 1;
    else t->n += (size_t)k;
}

static void add_str(text *t, const char *s)
{
    add(t, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') add(t, "\\%c", c);
        else if (c < 0x20) add(t, "\\u%04x", c);
        else add(t, "%c", c);
    }
    add(t, "\"");
}

/* ---- the figures ---- */

void status_figures(const run_info *r, const outset *o, void (*fn)(void *ctx, const char *name, double v), void *ctx)
{
    char name[300];
    if (r->score.entities) fn(ctx, "customers", (double)r->score.entities);
    for (int i = 0; i < r->ntables; i++) {
        if (!r->tables[i].st.sha256[0]) continue; /* not read (to its end) */
        snprintf(name, sizeof name, "rows:%s", r->tables[i].name);
        fn(ctx, name, (double)r->tables[i].st.rows_loaded);
    }
    for (int i = 0; o && i < outset_count(o); i++) {
        const csvw *w = outset_file(o, i);
        if (!strcmp(w->name, "run_summary.json")) continue;
        snprintf(name, sizeof name, "list:%s", w->name);
        fn(ctx, name, (double)w->rows);
    }
    for (int i = 0; i < r->ntotals; i++) fn(ctx, r->total_name[i], r->total[i]);
}

/* ---- totals: the sum of an output's column, read back from its finished file ---- */

/* The next field of f (separator sep) into buf; its end: ',' (or sep), '\n', or EOF. */
static int next_field(FILE *f, char sep, char *buf, size_t cap)
{
    size_t n = 0;
    int c = getc(f), quoted = c == '"';
    if (!quoted && c != EOF) ungetc(c, f);
    for (;;) {
        c = getc(f);
        if (c == EOF) break;
        if (quoted && c == '"') {
            int d = getc(f);
            if (d == '"') {
                if (n + 1 < cap) buf[n++] = '"';
                continue;
            }
            quoted = 0;
            if (d == EOF) { c = EOF; break; }
            c = d;
        }
        if (!quoted && (c == sep || c == '\n')) break;
        if (c != '\r' && n + 1 < cap) buf[n++] = (char)c;
    }
    buf[n] = 0;
    return c == sep ? ',' : c;
}

/* The sum of column col of output file in o (finished), into *sum. */
static df_status read_total(const outset *o, const char *figure, const char *file, const char *col, double *sum, df_error *err)
{
    const csvw *w = NULL;
    for (int i = 0; i < outset_count(o); i++)
        if (!strcmp(outset_file(o, i)->name, file)) w = outset_file(o, i);
    char *path = w ? outset_temp_path(o, file) : NULL;
    FILE *f = path ? fopen(path, "rb") : NULL;
    free(path);
    if (!f) return DF_FAIL(err, DF_ERR_OUTPUT, file, "guard %s: cannot read the output back: %s", figure, strerror(w ? errno : ENOENT));
    char field[512];
    int end = 0, idx = -1, k = 0;
    if (getc(f) != 0xEF) rewind(f); /* a byte order mark (bom = true) */
    else getc(f), getc(f);
    while (end != '\n' && end != EOF) {
        end = next_field(f, w->sep ? w->sep : ',', field, sizeof field);
        if (!strcmp(field, col)) idx = k;
        k++;
    }
    df_status st = DF_OK;
    *sum = 0;
    for (uint64_t row = 1; st == DF_OK && end != EOF; row++) {
        for (k = 0, end = 0; end != '\n' && end != EOF; k++) {
            end = next_field(f, w->sep ? w->sep : ',', field, sizeof field);
            if (k != idx || !field[0]) continue;
            if (w->dec_comma)
                for (char *p = field; *p; p++) *p = *p == ',' ? '.' : *p;
            char *stop;
            double v = strtod(field, &stop);
            if (*stop) st = DF_FAIL(err, DF_ERR_RULES, file, "guard %s: row %llu holds '%s', not a number: name a column of numbers", figure, (unsigned long long)row, field);
            else *sum += v;
        }
    }
    fclose(f);
    return st;
}

/* The totals the guards name, into r. */
static df_status read_totals(run_info *r, const outset *o, df_error *err)
{
    df_status st = DF_OK;
    r->ntotals = 0;
    for (int i = 0; i < r->ops.nguards && st == DF_OK; i++) {
        const char *fig = r->ops.guards[i].figure;
        char file[256];
        const char *colon = strrchr(fig, ':');
        if (strncmp(fig, "total:", 6) || !colon || colon - fig - 6 >= (long)sizeof file) continue;
        snprintf(file, sizeof file, "%.*s", (int)(colon - fig - 6), fig + 6);
        snprintf(r->total_name[r->ntotals], sizeof r->total_name[0], "%s", fig);
        st = read_total(o, fig, file, colon + 1, &r->total[r->ntotals], err);
        if (st == DF_OK) r->ntotals++;
    }
    return st;
}

static void add_figure(void *ctx, const char *name, double v)
{
    text *t = ctx;
    add(t, "%s\n    ", t->n && t->s[t->n - 1] == '{' ? "" : ",");
    add_str(t, name);
    add(t, ": %.15g", v);
}

/* ---- reading last_success.json back: a flat object of "name": value pairs ---- */

/* The value (a number, or a string without escapes into sval) of key in the object named obj of
 * text; 0 when found. */
static int lookup(const char *json, const char *obj, const char *key, double *num, char *sval, size_t cap)
{
    char head[64];
    snprintf(head, sizeof head, "\"%s\": {", obj);
    const char *p = json ? strstr(json, head) : NULL;
    if (!p) return -1;
    const char *end = strchr(p, '}');
    size_t kn = strlen(key);
    for (p += strlen(head); p && p < end; p = strchr(p + 1, '"')) {
        if (*p != '"' || strncmp(p + 1, key, kn) != 0 || strncmp(p + 1 + kn, "\": ", 3) != 0) continue;
        const char *v = p + kn + 4;
        if (*v == '"' && sval) {
            const char *q = strchr(v + 1, '"');
            if (!q || (size_t)(q - v - 1) >= cap) return -1;
            memcpy(sval, v + 1, (size_t)(q - v - 1));
            sval[q - v - 1] = 0;
            return 0;
        }
        if (*v != '"' && num) return *num = strtod(v, NULL), 0;
        return -1;
    }
    return -1;
}

/* A top-level string field of the file ("as_of"). */
static void top_string(const char *json, const char *key, char *out, size_t cap)
{
    char head[64];
    snprintf(head, sizeof head, "\n  \"%s\": \"", key);
    const char *p = json ? strstr(json, head) : NULL;
    out[0] = 0;
    if (!p) return;
    p += strlen(head);
    const char *q = strchr(p, '"');
    if (q && (size_t)(q - p) < cap) memcpy(out, p, (size_t)(q - p)), out[q - p] = 0;
}

static const char *status_dir(const run_info *r)
{
    return r->cfg->status_dir && r->cfg->status_dir[0] ? r->cfg->status_dir : r->cfg->out_dir;
}

/* last_success.json, read into prev_buf (NULL when there is none). */
static const char *read_last_success(const run_info *r)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/last_success.json", status_dir(r));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t n = 0;
    ssize_t k;
    while (n < sizeof prev_buf - 1 && (k = read(fd, prev_buf + n, sizeof prev_buf - 1 - n)) != 0) {
        if (k > 0) n += (size_t)k;
        else if (errno != EINTR) break;
    }
    close(fd);
    prev_buf[n] = 0;
    return prev_buf;
}

/* ---- the guards against the previous night ---- */

typedef struct guard_ctx {
    run_info *r;
    const char *prev;
    char prev_as_of[16];
    df_error *err;
    df_status st;
} guard_ctx;

static void check_figure(void *ctx, const char *name, double now)
{
    guard_ctx *g = ctx;
    for (int i = 0; i < g->r->ops.nguards && g->st == DF_OK; i++) {
        const ops_guard *gd = &g->r->ops.guards[i];
        double before;
        if (strcmp(gd->figure, name) || lookup(g->prev, "figures", name, &before, NULL, 0) != 0) continue;
        double change = before > 0 ? 100 * (now - before) / before : now > 0 ? INFINITY : 0;
        const char *what = NULL;
        double limit = 0;
        if (gd->max_drop >= 0 && -change > gd->max_drop) what = "drop", limit = gd->max_drop;
        else if (gd->max_rise >= 0 && change > gd->max_rise) what = "rise", limit = gd->max_rise;
        if (!what) continue;
        g->st = DF_FAIL(g->err, DF_ERR_DATA, g->r->cfg->rules_path,
                        "guard %s: %.15g tonight against %.15g on the previous night (as of %s), a %s of %.1f%%, more than "
                        "max_%s = %g allows (operations { guards }); check tonight's exports, or, when the change is "
                        "real, run once with --no-guards (or change the guard)",
                        name, now, before, g->prev_as_of, what, fabs(change), what, limit);
    }
}

static void add_warning(run_info *r, const char *fmt, ...) DF_PRINTF(2, 3);
static void add_warning(run_info *r, const char *fmt, ...)
{
    if (r->nwarn >= DF_MAX_RUN_WARNINGS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->warn[r->nwarn++], sizeof r->warn[0], fmt, ap);
    va_end(ap);
}

df_status status_guards(run_info *r, const outset *o, df_error *err)
{
    df_status st = read_totals(r, o, err);
    if (st != DF_OK) return st;
    const char *prev = read_last_success(r);
    guard_ctx g = {.r = r, .prev = prev, .err = err, .st = DF_OK};
    char as_of[16];
    df_format_date(r->cfg->as_of, as_of);
    top_string(prev, "as_of", g.prev_as_of, sizeof g.prev_as_of);
    /* only against an earlier night: a re-run of a night (or of an older one) has no "yesterday" here */
    if (!prev || !g.prev_as_of[0] || strcmp(g.prev_as_of, as_of) >= 0) return DF_OK;
    status_figures(r, o, check_figure, &g);
    for (int i = 0; i < r->ntables && g.st == DF_OK && r->ops.same_input; i++) {
        const table *t = &r->tables[i];
        char before[80];
        if (!t->st.sha256[0] || lookup(prev, "input_sha256", t->name, NULL, before, sizeof before) != 0) continue;
        if (strcmp(before, t->st.sha256)) continue;
        if (r->ops.same_input == 2)
            g.st = DF_FAIL(err, DF_ERR_DATA, t->path,
                           "the same file as on the previous night (as of %s): SHA-256 %.16s...; was tonight's export made? "
                           "(operations { guards = { same_input = \"fail\" } })",
                           g.prev_as_of, t->st.sha256);
        else
            add_warning(r, "%s: the same file as on the previous night (as of %s), SHA-256 %.16s...: was tonight's export made?",
                        t->path, g.prev_as_of, t->st.sha256);
    }
    return g.st;
}

/* ---- writing ---- */

static int file_mode(const run_info *r)
{
    return r->cfg->file_mode ? r->cfg->file_mode : 0640;
}

/* name in the status folder := t, atomically and durably; -1 with errno. */
static int write_atomic(const run_info *r, const char *name, const text *t)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/%s", status_dir(r), name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp-%ld", status_dir(r), name, (long)getpid());
    int e = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, file_mode(r));
    if (fd < 0) e = errno;
    if (!e && fchmod(fd, (mode_t)file_mode(r)) != 0) e = errno;
    for (size_t done = 0; !e && done < t->n;) {
        ssize_t k = write(fd, t->s + done, t->n - done);
        if (k > 0) done += (size_t)k;
        else if (k < 0 && errno != EINTR) e = errno;
    }
    if (!e && fsync(fd) != 0) e = errno;
    if (fd >= 0 && close(fd) != 0 && !e) e = errno;
    if (!e && rename(tmp, path) != 0) e = errno;
    if (e) unlink(tmp);
    int dfd = e ? -1 : open(status_dir(r), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) fsync(dfd), close(dfd);
    return e ? (errno = e, -1) : 0;
}

static void add_inputs(text *t, const run_info *r)
{
    add(t, "  \"inputs\": [");
    for (int i = 0, k = 0; i < r->ntables; i++) {
        const table *x = &r->tables[i];
        if (!x->path) continue;
        add(t, "%s\n    {\"table\": ", k++ ? "," : "");
        add_str(t, x->name);
        add(t, ", \"path\": ");
        add_str(t, x->path);
        add(t, ", \"bytes\": %llu, \"rows_loaded\": %llu, \"sha256\": ", (unsigned long long)x->st.bytes,
            (unsigned long long)x->st.rows_loaded);
        if (x->st.sha256[0]) add_str(t, x->st.sha256);
        else add(t, "null");
        add(t, "}");
    }
    add(t, "%s],\n  \"input_sha256\": {", r->ntables ? "\n  " : "");
    for (int i = 0, k = 0; i < r->ntables; i++) {
        if (!r->tables[i].st.sha256[0]) continue;
        add(t, "%s\n    ", k++ ? "," : "");
        add_str(t, r->tables[i].name);
        add(t, ": \"%s\"", r->tables[i].st.sha256);
    }
    add(t, "\n  },\n");
}

static void add_error(text *t, df_status st, const df_error *err)
{
    if (st == DF_OK || !err) return add(t, "  \"error\": null,\n");
    add(t, "  \"error\": {\"where\": ");
    add_str(t, err->where);
    add(t, ", \"message\": ");
    add_str(t, err->message);
    add(t, ", \"raised_at\": \"%s:%d\"},\n", err->src_file ? err->src_file : "?", err->src_line);
}

/* The status of this run, as JSON; prev_success: the last success's "finished" and "as_of". */
static void status_text(text *t, const run_info *r, const outset *o, df_status st, const df_error *err, const char *prev)
{
    char now_iso[32], start_iso[32], as_of[16], lf[32] = "", la[16] = "";
    time_t now;
    df_error e;
    struct timespec m;
    clock_gettime(CLOCK_MONOTONIC, &m);
    if (clock_now(&now, &e) != DF_OK) now = time(NULL);
    if (started) {
        /* a fixed clock (DEFECTOR_NOW) does not move: the end is the start plus the time taken */
        now = started + (time_t)((double)(m.tv_sec - started_mono.tv_sec) + 1e-9 * (double)(m.tv_nsec - started_mono.tv_nsec));
    }
    clock_iso(started ? started : now, start_iso);
    clock_iso(now, now_iso);
    df_format_date(r->cfg->as_of, as_of);
    double secs = (double)(m.tv_sec - started_mono.tv_sec) + 1e-9 * (double)(m.tv_nsec - started_mono.tv_nsec);
    if (st == STATUS_RUNNING) /* written when the run has its lock: a run killed after it stays "running", its pid gone */
        add(t, "{\n  \"engine\": \"defector %s\",\n  \"started\": \"%s\",\n  \"finished\": null,\n  \"seconds\": null,\n"
               "  \"exit_code\": null,\n  \"status\": \"running\",\n  \"pid\": %ld,\n", DF_VERSION, start_iso, (long)getpid());
    else
        add(t, "{\n  \"engine\": \"defector %s\",\n  \"started\": \"%s\",\n  \"finished\": \"%s\",\n  \"seconds\": %.3f,\n"
               "  \"exit_code\": %d,\n  \"status\": \"%s\",\n  \"pid\": %ld,\n",
            DF_VERSION, start_iso, now_iso, secs, (int)st, df_status_name(st), (long)getpid());
    add(t, "  \"rules\": ");
    add_str(t, r->cfg->rules_path ? r->cfg->rules_path : "");
    add(t, ",\n  \"out\": ");
    add_str(t, r->cfg->out_dir ? r->cfg->out_dir : "");
    add(t, ",\n  \"as_of\": \"%s\",\n  \"time_zone\": ", as_of);
    const char *zone = "UTC";
    if (clock_zone(r->cfg->time_zone, &zone, &e) != DF_OK) zone = "UTC";
    add_str(t, zone);
    add(t, ",\n  \"outputs_committed\": %s,\n", r->committed ? "true" : "false");
    add_error(t, st, err);
    add(t, "  \"warnings\": [");
    for (int i = 0; i < r->nwarn; i++) {
        add(t, "%s\n    ", i ? "," : "");
        add_str(t, r->warn[i]);
    }
    add(t, "%s],\n", r->nwarn ? "\n  " : "");
    add_inputs(t, r);
    add(t, "  \"figures\": {");
    status_figures(r, r->committed ? o : NULL, add_figure, t);

    add(t, "\n  },\n  \"delivery\": ");
    if (r->delivery_rc < 0 || !r->cfg->on_success) add(t, "null");
    else {
        add(t, "{\"command\": ");
        add_str(t, r->cfg->on_success);
        add(t, ", \"exit_code\": %d}", r->delivery_rc);
    }
    top_string(prev, "finished", lf, sizeof lf);
    top_string(prev, "as_of", la, sizeof la);
    if (r->committed) snprintf(lf, sizeof lf, "%s", now_iso), snprintf(la, sizeof la, "%s", as_of);
    add(t, ",\n  \"last_success\": ");
    if (lf[0]) add(t, "{\"finished\": \"%s\", \"as_of\": \"%s\"}", lf, la);
    else add(t, "null");
    add(t, "\n}\n");
}

/* The status folder and its missing parents (--status-dir may name a new one). */
static void make_dirs(const char *dir)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) return;
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') *p = 0, mkdir(tmp, 0777), *p = '/';
    mkdir(tmp, 0777);
}

void status_write(const run_info *r, const outset *o, df_status st, const df_error *err)
{
    if (!r->cfg->out_dir || !r->cfg->out_dir[0]) return;
    if (r->cfg->status_dir && r->cfg->status_dir[0]) make_dirs(r->cfg->status_dir);
    const char *prev = read_last_success(r);
    text t = {.s = text_buf, .cap = TEXT_CAP};
    status_text(&t, r, o, st, err, prev);
    const char *dir = status_dir(r);
    if (t.nomem) fprintf(stderr, "defector: warning: the status of this run is too long for status.json; it was not written in %s\n", dir);
    else if (write_atomic(r, "status.json", &t) != 0 || (r->committed && write_atomic(r, "last_success.json", &t) != 0))
        fprintf(stderr, "defector: warning: %s: cannot write the status file: %s; monitoring will not see this run\n", dir,
                strerror(errno));
}
