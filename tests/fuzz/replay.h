/* replay.h: main() for a fuzz target in an ordinary build: feeds every file of its corpus
 * (tests/fuzz/corpus/NAME/, past findings included) to LLVMFuzzerTestOneInput in name order,
 * so that each test run replays them under the plain and the sanitizer builds, then `made`
 * inputs of the target's generator (fuzz_generate, seeds 1..made). A finding aborts (the test
 * fails with the file or seed named on stderr); an empty corpus fails too. */
#ifndef DF_FUZZ_REPLAY_H
#define DF_FUZZ_REPLAY_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t fuzz_generate(uint32_t *rnd, uint8_t *buf, size_t cap);

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_corpus(const char *name, int made)
{
    const char *tests = getenv("TESTS_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/fuzz/corpus/%s", tests ? tests : "tests", name);
    DIR *d = opendir(dir);
    if (!d) return fprintf(stderr, "FAIL: cannot open the corpus %s\n", dir), 1;
    char *files[4096];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 4096;)
        if (e->d_name[0] != '.') files[n++] = strdup(e->d_name);
    closedir(d);
    qsort(files, (size_t)n, sizeof *files, by_name);
    for (int i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        FILE *f = fopen(path, "rb");
        if (!f) return fprintf(stderr, "FAIL: cannot read %s\n", path), 1;
        static uint8_t buf[1 << 20];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        fprintf(stderr, "replay %s\n", path); /* the file a finding aborts on */
        LLVMFuzzerTestOneInput(buf, len);
        free(files[i]);
    }
    if (n == 0) return fprintf(stderr, "FAIL: the corpus %s is empty\n", dir), 1;
    for (int seed = 1; seed <= made; seed++) {
        static uint8_t buf[4096];
        uint32_t rnd = (uint32_t)seed;
        size_t len = fuzz_generate(&rnd, buf, sizeof buf);
        fprintf(stderr, "replay made-up input %d\n", seed);
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("ok: replayed %d inputs of %s and %d made-up ones\n", n, dir, made);
    return 0;
}

#endif
