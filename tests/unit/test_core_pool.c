/* test_core_pool.c: the thread pool: every task runs exactly once, on up to the threads asked
 * for and at the same time, 0 threads means all cores (in the pool and in df_run), and a thread
 * that cannot start is reported while its tasks still run (on the other threads, or on the
 * caller when none started). */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "defector.h"
#include "pool.h"
#include "test.h"

#define NTASKS 1000

typedef struct counts {
    int runs[NTASKS];
    int running, max_running, arrived;
    int wait_for; /* > 0: each task waits (up to 5 s) until this many have arrived */
    pthread_t runner[NTASKS];
} counts;

static void sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void task(void *ctx, int i)
{
    counts *c = ctx;
    __atomic_add_fetch(&c->runs[i], 1, __ATOMIC_SEQ_CST);
    c->runner[i] = pthread_self();
    int now = __atomic_add_fetch(&c->running, 1, __ATOMIC_SEQ_CST);
    int max = __atomic_load_n(&c->max_running, __ATOMIC_SEQ_CST);
    while (now > max && !__atomic_compare_exchange_n(&c->max_running, &max, now, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    __atomic_add_fetch(&c->arrived, 1, __ATOMIC_SEQ_CST);
    for (int k = 0; c->wait_for && k < 5000 && __atomic_load_n(&c->arrived, __ATOMIC_SEQ_CST) < c->wait_for; k++) sleep_ms(1);
    if (!c->wait_for) sleep_ms(i % 3 == 0 ? 1 : 0);
    __atomic_sub_fetch(&c->running, 1, __ATOMIC_SEQ_CST);
}

static int each_once(const counts *c, int n)
{
    for (int i = 0; i < n; i++)
        if (c->runs[i] != 1) return fprintf(stderr, "task %d ran %d times\n", i, c->runs[i]), 0;
    return 1;
}

static void test_threads(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK_INT(pool_threads(0), cores < POOL_MAX_THREADS ? cores : POOL_MAX_THREADS);
    CHECK_INT(pool_threads(3), 3);
    CHECK_INT(pool_threads(1), 1);
    CHECK_INT(pool_threads(100000), POOL_MAX_THREADS);
}

static void test_each_task_once(void)
{
    static counts c;
    memset(&c, 0, sizeof c);
    CHECK_INT(pool_run(NTASKS, 4, task, &c), 0);
    CHECK(each_once(&c, NTASKS));
    CHECK(c.max_running <= 4);
    memset(&c, 0, sizeof c);
    CHECK_INT(pool_run(0, 4, task, &c), 0); /* no task: nothing runs */
    CHECK_INT(c.arrived, 0);
}

/* 4 tasks that each wait for the 4 to have arrived: they can only finish if they run at once. */
static void test_concurrent(void)
{
    static counts c;
    memset(&c, 0, sizeof c);
    c.wait_for = 4;
    pool p;
    CHECK_INT(pool_start(&p, 4, 4, task, &c), 4);
    CHECK_INT(pool_join(&p), 0);
    CHECK_INT(c.max_running, 4);
    CHECK(each_once(&c, 4));
}

/* The caller goes on while the tasks run, and pool_join waits for them. */
static void test_caller_works_meanwhile(void)
{
    static counts c;
    memset(&c, 0, sizeof c);
    c.wait_for = 3; /* two tasks and the caller */
    pool p;
    pool_start(&p, 2, 2, task, &c);
    __atomic_add_fetch(&c.arrived, 1, __ATOMIC_SEQ_CST);
    for (int k = 0; k < 5000 && __atomic_load_n(&c.arrived, __ATOMIC_SEQ_CST) < 3; k++) sleep_ms(1);
    CHECK_INT(__atomic_load_n(&c.arrived, __ATOMIC_SEQ_CST), 3);
    CHECK_INT(pool_join(&p), 0);
    CHECK(each_once(&c, 2));
}

static void test_failed_starts(void)
{
    static counts c;
    memset(&c, 0, sizeof c);
    pool_fail_next_starts(2); /* 2 of 4 threads cannot start: the 2 others run every task */
    CHECK_INT(pool_run(100, 4, task, &c), 2);
    CHECK(each_once(&c, 100));
    CHECK(c.max_running <= 2);

    memset(&c, 0, sizeof c);
    pool_fail_next_starts(POOL_MAX_THREADS); /* none starts: the caller runs them in pool_join */
    pool p;
    CHECK_INT(pool_start(&p, 10, 4, task, &c), 0);
    CHECK_INT(c.arrived, 0);
    CHECK_INT(pool_join(&p), 4);
    CHECK(each_once(&c, 10));
    CHECK_INT(c.max_running, 1);
    for (int i = 0; i < 10; i++) CHECK(pthread_equal(c.runner[i], pthread_self()));
    pool_fail_next_starts(0);
}

/* df_run itself, not only the command line, takes threads = 0 for all cores: run_summary.json
 * records the threads the run used. */
static void test_run_all_cores(void)
{
    char rules[1024], data[1024], out[1024], summary[1100], text[8192] = "";
    const char *tests = getenv("TESTS_DIR"), *base = getenv("TMPDIR_BASE");
    snprintf(rules, sizeof rules, "%s/../rules/retention.lua", tests ? tests : "tests");
    snprintf(data, sizeof data, "%s/../sample-data", tests ? tests : "tests");
    snprintf(out, sizeof out, "%s/pool-run-out", base ? base : "/tmp");
    snprintf(summary, sizeof summary, "%s/run_summary.json", out);
    df_config cfg = {.rules_path = rules, .data_dir = data, .out_dir = out, .threads = 0, .quiet = 1};
    df_parse_date("2026-11-01", 10, &cfg.as_of);
    df_error err = {0};
    CHECK_INT(df_run(&cfg, &err), DF_OK);
    FILE *f = fopen(summary, "r");
    CHECK(f != NULL);
    if (f) {
        text[fread(text, 1, sizeof text - 1, f)] = 0;
        fclose(f);
    }
    char want[64];
    snprintf(want, sizeof want, "\"threads\": %d,", pool_threads(0));
    CHECK_CONTAINS(text, want);
}

int main(void)
{
    test_threads();
    test_each_task_once();
    test_concurrent();
    test_caller_works_meanwhile();
    test_failed_starts();
    test_run_all_cores();
    TEST_END();
}
