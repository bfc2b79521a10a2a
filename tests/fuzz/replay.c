/* replay.c: runs a fuzz target without libFuzzer, as an ordinary test: every file of the corpus
 * folders (and files) named on the command line, then with --random N SEED, N inputs from the
 * target's generator. A finding aborts, naming the input. Exit 0 when every input passed.
 * --save SEED FILE writes the generator's input for SEED to FILE (to keep a finding as a file).
 *   fuzz_csvload_replay tests/fuzz/corpus/csvload --random 2000 1 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fprintf(stderr, "cannot read %s\n", path), 1;
    size_t cap = 1 << 16, n = 0;
    uint8_t *data = malloc(cap);
    for (size_t k; data && (k = fread(data + n, 1, cap - n, f)) > 0;) {
        n += k;
        if (n == cap) data = realloc(data, cap *= 2);
    }
    fclose(f);
    if (!data) return fprintf(stderr, "out of memory reading %s\n", path), 1;
    fuzz_input_name = path;
    LLVMFuzzerTestOneInput(data, n);
    free(data);
    return 0;
}

static int replay_dir(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    if (!d) return replay_file(dir) == 0 ? (++*count, 0) : 1;
    char **names = NULL;
    int n = 0, bad = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        names = realloc(names, (size_t)(n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        bad += replay_file(path);
        free(names[i]);
        ++*count;
    }
    free(names);
    return bad;
}

int main(int argc, char **argv)
{
    int bad = 0, count = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--random") == 0 && i + 2 < argc) {
            long n = atol(argv[i + 1]);
            uint32_t seed = (uint32_t)atol(argv[i + 2]);
            static uint8_t buf[1 << 16];
            char name[64];
            for (long k = 0; k < n; k++) {
                uint32_t s = seed + (uint32_t)k; /* input k alone is made again from seed + k */
                size_t len = fuzz_generate(&s, buf, sizeof buf);
                snprintf(name, sizeof name, "--random 1 %lu", (unsigned long)(seed + (uint32_t)k));
                fuzz_input_name = name;
                LLVMFuzzerTestOneInput(buf, len);
            }
            count += (int)n;
            i += 2;
            continue;
        }
        if (strcmp(argv[i], "--save") == 0 && i + 2 < argc) {
            static uint8_t buf[1 << 16];
            uint32_t s = (uint32_t)atol(argv[i + 1]);
            size_t len = fuzz_generate(&s, buf, sizeof buf);
            FILE *f = fopen(argv[i + 2], "wb");
            if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) return fprintf(stderr, "cannot write %s\n", argv[i + 2]), 1;
            i += 2;
            continue;
        }
        bad += replay_dir(argv[i], &count);
    }
    printf("%d inputs replayed, %d could not be read\n", count, bad);
    return bad ? 1 : 0;
}
