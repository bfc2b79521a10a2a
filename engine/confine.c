/* confine.c: see confine.h. openat2(RESOLVE_BENEATH) on the folder does the work (links inside
 * the folder are followed, any step out of it fails with EXDEV, absolute links too); where the
 * kernel has no openat2 (before Linux 5.6, or a filter that refuses it) both paths are resolved
 * with realpath() and the file's must lie under the folder's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "confine.h"

static const char OUTSIDE[] = "it is a link that leads out of its folder";

/* The fallback: realpath of both, the file's under the folder's, opened without following a link. */
static int open_resolved(const char *dir, const char *name, char *why, size_t cap)
{
    char rdir[PATH_MAX], rfile[PATH_MAX + 1], path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        snprintf(why, cap, "the path is too long");
        return -1;
    }
    if (!realpath(dir, rdir) || !realpath(path, rfile)) {
        snprintf(why, cap, "%s", strerror(errno));
        return -1;
    }
    size_t n = strlen(rdir);
    if (strncmp(rfile, rdir, n) != 0 || (rfile[n] != '/' && !(n == 1 && rdir[0] == '/'))) {
        snprintf(why, cap, "%s", OUTSIDE);
        return -2;
    }
    int fd = open(rfile, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) snprintf(why, cap, "%s", errno == ELOOP ? OUTSIDE : strerror(errno));
    return fd < 0 ? (errno == ELOOP ? -2 : -1) : fd;
}

static int open_beneath(const char *dir, const char *name, char *why, size_t cap)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        snprintf(why, cap, "its folder cannot be opened: %s", strerror(errno));
        return -1;
    }
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, dfd, name, &how, sizeof how);
    int e = errno;
    close(dfd);
    if (fd >= 0) return (int)fd;
    if (e == ENOSYS || e == EPERM || e == E2BIG) return open_resolved(dir, name, why, cap);
    snprintf(why, cap, "%s", e == EXDEV || e == ELOOP ? OUTSIDE : strerror(e));
    return e == EXDEV || e == ELOOP ? -2 : -1;
}

int confine_open(const char *dir, const char *name, char *why, size_t cap)
{
    int fd = open_beneath(dir && *dir ? dir : ".", name, why, cap);
    if (fd < 0) return fd;
    struct stat st = {0};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, cap, "%s", S_ISDIR(st.st_mode) ? "it is a folder, not a file" : "it is not a regular file");
        close(fd);
        return -2;
    }
    return fd;
}

int confine_check(const char *dir, const char *name, char *why, size_t cap)
{
    int fd = confine_open(dir, name, why, cap);
    if (fd < 0) return fd;
    close(fd);
    return 0;
}
