/* watchdog.c: see watchdog.h. The thread wakes every 50 ms and, for each watch, notes when its
 * row last changed: a row unchanged and not idle (-1) for longer than the time budget is a unit
 * of user code that takes too long: an entity (row >= 0) or other user code (row <= -2). */
#include <assert.h>
#include <errno.h>
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
    const table *volatile entity;
    int stop, running;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* "file:line: what": where the user's code was when the budget ran out. */
static void where_of(const watchdog *wd, const df_watch *w, char *out, size_t cap)
{
    const char *file = (const char *)w->file, *what = (const char *)w->what;
    int line = w->line;
    int n = snprintf(out, cap, "%s", file ? file : wd->o.rules_path);
    if (line > 0 && n >= 0 && (size_t)n < cap) n += snprintf(out + n, cap - (size_t)n, ":%d", line);
    if (what && n >= 0 && (size_t)n < cap) snprintf(out + n, cap - (size_t)n, ": %s", what);
}

/* What fire() said, for the cleanup (the status file of the run it ends). */
static char fired_where[512], fired_what[1024];
static df_status fired_status;

df_status watchdog_fired(const char **where, const char **what)
{
    *where = fired_where, *what = fired_what;
    return fired_status;
}

/* Says why watch k's user code was stopped ("file:line: what: stopped while scoring key ID: why"),
 * runs the cleanup and ends the process with status: once, whichever thread comes first. */
static _Noreturn void fire(watchdog *wd, int k, df_status status, const char *why)
{
    static int fired;
    if (__atomic_exchange_n(&fired, 1, __ATOMIC_SEQ_CST)) {
        for (;;) pause(); /* another thread is saying why and ending the process */
    }
    const df_watch *w = &wd->w[k];
    double row = w->row;
    char id[128] = "?", where[512], scoring[256] = "";
    const table *t = wd->entity;
    if (row >= 0 && t && row < (double)t->nrows && t->key_col >= 0) {
        size_t n;
        const char *s = column_text(&t->cols[t->key_col], (uint64_t)row, &n);
        snprintf(id, sizeof id, "%.*s", (int)(n < 100 ? n : 100), s);
    }
    if (row >= 0) snprintf(scoring, sizeof scoring, " while scoring %s %s", t ? t->key : "entity", id);
    where_of(wd, w, where, sizeof where);
    fired_status = status;
    snprintf(fired_where, sizeof fired_where, "%s", where);
    snprintf(fired_what, sizeof fired_what, "%s%s: %s", status == DF_ERR_RULES ? "stopped" : "out of memory", scoring, why);
    fprintf(stderr, "defector: error: %s: %s\n", where, fired_what);
    if (wd->o.last_line && status == DF_ERR_RULES) fprintf(stderr, "%s\n", wd->o.last_line);
    fflush(stderr);
    if (wd->o.cleanup) wd->o.cleanup(wd->o.cleanup_ctx);
    _exit(status);
}

void watchdog_fire(watchdog *wd, int k, df_status status, const char *why)
{
    assert(wd && k >= 0 && k < WATCHDOG_MAX_WATCHES);
    fire(wd, k, status, why);
}

/* One look at every watch; last_row and since keep what the previous looks saw. */
static void sample(watchdog *wd, double *last_row, double *since)
{
    for (int k = 0; k < WATCHDOG_MAX_WATCHES; k++) {
        /* a sampling read of what LuaJIT stores (plain aligned 8-byte stores, atomic on the
         * platforms LuaJIT runs on): ThreadSanitizer reports it, by design */
        double row = wd->w[k].row, t = now_seconds();
        if (row != last_row[k]) last_row[k] = row, since[k] = t;
        else if (row != -1 && t - since[k] > wd->o.time_limit) {
            char why[160];
            snprintf(why, sizeof why, "%s took more than %g s (--rule-time-limit); does it loop forever?",
                     row >= 0 ? "scoring it" : "it", wd->o.time_limit);
            fire(wd, k, DF_ERR_RULES, why);
        }
    }
}

static void *watchdog_main(void *arg)
{
    watchdog *wd = arg;
    double last_row[WATCHDOG_MAX_WATCHES], since[WATCHDOG_MAX_WATCHES];
    for (int k = 0; k < WATCHDOG_MAX_WATCHES; k++) last_row[k] = -1, since[k] = now_seconds();
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
    wd->entity = o->entity;
    if (o->time_limit <= 0) return DF_OK;
    pthread_mutex_init(&wd->mu, NULL);
    pthread_cond_init(&wd->cv, NULL);
    int rc = pthread_create(&wd->th, NULL, watchdog_main, wd);
    if (rc != 0) {
        pthread_mutex_destroy(&wd->mu);
        pthread_cond_destroy(&wd->cv);
        free(wd);
        *out = NULL;
        /* EAGAIN: no memory for the thread's stack, or the process's thread limit */
        return DF_FAIL(err, rc == EAGAIN || rc == ENOMEM ? DF_ERR_NOMEM : DF_ERR_INTERNAL, "",
                       "cannot start the watchdog thread: %s", strerror(rc));
    }
    wd->running = 1;
    return DF_OK;
}

df_watch *watchdog_watch(watchdog *wd, int k)
{
    assert(k >= 0 && k < WATCHDOG_MAX_WATCHES);
    return wd ? &wd->w[k] : NULL;
}

void watchdog_entity(watchdog *wd, const table *entity)
{
    if (wd) wd->entity = entity;
}

double watchdog_memory_limit(const watchdog *wd)
{
    return wd ? wd->o.memory_limit : 0;
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
