/* test_fuzz_lookup.c: the lookup/overrides fuzz target (tests/fuzz/fuzz_lookup.c) over its
 * corpus, past findings included, in every test run. */
#include "../fuzz/fuzz_lookup.c"
#include "../fuzz/replay.h"

int main(void)
{
    return replay_corpus("lookup", 150);
}
