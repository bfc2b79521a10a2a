/* allocfail.c: an LD_PRELOAD shim that makes one allocation fail, for the allocation-failure
 * loop (tests/scripts/alloc_failures.sh), as SQLite's malloc tests do. It counts the calls to
 * malloc, calloc, realloc, posix_memalign, aligned_alloc and anonymous mmap (LuaJIT takes its
 * heap with mmap) from the moment the library is loaded, and
 *   DF_ALLOC_FAIL=N        makes call N fail (NULL, or MAP_FAILED with ENOMEM), only that one;
 *   DF_ALLOC_COUNT=FILE    writes at exit the number of calls counted and whether call N failed
 *                          ("calls 1234 failed 1"), to size the loop;
 *   DF_ALLOC_TRACE=1       prints a backtrace of the failing call on stderr (to find the path);
 *   DF_ALLOC_MMAP_LIMIT=B  makes every anonymous mmap of more than B bytes fail: LuaJIT's heap
 *                          cannot take a large block (a rule building a huge value runs out of
 *                          memory) while the rest of the process goes on; ulimit -v cannot do
 *                          that under ASan, whose shadow memory needs terabytes of addresses.
 * The real functions are looked up with dlsym(RTLD_NEXT): glibc's, or in a sanitizer build
 * ASan's (run with ASAN_OPTIONS=verify_asan_link_order=0). While dlsym itself allocates, a small
 * static buffer serves it. Not part of the engine: built only for the tests. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static long (*real_syscall)(long, ...);

static unsigned long fail_at, calls, mmap_limit;
static int failed, trace, resolving, stopped;
static char count_file[4096];

/* what dlsym allocates before the real functions are known */
static _Alignas(16) char boot[65536];
static size_t boot_used;

static void *boot_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (boot_used + n > sizeof boot) return NULL;
    void *p = boot + boot_used;
    boot_used += n;
    return p;
}

static int is_boot(const void *p)
{
    return (const char *)p >= boot && (const char *)p < boot + sizeof boot;
}

static void resolve(void)
{
    if (real_malloc || resolving) return;
    resolving = 1;
    real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    real_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
    real_mmap = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
    real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    resolving = 0;
}

/* 1 when the caller at return address ra is libgcc's unwinder, where LuaJIT registers the unwind
 * tables of its machine code: libgcc does not check what malloc returns. Not counted. */
static int from_libgcc(void *ra)
{
    Dl_info di;
    return dladdr(ra, &di) && di.dli_fname && strstr(di.dli_fname, "libgcc_s");
}

/* 1 when this call (from return address ra) is the one to fail. */
static int should_fail(void *ra)
{
    if (stopped || from_libgcc(ra)) return 0;
    unsigned long n = __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
    if (!fail_at || n != fail_at) return 0;
    __atomic_store_n(&failed, 1, __ATOMIC_SEQ_CST);
    if (trace) {
        void *frames[64];
        static const char head[] = "allocfail: this call fails:\n";
        write(2, head, sizeof head - 1);
        backtrace_symbols_fd(frames, backtrace(frames, 64), 2);
    }
    return 1;
}

static void report(void)
{
    stopped = 1; /* the report's own allocations are not the engine's */
    if (!count_file[0]) return;
    FILE *f = fopen(count_file, "w");
    if (!f) return;
    fprintf(f, "calls %lu failed %d\n", calls, failed);
    fclose(f);
}

__attribute__((constructor)) static void allocfail_init(void)
{
    resolve();
    const char *n = getenv("DF_ALLOC_FAIL"), *c = getenv("DF_ALLOC_COUNT"), *t = getenv("DF_ALLOC_TRACE");
    const char *m = getenv("DF_ALLOC_MMAP_LIMIT");
    mmap_limit = m ? strtoul(m, NULL, 10) : 0;
    if (c) snprintf(count_file, sizeof count_file, "%s", c);
    trace = t && *t == '1';
    if (trace) { /* backtrace() loads libgcc on its first call: not in the middle of a failure */
        void *frames[4];
        backtrace(frames, 4);
    }
    if (count_file[0]) atexit(report);
    calls = 0;
    fail_at = n ? strtoul(n, NULL, 10) : 0; /* last: counting starts here */
}

void *malloc(size_t n)
{
    resolve();
    if (!real_malloc) return boot_alloc(n);
    if (should_fail(__builtin_return_address(0))) return errno = ENOMEM, NULL;
    return real_malloc(n);
}

void *calloc(size_t k, size_t n)
{
    resolve();
    if (!real_calloc) return boot_alloc(k * n); /* boot is zeroed */
    if (should_fail(__builtin_return_address(0))) return errno = ENOMEM, NULL;
    return real_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
    resolve();
    if (is_boot(p) || !real_realloc) {
        void *q = n ? malloc(n) : NULL;
        if (q && p) memcpy(q, p, n); /* boot blocks are never grown in practice */
        return q;
    }
    if (n && should_fail(__builtin_return_address(0))) return errno = ENOMEM, NULL;
    return real_realloc(p, n);
}

void free(void *p)
{
    if (!p || is_boot(p)) return;
    resolve();
    real_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    resolve();
    if (should_fail(__builtin_return_address(0))) return ENOMEM;
    return real_posix_memalign(out, align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    resolve();
    if (should_fail(__builtin_return_address(0))) return errno = ENOMEM, NULL;
    return real_aligned_alloc(align, n);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    resolve();
    /* LuaJIT's heap. Its machine code areas are asked for at an address (a hint drawn near its
     * code, tried again elsewhere when the system puts the area too far): how many tries that
     * takes depends on where the system loaded the library, so they are not counted. */
    if ((flags & MAP_ANONYMOUS) && mmap_limit && len > mmap_limit) return errno = ENOMEM, MAP_FAILED;
    if ((flags & MAP_ANONYMOUS) && !addr && should_fail(__builtin_return_address(0))) return errno = ENOMEM, MAP_FAILED;
    return real_mmap(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) __attribute__((alias("mmap")));

/* LuaJIT seeds its PRNG (string hashes, where its machine code goes) with getrandom through
 * syscall(): fixed bytes here, so that every run allocates the same way and call N is the same
 * call from one run to the next. */
long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
    va_end(ap);
    resolve();
    if (number == SYS_getrandom) {
        unsigned char *buf = (unsigned char *)a[0];
        for (long i = 0; i < a[1]; i++) buf[i] = (unsigned char)(i * 37 + 11);
        return a[1];
    }
    return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
