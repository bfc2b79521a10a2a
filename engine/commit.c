/* commit.c: the output folder (--out) of a run and the all-or-nothing commit of its files (the
 * contract is in output.h). What the folder holds besides the outputs and the user's files:
 *   .defector-manifest      the names the last committed run wrote, one a line
 *   .defector-staging/      only during a run (or after a kill): NAME.tmp, this run's files;
 *                           NAME.old, the previous version of a file the commit replaces or
 *                           removes (a hard link, or a copy where links are not supported);
 *                           .journal, the commit's plan once it starts changing --out
 * The commit: (1) every file finished and fsynced, the new manifest written; (2) the plan: R
 * (replace), N (new) or D (remove, a file of the previous manifest this run did not write);
 * a target that is a folder refuses it; (3) NAME.old for every R and D, staging fsynced;
 * (4) the journal written, fsynced, renamed into place; (5) the files renamed into --out, the
 * D files unlinked, --out fsynced; (6) the journal unlinked, staging fsynced: committed;
 * (7) staging removed. A failure in (1)-(4) has changed nothing outside staging; one in (5)-(6)
 * is undone at once by rollback(); a kill in (5)-(6) is undone by the next run, which finds the
 * journal and runs the same rollback (idempotent: it may itself be interrupted). Invariant: from
 * the first change to --out until the commit point, .journal describes every change. */
#define _GNU_SOURCE /* flock, DT_REG, getdents64 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "output.h"

#define STAGING ".defector-staging"
#define MANIFEST ".defector-manifest"
#define JOURNAL ".journal"
#define LOCKFILE ".defector-lock" /* who holds the folder's lock: "pid PID\nstarted TIME\nhost HOST\n" */
#define SMALL_FILE (1 << 20) /* a manifest, a journal, a run_summary.json: read whole */

typedef struct entry {
    char *name;
    char kind; /* 'R' replaces a file (NAME.old kept), 'N' a new file, 'D' removes one (NAME.old kept) */
} entry;

typedef struct plan {
    entry *e;
    int n, cap;
} plan;

struct outset {
    char *dir;
    int dfd, sfd;          /* --out and the staging folder (-1: not open) */
    int staged;            /* the staging folder is this run's (removed by free) */
    int keep_staging;      /* a rollback failed: the journal stays for the next run */
    int committed;
    csvw **files;
    int n, cap;
    char *removed;         /* after a commit: "a, b", the earlier run's files it removed */
    int nmade, made_cap;   /* folders this run created for --out, outermost first, */
    char **made;           /* removed again when the run fails */
    int mode;              /* the mode of every file written (--file-mode) */
    int lockfile;          /* LOCKFILE is this run's (removed by free) */
    int finished;          /* every file written out and closed (outset_finish) */
    int busy;              /* refused: another run holds the lock */
    int in_memory;         /* no folder: every file a writer in memory (outset_new_memory) */
};

int output_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 200 || name[0] == '.') return 0;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '/' || (unsigned char)name[i] < 0x20 || name[i] == 0x7f) return 0;
    return 1;
}

/* ---- messages ---- */

/* How to fix an I/O error on the output folder, by errno. */
static const char *hint(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT: return "free space on the disk that holds %s (or give another --out) and run again";
    case EROFS: return "%s is on a read-only file system: give another --out";
    case EACCES:
    case EPERM: return "check that you may write in %s (or give another --out)";
    case EIO: return "the disk reported an error: check the disk that holds %s (or give another --out)";
    default: return "check %s (or give another --out) and run again";
    }
}

/* An error about the file name in --out ("" for the folder itself): "WHERE: WHAT: strerror; how". */
static df_status io_fail(const outset *o, df_error *err, const char *name, const char *what, int e)
{
    char where[600], how[700];
    if (e == ENOMEM) return DF_FAIL(err, DF_ERR_NOMEM, name, "out of memory");
    if (name[0]) snprintf(where, sizeof where, "%s/%s", o->dir, name);
    else snprintf(where, sizeof where, "%s", o->dir);
    snprintf(how, sizeof how, hint(e), o->dir);
    return DF_FAIL(err, DF_ERR_OUTPUT, where, "%s: %s; %s", what, strerror(e), how);
}

static void warn(const outset *o, const char *fmt, ...) DF_PRINTF(2, 3);
static void warn(const outset *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "defector: warning: %s: ", o->dir);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- small helpers over descriptors ---- */

static void tmp_name(char *buf, size_t cap, const char *name, const char *suffix)
{
    snprintf(buf, cap, "%s.%s", name, suffix);
}

/* A whole small file into *buf (NUL-terminated, malloc'd); 0, or -1 with errno (ENOENT: none). */
static int read_small(int dirfd, const char *name, char **buf)
{
    *buf = NULL;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    char *b = malloc(SMALL_FILE + 1);
    size_t n = 0;
    ssize_t k = 0;
    while (b && n < SMALL_FILE && (k = read(fd, b + n, SMALL_FILE - n)) != 0) {
        if (k > 0) n += (size_t)k;
        else if (errno != EINTR) break;
    }
    int e = !b ? ENOMEM : k < 0 ? errno : 0;
    close(fd);
    if (e) return free(b), errno = e, -1;
    b[n] = 0;
    *buf = b;
    return 0;
}

/* name in dirfd := text, durably (written, fsynced, closed). */
static int write_small(int dirfd, const char *name, const char *text, size_t n)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < n) {
        ssize_t k = write(fd, text + done, n - done);
        if (k > 0) done += (size_t)k;
        else if (k == 0 || errno != EINTR) break;
    }
    int e = done < n ? (errno ? errno : EIO) : fsync(fd) != 0 ? errno : 0;
    if (close(fd) != 0 && !e) e = errno;
    return e ? (errno = e, -1) : 0;
}

/* Calls fn for every entry of the folder dirfd (but . and ..); stops at the first nonzero.
 * Reads the names with getdents64 into a buffer on the stack: no allocation, so the staging
 * folder is removed after a commit even when memory has run out. */
static int each_entry(int dirfd, int (*fn)(void *ctx, const char *name, unsigned char type), void *ctx)
{
    _Alignas(struct dirent64) char buf[8192];
    if (lseek(dirfd, 0, SEEK_SET) != 0) return -1;
    ssize_t n = 0;
    int r = 0;
    while (r == 0 && (n = getdents64(dirfd, buf, sizeof buf)) > 0)
        for (ssize_t off = 0; r == 0 && off < n;) {
            const struct dirent64 *e = (const struct dirent64 *)(buf + off);
            off += e->d_reclen;
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) r = fn(ctx, e->d_name, e->d_type);
        }
    return r ? r : n < 0 ? -1 : 0;
}

/* ---- the old set: the previous manifest, or (a folder of an earlier version) run_summary.json ---- */

typedef struct names {
    char **v;
    int n, cap;
} names;

static int names_add(names *s, const char *name, size_t len)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        char **v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        s->v = v, s->cap = cap;
    }
    if (!(s->v[s->n] = strndup(name, len))) return -1;
    s->n++;
    return 0;
}

static int names_has(const names *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0) return 1;
    return 0;
}

static void names_free(names *s)
{
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Adds name (len bytes) when it is a name outset_open would accept. */
static int add_valid(names *s, const char *name, size_t len)
{
    char tmp[256];
    if (len == 0 || len >= sizeof tmp) return 0;
    memcpy(tmp, name, len);
    tmp[len] = 0;
    return output_name_ok(tmp) ? names_add(s, tmp, len) : 0;
}

static int parse_manifest(const char *text, names *s)
{
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (*p != '#' && add_valid(s, p, len) != 0) return -1;
        p += len + (e != NULL);
    }
    return 0;
}

/* The names of run_summary.json's "outputs" object, and run_summary.json itself. */
static int parse_summary(const char *text, names *s)
{
    const char *p = strstr(text, "\"outputs\": {");
    if (!p) return 0;
    for (p += 12;;) {
        while (*p == ' ' || *p == '\n' || *p == ',') p++;
        if (*p != '"') break;
        const char *q = strchr(p + 1, '"');
        if (!q || add_valid(s, p + 1, (size_t)(q - p - 1)) != 0) return q ? -1 : 0;
        p = strchr(q, '}');
        if (!p++) break;
    }
    return names_add(s, "run_summary.json", 16);
}

static df_status read_old_set(outset *o, names *old, df_error *err)
{
    char *text;
    int manifest = 1;
    int r = read_small(o->dfd, MANIFEST, &text);
    if (r != 0 && errno == ENOENT) manifest = 0, r = read_small(o->dfd, "run_summary.json", &text);
    if (r != 0 && errno == ENOENT) return DF_OK;
    if (r != 0)
        return io_fail(o, err, manifest ? MANIFEST : "run_summary.json",
                       "cannot read the file (it says which files the last run wrote)", errno);
    r = manifest ? parse_manifest(text, old) : parse_summary(text, old);
    free(text);
    return r != 0 ? DF_FAIL(err, DF_ERR_NOMEM, o->dir, "out of memory") : DF_OK;
}

/* ---- the plan and its journal ---- */

static int plan_add(plan *p, const char *name, char kind)
{
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 16;
        entry *e = realloc(p->e, (size_t)cap * sizeof *e);
        if (!e) return -1;
        p->e = e, p->cap = cap;
    }
    if (!(p->e[p->n].name = strdup(name))) return -1;
    p->e[p->n++].kind = kind;
    return 0;
}

static void plan_free(plan *p)
{
    for (int i = 0; i < p->n; i++) free(p->e[i].name);
    free(p->e);
    memset(p, 0, sizeof *p);
}

/* "defector-journal 1", one "KIND NAME" line per entry, "end": malloc'd. */
static char *journal_text(const plan *p, size_t *len)
{
    size_t cap = 64;
    for (int i = 0; i < p->n; i++) cap += strlen(p->e[i].name) + 3;
    char *t = malloc(cap);
    if (!t) return NULL;
    size_t n = (size_t)snprintf(t, cap, "defector-journal 1\n");
    for (int i = 0; i < p->n; i++) n += (size_t)snprintf(t + n, cap - n, "%c %s\n", p->e[i].kind, p->e[i].name);
    n += (size_t)snprintf(t + n, cap - n, "end\n");
    *len = n;
    return t;
}

/* The journal a killed run left: 1 (into p), 0 when there is none, -1 with errno; EINVAL when
 * it is damaged. */
static int read_journal(int sfd, plan *p)
{
    char *text;
    if (read_small(sfd, JOURNAL, &text) != 0) return errno == ENOENT ? 0 : -1;
    int ok = strncmp(text, "defector-journal 1\n", 19) == 0, done = 0;
    for (char *line = text + 19; ok && *line && !done;) {
        char *e = strchr(line, '\n');
        if (!e) break;
        *e = 0;
        if (strcmp(line, "end") == 0) done = 1;
        else if ((line[0] == 'R' || line[0] == 'N' || line[0] == 'D') && line[1] == ' ' &&
                 (output_name_ok(line + 2) || strcmp(line + 2, MANIFEST) == 0))
            ok = plan_add(p, line + 2, line[0]) == 0 || (errno = ENOMEM, 0);
        else ok = 0, errno = EINVAL;
        line = e + 1;
    }
    free(text);
    if (ok && !done) errno = EINVAL;
    return ok && done ? 1 : -1;
}

/* Puts --out back as it was before the plan's changes: every NAME.old renamed back, every
 * new file that had no previous version removed (unless it never left staging). Safe to run
 * again after it was interrupted. 0, or -1 with the first errno (it goes on past failures). */
static int rollback(const outset *o, const plan *p)
{
    int bad = 0;
    for (int i = p->n - 1; i >= 0; i--) {
        const entry *e = &p->e[i];
        char side[300];
        struct stat sb;
        if (e->kind == 'N') {
            tmp_name(side, sizeof side, e->name, "tmp");
            if (fstatat(o->sfd, side, &sb, AT_SYMLINK_NOFOLLOW) == 0) continue; /* never moved */
            if (unlinkat(o->dfd, e->name, 0) != 0 && errno != ENOENT && !bad) bad = errno;
        } else {
            tmp_name(side, sizeof side, e->name, "old");
            if (renameat(o->sfd, side, o->dfd, e->name) != 0 && errno != ENOENT && !bad) bad = errno;
        }
    }
    if (fsync(o->dfd) != 0 && !bad) bad = errno;
    return bad ? (errno = bad, -1) : 0;
}

/* ---- the staging folder ---- */

static int unlink_entry(void *ctx, const char *name, unsigned char type)
{
    (void)type;
    int *k = ctx;
    if (unlinkat(k[0], name, 0) != 0) return errno == ENOENT ? 0 : -1;
    k[1]++;
    return 0;
}

/* Removes the staging folder: the journal first (a kill after that leaves only files to
 * remove), then the rest. Returns how many files it removed, or -1 with errno. */
static int clear_staging(outset *o)
{
    int k[2] = {o->sfd, 0};
    if (o->sfd >= 0) {
        if (unlinkat(o->sfd, JOURNAL, 0) == 0) k[1]++;
        else if (errno != ENOENT) return -1;
        if (each_entry(o->sfd, unlink_entry, k) != 0) return -1;
        close(o->sfd);
        o->sfd = -1;
    }
    o->staged = 0;
    if (unlinkat(o->dfd, STAGING, AT_REMOVEDIR) != 0) return -1;
    return k[1];
}

/* ".NAME.tmp-PID" in --out: a temporary of an earlier version of the engine; removed when
 * that process is gone. */
static int legacy_temp(void *ctx, const char *name, unsigned char type)
{
    int *k = ctx;
    const char *t = NULL;
    for (const char *s = name; (s = strstr(s, ".tmp-")); s++) t = s;
    if (name[0] != '.' || !t || t == name || (type != DT_REG && type != DT_UNKNOWN)) return 0;
    char *end;
    long pid = strtol(t + 5, &end, 10);
    if (t[5] < '0' || t[5] > '9' || *end || pid <= 0 || pid == (long)getpid()) return 0;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) return 0; /* that process still runs */
    if (unlinkat(k[0], name, 0) == 0) k[1]++;
    return 0;
}

/* What a killed run left: a journal (its changes are undone), staging files, old temporaries. */
static df_status recover(outset *o, df_error *err)
{
    o->sfd = openat(o->dfd, STAGING, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (o->sfd < 0 && errno != ENOENT)
        return io_fail(o, err, "", "cannot look into the folder " STAGING " a stopped run may have left", errno);
    int removed = 0;
    if (o->sfd >= 0) {
        plan p = {0};
        int r = read_journal(o->sfd, &p);
        if (r < 0 || (r == 1 && rollback(o, &p) != 0)) {
            int e = errno;
            plan_free(&p);
            if (e == EINVAL)
                return DF_FAIL(err, DF_ERR_OUTPUT, o->dir,
                               "a stopped run left a damaged journal in %s/" STAGING "; check the outputs, then remove that folder", o->dir);
            return io_fail(o, err, "", "a run was stopped while it moved its outputs into place, and its changes cannot be undone", e);
        }
        plan_free(&p);
        if (r == 1) warn(o, "a run was stopped while it moved its outputs into place; the files it had replaced were put back");
        removed = clear_staging(o);
        if (removed < 0) return io_fail(o, err, "", "cannot remove the folder " STAGING " a stopped run left", errno);
        if (r == 1) removed = 0;
        else if (removed == 0) warn(o, "removed the empty folder " STAGING " an earlier run left");
    }
    int k[2] = {o->dfd, 0};
    each_entry(o->dfd, legacy_temp, k);
    removed += k[1];
    if (removed > 0) warn(o, "removed %d temporary files left by a run that was stopped (killed or crashed)", removed);
    return DF_OK;
}

/* ---- the folder ---- */

/* Creates dir and its missing parents; the ones it created are remembered in o->made. */
static int mkdirs(outset *o, const char *dir)
{
    char tmp[4096];
    if (!dir[0]) return errno = ENOENT, -1;
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) return errno = ENAMETOOLONG, -1;
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p != 0) continue;
        char c = *p;
        *p = 0;
        if (mkdir(tmp, 0777) == 0) {
            if (o->nmade == o->made_cap) {
                int cap = o->made_cap ? o->made_cap * 2 : 8;
                char **m = realloc(o->made, (size_t)cap * sizeof *m);
                if (!m) return rmdir(tmp), errno = ENOMEM, -1;
                o->made = m, o->made_cap = cap;
            }
            if (!(o->made[o->nmade] = strdup(tmp))) return rmdir(tmp), errno = ENOMEM, -1;
            o->nmade++;
        } else if (errno != EEXIST) {
            return -1;
        }
        *p = c;
        if (!c) return 0;
    }
}

/* A failed run leaves --out as it found it: the folders it created are removed (only if empty). */
static void remove_made(const outset *o)
{
    for (int i = o->nmade - 1; i >= 0; i--) rmdir(o->made[i]);
}

/* ---- the lock: one run at a time per folder ----
 * flock on the folder is the lock (the kernel drops it when a run dies, however it dies);
 * LOCKFILE says who holds it, for the message of a run that is refused. A LOCKFILE found by the
 * run that got the lock was left by a run that was killed: said, and replaced. On a file system
 * without flock (some network shares) LOCKFILE, made with O_EXCL, is the lock itself: one whose
 * process is gone (same host) is stale and cleared. */

/* LOCKFILE's "pid N, started T on HOST" into buf ("" when there is none); its pid and host. */
static void lock_holder(const outset *o, char *buf, size_t cap, long *pid, char *host, size_t hcap)
{
    char *t;
    buf[0] = 0, *pid = 0, host[0] = 0;
    if (read_small(o->dfd, LOCKFILE, &t) != 0) return;
    char started[64] = "?";
    const char *p = strstr(t, "pid "), *s = strstr(t, "started "), *h = strstr(t, "host ");
    if (p) *pid = strtol(p + 4, NULL, 10);
    if (s) sscanf(s + 8, "%63s", started);
    if (h) snprintf(host, hcap, "%.*s", (int)strcspn(h + 5, "\n"), h + 5);
    snprintf(buf, cap, "pid %ld, started %s%s%s", *pid, started, host[0] ? " on " : "", host);
    free(t);
}

static int write_lockfile(outset *o, int excl)
{
    char text[400], host[256] = "", when[32];
    time_t now = time(NULL);
    struct tm tm;
    gethostname(host, sizeof host - 1);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    int n = snprintf(text, sizeof text, "pid %ld\nstarted %s\nhost %s\n", (long)getpid(), when, host);
    if (!excl) unlinkat(o->dfd, LOCKFILE, 0);
    int fd = openat(o->dfd, LOCKFILE, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    int ok = write(fd, text, (size_t)n) == n;
    if (close(fd) != 0) ok = 0;
    if (!ok) unlinkat(o->dfd, LOCKFILE, 0);
    o->lockfile = ok;
    return ok ? 0 : -1;
}

/* On a file system without flock: LOCKFILE made exclusively; a stale one (its process gone on
 * this host) cleared once. */
static int lock_by_file(outset *o, char *holder, size_t cap, df_error *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (write_lockfile(o, 1) == 0) return 0;
        if (errno != EEXIST) return io_fail(o, err, LOCKFILE, "cannot create the lock file", errno), -1;
        long pid;
        char host[256], me[256] = "";
        lock_holder(o, holder, cap, &pid, host, sizeof host);
        gethostname(me, sizeof me - 1);
        if (pid <= 0 || strcmp(host, me) || kill((pid_t)pid, 0) == 0 || errno != ESRCH) break;
        warn(o, "a run (%s) ended without releasing its lock (it was killed?); its lock was cleared", holder);
        unlinkat(o->dfd, LOCKFILE, 0);
    }
    return 1;
}

static df_status take_lock(outset *o, double wait, df_error *err)
{
    char holder[400] = "";
    long pid;
    char host[256];
    for (double waited = 0;; waited += 0.1) {
        int busy = 0, r = flock(o->dfd, LOCK_EX | LOCK_NB);
        if (r != 0 && errno != EWOULDBLOCK) { /* no flock on this file system */
            busy = lock_by_file(o, holder, sizeof holder, err);
            if (busy < 0) return DF_ERR_OUTPUT;
        } else if (r != 0) {
            busy = 1;
            lock_holder(o, holder, sizeof holder, &pid, host, sizeof host);
        } else {
            lock_holder(o, holder, sizeof holder, &pid, host, sizeof host);
            if (holder[0])
                warn(o, "a run (%s) was stopped without releasing its lock (killed, or the machine stopped); the lock was cleared", holder);
            /* only a note for the messages where flock works: a full or read-only disk is said
             * by what fails next, in its own words */
            write_lockfile(o, 0);
        }
        if (!busy) return DF_OK;
        if (waited >= wait) break;
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    char waited[64] = "";
    o->busy = 1;
    if (wait > 0) snprintf(waited, sizeof waited, " (waited %g s, --wait-lock)", wait);
    return DF_FAIL(err, DF_ERR_OUTPUT, o->dir,
                   "another defector run%s%s%s is writing its outputs to this folder%s; wait for it to end (or give "
                   "--wait-lock SECONDS), or give this run another --out",
                   holder[0] ? " (" : "", holder, holder[0] ? ")" : "", waited);
}

static df_status open_folder(outset *o, double wait, df_error *err)
{
    if (mkdirs(o, o->dir) != 0) return io_fail(o, err, "", "cannot create the output folder", errno);
    o->dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (o->dfd < 0) return io_fail(o, err, "", "cannot open the output folder", errno);
    return take_lock(o, wait, err);
}

static df_status open_staging(outset *o, df_error *err)
{
    if (mkdirat(o->dfd, STAGING, 0777) != 0) return io_fail(o, err, "", "cannot write in the output folder", errno);
    o->staged = 1;
    o->sfd = openat(o->dfd, STAGING, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (o->sfd < 0) return io_fail(o, err, "", "cannot write in the output folder", errno);
    return DF_OK;
}

df_status outset_new(const char *dir, outset **out, df_error *err)
{
    int busy;
    return outset_new_with(dir, 0, 0, &busy, out, err);
}

df_status outset_new_with(const char *dir, int mode, double lock_wait, int *busy, outset **out, df_error *err)
{
    *out = NULL;
    *busy = 0;
    outset *o = calloc(1, sizeof *o);
    if (!o || !(o->dir = strdup(dir))) {
        free(o);
        return DF_FAIL(err, DF_ERR_NOMEM, dir, "out of memory");
    }
    o->dfd = o->sfd = -1;
    o->mode = mode ? mode : 0640;
    for (size_t n = strlen(o->dir); n > 1 && o->dir[n - 1] == '/';) o->dir[--n] = 0;
    df_status st = open_folder(o, lock_wait, err);
    *busy = o->busy;
    if (st == DF_OK) st = recover(o, err);
    if (st == DF_OK) st = open_staging(o, err);
    if (st != DF_OK) {
        outset_free(o);
        return st;
    }
    *out = o;
    return DF_OK;
}

df_status outset_new_memory(const char *name, outset **out, df_error *err)
{
    outset *o = calloc(1, sizeof *o);
    if (!o || !(o->dir = strdup(name))) {
        free(o);
        return *out = NULL, DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    }
    o->dfd = o->sfd = -1, o->in_memory = 1, o->mode = 0640;
    *out = o;
    return DF_OK;
}

df_status outset_take_memory(outset *o, const char *name, char **buf, size_t *len, df_error *err)
{
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->files[i]->name, name) == 0) {
            if (csvw_take_memory(o->files[i], buf, len) == 0) return DF_OK;
            if (errno == ENOMEM) return DF_FAIL(err, DF_ERR_NOMEM, name, "out of memory");
            break;
        }
    return DF_FAIL(err, DF_ERR_INTERNAL, name, "internal error: no such output in memory");
}

void outset_set_mode(outset *o, int mode) { o->mode = mode; }

csvw *outset_open(outset *o, const char *name, df_error *err)
{
    if (!output_name_ok(name))
        return DF_FAIL(err, DF_ERR_RULES, name, "not a plain file name for an output (no '/', not starting with '.')"), NULL;
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->files[i]->name, name) == 0)
            return DF_FAIL(err, DF_ERR_RULES, name, "the output file is declared twice"), NULL;
    if (o->n == o->cap) {
        int cap = o->cap ? o->cap * 2 : 16;
        csvw **f = realloc(o->files, (size_t)cap * sizeof *f);
        if (!f) return DF_FAIL(err, DF_ERR_NOMEM, name, "out of memory"), NULL;
        o->files = f, o->cap = cap;
    }
    if (o->in_memory) {
        csvw *m = csvw_new_memory(name);
        if (!m) return DF_FAIL(err, DF_ERR_NOMEM, name, "out of memory"), NULL;
        return o->files[o->n++] = m;
    }
    char tmp[300], final[4400];
    tmp_name(tmp, sizeof tmp, name, "tmp");
    snprintf(final, sizeof final, "%s/%s", o->dir, name);
    /* read and write: the report reads back the outputs written before it (csvw_read_back) */
    int fd = openat(o->sfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return io_fail(o, err, name, "cannot create the file", errno), NULL;
    if (fchmod(fd, (mode_t)o->mode) != 0) { /* the declared mode, whatever the umask */
        int e = errno;
        close(fd), unlinkat(o->sfd, tmp, 0);
        return io_fail(o, err, name, "cannot set the mode of the file", e), NULL;
    }
    csvw *w = csvw_new_file(fd, name, final);
    if (!w) {
        unlinkat(o->sfd, tmp, 0);
        return DF_FAIL(err, DF_ERR_NOMEM, name, "out of memory"), NULL;
    }
    o->files[o->n++] = w;
    return w;
}

char *outset_temp_path(const outset *o, const char *name)
{
    size_t n = strlen(o->dir) + strlen(STAGING) + strlen(name) + 8;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/" STAGING "/%s.tmp", o->dir, name);
    return p;
}

int outset_count(const outset *o) { return o->n; }
/* The bytes of a staged file already finished (outset_finish_file: a table over nights read its
 * metrics table from disk), read from the staging folder. */
static int read_finished(outset *o, const char *name, char **buf, size_t *len, df_error *err)
{
    char *path = outset_temp_path(o, name);
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : (errno = ENOMEM, -1), e = errno, rc = -1;
    free(path);
    if (fd >= 0) rc = fd_read_all(fd, buf, len), e = errno, close(fd);
    if (rc == 0) return 0;
    if (e == ENOMEM) return DF_FAIL(err, DF_ERR_NOMEM, name, "out of memory reading the output back for the report"), -1;
    return io_fail(o, err, name, "cannot read the file back", e), -1;
}

int outset_read_back(outset *o, const char *name, char **buf, size_t *len, df_error *err)
{
    *buf = NULL, *len = 0;
    for (int i = 0; i < o->n; i++) {
        if (strcmp(o->files[i]->name, name) != 0) continue;
        if (o->files[i]->finished) return read_finished(o, name, buf, len, err); /* closed early: from its file */
        if (csvw_read_back(o->files[i], buf, len) == 0) return 0;
        if (errno == ENOMEM) return DF_FAIL(err, DF_ERR_NOMEM, name, "out of memory reading the output back for the report"), -1;
        return io_fail(o, err, name, "cannot write the file", errno), -1;
    }
    return 1;
}

const char *outset_dir(const outset *o) { return o->dir; }

df_status outset_finish_file(outset *o, const char *name, df_error *err)
{
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->files[i]->name, name) == 0)
            return csvw_finish(o->files[i]) == 0 ? DF_OK : io_fail(o, err, name, "cannot write the file", errno);
    return DF_FAIL(err, DF_ERR_INTERNAL, name, "no such output of this run");
}
const csvw *outset_file(const outset *o, int i) { return o->files[i]; }
const char *outset_removed(const outset *o) { return o->removed ? o->removed : ""; }

void outset_free(outset *o)
{
    if (!o) return;
    for (int i = 0; i < o->n; i++) csvw_free(o->files[i]);
    free(o->files);
    if (o->staged && !o->keep_staging) clear_staging(o);
    if (o->lockfile) unlinkat(o->dfd, LOCKFILE, 0);
    if (!o->committed && !o->keep_staging) remove_made(o);
    if (o->sfd >= 0) close(o->sfd);
    if (o->dfd >= 0) close(o->dfd); /* releases the lock */
    for (int i = 0; i < o->nmade; i++) free(o->made[i]);
    free(o->made);
    free(o->removed);
    free(o->dir);
    free(o);
}

void outset_abort(outset *o) { outset_free(o); }

static int unlink_only(void *ctx, const char *name, unsigned char type)
{
    (void)type;
    unlinkat(*(int *)ctx, name, 0);
    return 0;
}

void outset_unlink_temps(const outset *o)
{
    if (!o || o->sfd < 0) return;
    each_entry(o->sfd, unlink_only, (void *)&o->sfd);
    unlinkat(o->dfd, STAGING, AT_REMOVEDIR);
    if (o->lockfile) unlinkat(o->dfd, LOCKFILE, 0);
    remove_made(o);
}

/* ---- the commit ---- */

/* (1) Every file written out, fsynced and closed; a failure names the file. */
static df_status finish_files(outset *o, df_error *err)
{
    if (o->finished) return DF_OK;
    o->finished = 1;
    for (int i = 0; i < o->n; i++)
        if (csvw_finish(o->files[i]) != 0) return io_fail(o, err, o->files[i]->name, "cannot write the file", errno);
    return DF_OK;
}

/* (1) The new manifest, sorted, into staging. */
static df_status write_manifest(outset *o, df_error *err)
{
    const char *head = "# defector: the files the last run wrote in this folder (the next run removes those it does not write again)\n";
    size_t cap = strlen(head) + 1, n = 0;
    char **v = malloc((size_t)(o->n + 1) * sizeof *v);
    for (int i = 0; v && i < o->n; i++) v[i] = o->files[i]->name, cap += strlen(v[i]) + 1;
    char *t = v ? malloc(cap) : NULL;
    if (!t) return free(v), DF_FAIL(err, DF_ERR_NOMEM, o->dir, "out of memory");
    qsort(v, (size_t)o->n, sizeof *v, by_name);
    n = (size_t)snprintf(t, cap, "%s", head);
    for (int i = 0; i < o->n; i++) n += (size_t)snprintf(t + n, cap - n, "%s\n", v[i]);
    int r = write_small(o->sfd, MANIFEST ".tmp", t, n);
    int e = errno;
    free(t), free(v);
    return r != 0 ? io_fail(o, err, MANIFEST, "cannot write the file", e) : DF_OK;
}

/* (2) R or N for name, by what --out holds now; a folder (or a device...) there refuses it. */
static df_status plan_target(outset *o, plan *p, const char *name, df_error *err)
{
    struct stat sb;
    if (fstatat(o->dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) return io_fail(o, err, name, "cannot look at the file", errno);
        return plan_add(p, name, 'N') == 0 ? DF_OK : DF_FAIL(err, DF_ERR_NOMEM, o->dir, "out of memory");
    }
    char where[4400];
    snprintf(where, sizeof where, "%s/%s", o->dir, name);
    if (S_ISDIR(sb.st_mode))
        return DF_FAIL(err, DF_ERR_OUTPUT, where,
                       "is a folder, so the output file cannot be written there: move or rename the folder, or change the file name in the rule file");
    if (!S_ISREG(sb.st_mode) && !S_ISLNK(sb.st_mode))
        return DF_FAIL(err, DF_ERR_OUTPUT, where,
                       "is not a regular file, so the output file cannot be written there: move it, or change the file name in the rule file");
    return plan_add(p, name, 'R') == 0 ? DF_OK : DF_FAIL(err, DF_ERR_NOMEM, o->dir, "out of memory");
}

/* (2) This run's files, then the old set's files it does not write (D), the manifest last. */
static df_status make_plan(outset *o, plan *p, df_error *err)
{
    names old = {0}, drops = {0};
    df_status st = read_old_set(o, &old, err);
    for (int i = 0; i < o->n && st == DF_OK; i++) st = plan_target(o, p, o->files[i]->name, err);
    for (int i = 0; i < old.n && st == DF_OK; i++) {
        struct stat sb;
        int mine = 0;
        for (int k = 0; k < o->n && !mine; k++) mine = strcmp(o->files[k]->name, old.v[i]) == 0;
        if (mine || names_has(&drops, old.v[i]) || fstatat(o->dfd, old.v[i], &sb, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (!S_ISREG(sb.st_mode) && !S_ISLNK(sb.st_mode)) continue; /* not a file of ours any more */
        if (names_add(&drops, old.v[i], strlen(old.v[i])) != 0) st = DF_FAIL(err, DF_ERR_NOMEM, o->dir, "out of memory");
    }
    if (drops.n > 1) qsort(drops.v, (size_t)drops.n, sizeof *drops.v, by_name);
    for (int i = 0; i < drops.n && st == DF_OK; i++)
        if (plan_add(p, drops.v[i], 'D') != 0) st = DF_FAIL(err, DF_ERR_NOMEM, o->dir, "out of memory");
    if (st == DF_OK) st = plan_target(o, p, MANIFEST, err);
    names_free(&old);
    names_free(&drops);
    return st;
}

/* A copy of name (a file, or a symbolic link) in --out as side in staging, durably: where hard
 * links are not supported. */
static int copy_aside(const outset *o, const char *name, const char *side)
{
    char target[4096];
    ssize_t tn = readlinkat(o->dfd, name, target, sizeof target - 1);
    if (tn >= 0) return target[tn] = 0, symlinkat(target, o->sfd, side);
    int in = openat(o->dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0) return -1;
    int outfd = openat(o->sfd, side, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    char buf[65536];
    ssize_t k = 0;
    int e = outfd < 0 ? errno : 0;
    while (!e && (k = read(in, buf, sizeof buf)) != 0) {
        if (k < 0) {
            if (errno != EINTR) e = errno;
            continue;
        }
        for (ssize_t done = 0, w; !e && done < k; done += w > 0 ? w : 0)
            if ((w = write(outfd, buf + done, (size_t)(k - done))) < 0 && errno != EINTR) e = errno;
    }
    if (!e && fsync(outfd) != 0) e = errno;
    close(in);
    if (outfd >= 0 && close(outfd) != 0 && !e) e = errno;
    return e ? (errno = e, -1) : 0;
}

/* (3) NAME.old for every file the commit replaces or removes. */
static df_status keep_old_versions(outset *o, const plan *p, df_error *err)
{
    for (int i = 0; i < p->n; i++) {
        const entry *e = &p->e[i];
        if (e->kind == 'N') continue;
        char side[300];
        tmp_name(side, sizeof side, e->name, "old");
        int r = linkat(o->dfd, e->name, o->sfd, side, 0);
        if (r != 0 && (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS || errno == EMLINK || errno == EXDEV))
            r = copy_aside(o, e->name, side);
        if (r != 0) return io_fail(o, err, e->name, "cannot keep the previous version of the file while the new one replaces it", errno);
    }
    return DF_OK;
}

/* (4) The journal, durably: from now on the next run can undo whatever this one changes. */
static df_status write_journal(outset *o, const plan *p, df_error *err)
{
    size_t n;
    char *t = journal_text(p, &n);
    if (!t) return DF_FAIL(err, DF_ERR_NOMEM, o->dir, "out of memory");
    int r = write_small(o->sfd, JOURNAL ".tmp", t, n);
    free(t);
    if (r == 0) r = fsync(o->sfd); /* the temporaries, the old versions and the journal's name */
    if (r == 0) r = renameat(o->sfd, JOURNAL ".tmp", o->sfd, JOURNAL);
    if (r == 0) r = fsync(o->sfd);
    return r != 0 ? io_fail(o, err, "", "cannot write in the output folder", errno) : DF_OK;
}

/* (5) and (6): every change, then the journal's removal, the commit point. On a failure, the
 * changes are undone; err names the file. */
static df_status apply(outset *o, const plan *p, df_error *err)
{
    df_status st = DF_OK;
    for (int i = 0; i < p->n && st == DF_OK; i++) {
        const entry *e = &p->e[i];
        char side[300];
        tmp_name(side, sizeof side, e->name, "tmp");
        if (e->kind == 'D') {
            if (unlinkat(o->dfd, e->name, 0) != 0 && errno != ENOENT)
                st = io_fail(o, err, e->name, "cannot remove this file of an earlier run", errno);
        } else if (renameat(o->sfd, side, o->dfd, e->name) != 0) {
            st = io_fail(o, err, e->name,
                         errno == EACCES || errno == EPERM || errno == EBUSY || errno == ETXTBSY
                             ? "cannot replace the file (is it open in another program, e.g. a spreadsheet? close it and run again)"
                             : "cannot move the new file into place",
                         errno);
        }
    }
    if (st == DF_OK && fsync(o->dfd) != 0) st = io_fail(o, err, "", "cannot write in the output folder", errno);
    if (st == DF_OK && unlinkat(o->sfd, JOURNAL, 0) != 0) st = io_fail(o, err, "", "cannot write in the output folder", errno);
    if (st == DF_OK && fsync(o->sfd) != 0) st = io_fail(o, err, "", "cannot write in the output folder", errno);
    if (st == DF_OK) return DF_OK;
    if (rollback(o, p) != 0) {
        o->keep_staging = 1;
        size_t n = strlen(err->message);
        snprintf(err->message + n, sizeof err->message - n,
                 "; and the previous outputs could not all be put back (%s): the next run puts them back", strerror(errno));
    }
    return st;
}

/* After the commit: the removed files for the report, the staging folder removed (a failure
 * there only leaves files the next run removes). */
static void finish_staging(outset *o, const plan *p)
{
    size_t len = 1;
    for (int i = 0; i < p->n; i++) len += p->e[i].kind == 'D' ? strlen(p->e[i].name) + 2 : 0;
    if (len > 1 && (o->removed = calloc(1, len)))
        for (int i = 0, k = 0; i < p->n; i++)
            if (p->e[i].kind == 'D') strcat(strcat(o->removed, k++ ? ", " : ""), p->e[i].name);
    int e = clear_staging(o) < 0 ? errno : fsync(o->dfd) != 0 ? errno : 0;
    if (e) warn(o, "the outputs were written, but their temporary folder " STAGING " could not be removed (%s); the next run removes it", strerror(e));
}

df_status outset_finish(outset *o, df_error *err)
{
    return finish_files(o, err);
}

df_status outset_commit(outset *o, df_error *err)
{
    if (o->in_memory) return DF_FAIL(err, DF_ERR_INTERNAL, "", "internal error: outputs in memory are never committed");
    plan p = {0};
    df_status st = finish_files(o, err);
    if (st == DF_OK) st = write_manifest(o, err);
    if (st == DF_OK) st = make_plan(o, &p, err);
    if (st == DF_OK) st = keep_old_versions(o, &p, err);
    if (st == DF_OK) st = write_journal(o, &p, err);
    if (st == DF_OK) st = apply(o, &p, err);
    if (st == DF_OK) {
        o->committed = 1;
        finish_staging(o, &p);
    }
    plan_free(&p);
    return st;
}
