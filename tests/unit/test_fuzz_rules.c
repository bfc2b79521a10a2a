/* test_fuzz_rules.c: the rule-file fuzz target (tests/fuzz/fuzz_rules.c) over its corpus, past
 * findings included, in every test run. */
#include "../fuzz/fuzz_rules.c"
#include "../fuzz/replay.h"

int main(void)
{
    return replay_corpus("rules", 60);
}
