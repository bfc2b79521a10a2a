/* pool.c: see pool.h. Invariant: a task index is handed out once, under the mutex, so each task
 * runs exactly once whichever thread (or the caller) takes it. Threads are joined, never
 * detached: when pool_join() returns, every task has finished. */
#include <unistd.h>

#include "pool.h"

static int fail_starts; /* pool_fail_next_starts() */

int pool_threads(int requested)
{
    if (requested <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        requested = cores > 0 ? (int)(cores < POOL_MAX_THREADS ? cores : POOL_MAX_THREADS) : 1;
    }
    return requested < POOL_MAX_THREADS ? requested : POOL_MAX_THREADS;
}

/* The next task, or -1 when all are taken. */
static int take(pool *p)
{
    pthread_mutex_lock(&p->mu);
    int i = p->next < p->n ? p->next++ : -1;
    pthread_mutex_unlock(&p->mu);
    return i;
}

static void *pool_main(void *arg)
{
    pool *p = arg;
    for (int i; (i = take(p)) >= 0;) p->fn(p->ctx, i);
    return NULL;
}

/* 1 when a failure was asked for by pool_fail_next_starts() (and counts it). */
static int injected_failure(void)
{
    int cur = __atomic_load_n(&fail_starts, __ATOMIC_SEQ_CST);
    while (cur > 0 && !__atomic_compare_exchange_n(&fail_starts, &cur, cur - 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    return cur > 0;
}

static int start_one(pool *p, pthread_t *th)
{
    if (injected_failure()) return -1;
    return pthread_create(th, NULL, pool_main, p) == 0 ? 0 : -1;
}

int pool_start(pool *p, int n, int threads, pool_task fn, void *ctx)
{
    p->fn = fn, p->ctx = ctx, p->n = n > 0 ? n : 0, p->next = 0, p->started = 0, p->failed = 0;
    pthread_mutex_init(&p->mu, NULL);
    int want = pool_threads(threads);
    if (want > p->n) want = p->n;
    for (int k = 0; k < want; k++) {
        if (start_one(p, &p->th[p->started]) == 0) p->started++;
        else p->failed++;
    }
    return p->started;
}

int pool_join(pool *p)
{
    if (p->started == 0) pool_main(p);
    for (int k = 0; k < p->started; k++) pthread_join(p->th[k], NULL);
    pthread_mutex_destroy(&p->mu);
    return p->failed;
}

int pool_run(int n, int threads, pool_task fn, void *ctx)
{
    pool p;
    pool_start(&p, n, threads, fn, ctx);
    return pool_join(&p);
}

void pool_fail_next_starts(int n)
{
    __atomic_store_n(&fail_starts, n, __ATOMIC_SEQ_CST);
}
