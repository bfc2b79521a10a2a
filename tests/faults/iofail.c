/* iofail.c: an LD_PRELOAD shim for the I/O fault tests (tests/scripts/commit_*.sh). It counts the
 * engine's calls that touch one folder (IOFAIL_PREFIX: a path, or a descriptor opened under it)
 * and makes the Nth one fail, or every one from the Nth on (a full disk), or kills the process
 * just before it (a crash at that exact point). Only calls the engine makes through the dynamic
 * linker are seen: stdio's internal writes are not (the engine's writers call write() itself).
 *
 *   IOFAIL_PREFIX  absolute folder; unset: the shim does nothing
 *   IOFAIL_OPS     which calls count, a comma list of open,write,fsync,rename,unlink,link,mkdir,
 *                  rmdir (default: all of them)
 *   IOFAIL_N       the counted call to act on, from 1; 0 or unset: only count
 *   IOFAIL_ACTION  fail (the Nth call only), from (the Nth and every later one), kill (SIGKILL
 *                  before the Nth call is made)
 *   IOFAIL_ERRNO   the error a failing call returns: EIO (default), ENOSPC, EROFS, EPERM, EACCES,
 *                  EDQUOT
 *   IOFAIL_LOG     a file that gets one line per counted call: "N op path", with " FAILED" or
 *                  " KILLED" on the one acted on
 *   IOFAIL_NO_LINKS  1: every hard link made under the folder fails with EPERM, as on a file
 *                  system without them (FAT, some network shares); such calls are not counted */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { OP_OPEN, OP_WRITE, OP_FSYNC, OP_RENAME, OP_UNLINK, OP_LINK, OP_MKDIR, OP_RMDIR, NOPS };
static const char *op_names[NOPS] = {"open", "write", "fsync", "rename", "unlink", "link", "mkdir", "rmdir"};

static char prefix[PATH_MAX];
static size_t prefix_len;
static int ops_on[NOPS];
static long fail_at;
static int action; /* 0 fail, 1 from, 2 kill */
static int fail_errno = EIO;
static int log_fd = -1;
static long calls;
static int no_links;

static int errno_named(const char *s)
{
    static const struct { const char *name; int e; } t[] = {
        {"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EROFS", EROFS}, {"EPERM", EPERM}, {"EACCES", EACCES}, {"EDQUOT", EDQUOT}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (strcmp(s, t[i].name) == 0) return t[i].e;
    return EIO;
}

__attribute__((constructor)) static void iofail_init(void)
{
    const char *p = getenv("IOFAIL_PREFIX");
    if (!p || !*p) return;
    if (!realpath(p, prefix)) snprintf(prefix, sizeof prefix, "%s", p);
    prefix_len = strlen(prefix);
    while (prefix_len > 1 && prefix[prefix_len - 1] == '/') prefix[--prefix_len] = 0;
    const char *ops = getenv("IOFAIL_OPS");
    for (int i = 0; i < NOPS; i++) ops_on[i] = !ops || !*ops;
    for (int i = 0; ops && i < NOPS; i++) {
        size_t n = strlen(op_names[i]);
        for (const char *s = ops; (s = strstr(s, op_names[i])); s += n)
            if ((s == ops || s[-1] == ',') && (s[n] == ',' || s[n] == 0)) ops_on[i] = 1;
    }
    const char *n = getenv("IOFAIL_N"), *a = getenv("IOFAIL_ACTION"), *e = getenv("IOFAIL_ERRNO");
    fail_at = n ? atol(n) : 0;
    action = a && strcmp(a, "from") == 0 ? 1 : a && strcmp(a, "kill") == 0 ? 2 : 0;
    if (e) fail_errno = errno_named(e);
    no_links = getenv("IOFAIL_NO_LINKS") && strcmp(getenv("IOFAIL_NO_LINKS"), "1") == 0;
    const char *lg = getenv("IOFAIL_LOG");
    if (lg && *lg) log_fd = (int)syscall(SYS_openat, AT_FDCWD, lg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* The absolute path a call names: path itself, or relative to dirfd (or the working folder). */
static void resolve(int dirfd, const char *path, char *out, size_t cap)
{
    char base[PATH_MAX] = "";
    if (path && path[0] == '/') {
        snprintf(out, cap, "%s", path);
        return;
    }
    if (dirfd == AT_FDCWD) {
        if (!getcwd(base, sizeof base)) base[0] = 0;
    } else {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
        ssize_t k = readlink(link, base, sizeof base - 1);
        base[k > 0 ? k : 0] = 0;
    }
    if (path) snprintf(out, cap, "%s/%s", base, path);
    else snprintf(out, cap, "%s", base);
}

static int under_prefix(const char *abs)
{
    return prefix_len && strncmp(abs, prefix, prefix_len) == 0 && (abs[prefix_len] == '/' || abs[prefix_len] == 0);
}

static void log_call(long k, int op, const char *abs, const char *what)
{
    if (log_fd < 0) return;
    char line[PATH_MAX + 64];
    int n = snprintf(line, sizeof line, "%ld %s %s%s\n", k, op_names[op], abs, what);
    if (n > 0) (void)!syscall(SYS_write, log_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Counts a call on abs; returns -1 (errno set) when this call is to fail. */
static int gate(int op, const char *abs)
{
    if (!prefix_len || !ops_on[op] || !under_prefix(abs)) return 0;
    long k = __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
    int hit = fail_at > 0 && (k == fail_at || (action == 1 && k > fail_at));
    log_call(k, op, abs, !hit ? "" : action == 2 ? " KILLED" : " FAILED");
    if (!hit) return 0;
    if (action == 2) kill(getpid(), SIGKILL);
    errno = fail_errno;
    return -1;
}

static int gate_path(int op, int dirfd, const char *path)
{
    if (!prefix_len) return 0;
    char abs[PATH_MAX];
    resolve(dirfd, path, abs, sizeof abs);
    if (op == OP_LINK && no_links && under_prefix(abs)) return errno = EPERM, -1;
    return gate(op, abs);
}

static int gate_fd(int op, int fd)
{
    if (!prefix_len) return 0;
    char abs[PATH_MAX];
    resolve(fd, NULL, abs, sizeof abs);
    return gate(op, abs);
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

static int open_common(int dirfd, const char *path, int flags, mode_t mode)
{
    if (gate_path(OP_OPEN, dirfd, path)) return -1;
    return dirfd == AT_FDCWD ? REAL(open)(path, flags, mode) : REAL(openat)(dirfd, path, flags, mode);
}

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    return open_common(AT_FDCWD, path, flags, m);
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    return open_common(AT_FDCWD, path, flags, m);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    return open_common(dirfd, path, flags, m);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    return open_common(dirfd, path, flags, m);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    if (fd > 2 && gate_fd(OP_WRITE, fd)) return -1;
    return REAL(write)(fd, buf, n);
}

int fsync(int fd)
{
    if (gate_fd(OP_FSYNC, fd)) return -1;
    return REAL(fsync)(fd);
}

int fdatasync(int fd)
{
    if (gate_fd(OP_FSYNC, fd)) return -1;
    return REAL(fdatasync)(fd);
}

int rename(const char *from, const char *to)
{
    if (gate_path(OP_RENAME, AT_FDCWD, to)) return -1;
    return REAL(rename)(from, to);
}

int renameat(int fromfd, const char *from, int tofd, const char *to)
{
    if (gate_path(OP_RENAME, tofd, to)) return -1;
    return REAL(renameat)(fromfd, from, tofd, to);
}

int unlink(const char *path)
{
    if (gate_path(OP_UNLINK, AT_FDCWD, path)) return -1;
    return REAL(unlink)(path);
}

int unlinkat(int dirfd, const char *path, int flags)
{
    if (gate_path(flags & AT_REMOVEDIR ? OP_RMDIR : OP_UNLINK, dirfd, path)) return -1;
    return REAL(unlinkat)(dirfd, path, flags);
}

int rmdir(const char *path)
{
    if (gate_path(OP_RMDIR, AT_FDCWD, path)) return -1;
    return REAL(rmdir)(path);
}

int link(const char *from, const char *to)
{
    if (gate_path(OP_LINK, AT_FDCWD, to)) return -1;
    return REAL(link)(from, to);
}

int linkat(int fromfd, const char *from, int tofd, const char *to, int flags)
{
    if (gate_path(OP_LINK, tofd, to)) return -1;
    return REAL(linkat)(fromfd, from, tofd, to, flags);
}

int mkdir(const char *path, mode_t mode)
{
    if (gate_path(OP_MKDIR, AT_FDCWD, path)) return -1;
    return REAL(mkdir)(path, mode);
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
    if (gate_path(OP_MKDIR, dirfd, path)) return -1;
    return REAL(mkdirat)(dirfd, path, mode);
}
