/* test_core_sha256.c: SHA-256 (engine/sha256.c) against FIPS 180-2's vectors and a million
 * 'a's, one-shot and in pieces of 1 to 200 bytes: first with the SHA extensions where the
 * processor has them, then (the test re-executes itself with DEFECTOR_SHA256_PORTABLE=1) with
 * the portable code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sha256.h"
#include "test.h"

static void pieces(const char *s, size_t n, size_t step, char hex[65])
{
    sha256_ctx c;
    sha256_init(&c);
    for (size_t i = 0; i < n; i += step) sha256_update(&c, s + i, n - i < step ? n - i : step);
    sha256_final(&c, hex);
}

int main(int argc, char **argv)
{
    (void)argc;
    static const struct { const char *in, *want; } V[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char hex[65], one[65];
    for (size_t i = 0; i < sizeof V / sizeof V[0]; i++) {
        sha256_hex(V[i].in, strlen(V[i].in), hex);
        CHECK_STR(hex, V[i].want);
        for (size_t step = 1; step <= 7; step++) {
            pieces(V[i].in, strlen(V[i].in), step, one);
            CHECK_STR(one, V[i].want);
        }
    }
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    sha256_hex(a, 1000000, hex);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    for (size_t step = 1; step <= 200; step++) {
        pieces(a, 1000 + step * 13, step, one);
        sha256_hex(a, 1000 + step * 13, hex);
        CHECK_STR(one, hex);
    }
    free(a);
    printf("%s: %d checks so far, %d failed\n", getenv("DEFECTOR_SHA256_PORTABLE") ? "portable" : "default (the SHA extensions where there are)",
           test_checks, test_failures);
    if (test_failures || getenv("DEFECTOR_SHA256_PORTABLE")) TEST_END();
    { /* the same with the portable code */
        setenv("DEFECTOR_SHA256_PORTABLE", "1", 1);
        fflush(stdout);
        execv("/proc/self/exe", argv);
        perror("execv");
        return 1;
    }
}
