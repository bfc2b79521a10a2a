/* test.h: the few assertion macros the unit tests share. Each prints both values and where
 * it failed, counts the failure and lets the test go on; TEST_END() sets the exit status.
 * Also test_rm_tree(), which removes a test's scratch folder without starting a shell. */
#ifndef DF_TEST_H
#define DF_TEST_H

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int test_failures, test_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        test_checks++;                                                                             \
        if (!(cond)) {                                                                             \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_INT(got, want)                                                                       \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        test_checks++;                                                                             \
        if (g_ != w_) {                                                                            \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s = %lld, expected %lld\n", __FILE__, __LINE__, #got, g_, w_); \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        test_checks++;                                                                             \
        if (!g_ || strcmp(g_, w_) != 0) {                                                          \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s = \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #got,      \
                    g_ ? g_ : "(null)", w_);                                                       \
        }                                                                                          \
    } while (0)

/* got (pointer + length) equals the NUL-terminated want */
#define CHECK_MEM(got, got_len, want)                                                              \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        size_t gl_ = (got_len);                                                                    \
        test_checks++;                                                                             \
        if (gl_ != strlen(w_) || memcmp(g_, w_, gl_) != 0) {                                       \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s = \"%.*s\", expected \"%s\"\n", __FILE__, __LINE__, #got,    \
                    (int)gl_, g_, w_);                                                             \
        }                                                                                          \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        test_checks++;                                                                             \
        if (!h_ || !strstr(h_, n_)) {                                                              \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,        \
                    h_ ? h_ : "(null)", n_);                                                       \
        }                                                                                          \
    } while (0)

/* Removes path and, for a folder, everything under it (symbolic links as links, never
 * followed). 0, or -1 (with a message on stderr) when something could not be removed. */
static inline int test_rm_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) return errno == ENOENT ? 0 : -1;
    int bad = 0;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            size_t n = strlen(path) + strlen(e->d_name) + 2;
            char *sub = malloc(n);
            if (!sub) bad = -1;
            else snprintf(sub, n, "%s/%s", path, e->d_name), bad |= test_rm_tree(sub), free(sub);
        }
        if (!d) bad = -1;
        else closedir(d);
        if (rmdir(path) != 0) bad = -1;
    } else if (unlink(path) != 0) {
        bad = -1;
    }
    if (bad) fprintf(stderr, "could not remove %s\n", path);
    return bad;
}

#define TEST_END()                                                                                 \
    do {                                                                                           \
        printf("%d checks, %d failed\n", test_checks, test_failures);                              \
        return test_failures ? 1 : 0;                                                              \
    } while (0)

#endif
