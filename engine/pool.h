/* pool.h: the one way the engine runs work on threads. A pool runs tasks 0 .. n-1 of one
 * function, each exactly once, taken in order by up to `threads` threads, while the caller
 * goes on with its own work until pool_join(). A thread that cannot start is reported, not
 * fatal: the tasks run on the threads that did start, or on the caller in pool_join() when
 * none did (a caller that needs a thread beside it checks what pool_start() returns). */
#ifndef DF_POOL_H
#define DF_POOL_H

#include <pthread.h>

/* The most threads one pool runs: the cap for parsing blocks, reading parts and scoring states. */
#define POOL_MAX_THREADS 64

typedef void (*pool_task)(void *ctx, int i);

typedef struct pool {
    pool_task fn;
    void *ctx;
    int n, next;         /* tasks; the next one to take */
    int started, failed; /* threads running; threads that could not start */
    pthread_mutex_t mu;
    pthread_t th[POOL_MAX_THREADS];
} pool;

/* The threads to use for a request: 0 means all cores; at most POOL_MAX_THREADS. */
int pool_threads(int requested);
/* Starts min(n, pool_threads(threads)) threads on the tasks and returns how many started. */
int pool_start(pool *p, int n, int threads, pool_task fn, void *ctx);
/* Runs the tasks left on the caller when no thread started, waits for every thread, and returns
 * how many threads could not start. */
int pool_join(pool *p);
/* pool_start() and pool_join(). */
int pool_run(int n, int threads, pool_task fn, void *ctx);

/* For tests: the next n thread starts fail, as when the system has no thread to give. */
void pool_fail_next_starts(int n);

#endif
