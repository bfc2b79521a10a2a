/* erase.c: `defector erase`, one customer out of the run history (--history DIR, docs/history.md):
 * in every committed night folder (HISTORY/YYYY-MM-DD with its .defector-manifest), the rows of
 * the snapshot customers.csv.gz and of the call lists' planned days call_on_<list>.csv.gz whose key
 * (their first column) is the customer's are dropped, and
 * the customer's key in run_summary.json's examples (duplicates, orphans) becomes "(erased)".
 * Each file is rewritten beside itself (a temporary, fsynced, renamed, the folder fsynced) under
 * the night folder's lock (the one commit.c takes), so a reader sees the whole old file or the
 * whole new one, and a run writing that night is waited for by nobody: erase refuses (exit 6).
 * The metric tables of a night are counts over many customers and are left as they were. */
#define _GNU_SOURCE /* flock */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "defector.h"
#include "error.h"

typedef struct erase_job {
    const char *key;
    size_t keylen;
    unsigned long long rows, nights;
    int mode;
} erase_job;

/* Whether the record rec[0..n) (RFC 4180, its line end included) has key as its first field. */
static int first_field_is(const char *rec, size_t n, const char *key, size_t keylen)
{
    char field[1024];
    size_t k = 0, i = 0;
    if (n && rec[0] == '"') {
        for (i = 1; i < n && k < sizeof field; i++) {
            if (rec[i] == '"' && i + 1 < n && rec[i + 1] == '"') field[k++] = '"', i++;
            else if (rec[i] == '"') break;
            else field[k++] = rec[i];
        }
    } else {
        while (i < n && rec[i] != ',' && rec[i] != '\n' && rec[i] != '\r' && k < sizeof field) field[k++] = rec[i++];
    }
    return k == keylen && memcmp(field, key, keylen) == 0;
}

/* dir/.name.erase-tmp := the records of gz file dir/name but the customer's; renamed over it. */
static df_status erase_gz(erase_job *j, int dfd, const char *night, const char *name, df_error *err)
{
    char where[4300], tmp[300];
    snprintf(where, sizeof where, "%s/%s", night, name);
    snprintf(tmp, sizeof tmp, ".%s.erase-tmp", name);
    int in_fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    if (in_fd < 0) return errno == ENOENT ? DF_OK : DF_FAIL(err, DF_ERR_IO, where, "cannot read the file: %s", strerror(errno));
    int out_fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out_fd < 0) return close(in_fd), DF_FAIL(err, DF_ERR_OUTPUT, where, "cannot write beside the file: %s", strerror(errno));
    struct stat sb;
    if (fstat(in_fd, &sb) == 0) fchmod(out_fd, sb.st_mode & 07777);
    gzFile in = gzdopen(in_fd, "rb"), out = gzdopen(dup(out_fd), "wb1");
    size_t cap = 1 << 16, n = 0;
    char *rec = malloc(cap);
    int quoted = 0, bad = !in || !out || !rec, c;
    unsigned long long dropped = 0, line = 0;
    while (!bad && (c = gzgetc(in)) != -1) {
        if (n + 1 >= cap) {
            char *r = realloc(rec, cap *= 2);
            if (!r) { bad = 1; break; }
            rec = r;
        }
        rec[n++] = (char)c;
        if (c == '"') quoted = !quoted;
        if (c != '\n' || quoted) continue;
        if (line++ > 0 && first_field_is(rec, n, j->key, j->keylen)) dropped++;
        else if (gzwrite(out, rec, (unsigned)n) != (int)n) bad = 1;
        n = 0;
    }
    int zerr = 0;
    if (!bad && in) gzerror(in, &zerr);
    if (!bad && n && gzwrite(out, rec, (unsigned)n) != (int)n) bad = 1;
    free(rec);
    if (in) gzclose(in);
    else close(in_fd);
    if (out && gzclose(out) != Z_OK) bad = 1;
    if (!bad && (zerr != Z_OK && zerr != Z_STREAM_END)) bad = 2;
    if (!bad && fsync(out_fd) != 0) bad = 1;
    close(out_fd);
    if (bad || dropped == 0) {
        unlinkat(dfd, tmp, 0);
        if (bad == 2) return DF_FAIL(err, DF_ERR_IO, where, "the file is damaged (gzip): nothing was changed in it; restore it from a backup");
        if (bad) return DF_FAIL(err, DF_ERR_OUTPUT, where, "cannot rewrite the file without the customer: %s; nothing was changed in it", strerror(errno ? errno : EIO));
        return DF_OK;
    }
    if (renameat(dfd, tmp, dfd, name) != 0 || fsync(dfd) != 0)
        return unlinkat(dfd, tmp, 0), DF_FAIL(err, DF_ERR_OUTPUT, where, "cannot replace the file: %s", strerror(errno));
    j->rows += dropped;
    return DF_OK;
}

/* The night's call_on_<list>.csv.gz files (calls { }: each listed customer's planned call day). */
static df_status erase_plans(erase_job *j, int dfd, const char *night, df_error *err)
{
    int fd = dup(dfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) return fd >= 0 ? close(fd), DF_OK : DF_OK;
    df_status st = DF_OK;
    for (struct dirent *e; st == DF_OK && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 250 && strncmp(e->d_name, "call_on_", 8) == 0 && n > 15 && strcmp(e->d_name + n - 7, ".csv.gz") == 0)
            st = erase_gz(j, dfd, night, e->d_name, err);
    }
    closedir(d);
    return st;
}

/* run_summary.json: "KEY" in its examples becomes "(erased)" (the key quoted exactly). */
static df_status erase_summary(erase_job *j, int dfd, const char *night, df_error *err)
{
    const char *name = "run_summary.json", *tmp = ".run_summary.json.erase-tmp";
    char where[4300], needle[1100];
    snprintf(where, sizeof where, "%s/%s", night, name);
    if (j->keylen > 1000 || strpbrk(j->key, "\"\\")) return DF_OK; /* such a key is written escaped: not an example we can match */
    snprintf(needle, sizeof needle, "\"%s\"", j->key);
    FILE *f = NULL;
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || !(f = fdopen(fd, "rb"))) return fd >= 0 ? close(fd), DF_OK : DF_OK;
    char *text = malloc(1 << 22);
    size_t n = text ? fread(text, 1, (1 << 22) - 1, f) : 0;
    fclose(f);
    if (!text) return DF_FAIL(err, DF_ERR_NOMEM, where, "out of memory");
    text[n] = 0;
    if (!strstr(text, needle)) return free(text), DF_OK;
    int out = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int bad = out < 0;
    for (char *p = text, *q; !bad && p;) {
        q = strstr(p, needle);
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (write(out, p, len) != (ssize_t)len || (q && write(out, "\"(erased)\"", 10) != 10)) bad = 1;
        p = q ? q + strlen(needle) : NULL;
    }
    free(text);
    if (!bad && fsync(out) != 0) bad = 1;
    if (out >= 0) close(out);
    if (bad || renameat(dfd, tmp, dfd, name) != 0) {
        unlinkat(dfd, tmp, 0);
        return DF_FAIL(err, DF_ERR_OUTPUT, where, "cannot rewrite the file: %s", strerror(errno ? errno : EIO));
    }
    fsync(dfd);
    return DF_OK;
}

static int is_night(const char *s)
{
    int32_t d;
    return strlen(s) == 10 && df_parse_date(s, 10, &d) == 0;
}

static df_status erase_night(erase_job *j, const char *history, const char *name, df_error *err)
{
    char night[4200];
    snprintf(night, sizeof night, "%s/%s", history, name);
    int dfd = open(night, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return DF_FAIL(err, DF_ERR_IO, night, "cannot open the night folder: %s", strerror(errno));
    struct stat sb;
    if (fstatat(dfd, ".defector-manifest", &sb, 0) != 0) return close(dfd), DF_OK; /* not committed: never read */
    if (flock(dfd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        close(dfd);
        return DF_FAIL(err, DF_ERR_OUTPUT, night, "a defector run is writing this night; run erase again once it has ended");
    }
    df_status st = erase_gz(j, dfd, night, "customers.csv.gz", err);
    if (st == DF_OK) st = erase_plans(j, dfd, night, err);
    if (st == DF_OK) st = erase_summary(j, dfd, night, err);
    close(dfd); /* releases the lock */
    j->nights++;
    return st;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

df_status df_erase(const char *history, const char *key, FILE *out, df_error *err)
{
    erase_job j = {.key = key, .keylen = strlen(key)};
    DIR *d = opendir(history);
    if (!d) return DF_FAIL(err, DF_ERR_IO, history, "cannot open the history folder: %s (give --history the folder runs keep their nights in)", strerror(errno));
    char *names[8192];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 8192;)
        if (is_night(e->d_name) && (names[n] = strdup(e->d_name))) n++;
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    df_status st = DF_OK;
    for (int i = 0; i < n && st == DF_OK; i++) st = erase_night(&j, history, names[i], err);
    for (int i = 0; i < n; i++) free(names[i]);
    if (st == DF_OK)
        fprintf(out, "erased %s: %llu row%s from %llu night%s in %s\n", key, j.rows, j.rows == 1 ? "" : "s", j.nights,
                j.nights == 1 ? "" : "s", history);
    return st;
}
