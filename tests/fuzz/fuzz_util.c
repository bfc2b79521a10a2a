/* fuzz_util.c: the helpers of fuzz.h, linked into every fuzz target (libFuzzer or replay). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fuzz.h"

const char *fuzz_input_name = "(libFuzzer input)";
static char dir[512];

void fuzz_finding(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FINDING in %s: ", fuzz_input_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static void remove_dir(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

const char *fuzz_path(const char *name)
{
    static char path[1024];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/defector-fuzz-%ld", t && *t ? t : "/tmp", (long)getpid());
        if (mkdir(dir, 0700) != 0) fprintf(stderr, "cannot make %s\n", dir);
        atexit(remove_dir);
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

int fuzz_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

int fuzz_write_gz(const char *path, const void *data, size_t n)
{
    char gz[1100];
    snprintf(gz, sizeof gz, "%s.gz", path);
    gzFile f = gzopen(gz, "wb");
    if (!f) return -1;
    int w = n ? gzwrite(f, data, (unsigned)n) : 0;
    return gzclose(f) == Z_OK && (size_t)w == n ? 0 : -1;
}

uint32_t fuzz_rand(uint32_t *state, uint32_t n)
{
    *state = *state * 1103515245u + 12345u;
    return (*state >> 16) % n;
}
