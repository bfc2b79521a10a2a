/* watchdog.c: see watchdog.h. The thread wakes every 50 ms and, for each watch, notes when its
 * row last changed: a row unchanged (and >= 0, i.e. scoring) for longer than the time budget
 * is an entity that takes too long. Memory is the resident size from /proc/self/statm compared
 * with the size when the watchdog started. */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"
#include "watchdog.h"

struct watchdog {
    _Alignas(64) df_watch w[WATCHDOG_MAX_WATCHES]; /* one cache line each (scoreapi.h) */
    watchdog_opts o;
    double rss0;
    int stop, running;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return (double)res * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static void fire(watchdog *wd, double row, const char *what, const char *fmt, double limit)
{
    char id[128] = "?";
    const table *t = wd->o.entity;
    if (row >= 0 && row < (double)t->nrows && t->key_col >= 0) {
        size_t n;
        const char *s = column_text(&t->cols[t->key_col], (uint64_t)row, &n);
        snprintf(id, sizeof id, "%.*s", (int)(n < 100 ? n : 100), s);
    }
    char why[256];
    snprintf(why, sizeof why, fmt, limit);
    fprintf(stderr, "defector: error: %s%s%s: stopped while scoring %s %s: %s\n", wd->o.rules_path,
            what ? ": " : "", what ? what : "", t->key, id, why);
    if (wd->o.last_line) fprintf(stderr, "%s\n", wd->o.last_line);
    if (wd->o.cleanup) wd->o.cleanup(wd->o.cleanup_ctx);
    _exit(DF_ERR_RULES);
}

/* One look at every watch; last_row and since keep what the previous looks saw. */
static void sample(watchdog *wd, double *last_row, double *since)
{
    const watchdog_opts *o = &wd->o;
    double rss = o->memory_limit > 0 ? rss_mb() : 0;
    for (int k = 0; k < WATCHDOG_MAX_WATCHES; k++) {
        /* a sampling read of what LuaJIT stores (plain aligned 8-byte stores, atomic on the
         * platforms LuaJIT runs on): ThreadSanitizer reports it, by design */
        double row = wd->w[k].row, t = now_seconds();
        const char *what = (const char *)wd->w[k].what;
        if (row != last_row[k]) last_row[k] = row, since[k] = t;
        else if (row >= 0 && o->time_limit > 0 && t - since[k] > o->time_limit)
            fire(wd, row, what, "scoring it took more than %g s (--rule-time-limit); does a rule loop forever?",
                 o->time_limit);
        if (row >= 0 && o->memory_limit > 0 && rss - wd->rss0 > o->memory_limit)
            fire(wd, row, what, "scoring used more than %g MB (--rule-memory-limit); does a rule build up data without end?",
                 o->memory_limit);
    }
}

static void *watchdog_main(void *arg)
{
    watchdog *wd = arg;
    double last_row[WATCHDOG_MAX_WATCHES], since[WATCHDOG_MAX_WATCHES];
    for (int k = 0; k < WATCHDOG_MAX_WATCHES; k++) last_row[k] = -2, since[k] = now_seconds();
    pthread_mutex_lock(&wd->mu);
    while (!wd->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&wd->cv, &wd->mu, &ts);
        if (!wd->stop) sample(wd, last_row, since);
    }
    pthread_mutex_unlock(&wd->mu);
    return NULL;
}

df_status watchdog_start(watchdog **out, const watchdog_opts *o, df_error *err)
{
    watchdog *wd = aligned_alloc(64, (sizeof *wd + 63) / 64 * 64); /* its watches one cache line each */
    if (wd) memset(wd, 0, sizeof *wd);
    *out = wd;
    if (!wd) return DF_FAIL(err, DF_ERR_NOMEM, "", "out of memory");
    for (int k = 0; k < WATCHDOG_MAX_WATCHES; k++) wd->w[k].row = -1;
    wd->o = *o;
    if (o->time_limit <= 0 && o->memory_limit <= 0) return DF_OK;
    wd->rss0 = rss_mb();
    pthread_mutex_init(&wd->mu, NULL);
    pthread_cond_init(&wd->cv, NULL);
    if (pthread_create(&wd->th, NULL, watchdog_main, wd) != 0) {
        pthread_mutex_destroy(&wd->mu);
        pthread_cond_destroy(&wd->cv);
        free(wd);
        *out = NULL;
        return DF_FAIL(err, DF_ERR_INTERNAL, "", "cannot start the watchdog thread");
    }
    wd->running = 1;
    return DF_OK;
}

df_watch *watchdog_watch(watchdog *wd, int k)
{
    assert(k >= 0 && k < WATCHDOG_MAX_WATCHES);
    return &wd->w[k];
}

void watchdog_stop(watchdog *wd)
{
    if (!wd) return;
    if (wd->running) {
        pthread_mutex_lock(&wd->mu);
        wd->stop = 1;
        pthread_cond_signal(&wd->cv);
        pthread_mutex_unlock(&wd->mu);
        pthread_join(wd->th, NULL);
        pthread_mutex_destroy(&wd->mu);
        pthread_cond_destroy(&wd->cv);
    }
    free(wd);
}
